import { describe, expect, it } from 'vitest';
import { healthFrom } from '../../ui/src/data/health';

describe('healthFrom', () => {
  it('reads /health as llm-serve answers it', () => {
    expect(healthFrom(200, null)).toEqual({ state: 'ok' });
    expect(healthFrom(503, { status: 'unhealthy', reason: 'The engine failed: rank 1 (h100:1) is unusable' })).toEqual({
      state: 'failed',
      reason: 'The engine failed: rank 1 (h100:1) is unusable',
    });
    expect(healthFrom(503, 'not json')).toEqual({ state: 'failed', reason: 'The engine cannot serve.' });
    expect(healthFrom(null, null)).toMatchObject({ state: 'unreachable' });
    expect(healthFrom(404, null)).toEqual({ state: 'unreachable', reason: 'The server answered /health with 404.' });
  });
});
