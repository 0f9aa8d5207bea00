/**
 * A simulated device: memory with capacity accounting, streams and events on a modelled timeline, copies, and kernel
 * launches. Names follow the CUDA runtime (and AscendCL, which mirrors it): `malloc`/`free`, `memcpyHtoD`,
 * `memset`, `createStream`, `createEvent`, `synchronize`, `getLastError`.
 *
 * Error model: host-side misuse throws at once and changes nothing. A fault inside a kernel (illegal address,
 * launch failure) is sticky: every later call on this device throws until `reset()`, as a CUDA context does.
 */
import { bitsDecoder, bitsEncoder, castScalar, DTYPE_INFO, type DType, type HostArray, isFloat } from '../dtype/dtype';
import { formatBytes, isTesseraError, TesseraError } from '../errors';
import type { CostRecord } from '../kernel/cost';
import type { ExecMode } from '../kernel/execute';
import { executeLaunch, launchHooks } from '../kernel/execute';
import { type Kernel, validateArgs } from '../kernel/kernel';
import { Allocation, checkHostLimit, DeviceBuffer } from '../memory/buffer';
import {
  checkCount,
  checkDType,
  checkFinite,
  checkHostValues,
  checkInstance,
  checkName,
  checkOptionalBoolean,
  checkOptions,
  checkShape,
  describeValue,
  invalidArgument,
} from '../validate';
import type { Backend, CopyKind, KernelMeasurement, KernelTiming } from './backend';
import { checkKernel, checkLaunchConfig, type Dim3 } from './launch-config';
import { memoryEvents } from './memory-events';
import type { Activity } from './profiler';
import type { DeviceProperties } from './properties';
import { Event, Stream, type TimelineOwner } from './stream';

/** What a device needs from its runtime. */
export interface DeviceHost {
  readonly backend: Backend;
  readonly mode: ExecMode;
  readonly hostMemoryLimit: number;
  hostTimeMs: number;
  isPinned(a: ArrayBufferView): boolean;
  recordActivity(a: Activity): void;
  /** Total host bytes held by functional-mode allocations across devices. */
  hostBytesInUse: number;
}

export interface LaunchConfig {
  /** Programs (tile) or blocks (SIMT): a number or up to three dimensions. */
  grid: number | readonly number[];
  /** Threads per block, SIMT kernels only. */
  block?: number | readonly number[];
  /** Dynamic shared memory per block in bytes (SIMT). */
  sharedMemBytes?: number;
  stream?: Stream;
  /**
   * SIMT kernels: the warp-level cost (coalescing, bank conflicts, divergence, atomics) from every block and loop
   * iteration instead of a sample (also `TESSERA_COST_EXACT=1`; see execute.ts). Both execution modes sample alike.
   */
  exact?: boolean;
}

export interface LaunchResult {
  kernel: string;
  startMs: number;
  endMs: number;
  /** Modelled duration. */
  ms: number;
  timing: KernelTiming;
  cost: CostRecord;
  /** What the backend measured on real hardware (backends with an executor, e.g. `webgpu`); absent on simulators. */
  measured?: KernelMeasurement;
}

export interface CopyOptions {
  stream?: Stream;
}

/** Which typed array carries each dtype's bits. */
const HOST_VIEW: Record<DType, string> = {
  f32: 'Float32Array',
  f16: 'Uint16Array',
  bf16: 'Uint16Array',
  i32: 'Int32Array',
  i16: 'Int16Array',
  i8: 'Int8Array',
  u8: 'Uint8Array',
  fp8e4m3: 'Uint8Array',
  fp8e5m2: 'Uint8Array',
};

export class Device implements TimelineOwner {
  readonly label: string;
  readonly defaultStream: Stream;
  private readonly engines: Record<string, number> = {};
  private readonly allocations = new Set<Allocation>();
  private usedBytes = 0;
  private nextAllocationId = 1;
  private sticky: TesseraError | null = null;
  private lastError: TesseraError | null = null;
  private readonly streams = new Set<Stream>();
  /** The stream work goes to when it names none (withStream); null: the default stream. */
  private current: Stream | null = null;
  private readonly timingCache = new Map<string, { cost: CostRecord; timing: KernelTiming }>();

