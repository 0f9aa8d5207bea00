/**
 * histogram (CUDA samples, 2_Concepts_and_Techniques/histogram, `histogram256`, and the "shared-memory atomics"
 * pattern of NVIDIA's "GPU Pro Tip: Fast Histograms Using Shared Atomics on Maxwell"): count 256 bins of byte data.
 * Each block accumulates a private sub-histogram in shared memory with `atomicAdd` (u32 counters), reading the input
 * with a grid-stride loop, then merges it into the global histogram with one global `atomicAdd` per bin.
 *
 * Run on two inputs: uniform bytes, and skewed bytes (nine in ten equal), where every warp's atomics collide on one
 * address — on a GPU the skewed run is slower, the contention the shared-atomic pattern exists to limit. The cost model
 * does not read loaded data (a launch's cost is the same on a device that holds no data), so these two model alike;
 * `histogramSynthetic` computes the same kind of input from the index, and there the skew shows.
 */
import { type Device, simtKernel } from '@tessera/device';
import type { ExampleResult, SampleResult } from './check';
import { compare, inputs, sample, within } from './check';

export const BINS = 256;

/** histogram256: a private sub-histogram per block in shared memory, merged with global atomics. */
export const histogram256 = simtKernel(
  {
    name: 'histogram256',
    params: { d_Data: 'ptr<u8>', d_Histogram: 'ptr<i32>', n: 'i32' },
    shared: { s_Hist: ['u32', BINS] },
    uses: { BINS },
  },
  function* (k, { d_Data, d_Histogram, n }) {
    const s_Hist = k.shared.s_Hist!;
    const tid = k.threadIdx.x;
    for (let b = tid; b < BINS; b += k.blockDim.x) s_Hist[b] = 0; // clear the sub-histogram
    yield k.syncthreads();
    for (let i = k.blockIdx.x * k.blockDim.x + tid; i < n; i += k.blockDim.x * k.gridDim.x) {
      s_Hist.atomicAdd(d_Data.get(i), 1);
    }
    yield k.syncthreads();
    for (let b = tid; b < BINS; b += k.blockDim.x) d_Histogram.atomicAdd(b, s_Hist[b]!);
  },
);

/**
 * The same histogram over synthetic input computed from the element index instead of loaded from memory — uniform
 * bins `(i · 37) mod 256`, or skewed: nine in ten elements in bin 7. The cost analysis cannot see the values of
 * loaded data (a launch costs the same whatever the bytes), but it sees these addresses, so this variant shows what
 * contention costs: every lane of a warp hitting one shared counter serialises.
 */
export const histogramSynthetic = simtKernel(
  {
    name: 'histogramSynthetic',
    params: { d_Histogram: 'ptr<i32>', n: 'i32', skewed: 'constexpr' },
    shared: { s_Hist: ['u32', BINS] },
    uses: { BINS },
  },
  function* (k, { d_Histogram, n, skewed }) {
    const s_Hist = k.shared.s_Hist!;
    const tid = k.threadIdx.x;
    for (let b = tid; b < BINS; b += k.blockDim.x) s_Hist[b] = 0;
    yield k.syncthreads();
    for (let i = k.blockIdx.x * k.blockDim.x + tid; i < n; i += k.blockDim.x * k.gridDim.x) {
      s_Hist.atomicAdd(skewed && i % 10 < 9 ? 7 : (i * 37) % BINS, 1);
    }
    yield k.syncthreads();
    for (let b = tid; b < BINS; b += k.blockDim.x) d_Histogram.atomicAdd(b, s_Hist[b]!);
  },
);

/** The bin of element i in histogramSynthetic's input. */
export const syntheticBin = (i: number, skewed: boolean) => (skewed && i % 10 < 9 ? 7 : (i * 37) % BINS);

/** Bytes: uniform, or skewed (nine in ten are byte 7). Deterministic per seed. */
export function histogramInput(n: number, skewed: boolean, seed: number): Uint8Array {
  const u = inputs(n, seed);
  const v = inputs(n, seed + 1);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = skewed && v[i]! < 0.8 ? 7 : Math.floor((u[i]! + 1) * 128) & 255;
  return out;
}

/** The host histogram of n elements whose bins are `bin(i)`. */
function counts(n: number, bin: (i: number) => number): Float64Array {
  const ref = new Float64Array(BINS);
  for (let i = 0; i < n; i++) ref[bin(i)]!++;
  return ref;
}

export function runHistogram(dev: Device, n = 40_000): SampleResult {
  const blocks = 16;
  const threads = 192;
  const data = dev.alloc('u8', n);
  const hist = dev.alloc('i32', BINS);
  const run = (skewed: boolean): ExampleResult => {
    const bytes = histogramInput(n, skewed, skewed ? 611 : 601);
    const functional = dev.mode === 'functional';
    if (functional) {
      dev.upload(data, bytes);
      dev.fill(hist, 0);
    }
    const ms = dev.launch(histogram256, { grid: blocks, block: threads }, { d_Data: data, d_Histogram: hist, n }).ms;
    const relError = compare(dev, hist, () => counts(n, (i) => bytes[i]!));
    const ok = within(relError, 0); // counts are integers: the histogram must match exactly
    return {
      name: `histogram: SIMT histogram256, shared atomics, ${skewed ? 'skewed' : 'uniform'} bytes`,
      ok,
      relError,
      modelledMs: ms,
      detail: `n=${n}, ${blocks}×${threads} threads${skewed ? ', 9 in 10 bytes in one bin' : ''}`,
    };
  };
  const synthetic = (skewed: boolean): ExampleResult => {
    if (dev.mode === 'functional') dev.fill(hist, 0);
    const ms = dev.launch(
      histogramSynthetic,
      { grid: blocks, block: threads },
      { d_Histogram: hist, n, skewed: skewed ? 1 : 0 },
    ).ms;
    const relError = compare(dev, hist, () => counts(n, (i) => syntheticBin(i, skewed)));
    const ok = within(relError, 0);
    return {
      name: `histogram: SIMT, synthetic ${skewed ? 'skewed' : 'uniform'} bins (addresses the cost model sees)`,
      ok,
      relError,
      modelledMs: ms,
      detail: `n=${n}, ${blocks}×${threads} threads${skewed ? ', 9 in 10 in one bin' : ''}`,
    };
  };
  const variants = [run(false), run(true), synthetic(false), synthetic(true)];
  dev.free(data);
  dev.free(hist);
  return sample('histogram', `n=${n}`, variants);
}
