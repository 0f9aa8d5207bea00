/**
 * GEMM on the matrix unit, with cuBLASLt-style fused epilogues:
 *
 *   C[b] = act(alpha · op(A[b]) · op(B[b]) [· sa ⊗ sb] + bias) + residual[b]
 *
 * op = optional transpose; b = batch index (strides in elements, 0 broadcasts an operand). `scales` makes a GEMM of
 * quantised operands a W8A8 GEMM, vLLM's `cutlass_scaled_mm`: int8 (int32 accumulation) or fp8 (f32 accumulation)
 * A and B, then the accumulator in f32 × per-row scales of A × per-column scales of B, before the float epilogue.
 * One program per BM×BN block of C (and per batch), walking K in BK steps with block loads and `dot` (f32
 * accumulation; i32 for int8).
 */
import {
  cdiv,
  type Device,
  type DeviceBuffer,
  DTYPE_INFO,
  deviceFunction,
  type LaunchResult,
  ProgramCost,
  type Stream,
  type TensorDesc,
  type Tile,
  type TileContext,
  tileKernel,
} from '@tessera/device';
import { check, checkBuffer, checkDims, checkSupported, FLOAT_DTYPES, isIntOperand, isQuantised } from './common';
import { chooseGemmConfig, type GemmConfig } from './config';

export type Activation = 'none' | 'relu' | 'silu' | 'gelu' | 'gelu_tanh';
const ACTIVATIONS: readonly Activation[] = ['none', 'relu', 'silu', 'gelu', 'gelu_tanh'];

/** Applies an epilogue activation to an f32 tile. */
export const applyActivation = deviceFunction(
  function applyActivation(t: TileContext, x: Tile, act: number): Tile {
    switch (ACTIVATIONS[act]) {
      case 'relu':
        return x.maximum(0);
      case 'silu':
        return x.mul(x.sigmoid());
      case 'gelu': // 0.5·x·(1 + erf(x/√2))
        return x.mul(0.5).mul(t.erf(x.mul(Math.SQRT1_2)).add(1));
      case 'gelu_tanh': // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
        return x.mul(0.5).mul(
          x
            .mul(x)
            .mul(x)
            .mul(0.044715)
            .add(x)
            .mul(Math.sqrt(2 / Math.PI))
            .tanh()
            .add(1),
        );
      default:
        return x;
    }
  },
  { uses: { ACTIVATIONS } },
);

/**
 * The W8A8 dequantisation: a (BM, BN) accumulator block at rows m0…, columns n0… (i32 from int8 operands, f32 from
 * fp8) as f32 × per-row scales of A (`sa`, 1-D) × per-column scales of B (`sb`, 1-D). Shared by gemm and groupedGemm.
 */
export const dequantizeBlock = deviceFunction(function dequantizeBlock(
  t: TileContext,
  acc: Tile,
  sa: TensorDesc,
  sb: TensorDesc,
  m0: number,
  n0: number,
  BM: number,
  BN: number,
): Tile {
  const rowScales = t.loadBlock(sa, [m0], [BM]).expandDims(1); // (BM, 1)
  const colScales = t.loadBlock(sb, [n0], [BN]).expandDims(0); // (1, BN)
  return acc.cast('f32').mul(rowScales).mul(colScales);
});

