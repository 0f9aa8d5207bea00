/**
 * scan (GPU Gems 3, chapter 39, "Parallel Prefix Sum (Scan) with CUDA", Harris, Sengupta and Owens — the work-efficient
 * scan the CUDA samples' `scan` and `shfl_scan` build on): an exclusive prefix sum. Each block of B threads scans
 * 2B elements in shared memory with Blelloch's algorithm — an up-sweep (reduce) phase builds partial sums in place, the
 * last element is cleared, a down-sweep phase pushes them back down — and writes its total to `g_sums`. The host
 * scans the block totals the same way (recursively) and a second kernel adds each block's offset to its elements,
 * the chapter's "scan of arbitrary length". As in the chapter's Example 39-2, without its bank-conflict padding.
 */
import { cdiv, type Device, type DeviceBuffer, simtKernel } from '@tessera/device';
import { compare, type ExampleResult, poison, type SampleResult, sample, uploadInputs, within } from './check';

/** prescan: the exclusive scan of one block's 2 · blockDim.x elements (zero past n); the block's total to g_sums. */
export const prescan = simtKernel(
  { name: 'prescan', params: { g_odata: 'ptr<f32>', g_idata: 'ptr<f32>', g_sums: 'ptr<f32>', n: 'i32' } },
  function* (k, { g_odata, g_idata, g_sums, n }) {
    const temp = k.dynamicShared('f32'); // extern __shared__ float temp[] (2 · blockDim.x)
    const thid = k.threadIdx.x;
    const N = 2 * k.blockDim.x;
    const ai = k.blockIdx.x * N + 2 * thid;
    temp[2 * thid] = ai < n ? g_idata.get(ai) : 0;
    temp[2 * thid + 1] = ai + 1 < n ? g_idata.get(ai + 1) : 0;
    let offset = 1;
    for (let d = N >> 1; d > 0; d >>= 1) {
      // up-sweep: build the sum in place up the tree
      yield k.syncthreads();
      if (thid < d) {
        const a = offset * (2 * thid + 1) - 1;
        const b = offset * (2 * thid + 2) - 1;
        temp[b] = temp[b]! + temp[a]!;
      }
      offset *= 2;
    }
    if (thid === 0) {
      g_sums.set(k.blockIdx.x, temp[N - 1]!); // the block's total, before it is cleared
      temp[N - 1] = 0;
    }
    for (let d = 1; d < N; d *= 2) {
      // down-sweep: traverse down the tree and build the scan
      offset >>= 1;
      yield k.syncthreads();
      if (thid < d) {
        const a = offset * (2 * thid + 1) - 1;
        const b = offset * (2 * thid + 2) - 1;
        const t = temp[a]!;
        temp[a] = temp[b]!;
        temp[b] = temp[b]! + t;
      }
    }
    yield k.syncthreads();
    if (ai < n) g_odata.set(ai, temp[2 * thid]!);
    if (ai + 1 < n) g_odata.set(ai + 1, temp[2 * thid + 1]!);
  },
);

/** uniformAdd: adds block b's offset (the scan of the block totals) to each of its 2 · blockDim.x elements. */
export const uniformAdd = simtKernel(
  { name: 'uniformAdd', params: { g_data: 'ptr<f32>', uniforms: 'ptr<f32>', n: 'i32' } },
  (k, { g_data, uniforms, n }) => {
    const add = uniforms.get(k.blockIdx.x);
    const i = k.blockIdx.x * 2 * k.blockDim.x + 2 * k.threadIdx.x;
    if (i < n) g_data.set(i, g_data.get(i) + add);
    if (i + 1 < n) g_data.set(i + 1, g_data.get(i + 1) + add);
  },
);

/** Exclusive scan of `x` (n elements) into `out` with B threads per block; returns the modelled ms and launches. */
function scanInto(dev: Device, x: DeviceBuffer, out: DeviceBuffer, n: number, B: number): [number, number] {
  const blocks = cdiv(n, 2 * B);
  const sums = dev.alloc('f32', blocks);
  poison(dev, sums);
  let ms = dev.launch(
    prescan,
    { grid: blocks, block: B, sharedMemBytes: 2 * B * 4 },
    { g_odata: out, g_idata: x, g_sums: sums, n },
  ).ms;
  let launches = 1;
  if (blocks > 1) {
    const offsets = dev.alloc('f32', blocks);
    const [m, l] = scanInto(dev, sums, offsets, blocks, B);
    ms += m + dev.launch(uniformAdd, { grid: blocks, block: B }, { g_data: out, uniforms: offsets, n }).ms;
    launches += l + 1;
    dev.free(offsets);
  }
  dev.free(sums);
  return [ms, launches];
}

export function runScan(dev: Device, n = 20_000): SampleResult {
  const B = 128;
  const x = dev.alloc('f32', n);
  const out = dev.alloc('f32', n);
  const hx = uploadInputs(dev, x, 501);
  const ref = () => {
    const r = new Float64Array(n);
    let acc = 0;
    for (let i = 0; i < n; i++) {
      r[i] = acc;
      acc += hx[i]!;
    }
    return r;
  };
  poison(dev, out);
  const [ms, launches] = scanInto(dev, x, out, n, B);
  const err = compare(dev, out, ref);
  const variant: ExampleResult = {
    name: 'scan: SIMT prescan + uniformAdd (Blelloch, exclusive)',
    // f32 partial sums in a different order from the float64 reference's running sum.
    ok: within(err, 1e-5),
    relError: err,
    modelledMs: ms,
    detail: `n=${n}, ${B} threads/block, ${launches} launches`,
  };
  dev.free(x);
  dev.free(out);
  return sample('scan', `n=${n}`, [variant]);
}
