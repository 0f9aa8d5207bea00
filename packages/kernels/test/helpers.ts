/** Small helpers the operator tests share. */
import { type Device, type DeviceBuffer, type DType, isTesseraError } from '@tessera/device';
import { randomArray } from '@tessera/device/testing';

export const FLOATS = ['f32', 'f16', 'bf16'] as const;

/** The message of the error `fn` throws ('' if it does not throw). */
export function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return isTesseraError(e) ? e.message : String(e);
  }
  return '';
}

/**
 * Allocates an `n`-element buffer of `dtype` holding random values in [lo, hi) from `seed`, and returns it with the
 * values it actually stores (rounded to the dtype), which is what a reference must be computed from.
 */
export function randomBuffer(
  dev: Device,
  dtype: DType,
  n: number,
  seed: number,
  lo = -1,
  hi = 1,
): [DeviceBuffer, Float64Array] {
  const buf = dev.alloc(dtype, Math.max(1, n));
  dev.upload(buf, randomArray(n, seed, lo, hi));
  return [buf, Float64Array.from(dev.download(buf)).subarray(0, n)];
}

/** An `n`-element output buffer poisoned with NaN, so an element the kernel forgets to write fails the comparison. */
export function poisoned(dev: Device, dtype: DType, n: number): DeviceBuffer {
  const buf = dev.alloc(dtype, Math.max(1, n));
  dev.fill(buf, Number.NaN);
  return buf;
}

/** The first `n` stored values of `buf`. */
export function read(dev: Device, buf: DeviceBuffer, n: number): Float64Array {
  return Float64Array.from(dev.download(buf)).subarray(0, n);
}

/**
 * Error function in float64 for references (JavaScript has no Math.erf): the Maclaurin series for |x| ≤ 3.5 (its
 * largest term is ~10⁴, so ~1e-12 accuracy), and the asymptotic series of erfc beyond (absolute error < 1e-10).
 */
export function erf64(x: number): number {
  const ax = Math.abs(x);
  if (ax <= 3.5) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 100 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (-x * x) / n;
      sum += term / (2 * n + 1);
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) ~ e^{−x²}/(x√π) · Σ (−1)^k (2k−1)!! / (2x²)^k
  let term = 1;
  let sum = 1;
  for (let k = 1; k < 8; k++) {
    term *= -(2 * k - 1) / (2 * ax * ax);
    sum += term;
  }
  const erfc = (Math.exp(-ax * ax) / (ax * Math.sqrt(Math.PI))) * sum;
  return Math.sign(x) * (1 - erfc);
}

/**
 * Paged-attention arguments for a timing-only decode step: `seqs` sequences of one query token each over `ctx`
 * cached tokens, every block table in range, the cache in `cacheDtype` (fp8 caches get per-tensor scales). Nothing
 * is filled: on a timing-only device buffers only exist to be sized. `keyCache === valueCache` unless `separate`.
 */
export function decodeStep(
  dev: Device,
  s: { seqs: number; ctx: number; heads: number; kvHeads: number; headDim: number; blockSize: number },
  cacheDtype: DType = 'bf16',
  separate = false,
) {
  const maxBlocksPerSeq = Math.ceil(s.ctx / s.blockSize);
  const cache = () => dev.alloc(cacheDtype, s.seqs * maxBlocksPerSeq * s.blockSize * s.kvHeads * s.headDim);
  const keyCache = cache();
  const q = dev.alloc('bf16', s.seqs * s.heads * s.headDim);
  return {
    q,
    keyCache,
    valueCache: separate ? cache() : keyCache,
    blockTables: dev.alloc('i32', s.seqs * maxBlocksPerSeq),
    out: q,
    queryLens: new Array<number>(s.seqs).fill(1),
    contextLens: new Array<number>(s.seqs).fill(s.ctx),
    maxBlocksPerSeq,
    blockSize: s.blockSize,
    heads: s.heads,
    kvHeads: s.kvHeads,
    headDim: s.headDim,
    ...(cacheDtype === 'fp8e4m3' || cacheDtype === 'fp8e5m2' ? { kScale: 0.05, vScale: 0.05 } : {}),
  };
}