export const gemmKernel = tileKernel(
  {
    name: 'gemm',
    uses: { applyActivation, dequantizeBlock },
    params: {
      a: 'ptr',
      b: 'ptr',
      c: 'ptr',
      bias: 'ptr',
      residual: 'ptr',
      sa: 'ptr',
      sb: 'ptr',
      M: 'i32',
      N: 'i32',
      K: 'i32',
      strideA: 'i64',
      strideB: 'i64',
      strideC: 'i64',
      alpha: 'f32',
      transA: 'constexpr',
      transB: 'constexpr',
      HAS_BIAS: 'constexpr',
      HAS_RESIDUAL: 'constexpr',
      HAS_SCALES: 'constexpr',
      ACT: 'constexpr',
      BM: 'constexpr',
      BN: 'constexpr',
      BK: 'constexpr',
    },
  },
  (t, p) => {
    const { M, N, K, BM, BN, BK } = p;
    const z = t.programId(2); // batch index
    const A = p.transA
      ? t.tensor(p.a, [K, M], undefined, z * p.strideA)
      : t.tensor(p.a, [M, K], undefined, z * p.strideA);
    const B = p.transB
      ? t.tensor(p.b, [N, K], undefined, z * p.strideB)
      : t.tensor(p.b, [K, N], undefined, z * p.strideB);
    const C = t.tensor(p.c, [M, N], undefined, z * p.strideC);
    const m0 = t.programId(0) * BM;
    const n0 = t.programId(1) * BN;
    const int = p.a.dtype === 'i8' || p.a.dtype === 'u8';
    let acc = t.zeros([BM, BN], int ? 'i32' : 'f32'); // (BM, BN)
    for (let k = 0; k < K; k += BK) {
      const at = p.transA ? t.loadBlock(A, [k, m0], [BK, BM]).trans() : t.loadBlock(A, [m0, k], [BM, BK]); // (BM, BK)
      const bt = p.transB ? t.loadBlock(B, [n0, k], [BN, BK]).trans() : t.loadBlock(B, [k, n0], [BK, BN]); // (BK, BN)
      acc = t.dot(at, bt, acc);
    }
    let out = acc;
    if (p.HAS_SCALES) out = dequantizeBlock(t, out, t.tensor(p.sa, [M]), t.tensor(p.sb, [N]), m0, n0, BM, BN);
    // alpha is a runtime scalar: only a float result scales (an i32 result, int8 without scales, takes no epilogue:
    // alpha is 1), so both paths of the runtime test keep out's dtype.
    if ((!int || p.HAS_SCALES) && p.alpha !== 1) out = out.mul(p.alpha);
    if (p.HAS_BIAS)
      out = out.add(
        t
          .loadBlock(t.tensor(p.bias, [N]), [n0], [BN])
          .cast('f32')
          .expandDims(0),
      );
    if (p.ACT) out = applyActivation(t, out, p.ACT);
    if (p.HAS_RESIDUAL)
      out = out.add(
        t.loadBlock(t.tensor(p.residual, [M, N], undefined, z * p.strideC), [m0, n0], [BM, BN]).cast('f32'),
      );
    t.storeBlock(C, [m0, n0], out);
  },
);

export interface GemmArgs {
  /** (M, K), or (K, M) with transA; per batch. */
  a: DeviceBuffer;
  /** (K, N), or (N, K) with transB; per batch. */
  b: DeviceBuffer;
  /** (M, N) output; per batch. */
  c: DeviceBuffer;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  /** Scalar applied to the product (before bias). */
  alpha?: number;
  /** (N,) added to every row. */
  bias?: DeviceBuffer;
  activation?: Activation;
  /** (M, N) added after the activation (a fused residual connection); per batch with strideC. */
  residual?: DeviceBuffer;
  /**
   * W8A8: quantised A and B (both i8, both fp8e4m3 or both fp8e5m2) with f32 per-row scales of A (M,) and
   * per-column scales of B (N,): C = act(alpha · (A·B) · a[m] · b[n] + bias) + residual, in f32, stored to a float c.
   */
  scales?: { a: DeviceBuffer; b: DeviceBuffer };
  /** Batched GEMM: number of problems, and element strides between them (default: packed; 0 broadcasts). */
  batch?: number;
  strideA?: number;
  strideB?: number;
  strideC?: number;
}

export interface LaunchOptions {
  stream?: Stream;
  /** Override the tile sizes the library picks for the device. */
  config?: Partial<GemmConfig>;
}

