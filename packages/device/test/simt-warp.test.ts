/**
 * Warp intrinsics, lane and warp ids, shared-memory atomics and the new shared dtypes of the SIMT language, against
 * host references written from CUDA's documentation (not from the implementation): random inputs, partial masks,
 * sections narrower than a warp, blocks that end in a partial warp, divergent code, early exits; and the errors that
 * misuse gets (compile-time where the kernel shows it, a launch failure naming the lane where only the run does).
 */
import { getFloat16, setFloat16 } from '@petamoriken/float16';
import { describe, expect, it } from 'vitest';
import { compileKernel } from '../src/compiler/pipeline';
import { type Device, type DeviceBuffer, type Kernel, simtKernel } from '../src/index';
import type { SharedDType } from '../src/kernel/language';
import { rng } from '../src/random';
import { expectThrowCode, testRuntime } from './helpers';

const WS = 32;

// ------------------------------------------------------------------------------------------- host references

/** One warp call as the reference sees it: which lanes call (`part`), with which mask, value and lane argument. */
interface WarpInputs {
  /** Threads in the block (the last warp may be partial). */
  T: number;
  part: boolean[];
  mask: number[];
  v: number[];
  b: number[];
}

/** Lane j takes part in lane l's call: it exists, calls, and is in l's mask. */
function takesPart(w: WarpInputs, w0: number, n: number, l: number, j: number): boolean {
  return j >= 0 && j < n && w.part[w0 + j]! && ((w.mask[w0 + l]! >>> j) & 1) === 1;
}

/**
 * CUDA Programming Guide, "Warp Shuffle Functions": lanes form sections of `width`; `__shfl_sync` reads lane
 * srcLane % width of the caller's section; `_up` reads laneId − delta, `_down` laneId + delta, and keep the caller's
 * own value when that leaves the section; `_xor` reads laneId ^ laneMask, own value when that is in a later section
 * (earlier sections may be read). Reading a lane that does not take part is undefined there; Tessera returns the
 * caller's own value (docs/kernel-language.md), which is what this reference checks.
 */
function refShuffle(mode: 'idx' | 'up' | 'down' | 'bfly', width: number, w: WarpInputs): (number | null)[] {
  const out: (number | null)[] = new Array(w.T).fill(null);
  for (let w0 = 0; w0 < w.T; w0 += WS) {
    const n = Math.min(WS, w.T - w0);
    for (let l = 0; l < n; l++) {
      if (!w.part[w0 + l]) continue;
      const base = Math.floor(l / width) * width;
      const b = w.b[w0 + l]!;
      let j: number;
      if (mode === 'idx') j = base + (b % width);
      else if (mode === 'up') j = l - b < base ? l : l - b;
      else if (mode === 'down') j = l + b >= base + width ? l : l + b;
      else j = (l ^ b) >= base + width ? l : l ^ b;
      out[w0 + l] = takesPart(w, w0, n, l, j) ? w.v[w0 + j]! : w.v[w0 + l]!;
    }
  }
  return out;
}

/** `__ballot_sync` / `__any_sync` / `__all_sync` over the lanes of the mask that call (predicate: v > 0). */
function refVote(kind: 'ballot' | 'any' | 'all', w: WarpInputs): (number | boolean | null)[] {
  const out: (number | boolean | null)[] = new Array(w.T).fill(null);
  for (let w0 = 0; w0 < w.T; w0 += WS) {
    const n = Math.min(WS, w.T - w0);
    for (let l = 0; l < n; l++) {
      if (!w.part[w0 + l]) continue;
      let bits = 0;
      let all = true;
      for (let j = 0; j < n; j++) {
        if (!takesPart(w, w0, n, l, j)) continue;
        if (w.v[w0 + j]! > 0) bits += 2 ** j;
        else all = false;
      }
      out[w0 + l] = kind === 'ballot' ? bits : kind === 'any' ? bits !== 0 : all;
    }
  }
  return out;
}

/** `__reduce_{add,min,max}_sync` for `int` (or `unsigned`): 32-bit wrapping sums, signed (unsigned) comparisons. */
function refReduce(kind: 'add' | 'min' | 'max', unsigned: boolean, w: WarpInputs): (number | null)[] {
  const out: (number | null)[] = new Array(w.T).fill(null);
  const conv = (x: number) => (unsigned ? x >>> 0 : x | 0);
  for (let w0 = 0; w0 < w.T; w0 += WS) {
    const n = Math.min(WS, w.T - w0);
    for (let l = 0; l < n; l++) {
      if (!w.part[w0 + l]) continue;
      const xs: bigint[] = [];
      for (let j = 0; j < n; j++) if (takesPart(w, w0, n, l, j)) xs.push(BigInt(conv(w.v[w0 + j]!)));
      let r: bigint;
      if (kind === 'add') r = xs.reduce((a, x) => a + x, 0n);
      else r = xs.reduce((a, x) => (kind === 'min' ? (x < a ? x : a) : x > a ? x : a));
      out[w0 + l] = unsigned ? Number(BigInt.asUintN(32, r)) : Number(BigInt.asIntN(32, r));
    }
  }
  return out;
}

/**
 * Random warp inputs: in each warp, a random subset of lanes calls (or all, `full`), split into 1–3 groups; a lane's
 * mask is its group (CUDA's rule: lanes a mask names pass the same mask). Values and lane arguments are random.
 */
