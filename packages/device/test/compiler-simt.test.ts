/**
 * SIMT kernels through the compiler: thread-loop fission gives the eager executor's results bit for bit (races
 * included: threads run in the same order), barriers under thread-dependent control flow are refused, and faults name
 * the block, thread and array.
 */
import { describe, expect, it } from 'vitest';
import { compileKernel } from '../src/compiler/pipeline';
import { generateSimt, type SimtLaunch } from '../src/compiler/simt/codegen';
import { simtRuntime } from '../src/compiler/simt/runtime';
import { type DeviceBuffer, isTesseraError, type SimtKernel, simtKernel } from '../src/index';
import { testRuntime } from './helpers';

type Args = Record<string, unknown>;

/** Runs `k` compiled on copies of the buffers and returns the copies. */
function runCompiled(
  k: SimtKernel,
  args: Args,
  grid: [number, number, number],
  block: [number, number, number],
  smem = 0,
) {
  const compiled = compileKernel(k, args, block, smem);
  const buffers: { buffer: DeviceBuffer; name: string }[] = [];
  const launch: SimtLaunch = { grid, buffers: [], lengths: [], scalars: [], arrays: [] };
  for (const p of compiled.ir.params) {
    const v = args[p.name];
    if (!p.value) continue;
    if (p.value.type.kind === 'buffer') {
      const b = v as DeviceBuffer;
      const copy = (b.storage() as Float32Array).slice();
      buffers.push({ buffer: b, name: p.name });
      launch.buffers.push(copy);
      launch.lengths.push(b.length);
    } else if (p.value.type.kind === 'array') launch.arrays.push(v as number[]);
    else launch.scalars.push(v as number);
  }
  const prog = generateSimt(
    compiled.ir,
    block,
    smem,
    simtRuntime(() => ({ kernel: k.name, ownerLabel: 'test', buffers })),
  );
  prog.run(0, grid[0] * grid[1] * grid[2], launch);
  return { out: launch.buffers, source: prog.source };
}

async function device() {
  return (await testRuntime()).device(0);
}

describe('SIMT kernels compiled with thread-loop fission', () => {
  it('a shared-memory tree reduction with barriers in an unrolled loop matches the eager executor', async () => {
    const dev = await device();
    const reduce = simtKernel(
      { name: 'reduce', params: { x: 'ptr<f32>', out: 'ptr<f32>', n: 'i32' }, shared: { part: ['f32', 64] } },
      function* (k, { x, out, n }) {
        const tid = k.threadIdx.x;
        const i = k.blockIdx.x * k.blockDim.x + tid;
        const part = k.shared.part!;
        part[tid] = i < n ? x.get(i) : 0;
        yield k.syncthreads();
        for (let s = k.blockDim.x >> 1; s > 0; s >>= 1) {
          if (tid < s) part[tid] += part[tid + s]!;
          yield k.syncthreads();
        }
        if (tid === 0) out.atomicAdd(0, part[0]!);
      },
    );
    const n = 1000;
    const x = dev.alloc('f32', n);
    const data = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 3);
    dev.upload(x, data);
    const out = dev.alloc('f32', 1);
    dev.fill(out, 0);
    const args = { x, out, n };
    const compiled = runCompiled(reduce as unknown as SimtKernel, args, [16, 1, 1], [64, 1, 1]);
    dev.launch(reduce, { grid: 16, block: 64 }, args);
    const eager = new Float32Array(1);
    dev.memcpyDtoH(eager, out);
    expect(compiled.out[1]![0]).toBe(eager[0]);
  });

  it('a uniform loop with barriers and per-thread accumulators (tiled matmul) matches', async () => {
    const dev = await device();
    const B = 4;
    const mm = simtKernel(
      {
        name: 'mm',
        params: { a: 'ptr<f32>', b: 'ptr<f32>', c: 'ptr<f32>', N: 'i32' },
        shared: { As: ['f32', B * B], Bs: ['f32', B * B] },
        uses: { B },
      },
      function* (k, { a, b, c, N }) {
        const tx = k.threadIdx.x;
        const ty = k.threadIdx.y;
        const row = k.blockIdx.y * B + ty;
        const col = k.blockIdx.x * B + tx;
        let acc = 0;
        for (let m = 0; m < N / B; m++) {
          k.shared.As![ty * B + tx] = a.get(row * N + m * B + tx);
          k.shared.Bs![ty * B + tx] = b.get((m * B + ty) * N + col);
          yield;
          for (let e = 0; e < B; e++) acc += k.shared.As![ty * B + e]! * k.shared.Bs![e * B + tx]!;
          yield;
        }
        c.set(row * N + col, acc);
      },
    );
    const N = 12;
    const [a, b, c] = [dev.alloc('f32', N * N), dev.alloc('f32', N * N), dev.alloc('f32', N * N)];
    dev.upload(
      a,
      Float32Array.from({ length: N * N }, (_, i) => Math.cos(i)),
    );
    dev.upload(
      b,
      Float32Array.from({ length: N * N }, (_, i) => Math.sin(i * 0.7)),
    );
    dev.fill(c, Number.NaN);
    const args = { a, b, c, N };
    const compiled = runCompiled(mm as unknown as SimtKernel, args, [N / B, N / B, 1], [B, B, 1]);
    dev.launch(mm, { grid: [N / B, N / B], block: [B, B] }, args);
    const eager = new Float32Array(N * N);
    dev.memcpyDtoH(eager, c);
    expect(Array.from(compiled.out[2]!)).toEqual(Array.from(eager));
  });

  it('a histogram with shared atomics-by-increment and divergent branches matches', async () => {
    const dev = await device();
    const hist = simtKernel(
      { name: 'hist', params: { x: 'ptr<i32>', h: 'ptr<i32>', n: 'i32' }, shared: { bins: ['i32', 8] } },
      function* (k, { x, h, n }) {
        const tid = k.threadIdx.x;
        if (tid < 8) k.shared.bins![tid] = 0;
        yield;
        for (let i = k.blockIdx.x * k.blockDim.x + tid; i < n; i += k.blockDim.x * k.gridDim.x) {
          const v = x.get(i);
          if (v >= 0 && v < 8) k.shared.bins![v]!++;
        }
        yield;
        if (tid < 8) h.atomicAdd(tid, k.shared.bins![tid]!);
      },
    );
    const n = 777;
    const x = dev.alloc('i32', n);
    dev.upload(
      x,
      Int32Array.from({ length: n }, (_, i) => ((i * 7919) % 11) - 1),
    );
    const h = dev.alloc('i32', 8);
    dev.fill(h, 0);
    const args = { x, h, n };
    const compiled = runCompiled(hist as unknown as SimtKernel, args, [3, 1, 1], [32, 1, 1]);
    dev.launch(hist, { grid: 3, block: 32 }, args);
    const eager = new Int32Array(8);
    dev.memcpyDtoH(eager, h);
    expect(Array.from(compiled.out[1]!)).toEqual(Array.from(eager));
  });

  it('refuses a barrier under a thread-dependent condition', () => {
    const bad = simtKernel({ name: 'bad', params: { x: 'ptr<f32>' } }, function* (k, { x }) {
      if (k.threadIdx.x < 4) {
        x.set(k.threadIdx.x, 1);
        yield;
      }
    });
    expect(() => compileKernel(bad, { x: { dtype: 'f32' } }, [8, 1, 1], 0)).toThrow(
      /barrier .* differs between the threads/,
    );
  });

  it('an out-of-bounds shared-array write faults naming the block, thread and array', async () => {
    const dev = await device();
    const oob = simtKernel({ name: 'oob', params: { x: 'ptr<f32>' }, shared: { s: ['f32', 4] } }, (k, { x }) => {
      k.shared.s![k.threadIdx.x] = 1;
      x.set(0, 1);
    });
    const x = dev.alloc('f32', 1);
    try {
      runCompiled(oob as unknown as SimtKernel, { x }, [1, 1, 1], [8, 1, 1]);
      expect.unreachable();
    } catch (e) {
      expect(isTesseraError(e, 'IllegalAddress')).toBe(true);
      expect((e as Error).message).toMatch(
        /kernel 'oob' block \(0, 0, 0\) thread \(4, 0, 0\): write of shared array 's' \(f32\[4\]\) at index 4/,
      );
    }
  });
});