  constructor(
    private readonly host: DeviceHost,
    readonly ordinal: number,
    readonly properties: DeviceProperties,
  ) {
    this.label = `${properties.id}:${ordinal}`;
    this.defaultStream = new Stream(this, 0);
    this.streams.add(this.defaultStream);
  }

  get backend(): Backend {
    return this.host.backend;
  }

  /** The runtime this device belongs to. */
  get runtime(): DeviceHost {
    return this.host;
  }

  get mode(): ExecMode {
    return this.host.mode;
  }

  // ------------------------------------------------------------------ error state

  /**
   * Runs `fn` on a usable device, recording any TesseraError as the last error. Only a fault of this device's own
   * kernel makes it sticky (see `launch`): an error about another device (a failed peer in memcpyDtoD) does not.
   */
  private guard<T>(op: string, fn: () => T): T {
    this.assertUsable(op);
    try {
      return fn();
    } catch (e) {
      if (isTesseraError(e)) this.lastError = e;
      throw e;
    }
  }

  /** @internal Throws if a kernel fault has left the device unusable. */
  assertUsable(op: string): void {
    if (this.sticky) {
      throw new TesseraError(
        this.sticky.code,
        `${op}: ${this.label} is unusable after an earlier fault (${this.sticky.message.split('. ')[0]}).`,
        {
          hint: 'Call device.reset() to recover; it releases every allocation on the device, as cudaDeviceReset does.',
          device: this.label,
        },
      );
    }
  }

  /** Returns and clears the last error (`cudaGetLastError`); a sticky fault stays until reset. */
  getLastError(): TesseraError | null {
    const e = this.lastError;
    this.lastError = this.sticky;
    return e;
  }

  /** Returns the last error without clearing it (`cudaPeekAtLastError`). */
  peekAtLastError(): TesseraError | null {
    return this.lastError;
  }

  /**
   * Marks the device as failed (fault injection, `@tessera/cluster`): every later call throws `LaunchFailure` with
   * `reason` until `reset()`, as a lost GPU or NPU would.
   */
  fail(reason: string): void {
    checkName('device.fail', 'reason', reason);
    const e = new TesseraError('LaunchFailure', `${this.label} has failed: ${reason}.`, {
      hint: 'Leave this device out (split the communicator), or call device.reset() to bring it back.',
      device: this.label,
    });
    this.sticky = e;
    this.lastError = e;
  }

  /** True while a fault (a kernel fault or an injected failure) makes the device unusable. */
  get failed(): boolean {
    return this.sticky !== null;
  }

  /** Destroys all state: frees every allocation, streams and the sticky error (`cudaDeviceReset`). */
  reset(): void {
    for (const a of this.allocations) {
      a.freed = true;
      a.release();
      a.freedBy = 'reset';
      if (a.hasData) this.host.hostBytesInUse -= a.byteLength;
    }
    this.allocations.clear();
    this.usedBytes = 0;
    for (const s of this.streams) if (s.id !== 0) s.destroyed = true;
    this.streams.clear();
    this.streams.add(this.defaultStream);
    this.current = null;
    this.sticky = null;
    this.lastError = null;
    this.timingCache.clear();
  }

  // ------------------------------------------------------------------ timeline

  hostTime(): number {
    return this.host.hostTimeMs;
  }

  waitHost(ms: number): void {
    if (ms > this.host.hostTimeMs) this.host.hostTimeMs = ms;
  }

  private streamOf(s: Stream | undefined, op: string): Stream {
    if (s === undefined) return this.current ?? this.defaultStream;
    checkInstance(op, 'stream', s, Stream, 'a Stream of this device', 'Omit it for the default stream.');
    s.assertUsable(op, this);
    return s;
  }