/** Launches the GEMM described by `args` on `dev`. Validates shapes and dtypes; picks tiles for the device. */
export function gemm(dev: Device, args: GemmArgs, options: LaunchOptions = {}): LaunchResult {
  const op = 'gemm';
  const { a, b, c, M, N, K } = args;
  const batch = args.batch ?? 1;
  checkDims(op, { M, N, K });
  checkDims(op, { batch }, 1);
  const strideA = args.strideA ?? M * K;
  const strideB = args.strideB ?? K * N;
  const strideC = args.strideC ?? M * N;
  checkDims(op, { strideA, strideB, strideC });
  const extent = (stride: number, per: number) => (batch - 1) * stride + per;
  const shapeA = args.transA ? `(K, M) = (${K}, ${M})` : `(M, K) = (${M}, ${K})`;
  const shapeB = args.transB ? `(N, K) = (${N}, ${K})` : `(K, N) = (${K}, ${N})`;
  const per = batch > 1 ? ` × ${batch} batches` : '';
  checkBuffer(op, 'a', a, { shape: [extent(strideA, M * K)], shapeText: `${shapeA}${per}` });
  checkBuffer(op, 'b', b, { shape: [extent(strideB, K * N)], shapeText: `${shapeB}${per}` });
  checkBuffer(op, 'c', c, { shape: [extent(strideC, M * N)], shapeText: `(M, N) = (${M}, ${N})${per}` });
  check(
    a.dtype === b.dtype,
    op,
    `'a' is ${a.dtype} but 'b' is ${b.dtype}; both operands must have one dtype.`,
    'Cast one of them first.',
  );
  const int = isIntOperand(a.dtype);
  if (args.scales) {
    check(
      isQuantised(a.dtype),
      op,
      `scales are for int8 or fp8 operands (W8A8), but the operands are ${a.dtype}.`,
      'Quantise A per token (quantizePerToken) and B per column (quantizeWeightsPerChannel).',
    );
    checkBuffer(op, 'scales.a', args.scales.a, { shape: [M], shapeText: `(M,) = (${M},)`, dtypes: ['f32'] });
    checkBuffer(op, 'scales.b', args.scales.b, { shape: [N], shapeText: `(N,) = (${N},)`, dtypes: ['f32'] });
    check(FLOAT_DTYPES.includes(c.dtype), op, `a W8A8 GEMM writes a float output, but 'c' is ${c.dtype}.`);
  } else if (int) {
    check(
      c.dtype === 'i32',
      op,
      `int8 inputs accumulate in int32, so 'c' must be i32 (got ${c.dtype}).`,
      'Pass scales to get a dequantised float output (W8A8).',
    );
    check(
      !args.bias && !args.residual && (args.activation ?? 'none') === 'none' && (args.alpha ?? 1) === 1,
      op,
      'an int32 output takes no epilogue.',
      'Pass scales (W8A8) to fuse a float epilogue.',
    );
  }
  const activation = args.activation ?? 'none';
  check(ACTIVATIONS.includes(activation), op, `activation '${activation}' is not one of ${ACTIVATIONS.join(', ')}.`);
  const alpha = args.alpha ?? 1;
  check(Number.isFinite(alpha), op, `alpha = ${alpha} must be finite.`);
  if (args.bias) checkBuffer(op, 'bias', args.bias, { shape: [N], shapeText: `(N,) = (${N},)`, dtypes: FLOAT_DTYPES });
  if (args.residual)
    checkBuffer(op, 'residual', args.residual, {
      shape: [extent(strideC, M * N)],
      shapeText: `(M, N) = (${M}, ${N})${per}`,
    });
  checkSupported(dev, op, { a, c });
  if (M === 0 || N === 0) return emptyLaunch(dev, op, options.stream);
  // A fused residual holds a (BM, BN) tile and its f32 copy beside the accumulator; activations need temporaries.
  const epilogueBytes =
    (args.residual ? 4 + DTYPE_INFO[args.residual.dtype].bytes : 0) + (activation !== 'none' ? 4 : 0);
  const cfg = { ...chooseGemmConfig(dev.properties, M, N, K, a.dtype, epilogueBytes), ...options.config };
  return dev.launch(
    gemmKernel,
    { grid: [cdiv(M, cfg.BM), cdiv(N, cfg.BN), batch], stream: options.stream },
    {
      a,
      b,
      c,
      bias: args.bias ?? c,
      residual: args.residual ?? c,
      sa: args.scales?.a ?? c,
      sb: args.scales?.b ?? c,
      M,
      N,
      K,
      strideA,
      strideB,
      strideC,
      alpha,
      transA: args.transA ? 1 : 0,
      transB: args.transB ? 1 : 0,
      HAS_BIAS: args.bias ? 1 : 0,
      HAS_RESIDUAL: args.residual ? 1 : 0,
      HAS_SCALES: args.scales ? 1 : 0,
      ACT: ACTIVATIONS.indexOf(activation),
      ...cfg,
    },
  );
}

/** Batched GEMM: `batch` independent problems with element strides (default packed; 0 broadcasts an operand). */
export function batchedGemm(
  dev: Device,
  args: GemmArgs & { batch: number },
  options: LaunchOptions = {},
): LaunchResult {
  return gemm(dev, args, options);
}

/** An empty output launches nothing (as cuBLAS returns at once for m = 0 or n = 0): a zero-cost result. */
export function emptyLaunch(dev: Device, kernel: string, stream?: Stream): LaunchResult {
  const t = (stream ?? dev.defaultStream).timeMs;
  return {
    kernel,
    startMs: t,
    endMs: t,
    ms: 0,
    timing: { ms: 0, bound: 'latency', breakdown: {} },
    cost: {
      kernel,
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