function randomWarpInputs(
  seed: number,
  T: number,
  opts: { full?: boolean; bMax?: number; vInt?: boolean },
): WarpInputs {
  const r = rng(seed);
  const w: WarpInputs = { T, part: [], mask: [], v: [], b: [] };
  for (let w0 = 0; w0 < T; w0 += WS) {
    const n = Math.min(WS, T - w0);
    const groups = opts.full ? 1 : 1 + Math.floor(r() * 3);
    const lanes: number[] = [];
    const bits = new Array<number>(groups).fill(0);
    for (let l = 0; l < n; l++) {
      const calls = opts.full || r() < 0.75;
      const g = Math.floor(r() * groups);
      lanes.push(calls ? g : -1);
      if (calls) bits[g] = (bits[g]! | (1 << l)) >>> 0;
    }
    for (let l = 0; l < n; l++) {
      const g = lanes[l]!;
      w.part.push(g >= 0);
      w.mask.push(g >= 0 ? bits[g]! : 0);
    }
  }
  const bMax = opts.bMax ?? 32;
  for (let t = 0; t < T; t++) {
    w.v.push(opts.vInt ? Math.floor((r() - 0.5) * 2 ** 32) : Math.fround((r() - 0.5) * 100));
    w.b.push(Math.floor(r() * bMax));
  }
  return w;
}

// ---------------------------------------------------------------------------------------------------- kernels

/**
 * One warp intrinsic per launch, chosen by the constexpr OP; the lanes with part[i] ≠ 0 call it (a branch that
 * differs between lanes), the others store a sentinel. Inputs and outputs are per thread (i = block · T + linear id).
 */
const probe = simtKernel(
  {
    name: 'warp_probe',
    params: {
      v: 'ptr<f32|i32>',
      b: 'ptr<i32>',
      m: 'ptr<i32>',
      part: 'ptr<i32>',
      out: 'ptr<f32|i32>',
      OP: 'constexpr',
      W: 'constexpr',
    },
  },
  (k, { v, b, m, part, out, OP, W }) => {
    const T = k.blockDim.x * k.blockDim.y * k.blockDim.z;
    const lin = k.threadIdx.x + k.threadIdx.y * k.blockDim.x + k.threadIdx.z * k.blockDim.x * k.blockDim.y;
    const i = k.blockIdx.x * T + lin;
    const x = v.get(i);
    const mask = m.get(i) >>> 0;
    const lane = b.get(i);
    let r = -7;
    if (part.get(i) !== 0) {
      if (OP === 0) r = k.shfl(mask, x, lane, W);
      else if (OP === 1) r = k.shflUp(mask, x, lane, W);
      else if (OP === 2) r = k.shflDown(mask, x, lane, W);
      else if (OP === 3) r = k.shflXor(mask, x, lane, W);
      else if (OP === 4) r = k.ballot(mask, x > 0) | 0;
      else if (OP === 5) r = k.any(mask, x > 0) ? 1 : 0;
      else if (OP === 6) r = k.all(mask, x > 0) ? 1 : 0;
      else if (OP === 7) r = k.reduceAdd(mask, x | 0);
      else if (OP === 8) r = k.reduceMin(mask, x | 0);
      else if (OP === 9) r = k.reduceMax(mask, x | 0);
      else if (OP === 10) r = k.reduceAdd(mask, x | 0, 'u32') | 0;
      else if (OP === 11) r = k.reduceMin(mask, x | 0, 'u32') | 0;
      else if (OP === 12) r = k.reduceMax(mask, x | 0, 'u32') | 0;
    }
    out.set(i, r);
  },
);

const OPS = ['idx', 'up', 'down', 'bfly'] as const;

function upload(dev: Device, dtype: 'f32' | 'i32', xs: readonly number[]): DeviceBuffer {
  const buf = dev.alloc(dtype, xs.length);
  dev.upload(
    buf,
    xs.map((x) => (dtype === 'i32' ? x | 0 : x)),
  );
  return buf;
}

/** Runs `probe` over `blocks` blocks of `block` threads with the inputs of every block in `w` (T = blocks · bt). */
function runProbe(
  dev: Device,
  op: number,
  width: number,
  w: WarpInputs,
  block: [number, number, number],
  blocks: number,
  dtype: 'f32' | 'i32',
): number[] {
  const n = w.v.length;
  const out = dev.alloc(dtype, n);
  dev.launch(
    probe,
    { grid: blocks, block },
    {
      v: upload(dev, dtype, w.v),
      b: upload(dev, 'i32', w.b),
      m: upload(dev, 'i32', w.mask),
      part: upload(dev, 'i32', w.part.map(Number)),
      out,
      OP: op,
      W: width,
    },
  );
  return Array.from(dev.download(out));
}

/** Concatenates per-block inputs (each block its own warps). */
function perBlock(blocks: number, make: (blk: number) => WarpInputs): WarpInputs[] {
  return Array.from({ length: blocks }, (_, blk) => make(blk));
}

function concat(ws: WarpInputs[]): WarpInputs {
  return {
    T: ws.reduce((a, w) => a + w.T, 0),
    part: ws.flatMap((w) => w.part),
    mask: ws.flatMap((w) => w.mask),
    v: ws.flatMap((w) => w.v),
    b: ws.flatMap((w) => w.b),
  };
}

const SENTINEL = -7;

