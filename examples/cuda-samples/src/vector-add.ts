/**
 * vectorAdd (CUDA samples, 0_Introduction/vectorAdd): C = A + B with one thread per element. The sample's kernel is
 *
 *   __global__ void vectorAdd(const float *A, const float *B, float *C, int numElements) {
 *     int i = blockDim.x * blockIdx.x + threadIdx.x;
 *     if (i < numElements) C[i] = A[i] + B[i] + 0.0f;
 *   }
 *
 * launched as vectorAdd<<<(50000 + 255) / 256, 256>>>; here it is line for line the same, with `A.get(i)` for `A[i]`.
 */
import { cdiv, type Device, simtKernel } from '@tessera/device';
import { compare, type ExampleResult, poison, type SampleResult, sample, uploadInputs, within } from './check';

export const vectorAdd = simtKernel(
  {
    name: 'vectorAdd',
    params: { A: 'ptr<f32>', B: 'ptr<f32>', C: 'ptr<f32>', numElements: 'i32' },
  },
  (k, { A, B, C, numElements }) => {
    const i = k.blockDim.x * k.blockIdx.x + k.threadIdx.x;
    if (i < numElements) C.set(i, A.get(i) + B.get(i) + 0.0);
  },
);

export function runVectorAdd(dev: Device, numElements = 50_000): SampleResult {
  const [A, B, C] = [dev.alloc('f32', numElements), dev.alloc('f32', numElements), dev.alloc('f32', numElements)];
  const hA = uploadInputs(dev, A, 101);
  const hB = uploadInputs(dev, B, 102);
  poison(dev, C);
  const threadsPerBlock = 256;
  const blocksPerGrid = cdiv(numElements, threadsPerBlock);
  const r = dev.launch(vectorAdd, { grid: blocksPerGrid, block: threadsPerBlock }, { A, B, C, numElements });
  const err = compare(dev, C, () => Float64Array.from(hA, (a, i) => a + hB[i]!));
  for (const b of [A, B, C]) dev.free(b);
  const simt: ExampleResult = {
    name: 'vectorAdd: SIMT, one thread per element',
    ok: within(err, 1e-6),
    relError: err,
    modelledMs: r.ms,
    detail: `n=${numElements}, ${threadsPerBlock} threads/block`,
  };
  return sample('vectorAdd', `n=${numElements}`, [simt]);
}
