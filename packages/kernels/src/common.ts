/**
 * Conventions every host function of the library follows:
 *
 *   op(dev, { buffers…, dims…, params… }, { stream, config }) → LaunchResult
 *
 * - Shapes are explicit integers (rows, cols, M, N, K, …), as cuBLAS/aclnn take them; buffers are row-major.
 * - Inputs are validated before anything launches; errors are `TesseraError('InvalidValue')` whose message starts
 *   with the operator's name, names the operand, and gives the expected shape or dtype (`Unsupported` for a dtype the
 *   device does not have, e.g. fp8 on Ascend).
 * - Float operators accept f32, f16 and bf16 (compute in f32 inside the kernel, store in the output's dtype).
 * - Tile sizes come from the device's properties (see config.ts); `config` overrides them.
 */
import {
  type Device,
  type DeviceBuffer,
  DTYPE_INFO,
  type DType,
  isFp8,
  type Stream,
  TesseraError,
} from '@tessera/device';

export const FLOAT_DTYPES: readonly DType[] = ['f32', 'f16', 'bf16'];

/** Quantised operand dtypes of W8A8 GEMMs and of per-token quantisation's output. */
export const QUANT_DTYPES: readonly DType[] = ['i8', 'fp8e4m3', 'fp8e5m2'];

/** True for 8-bit integer GEMM operands (they accumulate in i32). */
export function isIntOperand(d: DType): boolean {
  return d === 'i8' || d === 'u8';
}

/** True for operands a W8A8 GEMM dequantises with scales: int8 or fp8. */
export function isQuantised(d: DType): boolean {
  return isIntOperand(d) || isFp8(d);
}

export interface OpOptions {
  stream?: Stream;
}

/** Throws `InvalidValue` with `op: message` unless `cond` holds. */
export function check(cond: boolean, op: string, message: string, hint?: string): asserts cond {
  if (!cond) throw new TesseraError('InvalidValue', `${op}: ${message}`, hint ? { hint } : {});
}

/** Checks that every named dimension is an integer ≥ `min` (default 0). */
export function checkDims(op: string, dims: Record<string, number>, min = 0): void {
  for (const [name, v] of Object.entries(dims)) {
    check(Number.isInteger(v) && v >= min, op, `${name} = ${v} must be an integer ≥ ${min}.`);
  }
}

/**
 * Checks a buffer operand: present, holding at least `elements` elements (the product of `shape`), and of one of
 * `dtypes`. `shapeText` describes the expected shape for the message, e.g. "(rows, cols) = (4, 30)".
 */
export function checkBuffer(
  op: string,
  name: string,
  buf: DeviceBuffer | undefined,
  opts: { shape?: readonly number[]; shapeText?: string; dtypes?: readonly DType[] },
): asserts buf is DeviceBuffer {
  check(
    buf !== undefined && buf !== null && typeof (buf as DeviceBuffer).dtype === 'string',
    op,
    `operand '${name}' is missing.`,
  );
  if (opts.dtypes) {
    check(opts.dtypes.includes(buf.dtype), op, `'${name}' is ${buf.dtype}; expected ${opts.dtypes.join(' or ')}.`);
  }
  if (opts.shape) {
    const need = opts.shape.reduce((a, b) => a * b, 1);
    const text = opts.shapeText ?? `[${opts.shape.join(', ')}]`;
    check(buf.length >= need, op, `'${name}' holds ${buf.length} elements, but ${text} needs ${need}.`);
  }
}

/**
 * Throws `Unsupported` unless the device has every named operand's dtype (Ascend 910B/910C have no fp8: neither the
 * dtype nor a Cube rate for it). The launch would refuse too; this names the operator and the operand first.
 * `fp8Hint` is the alternative the hint offers for an fp8 operand (the default suits W8A8 GEMMs).
 */
export function checkSupported(
  dev: Device,
  op: string,
  operands: Record<string, DeviceBuffer>,
  fp8Hint = 'Use int8 W8A8 instead (quantizePerToken to i8, quantizeWeightsPerChannel, gemm with scales) or bf16',
): void {
  for (const [name, buf] of Object.entries(operands)) {
    const d = buf.dtype;
    if (dev.properties.dtypes.includes(d)) continue;
    throw new TesseraError(
      'Unsupported',
      `${op}: '${name}' is ${d} (${DTYPE_INFO[d].label}), which ${dev.properties.name} does not support.`,
      {
        device: dev.label,
        hint: `${isFp8(d) ? `${fp8Hint}; ` : ''}this device supports ${dev.properties.dtypes.join(', ')}.`,
      },
    );
  }
}

/** Checks that two operands share a dtype. */
export function checkSameDType(op: string, a: [string, DeviceBuffer], b: [string, DeviceBuffer]): void {
  check(
    a[1].dtype === b[1].dtype,
    op,
    `'${a[0]}' is ${a[1].dtype} but '${b[0]}' is ${b[1].dtype}; they must match.`,
    'Cast one of them first.',
  );
}

/** Smallest power of two ≥ x (≥ 1). */
export function nextPow2(x: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, x)));
}