describe('warp intrinsics', () => {
  const shapes: [number, number, number][] = [
    [64, 1, 1],
    [80, 1, 1], // the last warp has 16 lanes
    [50, 1, 1],
    [8, 6, 2], // 96 threads over three axes
    [7, 3, 1], // 21 threads: one partial warp
  ];

  it('shuffles (idx, up, down, xor) match CUDA on random inputs, partial masks, every width and partial warps', async () => {
    const dev = (await testRuntime()).device(0);
    let seed = 1;
    for (const block of shapes) {
      const T = block[0] * block[1] * block[2];
      for (const width of [32, 16, 8, 4, 2, 1]) {
        for (let op = 0; op < 4; op++) {
          for (const full of [true, false]) {
            const blocks = 2;
            const ws = perBlock(blocks, () =>
              randomWarpInputs(seed++, T, { full, bMax: op === 0 ? 64 : 32, vInt: op % 2 === 0 }),
            );
            const dtype = op % 2 === 0 ? 'i32' : 'f32';
            const got = runProbe(dev, op, width, concat(ws), block, blocks, dtype);
            const want = ws.flatMap((w) => refShuffle(OPS[op]!, width, w).map((x) => x ?? SENTINEL));
            expect(got, `${OPS[op]} width ${width} block ${block} full ${full}`).toEqual(want);
          }
        }
      }
    }
  });

  it('ballot, any and all match CUDA on random predicates and partial masks', async () => {
    const dev = (await testRuntime()).device(0);
    let seed = 1000;
    for (const block of shapes) {
      const T = block[0] * block[1] * block[2];
      for (const [op, kind] of [
        [4, 'ballot'],
        [5, 'any'],
        [6, 'all'],
      ] as const) {
        for (const full of [true, false]) {
          const ws = perBlock(2, () => randomWarpInputs(seed++, T, { full, vInt: true }));
          const got = runProbe(dev, op, 32, concat(ws), block, 2, 'i32');
          const want = ws.flatMap((w) =>
            refVote(kind, w).map((x) => (x === null ? SENTINEL : typeof x === 'boolean' ? Number(x) : x | 0)),
          );
          expect(got, `${kind} block ${block} full ${full}`).toEqual(want);
        }
      }
      // A predicate every lane passes, and one none does.
      const all = perBlock(1, () => ({ ...randomWarpInputs(seed++, T, { full: true }), v: new Array(T).fill(1) }));
      expect(runProbe(dev, 6, 32, concat(all), block, 1, 'i32').every((x) => x === 1)).toBe(true);
      const none = perBlock(1, () => ({ ...randomWarpInputs(seed++, T, { full: true }), v: new Array(T).fill(-1) }));
      expect(runProbe(dev, 5, 32, concat(none), block, 1, 'i32').every((x) => x === 0)).toBe(true);
    }
  });

  it('reduceAdd / reduceMin / reduceMax wrap and compare as int and unsigned, as CUDA', async () => {
    const dev = (await testRuntime()).device(0);
    let seed = 2000;
    for (const block of shapes) {
      const T = block[0] * block[1] * block[2];
      for (let op = 7; op <= 12; op++) {
        const kind = (['add', 'min', 'max'] as const)[(op - 7) % 3]!;
        const unsigned = op >= 10;
        for (const full of [true, false]) {
          const ws = perBlock(2, () => randomWarpInputs(seed++, T, { full, vInt: true }));
          const got = runProbe(dev, op, 32, concat(ws), block, 2, 'i32');
          const want = ws.flatMap((w) => refReduce(kind, unsigned, w).map((x) => (x === null ? SENTINEL : x | 0)));
          expect(got, `${kind} ${unsigned ? 'u32' : 'i32'} block ${block} full ${full}`).toEqual(want);
        }
      }
    }
  });

  it('laneId and warpId are the linear thread index modulo / divided by the warp size', async () => {
    const dev = (await testRuntime()).device(0);
    const k = simtKernel({ name: 'lane_ids', params: { out: 'ptr<i32>' } }, (k, { out }) => {
      const T = k.blockDim.x * k.blockDim.y * k.blockDim.z;
      const lin = k.threadIdx.x + k.threadIdx.y * k.blockDim.x + k.threadIdx.z * k.blockDim.x * k.blockDim.y;
      const i = k.blockIdx.x * T + lin;
      out.set(2 * i, k.laneId);
      out.set(2 * i + 1, k.warpId * 1000 + k.warpSize);
    });
    for (const block of [...shapes, [16, 1, 1] as [number, number, number]]) {
      const T = block[0] * block[1] * block[2];
      const out = dev.alloc('i32', 4 * T);
      dev.launch(k, { grid: 2, block }, { out });
      const got = Array.from(dev.download(out));
      const want = Array.from({ length: 2 * T }, (_, i) => [(i % T) % 32, Math.floor((i % T) / 32) * 1000 + 32]).flat();
      expect(got).toEqual(want);
    }
  });

  it('a butterfly warp sum with shflXor reduces every warp', async () => {
    const dev = (await testRuntime()).device(0);
    const k = simtKernel(
      { name: 'warp_sum', params: { x: 'ptr<f32>', sums: 'ptr<f32>', n: 'i32' } },
      (k, { x, sums, n }) => {
        const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
        let s = i < n ? x.get(i) : 0;
        for (let o = k.warpSize / 2; o > 0; o >>= 1) s = Math.fround(s + k.shflXor(0xffffffff, s, o));
        if (k.laneId === 0) sums.set(k.blockIdx.x * 3 + k.warpId, s);
      },
    );
    const n = 300; // the grid has 384 threads: the guard gives the rest 0
    const xs = Array.from({ length: n }, (_, i) => (i % 7) - 3);
    const x = upload(dev, 'f32', xs);
    const sums = dev.alloc('f32', 12);
    dev.launch(k, { grid: 4, block: 96 }, { x, sums, n });
    const got = Array.from(dev.download(sums));
    for (let w = 0; w < 12; w++) {
      let s = 0;
      for (let i = w * 32; i < w * 32 + 32 && i < n; i++) s += xs[i]!;
      expect(got[w]).toBe(s);
    }
  });

  it('lanes that returned early count as exited: a full mask still works, and ballots skip them', async () => {
    const dev = (await testRuntime()).device(0);
    const k = simtKernel(
      { name: 'exit_then_ballot', params: { keep: 'ptr<i32>', out: 'ptr<i32>' } },
      (k, { keep, out }) => {
        const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
        const lane = k.laneId;
        if (keep.get(i) === 0) return;
        const bits = k.ballot(0xffffffff, true);
        const first = k.shfl(0xffffffff, i, k.reduceMin(0xffffffff, lane));
        out.set(2 * i, bits | 0);
        out.set(2 * i + 1, first);
      },
    );
    const T = 72;
    const keepArr = Array.from({ length: T }, (_, i) => (i % 5 === 1 || i % 3 === 0 ? 1 : 0));
    const out = dev.alloc('i32', 2 * T);
    dev.fill(out, -1);
    dev.launch(k, { grid: 1, block: T }, { keep: upload(dev, 'i32', keepArr), out });
    const got = Array.from(dev.download(out));
    for (let w0 = 0; w0 < T; w0 += 32) {
      let bits = 0;
      for (let l = 0; l < 32 && w0 + l < T; l++) if (keepArr[w0 + l]) bits += 2 ** l;
      const first = w0 + (31 - Math.clz32(bits & -bits));
      for (let l = 0; l < 32 && w0 + l < T; l++) {
        const i = w0 + l;
        expect(got.slice(2 * i, 2 * i + 2)).toEqual(keepArr[i] ? [bits | 0, first] : [-1, -1]);
      }
    }
  });

  it('run in loops whose trip count differs between lanes (lock step), and activeMask names the lanes still in', async () => {
    const dev = (await testRuntime()).device(0);
    const k = simtKernel({ name: 'ragged_loop', params: { out: 'ptr<i32>' } }, (k, { out }) => {
      const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
      const n = (i * 7) % 5; // trip counts that differ between the lanes of a warp
      const lane = k.laneId;
      let acc = 0;
      for (let it = 0; it < n; it++) {
        const active = k.activeMask();
        acc += k.reduceAdd(active, it + lane) + (k.shflDown(active, it, 1) === it ? 0 : 1000);
      }
      let j = 0;
      while (j < n) {
        acc += k.any(k.activeMask(), j === 2) ? 1 : 0;
        j++;
      }
      out.set(i, acc);
    });
    const T = 48;
    const tr = Array.from({ length: T }, (_, i) => (i * 7) % 5);
    const out = dev.alloc('i32', T);
    dev.launch(k, { grid: 1, block: T }, { out });
    const want: number[] = [];
    for (let i = 0; i < T; i++) {
      const w0 = i - (i % 32);
      const n = Math.min(32, T - w0);
      let acc = 0;
      for (let it = 0; it < tr[i]!; it++) {
        const lanes = Array.from({ length: n }, (_, l) => l).filter((l) => tr[w0 + l]! > it);
        acc += lanes.reduce((a, l) => a + it + l, 0);
        // shflDown(active, it, 1): lane l+1 if it is still in the loop (it holds the same `it`), else its own `it`.
        acc += 0;
      }
      for (let j = 0; j < tr[i]!; j++) {
        const anyTwo = j === 2 && Array.from({ length: n }, (_, l) => l).some((l) => tr[w0 + l]! > j);
        acc += anyTwo ? 1 : 0;
      }
      want.push(acc);
    }
    expect(Array.from(dev.download(out))).toEqual(want);
  });

  it('syncwarp orders shared-memory writes of a warp before its reads (warp-synchronous code)', async () => {
    const dev = (await testRuntime()).device(0);
    const k = simtKernel(
      { name: 'warp_rotate', params: { x: 'ptr<i32>', y: 'ptr<i32>' }, shared: { s: ['i32', 64] } },
      (k, { x, y }) => {
        const t = k.threadIdx.x;
        k.shared.s![t] = x.get(t);
        k.syncwarp();
        const base = k.warpId * 32;
        y.set(t, k.shared.s![base + ((k.laneId + 1) % 32)]!);
      },
    );
    const xs = Array.from({ length: 64 }, (_, i) => i * 3);
    const y = dev.alloc('i32', 64);
    dev.launch(k, { grid: 1, block: 64 }, { x: upload(dev, 'i32', xs), y });
    expect(Array.from(dev.download(y))).toEqual(xs.map((_, t) => xs[(t & ~31) + (((t % 32) + 1) % 32)]));
  });

  it('mix with barriers and shared memory: a block sum from per-warp shuffles (the CUDA reduction pattern)', async () => {
    const dev = (await testRuntime()).device(0);
    const k = simtKernel(
      { name: 'block_sum', params: { x: 'ptr<i32>', out: 'ptr<i32>', n: 'i32' }, shared: { part: ['i32', 32] } },
      function* (k, { x, out, n }) {
        const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
        const v = i < n ? x.get(i) : 0;
        const s = k.reduceAdd(0xffffffff, v);
        if (k.laneId === 0) k.shared.part![k.warpId] = s;
        yield k.syncthreads();
        const warps = Math.ceil(k.blockDim.x / k.warpSize);
        if (k.warpId === 0) {
          let t = k.laneId < warps ? k.shared.part![k.laneId]! : 0;
          for (let o = 16; o > 0; o >>= 1) t += k.shflDown(0xffffffff, t, o);
          if (k.laneId === 0) out.atomicAdd(0, t);
        }
      },
    );
    const n = 1000;
    const xs = Array.from({ length: n }, (_, i) => (i * 37) % 101);
    const out = dev.alloc('i32', 1);
    dev.fill(out, 0);
    dev.launch(k, { grid: 5, block: 224 }, { x: upload(dev, 'i32', xs), out, n });
    expect(dev.download(out)[0]).toBe(xs.reduce((a, b) => a + b, 0));
  });
});

