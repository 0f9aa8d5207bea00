/**
 * GEMM: C(M,N) = op(A) · op(B), op = optional transpose, on the matrix unit. One program per BM×BN block of C; each
 * walks K in BK steps with block loads and `dot`, accumulating in f32 (i32 for int8), and stores C in its dtype.
 */
import {
  cdiv,
  type Device,
  type DeviceBuffer,
  type LaunchResult,
  ProgramCost,
  type Stream,
  TesseraError,
  tileKernel,
} from '@tessera/device';
import { chooseGemmConfig, type GemmConfig } from './config';

export const gemmKernel = tileKernel(
  {
    name: 'gemm',
    params: {
      a: 'ptr',
      b: 'ptr',
      c: 'ptr',
      M: 'i32',
      N: 'i32',
      K: 'i32',
      transA: 'constexpr',
      transB: 'constexpr',
      BM: 'constexpr',
      BN: 'constexpr',
      BK: 'constexpr',
    },
  },
  (t, { a, b, c, M, N, K, transA, transB, BM, BN, BK }) => {
    // A is (M, K), or (K, M) when transposed; B is (K, N), or (N, K).
    const A = transA ? t.tensor(a, [K, M]) : t.tensor(a, [M, K]);
    const B = transB ? t.tensor(b, [N, K]) : t.tensor(b, [K, N]);
    const C = t.tensor(c, [M, N]);
    const m0 = t.programId(0) * BM;
    const n0 = t.programId(1) * BN;
    const int = a.dtype === 'i8' || a.dtype === 'u8';
    let acc = t.zeros([BM, BN], int ? 'i32' : 'f32'); // (BM, BN)
    for (let k = 0; k < K; k += BK) {
      const at = transA ? t.loadBlock(A, [k, m0], [BK, BM]).trans() : t.loadBlock(A, [m0, k], [BM, BK]); // (BM, BK)
      const bt = transB ? t.loadBlock(B, [n0, k], [BN, BK]).trans() : t.loadBlock(B, [k, n0], [BK, BN]); // (BK, BN)
      acc = t.dot(at, bt, acc);
    }
    t.storeBlock(C, [m0, n0], acc);
  },
);

export interface GemmArgs {
  a: DeviceBuffer;
  b: DeviceBuffer;
  c: DeviceBuffer;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
}

export interface LaunchOptions {
  stream?: Stream;
  /** Override the tile sizes the library picks for the device. */
  config?: Partial<GemmConfig>;
}

function need(cond: boolean, msg: string, hint?: string): void {
  if (!cond) throw new TesseraError('InvalidValue', `gemm: ${msg}`, hint ? { hint } : {});
}

/** Launches C = op(A)·op(B) on `dev`. Validates shapes and dtypes, picks tiles for the device. */
export function gemm(dev: Device, args: GemmArgs, options: LaunchOptions = {}): LaunchResult {
  const { a, b, c, M, N, K } = args;
  for (const [n, v] of Object.entries({ M, N, K }))
    need(Number.isInteger(v) && v >= 0, `${n} = ${v} must be an integer ≥ 0.`);
  need(
    a.length >= M * K,
    `a holds ${a.length} elements, but ${args.transA ? `(K, M) = (${K}, ${M})` : `(M, K) = (${M}, ${K})`} needs ${M * K}.`,
  );
  need(
    b.length >= K * N,
    `b holds ${b.length} elements, but ${args.transB ? `(N, K) = (${N}, ${K})` : `(K, N) = (${K}, ${N})`} needs ${K * N}.`,
  );
  need(c.length >= M * N, `c holds ${c.length} elements, but (M, N) = (${M}, ${N}) needs ${M * N}.`);
  need(
    a.dtype === b.dtype,
    `a is ${a.dtype} but b is ${b.dtype}; both operands must have one dtype.`,
    'Cast one of them first.',
  );
  const int = a.dtype === 'i8' || a.dtype === 'u8';
  need(!int || c.dtype === 'i32', `int8 inputs accumulate in int32, so c must be i32 (got ${c.dtype}).`);
  if (M === 0 || N === 0) return emptyLaunch(dev, options.stream);
  const cfg = { ...chooseGemmConfig(dev.properties, M, N, K, a.dtype), ...options.config };
  return dev.launch(
    gemmKernel,
    { grid: [cdiv(M, cfg.BM), cdiv(N, cfg.BN)], stream: options.stream },
    { a, b, c, M, N, K, transA: args.transA ? 1 : 0, transB: args.transB ? 1 : 0, ...cfg },
  );
}

/** An empty output launches nothing (as cuBLAS returns at once for m = 0 or n = 0): a zero-cost result. */
function emptyLaunch(dev: Device, stream?: Stream): LaunchResult {
  const t = (stream ?? dev.defaultStream).timeMs;
  return {
    kernel: 'gemm',
    startMs: t,
    endMs: t,
    ms: 0,
    timing: { ms: 0, bound: 'latency', breakdown: {} },
    cost: {
      kernel: 'gemm',
      style: 'tile',
      grid: [0, 0, 0],
      block: null,
      programs: 0,
      classes: [],
      total: new ProgramCost(),
      resources: {
        dotOperandBytes: 0,
        accumulatorBytes: 0,
        vectorTileBytes: 0,
        vectorWorkingSetBytes: 0,
        sharedMemoryBytes: 0,
        minSharedAlignment: 0,
      },
      buffers: [],
      dtypes: [],
      exact: true,
    },
  };
}
