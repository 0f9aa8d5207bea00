/** Shape helpers shared by the tile language. Shapes are row-major; the last axis varies fastest. */
import { TesseraError } from '../errors';

export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Row-major strides in elements. */
export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** NumPy broadcasting: align right; each pair of dims must be equal or one of them 1. */
export function broadcastShapes(a: Shape, b: Shape, what: string): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new TesseraError(
        'InvalidValue',
        `${what}: shapes [${a.join(', ')}] and [${b.join(', ')}] do not broadcast (axis ${i}: ${da} vs ${db}).`,
        { hint: 'Insert a size-1 axis with expandDims() or reshape() so the axes line up.' },
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

export function normalizeAxis(axis: number, rank: number, what: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new TesseraError('InvalidValue', `${what}: axis ${axis} is out of range for a tile of rank ${rank}.`);
  }
  return a;
}

export function checkShape(shape: Shape, what: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new TesseraError('InvalidValue', `${what}: shape [${shape.join(', ')}] must hold integers ≥ 0.`);
    }
  }
}

/**
 * Copies `src` (shape `from`) broadcast to shape `to` into a new array of the same kind.
 * `from` must already be right-aligned-compatible with `to` (checked by broadcastShapes).
 */
export function broadcastData<T extends Float32Array | Int32Array | Uint8Array>(src: T, from: Shape, to: Shape): T {
  const n = sizeOf(to);
  const out = new (src.constructor as new (n: number) => T)(n);
  if (src.length === 1) {
    out.fill(src[0]! as never);
    return out;
  }
  const rank = to.length;
  const padded = new Array<number>(rank).fill(1);
  for (let i = 0; i < from.length; i++) padded[rank - from.length + i] = from[i]!;
  const srcStrides = stridesOf(padded).map((s, i) => (padded[i] === 1 ? 0 : s));
  const inner = to[rank - 1] ?? 1;
  const innerStride = srcStrides[rank - 1] ?? 0;
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < n; o += inner) {
    let base = 0;
    for (let d = 0; d < rank - 1; d++) base += idx[d]! * srcStrides[d]!;
    if (innerStride === 0) out.fill(src[base]! as never, o, o + inner);
    else out.set(src.subarray(base, base + inner) as never, o);
    for (let d = rank - 2; d >= 0; d--) {
      if (++idx[d]! < to[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}