// ------------------------------------------------------------------------------------------------- misuse

describe('warp intrinsics: misuse', () => {
  const buf = (dtype: string) => ({ dtype, length: 64 });

  it('are compile errors naming the kernel and line where the kernel shows them', () => {
    const x = buf('f32');
    const compile =
      (k: Kernel, args: Record<string, unknown> = { x }) =>
      () =>
        compileKernel(k, args, [32, 1, 1], 0);
    const width3 = simtKernel({ name: 'width3', params: { x: 'ptr<f32>' } }, (k, { x }) => {
      x.set(0, k.shfl(0xffffffff, 1, 0, 3));
    });
    expectThrowCode(
      compile(width3),
      'CompileError',
      /Kernel 'width3' at test\/simt-warp\.test\.ts:\d+: k\.shfl: the width must be a power of two from 1 to the warp size \(32\), got the number 3\./,
    );
    const width64 = simtKernel({ name: 'width64', params: { x: 'ptr<f32>' } }, (k, { x }) => {
      x.set(0, k.shflDown(0xffffffff, 1, 1, 64));
    });
    expectThrowCode(compile(width64), 'CompileError', /Kernel 'width64' at .*got the number 64/);
    const runtimeWidth = simtKernel({ name: 'runtime_width', params: { x: 'ptr<f32>', w: 'i32' } }, (k, { x, w }) => {
      x.set(0, k.shfl(0xffffffff, 1, 0, w));
    });
    expectThrowCode(
      compile(runtimeWidth, { x, w: 8 }),
      'CompileError',
      /Kernel 'runtime_width' at test\/simt-warp\.test\.ts:\d+: k\.shfl: the width must be known at compile time/,
    );
    const mask0 = simtKernel({ name: 'mask0', params: { x: 'ptr<f32>' } }, (k, { x }) => {
      x.set(0, k.ballot(0, true));
    });
    expectThrowCode(compile(mask0), 'CompileError', /Kernel 'mask0' at .*k\.ballot: the mask 0 names no lane/);
    const noMask = simtKernel({ name: 'no_mask', params: { x: 'ptr<f32>' } }, (k, { x }) => {
      x.set(0, (k.any as () => boolean)() ? 1 : 0);
    });
    expectThrowCode(compile(noMask), 'CompileError', /Kernel 'no_mask' at .*k\.any needs a mask/);
    const floatReduce = simtKernel({ name: 'float_reduce', params: { x: 'ptr<f32>' } }, (k, { x }) => {
      x.set(0, k.reduceAdd(0xffffffff, x.get(0)));
    });
    expectThrowCode(
      compile(floatReduce),
      'CompileError',
      /Kernel 'float_reduce' at .*k\.reduceAdd takes an integer \(as __reduce_add_sync takes int or unsigned\)/,
    );
  });

  it('are Unsupported on a device without warps (warpSize 1), naming the kernel, line and the alternatives', () => {
    const k = simtKernel({ name: 'needs_warps', params: { x: 'ptr<f32>' } }, (k, { x }) => {
      x.set(k.threadIdx.x, k.shflDown(0xffffffff, x.get(k.threadIdx.x), 1));
    });
    expectThrowCode(
      () => compileKernel(k, { x: buf('f32') }, [32, 1, 1], 0, 1),
      'Unsupported',
      /Kernel 'needs_warps' at test\/simt-warp\.test\.ts:\d+: k\.shflDown \(__shfl_down_sync\) exchanges values between the lanes of a warp, and this device has no warps \(warpSize 1\).*asc_shfl.*tile style/,
    );
    // Lane and warp ids and shared atomics need no warp hardware.
    const ok = simtKernel({ name: 'lanes_only', params: { x: 'ptr<f32>' }, shared: { h: ['u32', 4] } }, (k, { x }) => {
      x.set(k.threadIdx.x, k.laneId + k.warpId + k.shared.h!.atomicAdd(0, 1));
    });
    expect(() => compileKernel(ok, { x: buf('f32') }, [32, 1, 1], 0, 1)).not.toThrow();
  });

  async function failure(kernel: Kernel, T: number, args: Record<string, unknown> = {}) {
    const dev = (await testRuntime()).device(0);
    const x = dev.alloc('i32', T);
    let err: { code?: string; message: string } | null = null;
    try {
      dev.launch(kernel, { grid: 1, block: T }, { x, ...args });
    } catch (e) {
      err = e as { code?: string; message: string };
    }
    return err;
  }

  it('a lane outside its own mask is a launch failure naming kernel, block, thread, lane and line', async () => {
    const k = simtKernel({ name: 'self_excluded', params: { x: 'ptr<i32>' } }, (k, { x }) => {
      x.set(k.threadIdx.x, k.shfl(0x0000ffff, k.threadIdx.x, 0));
    });
    const e = await failure(k, 32);
    expect(e?.code).toBe('LaunchFailure');
    expect(e?.message).toMatch(
      /kernel 'self_excluded' block \(0, 0, 0\) thread \(16, 0, 0\) \(warp 0, lane 16\): k\.shfl at test\/simt-warp\.test\.ts:\d+ — in `k\.shfl\(65535, k\.threadIdx\.x, 0\)`: lane 16 calls k\.shfl with the mask 0x0000ffff, which does not include it/,
    );
  });

  it('a mask naming a lane that took another branch is a launch failure', async () => {
    const k = simtKernel({ name: 'diverged', params: { x: 'ptr<i32>' } }, (k, { x }) => {
      const t = k.threadIdx.x;
      if (t % 2 === 0) x.set(t, k.shfl(0xffffffff, t, 0));
      else x.set(t, -1);
    });
    const e = await failure(k, 32);
    expect(e?.code).toBe('LaunchFailure');
    expect(e?.message).toMatch(
      /thread \(0, 0, 0\).*names lane 1 \(thread 1, 0, 0\), which is active but does not reach this call/,
    );
  });

  it('lanes that name each other with different masks are a launch failure', async () => {
    const k = simtKernel({ name: 'mixed_masks', params: { x: 'ptr<i32>' } }, (k, { x }) => {
      const t = k.threadIdx.x;
      x.set(t, k.reduceAdd(t === 3 ? 0x0000000f : 0xffffffff, t));
    });
    const e = await failure(k, 32);
    expect(e?.code).toBe('LaunchFailure');
    expect(e?.message).toMatch(
      /lane 0 calls k\.reduceAdd with the mask 0xffffffff and lane 3, which it names, with 0x0000000f/,
    );
  });
});

