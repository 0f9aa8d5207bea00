/**
 * matrixMul (CUDA samples, 0_Introduction/matrixMul): C = A·B with the shared-memory tiled kernel of the CUDA
 * Programming Guide. Each BLOCK_SIZE×BLOCK_SIZE thread block computes one BLOCK_SIZE×BLOCK_SIZE tile of C; it walks
 * along K one tile at a time, every thread loading one element of A's tile and one of B's into shared memory, a
 * barrier, BLOCK_SIZE multiply-adds out of shared memory, and a second barrier before the tiles are overwritten.
 *
 * Beside it, the same product as a tile kernel with `t.dot`, launched twice: on f32 operands (IEEE FP32, which has no
 * matrix-unit path — the model runs it on the CUDA cores / vector units) and on f16 operands, which run on the
 * matrix unit (Tensor Cores on NVIDIA, the Cube on Ascend) and are therefore much faster in modelled time: about 10×
 * on an H100, 20× on an A100 and 22× on a 910B2 at 2048³ (main.ts prints the ratios). At the small size the
 * functional check uses, every version is dominated by the launch overhead and they model within a few µs.
 *
 * Numerics: the inputs are random values rounded to f16 (so that all three kernels multiply the same numbers), every
 * product of two f16 values is exact in f32, and the SIMT kernel rounds each product and each partial sum to f32 in
 * ascending k, which is exactly what `t.dot` does. So all three results agree bit for bit, and the check demands it.
 */
import { cdiv, type Device, type DeviceBuffer, simtKernel, tileKernel } from '@tessera/device';
import { type ExampleResult, poison, relError, type SampleResult, sample, uploadInputs, within } from './check';

/**
 * `template <int BLOCK_SIZE> __global__ void MatrixMulCUDA(float *C, float *A, float *B, int wA, int wB)`. As in
 * the sample, wA and wB must be multiples of BLOCK_SIZE and the grid is (wB / BLOCK_SIZE, hA / BLOCK_SIZE).
 */
function matrixMulCUDA(BLOCK_SIZE: number) {
  return simtKernel(
    {
      name: `MatrixMulCUDA<${BLOCK_SIZE}>`,
      params: { C: 'ptr<f32>', A: 'ptr<f32>', B: 'ptr<f32>', wA: 'i32', wB: 'i32' },
      shared: { As: ['f32', BLOCK_SIZE * BLOCK_SIZE], Bs: ['f32', BLOCK_SIZE * BLOCK_SIZE] },
      uses: { BLOCK_SIZE },
      // FLOPs are counted from the arithmetic: 2·wA per thread (a multiply and an add per k). The warp-level model
      // issues each pair as one FFMA (nvcc contracts them by default; this code rounds both to keep t.dot's bits),
      // and finds the kernel bound by shared memory: two wavefronts per FFMA, as for the real sample.
    },
    function* (k, { C, A, B, wA, wB }) {
      const bx = k.blockIdx.x;
      const by = k.blockIdx.y;
      const tx = k.threadIdx.x;
      const ty = k.threadIdx.y;
      const As = k.shared.As!; // __shared__ float As[BLOCK_SIZE][BLOCK_SIZE] (row-major, flattened)
      const Bs = k.shared.Bs!;
      const aBegin = wA * BLOCK_SIZE * by; // first tile of A this block reads
      const aEnd = aBegin + wA - 1;
      const aStep = BLOCK_SIZE;
      const bBegin = BLOCK_SIZE * bx; // first tile of B
      const bStep = BLOCK_SIZE * wB;
      let Csub = 0;
      for (let a = aBegin, b = bBegin; a <= aEnd; a += aStep, b += bStep) {
        As[ty * BLOCK_SIZE + tx] = A.get(a + wA * ty + tx);
        Bs[ty * BLOCK_SIZE + tx] = B.get(b + wB * ty + tx);
        yield k.syncthreads(); // both tiles are loaded
        for (let kk = 0; kk < BLOCK_SIZE; kk++) {
          // float arithmetic without fused multiply-add: the product and the sum each round to f32
          Csub = Math.fround(Csub + Math.fround(As[ty * BLOCK_SIZE + kk]! * Bs[kk * BLOCK_SIZE + tx]!));
        }
        yield k.syncthreads(); // every thread is done with the tiles before the next ones overwrite them
      }
      const c = wB * BLOCK_SIZE * by + BLOCK_SIZE * bx;
      C.set(c + wB * ty + tx, Csub);
    },
  );
}

export const BLOCK_SIZE = 16;
export const matrixMulSimt = matrixMulCUDA(BLOCK_SIZE);

