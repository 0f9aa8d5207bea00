/**
 * Aliasing rules for host functions. An output may share memory with an input only where the kernel is written for
 * it: exactly in place (same first element, same element size, same extent — each program reads an element before it
 * writes the same element), and only for operators that allow that. Any other overlap would let one program
 * overwrite data another has not read yet, so it is rejected before launch.
 */
import { type DeviceBuffer, DTYPE_INFO } from '@tessera/device';
import { check } from './common';

/** An operand and the number of elements the operator touches. */
export type Extent = readonly [name: string, buffer: DeviceBuffer, elements: number];

/**
 * Throws `InvalidValue` if `out` and `input` overlap, unless `inPlace` is allowed and they cover exactly the same
 * elements.
 */
export function checkAliasing(op: string, out: Extent, input: Extent, inPlace: boolean): void {
  const [on, ob, oc] = out;
  const [xn, xb, xc] = input;
  if (ob.allocation !== xb.allocation || oc === 0 || xc === 0) return;
  const o0 = ob.byteOffset;
  const o1 = o0 + oc * DTYPE_INFO[ob.dtype].bytes;
  const x0 = xb.byteOffset;
  const x1 = x0 + xc * DTYPE_INFO[xb.dtype].bytes;
  if (o1 <= x0 || x1 <= o0) return;
  const same = o0 === x0 && o1 === x1 && DTYPE_INFO[ob.dtype].bytes === DTYPE_INFO[xb.dtype].bytes;
  check(
    inPlace && same,
    op,
    inPlace
      ? `'${on}' partly overlaps '${xn}'; it must be exactly '${xn}' (in place) or not overlap it.`
      : `'${on}' overlaps '${xn}'; this operator cannot run in place.`,
    'Write the result to a separate buffer.',
  );
}
