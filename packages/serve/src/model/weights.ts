/** Converting host tensors to the arrays a device buffer of the model dtype copies from. */
import { bf16BitsFromF32, type DType, f16BitsFromF32, f32FromBf16Bits, f32FromF16Bits } from '@tessera/device';
import type { HostTensor } from '../types';

/** Values of `t` as a typed array for a `dtype` buffer: Float32Array for f32, raw bits (Uint16Array) for f16/bf16. */
export function toDeviceArray(t: HostTensor, dtype: DType): Float32Array | Uint16Array {
  if (dtype === t.dtype) return t.data;
  const n = t.data.length;
  const f32 =
    t.dtype === 'f32'
      ? (t.data as Float32Array)
      : Float32Array.from(t.data as Uint16Array, t.dtype === 'bf16' ? f32FromBf16Bits : f32FromF16Bits);
  if (dtype === 'f32') return f32;
  const out = new Uint16Array(n);
  const enc = dtype === 'bf16' ? bf16BitsFromF32 : f16BitsFromF32;
  if (dtype !== 'bf16' && dtype !== 'f16') throw new Error(`toDeviceArray: unsupported model dtype ${dtype}.`);
  for (let i = 0; i < n; i++) out[i] = enc(f32[i]!);
  return out;
}
