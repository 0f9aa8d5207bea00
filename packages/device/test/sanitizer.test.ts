/**
 * The sanitizer (docs/sanitizer.md): the corpus of deliberately buggy kernels (src/testing/sanitizer-corpus.ts), each
 * reported with the right tool, kind, kernel, source line and thread/block or program, and nothing else; correct
 * kernels report nothing and compute what the generated code computes; the report's printed shape; the process exit
 * code under TESSERA_SANITIZE.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  clearSanitizerReports,
  createRuntime,
  disableSanitizer,
  enableSanitizer,
  formatSanitizerSummary,
  parseSanitizerTools,
  type SanitizerReport,
  sanitizerReports,
  sanitizerSummary,
  simtKernel,
  tileKernel,
} from '../src/index';
import { SANITIZER_CORPUS, type SanitizerCase } from '../src/testing/sanitizer-corpus';
import { createTestBackend } from '../src/testing/test-backend';

const here = dirname(fileURLToPath(import.meta.url));
const corpusFile = join(here, '../src/testing/sanitizer-corpus.ts');
const corpusLines = readFileSync(corpusFile, 'utf8').split('\n');

/** The line marked `// BUG: name` in the corpus. */
function bugLine(name: string): number {
  const i = corpusLines.findIndex((l) => l.includes(`// BUG: ${name}`) && l.trimEnd().endsWith(`// BUG: ${name}`));
  if (i < 0) throw new Error(`no BUG marker for ${name}`);
  return i + 1;
}

async function devices(n: number) {
  const rt = await createRuntime({ backend: createTestBackend(), count: n, devices: 'testchip' });
  return Array.from({ length: n }, (_, i) => rt.device(i));
}

function describeReports(rs: readonly SanitizerReport[]): string {
  return rs.map((r) => r.text).join('\n');
}

afterEach(() => disableSanitizer());

describe('the buggy-kernel corpus', () => {
  it('holds at least 20 cases of both kernel styles and every tool', () => {
    expect(SANITIZER_CORPUS.length).toBeGreaterThanOrEqual(20);
    expect(new Set(SANITIZER_CORPUS.map((c) => c.style))).toEqual(new Set(['tile', 'simt']));
    expect(new Set(SANITIZER_CORPUS.map((c) => c.tool))).toEqual(
      new Set(['memcheck', 'racecheck', 'initcheck', 'synccheck']),
    );
    for (const c of SANITIZER_CORPUS) expect(bugLine(c.name)).toBeGreaterThan(0);
  });

  for (const c of SANITIZER_CORPUS.filter((x) => x.needs !== 'shared-alignment-32')) {
    it(`${c.name}: ${c.tool} reports one ${c.kind} in ${c.kernel} at its line`, async () => {
      await expectCase(c);
    });
  }
});

async function expectCase(c: SanitizerCase): Promise<SanitizerReport> {
  enableSanitizer(c.tool, { print: false });
  c.run(await devices(c.devices));
  const errors = sanitizerReports().filter((r) => r.severity === 'error');
  expect(
    errors.map((e) => e.kind),
    describeReports(sanitizerReports()),
  ).toEqual([c.kind, ...(c.alsoKinds ?? [])]);
  for (const e of errors) expect([e.kernel, e.line]).toEqual([c.kernel, bugLine(c.name)]);
  const r = errors[0]!;
  expect(r.tool).toBe(c.tool);
  expect(r.kind).toBe(c.kind);
  expect(r.kernel).toBe(c.kernel);
  expect(r.style).toBe(c.style);
  expect(r.space).toBe(c.space);
  expect(r.file).toBe(corpusFile);
  expect(r.line, r.text).toBe(bugLine(c.name));
  if (c.program) expect(r.program).toEqual(c.program);
  if (c.thread) expect({ block: r.block, thread: r.thread }).toEqual({ block: c.block, thread: c.thread });
  expect(r.text).toContain(`:${r.line}`);
  return r;
}

