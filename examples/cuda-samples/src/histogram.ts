/**
 * histogram (CUDA samples, 2_Concepts_and_Techniques/histogram, `histogram256`, and the "shared-memory atomics"
 * pattern of NVIDIA's "GPU Pro Tip: Fast Histograms Using Shared Atomics on Maxwell"): count 256 bins of byte data.
 * Each block accumulates a private sub-histogram in shared memory with `atomicAdd` (u32 counters), reading the input
 * with a grid-stride loop, then merges it into the global histogram with one global `atomicAdd` per bin.
 *
 * Run on two inputs: uniform bytes, and skewed bytes (nine in ten equal), where every warp's atomics collide on one
 * address — on a GPU the skewed run is slower, the contention the shared-atomic pattern exists to limit.
 */
import { type Device, simtKernel } from '@tessera/device';
import type { ExampleResult, SampleResult } from './check';
import { inputs, sample } from './check';

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

/** Bytes: uniform, or skewed (nine in ten are byte 7). Deterministic per seed. */
export function histogramInput(n: number, skewed: boolean, seed: number): Uint8Array {
  const u = inputs(n, seed);
  const v = inputs(n, seed + 1);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = skewed && v[i]! < 0.8 ? 7 : Math.floor((u[i]! + 1) * 128) & 255;
  return out;
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
    let ok = true;
    let relError = Number.NaN;
    if (functional) {
      // Counts are integers: the histogram must match exactly.
      const ref = new Float64Array(BINS);
      for (const b of bytes) ref[b]!++;
      const got = dev.download(hist);
      let diff = 0;
      let norm = 0;
      for (let b = 0; b < BINS; b++) {
        diff += (got[b]! - ref[b]!) ** 2;
        norm += ref[b]! ** 2;
      }
      relError = Math.sqrt(diff / norm);
      ok = relError === 0;
    }
    return {
      name: `histogram: SIMT histogram256, shared atomics, ${skewed ? 'skewed' : 'uniform'} bytes`,
      ok,
      relError,
      modelledMs: ms,
      detail: `n=${n}, ${blocks}×${threads} threads${skewed ? ', 9 in 10 bytes in one bin' : ''}`,
    };
  };
  const variants = [run(false), run(true)];
  dev.free(data);
  dev.free(hist);
  return sample('histogram', `n=${n}`, variants);
}