  /**
   * For runtime extensions that span devices (collectives in `@tessera/cluster`): the earliest modelled time work on
   * `stream` using `engine` could start. Checks that the device is usable and the stream is its own.
   */
  readyTime(stream: Stream | undefined, engine: string, op = 'collective'): number {
    this.assertUsable(op);
    checkName(op, 'engine', engine);
    const st = this.streamOf(stream, op);
    return Math.max(st.timeMs, this.engines[engine] ?? 0, this.host.hostTimeMs);
  }

  /**
   * For runtime extensions: occupies `engine` and `stream` from `startMs` for `ms` (a collective starts at the same
   * moment on every rank) and records the activity. Returns the interval.
   */
  occupy(
    stream: Stream | undefined,
    engine: string,
    startMs: number,
    ms: number,
    a: Omit<Activity, 'device' | 'deviceOrdinal' | 'stream' | 'startMs' | 'endMs'>,
  ): { startMs: number; endMs: number } {
    const op = `${a?.name ?? '?'} (occupy)`;
    checkName(op, 'engine', engine);
    checkFinite(op, 'startMs', startMs, 0);
    checkFinite(op, 'ms', ms, 0);
    const st = this.streamOf(stream, op);
    const endMs = startMs + ms;
    st.timeMs = Math.max(st.timeMs, endMs);
    this.engines[engine] = Math.max(this.engines[engine] ?? 0, endMs);
    this.host.recordActivity({ ...a, device: this.label, deviceOrdinal: this.ordinal, stream: st.id, startMs, endMs });
    return { startMs, endMs };
  }

  private schedule(
    stream: Stream,
    engine: string,
    ms: number,
    a: Omit<Activity, 'device' | 'deviceOrdinal' | 'stream' | 'startMs' | 'endMs'>,
  ) {
    const startMs = Math.max(stream.timeMs, this.engines[engine] ?? 0, this.host.hostTimeMs);
    const endMs = startMs + ms;
    stream.timeMs = endMs;
    this.engines[engine] = endMs;
    this.host.recordActivity({
      ...a,
      device: this.label,
      deviceOrdinal: this.ordinal,
      stream: stream.id,
      startMs,
      endMs,
    });
    return { startMs, endMs };
  }

  /** Blocks the modelled host until all work on every stream of this device is done: `cudaDeviceSynchronize`. */
  synchronize(): void {
    this.guard('device.synchronize', () => {
      let t = 0;
      for (const s of this.streams) t = Math.max(t, s.timeMs);
      this.waitHost(t);
    });
  }

  createStream(): Stream {
    return this.guard('createStream', () => {
      const s = new Stream(this);
      this.streams.add(s);
      return s;
    });
  }

  /**
   * Runs `fn` with `stream` as the stream that launches, copies and collectives on this device use when they name
   * none — PyTorch's `with torch.cuda.stream(s):`. Nests; the previous stream is restored when `fn` returns or throws.
   */
  withStream<T>(stream: Stream, fn: () => T): T {
    const s = this.streamOf(stream, 'withStream');
    const before = this.current;
    this.current = s;
    try {
      return fn();
    } finally {
      this.current = before;
    }
  }

  /** `timing: false` makes a lighter event that cannot measure time, as `cudaEventDisableTiming`. */
  createEvent(options?: { timing?: boolean }): Event {
    return this.guard('createEvent', () => {
      const o = checkOptions('createEvent', 'options', options);
      return new Event(this, checkOptionalBoolean('createEvent', 'options.timing', o.timing) ?? true);
    });
  }

  // ------------------------------------------------------------------ memory

  /** Free and total device memory in bytes (`cudaMemGetInfo`). */
  memGetInfo(): { free: number; total: number } {
    return { free: this.properties.memoryBytes - this.usedBytes, total: this.properties.memoryBytes };
  }

  /** Allocates `shape` (or `count`) elements of `dtype`. Contents start zeroed. */
  alloc<D extends DType>(dtype: D, shape: number | readonly number[]): DeviceBuffer<D> {
    return this.guard('alloc', () => {
      checkDType('alloc', 'dtype', dtype);
      const { dims, count } = checkShape('alloc', 'shape', shape);
      return this.allocate(dtype, dims, count);
    });
  }

