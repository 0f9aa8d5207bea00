import { describe, expect, it } from 'vitest';
import { createNvidiaSimBackend, NVIDIA_CATALOG } from '../src/index';

describe('board power', () => {
  it('every catalogue device has a datasheet board power with its source', () => {
    const want: Record<string, number> = { a100: 400, h100: 700, h200: 700, b200: 1000 };
    expect(NVIDIA_CATALOG.map((d) => d.id)).toEqual(Object.keys(want));
    for (const d of NVIDIA_CATALOG) {
      expect(d.boardPowerW, d.id).toBe(want[d.id]);
      expect(d.powerQuality, d.id).toBe('datasheet');
      expect(d.powerSource, d.id).toMatch(/NVIDIA .*datasheet/);
      // The source quotes the figure it gives (400W, 700W, 1,000 W).
      const w = want[d.id]!;
      expect(d.powerSource, d.id).toMatch(new RegExp(`(${w}|${w.toLocaleString('en-US')}) ?W`));
    }
  });

  it('survives the backend’s own spec validation (a catalogue entry re-added as a user device keeps it)', () => {
    const b = createNvidiaSimBackend();
    const again = b.addDevice({ ...NVIDIA_CATALOG[1]!, id: 'h100-copy' });
    expect([again.boardPowerW, again.powerQuality]).toEqual([700, 'datasheet']);
  });
});