/** The same product as a tile kernel: each program owns a BM×BN block of C and accumulates `dot`s along K. */
export const matrixMulTile = tileKernel(
  {
    name: 'matrixMul_tile',
    params: {
      a: 'ptr<f32|f16|bf16>',
      b: 'ptr<f32|f16|bf16>',
      c: 'ptr<f32>',
      M: 'i32',
      N: 'i32',
      K: 'i32',
      BM: 'constexpr',
      BN: 'constexpr',
      BK: 'constexpr',
    },
  },
  (t, { a, b, c, M, N, K, BM, BN, BK }) => {
    const A = t.tensor(a, [M, K]);
    const B = t.tensor(b, [K, N]);
    const C = t.tensor(c, [M, N]);
    const m0 = t.programId(1) * BM; // grid (x, y) = (N tiles, M tiles), as the SIMT launch
    const n0 = t.programId(0) * BN;
    let acc = t.zeros([BM, BN], 'f32');
    for (let k = 0; k < K; k += BK) {
      acc = t.dot(t.loadBlock(A, [m0, k], [BM, BK]), t.loadBlock(B, [k, n0], [BK, BN]), acc);
    }
    t.storeBlock(C, [m0, n0], acc); // clipped to M×N
  },
);

function sameBits(x: Float32Array | Int32Array, y: Float32Array | Int32Array): boolean {
  return x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
}

/**
 * C (hA×wB) = A (hA×wA) · B (wA×wB); every size a multiple of BLOCK_SIZE, as the CUDA sample requires. Small by
 * default: SIMT kernels run thread by thread in JS. On a timing-only device any size is quick to model.
 */
export function runMatrixMul(dev: Device, hA = 96, wB = 80, wA = 64): SampleResult {
  if (hA % BLOCK_SIZE || wB % BLOCK_SIZE || wA % BLOCK_SIZE) {
    throw new Error(
      `matrixMul: ${hA}×${wB}×${wA} must be multiples of BLOCK_SIZE ${BLOCK_SIZE}, as in the CUDA sample.`,
    );
  }
  const check = dev.mode === 'functional';
  const [M, N, K] = [hA, wB, wA];
  const [a16, b16] = [dev.alloc('f16', [M, K]), dev.alloc('f16', [K, N])];
  const [a32, b32, c] = [dev.alloc('f32', [M, K]), dev.alloc('f32', [K, N]), dev.alloc('f32', [M, N])];
  // Random inputs, rounded to f16 by the f16 upload; the f32 buffers get the same (now f16-exact) values back.
  uploadInputs(dev, a16, 201);
  uploadInputs(dev, b16, 202);
  const hAv = check ? dev.download(a16) : new Float32Array(0);
  const hBv = check ? dev.download(b16) : new Float32Array(0);
  if (check) {
    dev.upload(a32, hAv);
    dev.upload(b32, hBv);
  }
  const refC = new Float64Array(check ? M * N : 0); // float64 reference, on a functional device only
  for (let i = 0; i < hAv.length / K; i++)
    for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) refC[i * N + j]! += hAv[i * K + k]! * hBv[k * N + j]!;
  const size = `${M}×${N}×${K}`;

  // The CUDA sample: grid (wB / BLOCK_SIZE, hA / BLOCK_SIZE) of BLOCK_SIZE×BLOCK_SIZE threads.
  poison(dev, c);
  const rs = dev.launch(
    matrixMulSimt,
    { grid: [N / BLOCK_SIZE, M / BLOCK_SIZE], block: [BLOCK_SIZE, BLOCK_SIZE] },
    { C: c, A: a32, B: b32, wA: K, wB: N },
  );
  const outSimt = check ? dev.download(c) : null;
  const errSimt = outSimt ? relError(outSimt, refC) : Number.NaN;

  // The tile kernel, once on f32 operands and once on f16 operands. With f16 the `dot`s run on the matrix unit
  // (Tensor Cores / Cube), which is why its modelled time is far below the SIMT kernel's once the matrix is large
  // enough for the arithmetic, not the launch, to dominate (see the at-scale table of main.ts: 2048³).
  const [BM, BN, BK] = [64, 64, 32];
  const tile = (a: DeviceBuffer, b: DeviceBuffer) => {
    poison(dev, c);
    const r = dev.launch(matrixMulTile, { grid: [cdiv(N, BN), cdiv(M, BM)] }, { a, b, c, M, N, K, BM, BN, BK });
    const out = check ? dev.download(c) : null;
    return {
      ms: r.ms,
      err: out ? relError(out, refC) : Number.NaN,
      same: !out || !outSimt || sameBits(out, outSimt),
    };
  };
  const t32 = tile(a32, b32);
  const t16 = tile(a16, b16);
  for (const x of [a16, b16, a32, b32, c]) dev.free(x);

  const variants: ExampleResult[] = [
    {
      name: `matrixMul: SIMT, shared-memory tiles ${BLOCK_SIZE}×${BLOCK_SIZE}`,
      ok: within(errSimt, 1e-5),
      relError: errSimt,
      modelledMs: rs.ms,
      detail: size,
    },
    {
      name: 'matrixMul: tile, t.dot on f32 (CUDA cores / vector)',
      ok: within(t32.err, 1e-5) && t32.same,
      relError: t32.err,
      modelledMs: t32.ms,
      detail: check ? `${size}, = SIMT bit for bit` : size,
    },
    {
      name: 'matrixMul: tile, t.dot on f16 (matrix unit)',
      ok: within(t16.err, 1e-5) && t16.same,
      relError: t16.err,
      modelledMs: t16.ms,
      detail: check ? `${size}, = SIMT bit for bit` : size,
    },
  ];
  return sample('matrixMul', size, variants);
}
