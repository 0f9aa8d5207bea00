/**
 * reduction (CUDA samples, 2_Concepts_and_Techniques/reduction, after Mark Harris's "Optimizing Parallel Reduction
 * in CUDA"): sum an array. Each block reduces blockDim.x elements in shared memory and writes one partial sum to
 * `g_odata[blockIdx.x]`; the host launches the kernel again on the partial sums until one value is left, as the
 * sample does for its GPU final reduction. Two of the sample's kernels:
 *
 *   reduce0 — interleaved addressing: in step s, thread tid adds sdata[tid + s] if tid % (2s) == 0. The active
 *             threads are scattered over every warp (divergent branches), and the `%` is slow.
 *   reduce2 — sequential addressing: in step s (halving from blockDim.x / 2), threads tid < s add sdata[tid + s].
 *             The active threads are contiguous, so whole warps retire, and there are no bank conflicts.
 *
 * and the same reduction as a tile kernel: `load(...).sum()` per program, one store of the partial sum.
 *
 * Like the sample, the SIMT kernels take their shared array from dynamic shared memory (`extern __shared__`,
 * `k.dynamicShared`), sized by the launch (`sharedMemBytes`). The cost model sees what separates them on a GPU:
 * reduce0's active threads are scattered over every warp, so each step issues in every warp (divergent branches)
 * where reduce2's retire whole warps; reduce0 models slower. Their results differ only in the order of the additions.
 */
import { cdiv, type Device, type DeviceBuffer, simtKernel, tileKernel } from '@tessera/device';
import { compare, type ExampleResult, poison, type SampleResult, sample, uploadInputs, within } from './check';

const params = { g_idata: 'ptr<f32>', g_odata: 'ptr<f32>', n: 'i32' } as const;

/** reduce0: interleaved addressing with divergent branching. */
export const reduce0 = simtKernel({ name: 'reduce0', params }, function* (k, { g_idata, g_odata, n }) {
  const sdata = k.dynamicShared('f32'); // extern __shared__ float sdata[]
  const tid = k.threadIdx.x;
  const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
  sdata[tid] = i < n ? g_idata.get(i) : 0;
  yield k.syncthreads();
  for (let s = 1; s < k.blockDim.x; s *= 2) {
    if (tid % (2 * s) === 0) sdata[tid] = sdata[tid]! + sdata[tid + s]!;
    yield k.syncthreads();
  }
  if (tid === 0) g_odata.set(k.blockIdx.x, sdata[0]!);
});

/** reduce2: sequential addressing. */
export const reduce2 = simtKernel({ name: 'reduce2', params }, function* (k, { g_idata, g_odata, n }) {
  const sdata = k.dynamicShared('f32');
  const tid = k.threadIdx.x;
  const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
  sdata[tid] = i < n ? g_idata.get(i) : 0;
  yield k.syncthreads();
  for (let s = k.blockDim.x >> 1; s > 0; s >>= 1) {
    if (tid < s) sdata[tid] = sdata[tid]! + sdata[tid + s]!;
    yield k.syncthreads();
  }
  if (tid === 0) g_odata.set(k.blockIdx.x, sdata[0]!);
});

/**
 * reduceShfl: the warp-shuffle reduction of the samples' later kernels (`reduce4`–`reduce6` finish in registers with
 * `__shfl_down_sync`; "Faster Parallel Reductions on Kepler"): each warp sums its 32 values with five shuffle-down
 * steps, lane 0 of each warp writes its partial sum to shared memory, and the first warp reduces those the same way.
 * One barrier instead of log2(blockDim). NVIDIA only: Ascend 910B/910C have no warps (warp intrinsics are Unsupported).
 */
