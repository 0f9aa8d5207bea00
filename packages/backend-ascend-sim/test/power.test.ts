import { describe, expect, it } from 'vitest';
import { ASCEND_CATALOG, createAscendSimBackend } from '../src/index';

describe('board power', () => {
  it('every catalogue device has a board power, its source, and says it is not Huawei’s own figure', () => {
    const want: Record<string, [number, string]> = {
      '910b2': [400, 'second-hand'],
      '910b4': [400, 'estimate'],
      '910c': [400, 'estimate'],
    };
    expect(ASCEND_CATALOG.map((d) => d.id)).toEqual(Object.keys(want));
    for (const d of ASCEND_CATALOG) {
      expect([d.boardPowerW, d.powerQuality], d.id).toEqual(want[d.id]);
      // Huawei publishes no 910B/910C board power: no entry may claim a datasheet.
      expect(d.powerQuality, d.id).not.toBe('datasheet');
      expect(d.powerSource!.length, d.id).toBeGreaterThan(100);
      if (d.powerQuality === 'estimate') expect(d.powerSource, d.id).toMatch(/^ESTIMATE: /);
    }
    // The second-hand range and the one vendor figure it rests on are named.
    expect(ASCEND_CATALOG[0]!.powerSource).toMatch(/310–400 W.*310 W measured vs 350 W designed/);
  });

  it('the 910C die estimate stays under its all-in share of CloudMatrix384’s second-hand whole-system figure', () => {
    const die = ASCEND_CATALOG.find((d) => d.id === '910c')!;
    expect(die.boardPowerW!).toBeLessThan(559_000 / 768); // 728 W per die, hosts, switches and optics included
  });

  it('a user device may give its own power, validated like every other field', () => {
    const b = createAscendSimBackend();
    const d = b.addDevice({ ...ASCEND_CATALOG[0]!, id: 'my-npu', boardPowerW: 310, powerQuality: 'second-hand' });
    expect(d.boardPowerW).toBe(310);
    expect(() => b.addDevice({ ...ASCEND_CATALOG[0]!, id: 'bad-npu', powerQuality: 'rumour' }, 'npu.json')).toThrow(
      /npu.json: field 'powerQuality' must be one of/,
    );
  });
});