// ------------------------------------------------------------------------------------------ shared atomics

/** Rounds to bfloat16 (nearest even, from float32 as the conversion hardware does). */
function bf16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  if (Number.isNaN(f[0]!)) return Number.NaN;
  u[0] = ((u[0]! + 0x7fff + ((u[0]! >>> 16) & 1)) >>> 16) << 16;
  return f[0]!;
}

/** Rounds to float16 (nearest even, directly from float64: an independent rounding from Tessera's). */
function f16(x: number): number {
  const dv = new DataView(new ArrayBuffer(2));
  setFloat16(dv, 0, x);
  return getFloat16(dv, 0);
}

/** A value as a store to a `dtype` element keeps it (integers wrap as C's conversions between integer types do). */
const CONVERT: Record<SharedDType, (x: number) => number> = {
  f32: Math.fround,
  f16,
  bf16,
  i32: (x) => x | 0,
  u32: (x) => x >>> 0,
  i16: (x) => (x << 16) >> 16,
  i8: (x) => (x << 24) >> 24,
  u8: (x) => x & 255,
};

const KINDS = ['add', 'min', 'max', 'exch', 'cas'] as const;
const BINS = 4;

/** Per dtype: every thread of a block applies one atomic to one of BINS shared elements (heavy contention). */
function atomicKernel(dtype: SharedDType) {
  const float = dtype === 'f32' || dtype === 'f16' || dtype === 'bf16';
  const U32 = dtype === 'u32';
  return simtKernel(
    {
      name: `shared_atomics_${dtype}`,
      params: {
        init: float ? 'ptr<f32>' : 'ptr<i32>',
        idx: 'ptr<i32>',
        vals: float ? 'ptr<f32>' : 'ptr<i32>',
        cmp: float ? 'ptr<f32>' : 'ptr<i32>',
        olds: float ? 'ptr<f32>' : 'ptr<i32>',
        out: float ? 'ptr<f32>' : 'ptr<i32>',
        KIND: 'constexpr',
      },
      shared: { h: [dtype, BINS] },
      uses: { BINS, U32 },
    },
    function* (k, { init, idx, vals, cmp, olds, out, KIND }) {
      const t = k.threadIdx.x;
      const i = k.blockIdx.x * k.blockDim.x + t;
      const h = k.shared.h!;
      if (t < BINS) h[t] = init.get(k.blockIdx.x * BINS + t);
      yield k.syncthreads();
      const j = idx.get(i);
      const x = vals.get(i);
      let old = 0;
      if (KIND === 0) old = h.atomicAdd(j, x);
      else if (KIND === 1) old = h.atomicMin(j, x);
      else if (KIND === 2) old = h.atomicMax(j, x);
      else if (KIND === 3) old = h.atomicExch(j, x);
      else old = h.atomicCAS(j, cmp.get(i), x);
      olds.set(i, U32 ? old | 0 : old); // i32 buffers hold u32 bit patterns
      yield k.syncthreads();
      if (t < BINS) out.set(k.blockIdx.x * BINS + t, U32 ? h[t]! | 0 : h[t]!);
    },
  );
}