export const reduceShfl = simtKernel(
  { name: 'reduceShfl', params, shared: { warpSums: ['f32', 32] } },
  function* (k, { g_idata, g_odata, n }) {
    const warpSums = k.shared.warpSums!;
    const full = 0xffffffff;
    const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
    let v = i < n ? g_idata.get(i) : 0;
    for (let offset = k.warpSize >> 1; offset > 0; offset >>= 1) v += k.shflDown(full, v, offset);
    if (k.laneId === 0) warpSums[k.warpId] = v;
    yield k.syncthreads();
    if (k.warpId === 0) {
      const warps = k.blockDim.x / k.warpSize;
      let w = k.laneId < warps ? warpSums[k.laneId]! : 0;
      for (let offset = k.warpSize >> 1; offset > 0; offset >>= 1) w += k.shflDown(full, w, offset);
      if (k.laneId === 0) g_odata.set(k.blockIdx.x, w);
    }
  },
);

/** The tile version: each program sums BLOCK elements and stores its partial sum. */
export const reduceTile = tileKernel(
  { name: 'reduce_tile', params: { ...params, BLOCK: 'constexpr' } },
  (t, { g_idata, g_odata, n, BLOCK }) => {
    const pid = t.programId(0);
    const offs = t.arange(0, BLOCK).add(pid * BLOCK);
    t.store(g_odata, pid, t.load(g_idata, offs, { mask: offs.lt(n) }).sum());
  },
);

/** One pass: reduce `n` elements of `input` into `blocks` partial sums in `output`; returns the modelled ms. */
type Step = (input: DeviceBuffer, output: DeviceBuffer, n: number, blocks: number) => number;

/**
 * Reduces `x` (n elements) to one value by launching `step` on it, then on its partial sums, until one is left.
 * Returns the buffer holding the sum, the total modelled time and the number of launches.
 */
function reduceAll(
  dev: Device,
  x: DeviceBuffer,
  n: number,
  perBlock: number,
  step: Step,
): { result: DeviceBuffer; ms: number; launches: number } {
  let ms = 0;
  let launches = 0;
  let input = x;
  do {
    const blocks = cdiv(n, perBlock);
    const output = dev.alloc('f32', blocks);
    poison(dev, output); // every block must write its partial sum
    ms += step(input, output, n, blocks);
    launches++;
    if (input !== x) dev.free(input);
    input = output;
    n = blocks;
  } while (n > 1);
  return { result: input, ms, launches };
}

/**
 * The reduction sample. `warp` (default: the device has warps of 32 lanes) includes reduceShfl; pass false on a device
 * whose warps are not usable (e.g. a WebGPU adapter without the `subgroups` feature, where reduceShfl is Unsupported).
 */
export function runReduction(dev: Device, n = 50_000, warp = dev.properties.warpSize >= 32): SampleResult {
  const threads = 256;
  const BLOCK = 4096;
  const x = dev.alloc('f32', n);
  const hx = uploadInputs(dev, x, 301);
  let ref = 0;
  for (const v of hx) ref += v;

  const run = (name: string, perBlock: number, step: Step): ExampleResult => {
    const { result, ms, launches } = reduceAll(dev, x, n, perBlock, step);
    const err = compare(dev, result, () => [ref]); // a NaN partial sum (a block that wrote nothing) fails
    dev.free(result);
    return {
      name,
      ok: within(err, 1e-5),
      relError: err,
      modelledMs: ms,
      detail: `n=${n}, ${launches} launches of ${perBlock}/block`,
    };
  };
  const simt =
    (kernel: typeof reduce0 | typeof reduceShfl): Step =>
    (g_idata, g_odata, m, blocks) =>
      dev.launch(kernel, { grid: blocks, block: threads, sharedMemBytes: threads * 4 }, { g_idata, g_odata, n: m }).ms;

  const variants = [
    run('reduction: SIMT reduce0, interleaved addressing', threads, simt(reduce0)),
    run('reduction: SIMT reduce2, sequential addressing', threads, simt(reduce2)),
    // Warp shuffles need warps: on a device without them (Ascend 910B/910C) the variant is left out.
    ...(warp ? [run('reduction: SIMT reduceShfl, warp shuffles', threads, simt(reduceShfl))] : []),
    run(
      'reduction: tile, load + sum per program',
      BLOCK,
      (g_idata, g_odata, m, blocks) => dev.launch(reduceTile, { grid: blocks }, { g_idata, g_odata, n: m, BLOCK }).ms,
    ),
  ];
  dev.free(x);
  return sample('reduction', `n=${n}`, variants);
}
