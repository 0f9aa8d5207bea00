/**
 * Grouped GEMM: many GEMMs of different sizes in one launch — the MoE expert layer. Group g multiplies rows
 * [offsets[g], offsets[g+1]) of A (rows, K) by its own weight B[g] ((K, N), or (N, K) with transB) into the same rows
 * of C (rows, N). Offsets are host data (as CUTLASS's grouped GEMM takes problem sizes), so timing-only projections
 * can assume a routing without any data. One program per (group, BM-row block) × BN column block. With `scales`
 * (int8 or fp8 operands) it is a W8A8 MoE GEMM: per-row scales of A and per-(group, column) scales of the experts'
 * weights, dequantised in f32 as gemm does (the same `dequantizeBlock`).
 */
import { cdiv, type Device, type DeviceBuffer, type LaunchResult, tileKernel } from '@tessera/device';
import { check, checkBuffer, checkDims, checkSupported, FLOAT_DTYPES, isIntOperand, isQuantised } from './common';
import { chooseGemmConfig } from './config';
import { dequantizeBlock, emptyLaunch, type LaunchOptions } from './gemm';

export const groupedGemmKernel = tileKernel(
  {
    name: 'grouped_gemm',
    uses: { dequantizeBlock },
    params: {
      a: 'ptr',
      b: 'ptr',
      c: 'ptr',
      sa: 'ptr',
      sb: 'ptr',
      offsets: 'i32[]',
      N: 'i32',
      K: 'i32',
      transB: 'constexpr',
      HAS_SCALES: 'constexpr',
      BM: 'constexpr',
      BN: 'constexpr',
      BK: 'constexpr',
    },
  },
  (t, { a, b, c, sa, sb, offsets, N, K, transB, HAS_SCALES, BM, BN, BK }) => {
    // Which group and row block is this program? Scan the host-given offsets (scalars, not device data).
    let block = t.programId(0);
    let g = 0;
    for (; g < offsets.length - 1; g++) {
      const blocks = Math.ceil((offsets[g + 1]! - offsets[g]!) / BM);
      if (block < blocks) break;
      block -= blocks;
    }
    const start = offsets[g]!;
    const rows = offsets[g + 1]! - start;
    const A = t.tensor(a, [rows, K], undefined, start * K); // this group's rows only: blocks clip at its end
    const B = transB ? t.tensor(b, [N, K], undefined, g * N * K) : t.tensor(b, [K, N], undefined, g * K * N);
    const C = t.tensor(c, [rows, N], undefined, start * N);
    const m0 = block * BM;
    const n0 = t.programId(1) * BN;
    const int = a.dtype === 'i8' || a.dtype === 'u8';
    let acc = t.zeros([BM, BN], int ? 'i32' : 'f32');
    for (let k = 0; k < K; k += BK) {
      const bt = transB ? t.loadBlock(B, [n0, k], [BN, BK]).trans() : t.loadBlock(B, [k, n0], [BK, BN]);
      acc = t.dot(t.loadBlock(A, [m0, k], [BM, BK]), bt, acc);
    }
    let out = acc;
    if (HAS_SCALES) {
      const SA = t.tensor(sa, [rows], undefined, start); // this group's rows of A's per-row scales
      const SB = t.tensor(sb, [N], undefined, g * N); // its expert's row of the (groups, N) column scales
      out = dequantizeBlock(t, acc, SA, SB, m0, n0, BM, BN);
    }
    t.storeBlock(C, [m0, n0], out);
  },
);

export interface GroupedGemmArgs {
  /** (rows, K): the rows of every group, concatenated (e.g. tokens permuted by expert). */
  a: DeviceBuffer;
  /** (groups, K, N), or (groups, N, K) with transB. */
  b: DeviceBuffer;
  /** (rows, N). */
  c: DeviceBuffer;
  /** groups + 1 non-decreasing row offsets, offsets[0] = 0, offsets[groups] = rows. */
  offsets: readonly number[];
  N: number;
  K: number;
  transB?: boolean;
  /**
   * W8A8 MoE: quantised A and B (both i8, both fp8e4m3 or both fp8e5m2) with f32 scales: `a` per row of A (rows,),
   * `b` per group (expert) and column (groups, N). C[r, n] = (A·B[g])[r, n] · a[r] · b[g, n], stored to a float c.
   */
  scales?: { a: DeviceBuffer; b: DeviceBuffer };
}