  /** Allocates `bytes` untyped bytes (a `u8` buffer; reinterpret with `.as(dtype)`), like `cudaMalloc`. */
  malloc(bytes: number): DeviceBuffer<'u8'> {
    return this.guard('malloc', () => this.allocate('u8', [checkCount('malloc', 'bytes', bytes)], bytes));
  }

  private allocate<D extends DType>(dtype: D, dims: number[], count: number): DeviceBuffer<D> {
    const bytes = count * DTYPE_INFO[dtype].bytes;
    const gran = this.backend.allocationGranularity(this.properties);
    const charged = Math.max(gran, Math.ceil(bytes / gran) * gran);
    const free = this.properties.memoryBytes - this.usedBytes;
    if (!(charged <= free)) {
      throw new TesseraError(
        'OutOfMemory',
        `Out of memory on ${this.label} (${this.properties.name}): requested ${formatBytes(bytes)}, ` +
          `${formatBytes(free)} free of ${formatBytes(this.properties.memoryBytes)}.`,
        {
          hint: 'Free buffers you no longer need, use a smaller batch or shard the tensor across devices, or pick a device with more memory.',
          device: this.label,
          requested: bytes,
          free,
        },
      );
    }
    const hasData = this.host.mode === 'functional';
    if (hasData) checkHostLimit(this.host.hostBytesInUse + bytes, this.host.hostMemoryLimit, this.label);
    const a = new Allocation(this.nextAllocationId++, bytes, charged, hasData);
    memoryEvents.current?.allocated(a);
    this.allocations.add(a);
    this.usedBytes += charged;
    if (hasData) this.host.hostBytesInUse += bytes;
    return new DeviceBuffer(this, a, dtype, 0, count, dims);
  }

  /** Frees an allocation (`cudaFree`). Freeing twice, or freeing a view, is an error. */
  free(buffer: DeviceBuffer): void {
    this.guard('free', () => {
      this.checkOwn(buffer, 'free');
      if (buffer.allocation.freed) {
        throw new TesseraError('InvalidValue', `free: ${buffer.describe()} was already freed (double free).`, {
          hint: 'Free each allocation once; set your reference to null after freeing it.',
        });
      }
      if (buffer.isView) {
        throw new TesseraError(
          'InvalidValue',
          `free: ${buffer.describe()} is a view; free the allocation it came from.`,
        );
      }
      const a = buffer.allocation;
      a.freed = true;
      a.release();
      a.freedBy = 'free';
      this.allocations.delete(a);
      this.usedBytes -= a.chargedBytes;
      if (a.hasData) this.host.hostBytesInUse -= a.byteLength;
    });
  }

  private checkOwn(buffer: DeviceBuffer, op: string, param = 'buffer'): void {
    checkInstance(op, param, buffer, DeviceBuffer, 'a device buffer', 'Allocate one with device.alloc(dtype, n).');
    if (buffer.owner !== this) {
      const other =
        buffer.owner instanceof Device && buffer.owner.host === this.host ? 'another device' : 'another runtime';
      throw invalidArgument(
        op,
        param,
        `is ${buffer.describe()}, which belongs to ${other} than ${this.label}`,
        other === 'another device'
          ? 'Call this on the device that owns the buffer.'
          : 'Buffers of different runtimes never mix: copy through host memory.',
      );
    }
  }

  private checkLive(buffer: DeviceBuffer, op: string, param?: string): void {
    this.checkOwn(buffer, op, param);
    buffer.assertLive(op);
  }

