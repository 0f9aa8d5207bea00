/**
 * The small-kernel rows of the kernels bench: what one launch costs the host, a streaming `vector_add` beside a plain
 * JS loop, and costing a grid-stride SIMT kernel over 1 GiB in timing-only mode. (The device bench measures the
 * same things on the device layer alone, with the reference backend; these run on nvidia-sim H100 / H200 devices.)
 */
import { type Device, simtKernel, tileKernel } from '@tessera/device';

/**
 * `vector_add` as the Triton tutorial and the conformance suite write it: program p adds elements
 * [p·BLOCK, (p+1)·BLOCK) through index tiles and a mask (pointer gathers).
 */
export const vectorAdd = tileKernel(
  { name: 'bench_vector_add', params: { x: 'ptr', y: 'ptr', out: 'ptr', n: 'i32', BLOCK: 'constexpr' } },
  (t, { x, y, out, n, BLOCK }) => {
    const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK);
    const mask = offs.lt(n);
    t.store(out, offs, t.load(x, offs, { mask }).add(t.load(y, offs, { mask })), { mask });
  },
);

/** The same decomposition with block loads through tensor descriptors (row copies, clipped tails, no index tiles). */
export const vectorAddBlocks = tileKernel(
  { name: 'bench_vector_add_blocks', params: { x: 'ptr', y: 'ptr', out: 'ptr', n: 'i32', BLOCK: 'constexpr' } },
  (t, { x, y, out, n, BLOCK }) => {
    const [X, Y, O] = [t.tensor(x, [n]), t.tensor(y, [n]), t.tensor(out, [n])];
    const at = [t.programId(0) * BLOCK];
    t.storeBlock(O, at, t.loadBlock(X, at, [BLOCK]).add(t.loadBlock(Y, at, [BLOCK])));
  },
);

/** CUDA's grid-stride loop: each thread adds elements i, i + gridDim·blockDim, … (one FLOP each). */
export const gridStrideAdd = simtKernel(
  { name: 'bench_grid_stride_add', params: { x: 'ptr<f32>', y: 'ptr<f32>', out: 'ptr<f32>', n: 'i64' } },
  (k, { x, y, out, n }) => {
    const stride = k.gridDim.x * k.blockDim.x;
    for (let i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x; i < n; i += stride) out.set(i, x.get(i) + y.get(i));
  },
);

/** The plain JS function the launch is compared with: the same add over typed arrays. */
export function jsAdd(x: Float32Array, y: Float32Array, out: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = x[i]! + y[i]!;
}

/**
 * Times synchronous functions interleaved: each warms up for `warmMs`, then in each of `reps` rounds every function
 * takes one sample (runs for at least minMs / reps); returns each one's samples of the mean time of one call (ms),
 * in round order. Interleaving keeps the ratios steady while the load of a shared machine changes.
 */
export function timeSync(fns: (() => void)[], { minMs = 1000, reps = 25, warmMs = 300 } = {}): number[][] {
  for (const fn of fns) {
    const warm = performance.now();
    do fn();
    while (performance.now() - warm < warmMs);
  }
  const samples: number[][] = fns.map(() => []);
  for (let r = 0; r < reps; r++) {
    for (const [i, fn] of fns.entries()) {
      let n = 0;
      const t0 = performance.now();
      do {
        fn();
        n++;
      } while (performance.now() - t0 < minMs / reps);
      samples[i]!.push((performance.now() - t0) / n);
    }
  }
  return samples;
}

export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
}

/** Median over rounds of a[r] / b[r] (samples taken back to back in the same round). */
function pairedRatio(a: readonly number[], b: readonly number[]): number {
  return median(a.map((x, r) => x / b[r]!));
}

/** Deterministic values in [−1, 1). */
function values(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 31 - 1;
  }
  return a;
}

