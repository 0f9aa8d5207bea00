/**
 * The host representation of a tile's values, shared by the IR interpreter, the generated code's runtime and the cost
 * analysis: floats (f32/f16/bf16/fp8/tf32) in a Float32Array rounded to their dtype, integers in an Int32Array wrapped
 * to their width, bools in a Uint8Array.
 */
import { isFloat, type TileDType } from '../dtype/dtype';
import { roundBf16Array, roundF16Array } from '../dtype/float-formats';

export type TileData = Float32Array | Int32Array | Uint8Array;
export type Kind = 'float' | 'int' | 'bool';

export function kindOf(d: TileDType): Kind {
  return d === 'bool' ? 'bool' : isFloat(d) ? 'float' : 'int';
}

export function allocTileData(dtype: TileDType, n: number): TileData {
  const k = kindOf(dtype);
  return k === 'float' ? new Float32Array(n) : k === 'int' ? new Int32Array(n) : new Uint8Array(n);
}

/** Rounds / wraps freshly computed values to what `dtype` can hold (float32 storage is already rounded to f32). */
export function finishData(data: TileData, dtype: TileDType): void {
  switch (dtype) {
    case 'f16':
      roundF16Array(data as Float32Array);
      return;
    case 'bf16':
      roundBf16Array(data as Float32Array);
      return;
    case 'i8':
      for (let i = 0; i < data.length; i++) data[i] = (data[i]! << 24) >> 24;
      return;
    case 'u8':
      for (let i = 0; i < data.length; i++) data[i] = data[i]! & 0xff;
      return;
    case 'i16':
      for (let i = 0; i < data.length; i++) data[i] = (data[i]! << 16) >> 16;
      return;
    default:
  }
}