describe('shared-memory atomics', () => {
  const DTYPES: SharedDType[] = ['f32', 'f16', 'bf16', 'i32', 'u32', 'i16', 'i8', 'u8'];

  for (const dtype of DTYPES) {
    it(`${dtype}: add, min, max, exch and CAS under heavy contention match a sequential reference`, async () => {
      const dev = (await testRuntime()).device(0);
      const float = dtype === 'f32' || dtype === 'f16' || dtype === 'bf16';
      const kernel = atomicKernel(dtype);
      const blocks = 3;
      const T = 200;
      const n = blocks * T;
      const r = rng(dtype.length * 1000 + dtype.charCodeAt(0));
      const conv = CONVERT[dtype];
      const bufDtype = float ? 'f32' : 'i32';
      // What the kernel's buffers hold: i32 buffers keep u32 bit patterns (x | 0).
      const stored = (x: number) => (float ? Math.fround(x) : x | 0);
      for (let kind = 0; kind < KINDS.length; kind++) {
        const small = KINDS[kind] === 'cas';
        const rand = () =>
          small ? Math.floor(r() * 3) : float ? Math.fround((r() - 0.5) * 8) : Math.floor((r() - 0.5) * 2 ** 32);
        const init = Array.from({ length: blocks * BINS }, () => stored(rand()));
        const idx = Array.from({ length: n }, () => Math.floor(r() * BINS));
        const vals = Array.from({ length: n }, () => stored(rand()));
        const cmp = Array.from({ length: n }, () => stored(rand()));
        const olds = dev.alloc(bufDtype, n);
        const out = dev.alloc(bufDtype, blocks * BINS);
        dev.launch(
          kernel,
          { grid: blocks, block: T },
          {
            init: upload(dev, bufDtype, init),
            idx: upload(dev, 'i32', idx),
            vals: upload(dev, bufDtype, vals),
            cmp: upload(dev, bufDtype, cmp),
            olds,
            out,
            KIND: kind,
          },
        );
        // The reference: CUDA's atomics serialise; Tessera applies a block's in linear thread order.
        const wantOld: number[] = [];
        const wantOut: number[] = [];
        const exact: number[] = []; // float64 sums (add)
        for (let blk = 0; blk < blocks; blk++) {
          const h = init.slice(blk * BINS, (blk + 1) * BINS).map(conv);
          const sums = [...h];
          for (let t = 0; t < T; t++) {
            const i = blk * T + t;
            const j = idx[i]!;
            const v = conv(vals[i]!);
            const old = h[j]!;
            wantOld.push(old);
            const K = KINDS[kind];
            if (K === 'add') {
              h[j] = conv(old + v);
              sums[j] = sums[j]! + v;
            } else if (K === 'min') h[j] = v < old ? v : old;
            else if (K === 'max') h[j] = v > old ? v : old;
            else if (K === 'exch') h[j] = v;
            else h[j] = Object.is(old, conv(cmp[i]!)) ? v : old;
          }
          wantOut.push(...h);
          exact.push(...sums);
        }
        const gotOld = Array.from(dev.download(olds));
        const gotOut = Array.from(dev.download(out));
        expect(gotOld, `${dtype} ${KINDS[kind]} old values`).toEqual(wantOld.map(stored));
        expect(gotOut, `${dtype} ${KINDS[kind]} final values`).toEqual(wantOut.map(stored));
        if (KINDS[kind] === 'add') {
          if (float) {
            // Against float64: each of T additions rounds once, by at most half an ulp of the running sum.
            const eps = { f32: 2 ** -24, f16: 2 ** -11, bf16: 2 ** -8 }[dtype as 'f32']!;
            exact.forEach((s, b) => {
              expect(Math.abs(gotOut[b]! - s)).toBeLessThanOrEqual(T * eps * 4 * (T + 1));
            });
          } else {
            // Integers: exactly the wrapped float64 sum.
            exact.forEach((s, b) => {
              expect(gotOut[b]).toBe(stored(conv(s)));
            });
          }
        }
      }
    });
  }

  it('return the old value, and CAS only swaps on a bitwise match (−0 is not +0 for floats)', async () => {
    const dev = (await testRuntime()).device(0);
    const k = simtKernel(
      { name: 'cas_zero', params: { out: 'ptr<f32>' }, shared: { h: ['f32', 1], g: ['f16', 1] } },
      (k, { out }) => {
        const h = k.shared.h!;
        const g = k.shared.g!;
        out.set(0, h.atomicCAS(0, -0, 5)); // stored +0 is not −0: no swap
        out.set(1, h[0]!);
        out.set(2, h.atomicCAS(0, 0, 5)); // swaps
        out.set(3, h[0]!);
        out.set(4, g.atomicAdd(0, 1 / 3)); // the value rounds to f16 first
        out.set(5, g[0]!);
      },
    );
    const out = dev.alloc('f32', 6);
    dev.launch(k, { grid: 1, block: 1 }, { out });
    expect(Array.from(dev.download(out))).toEqual([0, 0, 0, 5, 0, f16(1 / 3)]);
  });

  it('an index outside the array is an IllegalAddress fault naming the atomic, array and thread', async () => {
    const dev = (await testRuntime()).device(0);
    const k = simtKernel({ name: 'atomic_oob', params: { x: 'ptr<i32>' }, shared: { h: ['u32', 8] } }, (k, { x }) => {
      x.set(k.threadIdx.x, k.shared.h!.atomicMax(k.threadIdx.x, 1));
    });
    const x = dev.alloc('i32', 16);
    expectThrowCode(
      () => dev.launch(k, { grid: 1, block: 9 }, { x }),
      'IllegalAddress',
      /thread \(8, 0, 0\): atomicMax of shared array 'h' \(u32\[8\]\) at index 8 is out of bounds/,
    );
  });
});