  private checkHostView(host: ArrayBufferView, buffer: DeviceBuffer, op: string): void {
    if (!ArrayBuffer.isView(host)) {
      throw new TesseraError(
        'InvalidValue',
        `${op}: the host side must be a typed array, got ${describeValue(host)}.`,
        {
          hint: 'For plain number arrays use device.upload(buffer, values), which converts values to the buffer dtype.',
        },
      );
    }
    const want = HOST_VIEW[buffer.dtype];
    const got = host.constructor.name;
    if (got !== 'Uint8Array' && got !== want) {
      throw new TesseraError(
        'InvalidValue',
        `${op}: host ${got} does not match ${buffer.describe()}: a ${buffer.dtype} buffer copies to/from a ${want} (or raw bytes as a Uint8Array).`,
        {
          hint: 'Use device.upload()/download() to convert values between dtypes, or copy raw bytes through a Uint8Array.',
        },
      );
    }
    if (host.byteLength > buffer.byteLength) {
      throw new TesseraError(
        'InvalidValue',
        `${op}: ${host.byteLength} bytes do not fit in ${buffer.describe()}, which holds ${buffer.byteLength} bytes.`,
        { hint: 'Copy a smaller range or allocate a larger buffer; nothing was copied.' },
      );
    }
  }

  private copy(
    kind: CopyKind,
    bytes: number,
    pinned: boolean,
    stream: Stream,
    engine: string,
    name: string,
    blocking: boolean,
  ) {
    const ms = this.backend.copyTime(this.properties, { kind, bytes, pinned });
    const t = this.schedule(stream, engine, ms, {
      kind: kind === 'memset' ? 'memset' : 'memcpy',
      name,
      bytes,
      args: { pinned },
    });
    if (blocking) this.waitHost(t.endMs);
    return t;
  }

  /**
   * Copies host bytes to the device (`cudaMemcpy(..., HostToDevice)`). The host array's type must match the
   * buffer's storage (Float32Array for f32, Uint16Array for f16/bf16 bits, …) or be raw bytes (Uint8Array).
   * Blocks the host unless `async` with pinned memory (from `runtime.hostAlloc`).
   */
  memcpyHtoD(dst: DeviceBuffer, src: ArrayBufferView, options?: CopyOptions & { async?: boolean }): void {
    this.guard('memcpyHtoD', () => {
      this.checkLive(dst, 'memcpyHtoD', 'dst');
      this.checkHostView(src, dst, 'memcpyHtoD');
      const o = checkOptions('memcpyHtoD', 'options', options);
      const async = checkOptionalBoolean('memcpyHtoD', 'options.async', o.async);
      const stream = this.streamOf(o.stream, 'memcpyHtoD');
      if (this.mode === 'functional') dst.bytes().set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
      memoryEvents.current?.written(dst.allocation, dst.byteOffset, src.byteLength);
      const pinned = this.host.isPinned(src);
      this.copy('HtoD', src.byteLength, pinned, stream, 'h2d', 'memcpy HtoD', !(async && pinned));
    });
  }

  /** `cudaMemcpyAsync(..., HostToDevice, stream)`: overlaps with other work only from pinned host memory. */
  memcpyHtoDAsync(dst: DeviceBuffer, src: ArrayBufferView, stream?: Stream): void {
    this.memcpyHtoD(dst, src, { stream, async: true });
  }

