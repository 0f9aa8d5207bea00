/**
 * The slice of the WebGPU API that runs a lowered kernel (run-program.ts), declared here so that one runner serves
 * every host: @tessera/backend-webgpu's Dawn in Node and the dashboard's `navigator.gpu` in a browser. Neither
 * TypeScript's libraries nor this package ship WebGPU's types (`@webgpu/types` would be a dependency of every user),
 * so the shapes follow the spec and the host's objects are used through them as they are. Flag values are the spec's
 * constants, so nothing depends on the `GPUBufferUsage` / `GPUMapMode` globals existing.
 */

/** `navigator.gpu` (or Dawn's `create()` in Node): anything that can request an adapter. */
export interface WebGpuLike {
  requestAdapter(options?: object): Promise<unknown>;
}

export interface GpuSupportedFeatures {
  has(name: string): boolean;
}

export interface GpuAdapter {
  readonly features: GpuSupportedFeatures;
  readonly limits: object;
  readonly info?: {
    vendor?: string;
    architecture?: string;
    device?: string;
    description?: string;
    subgroupMinSize?: number;
    subgroupMaxSize?: number;
  };
  requestDevice(descriptor?: {
    requiredFeatures?: string[];
    requiredLimits?: Record<string, number>;
  }): Promise<GpuDevice>;
}

export interface GpuBuffer {
  readonly size: number;
  mapAsync(mode: number): Promise<void>;
  getMappedRange(): ArrayBuffer;
  unmap(): void;
  destroy(): void;
}

export interface GpuQuerySet {
  destroy(): void;
}

/** Opaque: only handed back to the API. */
export type GpuBindGroupLayout = object;

export interface GpuComputePipeline {
  getBindGroupLayout(index: number): GpuBindGroupLayout;
}

/** Opaque: only handed back to the API. */
export type GpuBindGroup = object;

export interface GpuCompilationMessage {
  type: string;
  message: string;
  lineNum: number;
}

export interface GpuShaderModule {
  getCompilationInfo(): Promise<{ messages: readonly GpuCompilationMessage[] }>;
}

export interface GpuComputePass {
  setPipeline(p: GpuComputePipeline): void;
  setBindGroup(index: number, group: GpuBindGroup | null | undefined): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void;
  end(): void;
}

/** Opaque: only handed back to the API. */
export type GpuCommandBuffer = object;

export interface GpuCommandEncoder {
  beginComputePass(descriptor?: {
    timestampWrites?: { querySet: GpuQuerySet; beginningOfPassWriteIndex?: number; endOfPassWriteIndex?: number };
  }): GpuComputePass;
  copyBufferToBuffer(src: GpuBuffer, srcOffset: number, dst: GpuBuffer, dstOffset: number, size: number): void;
  resolveQuerySet(q: GpuQuerySet, first: number, count: number, dst: GpuBuffer, offset: number): void;
  finish(): GpuCommandBuffer;
}

export interface GpuQueue {
  writeBuffer(buffer: GpuBuffer, offset: number, data: ArrayBufferView | ArrayBuffer): void;
  submit(buffers: Iterable<GpuCommandBuffer>): void;
  onSubmittedWorkDone(): Promise<void>;
}

export interface GpuError {
  message: string;
}

export interface GpuDevice {
  readonly features: GpuSupportedFeatures;
  readonly limits: object;
  readonly queue: GpuQueue;
  readonly lost: Promise<unknown>;
  createBuffer(descriptor: { size: number; usage: number }): GpuBuffer;
  createShaderModule(descriptor: { code: string }): GpuShaderModule;
  createComputePipelineAsync(descriptor: {
    layout: 'auto' | object;
    compute: { module: GpuShaderModule; entryPoint?: string };
  }): Promise<GpuComputePipeline>;
  createBindGroup(descriptor: {
    layout: GpuBindGroupLayout;
    /** Here always `{ buffer, offset?, size? }` resources (GPUBufferBinding). */
    entries: Iterable<{ binding: number; resource: object }>;
  }): GpuBindGroup;
  createCommandEncoder(): GpuCommandEncoder;
  createQuerySet(descriptor: { type: 'timestamp'; count: number }): GpuQuerySet;
  pushErrorScope(filter: 'validation' | 'out-of-memory' | 'internal'): void;
  popErrorScope(): Promise<GpuError | null>;
  destroy(): void;
}

/** GPUBufferUsage (WebGPU spec §5.1). */
export const BufferUsage = {
  MAP_READ: 0x0001,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
  QUERY_RESOLVE: 0x0200,
} as const;

/** GPUMapMode.READ. */
export const MAP_READ = 0x0001;

/** A numeric limit of an adapter or device (`limits` objects expose them as properties). */
export function limitOf(limits: object, name: string, fallback: number): number {
  const v = (limits as Record<string, unknown>)[name];
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

/** Optional features the lowering uses where the adapter has them. */
export const WANTED_FEATURES = ['timestamp-query', 'subgroups', 'shader-f16'] as const;

/**
 * Limits a device is opened with at the adapter's maximum: WebGPU's defaults cap workgroups at 256 invocations and
 * 16 KiB of workgroup memory, bindings at 128 MiB and 8 storage buffers per stage, far below what GPUs offer.
 */
export const RAISED_LIMITS = [
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize',
] as const;

/** What to ask `adapter.requestDevice` for: the wanted features the adapter has, the raised limits at its maximum. */
export function deviceRequest(adapter: { readonly features: GpuSupportedFeatures; readonly limits: object }): {
  requiredFeatures: string[];
  requiredLimits: Record<string, number>;
} {
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const l of RAISED_LIMITS) {
    const v = limitOf(adapter.limits, l, Number.NaN);
    if (Number.isFinite(v)) requiredLimits[l] = v;
  }
  return { requiredFeatures, requiredLimits };
}

/** The subgroup size warp ops lower to: the adapter's, when it has `subgroups` and one fixed size (min = max). */
export function fixedSubgroupSize(
  features: readonly string[],
  info: { subgroupMinSize?: number; subgroupMaxSize?: number } | undefined,
): number | null {
  const min = info?.subgroupMinSize;
  return features.includes('subgroups') && min && min === info?.subgroupMaxSize ? min : null;
}