describe('u32, f16 and bf16 shared arrays', () => {
  it('store as the dtype converts (u32 wraps, f16 and bf16 round to nearest even), in static and dynamic shared memory', async () => {
    const dev = (await testRuntime()).device(0);
    const k = simtKernel(
      {
        name: 'new_dtypes',
        params: { x: 'ptr<f32>', out: 'ptr<f32>' },
        shared: { u: ['u32', 4], h: ['f16', 4], b: ['bf16', 4] },
      },
      (k, { x, out }) => {
        const t = k.threadIdx.x;
        const v = x.get(t);
        k.shared.u![t] = v;
        k.shared.h![t] = v;
        k.shared.b![t] = v;
        const d = k.dynamicShared('f16', 8, 4);
        d[t] = v;
        out.set(5 * t, k.shared.u![t]!);
        out.set(5 * t + 1, k.shared.h![t]!);
        out.set(5 * t + 2, k.shared.b![t]!);
        out.set(5 * t + 3, d[t]!);
        out.set(5 * t + 4, k.dynamicShared('u8', 8, 8)[2 * t]!); // the low byte of the f16 bits
      },
    );
    const xs = [-1, 1 / 3, 70000, 1.00048828125];
    const out = dev.alloc('f32', 20);
    dev.launch(k, { grid: 1, block: 4, sharedMemBytes: 16 }, { x: upload(dev, 'f32', xs), out });
    const got = Array.from(dev.download(out));
    const bits = (v: number) => {
      const dv = new DataView(new ArrayBuffer(2));
      setFloat16(dv, 0, v, true);
      return dv.getUint16(0, true) & 255;
    };
    expect(got).toEqual(
      xs.flatMap((v) => [
        Math.fround(v >>> 0),
        f16(Math.fround(v)),
        bf16(v),
        f16(Math.fround(v)),
        bits(Math.fround(v)),
      ]),
    );
  });
});

