import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILTIN_TOPOLOGIES, Communicator } from '@tessera/cluster';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { run } from '../src/index';

async function tessera(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

interface Row {
  size: number;
  count: number;
  type: string;
  redop: string;
  root: number;
  time: [number, number];
  algbw: [number, number];
  busbw: [number, number];
  wrong: [string, string];
  algo?: string;
}

/** The data rows of an nccl-tests table. */
function rowsOf(text: string): Row[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => {
      const c = l.trim().split(/\s+/);
      return {
        size: Number(c[0]),
        count: Number(c[1]),
        type: c[2]!,
        redop: c[3]!,
        root: Number(c[4]),
        time: [Number(c[5]), Number(c[9])],
        algbw: [Number(c[6]), Number(c[10])],
        busbw: [Number(c[7]), Number(c[11])],
        wrong: [c[8]!, c[12]!],
        algo: c[13],
      };
    });
}

interface JsonRow {
  bytes: number;
  time_us: number;
  algbw_gbs: number;
  busbw_gbs: number;
  algo: string;
}

async function json(...argv: string[]): Promise<JsonRow[]> {
  const t = await tessera('coll-perf', ...argv, '--json');
  expect(t.code, `${argv.join(' ')}: ${t.err}`).toBe(0);
  return JSON.parse(t.out) as JsonRow[];
}

const OPS = ['allreduce', 'allgather', 'reducescatter', 'alltoall', 'broadcast', 'reduce', 'sendrecv'] as const;

afterEach(() => {
  vi.restoreAllMocks();
});

