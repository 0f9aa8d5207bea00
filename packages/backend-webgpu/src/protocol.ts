/** Messages between the main thread (bridge.ts) and the GPU thread (worker.ts). Plain data only. */
import type { FaultRecord } from '@tessera/device/wgsl';

/** What the adapter is, as the GPU thread reports it. */
export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  api: 'vulkan' | 'opengl';
  featureLevel: 'core' | 'compatibility';
  features: string[];
  subgroupSize: number | null;
  /** The device's limits (as raised to the adapter's). */
  limits: Record<string, number>;
}

/** An allocation a launch uses: kept resident on the GPU thread by `uid`; `upload` carries the host bytes when stale. */
export interface LaunchAllocation {
  uid: number;
  byteLength: number;
  upload: SharedArrayBuffer | null;
}

/** A buffer parameter: a view of `length` elements at `byteOffset` in allocation `alloc` (an index). */
export interface LaunchView {
  alloc: number;
  byteOffset: number;
  byteLength: number;
  length: number;
}

export type Request =
  | { op: 'init' }
  /** Compiles a WgslProgram's pipeline (cached), so a WGSL error surfaces before the launch runs. */
  | { op: 'compile'; program: unknown }
  | {
      op: 'run';
      /** A WgslProgram (structured-cloned). */
      program: unknown;
      grid: readonly [number, number, number];
      allocations: LaunchAllocation[];
      buffers: Record<string, LaunchView>;
      scalars: Record<string, number>;
      arrays: Record<string, readonly number[]>;
      timestamps: boolean;
    }
  /** Copies a resident allocation's GPU bytes into `sab` (the host pulls a newer device copy). */
  | { op: 'pull'; uid: number; sab: SharedArrayBuffer; byteLength: number }
  /** Drops a resident allocation (freed). */
  | { op: 'free'; uid: number };

export type Reply =
  | { ok: true; adapter: AdapterReport }
  | { ok: true; fault: FaultRecord | null; gpuMs: number | null; wallMs: number }
  | { ok: true; compiled: true }
  | { ok: true; done: true }
  | { ok: false; error: string; kind: 'no-adapter' | 'compile' | 'gpu' | 'timeout' };