describe('warp intrinsics on the program pool', () => {
  it('worker threads give the single-threaded result, and a warp misuse fault crosses the thread boundary', async () => {
    const { programPool } = await import('../src/compiler/pool/pool');
    const { simtSource, instantiateSimt } = await import('../src/compiler/simt/codegen');
    const { simtRuntime } = await import('../src/compiler/simt/runtime');
    const pool = programPool();
    if (!pool) {
      console.warn('program pool unavailable here (TESSERA_THREADS=1 or one core): skipped');
      return;
    }
    const dev = (await testRuntime()).device(0);
    const k = simtKernel(
      { name: 'pool_warps', params: { x: 'ptr<i32>', y: 'ptr<i32>', n: 'i32' }, shared: { h: ['u32', 4] } },
      function* (k, { x, y, n }) {
        const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
        const v = x.get(i);
        // n > 0: every lane of the mask calls; n < 0 (the faulting launch): only even lanes do.
        const s = n > 0 || k.laneId % 2 === 0 ? k.reduceAdd(0xffffffff, v) + k.shflXor(0xffffffff, v, 1) : 0;
        k.shared.h!.atomicAdd(v & 3, 1);
        yield k.syncthreads();
        y.set(i, s * 16 + k.shared.h![v & 3]!);
      },
    );
    const blocks = 64;
    const T = 96;
    const total = blocks * T;
    const xs = Array.from({ length: total }, (_, i) => (i * 7919) % 1000);
    const x = upload(dev, 'i32', xs);
    const y = dev.alloc('i32', total);
    const block: [number, number, number] = [T, 1, 1];
    const compiled = compileKernel(k as never, { x, y, n: 1 }, block, 0);
    const source = simtSource(compiled.ir, block, 0);
    const bufs = [
      { buffer: x, name: 'x' },
      { buffer: y, name: 'y' },
    ];
    const rt = simtRuntime(() => ({ kernel: 'pool_warps', ownerLabel: dev.label, buffers: bufs }));
    const run = instantiateSimt(source, rt);
    const launch = {
      grid: [blocks, 1, 1] as const,
      buffers: [x.storage(), y.storage()],
      lengths: [total, total],
      scalars: [1],
      arrays: [],
    };
    run(0, blocks, launch);
    const single = Array.from(y.storage());
    dev.fill(y, -1);
    const job = {
      kind: 'simt' as const,
      source,
      key: `pool_warps${compiled.spec.key}`,
      meta: { block, dynamicSharedBytes: 0 },
      kernel: 'pool_warps',
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
      scalars: [1],
      arrays: [],
      total: blocks,
    };
    pool.run(job, (s, e) => run(s, e, launch));
    expect(Array.from(y.storage())).toEqual(single);
    // Spot-check the single-threaded result against the definition.
    const w0 = 32;
    const warpSum = xs.slice(w0, w0 + 32).reduce((a, b) => a + b, 0);
    const counts = [0, 0, 0, 0];
    for (let t = 0; t < T; t++) counts[xs[t]! & 3]!++;
    expect(single[w0 + 5]).toBe((warpSum + xs[w0 + 4]!) * 16 + counts[xs[w0 + 5]! & 3]!);
    expect(() => pool.run({ ...job, scalars: [-1] }, (s, e) => run(s, e, { ...launch, scalars: [-1] }))).toThrow(
      /kernel 'pool_warps' block \(\d+, 0, 0\) thread \(0, 0, 0\) \(warp 0, lane 0\): k\.reduceAdd .*names lane 1/,
    );
  }, 60_000);
});

describe('warp intrinsics with barriers in loops', () => {
  it('a loop holding both a barrier and shuffles runs every iteration for the block, and srcLane wraps as PTX does', async () => {
    const dev = (await testRuntime()).device(0);
    const k = simtKernel(
      { name: 'rounds', params: { x: 'ptr<i32>', y: 'ptr<i32>', R: 'i32' }, shared: { s: ['i32', 64] } },
      function* (k, { x, y, R }) {
        const t = k.threadIdx.x;
        let v = x.get(t);
        for (let r = 0; r < R; r++) {
          // rotate within the warp (srcLane −1 is lane 31: the low five bits), then through shared memory across warps
          v = k.shfl(0xffffffff, v, k.laneId - 1);
          k.shared.s![t] = v;
          yield k.syncthreads();
          v = k.shared.s![(t + 32) % 64]!;
          yield k.syncthreads();
        }
        y.set(t, v);
      },
    );
    const xs = Array.from({ length: 64 }, (_, i) => i);
    const y = dev.alloc('i32', 64);
    dev.launch(k, { grid: 1, block: 64 }, { x: upload(dev, 'i32', xs), y, R: 3 });
    let want = [...xs];
    for (let r = 0; r < 3; r++) {
      const shuffled = want.map((_, t) => want[(t & ~31) + (((t % 32) - 1 + 32) % 32)]!);
      want = shuffled.map((_, t) => shuffled[(t + 32) % 64]!);
    }
    expect(Array.from(dev.download(y))).toEqual(want);
  });
});
