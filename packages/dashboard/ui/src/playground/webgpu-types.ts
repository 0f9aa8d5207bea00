/**
 * The slice of the WebGPU API the playground uses, declared here because the dashboard's TypeScript has no WebGPU
 * types (TypeScript's DOM library does not ship them; `@webgpu/types` is not a dependency). The shapes follow the
 * spec, and the browser's objects (or Dawn's in Node tests) are used through them as they are. Flag values are the
 * spec's constants, so nothing depends on the `GPUBufferUsage` / `GPUMapMode` globals existing.
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

export interface GpuBindGroupLayout {
  readonly __layout?: never;
}

export interface GpuComputePipeline {
  getBindGroupLayout(index: number): GpuBindGroupLayout;
}

export interface GpuBindGroup {
  readonly __bindGroup?: never;
}

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
  setBindGroup(index: number, group: GpuBindGroup): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void;
  end(): void;
}

export interface GpuCommandBuffer {
  readonly __commandBuffer?: never;
}

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
  submit(buffers: GpuCommandBuffer[]): void;
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
    layout: 'auto';
    compute: { module: GpuShaderModule; entryPoint: string };
  }): Promise<GpuComputePipeline>;
  createBindGroup(descriptor: {
    layout: GpuBindGroupLayout;
    entries: { binding: number; resource: { buffer: GpuBuffer; offset?: number; size?: number } }[];
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
