/** Messages between the main thread (bridge.ts) and the GPU thread (worker.ts). Plain data only. */
import type { FaultRecord, ProgramBuffer } from './gpu/run-program';

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

/** A memory region: a window of the runtime's SharedArrayBuffer. */
export interface SharedRegion {
  sab: SharedArrayBuffer;
  byteOffset: number;
  byteLength: number;
}

export type Request =
  | { op: 'init' }
  /** Compiles a WgslProgram's pipeline (cached), so a WGSL error surfaces before the launch runs. */
  | { op: 'compile'; program: unknown }
  | {
      op: 'run';
      /** A WgslProgram (structured-cloned). */
      program: unknown;
      launch: {
        grid: readonly [number, number, number];
        regions: SharedRegion[];
        buffers: Record<string, ProgramBuffer>;
        scalars: Record<string, number>;
        arrays: Record<string, readonly number[]>;
        timestamps: boolean;
      };
    };

export type Reply =
  | { ok: true; adapter: AdapterReport }
  | { ok: true; fault: FaultRecord | null; gpuMs: number | null; wallMs: number }
  | { ok: true; compiled: true }
  | { ok: false; error: string; kind: 'no-adapter' | 'compile' | 'gpu' | 'timeout' };
