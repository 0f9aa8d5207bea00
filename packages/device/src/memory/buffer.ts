/**
 * Device memory. An allocation owns (lazily) the bytes; a DeviceBuffer is a typed window onto an allocation, like a
 * `T*` plus a length. Views share their parent's allocation. In timing-only mode allocations never get bytes, so a
 * model can "allocate" 80 GB on an H100 without touching host memory.
 */
import { DTYPE_INFO, type DType, type StorageArray, storageView } from '../dtype/dtype';
import { formatBytes, TesseraError } from '../errors';
import { checkCount, checkDType, checkShape } from '../validate';

/** Host bytes a functional-mode allocation may hold before we refuse with advice to use timing-only mode. */
export const DEFAULT_FUNCTIONAL_HOST_LIMIT = 4 * 1024 ** 3;

/**
 * A copy of an allocation's bytes kept in a backend's own memory (the webgpu backend keeps allocations resident on the
 * GPU between launches). The host bytes stay the allocation's truth for the host: every host access goes through
 * `Allocation.store()`, which first pulls a newer device copy and then marks the host bytes as possibly written.
 */
export interface DeviceCopy {
  /** Writes the device copy into `host` (it is newer than the host bytes). */
  pull(host: SharedArrayBuffer): void;
  /** The allocation is freed: drop the copy. */
  release(): void;
}

let nextAllocationUid = 1;

export class Allocation {
  /** Lazily created backing store; stays null in timing-only mode. */
  private bytes: SharedArrayBuffer | null = null;
  /** Unique in the process (ids are per device). */
  readonly uid = nextAllocationUid++;
  /** Bumped by every host access to the bytes (which may write them): a device copy of an older version is stale. */
  hostVersion = 0;
  /** A backend's copy of the bytes, if one is kept (see DeviceCopy). */
  deviceCopy: DeviceCopy | null = null;
  /** The device copy holds writes the host bytes do not have yet. */
  deviceNewer = false;
  freed = false;
  /** Why the allocation is gone (for use-after-free messages). */
  freedBy: 'free' | 'reset' | null = null;

  constructor(
    readonly id: number,
    readonly byteLength: number,
    /** Bytes charged against the device's capacity (rounded up to the allocation granularity). */
    readonly chargedBytes: number,
    readonly hasData: boolean,
  ) {}

  /** The backing store for a host access: pulls a newer device copy first, then counts the access as a write. */
  store(): SharedArrayBuffer {
    this.touch();
    return this.rawStore();
  }

  /** Brings the host bytes up to date with a newer device copy and marks them as (possibly) written by the host. */
  touch(): void {
    if (this.deviceNewer && this.deviceCopy) {
      this.deviceNewer = false;
      this.deviceCopy.pull(this.rawStore());
    }
    this.hostVersion++;
  }

  /** Drops a device copy (the allocation is freed or the device reset). */
  release(): void {
    const copy = this.deviceCopy;
    this.deviceCopy = null;
    this.deviceNewer = false;
    copy?.release();
  }

  /**
   * The backing store as it is, created zero-filled on first use — for a backend moving bytes to or from its own copy
   * (no pull, no version bump). Everything else uses `store()`.
   */
  rawStore(): SharedArrayBuffer {
    if (!this.hasData) {
      throw new TesseraError('Unsupported', 'This allocation holds no data: the runtime is in timing-only mode.', {
        hint: "Create the runtime with mode: 'functional' to read or write values.",
      });
    }
    if (this.bytes === null) {
      try {
        this.bytes = new SharedArrayBuffer(this.byteLength);
      } catch (e) {
        throw new TesseraError(
          'OutOfMemory',
          `The host could not back a ${formatBytes(this.byteLength)} allocation: ${(e as Error).message}.`,
          { hint: "Model large sizes with mode: 'timing', or keep hostMemoryLimit below the host's memory." },
        );
      }
    }
    return this.bytes;
  }

  /** True once bytes exist (a never-written allocation reads as zeros without being materialised). */
  get materialized(): boolean {
    return this.bytes !== null;
  }
}

/** Identifies the device a buffer belongs to without importing Device (avoids a cycle). */
export interface BufferOwner {
  readonly ordinal: number;
  readonly label: string;
}

let nextBufferId = 1;

export class DeviceBuffer<D extends DType = DType> {
  readonly id: number;
  private cached: StorageArray | null = null;

  constructor(
    readonly owner: BufferOwner,
    readonly allocation: Allocation,
    readonly dtype: D,
    /** Offset of element 0 from the start of the allocation, in bytes. */
    readonly byteOffset: number,
    /** Length in elements. */
    readonly length: number,
    /** Shape the buffer was allocated with (for messages and helpers); `[length]` if none was given. */
    readonly shape: readonly number[],
    readonly parent: DeviceBuffer | null = null,
  ) {
    this.id = nextBufferId++;
  }