describe('tessera coll-perf: the nccl-tests table', () => {
  it('prints the header, one device line per rank, the column headers, a row per size and the footer', async () => {
    const t = await tessera('coll-perf', '--op', 'allreduce', '--topology', 'dgx-h100', '--max-bytes', '1M');
    expect(t.code, t.err).toBe(0);
    const lines = t.out.split('\n');
    expect(lines[0]).toBe(
      '# nThread 1 nGpus 8 minBytes 8 maxBytes 1048576 step: 2(factor) warmup iters: 0 iters: 1 agg iters: 1 validation: 1 graph: 0',
    );
    expect(t.out).toMatch(/^# Tessera coll-perf: modelled times on dgx-h100 \(NVIDIA H100[^)]*\), 8 ranks/m);
    expect(t.out).toMatch(/^# Using devices$/m);
    const devices = lines.filter((l) => l.startsWith('#  Rank'));
    expect(devices).toHaveLength(8);
    expect(devices[3]).toMatch(/^# {2}Rank {2}3 Group {2}0 Pid +\d+ on +node0 device {2}3 \[h100:3\] NVIDIA H100/);
    expect(lines).toContain(
      '#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong  algo',
    );
    expect(lines).toContain(
      '#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)',
    );
    expect(lines.some((l) => /^# +out-of-place +in-place$/.test(l))).toBe(true);
    const rows = rowsOf(t.out);
    expect(rows.map((r) => r.size)).toEqual(Array.from({ length: 18 }, (_, i) => 8 * 2 ** i));
    for (const r of rows) {
      expect(r).toMatchObject({ count: r.size / 4, type: 'float', redop: 'sum', root: -1 });
      expect(r.time[0]).toBe(r.time[1]);
      expect(r.algo).toMatch(/^(ring|tree|nvls)\/(LL|LL128|Simple)$/);
    }
    // Rows line up under the column headers (nccl-tests' fixed widths).
    const header = lines.find((l) => l.startsWith('#       size'))!;
    const first = lines.find((l) => /^ +8 /.test(l))!;
    expect(first.indexOf(rows[0]!.algo!)).toBe(header.indexOf('algo'));
    expect(lines.at(-3)).toBe('# Out of bounds values : 0 OK');
    const avg = Number(/^# Avg bus bandwidth {4}: (\S+)$/.exec(lines.at(-2)!)![1]);
    const mean = rows.reduce((a, r) => a + r.busbw[0], 0) / rows.length;
    expect(avg).toBeCloseTo(mean, 1);
    expect(lines.at(-1)).toBe('#');
  });

  it('shows redop, root and per-rank counts as nccl-tests does for each collective, and drops algo when forced', async () => {
    const n = 8;
    for (const op of OPS) {
      const t = await tessera(
        'coll-perf',
        '--op',
        op,
        '--topology',
        'dgx-a100',
        '--min-bytes',
        '1K',
        '--max-bytes',
        '4K',
      );
      expect(t.code, `${op}: ${t.err}`).toBe(0);
      for (const r of rowsOf(t.out)) {
        // nccl-tests' sendrecv_perf prints `sum` too (it loops over the reduction ops it does not use).
        expect(r.redop, op).toBe(['allreduce', 'reducescatter', 'reduce', 'sendrecv'].includes(op) ? 'sum' : 'none');
        expect(r.root, op).toBe(op === 'broadcast' || op === 'reduce' ? 0 : -1);
        // all-gather, reduce-scatter, all-to-all: the size is the whole array, the count is per rank.
        const perRank = op === 'allgather' || op === 'reducescatter' || op === 'alltoall';
        expect(r.count, op).toBe(perRank ? r.size / 4 / n : r.size / 4);
      }
    }
    const odd = rowsOf(
      (
        await tessera(
          'coll-perf',
          '--op',
          'allgather',
          '--topology',
          'dgx-a100x3',
          '--min-bytes',
          '1000',
          '--max-bytes',
          '1000',
        )
      ).out,
    );
    expect(odd[0]).toMatchObject({ size: 960, count: 10 }); // 250 floats → 10 per rank × 24 ranks
    const forced = await tessera(
      'coll-perf',
      '--op',
      'allreduce',
      '--topology',
      'dgx-a100',
      '--algo',
      'ring',
      '--max-bytes',
      '64',
    );
    expect(forced.out).not.toMatch(/#wrong +algo/);
    expect(rowsOf(forced.out)[0]!.algo).toBeUndefined();
  });

  it('computes algbw = size / time and busbw with nccl-tests factors for every collective', async () => {
    for (const [topology, n] of [
      ['dgx-a100', 8],
      ['dgx-h100x2', 16],
    ] as const) {
      const factor = {
        allreduce: (2 * (n - 1)) / n,
        allgather: (n - 1) / n,
        reducescatter: (n - 1) / n,
        alltoall: (n - 1) / n,
        broadcast: 1,
        reduce: 1,
        sendrecv: 1,
      };
      for (const op of OPS) {
        const rows = await json(
          '--op',
          op,
          '--topology',
          topology,
          '--min-bytes',
          '64K',
          '--max-bytes',
          '1G',
          '--step-factor',
          '4',
        );
        expect(rows).toHaveLength(8);
        for (const r of rows) {
          expect(r.algbw_gbs, op).toBeCloseTo(r.bytes / (r.time_us * 1e3), 9);
          expect(r.busbw_gbs / r.algbw_gbs, op).toBeCloseTo(factor[op], 9);
        }
        // Bandwidth grows with size towards the fabric's limit.
        expect(rows.at(-1)!.busbw_gbs).toBeGreaterThan(rows[0]!.busbw_gbs);
      }
    }
    // The table shows the same numbers, rounded as nccl-tests prints them.
    const t = await tessera(
      'coll-perf',
      '--op',
      'allgather',
      '--topology',
      'dgx-a100',
      '--min-bytes',
      '1G',
      '--max-bytes',
      '1G',
    );
    const [row] = rowsOf(t.out);
    expect(row!.busbw[0]).toBeCloseTo(row!.algbw[0] * (7 / 8), 1);
    expect(row!.algbw[0]).toBeCloseTo(row!.size / (row!.time[0] * 1e3), 1);
  });

  it('sendrecv: nccl-tests’ sendrecv_perf — rank r sends to r+1, size is one rank’s buffer, busbw = algbw, #wrong 0', async () => {
    const t = await tessera('coll-perf', '--op', 'sendrecv_perf', '--topology', 'dgx-h100x2', '--max-bytes', '256K');
    expect(t.code, t.err).toBe(0);
    expect(t.out).toMatch(/^# Tessera coll-perf: modelled times on dgx-h100x2 .*, 16 ranks: sendrecv, float/m);
    const lines = t.out.split('\n');
    expect(lines).toContain(
      '#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong  algo',
    );
    const rows = rowsOf(t.out);
    expect(rows.map((r) => r.size)).toEqual(Array.from({ length: 16 }, (_, i) => 8 * 2 ** i));
    for (const r of rows) {
      expect(r).toMatchObject({ count: r.size / 4, type: 'float', redop: 'sum', root: -1 });
      expect(r.busbw).toEqual(r.algbw);
      expect(r.algo).toMatch(/^p2p\/(LL|LL128|Simple)$/);
      expect(r.wrong, `${r.size}`).toEqual(r.size <= 64 * 1024 ? ['0', '0'] : ['N/A', 'N/A']);
    }
    expect(t.out).toMatch(/# Out of bounds values : 0 OK/);
    const json = await tessera(
      'coll-perf',
      '--op',
      'sendrecv',
      '--topology',
      'dgx-a100',
      '--min-bytes',
      '1G',
      '--json',
    );
    const [row] = JSON.parse(json.out) as JsonRow[];
    expect(row!.busbw_gbs).toBe(row!.algbw_gbs);
    expect(row!.algbw_gbs).toBeCloseTo(row!.bytes / (row!.time_us * 1e3), 9);
  });

  it('sendrecv’s #wrong is real: a wrong peer shows up', async () => {
    const real = Communicator.prototype.sendRecv;
    vi.spyOn(Communicator.prototype, 'sendRecv').mockImplementation(function (this: Communicator, send, recv, o) {
      const res = real.call(this, send, recv, o);
      this.device(1).upload(recv[1]!, [777]); // one element of rank 1 not what rank 0 sent
      return res;
    });
    const t = await tessera(
      'coll-perf',
      '--op',
      'sendrecv',
      '--topology',
      'dgx-a100',
      '--min-bytes',
      '64',
      '--max-bytes',
      '64',
    );
    expect(t.code).toBe(1);
    expect(rowsOf(t.out)[0]!.wrong).toEqual(['1', '1']);
  });

  it('alltoall on 256 CloudMatrix384 dies takes the one-sided path: ~70 µs at 1 MiB, not ~520 µs', async () => {
    const [row] = await json(
      '--op',
      'alltoall',
      '--topology',
      'cloudmatrix384',
      '--ranks',
      '256',
      '--min-bytes',
      '1M',
      '--max-bytes',
      '1M',
    );
    expect(row!.algo).toBe('onesided/Simple');
    expect(row!.time_us).toBeGreaterThan(40);
    expect(row!.time_us).toBeLessThan(150);
    const [nccl] = await json(
      '--op',
      'alltoall',
      '--topology',
      'cloudmatrix384',
      '--ranks',
      '256',
      '--min-bytes',
      '1M',
      '--max-bytes',
      '1M',
      '--algo',
      'direct',
    );
    expect(nccl!.time_us).toBeGreaterThan(500);
  });

  it('prints only the JSON rows with --json', async () => {
    const t = await tessera('coll-perf', '--op', 'allreduce', '--topology', 'dgx-h100', '--max-bytes', '8G', '--json');
    expect(t.code).toBe(0);
    const rows = JSON.parse(t.out) as JsonRow[];
    expect(rows).toHaveLength(31);
    for (const r of rows) {
      expect(Object.keys(r).sort()).toEqual(['algbw_gbs', 'algo', 'busbw_gbs', 'bytes', 'time_us']);
      expect(r.algo).toMatch(/^(ring|tree|nvls)\/(LL|LL128|Simple)$/);
    }
    expect(rows.at(-1)!.bytes).toBe(8 * 1024 ** 3);
  });

  it('matches nccl-tests on 8× A100: all-reduce busbw within 5 % of 230 GB/s from 1 to 8 GiB', async () => {
    const rows = await json('--op', 'allreduce', '--topology', 'dgx-a100', '--min-bytes', '1G', '--max-bytes', '8G');
    expect(rows.map((r) => r.bytes)).toEqual([1, 2, 4, 8].map((g) => g * 1024 ** 3));
    for (const r of rows) {
      expect(r.busbw_gbs).toBeGreaterThan(230 * 0.95);
      expect(r.busbw_gbs).toBeLessThan(230 * 1.05);
    }
  });
});

describe('tessera coll-perf: the functional check (#wrong)', () => {
  it('is 0 for every collective and several dtypes up to 64 KiB, N/A above', async () => {
    for (const op of OPS) {
      for (const dtype of ['float', 'bfloat16', 'int8']) {
        const t = await tessera(
          'coll-perf',
          '--op',
          op,
          '--topology',
          'dgx-a100',
          '--dtype',
          dtype,
          '--max-bytes',
          '256K',
        );
        expect(t.code, `${op} ${dtype}: ${t.err}`).toBe(0);
        const rows = rowsOf(t.out);
        expect(rows.length).toBeGreaterThan(10);
        for (const r of rows) {
          const want = r.size <= 64 * 1024 ? '0' : 'N/A';
          expect(r.wrong, `${op} ${dtype} ${r.size}`).toEqual([want, want]);
        }
        expect(t.out).toMatch(/# Out of bounds values : 0 OK/);
      }
    }
  });

  it('runs on a multi-node topology and on part of a topology', async () => {
    for (const argv of [
      ['--topology', 'dgx-h100x2'],
      ['--topology', 'atlas-800t-a2', '--ranks', '5'],
    ]) {
      for (const op of ['allreduce', 'reducescatter', 'alltoall']) {
        const t = await tessera('coll-perf', '--op', op, ...argv, '--min-bytes', '1K', '--max-bytes', '128K');
        expect(t.code, `${op} ${argv.join(' ')}: ${t.err}`).toBe(0);
        expect(rowsOf(t.out).map((r) => r.wrong[0])).toEqual(['0', '0', '0', '0', '0', '0', '0', 'N/A']);
      }
    }
  });

  it('counts wrong elements when a collective returns a wrong answer, and fails', async () => {
    const real = Communicator.prototype.allReduce;
    vi.spyOn(Communicator.prototype, 'allReduce').mockImplementation(function (this: Communicator, send, recv, o) {
      const res = real.call(this, send, recv, o);
      this.device(2).upload(recv[2]!, [12345, 12345]); // two wrong elements on rank 2
      return res;
    });
    const t = await tessera(
      'coll-perf',
      '--op',
      'allreduce',
      '--topology',
      'dgx-a100',
      '--min-bytes',
      '64',
      '--max-bytes',
      '128',
    );
    expect(t.code).toBe(1);
    expect(rowsOf(t.out).map((r) => r.wrong)).toEqual([
      ['2', '2'],
      ['2', '2'],
    ]);
    expect(t.out).toMatch(/# Out of bounds values : 8 FAILED/);
    expect(t.err).toMatch(/tessera: coll-perf: 8 output values differ/);
  });

  it('writes the functional checks to --trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-'));
    const file = join(dir, 'coll.json');
    const argv = ['coll-perf', '--op', 'allgather', '--topology', 'dgx-h100', '--min-bytes', '32', '--max-bytes', '1K'];
    const t = await tessera('--trace', file, ...argv);
    expect(t.code).toBe(0);
    const trace = JSON.parse(readFileSync(file, 'utf8')) as { traceEvents: Array<{ ph: string; name: string }> };
    // 6 sizes, out-of-place and in-place, on 8 ranks.
    expect(trace.traceEvents.filter((e) => e.ph === 'X' && e.name === 'allgather')).toHaveLength(6 * 2 * 8);
    // No functional check (72 ranks): an empty trace.
    const empty = join(dir, 'empty.json');
    expect(
      (await tessera('--trace', empty, 'coll-perf', '--op', 'allreduce', '--topology', 'nvl72', '--max-bytes', '64'))
        .code,
    ).toBe(0);
    expect(JSON.parse(readFileSync(empty, 'utf8'))).toEqual({ traceEvents: [] });
  });
});

describe('tessera coll-perf: topologies and scale', () => {
  it('runs a short sweep on every built-in topology, a multi-node one and a topology file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-'));
    const file = join(dir, 'two-a100.yaml');
    writeFileSync(
      file,
      [
        'name: two-a100',
        'backend: nvidia-sim',
        'device: a100',
        'nodes: 1',
        'devicesPerNode: 2',
        'scaleUp: { kind: switch, bandwidthGBs: 300, latencyUs: 0.5 }',
      ].join('\n'),
    );
    const ranks: Record<string, number> = { 'dgx-h100x4': 32, [file]: 2 };
    for (const [name, spec] of Object.entries(BUILTIN_TOPOLOGIES)) ranks[name] = spec.nodes * spec.devicesPerNode;
    expect(ranks.cloudmatrix384).toBe(768);
    for (const [topology, n] of Object.entries(ranks)) {
      const t = await tessera(
        'coll-perf',
        '--op',
        'allreduce',
        '--topology',
        topology,
        '--min-bytes',
        '32K',
        '--max-bytes',
        '128K',
      );
      expect(t.code, `${topology}: ${t.err}`).toBe(0);
      expect(t.out).toContain(`nGpus ${n} `);
      expect(t.out.split('\n').filter((l) => l.startsWith('#  Rank'))).toHaveLength(n);
      const rows = rowsOf(t.out);
      expect(rows).toHaveLength(3);
      for (const r of rows) expect(r.busbw[0], topology).toBeGreaterThan(0);
      expect(rows[0]!.wrong[0], topology).toBe(n <= 64 ? '0' : 'N/A');
    }
  });

  it('sweeps 8 B – 8 GiB on CloudMatrix384, on 384 ranks and on all 768 dies', async () => {
    for (const argv of [['--ranks', '384'], []]) {
      for (const op of ['allreduce', 'alltoall']) {
        const rows = await json('--op', op, '--topology', 'cloudmatrix384', ...argv);
        expect(rows).toHaveLength(31);
        const last = rows.at(-1)!;
        // Unified Bus: 196 GB/s per die at the scale-up link efficiency.
        expect(last.busbw_gbs, `${op} ${argv.join(' ')}`).toBeGreaterThan(0.7 * 196);
        expect(last.busbw_gbs, `${op} ${argv.join(' ')}`).toBeLessThan(196);
      }
    }
  });
});

describe('tessera coll-perf: faults', () => {
  it('a failed rank makes the collective time out with a clear message and exit 1', async () => {
    const t = await tessera('coll-perf', '--op', 'allreduce', '--topology', 'dgx-a100', '--fail-rank', '3');
    expect(t.code).toBe(1);
    expect(rowsOf(t.out)).toHaveLength(0);
    const failed = t.out.split('\n').filter((l) => l.startsWith('# collective failed:'));
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatch(/timed out after 120 s \(modelled\): rank\(s\) 3 \(a100:3\) failed/);
    expect(t.out).toMatch(/^# fault: rank 3 \(a100:3\) failed$/m);
    expect(t.err).toMatch(/^tessera: .*timed out/);
    // Above the functional-check sizes, with two ranks, as a comma list; and with --json nothing reaches stdout.
    const j = await tessera(
      'coll-perf',
      '--op',
      'reducescatter',
      '--topology',
      'cloudmatrix384',
      '--fail-rank',
      '5,700',
      '--min-bytes',
      '1G',
      '--json',
    );
    expect(j.code).toBe(1);
    expect(j.out).toBe('');
    expect(j.err).toMatch(/rank\(s\) 5, 700 .* failed and never joined/);
  });

  it('a degraded link on the path slows the collective; a cut one is routed around or fails', async () => {
    const args = ['--op', 'allreduce', '--topology', 'dgx-a100', '--min-bytes', '1G', '--max-bytes', '1G'];
    const [healthy] = await json(...args, '--algo', 'ring');
    const [slow] = await json(...args, '--algo', 'ring', '--degrade-link', 'rank3→sw0=0.5');
    expect(slow!.time_us / healthy!.time_us).toBeGreaterThan(1.9);
    expect(slow!.time_us / healthy!.time_us).toBeLessThan(2.01);
    // ASCII arrow; the tuner may move to another algorithm, but it stays slower than healthy.
    const [tuned] = await json(...args, '--degrade-link', 'rank3->sw0=0.5');
    expect(tuned!.busbw_gbs).toBeLessThan(0.7 * healthy!.busbw_gbs);
    const t = await tessera('coll-perf', ...args, '--degrade-link', 'rank3→sw0=0.5');
    expect(t.out).toMatch(/^# fault: link rank3→sw0 at 0.5 of its bandwidth$/m);

    // HCCS full mesh: "a-b" names the pair's direct links; a cut pair is routed through a third NPU.
    const mesh = ['--op', 'allreduce', '--topology', 'atlas-800t-a2', '--min-bytes', '1G', '--max-bytes', '1G'];
    const [m0] = await json(...mesh);
    const [m1] = await json(...mesh, '--degrade-link', '0-1=0.5');
    const [m2] = await json(...mesh, '--cut-link', '0-1');
    expect(m1!.time_us).toBeGreaterThan(1.5 * m0!.time_us);
    expect(m2!.time_us).toBeGreaterThan(1.5 * m0!.time_us);
    expect(m2!.algo).toBe('direct/Simple');

    // A switch port cut: no path left, the row reports it.
    const cut = await tessera('coll-perf', ...args, '--cut-link', 'rank3→sw0');
    expect(cut.code).toBe(1);
    expect(cut.out).toMatch(/^# collective failed: No path from rank 3 to rank \d/m);
  });

  it('rejects faults that do not name a rank or link of the cluster', async () => {
    const base = ['coll-perf', '--op', 'allreduce', '--topology', 'dgx-a100'];
    const cases: Array<[string[], RegExp]> = [
      [['--fail-rank', '8'], /Rank 8 is not in this 8-rank cluster/],
      [['--fail-rank', 'x'], /--fail-rank: 'x' is not a rank/],
      [['--degrade-link', 'rank3→sw9=0.5'], /No link named 'rank3→sw9'/],
      [['--degrade-link', 'rank3→sw0'], /must be NAME=FACTOR/],
      [['--degrade-link', 'rank3→sw0=1.5'], /factor 1.5 must be in \(0, 1\]/],
      [['--cut-link', '0-1'], /Ranks 0 and 1 share no direct link/],
    ];
    for (const [argv, re] of cases) {
      const t = await tessera(...base, ...argv);
      expect(t.code, argv.join(' ')).toBe(1);
      expect(t.err.split('\n'), argv.join(' ')).toHaveLength(1);
      expect(t.err, argv.join(' ')).toMatch(re);
    }
  });
});

describe('tessera coll-perf: arguments', () => {
  it('accepts nccl-tests spellings of ops and types', async () => {
    const t = await tessera(
      'coll-perf',
      '--op',
      'all_reduce_perf',
      '--topology',
      'DGX-A100',
      '--dtype',
      'half',
      '--max-bytes',
      '16',
    );
    expect(t.code, t.err).toBe(0);
    expect(rowsOf(t.out).map((r) => [r.size, r.count, r.type])).toEqual([
      [8, 4, 'half'],
      [16, 8, 'half'],
    ]);
  });

  it('exits non-zero with one line that says what is wrong', async () => {
    const base = ['coll-perf', '--topology', 'dgx-a100'];
    const cases: Array<[string[], RegExp]> = [
      [['coll-perf', '--op', 'allsum', '--topology', 'dgx-a100'], /'allsum' is not a collective; use one of allreduce/],
      [[...base, '--op', 'allreduce', '--min-bytes', 'lots'], /--min-bytes: 'lots' is not a size/],
      [[...base, '--op', 'allreduce', '--max-bytes', '-1'], /--max-bytes: '-1' is not a size/],
      [[...base, '--op', 'allreduce', '--min-bytes', '0'], /--min-bytes must be at least 1/],
      [
        [...base, '--op', 'allreduce', '--min-bytes', '1M', '--max-bytes', '1K'],
        /--min-bytes \(1048576\) is larger than --max-bytes \(1024\)/,
      ],
      [[...base, '--op', 'allreduce', '--step-factor', '1'], /--step-factor must be at least 2/],
      [[...base, '--op', 'allreduce', '--ranks', '9'], /ranks = 9: 'dgx-a100' has 8 ranks/],
      [[...base, '--op', 'allreduce', '--dtype', 'double'], /--dtype: 'double' is not supported/],
      [
        [...base, '--op', 'allreduce', '--algo', 'nvls'],
        /Algorithm 'nvls' does not apply to allreduce .*Applicable here: ring, tree/,
      ],
      [
        [...base, '--op', 'allreduce', '--algo', 'magic'],
        /--algo: 'magic' is not one of ring, tree, direct, nvls, hier, onesided, p2p/,
      ],
      [['coll-perf', '--op', 'allreduce', '--topology', 'tpu-pod'], /Unknown topology 'tpu-pod'/],
      [
        ['coll-perf', '--op', 'allreduce', '--topology', join(tmpdir(), 'no-such-topology.json')],
        /Cannot read topology file/,
      ],
    ];
    for (const [argv, re] of cases) {
      const t = await tessera(...argv);
      expect(t.code, argv.join(' ')).toBe(1);
      expect(t.out, argv.join(' ')).toBe('');
      expect(t.err.split('\n'), argv.join(' ')).toHaveLength(1);
      expect(t.err, argv.join(' ')).toMatch(re);
    }
    const missing = await tessera('coll-perf', '--topology', 'dgx-a100');
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/required option '--op/);
  });

  it('prints help', async () => {
    const t = await tessera('coll-perf', '--help');
    expect(t.code).toBe(0);
    expect(t.out).toMatch(/Usage: tessera coll-perf/);
    for (const o of [
      '--op',
      '--topology',
      '--ranks',
      '--min-bytes',
      '--max-bytes',
      '--step-factor',
      '--dtype',
      '--algo',
      '--json',
      '--fail-rank',
      '--degrade-link',
      '--cut-link',
    ])
      expect(t.out).toContain(o);
    expect((await tessera('--help')).out).toMatch(/coll-perf/);
  });
});
