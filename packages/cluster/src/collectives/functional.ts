/**
 * What collectives compute, on real data. Reductions accumulate in float64 over ranks 0, 1, …, n−1 and round once to
 * the buffer's dtype, so every algorithm gives the same, exact answer: the result equals a single-device reference
 * computed the same way (a real ring or tree rounds per step; we model its time, not its rounding).
 */
import { bitsDecoder, bitsEncoder, castScalar, type DeviceBuffer, noteDeviceWrite } from '@tessera/device';

export type ReduceOp = 'sum' | 'prod' | 'max' | 'min' | 'avg';
export const REDUCE_OPS: readonly ReduceOp[] = ['sum', 'prod', 'max', 'min', 'avg'];

/** Reads `count` elements of `buf` from element `offset` as numbers. */
export function readValues(buf: DeviceBuffer, offset: number, count: number): Float64Array {
  const st = buf.storage();
  const dec = bitsDecoder(buf.dtype);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const v = st[offset + i]!;
    out[i] = dec ? dec(v) : v;
  }
  return out;
}

/** Writes numbers into `buf` at element `offset`, converted to its dtype. */
export function writeValues(buf: DeviceBuffer, offset: number, values: ArrayLike<number>): void {
  const st = buf.storage();
  const enc = bitsEncoder(buf.dtype);
  for (let i = 0; i < values.length; i++) {
    const x = castScalar(values[i]!, buf.dtype);
    st[offset + i] = enc ? enc(x) : x;
  }
  noteDeviceWrite(buf, offset, values.length); // the sanitizer's initcheck: these elements now hold values
}

/** Elementwise reduction of per-rank slices, rank order, in float64. */
export function reduceSlices(slices: readonly Float64Array[], op: ReduceOp): Float64Array {
  const out = Float64Array.from(slices[0]!);
  for (let r = 1; r < slices.length; r++) {
    const s = slices[r]!;
    for (let i = 0; i < out.length; i++) {
      const a = out[i]!;
      const b = s[i]!;
      out[i] =
        op === 'sum' || op === 'avg' ? a + b : op === 'prod' ? a * b : op === 'max' ? (b > a ? b : a) : b < a ? b : a;
    }
  }
  if (op === 'avg') for (let i = 0; i < out.length; i++) out[i]! /= slices.length;
  return out;
}
