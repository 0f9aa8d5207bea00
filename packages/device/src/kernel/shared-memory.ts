/**
 * SIMT shared memory: the typed arrays a block shares (`k.shared.<name>`, `k.dynamicShared(…)`), each behind a
 * bounds-checking proxy.
 */
import type { TesseraError } from '../errors';
import type { SharedDType } from './kernel';

/** Raises the fault of an out-of-range shared-array index (the SIMT executor, which knows the block and thread). */
export interface FaultReporter {
  sharedFault(op: 'read' | 'write', name: string, dtype: SharedDType, length: number, key: string): TesseraError;
}

export type SharedArray = Float32Array | Int32Array | Int16Array | Int8Array | Uint8Array;

export function sharedArray(dt: SharedDType, buf: ArrayBuffer, byteOffset: number, len: number): SharedArray {
  switch (dt) {
    case 'f32':
      return new Float32Array(buf, byteOffset, len);
    case 'i32':
      return new Int32Array(buf, byteOffset, len);
    case 'i16':
      return new Int16Array(buf, byteOffset, len);
    case 'i8':
      return new Int8Array(buf, byteOffset, len);
    case 'u8':
      return new Uint8Array(buf, byteOffset, len);
  }
}

export const SHARED_DTYPES: readonly string[] = ['f32', 'i32', 'i16', 'i8', 'u8'];

/** Canonical numeric strings (what `s[-1]`, `s[1.5]`, `s[NaN]` turn into) and `undefined` (`s[i]` with no `i`). */
function isIndexLike(key: string): boolean {
  return key === 'undefined' || key === '-0' || String(Number(key)) === key;
}

/**
 * A shared array as kernel code sees it: the typed array behind a proxy that faults on an out-of-range index, where
 * the typed array would read `undefined` or drop the write without a word. Methods (`fill`, `length`, iteration) act
 * on the typed array; `subarray` views are checked too. Every access pays for the proxy (about 0.1 µs, against about
 * 1 ns for the bare typed array): no cheaper hook exists for `s[i]`. Numeric keys that are not canonical (`'01'`) count
 * as their number; index arithmetic never produces them.
 */
export function checkedShared(raw: SharedArray, dtype: SharedDType, name: string, exec: FaultReporter): SharedArray {
  const len = raw.length;
  let methods: Map<PropertyKey, unknown> | null = null;
  return new Proxy(raw, {
    get(t, key) {
      if (typeof key === 'string') {
        const i = +key;
        if (i >= 0 && i < len && (i | 0) === i) return t[i];
        if (isIndexLike(key)) throw exec.sharedFault('read', name, dtype, len, key);
      }
      const v: unknown = Reflect.get(t, key, t);
      if (typeof v !== 'function') return v;
      methods ??= new Map();
      let m = methods.get(key);
      if (m === undefined) {
        m =
          key === 'subarray'
            ? (begin?: number, end?: number) =>
                checkedShared(t.subarray(begin, end), dtype, `${name}.subarray(${begin}, ${end})`, exec)
            : (v as (...a: unknown[]) => unknown).bind(t);
        methods.set(key, m);
      }
      return m;
    },
    set(t, key, v) {
      if (typeof key === 'string') {
        const i = +key;
        if (i >= 0 && i < len && (i | 0) === i) {
          t[i] = v as number;
          return true;
        }
        if (isIndexLike(key)) throw exec.sharedFault('write', name, dtype, len, key);
      }
      return Reflect.set(t, key, v, t);
    },
  });
}