describe('the program pool', () => {
  it('runs the blocks of a launch on worker threads with the single-threaded result, and reports faults', async () => {
    const { programPool } = await import('../src/compiler/pool/pool');
    const { simtSource, instantiateSimt } = await import('../src/compiler/simt/codegen');
    const pool = programPool();
    if (!pool) {
      console.warn('program pool unavailable here (TESSERA_THREADS=1 or one core): skipped');
      return;
    }
    const dev = await device();
    const scale = simtKernel(
      { name: 'scale', params: { x: 'ptr<f32>', y: 'ptr<f32>', n: 'i32' } },
      (k, { x, y, n }) => {
        const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
        if (i < n) y.set(i, x.get(i) * 3 + 1);
      },
    );
    const n = 100_000;
    const x = dev.alloc('f32', n);
    const y = dev.alloc('f32', n);
    dev.upload(
      x,
      Float32Array.from({ length: n }, (_, i) => Math.sin(i)),
    );
    dev.fill(y, Number.NaN);
    const block: [number, number, number] = [128, 1, 1];
    const blocks = Math.ceil(n / 128);
    const compiled = compileKernel(scale as never, { x, y, n }, block, 0);
    const source = simtSource(compiled.ir, block, 0);
    const bufs = [
      { buffer: x, name: 'x' },
      { buffer: y, name: 'y' },
    ];
    const rt = simtRuntime(() => ({ kernel: 'scale', ownerLabel: dev.label, buffers: bufs }));
    const run = instantiateSimt(source, rt);
    const launch = {
      grid: [blocks, 1, 1] as const,
      buffers: [x.storage(), y.storage()],
      lengths: [n, n],
      scalars: [n],
      arrays: [],
    };
    const job = {
      kind: 'simt' as const,
      source,
      key: `scale${compiled.spec.key}`,
      meta: {},
      kernel: 'scale',
      ownerLabel: dev.label,
      grid: launch.grid,
      buffers: bufs.map(({ buffer, name }) => ({
        sab: buffer.allocation.store(),
        byteOffset: buffer.byteOffset,
        length: buffer.length,
        dtype: buffer.dtype,
        describe: buffer.describe(),
        name,
      })),
      scalars: [n],
      arrays: [],
      total: blocks,
    };
    pool.run(job, (s, e) => run(s, e, launch));
    const got = Float32Array.from(y.storage() as Float32Array);
    const want = Float32Array.from({ length: n }, (_, i) => Math.fround(Math.fround(Math.sin(i)) * 3 + 1));
    expect(got).toEqual(want);
    // A launch whose last block reads out of bounds: the fault crosses the thread boundary with its message.
    expect(() =>
      pool.run({ ...job, scalars: [n + 1000], total: blocks + 8 }, (s, e) =>
        run(s, e, { ...launch, grid: [blocks + 8, 1, 1], scalars: [n + 1000] }),
      ),
    ).toThrow(/kernel 'scale' block \(\d+, 0, 0\) thread \(\d+, 0, 0\): read of .* out of bounds/);
  }, 60_000);
});
