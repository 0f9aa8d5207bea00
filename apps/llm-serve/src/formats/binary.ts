/**
 * File access shared by the readers: positioned reads of just the byte ranges a format needs (never the whole file
 * into one buffer), straight into the typed array that becomes a tensor, and the small dtype helpers they share.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { HostTensor, WeightDType } from '@tessera/serve';
import { ModelFormatError, ModelLoadError } from '../errors';

/** readSync moves at most ~2 GiB per call; larger tensors are read in slices of this size. */
const MAX_READ = 1 << 30;

/** Bytes per element of the dtypes a HostTensor may hold. */
export const DTYPE_BYTES: Record<WeightDType, number> = { f32: 4, f16: 2, bf16: 2 };

/**
 * A ModelFormatError naming the file, the field and the limit; `tensor` also lands in `details.tensor` (as
 * ModelLoadError reports it) when the problem is one tensor's.
 */
export function formatError(
  file: string,
  field: string,
  message: string,
  options: { limit?: string; hint?: string; tensor?: string } = {},
): ModelFormatError {
  const err = new ModelFormatError(message, { file, field, limit: options.limit, hint: options.hint });
  if (options.tensor !== undefined) err.details.tensor = options.tensor;
  return err;
}

/** A value from a file for an error message: bigints, long strings and long arrays shown safely and briefly. */
export function showValue(v: unknown): string {
  if (typeof v === 'bigint') return `${v}`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}…` : s;
}

/**
 * The one bound every header count goes through: `count` entries of at least `minBytes` each must fit in the
 * `bytesLeft` bytes that follow, checked before anything is allocated or iterated. Works on u64 counts (bigint) with
 * no precision loss; returns the count as a number (then necessarily below 2^53).
 */
export function checkCount(
  count: number | bigint,
  minBytes: number,
  bytesLeft: number,
  where: { file: string; field: string; what?: string },
): number {
  const fits =
    typeof count === 'bigint'
      ? count >= 0n && count * BigInt(minBytes) <= BigInt(Math.max(0, bytesLeft))
      : Number.isSafeInteger(count) && count >= 0 && count * minBytes <= bytesLeft;
  if (!fits) {
    throw formatError(
      where.file,
      where.field,
      `${where.what ?? where.field} ${count} cannot fit in the ${Math.max(0, bytesLeft)} bytes left (corrupt or truncated).`,
      { limit: `${Math.floor(Math.max(0, bytesLeft) / minBytes)} entries of at least ${minBytes} bytes` },
    );
  }
  return Number(count);
}

/** Every format here is little-endian, and typed arrays use the host's byte order: refuse the (rare) big-endian host. */
function assertLittleEndianHost(): void {
  if (os.endianness() !== 'LE') throw new ModelLoadError('Model files can only be read on a little-endian host.');
}

/** An open file read by offset. Close it with close() (use withFile to make that automatic). */
export class RandomAccessFile {
  readonly fd: number;
  readonly size: number;

  constructor(readonly path: string) {
    assertLittleEndianHost();
    try {
      this.fd = fs.openSync(path, 'r');
    } catch (e) {
      throw new ModelLoadError(`Cannot open ${path}: ${(e as Error).message}`, { file: path });
    }
    this.size = fs.fstatSync(this.fd).size;
  }

  /** Fills `dest` with the bytes at [offset, offset + dest.length); the caller has checked the range is in the file. */
  readInto(offset: number, dest: Uint8Array): void {
    if (!(offset >= 0 && offset + dest.length <= this.size)) {
      throw formatError(
        this.path,
        'offset',
        `read of ${dest.length} bytes at offset ${offset} runs past the end of the file (${this.size} bytes).`,
        { limit: `${this.size} bytes` },
      );
    }
    let done = 0;
    while (done < dest.length) {
      const want = Math.min(MAX_READ, dest.length - done);
      const got = fs.readSync(this.fd, dest, done, want, offset + done);
      if (got <= 0) {
        throw new ModelLoadError(`${this.path}: unexpected end of file at offset ${offset + done}.`, {
          file: this.path,
        });
      }
      done += got;
    }
  }

  /** The bytes at [offset, offset + length) in a fresh Buffer. */
  read(offset: number, length: number): Buffer {
    const b = Buffer.alloc(length);
    this.readInto(offset, b);
    return b;
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** Opens `path`, runs `fn`, and closes the file whatever happens. */
export function withFile<T>(path: string, fn: (f: RandomAccessFile) => T): T {
  const f = new RandomAccessFile(path);
  try {
    return fn(f);
  } finally {
    f.close();
  }
}

/** Product of a shape's dims (1 for a scalar). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** A zeroed tensor of `dtype` and `shape` (f32 values or raw 16-bit patterns). */
export function allocTensor(dtype: WeightDType, shape: number[]): HostTensor {
  const n = numel(shape);
  return { dtype, shape, data: dtype === 'f32' ? new Float32Array(n) : new Uint16Array(n) };
}

/** Reads a tensor of `dtype`/`shape` stored little-endian at `offset` of `file`, straight into its typed array. */
export function readTensor(file: RandomAccessFile, offset: number, dtype: WeightDType, shape: number[]): HostTensor {
  const t = allocTensor(dtype, shape);
  file.readInto(offset, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return t;
}

/** The bytes of a tensor's data (a view, not a copy). */
export function tensorBytes(t: HostTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Checks a tensor's data length matches its shape and dtype (writers call this: a mismatch is a caller bug). */
export function assertTensorConsistent(name: string, t: HostTensor): void {
  const n = numel(t.shape);
  const okArray = t.dtype === 'f32' ? t.data instanceof Float32Array : t.data instanceof Uint16Array;
  if (!okArray || t.data.length !== n) {
    throw new Error(
      `Tensor ${name}: dtype ${t.dtype} with shape [${t.shape.join(', ')}] needs ${n} elements in a ` +
        `${t.dtype === 'f32' ? 'Float32Array' : 'Uint16Array'}, got ${t.data.constructor.name}(${t.data.length}).`,
    );
  }
}

/** "[a, b]" for error messages. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Rounds `n` up to a multiple of `align`. */
export function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}
