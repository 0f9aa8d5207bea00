import { cdiv, tileKernel } from '@tessera/device';
import { describe, expect, it } from 'vitest';
import { runTpMlp } from '../examples/tp-mlp';
import { createCluster } from '../src/index';

describe('device mesh', () => {
  it('maps named axes to ranks and gives per-axis communicators', async () => {
    const c = await createCluster({ topology: 'dgx-h100x2', mode: 'timing' });
    const mesh = c.mesh({ dp: 2, tp: 8 });
    expect(mesh.coords(11)).toEqual({ dp: 1, tp: 3 });
    expect(mesh.rankOf({ dp: 1, tp: 3 })).toBe(11);
    expect(mesh.comm('tp', 11).ranks).toEqual([8, 9, 10, 11, 12, 13, 14, 15]);
    expect(mesh.comm('dp', 11).ranks).toEqual([3, 11]);
    expect(() => c.mesh({ dp: 4, tp: 8 })).toThrow(/needs 32 devices/);
    expect(() => mesh.comm('pp', 0)).toThrow(/no axis 'pp'/);
  });

  it('shards, launches SPMD and gathers back', async () => {
    const c = await createCluster({ topology: 'atlas-800t-a2', ranks: 4 });
    const mesh = c.mesh({ tp: 4 });
    const x = Array.from({ length: 6 * 8 }, (_, i) => i);
    const shards = mesh.shard(x, { shape: [6, 8], dim: 1, axis: 'tp', dtype: 'f32' });
    const double = tileKernel({ name: 'double', params: { x: 'ptr', n: 'i32' } }, (t, { x, n }) => {
      const o = t.arange(0, 64);
      const m = o.lt(n);
      t.store(x, o, t.load(x, o, { mask: m }).mul(2), { mask: m });
    });
    const results = mesh.launch(double, { grid: cdiv(12, 64) }, ({ rank }) => ({ x: shards[rank]!, n: 12 }));
    expect(results).toHaveLength(4);
    expect(Array.from(mesh.gather(shards, { shape: [6, 8], dim: 1, axis: 'tp' }))).toEqual(x.map((v) => 2 * v));
    expect(() => mesh.shard(x, { shape: [6, 8], dim: 0, axis: 'tp', dtype: 'f32' })).toThrow(
      /does not split into 4 equal parts/,
    );
  });

  it('runs a tensor-parallel MLP equal to the single-device one on NVIDIA and Ascend topologies', async () => {
    for (const topology of ['dgx-h100', 'atlas-800t-a2']) {
      const r = await runTpMlp(await createCluster({ topology }));
      expect(r.tp).toBe(8);
      expect(r.relError, topology).toBeLessThan(1e-5);
      expect(r.allReduceUs).toBeGreaterThan(0);
    }
  });
});
