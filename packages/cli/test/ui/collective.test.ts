import type { CollectiveView } from '@tessera/dashboard';
import { describe, expect, it } from 'vitest';
import { post, refuses } from './helpers';

const collective = (body: object) => post('/api/cluster/collective', body) as Promise<CollectiveView>;
const S = 2 ** 26; // 64 MiB: bandwidth-bound, the Simple protocol (no flag bytes on the wire)

describe('POST /api/cluster/collective', () => {
  it('all-gather on 4 NPUs of an HCCS mesh: every pair’s link carries S/4; busbw = algbw · (n−1)/n', async () => {
    const r = await collective({ topology: 'atlas-800t-a2', op: 'all_gather', bytes: S, ranks: 4 });
    expect(r).toMatchObject({ op: 'all_gather', bytes: S, ranks: 4, algorithm: 'direct/Simple', error: null });
    const seconds = r.timeMs! / 1e3;
    expect(r.algBwGBs).toBeCloseTo(S / seconds / 1e9, 9);
    expect(r.busBwGBs! / r.algBwGBs!).toBeCloseTo(3 / 4, 12); // nccl-tests: (n−1)/n for all-gather
    // The 12 links among ranks 0–3 (56 GB/s each way) each carry S/4; every other link nothing.
    const used = r.topology.links.filter((l) => l.utilisation > 0);
    expect(used.map((l) => l.id).sort()).toEqual(
      [0, 1, 2, 3].flatMap((a) => [0, 1, 2, 3].filter((b) => b !== a).map((b) => `rank${a}→rank${b}`)).sort(),
    );
    for (const l of used) {
      expect(l.utilisation).toBeCloseTo(S / 4 / (56e9 * seconds), 12);
      expect(l.utilisation).toBeLessThanOrEqual(1);
    }
    // The time is that transfer at the HCCS efficiency (0.77) plus NCCL-style latencies: 8.4 µs base, one step of
    // 3.4 µs hop + 1 µs link latency.
    expect(r.timeMs! * 1e3).toBeCloseTo((S / 4 / (56e9 * 0.77)) * 1e6 + 8.4 + 3.4 + 1, 6);
  });

  it('a cut mesh link carries nothing and its traffic detours over a relay, which then carries twice', async () => {
    const r = await collective({
      topology: 'atlas-800t-a2',
      op: 'all_gather',
      bytes: S,
      ranks: 4,
      cutLinks: ['rank1→rank2'],
    });
    expect(r.error).toBeNull();
    const u = (id: string) => r.topology.links.find((l) => l.id === id)!;
    expect(u('rank1→rank2')).toMatchObject({ cut: true, utilisation: 0 });
    // Breadth-first detour: rank1 → rank0 → rank2.
    expect(u('rank1→rank0').utilisation).toBeCloseTo(2 * u('rank0→rank1').utilisation, 12);
    expect(u('rank0→rank2').utilisation).toBeCloseTo(2 * u('rank2→rank0').utilisation, 12);
    expect(u('rank1→rank0').utilisation).toBeCloseTo((2 * S) / 4 / (56e9 * (r.timeMs! / 1e3)), 12);
    const healthy = await collective({ topology: 'atlas-800t-a2', op: 'all_gather', bytes: S, ranks: 4 });
    expect(r.timeMs!).toBeGreaterThan(1.9 * healthy.timeMs!); // the detour's links carry twice as much
  });

  it('ring all-reduce over a switch: busbw = algbw · 2(n−1)/n, each rank↔switch link carries 2(n−1)/n · S', async () => {
    const r = await collective({ topology: 'dgx-a100', op: 'all_reduce', bytes: S, ranks: 4 });
    expect(r.algorithm).toBe('ring/Simple');
    expect(r.busBwGBs! / r.algBwGBs!).toBeCloseTo(1.5, 12);
    const used = r.topology.links.filter((l) => l.utilisation > 0);
    expect(used).toHaveLength(8); // rank0–3 → sw0 and back
    for (const l of used) expect(l.utilisation).toBeCloseTo((1.5 * S) / (300e9 * (r.timeMs! / 1e3)), 12);
    const b = await collective({ topology: 'dgx-a100', op: 'broadcast', bytes: S, ranks: 4 });
    expect(b.busBwGBs).toBe(b.algBwGBs); // nccl-tests: factor 1 for broadcast
  });

  it('a failed rank or a cut that disconnects ranks is the library’s error, answered with null times', async () => {
    const failed = await collective({ topology: 'dgx-h100', op: 'all_reduce', bytes: 1024, failRanks: [3] });
    expect(failed).toMatchObject({ timeMs: null, algBwGBs: null, busBwGBs: null, algorithm: null });
    expect(failed.error).toMatch(/timed out after 120 s \(modelled\): rank\(s\) 3 .* failed and never joined/);
    expect(failed.topology.nodes.find((n) => n.rank === 3)!.failed).toBe(true);
    // A failed rank outside the communicator does not matter to it.
    const outside = await collective({ topology: 'dgx-h100', op: 'all_reduce', bytes: 1024, ranks: 4, failRanks: [7] });
    expect(outside.error).toBeNull();
    expect(outside.timeMs).toBeGreaterThan(0);
    // On a switch each GPU has one link each way: cutting one leaves no path inside the NVLink domain.
    const cut = await collective({ topology: 'dgx-h100', op: 'all_gather', bytes: 1024, cutLinks: ['rank3→sw0'] });
    expect(cut.timeMs).toBeNull();
    expect(cut.error).toMatch(/No path from rank 3 to rank \d+ in 'dgx-h100'/);
    expect(cut.topology.links.find((l) => l.id === 'rank3→sw0')!.cut).toBe(true);
  });

  it('CloudMatrix384’s all-to-all over 384 dies: every figure, one-sided, a fraction of a second', async () => {
    const r = await collective({ topology: 'cloudmatrix384', op: 'all_to_all', bytes: 2 ** 24, ranks: 384 });
    expect(r.error).toBeNull();
    expect(r.busBwGBs! / r.algBwGBs!).toBeCloseTo(383 / 384, 12);
    expect(r.topology.links.length).toBeGreaterThan(3000);
    const max = Math.max(...r.topology.links.map((l) => l.utilisation));
    expect(max).toBeGreaterThan(0);
    expect(max).toBeLessThanOrEqual(1);
  });

  it('refuses bad requests before running anything, naming the field', async () => {
    const ok = { topology: 'dgx-h100', op: 'all_reduce', bytes: 1024 };
    const url = '/api/cluster/collective';
    await refuses(post(url, null), 400, 'body', /must be a JSON object, got null/);
    await refuses(post(url, [ok]), 400, 'body', /got an array/);
    await refuses(
      post(url, { ...ok, size: 1 }),
      400,
      'size',
      /Unknown field 'size'; the fields are topology, op, bytes/,
    );
    await refuses(
      post(url, { ...ok, topology: 'dgx-z' }),
      400,
      'topology',
      /Unknown topology 'dgx-z'; one of: .*nvl72/,
    );
    await refuses(
      post(url, { ...ok, op: 'allreduce' }),
      400,
      'op',
      /Unknown collective 'allreduce'; one of: all_reduce, all_gather/,
    );
    await refuses(post(url, { ...ok, bytes: 0 }), 400, 'bytes', /integer from 1 to 4294967296, got 0/);
    await refuses(post(url, { ...ok, bytes: 1.5 }), 400, 'bytes', /got 1.5/);
    await refuses(post(url, { ...ok, bytes: '1024' }), 400, 'bytes', /got '1024'/);
    await refuses(post(url, { ...ok, ranks: 9 }), 400, 'ranks', /from 2 to 8 \(dgx-h100 has 8 ranks\)/);
    await refuses(post(url, { ...ok, ranks: 1 }), 400, 'ranks', /from 2 to 8/);
    await refuses(post(url, { ...ok, op: 'all_gather', bytes: 4 }), 400, 'bytes', /give bytes ≥ 8, got 4/);
    await refuses(post(url, { ...ok, failRanks: 3 }), 400, 'failRanks', /must be an array, got 3/);
    await refuses(post(url, { ...ok, failRanks: [1, 8] }), 400, 'failRanks[1]', /from 0 to 7, got 8/);
    await refuses(post(url, { ...ok, failRanks: [1, 1] }), 400, 'failRanks[1]', /lists 1 twice/);
    await refuses(
      post(url, { ...ok, cutLinks: ['rank3→rank4'] }),
      400,
      'cutLinks[0]',
      /No link 'rank3→rank4' in dgx-h100; .*e\.g\. 'rank0→sw0'/,
    );
    await refuses(
      post(url, { ...ok, cutLinks: Array.from({ length: 49 }, (_, i) => `x${i}`) }),
      400,
      'cutLinks',
      /at most 48 items, got 49/,
    );
  });
});
