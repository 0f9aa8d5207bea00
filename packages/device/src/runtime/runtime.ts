/**
 * The runtime: one host, one backend, and the devices it simulates. `createRuntime` is `cudaSetDevice` +
 * `cudaGetDeviceCount` + `aclInit` in one call: it picks the backend (by name, `TESSERA_BACKEND`, or the default),
 * instantiates the requested devices from the backend's catalogue, and sets the execution mode.
 */
import type { DType, StorageArray } from '../dtype/dtype';
import { allocStorage, DTYPE_INFO } from '../dtype/dtype';
import { TesseraError } from '../errors';
import type { ExecMode } from '../kernel/execute';
import { checkPinnedHostLimit, DEFAULT_FUNCTIONAL_HOST_LIMIT } from '../memory/buffer';
import {
  checkCount,
  checkDType,
  checkOptionalBoolean,
  checkOptions,
  describeValue,
  invalidArgument,
} from '../validate';
import type { Backend } from './backend';
import { Device, type DeviceHost } from './device';
import { type Activity, Profiler } from './profiler';
import type { DeviceProperties } from './properties';
import { findDeviceModel, getBackend } from './registry';

export interface RuntimeOptions {
  /** Backend name (`nvidia-sim`, `ascend-sim`) or instance; default `TESSERA_BACKEND`, else the default backend. */
  backend?: string | Backend;
  /** Catalogue ids of the devices, one per device (`['h100', 'h100']`), or one id repeated `count` times. */
  devices?: string | readonly string[];
  count?: number;
  /** `functional` (default): real data, computed on the CPU. `timing`: shapes and dtypes only, for modelling. */
  mode?: ExecMode;
  /** Host bytes functional-mode allocations and pinned host arrays may hold in total (default 4 GiB). */
  hostMemoryLimit?: number;
  /** Record every launch and copy for `profiler.toChromeTrace()` (default false). */
  profile?: boolean;
}

export class Runtime implements DeviceHost {
  readonly profiler: Profiler;
  readonly mode: ExecMode;
  readonly hostMemoryLimit: number;
  /** Modelled host clock, ms: advances when the host waits for a device. */
  hostTimeMs = 0;
  /** Host bytes held by functional-mode allocations and pinned host arrays, counted against `hostMemoryLimit`. */
  hostBytesInUse = 0;
  private readonly devices: Device[];
  private current = 0;
  /** Pinned host buffers and the bytes each one holds. */
  private readonly pinned = new Map<ArrayBufferLike, number>();

  constructor(
    readonly backend: Backend,
    models: readonly DeviceProperties[],
    options: Pick<RuntimeOptions, 'mode' | 'hostMemoryLimit' | 'profile'> = {},
  ) {
    options = checkOptions('createRuntime', 'options', options);
    this.mode = options.mode ?? 'functional';
    if (this.mode !== 'functional' && this.mode !== 'timing') {
      throw new TesseraError('InvalidValue', `Unknown mode '${String(this.mode)}'.`, {
        hint: "Use 'functional' or 'timing'.",
      });
    }
    const limit = options.hostMemoryLimit ?? DEFAULT_FUNCTIONAL_HOST_LIMIT;
    if (typeof limit !== 'number' || Number.isNaN(limit) || limit < 0) {
      throw invalidArgument(
        'createRuntime',
        'hostMemoryLimit',
        `must be a number of bytes ≥ 0 (Infinity for no limit), got ${describeValue(limit)}`,
      );
    }
    this.hostMemoryLimit = limit;
    this.profiler = new Profiler(checkOptionalBoolean('createRuntime', 'profile', options.profile) ?? false);
    this.devices = models.map((m, i) => new Device(this, i, m));
  }

  /** `cudaGetDeviceCount`. */
  getDeviceCount(): number {
    return this.devices.length;
  }

  /** The device with ordinal `i`. */
  device(i: number): Device {
    const d = this.devices[i];
    if (!Number.isInteger(i) || !d) {
      throw new TesseraError(
        'InvalidDevice',
        `No device ${i}: this runtime has ${this.devices.length} (ordinals 0..${this.devices.length - 1}).`,
        {
          hint: 'Ask for more devices with createRuntime({ devices, count }).',
        },
      );
    }
    return d;
  }

