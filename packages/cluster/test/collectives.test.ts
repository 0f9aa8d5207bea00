import type { DeviceBuffer } from '@tessera/device';
import { randomInts } from '@tessera/device/testing';
import { describe, expect, it } from 'vitest';
import { type Cluster, createCluster, type ReduceOp } from '../src/index';

/** Small-integer values, so every reduction is exact in f32 and the result can be compared bit for bit. */
function fill(
  c: Cluster,
  count: number,
  seed: number,
  dtype: 'f32' | 'i32' | 'bf16' = 'f32',
): { bufs: DeviceBuffer[]; values: number[][] } {
  const values = c.devices.map((_, r) => Array.from(randomInts(count, seed + r, -8, 8)));
  const bufs = c.devices.map((d, r) => {
    const b = d.alloc(dtype, count);
    d.upload(b, values[r]!);
    return b;
  });
  return { bufs, values };
}

const poisoned = (c: Cluster, count: number, dtype: 'f32' | 'i32' | 'bf16' = 'f32') =>
  c.devices.map((d) => {
    const b = d.alloc(dtype, count);
    d.fill(b, dtype === 'i32' ? -999 : Number.NaN);
    return b;
  });

/** The reduction in float64, rounded once to f32 — what every algorithm must return. */
const reduceRef = (vals: number[][], op: ReduceOp, i: number) => Math.fround(reduceExact(vals, op, i));
const reduceExact = (vals: number[][], op: ReduceOp, i: number) => {
  const xs = vals.map((v) => v[i]!);
  switch (op) {
    case 'sum':
      return xs.reduce((a, b) => a + b, 0);
    case 'prod':
      return xs.reduce((a, b) => a * b, 1);
    case 'max':
      return Math.max(...xs);
    case 'min':
      return Math.min(...xs);
    case 'avg':
      return xs.reduce((a, b) => a + b, 0) / xs.length;
  }
};

for (const topology of ['dgx-h100', 'atlas-800t-a2', 'dgx-a100x2']) {
  describe(`collectives on ${topology}`, () => {
    it('all-reduce gives the single-device reference for every reduction, algorithm and dtype', async () => {
      const c = await createCluster({ topology });
      const n = 37;
      for (const op of ['sum', 'prod', 'max', 'min', 'avg'] as const) {
        for (const algorithm of ['ring', 'tree'] as const) {
          const { bufs, values } = fill(c, n, 11);
          const out = poisoned(c, n);
          c.world.allReduce(bufs, out, { op, algorithm });
          const ref = Array.from({ length: n }, (_, i) => reduceRef(values, op, i));
          for (const [r, d] of c.devices.entries())
            expect(Array.from(d.download(out[r]!)), `${op} ${algorithm} rank ${r}`).toEqual(ref);
        }
      }
      const ints = fill(c, n, 3, 'i32');
      c.world.allReduce(ints.bufs, ints.bufs); // in place
      expect(Array.from(c.devices[1]!.download(ints.bufs[1]!))).toEqual(
        Array.from({ length: n }, (_, i) => reduceRef(ints.values, 'sum', i)),
      );
    });

    it('all-gather, reduce-scatter, broadcast, reduce and all-to-all move exactly the right elements', async () => {
      const c = await createCluster({ topology });
      const R = c.size;
      const k = 5;
      const { bufs, values } = fill(c, k, 21);
      const gathered = poisoned(c, k * R);
      c.world.allGather(bufs, gathered);
      for (const [r, d] of c.devices.entries()) expect(Array.from(d.download(gathered[r]!))).toEqual(values.flat());

      const big = fill(c, k * R, 31);
      const scattered = poisoned(c, k);
      c.world.reduceScatter(big.bufs, scattered);
      for (const [r, d] of c.devices.entries()) {
        expect(Array.from(d.download(scattered[r]!))).toEqual(
          Array.from({ length: k }, (_, i) => reduceRef(big.values, 'sum', r * k + i)),
        );
      }

      const b = fill(c, k, 41);
      c.world.broadcast(b.bufs, { root: 2 });
      for (const [r, d] of c.devices.entries()) expect(Array.from(d.download(b.bufs[r]!))).toEqual(b.values[2]);

      const red = fill(c, k, 51);
      const rout = poisoned(c, k);
      c.world.reduce(red.bufs, rout, { root: 1, op: 'max' });
      expect(Array.from(c.devices[1]!.download(rout[1]!))).toEqual(
        Array.from({ length: k }, (_, i) => reduceRef(red.values, 'max', i)),
      );
      expect(Number.isNaN(c.devices[0]!.download(rout[0]!)[0]!)).toBe(true); // other ranks' recv untouched

      const a2a = fill(c, k * R, 61);
      const recv = poisoned(c, k * R);
      c.world.allToAll(a2a.bufs, recv);
      for (const [r, d] of c.devices.entries()) {
        const want = Array.from({ length: R }, (_, i) => a2a.values[i]!.slice(r * k, (r + 1) * k)).flat();
        expect(Array.from(d.download(recv[r]!))).toEqual(want);
      }
    });
  });
}