  get byteLength(): number {
    return this.length * DTYPE_INFO[this.dtype].bytes;
  }

  get freed(): boolean {
    return this.allocation.freed;
  }

  get isView(): boolean {
    return this.parent !== null;
  }

  /** "buffer #7 (bf16[1024], device 0)" — used in every message about this buffer. */
  describe(): string {
    const view = this.parent ? ` view of #${this.parent.id}` : '';
    return `buffer #${this.id} (${this.dtype}[${this.shape.join('×')}]${view}, ${this.owner.label})`;
  }

  /** Throws the use-after-free error if the buffer's allocation is gone. */
  assertLive(op: string): void {
    if (this.allocation.freed) {
      const how = this.allocation.freedBy === 'reset' ? 'device.reset() released it' : 'it was freed';
      throw new TesseraError('InvalidValue', `${op}: ${this.describe()} can no longer be used: ${how}.`, {
        hint: 'Allocate a new buffer; keep buffers alive until the work that uses them is done.',
        device: this.owner.label,
      });
    }
  }

  /**
   * A sub-range of this buffer, in elements: `buf.view(128, 64)` is elements 128..191. Shares memory with the parent;
   * freeing the parent invalidates it.
   */
  view(offset: number, length?: number, shape?: readonly number[]): DeviceBuffer<D> {
    this.assertLive('view');
    checkCount('view', 'offset', offset);
    const len = length === undefined ? this.length - offset : checkCount('view', 'length', length);
    if (offset + len > this.length || len < 0) {
      throw new TesseraError(
        'InvalidValue',
        `view(${offset}, ${len}) runs past the end of ${this.describe()}: it has ${this.length} elements.`,
        { hint: `Use offset + length ≤ ${this.length}.` },
      );
    }
    const s = shape === undefined ? [len] : checkShape('view', 'shape', shape).dims;
    if (s.reduce((a, b) => a * b, 1) !== len) {
      throw new TesseraError('InvalidValue', `view: shape [${s.join(', ')}] does not hold ${len} elements.`);
    }
    return new DeviceBuffer(
      this.owner,
      this.allocation,
      this.dtype,
      this.byteOffset + offset * DTYPE_INFO[this.dtype].bytes,
      len,
      s,
      this,
    );
  }

  /** Reinterprets the same bytes as another dtype (a bitcast view), like `reinterpret_cast`. */
  as<E extends DType>(dtype: E): DeviceBuffer<E> {
    this.assertLive('as');
    const eb = DTYPE_INFO[checkDType('as', 'dtype', dtype)].bytes;
    if (this.byteLength % eb !== 0 || this.byteOffset % eb !== 0) {
      throw new TesseraError(
        'InvalidValue',
        `Cannot view ${this.describe()} (${this.byteLength} bytes at offset ${this.byteOffset}) as ${dtype}: ` +
          `size and offset must be multiples of ${eb} bytes.`,
      );
    }
    return new DeviceBuffer(
      this.owner,
      this.allocation,
      dtype,
      this.byteOffset,
      this.byteLength / eb,
      [this.byteLength / eb],
      this,
    );
  }

  /** @internal Typed storage (bit patterns) for this window; materialises the allocation. */
  storage(): StorageArray {
    if (this.cached) {
      this.allocation.touch();
      return this.cached;
    }
    const s = storageView(this.dtype, this.allocation.store(), this.byteOffset, this.length);
    this.cached = s;
    return s;
  }

  /** @internal Raw bytes of this window. */
  bytes(): Uint8Array {
    return new Uint8Array(this.allocation.store(), this.byteOffset, this.byteLength);
  }

  toString(): string {
    return this.describe();
  }
}

export function checkHostLimit(bytes: number, limit: number, label: string): void {
  if (bytes > limit) {
    throw new TesseraError(
      'OutOfMemory',
      `Functional mode keeps real data in host memory, and ${formatBytes(bytes)} on ${label} is over this ` +
        `runtime's host limit of ${formatBytes(limit)}.`,
      {
        hint: "Model large sizes with mode: 'timing' (buffers then carry shape and dtype but no data), or raise hostMemoryLimit.",
        device: label,
      },
    );
  }
}

/** Pinned host memory (`runtime.hostAlloc`) counts against the same host limit as functional-mode device memory. */
export function checkPinnedHostLimit(inUse: number, bytes: number, limit: number): void {
  if (inUse + bytes > limit) {
    throw new TesseraError(
      'OutOfMemory',
      `hostAlloc: ${formatBytes(bytes)} of pinned host memory would bring this runtime's host memory to ` +
        `${formatBytes(inUse + bytes)}, over its hostMemoryLimit of ${formatBytes(limit)}.`,
      {
        hint: 'Release pinned arrays you no longer need with runtime.hostFree(array), free device buffers, or raise hostMemoryLimit.',
        requested: bytes,
        inUse,
      },
    );
  }
}