  /** All devices, by ordinal. */
  get allDevices(): readonly Device[] {
    return this.devices;
  }

  /** `cudaSetDevice`: makes device `i` the current one. */
  setDevice(i: number): void {
    this.device(i);
    this.current = i;
  }

  /** The current device (`cudaGetDevice`). */
  getDevice(): Device {
    return this.devices[this.current]!;
  }

  /**
   * Page-locked host memory (`cudaMallocHost` / `aclrtMallocHost`): async copies from it overlap other work. Its bytes
   * count against `hostMemoryLimit` until `hostFree`.
   */
  hostAlloc(dtype: DType, count: number): StorageArray {
    checkDType('hostAlloc', 'dtype', dtype);
    checkCount('hostAlloc', 'count', count);
    const bytes = count * DTYPE_INFO[dtype].bytes;
    checkPinnedHostLimit(this.hostBytesInUse, bytes, this.hostMemoryLimit);
    let a: StorageArray;
    try {
      a = allocStorage(dtype, count);
    } catch (e) {
      throw new TesseraError(
        'OutOfMemory',
        `hostAlloc: the host could not allocate ${count} × ${dtype}: ${(e as Error).message}.`,
        {
          hint: 'Allocate less, or lower hostMemoryLimit so that oversized requests fail early.',
        },
      );
    }
    this.pinned.set(a.buffer, bytes);
    this.hostBytesInUse += bytes;
    return a;
  }

  /** Releases a pinned array from `hostAlloc` (`cudaFreeHost`): it becomes ordinary (pageable) memory. */
  hostFree(array: ArrayBufferView): void {
    const bytes = ArrayBuffer.isView(array) ? this.pinned.get(array.buffer) : undefined;
    if (bytes === undefined) {
      throw invalidArgument(
        'hostFree',
        'array',
        `${describeValue(array)} is not pinned memory of this runtime (freed already, or not from hostAlloc)`,
        'Pass the array runtime.hostAlloc returned, once.',
      );
    }
    this.pinned.delete(array.buffer);
    this.hostBytesInUse -= bytes;
  }

  isPinned(a: ArrayBufferView): boolean {
    return this.pinned.has(a.buffer);
  }

  recordActivity(a: Activity): void {
    this.profiler.record(a);
  }

  /** Synchronises every device. */
  synchronize(): void {
    for (const d of this.devices) d.synchronize();
  }

  /** Modelled host time in ms. */
  now(): number {
    return this.hostTimeMs;
  }
}

/** Creates a runtime over a registered backend. */
export async function createRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  options = checkOptions('createRuntime', 'options', options);
  const b = options.backend;
  if (b !== undefined && typeof b !== 'string' && (b === null || typeof b !== 'object')) {
    throw invalidArgument('createRuntime', 'backend', `must be a backend name or instance, got ${describeValue(b)}`);
  }
  const backend = typeof b === 'object' ? b : await getBackend(b);
  const env = typeof process !== 'undefined' ? process.env.TESSERA_DEVICE : undefined;
  let ids: string[];
  if (options.devices === undefined) {
    const first = backend.catalog()[0];
    if (!env && !first)
      throw new TesseraError('InvalidDevice', `Backend '${backend.name}' has no devices in its catalogue.`);
    ids = [env?.trim() || first!.id];
  } else if (typeof options.devices === 'string') ids = [options.devices];
  else if (Array.isArray(options.devices) && options.devices.every((d) => typeof d === 'string')) {
    ids = [...options.devices];
  } else {
    throw invalidArgument(
      'createRuntime',
      'devices',
      `must be a device id or an array of ids, got ${describeValue(options.devices)}`,
    );
  }
  const count = checkCount('createRuntime', 'count', options.count ?? 1, 1);
  if (ids.length === 0) throw invalidArgument('createRuntime', 'devices', 'must name at least one device');
  if (count > 1) {
    if (ids.length !== 1)
      throw new TesseraError(
        'InvalidValue',
        'count repeats a single device id; pass either devices: [ids…] or one id with count.',
      );
    ids = Array.from({ length: count }, () => ids[0]!);
  }
  const models = ids.map((id) => findDeviceModel(backend, id));
  return new Runtime(backend, models, options);
}