  /** Copies device bytes to the host (`cudaMemcpy(..., DeviceToHost)`); `bytes` defaults to the host array's size. */
  memcpyDtoH(dst: ArrayBufferView, src: DeviceBuffer, options?: CopyOptions & { async?: boolean }): void {
    this.guard('memcpyDtoH', () => {
      this.checkLive(src, 'memcpyDtoH', 'src');
      this.checkHostView(dst, src, 'memcpyDtoH');
      const o = checkOptions('memcpyDtoH', 'options', options);
      const async = checkOptionalBoolean('memcpyDtoH', 'options.async', o.async);
      const stream = this.streamOf(o.stream, 'memcpyDtoH');
      if (this.mode === 'functional') {
        new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength).set(src.bytes().subarray(0, dst.byteLength));
      }
      const pinned = this.host.isPinned(dst);
      this.copy('DtoH', dst.byteLength, pinned, stream, 'd2h', 'memcpy DtoH', !(async && pinned));
    });
  }

  memcpyDtoHAsync(dst: ArrayBufferView, src: DeviceBuffer, stream?: Stream): void {
    this.memcpyDtoH(dst, src, { stream, async: true });
  }

  /**
   * Copies `bytes` (default: all of `src`) from `src` to `dst` on the stream (`cudaMemcpyAsync(..., DeviceToDevice)`).
   * `src` may live on another device of the same runtime; without a peer link that copy is staged through the host.
   */
  memcpyDtoD(dst: DeviceBuffer, src: DeviceBuffer, options?: CopyOptions & { bytes?: number }): void {
    this.guard('memcpyDtoD', () => {
      this.checkLive(dst, 'memcpyDtoD', 'dst');
      checkInstance('memcpyDtoD', 'src', src, DeviceBuffer, 'a device buffer');
      const from = src.owner;
      if (!(from instanceof Device) || from.host !== this.host) {
        throw invalidArgument(
          'memcpyDtoD',
          'src',
          `is ${src.describe()}, which belongs to another runtime than ${this.label}`,
          'Buffers of different runtimes never mix: copy through host memory (download, then upload).',
        );
      }
      // A failed or faulted peer's memory is unreadable until its reset, as its own calls are; this device stays usable.
      if (from !== this) from.assertUsable('memcpyDtoD: src');
      src.assertLive('memcpyDtoD');
      const o = checkOptions('memcpyDtoD', 'options', options);
      const bytes = o.bytes === undefined ? src.byteLength : checkCount('memcpyDtoD', 'options.bytes', o.bytes);
      if (bytes > src.byteLength || bytes > dst.byteLength) {
        throw new TesseraError(
          'InvalidValue',
          `memcpyDtoD: ${bytes} bytes is more than ${bytes > src.byteLength ? src.describe() : dst.describe()} holds ` +
            `(${Math.min(src.byteLength, dst.byteLength)} bytes available in both).`,
          { hint: 'Copy at most min(src.byteLength, dst.byteLength) bytes; nothing was copied.' },
        );
      }
      const stream = this.streamOf(o.stream, 'memcpyDtoD');
      if (this.mode === 'functional') dst.bytes().set(src.bytes().subarray(0, bytes));
      memoryEvents.current?.copied(dst.allocation, dst.byteOffset, src.allocation, src.byteOffset, bytes);
      const peer = src.owner !== this;
      this.copy(
        peer ? 'PeerViaHost' : 'DtoD',
        bytes,
        false,
        stream,
        peer ? 'h2d' : 'copy',
        peer ? 'memcpy Peer' : 'memcpy DtoD',
        false,
      );
    });
  }

  /** Sets every byte of `buffer` to `byte` (`cudaMemsetAsync`). */
  memset(buffer: DeviceBuffer, byte: number, options?: CopyOptions): void {
    this.guard('memset', () => {
      this.checkLive(buffer, 'memset');
      const o = checkOptions('memset', 'options', options);
      if (!Number.isInteger(byte) || byte < 0 || byte > 255) {
        throw new TesseraError('InvalidValue', `memset: value ${describeValue(byte)} is not a byte (0..255).`, {
          hint: 'To fill with a typed value (e.g. 1.5 or NaN) use device.fill(buffer, value).',
        });
      }
      const stream = this.streamOf(o.stream, 'memset');
      if (this.mode === 'functional') buffer.bytes().fill(byte);
      memoryEvents.current?.written(buffer.allocation, buffer.byteOffset, buffer.byteLength);
      this.copy('memset', buffer.byteLength, false, stream, 'copy', 'memset', false);
    });
  }

  /** Fills `buffer` with `value` converted to its dtype (a typed memset; NaN works for float buffers). */
  fill(buffer: DeviceBuffer, value: number, options?: CopyOptions): void {
    this.guard('fill', () => {
      this.checkLive(buffer, 'fill');
      if (typeof value !== 'number')
        throw invalidArgument('fill', 'value', `must be a number, got ${describeValue(value)}`);
      const o = checkOptions('fill', 'options', options);
      const stream = this.streamOf(o.stream, 'fill');
      if (this.mode === 'functional') {
        const x = castScalar(value, buffer.dtype);
        const enc = bitsEncoder(buffer.dtype);
        buffer.storage().fill(enc ? enc(x) : x);
      }
      memoryEvents.current?.written(buffer.allocation, buffer.byteOffset, buffer.byteLength);
      this.copy('memset', buffer.byteLength, false, stream, 'copy', 'fill', false);
    });
  }

  /**
   * Converts `values` to the buffer's dtype (round-to-nearest-even for floats) and copies them in, starting at
   * element `offset`. Blocking, like a pageable `cudaMemcpy`.
   */
  upload(
    buffer: DeviceBuffer,
    values: HostArray | ArrayLike<number>,
    options?: CopyOptions & { offset?: number },
  ): void {
    this.guard('upload', () => {
      this.checkLive(buffer, 'upload');
      const n = checkHostValues('upload', 'values', values);
      const o = checkOptions('upload', 'options', options);
      const offset = o.offset === undefined ? 0 : checkCount('upload', 'options.offset', o.offset);
      if (offset + n > buffer.length) {
        throw new TesseraError(
          'InvalidValue',
          `upload: ${n} values at offset ${offset} run past the end of ${buffer.describe()} (${buffer.length} elements).`,
          { hint: 'Upload fewer values or allocate a larger buffer; nothing was copied.' },
        );
      }
      const stream = this.streamOf(o.stream, 'upload');
      if (this.mode === 'functional') {
        const st = buffer.storage();
        const enc = bitsEncoder(buffer.dtype);
        const dt = buffer.dtype;
        for (let i = 0; i < n; i++) {
          const x = castScalar(Number(values[i]), dt);
          st[offset + i] = enc ? enc(x) : x;
        }
      }
      const eb = DTYPE_INFO[buffer.dtype].bytes;
      memoryEvents.current?.written(buffer.allocation, buffer.byteOffset + offset * eb, n * eb);
      this.copy('HtoD', n * DTYPE_INFO[buffer.dtype].bytes, false, stream, 'h2d', 'upload', true);
    });
  }

  /** Copies the buffer out and decodes it: Float32Array for float dtypes, Int32Array for integers. Blocking. */
  download(buffer: DeviceBuffer, options?: CopyOptions): Float32Array | Int32Array {
    return this.guard('download', () => {
      this.checkLive(buffer, 'download');
      const o = checkOptions('download', 'options', options);
      if (this.mode !== 'functional') {
        throw new TesseraError('Unsupported', 'download: buffers hold no data in timing-only mode.', {
          hint: "Use mode: 'functional' to read results; timing-only mode models time only.",
        });
      }
      const stream = this.streamOf(o.stream, 'download');
      const st = buffer.storage();
      const dec = bitsDecoder(buffer.dtype);
      let out: Float32Array | Int32Array;
      if (isFloat(buffer.dtype)) {
        out = new Float32Array(buffer.length);
        if (dec) for (let i = 0; i < out.length; i++) out[i] = dec(st[i]!);
        else out.set(st as Float32Array);
      } else out = Int32Array.from(st as Int32Array);
      this.copy('DtoH', buffer.byteLength, false, stream, 'd2h', 'download', true);
      return out;
    });
  }

  // ------------------------------------------------------------------ kernels

  /**
   * Launches `kernel` over `config.grid` with `args` (keyed by parameter name) on `config.stream`. Validates the
   * configuration and arguments first, runs the kernel (functional mode) or traces it (timing-only mode), and
   * schedules it on the modelled timeline. Returns the modelled time and the cost record.
   */
  launch(kernel: Kernel, config: LaunchConfig, args: Record<string, unknown>): LaunchResult {
    return this.guard(`launch of '${typeof kernel?.name === 'string' ? kernel.name : '?'}'`, () => {
      checkKernel(kernel);
      const p = this.properties;
      const where = `launch of '${kernel.name}' on ${this.label}`;
      const { grid, block, dynamic } = checkLaunchConfig(kernel, config, p, where);
      try {
        validateArgs(kernel, args, this.label, this);
      } catch (e) {
        // The sanitizer (memcheck) runs a refused launch on copies of memory to report the accesses at fault.
        launchHooks.refused?.(
          {
            kernel,
            args,
            grid,
            block,
            dynamicSharedBytes: dynamic,
            warpSize: p.warpSize,
            mode: this.mode,
            owner: this,
          },
          e,
        );
        throw e;
      }
      const stream = this.streamOf(config.stream, where);
      const key = this.mode === 'timing' ? cacheKey(kernel, grid, block, dynamic, args, config.exact) : null;
      let hit = key ? this.timingCache.get(key) : undefined;
      let measured: KernelMeasurement | undefined;
      if (!hit) {
        const cost = this.execute({
          kernel,
          args,
          grid,
          block,
          dynamicSharedBytes: dynamic,
          warpSize: p.warpSize,
          mode: this.mode,
          owner: this,
          exact: config.exact,
          executor: this.backend.executor ? { executor: this.backend.executor, device: p } : undefined,
          onMeasured: (m) => {
            measured = m;
          },
          check: (probe) => {
            this.checkDTypes(probe, where);
            this.backend.checkLaunch(p, {
              kernel: kernel.name,
              style: kernel.style,
              grid,
              block,
              dynamicSharedBytes: dynamic,
              sharedOptinBytes: kernel.style === 'simt' ? kernel.maxDynamicSharedBytes : 0,
              probe,
            });
          },
        });
        hit = { cost, timing: this.backend.kernelTime(p, cost) };
        if (key) {
          if (this.timingCache.size > 4096) this.timingCache.clear();
          this.timingCache.set(key, hit);
        }
      }
      const t = this.schedule(stream, 'compute', hit.timing.ms, {
        kind: 'kernel',
        name: kernel.name,
        cost: hit.cost,
        timing: hit.timing,
        ...(measured ? { args: { measuredMs: measured.ms, measuredBy: measured.by } } : {}),
      });
      return {
        kernel: kernel.name,
        startMs: t.startMs,
        endMs: t.endMs,
        ms: hit.timing.ms,
        timing: hit.timing,
        cost: hit.cost,
        ...(measured ? { measured } : {}),
      };
    });
  }

  /**
   * Runs the launch. A fault of the kernel (an illegal address, or a body that threw: see execute.ts) makes the device
   * sticky: every later call throws until reset(), which releases all memory, so writes of the faulting launch and of
   * earlier ones can never be read back half-done.
   */
  private execute(o: Parameters<typeof executeLaunch>[0]): CostRecord {
    try {
      return executeLaunch(o);
    } catch (e) {
      if (isTesseraError(e) && e.sticky) this.sticky = e;
      throw e;
    }
  }

  private checkDTypes(probe: CostRecord, where: string): void {
    for (const d of probe.dtypes) {
      if (d === 'bool') continue;
      if (!this.properties.dtypes.includes(d)) {
        const alt = d.startsWith('fp8') ? 'int8 (W8A8 with per-channel scales) or bf16' : 'a supported dtype';
        throw new TesseraError(
          'Unsupported',
          `${where}: ${this.properties.name} does not support ${DTYPE_INFO[d].label} (${d}).`,
          {
            hint: `Use ${alt}; this device supports ${this.properties.dtypes.join(', ')}.`,
            device: this.label,
          },
        );
      }
    }
  }
}

function cacheKey(
  kernel: Kernel,
  grid: Dim3,
  block: Dim3 | null,
  dynamic: number,
  args: Record<string, unknown>,
  exact?: boolean,
): string {
  let k = `${kernel.id}|${grid.join(',')}|${block ? block.join(',') : '-'}|${dynamic}|${exact ? 1 : 0}`;
  for (const name of Object.keys(kernel.params)) {
    const v = args[name];
    if (v instanceof DeviceBuffer) k += `|${v.dtype}:${v.length}@${v.byteOffset % 256}`;
    else if (Array.isArray(v)) k += `|[${v.join(',')}]`;
    else k += `|${String(v)}`;
  }
  return k;
}
