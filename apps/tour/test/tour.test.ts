import { createTestBackend } from '@tessera/device/reference-backend';
import { expect, it } from 'vitest';
import { tour } from '../src/tour';

it('lists devices and runs vectorAdd correctly on each, with a modelled time', async () => {
  const lines: string[] = [];
  await tour([createTestBackend()], (l) => lines.push(l));
  expect(lines.some((l) => l.includes('testchip'))).toBe(true);
  const runs = lines.filter((l) => l.includes('µs modelled'));
  expect(runs.length).toBe(1);
  for (const l of runs) expect(l).toMatch(/result correct/);
});
