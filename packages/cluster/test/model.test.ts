import { gemm } from '@tessera/kernels';
import { describe, expect, it } from 'vitest';
import { ALLREDUCE_TABLES, ncclComparison, SENDRECV_TABLE } from '../validation/model';
import { type CollectiveOp, createCluster, type TesseraErrorLike } from './helpers';

const busbw = (op: CollectiveOp, n: number, bytes: number, us: number) => {
  const factor = op === 'allreduce' ? (2 * (n - 1)) / n : op === 'broadcast' || op === 'reduce' ? 1 : (n - 1) / n;
  return (bytes / (us * 1e-6) / 1e9) * factor;
};

describe('collective cost model', () => {
  it('reproduces nccl-tests at large sizes: ≈ 230 GB/s busbw on 8× A100, 460–480 on 8× H100 (NVLS)', async () => {
    const a100 = await createCluster({ topology: 'dgx-a100', mode: 'timing' });
    const h100 = await createCluster({ topology: 'dgx-h100', mode: 'timing' });
    const S = 8 * 2 ** 30;
    const ea = a100.world.estimateCost('allreduce', S);
    expect(busbw('allreduce', 8, S, ea.us)).toBeGreaterThan(230 * 0.95);
    expect(busbw('allreduce', 8, S, ea.us)).toBeLessThan(230 * 1.05);
    const eh = h100.world.estimateCost('allreduce', S);
    expect(eh.algorithm).toBe('nvls');
    expect(busbw('allreduce', 8, S, eh.us)).toBeGreaterThan(455);
    expect(busbw('allreduce', 8, S, eh.us)).toBeLessThan(485);
  });

  it('tunes like NCCL: latency-optimal small messages, bandwidth-optimal large ones; forcing works and is checked', async () => {
    const c = await createCluster({ topology: 'dgx-a100x2', mode: 'timing' });
    const small = c.world.estimateCost('allreduce', 1024);
    const large = c.world.estimateCost('allreduce', 2 ** 30);
    expect(small.protocol).toBe('LL');
    expect(large.protocol).toBe('Simple');
    expect(small.algorithm).not.toBe('ring'); // 2(n−1) ring steps lose to log-depth algorithms at small sizes
    const ring = c.world.estimateCost('allreduce', 1024, { algorithm: 'ring' });
    expect(ring.us).toBeGreaterThan(small.us);
    expect(() => c.world.estimateCost('allreduce', 1024, { algorithm: 'nvls' })).toThrow(
      /does not apply.*Applicable here/,
    );
  });

  it('follows NCCL where it is special: NVLS is Simple-only, zero bytes cost nothing, NCCL all-to-all pays per peer', async () => {
    const h100 = await createCluster({ topology: 'dgx-h100', mode: 'timing' });
    expect(h100.world.estimateCost('allreduce', 1024, { algorithm: 'nvls' }).protocol).toBe('Simple');
    expect(() => h100.world.estimateCost('allreduce', 1024, { algorithm: 'nvls', protocol: 'LL' })).toThrow(
      /Simple protocol only/,
    );
    expect(h100.world.estimateCost('allgather', 0).us).toBe(0);
    const cm = await createCluster({ topology: 'cloudmatrix384', mode: 'timing' });
    // NCCL's all-to-all (grouped send/recv, `direct`): n−1 point-to-point latencies. The one-sided path is
    // test/onesided.test.ts.
    const a2a = (n: number) =>
      cm.communicator([...Array(n).keys()]).estimateCost('alltoall', 8, { algorithm: 'direct' }).us;
    expect(a2a(256)).toBeGreaterThan(8 * a2a(16));
  });

  it('shows hierarchy: crossing nodes over NICs is slower than staying on NVLink', async () => {
    const c = await createCluster({ topology: 'dgx-h100x2', mode: 'timing' });
    const intra = c.communicator([0, 1, 2, 3]).estimateCost('allgather', 2 ** 30);
    const inter = c.communicator([0, 8, 1, 9]).estimateCost('allgather', 2 ** 30);
    expect(inter.us).toBeGreaterThan(3 * intra.us);
    expect(inter.bottleneck).toMatch(/leaf|spine|rank\d+→leaf/);
  });

  it('a degraded link slows exactly the collectives whose flows cross it; a cut one is routed around or reported', async () => {
    const c = await createCluster({ topology: 'atlas-800t-a2', mode: 'timing' });
    const all = c.world;
    const others = c.communicator([4, 5, 6, 7]);
    const before = [all.estimateCost('allreduce', 2 ** 28).us, others.estimateCost('allreduce', 2 ** 28).us];
    c.degradeLink([0, 1], 0.25);
    expect(all.estimateCost('allreduce', 2 ** 28).us).toBeGreaterThan(1.5 * before[0]!);
    expect(others.estimateCost('allreduce', 2 ** 28).us).toBeCloseTo(before[1]!, 6);
    c.restoreLink([0, 1]);
    c.cutLink([2, 3]);
    // HCCS is a full mesh: 2 → 3 goes through another chip, so it still works, more slowly.
    const pair = c.communicator([2, 3]);
    expect(pair.estimateCost('allreduce', 2 ** 28).us).toBeGreaterThan(0);
    const sw = await createCluster({ topology: 'dgx-h100', mode: 'timing' });
    sw.cutLink('rank3→sw0');
    expect(() => sw.world.estimateCost('allreduce', 1024, { algorithm: 'ring' })).toThrow(/No path from rank 3/);
    expect(sw.communicator([0, 1, 2]).estimateCost('allreduce', 1024).us).toBeGreaterThan(0);
  });

  it('an all-to-all-v repeated with the same counts costs the same; other counts, or a changed link, are costed afresh', async () => {
    const c = await createCluster({ topology: 'atlas-800t-a2', mode: 'timing' });
    const comm = c.world;
    const bufs = c.devices.map((d) => d.alloc('bf16', 1 << 20));
    const counts = (k: number) => bufs.map((_, i) => bufs.map((_, j) => (i + j + k) * 1024));
    const us = (k: number) => comm.allToAllv(bufs, bufs, { sendCounts: counts(k) }).us;
    const first = us(1);
    expect(us(1)).toBe(first);
    expect(us(2)).toBeGreaterThan(first); // more bytes per pair
    expect(us(1)).toBe(first);
    c.degradeLink([0, 1], 0.01);
    const fresh = c.communicator([...c.devices.keys()]).allToAllv(bufs, bufs, { sendCounts: counts(1) }).us;
    expect(fresh).toBeGreaterThan(first);
    expect(us(1)).toBe(fresh);
    c.restoreLink([0, 1]);
    expect(us(1)).toBeCloseTo(first, 9);
  });

  it('models a 768-die CloudMatrix384 collective quickly, and prefers the Unified Bus to the RDMA plane', async () => {
    const c = await createCluster({ topology: 'cloudmatrix384', mode: 'timing' });
    expect(c.size).toBe(768);
    const e = c.world.estimateCost('allreduce', 2 ** 30);
    expect(e.bottleneck ?? '').not.toMatch(/leaf|spine/);
    expect(busbw('allreduce', 768, 2 ** 30, e.us)).toBeGreaterThan(100);
    expect(busbw('allreduce', 768, 2 ** 30, e.us)).toBeLessThan(196);
  });
});

