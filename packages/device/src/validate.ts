/**
 * Argument checks for the public entry points (runtime, devices, buffers, streams, events, kernel definitions). Every
 * check throws `TesseraError('InvalidValue')` before anything changes, with a message that names the operation and the
 * parameter, says what was passed and what is expected:
 *
 *   alloc: dtype 'toString' is not a dtype; expected one of f32, f16, bf16, …
 *
 * One style for the whole package: `check…(op, param, value)` returns the value, narrowed, or throws.
 */
import { DTYPE_INFO, DTYPES, type DType } from './dtype/dtype';
import { TesseraError } from './errors';

/** Short description of any value for messages: `null`, `string '4'`, `number NaN`, `an array`, `a Float32Array`. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'string') return `string '${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `${typeof v} ${String(v)}`;
  if (typeof v === 'symbol' || typeof v === 'function') return `a ${typeof v}`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name} (host memory)`;
  const name = (v as object).constructor?.name;
  return name && name !== 'Object' ? `a ${name}` : 'an object';
}

/** The InvalidValue error every check throws: "`op`: `param` `problem`". */
export function invalidArgument(op: string, param: string, problem: string, hint?: string): TesseraError {
  return new TesseraError(
    'InvalidValue',
    `${op}: ${param} ${problem}.`,
    hint ? { hint, parameter: param } : { parameter: param },
  );
}

/** A dtype name: an own key of the dtype table (so `toString`, `constructor`, `__proto__` are not dtypes). */
export function checkDType(op: string, param: string, v: unknown): DType {
  if (typeof v === 'string' && Object.hasOwn(DTYPE_INFO, v)) return v as DType;
  const shown = typeof v === 'string' ? `'${v}'` : describeValue(v);
  throw invalidArgument(op, param, `${shown} is not a dtype; expected one of ${DTYPES.join(', ')}`);
}

/** An integer count in `min`..2⁵³ − 1 (element counts, byte counts, offsets). */
export function checkCount(op: string, param: string, v: unknown, min = 0): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= min) return v;
  const why =
    typeof v !== 'number'
      ? `must be an integer ≥ ${min}, got ${describeValue(v)}`
      : Number.isInteger(v) && v >= min
        ? `= ${v} is beyond 2⁵³, where JS numbers stop being exact`
        : `must be an integer ≥ ${min}, got ${v}`;
  throw invalidArgument(op, param, why);
}

/**
 * A shape: one count or an array of counts (integers ≥ 0) whose product is at most 2⁵³ − 1. Returns the dimensions
 * and the element count.
 */
export function checkShape(op: string, param: string, v: unknown): { dims: number[]; count: number } {
  if (typeof v === 'number') return { dims: [checkCount(op, param, v)], count: v };
  if (!Array.isArray(v)) {
    throw invalidArgument(op, param, `must be a count or an array of counts, got ${describeValue(v)}`);
  }
  let count = 1;
  for (let i = 0; i < v.length; i++) {
    const d = v[i];
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw invalidArgument(op, param, `${JSON.stringify(v)} must hold integers ≥ 0; [${i}] is ${describeValue(d)}`);
    }
    count *= d;
  }
  if (!Number.isSafeInteger(count)) {
    throw invalidArgument(op, param, `${JSON.stringify(v)} holds ${count} elements, beyond 2⁵³ − 1`);
  }
  return { dims: [...v], count };
}

/** A finite number ≥ `min` (times, durations). */
export function checkFinite(op: string, param: string, v: unknown, min = Number.NEGATIVE_INFINITY): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= min) return v;
  const range = min === Number.NEGATIVE_INFINITY ? '' : ` ≥ ${min}`;
  throw invalidArgument(op, param, `must be a finite number${range}, got ${describeValue(v)}`);
}

/** An options object: `undefined` stands for `{}`; anything else must be a plain object. */
export function checkOptions<T extends object>(op: string, param: string, v: T | undefined): Partial<T> {
  if (v === undefined) return {};
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw invalidArgument(op, param, `must be an object or omitted, got ${describeValue(v)}`);
  }
  return v;
}

/** An optional boolean option. */
export function checkOptionalBoolean(op: string, param: string, v: unknown): boolean | undefined {
  if (v === undefined || typeof v === 'boolean') return v;
  throw invalidArgument(op, param, `must be true, false or omitted, got ${describeValue(v)}`);
}

/** A non-empty string. */
export function checkName(op: string, param: string, v: unknown): string {
  if (typeof v === 'string' && v.trim() !== '') return v;
  throw invalidArgument(op, param, `must be a non-empty string, got ${describeValue(v)}`);
}

/** An instance of `type` (a DeviceBuffer, Stream, Event, …); `what` names it in the message. */
export function checkInstance<T>(
  op: string,
  param: string,
  v: unknown,
  type: abstract new (...args: never[]) => T,
  what: string,
  hint?: string,
): T {
  if (v instanceof type) return v;
  throw invalidArgument(op, param, `must be ${what}, got ${describeValue(v)}`, hint);
}

/**
 * Host values to convert and copy in (`upload`): a typed array, or an array (or array-like) of numbers. Checks every
 * element of a non-typed array up front, so a bad one copies nothing. Returns the number of values.
 */
export function checkHostValues(op: string, param: string, v: unknown): number {
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return (v as unknown as ArrayLike<number>).length;
  if (v === null || typeof v !== 'object') {
    throw invalidArgument(op, param, `must be an array or typed array of numbers, got ${describeValue(v)}`);
  }
  const a = v as ArrayLike<unknown>;
  const n = a.length;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw invalidArgument(op, param, `must be an array or typed array of numbers, got ${describeValue(v)}`);
  }
  for (let i = 0; i < n; i++) {
    if (typeof a[i] !== 'number') {
      throw invalidArgument(
        op,
        `${param}[${i}]`,
        `is ${describeValue(a[i])}, not a number; nothing was copied`,
        'Convert the values to numbers first (NaN and ±Infinity are numbers and are stored as the dtype does).',
      );
    }
  }
  return n;
}
