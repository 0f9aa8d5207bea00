/**
 * Conventions every host function of the library follows:
 *
 *   op(dev, { buffers…, dims…, params… }, { stream, config }) → LaunchResult
 *
 * - Shapes are explicit integers (rows, cols, M, N, K, …), as cuBLAS/aclnn take them; buffers are row-major.
 * - Inputs are validated before anything launches; errors are `TesseraError('InvalidValue')` whose message starts
 *   with the operator's name, names the operand, and gives the expected shape or dtype.
 * - Float operators accept f32, f16 and bf16 (compute in f32 inside the kernel, store in the output's dtype).
 * - Tile sizes come from the device's properties (see config.ts); `config` overrides them.
 */
import { type DeviceBuffer, type DType, type Stream, TesseraError } from '@tessera/device';

export const FLOAT_DTYPES: readonly DType[] = ['f32', 'f16', 'bf16'];

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