describe('the all-reduce curve against published nccl-tests tables (README, "Validation")', () => {
  it('DGX H100 (NVIDIA’s recipe output): within 5 % from 1 GiB up, optimistic by at most 65 % below', async () => {
    const rows = await ncclComparison(ALLREDUCE_TABLES['dgx-h100'], 'allreduce');
    expect(rows.length).toBeGreaterThanOrEqual(6);
    for (const r of rows) {
      const at = `${r.row.bytes} B`;
      // The model never predicts less bandwidth than measured: what it leaves out (NCCL's chunking and channel
      // choice at mid sizes, launch jitter) only costs time.
      expect(r.error, at).toBeGreaterThanOrEqual(-0.01);
      expect(r.error, at).toBeLessThan(0.65);
      if (r.row.bytes >= 2 ** 30) expect(Math.abs(r.error), at).toBeLessThan(0.05);
    }
    expect(rows.filter((r) => r.row.fitted)).toHaveLength(1);
  });

  it('GB200 NVL72 (one rack): the H100-calibrated in-switch efficiency overestimates it by 25–85 % (documented miss)', async () => {
    const rows = await ncclComparison(ALLREDUCE_TABLES.nvl72, 'allreduce');
    for (const r of rows) {
      expect(r.algorithm).toBe('nvls/Simple');
      expect(r.error).toBeGreaterThan(0.25);
      expect(r.error).toBeLessThan(0.85);
    }
  });

  it('sendrecv on 8× A100: within 25 % of a published run from 256 MiB up', async () => {
    const rows = await ncclComparison(SENDRECV_TABLE, 'sendrecv');
    for (const r of rows.filter((x) => x.row.bytes >= 2 ** 28)) expect(Math.abs(r.error)).toBeLessThan(0.25);
  });
});

describe('streams and faults', () => {
  it('a collective starts when every rank is ready and orders later kernels after it', async () => {
    const c = await createCluster({ topology: 'dgx-h100', ranks: 2 });
    const [d0, d1] = c.devices as [(typeof c.devices)[0], (typeof c.devices)[0]];
    const a = d0.alloc('bf16', 2048 * 2048);
    const k = gemm(d0, { a, b: a, c: a, M: 2048, N: 2048, K: 2048 }); // rank 0 is busy first
    const bufs = [d0.alloc('f32', 1024), d1.alloc('f32', 1024)];
    const r = c.world.allReduce(bufs, bufs);
    expect(r.startMs).toBeGreaterThanOrEqual(k.endMs);
    const after = gemm(d1, {
      a: d1.alloc('bf16', 64),
      b: d1.alloc('bf16', 64),
      c: d1.alloc('bf16', 64),
      M: 8,
      N: 8,
      K: 8,
    });
    expect(after.startMs).toBeGreaterThanOrEqual(r.endMs);
  });

  it('a failed rank makes collectives time out after the modelled timeout, never hanging; others keep working', async () => {
    const c = await createCluster({ topology: 'dgx-h100', timeoutMs: 30_000 });
    const bufs = c.devices.map((d) => d.alloc('f32', 16));
    c.failDevice(5);
    const t0 = performance.now();
    let err: TesseraErrorLike | undefined;
    try {
      c.world.allReduce(bufs, bufs);
    } catch (e) {
      err = e as TesseraErrorLike;
    }
    // A hang check, not a speed check: waiting the timeout out would take the whole 30 s; the call returns at once.
    expect(performance.now() - t0).toBeLessThan(15_000);
    expect(err?.code).toBe('Timeout');
    expect(err?.message).toMatch(/timed out after 30 s \(modelled\): rank\(s\) 5/);
    expect(c.devices[0]!.defaultStream.timeMs).toBeGreaterThanOrEqual(30_000);
    expect(() => c.devices[5]!.alloc('f32', 4)).toThrow(/has failed/);
    const rest = c.communicator([0, 1, 2, 3]);
    const r = rest.allReduce(
      [0, 1, 2, 3].map((i) => bufs[i]!),
      [0, 1, 2, 3].map((i) => bufs[i]!),
    );
    expect(r.us).toBeGreaterThan(0);
    c.recoverDevice(5);
    c.devices[5]!.alloc('f32', 4);
  });
});