function upload(dev: Device, v: Float32Array) {
  const b = dev.alloc('f32', v.length);
  dev.upload(b, v);
  return b;
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

export interface LaunchOverhead {
  /** Host µs per launch (median of samples). */
  launchUs: number;
  /** µs per call of `jsAdd` on the same 1024 elements. */
  jsUs: number;
  /** The launch's result equals the JS function's, bit for bit. */
  matches: boolean;
}

/**
 * A repeated launch of a 1-program `vector_add` over 1024 f32 on a functional device — the same kernel, grid and
 * buffers every time, so everything a launch path could cache is warm — beside `jsAdd` on 1024-element typed arrays.
 */
export function launchOverhead(dev: Device): LaunchOverhead {
  const n = 1024;
  const [xv, yv] = [values(n, 11), values(n, 12)];
  const [x, y, out] = [upload(dev, xv), upload(dev, yv), dev.alloc('f32', n)];
  const args = { x, y, out, n, BLOCK: n };
  const jo = new Float32Array(n);
  const [launchMs, jsMs] = timeSync([() => dev.launch(vectorAdd, { grid: 1 }, args), () => jsAdd(xv, yv, jo, n)]);
  const got = dev.download(out) as Float32Array;
  for (const b of [x, y, out]) dev.free(b);
  return { launchUs: median(launchMs!) * 1e3, jsUs: median(jsMs!) * 1e3, matches: sameBits(got, jo) };
}

export interface Streaming {
  /** GB/s (x and y read, out written: 12 bytes per element) of each kernel form and of the JS loop. */
  masked: number;
  blocks: number;
  /** `jsAdd`: a JS function over Float32Array arguments. */
  js: number;
  /** Each kernel form's speed over `jsAdd`'s: the median over rounds of back-to-back samples' ratio. */
  maskedVsJs: number;
  blocksVsJs: number;
  /**
   * The same loop in a closure over these three arrays, made once: V8 specialises the optimised code to the captured
   * arrays (constant lengths and data pointers, no bounds checks), which a function over arguments never gets.
   */
  jsSpecialised: number;
  matches: boolean;
}

/** `vector_add` over n f32 (1024 per program, n / 1024 programs) in both forms, and `jsAdd` over the same arrays. */
export function streamingAdd(dev: Device, n = 1 << 20): Streaming {
  const BLOCK = 1024;
  const [xv, yv] = [values(n, 13), values(n, 14)];
  const [x, y, out, out2] = [upload(dev, xv), upload(dev, yv), dev.alloc('f32', n), dev.alloc('f32', n)];
  const grid = Math.ceil(n / BLOCK);
  const gbs = (ms: number) => (12 * n) / ms / 1e6;
  const [jo, js2] = [new Float32Array(n), new Float32Array(n)];
  const [maskedMs, blocksMs, jsMs, specialisedMs] = timeSync(
    [
      () => dev.launch(vectorAdd, { grid }, { x, y, out, n, BLOCK }),
      () => dev.launch(vectorAddBlocks, { grid }, { x, y, out: out2, n, BLOCK }),
      () => jsAdd(xv, yv, jo, n),
      () => {
        for (let i = 0; i < n; i++) js2[i] = xv[i]! + yv[i]!;
      },
    ],
    { minMs: 4000, reps: 15, warmMs: 300 },
  );
  const [maskedOut, blocksOut] = [dev.download(out) as Float32Array, dev.download(out2) as Float32Array];
  for (const b of [x, y, out, out2]) dev.free(b);
  return {
    masked: gbs(median(maskedMs!)),
    blocks: gbs(median(blocksMs!)),
    js: gbs(median(jsMs!)),
    maskedVsJs: pairedRatio(jsMs!, maskedMs!),
    blocksVsJs: pairedRatio(jsMs!, blocksMs!),
    jsSpecialised: gbs(median(specialisedMs!)),
    matches: sameBits(maskedOut, jo) && sameBits(blocksOut, jo) && sameBits(js2, jo),
  };
}

export interface GridStride {
  wallMs: number;
  modelledMs: number;
  grid: number;
  block: number;
  n: number;
}

/**
 * One launch of `gridStrideAdd` over n = 2²⁸ f32 (1 GiB per operand) on a timing-only device, with 8 blocks of 256
 * threads per compute unit (the persistent grid `streamingGrid` picks for vector kernels): the wall time of costing it.
 */
export function gridStride(dev: Device, n = 2 ** 28): GridStride {
  const [grid, block] = [8 * dev.properties.computeUnits, 256];
  const [x, y, out] = [dev.alloc('f32', n), dev.alloc('f32', n), dev.alloc('f32', n)];
  const t0 = performance.now();
  const r = dev.launch(gridStrideAdd, { grid, block }, { x, y, out, n });
  const wallMs = performance.now() - t0;
  for (const b of [x, y, out]) dev.free(b);
  return { wallMs, modelledMs: r.ms, grid, block, n };
}