describe('point-to-point, all-to-allv, groups and split', () => {
  it('matches sends with recvs in a group and names an unmatched one', async () => {
    const c = await createCluster({ topology: 'dgx-h100' });
    const { bufs, values } = fill(c, 4, 7);
    const out = poisoned(c, 4);
    const res = c.world.group(() => {
      for (let r = 0; r < 8; r++) {
        c.world.send(r, (r + 1) % 8, bufs[r]!);
        c.world.recv((r + 1) % 8, r, out[(r + 1) % 8]!);
      }
    });
    expect(res.algorithm).toBe('p2p');
    expect(Array.from(c.devices[3]!.download(out[3]!))).toEqual(values[2]);
    expect(() => c.world.group(() => c.world.send(0, 1, bufs[0]!))).toThrow(
      /send from rank 0 to rank 1 has no matching recv/,
    );
    expect(() => c.world.send(0, 1, bufs[0]!)).toThrow(/inside comm.group/);
  });

  it('sendRecv sends each rank’s buffer to the next rank, in and out of place, ordered on the streams', async () => {
    const c = await createCluster({ topology: 'dgx-h100x2' });
    const n = c.size;
    const k = 5;
    const { bufs, values } = fill(c, k, 71);
    const out = poisoned(c, k);
    const res = c.world.sendRecv(bufs, out);
    for (const [r, d] of c.devices.entries()) expect(Array.from(d.download(out[r]!))).toEqual(values[(r - 1 + n) % n]);
    expect(res).toMatchObject({ op: 'sendrecv', bytes: k * 4, algorithm: 'p2p' });
    expect(res.us).toBeCloseTo(c.world.estimateCost('sendrecv', k * 4).us, 9);
    // In place: every rank still receives what its predecessor held before the call.
    c.world.sendRecv(bufs, bufs);
    for (const [r, d] of c.devices.entries()) expect(Array.from(d.download(bufs[r]!))).toEqual(values[(r - 1 + n) % n]);
    // A later call on rank 0's stream starts after it, as with the collectives.
    const next = c.world.sendRecv(bufs, out);
    expect(next.startMs).toBeGreaterThanOrEqual(res.endMs);
    // A whole buffer crosses each link once: one step, so 1 GiB takes about S / link rate.
    const big = c.communicator([0, 1, 2, 3]).estimateCost('sendrecv', 2 ** 30);
    expect(big.algorithm).toBe('p2p');
    expect(2 ** 30 / (big.us * 1e3)).toBeGreaterThan(0.95 * 450 * 0.77);
    expect(() => c.world.sendRecv(bufs, out, { count: k + 1 })).toThrow(/holds 5 elements but 6 are needed/);
    expect(() => c.world.sendRecv(bufs, out, { algorithm: 'ring' })).toThrow(/'ring' does not apply to sendrecv/);
  });

  it('all-to-allv moves uneven counts to the right offsets', async () => {
    const c = await createCluster({ topology: 'atlas-800t-a2', ranks: 3 });
    const counts = [
      [1, 2, 0],
      [0, 1, 3],
      [2, 0, 1],
    ];
    const send = c.devices.map((d, i) => {
      const b = d.alloc('i32', 4);
      d.upload(b, [10 * i, 10 * i + 1, 10 * i + 2, 10 * i + 3]);
      return b;
    });
    const recv = c.devices.map((d) => {
      const b = d.alloc('i32', 4);
      d.fill(b, -1);
      return b;
    });
    c.world.allToAllv(send, recv, { sendCounts: counts });
    // recv[j] = concatenation over i of the counts[i][j] elements rank i sent to j.
    expect(Array.from(c.devices[0]!.download(recv[0]!))).toEqual([0, 20, 21, -1]);
    expect(Array.from(c.devices[1]!.download(recv[1]!))).toEqual([1, 2, 10, -1]);
    expect(Array.from(c.devices[2]!.download(recv[2]!))).toEqual([11, 12, 13, 22]);
  });

  it('splits by color and key, and sub-communicators reduce only their members', async () => {
    const c = await createCluster({ topology: 'dgx-h100' });
    const comms = c.world.split([0, 1, 0, 1, 0, 1, -1, 1], [3, 0, 2, 1, 1, 2, 0, 3]);
    expect(comms[6]).toBeUndefined();
    expect(comms[0]!.ranks).toEqual([4, 2, 0]); // ordered by key
    expect(comms[1]).toBe(comms[3]);
    const { bufs, values } = fill(c, 3, 9);
    const even = comms[0]!;
    even.allReduce(
      even.ranks.map((r) => bufs[r]!),
      even.ranks.map((r) => bufs[r]!),
    );
    expect(Array.from(c.devices[2]!.download(bufs[2]!))).toEqual(
      [0, 1, 2].map((i) => values[0]![i]! + values[2]![i]! + values[4]![i]!),
    );
    expect(Array.from(c.devices[1]!.download(bufs[1]!))).toEqual(values[1]);
  });

  it('rejects bad buffers with the rank named', async () => {
    const c = await createCluster({ topology: 'dgx-h100', ranks: 2 });
    const [a, b] = [c.devices[0]!.alloc('f32', 4), c.devices[1]!.alloc('f32', 4)];
    expect(() => c.world.allReduce([a, a], [a, b])).toThrow(/'send'\[1\] is .* not memory of rank 1/);
    expect(() => c.world.allReduce([a], [a])).toThrow(/one buffer per rank \(2\)/);
    expect(() => c.world.allReduce([a, b], [a, b], { op: 'xor' as never })).toThrow(/reduction 'xor'/);
    expect(() => c.world.allGather([a, b], [a, b])).toThrow(/holds 4 elements but 8 are needed/);
  });
});
