/**
 * Tiled matmul as a tile kernel: each program owns a BM×BN block of C and walks K in BK steps, loading blocks of A
 * and B and accumulating with `dot` (Tensor Cores on NVIDIA, the Cube unit on Ascend).
 */
import { cdiv, type Device, tileKernel } from '@tessera/device';
import { type ExampleResult, inputs, relError } from './check';

export const matmul = tileKernel(
  {
    name: 'matmul',
    params: {
      a: 'ptr',
      b: 'ptr',
      c: 'ptr',
      M: 'i32',
      N: 'i32',
      K: 'i32',
      BM: 'constexpr',
      BN: 'constexpr',
      BK: 'constexpr',
    },
  },
  (t, { a, b, c, M, N, K, BM, BN, BK }) => {
    const A = t.tensor(a, [M, K]); // (M, K) row-major
    const B = t.tensor(b, [K, N]); // (K, N)
    const C = t.tensor(c, [M, N]); // (M, N)
    const m0 = t.programId(0) * BM;
    const n0 = t.programId(1) * BN;
    let acc = t.zeros([BM, BN], 'f32'); // (BM, BN) accumulator, f32
    for (let k = 0; k < K; k += BK) {
      acc = t.dot(t.loadBlock(A, [m0, k], [BM, BK]), t.loadBlock(B, [k, n0], [BK, BN]), acc);
    }
    t.storeBlock(C, [m0, n0], acc); // rows/cols past M, N are clipped
  },
);

export function runMatmul(dev: Device, M = 200, N = 136, K = 300): ExampleResult {
  const av = inputs(M * K, 3);
  const bv = inputs(K * N, 4);
  const [a, b, c] = [dev.alloc('f32', [M, K]), dev.alloc('f32', [K, N]), dev.alloc('f32', [M, N])];
  dev.upload(a, av);
  dev.upload(b, bv);
  dev.fill(c, Number.NaN);
  const [BM, BN, BK] = [64, 64, 32];
  const r = dev.launch(matmul, { grid: [cdiv(M, BM), cdiv(N, BN)] }, { a, b, c, M, N, K, BM, BN, BK });
  const ref = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) ref[i * N + j]! += av[i * K + k]! * bv[k * N + j]!;
  const err = relError(dev.download(c), ref);
  for (const x of [a, b, c]) dev.free(x);
  return { name: 'matmul (tile)', ok: err < 1e-5, relError: err, modelledMs: r.ms, detail: `${M}×${N}×${K}` };
}
