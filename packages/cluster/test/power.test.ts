import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getBackend, isTesseraError } from '@tessera/device';
import { describe, expect, it } from 'vitest';
import {
  BUILTIN_TOPOLOGIES,
  createCluster,
  parseTopologySpec,
  systemPower,
  systemPowerOf,
  validateTopologySpec,
} from '../src/index';

const kw = (x: number) => Math.round(x * 1000) / 1000;

describe('system power', () => {
  it('every built-in topology has an overhead with a source and a quality', () => {
    for (const [name, spec] of Object.entries(BUILTIN_TOPOLOGIES)) {
      expect(spec.power, name).toBeDefined();
      expect(spec.power!.overheadW, name).toBeGreaterThanOrEqual(0);
      expect(spec.power!.source.length, name).toBeGreaterThan(80);
      expect(['datasheet', 'second-hand', 'estimate']).toContain(spec.power!.quality);
      // A second-hand or estimated overhead says so at the start of its source.
      if (spec.power!.quality !== 'datasheet')
        expect(spec.power!.source, name).toMatch(new RegExp(`^${spec.power!.quality.toUpperCase()}: `));
      // An estimate has no published figure behind it; a derived overhead always does.
      expect(spec.power!.publishedSystemW === undefined, name).toBe(spec.power!.quality === 'estimate');
    }
  });

  // CONSISTENCY CHECK ONLY: each overhead was derived as published − devices × board power, so these reproduce the
  // published figures by construction. They check the derivation's arithmetic and the board powers it used, nothing
  // about the real machines.
  it('reproduces the published system figures the overheads were derived from (arithmetic, not validation)', async () => {
    const published: Record<string, number> = {
      'dgx-a100': 6.5, // NVIDIA DGX A100 datasheet, 6.5 kW max
      'dgx-h100': 10.2, // DGX H100/H200 User Guide, 10.2 kW max
      'hgx-h200': 10.2, // DGX H200, same guide
      nvl72: 145, // SemiAnalysis, second-hand
      cloudmatrix384: 559, // SemiAnalysis, second-hand
    };
    for (const [name, total] of Object.entries(published)) {
      const r = await systemPower(name);
      expect(r.systems, name).toBe(1);
      expect(kw(r.perSystemKW), name).toBe(total);
      expect(kw(r.totalKW), name).toBe(total);
      expect(r.publishedSystemKW, name).toBe(total);
    }
    // The derivation the brief states: DGX H100 = 8 × 700 W + 4.6 kW.
    const h = await systemPower('dgx-h100');
    expect([h.perDeviceKW, kw(h.overheadKW), kw(h.acceleratorsKW)]).toEqual([0.7, 4.6, 5.6]);
  });

  it('counts the systems N devices occupy and charges each its whole overhead', async () => {
    const r = await systemPower('dgx-h100', 20); // 3 servers, the third 4/8 full
    expect([r.ranks, r.nodes, r.systems]).toEqual([20, 3, 3]);
    expect(kw(r.acceleratorsKW)).toBe(14);
    expect(kw(r.overheadKW)).toBe(13.8);
    expect(kw(r.totalKW)).toBe(27.8);
    expect(kw(r.perDeviceAllInKW)).toBe(1.275);
    // N beyond one system, and xN topologies, scale by whole systems.
    expect(kw((await systemPower('dgx-h100x4')).totalKW)).toBe(40.8);
    expect((await systemPower('nvl72', 144)).systems).toBe(2);
    // CloudMatrix384: a system is the whole supernode; 16 dies occupy one node but still draw the supernode's overhead.
    const cm = await systemPower('cloudmatrix384', 16);
    expect([cm.nodes, cm.systems, cm.devicesPerSystem]).toEqual([1, 1, 768]);
    expect(kw(cm.overheadKW)).toBe(251.8);
    expect(kw(cm.perNodeKW)).toBe(kw(16 * 0.4 + 251.8 / 48));
    expect(cm.quality).toBe('estimate'); // the 910C die power is ours; the worst input sets the report's quality
    expect((await systemPower('dgx-a100')).quality).toBe('datasheet');
    expect((await systemPower('nvl72')).quality).toBe('second-hand');
    expect((await systemPower('hgx-h800')).quality).toBe('estimate');
  });

  // VALIDATION: checks against figures the overheads were NOT derived from.
  it('NVL72: the per-GPU share of the whole-system figure covers B200’s board power at both of its configurations', async () => {
    const r = await systemPower('nvl72');
    // 145 kW / 72 = 2.01 kW per GPU all-in; B200 is 1.0 kW in HGX (the catalogue) and 1.2 kW in GB200 (the Blackwell
    // datasheet's GB200 configuration). The GPUs alone must fit inside the system at either setting.
    expect(r.perDeviceAllInKW).toBeGreaterThan(1.2);
    expect(72 * 1.2).toBeLessThan(r.perSystemKW);
    // The rack alone is commonly quoted ≈ 120 kW (second-hand; NVIDIA publishes no total): it must lie between the
    // accelerators and the whole system, network share included.
    expect(120).toBeGreaterThan(r.acceleratorsKW);
    expect(120).toBeLessThan(r.perSystemKW);
  });

  it('CloudMatrix384 vs NVL72: power per dense BF16 PFLOPS from the catalogue peaks is within 10 % of SemiAnalysis’s 2.3×', async () => {
    // The peaks (910C die 376 TFLOPS, B200 2,250 TFLOPS) were never used to derive power; SemiAnalysis computed 2.3×
    // from its own 300 and 180 PFLOPS (GB200's B200 runs at 2,500).
    const nv = await getBackend('nvidia-sim');
    const asc = await getBackend('ascend-sim');
    const peak = (b: typeof nv, id: string) => b.catalog().find((d) => d.id === id)!.peakTflops.matrix.bf16!;
    const cm = await systemPower('cloudmatrix384');
    const nvl = await systemPower('nvl72');
    const wPerPf = (r: typeof cm, tf: number) => r.perSystemKW / ((r.devicesPerSystem * tf) / 1000);
    const ratio = wPerPf(cm, peak(asc, '910c')) / wPerPf(nvl, peak(nv, 'b200'));
    expect(ratio).toBeGreaterThan(2.3 * 0.9);
    expect(ratio).toBeLessThan(2.3 * 1.1);
  });

  it('DGX B200 (14.3 kW, NVIDIA user guide; no built-in) gives an overhead in the range the built-ins derive', async () => {
    // Not used anywhere: 14,300 − 8 × 1,000 W (the catalogue's B200) = 6.3 kW. A server of the same class must need
    // more than DGX H100's 4.6 kW (bigger hosts, 10U, more fans) and less than its GPUs' own draw.
    const b200 = (await getBackend('nvidia-sim')).catalog().find((d) => d.id === 'b200')!;
    const overhead = 14.3 - (8 * b200.boardPowerW!) / 1000;
    expect(overhead).toBeGreaterThan(BUILTIN_TOPOLOGIES['dgx-h100']!.power!.overheadW / 1000);
    expect(overhead).toBeLessThan((8 * b200.boardPowerW!) / 1000);
  });

  it('loads the field from JSON/YAML and refuses bad values with typed errors naming it', async () => {
    const yaml = `
name: two-dgx
backend: nvidia-sim
device: h100
nodes: 2
devicesPerNode: 8
scaleUp: { kind: switch, bandwidthGBs: 450, latencyUs: 0.5 }
scaleOut: { kind: fat-tree, nicGBs: 50, latencyUs: 1.5 }
power: { overheadW: 4600, quality: datasheet, source: "DGX H100 User Guide, 10.2 kW max", publishedSystemW: 10200 }
`;
    const spec = parseTopologySpec(yaml, 'two-dgx.yaml');
    expect(spec.power!.overheadW).toBe(4600);
    const dir = mkdtempSync(join(tmpdir(), 'power-'));
    writeFileSync(join(dir, 'two-dgx.yaml'), yaml);
    const r = await systemPower(join(dir, 'two-dgx.yaml'));
    expect([r.systems, kw(r.totalKW)]).toEqual([2, 20.4]);
    expect((await createCluster({ topology: join(dir, 'two-dgx.yaml'), mode: 'timing' })).size).toBe(16);

    const base = BUILTIN_TOPOLOGIES['dgx-h100']!;
    const bad: Array<[unknown, RegExp]> = [
      [42, /'power' must be an object/],
      [{ ...base.power, overheadW: -1 }, /power: 'overheadW' must be a number of watts ≥ 0, got -1/],
      [{ ...base.power, overheadW: '4.6 kW' }, /'overheadW' must be a number of watts/],
      [
        { ...base.power, quality: 'measured' },
        /'quality' must be "datasheet", "second-hand", "estimate", got "measured"/,
      ],
      [{ ...base.power, source: '' }, /'source' must be a non-empty string/],
      [{ ...base.power, devicesPerSystem: 12 }, /'devicesPerSystem' must be a multiple of devicesPerNode \(8\)/],
      [{ ...base.power, devicesPerSystem: 0 }, /'devicesPerSystem' must be a positive integer/],
      [{ ...base.power, publishedSystemW: 1000 }, /'publishedSystemW' must be at least overheadW \(4600\)/],
    ];
    for (const [power, msg] of bad) {
      let err: unknown;
      try {
        validateTopologySpec({ ...base, power }, 'my.json');
      } catch (e) {
        err = e;
      }
      expect(isTesseraError(err) && err.code, String(msg)).toBe('InvalidValue');
      expect((err as Error).message).toMatch(msg);
    }
  });

  it('says what is missing when a device or topology has no power figure, and refuses a bad N', async () => {
    const { power: _drop, ...noPower } = BUILTIN_TOPOLOGIES['dgx-h100']!;
    await expect(systemPower(noPower)).rejects.toThrow(/topology 'dgx-h100' has no system power/);
    const h100 = (await getBackend('nvidia-sim')).catalog().find((d) => d.id === 'h100')!;
    const { boardPowerW: _w, ...bare } = h100;
    expect(() => systemPowerOf(BUILTIN_TOPOLOGIES['dgx-h100']!, bare, 8)).toThrow(/device 'h100' has no board power/);
    for (const n of [0, -8, 2.5, Number.NaN]) await expect(systemPower('dgx-h100', n)).rejects.toThrow(/'ranks'/);
  });
});