export function groupedGemm(dev: Device, args: GroupedGemmArgs, options: LaunchOptions = {}): LaunchResult {
  const op = 'groupedGemm';
  const { a, b, c, offsets, N, K } = args;
  checkDims(op, { N, K });
  check(Array.isArray(offsets) && offsets.length >= 2, op, 'offsets must list groups + 1 row offsets (at least 2).');
  check(offsets[0] === 0, op, `offsets[0] must be 0, got ${offsets[0]}.`);
  for (let g = 1; g < offsets.length; g++) {
    check(
      Number.isInteger(offsets[g]) && offsets[g]! >= offsets[g - 1]!,
      op,
      `offsets must be non-decreasing integers; offsets[${g}] = ${offsets[g]}.`,
    );
  }
  const groups = offsets.length - 1;
  const rows = offsets[groups]!;
  checkBuffer(op, 'a', a, { shape: [rows, K], shapeText: `(rows, K) = (${rows}, ${K})` });
  checkBuffer(op, 'b', b, {
    shape: [groups, K, N],
    shapeText: `(groups, ${args.transB ? 'N, K' : 'K, N'}) = (${groups}, ${args.transB ? `${N}, ${K}` : `${K}, ${N}`})`,
  });
  checkBuffer(op, 'c', c, { shape: [rows, N], shapeText: `(rows, N) = (${rows}, ${N})` });
  check(a.dtype === b.dtype, op, `'a' is ${a.dtype} but 'b' is ${b.dtype}; both operands must have one dtype.`);
  if (args.scales) {
    check(
      isQuantised(a.dtype),
      op,
      `scales are for int8 or fp8 operands (W8A8), but the operands are ${a.dtype}.`,
      'Quantise A per token (quantizePerToken) and each expert’s B per column (quantizeWeightsPerChannel).',
    );
    checkBuffer(op, 'scales.a', args.scales.a, { shape: [rows], shapeText: `(rows,) = (${rows},)`, dtypes: ['f32'] });
    checkBuffer(op, 'scales.b', args.scales.b, {
      shape: [groups, N],
      shapeText: `(groups, N) = (${groups}, ${N})`,
      dtypes: ['f32'],
    });
    check(FLOAT_DTYPES.includes(c.dtype), op, `a W8A8 GEMM writes a float output, but 'c' is ${c.dtype}.`);
  } else {
    check(
      !isIntOperand(a.dtype) || c.dtype === 'i32',
      op,
      `int8 inputs accumulate in int32, so 'c' must be i32 (got ${c.dtype}).`,
      'Pass scales to get a dequantised float output (W8A8).',
    );
  }
  checkSupported(dev, op, { a, c });
  // Size tiles for the typical group, not the total: many small GEMMs want small row blocks.
  const avgRows = Math.max(1, Math.ceil(rows / Math.max(1, groups)));
  const cfg = { ...chooseGemmConfig(dev.properties, avgRows, N, K, a.dtype), ...options.config };
  let rowBlocks = 0;
  for (let g = 0; g < groups; g++) rowBlocks += Math.ceil((offsets[g + 1]! - offsets[g]!) / cfg.BM);
  if (rowBlocks === 0 || N === 0) return emptyLaunch(dev, 'grouped_gemm', options.stream);
  return dev.launch(
    groupedGemmKernel,
    { grid: [rowBlocks, cdiv(N, cfg.BN)], stream: options.stream },
    {
      a,
      b,
      c,
      sa: args.scales?.a ?? c,
      sb: args.scales?.b ?? c,
      offsets: [...offsets],
      N,
      K,
      transB: args.transB ? 1 : 0,
      HAS_SCALES: args.scales ? 1 : 0,
      ...cfg,
    },
  );
}