describe('reports', () => {
  it('print as compute-sanitizer prints them, with the address, buffer and offset', async () => {
    const out: string[] = [];
    enableSanitizer('memcheck', { write: (t) => out.push(t) });
    SANITIZER_CORPUS.find((c) => c.name === 'oob-global-read')!.run(await devices(1));
    const text = out.join('\n');
    expect(text).toMatch(/^========= Invalid __global__ read of size 4 bytes$/m);
    expect(text).toMatch(/^========= {5}at oob_global_read in .*sanitizer-corpus\.ts:\d+ {2}`/m);
    expect(text).toMatch(/^========= {5}by thread \(4,0,0\) in block \(3,0,0\)$/m);
    expect(text).toMatch(/^========= {5}Address 0x[0-9a-f]+ is out of bounds$/m);
    expect(text).toMatch(
      /'src' = buffer #\d+ \(f32\[100\], testchip:0\): element 100 \(valid 0\.\.99, 400 bytes\); the access is 0 bytes after its end/,
    );
    expect(text).toMatch(/\(and 27 more of the same in this launch\)/);
    const r = sanitizerReports()[0]!;
    expect(r).toMatchObject({ access: 'read', size: 4, param: 'src', index: 100, offset: 400, count: 28 });
    expect(sanitizerSummary()).toMatchObject({ errors: 1, warnings: 0, launches: 1 });
    expect(formatSanitizerSummary(sanitizerSummary())).toBe('========= ERROR SUMMARY: 1 error');
    clearSanitizerReports();
    expect(sanitizerReports()).toHaveLength(0);
  });

  it('races name both accesses; a write that does not change the value is a warning', async () => {
    enableSanitizer('racecheck', { print: false });
    const [dev] = await devices(1);
    const r = await expectCase(SANITIZER_CORPUS.find((c) => c.name === 'shared-raw')!);
    expect(r.other).toMatchObject({ thread: [0, 0, 0], block: [0, 0, 0], access: 'write', line: r.line! - 1 });
    expect(r.text).toMatch(
      /^========= Error: Potential RAW hazard detected at __shared__ 0x00000000 in block \(0,0,0\) :$/m,
    );
    expect(r.text).toMatch(/^========= {5}Write Thread \(0,0,0\) at shared_raw in /m);
    expect(r.text).toMatch(/^========= {5}Read Thread \(1,0,0\) at shared_raw in /m);
    // Every thread writing the same value: a warning, not an error.
    enableSanitizer('racecheck', { print: false });
    const same = simtKernel(
      { name: 'same_flag', params: { out: 'ptr<f32>' }, shared: { flag: ['f32', 1] } },
      function* (k, { out }) {
        k.shared.flag![0] = 1;
        yield k.syncthreads();
        out.set(k.threadIdx.x, k.shared.flag![0]!);
      },
    );
    dev!.launch(same, { grid: 1, block: 32 }, { out: dev!.alloc('f32', 32) });
    const rs = sanitizerReports();
    expect(rs.length).toBeGreaterThan(0);
    expect(rs.every((x) => x.severity === 'warning' && x.kind === 'waw')).toBe(true);
    expect(sanitizerSummary()).toMatchObject({ errors: 0 });
    expect(formatSanitizerSummary(sanitizerSummary())).toContain(
      'RACECHECK SUMMARY: 1 hazard displayed (0 errors, 1 warning)',
    );
  });

  it('a faulting launch still fails with its own error, after the reports', async () => {
    enableSanitizer('memcheck', { print: false });
    const [dev] = await devices(1);
    const c = SANITIZER_CORPUS.find((x) => x.name === 'oob-tile-load')!;
    const src = dev!.alloc('f32', 100);
    dev!.fill(src, 1);
    expect(() => c.run([dev!])).not.toThrow();
    expect(dev!.failed).toBe(true);
    expect(sanitizerReports()).toHaveLength(1);
  });

  it('parses tool lists and refuses unknown tools', () => {
    expect(parseSanitizerTools('all')).toEqual(['memcheck', 'racecheck', 'initcheck', 'synccheck']);
    expect(parseSanitizerTools('racecheck, initcheck')).toEqual(['racecheck', 'initcheck']);
    expect(() => parseSanitizerTools('leakcheck')).toThrow(/unknown sanitizer tool 'leakcheck'/);
  });
});

describe('correct kernels', () => {
  const vadd = tileKernel(
    { name: 'san_vadd', params: { a: 'ptr', b: 'ptr', out: 'ptr', n: 'i32', BLOCK: 'constexpr' } },
    (t, { a, b, out, n, BLOCK }) => {
      const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK);
      const mask = offs.lt(n);
      t.store(out, offs, t.load(a, offs, { mask }).add(t.load(b, offs, { mask })), { mask });
    },
  );
  const reduce = simtKernel(
    { name: 'san_reduce', params: { x: 'ptr<f32>', out: 'ptr<f32>', n: 'i32' }, shared: { part: ['f32', 64] } },
    function* (k, { x, out, n }) {
      const tid = k.threadIdx.x;
      const i = k.blockIdx.x * 64 + tid;
      k.shared.part![tid] = i < n ? x.get(i) : 0;
      yield k.syncthreads();
      for (let s = 32; s > 0; s >>= 1) {
        if (tid < s) k.shared.part![tid] += k.shared.part![tid + s]!;
        yield k.syncthreads();
      }
      if (tid === 0) out.atomicAdd(0, k.shared.part![0]!);
    },
  );

  async function run() {
    const [dev] = await devices(1);
    const n = 1000;
    const [a, b, c, total] = [dev!.alloc('f32', n), dev!.alloc('f32', n), dev!.alloc('f32', n), dev!.alloc('f32', 1)];
    dev!.upload(
      a,
      Array.from({ length: n }, (_, i) => i * 0.5),
    );
    dev!.upload(
      b,
      Array.from({ length: n }, (_, i) => 1 - i),
    );
    dev!.memset(total, 0);
    dev!.launch(vadd, { grid: Math.ceil(n / 128) }, { a, b, out: c, n, BLOCK: 128 });
    dev!.launch(reduce, { grid: Math.ceil(n / 64), block: 64 }, { x: c, out: total, n });
    return [...dev!.download(c), ...dev!.download(total)];
  }

  it('warp-synchronous code with __syncwarp, shared atomics and warp shuffles report nothing', async () => {
    const broadcast = simtKernel(
      { name: 'san_warp_broadcast', params: { src: 'ptr<f32>', dst: 'ptr<f32>' }, shared: { slot: ['f32', 2] } },
      (k, { src, dst }) => {
        const tid = k.threadIdx.x;
        if (k.laneId === 0) k.shared.slot![k.warpId] = src.get(k.warpId);
        k.syncwarp();
        const v = k.shared.slot![k.warpId]!;
        dst.set(tid, k.reduceAdd(0xffffffff, tid) + v + k.shflXor(0xffffffff, v, 1));
      },
    );
    const histogram = simtKernel(
      { name: 'san_histogram', params: { src: 'ptr<i32>', hist: 'ptr<i32>' }, shared: { bins: ['u32', 8] } },
      function* (k, { src, hist }) {
        const tid = k.threadIdx.x;
        if (tid < 8) k.shared.bins![tid] = 0;
        yield k.syncthreads();
        k.shared.bins!.atomicAdd(src.get(k.blockIdx.x * 64 + tid) & 7, 1);
        yield k.syncthreads();
        if (tid < 8) hist.atomicAdd(tid, k.shared.bins![tid]!);
      },
    );
    enableSanitizer('all', { print: false });
    const [dev] = await devices(1);
    const [src, dst, ints, hist] = [
      dev!.alloc('f32', 2),
      dev!.alloc('f32', 64),
      dev!.alloc('i32', 128),
      dev!.alloc('i32', 8),
    ];
    dev!.upload(src, [3, 4]);
    dev!.upload(
      ints,
      Array.from({ length: 128 }, (_, i) => (i * 7) % 5),
    );
    dev!.memset(hist, 0);
    dev!.launch(broadcast, { grid: 1, block: 64 }, { src, dst });
    dev!.launch(histogram, { grid: 2, block: 64 }, { src: ints, hist });
    expect(describeReports(sanitizerReports())).toBe('');
    const want = new Array(8).fill(0);
    for (let i = 0; i < 128; i++) want[(i * 7) % 5]++;
    expect(Array.from(dev!.download(hist))).toEqual(want);
  });

  it('report nothing under every tool and compute what the generated code computes', async () => {
    const plain = await run();
    enableSanitizer('all', { print: false });
    const checked = await run();
    expect(describeReports(sanitizerReports())).toBe('');
    expect(checked).toEqual(plain);
    expect(sanitizerSummary().launches).toBe(2);
  });
});

describe('TESSERA_SANITIZE', () => {
  const script = (body: string) => {
    const f = join(tmpdir(), `tessera-sanitize-${process.pid}-${Math.random().toString(36).slice(2)}.mts`);
    writeFileSync(
      f,
      `import { createRuntime, simtKernel } from ${JSON.stringify(join(here, '../src/index.ts'))};
import { createTestBackend } from ${JSON.stringify(join(here, '../src/testing/test-backend.ts'))};
const rt = await createRuntime({ backend: createTestBackend(), devices: 'testchip' });
const dev = rt.device(0);
const kern = simtKernel({ name: 'child_kernel', params: { a: 'ptr<f32>', n: 'i32' } }, (k, { a, n }) => {
  const i = k.threadIdx.x;
  a.set(i, i < n ? 1 : 2);
});
${body}
`,
    );
    return f;
  };
  const runNode = (file: string, tool: string) =>
    spawnSync(process.execPath, ['--conditions=@tessera/source', '--import', 'tsx', file], {
      env: { ...process.env, TESSERA_SANITIZE: tool },
      encoding: 'utf8',
      cwd: join(here, '..'),
      timeout: 60_000,
    });

  it('prints the reports and the summary, and exits 1 when it found errors (0 when not)', () => {
    const bad = runNode(
      script(`try { dev.launch(kern, { grid: 1, block: 32 }, { a: dev.alloc('f32', 16), n: 16 }); } catch {}`),
      'memcheck',
    );
    expect(bad.stderr).toMatch(/========= Invalid __global__ write of size 4 bytes/);
    expect(bad.stderr).toMatch(/========= ERROR SUMMARY: 1 error/);
    expect(bad.status).toBe(1);
    const good = runNode(
      script(`dev.launch(kern, { grid: 1, block: 16 }, { a: dev.alloc('f32', 16), n: 16 });`),
      'all',
    );
    expect(good.stderr).toMatch(/========= ERROR SUMMARY: 0 errors/);
    expect(good.status).toBe(0);
  });
});
