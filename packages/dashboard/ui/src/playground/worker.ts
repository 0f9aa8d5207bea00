/**
 * The playground behind a message port, for a Web Worker. Everything here is synchronous once it starts — compiling,
 * the cost analysis, a functional run — so on the page's thread a pathological kernel (a loop bound typed as 1e9 over
 * a float accumulator makes the cost analysis iterate it) would freeze the tab. In a worker it only occupies the
 * worker, which the client (client.ts) terminates after a deadline. Requests carry the source and come back as plain
 * data: kernels and reference functions cannot cross postMessage, so the worker parses the source itself (and keeps
 * the last few parsed programs, so a kernel compiles once across inspect, model and run).
 *
 *   // worker-entry.ts (the Worker's module)
 *   import { servePlayground } from './worker';
 *   servePlayground(self);
 */

import type { WebGpuLike } from '@tessera/device/wgsl';
import { listPlaygroundDevices, type PlaygroundDeviceInfo } from './devices';
import { inspectPlayground, type PlaygroundInspection } from './inspect';
import { type ModelReport, modelAcrossDevices } from './model';
import { parsePlayground } from './parse';
import { type RunReport, runPlayground } from './run';
import { issueFrom } from './source';
import { PlaygroundError, type PlaygroundIssue, type PlaygroundProgram } from './types';
import { runOnWebGpu, type WebGpuReport } from './webgpu';

export type PlaygroundRequest =
  | { op: 'devices' }
  | { op: 'parse'; source: string }
  | { op: 'inspect'; source: string }
  | { op: 'model'; source: string }
  | { op: 'run'; source: string; deviceId: string; backend?: string; sanitize?: boolean }
  | { op: 'webgpu'; source: string; modelOn?: string };

/** What each request answers. */
export interface PlaygroundResults {
  devices: PlaygroundDeviceInfo[];
  parse: ProgramSummary;
  inspect: PlaygroundInspection;
  model: ModelReport;
  run: RunReport;
  webgpu: WebGpuReport;
}

/** A parsed program as plain data: what the editor can show without compiling anything. */
export interface ProgramSummary {
  kernel: string;
  style: 'tile' | 'simt';
  grid: readonly [number, number, number];
  block: readonly [number, number, number] | null;
  buffers: { name: string; dtype: string; length: number; init: string }[];
  scalars: Record<string, number | readonly number[]>;
  output: string;
  checked: boolean;
}

export type PlaygroundResponse =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; issue: PlaygroundIssue };

const parsed = new Map<string, PlaygroundProgram>();
const KEEP = 8;

/** Parses `source`, reusing an earlier parse of the same text (its kernel object, and so its compiled code). */
function programOf(source: string): PlaygroundProgram {
  let p = parsed.get(source);
  if (!p) {
    p = parsePlayground(source);
    if (parsed.size >= KEEP) parsed.delete(parsed.keys().next().value as string);
    parsed.set(source, p);
  }
  return p;
}

function summary(p: PlaygroundProgram): ProgramSummary {
  return {
    kernel: p.kernel.name,
    style: p.style,
    grid: p.grid,
    block: p.block,
    buffers: Object.values(p.buffers).map((b) => ({
      name: b.name,
      dtype: b.dtype,
      length: b.length,
      init: b.init.kind,
    })),
    scalars: { ...p.scalars },
    output: p.output,
    checked: p.check !== null,
  };
}

/** Answers one request (throws `PlaygroundError`, as the functions it calls do). */
export async function handlePlaygroundRequest<R extends PlaygroundRequest>(
  req: R,
): Promise<PlaygroundResults[R['op']]> {
  type Out = PlaygroundResults[R['op']];
  switch (req.op) {
    case 'devices':
      return (await listPlaygroundDevices()) as Out;
    case 'parse':
      return summary(programOf(req.source)) as Out;
    case 'inspect':
      return inspectPlayground(programOf(req.source)) as Out;
    case 'model':
      return (await modelAcrossDevices(programOf(req.source))) as Out;
    case 'run': {
      const options = { deviceId: req.deviceId, sanitize: req.sanitize === true };
      return (await runPlayground(
        programOf(req.source),
        req.backend ? { ...options, backend: req.backend } : options,
      )) as Out;
    }
    case 'webgpu': {
      const gpu = (globalThis as { navigator?: { gpu?: WebGpuLike } }).navigator?.gpu as WebGpuLike;
      return (await runOnWebGpu(programOf(req.source), gpu, req.modelOn ? { modelOn: req.modelOn } : {})) as Out;
    }
    default:
      throw new PlaygroundError({
        kind: 'environment',
        message: `Unknown playground request '${String((req as { op?: unknown }).op)}'.`,
      });
  }
}

/** The worker's side of the port: `self` in a Web Worker. */
export interface PortLike {
  onmessage: ((ev: { data: unknown }) => unknown) | null;
  postMessage(message: unknown): void;
}

/** Answers `{ id, request }` messages with `PlaygroundResponse`s, one at a time, in order. */
export function servePlayground(port: PortLike): void {
  let queue = Promise.resolve();
  port.onmessage = (ev) => {
    const { id, request } = (ev.data ?? {}) as { id?: number; request?: PlaygroundRequest };
    queue = queue.then(async () => {
      let reply: PlaygroundResponse;
      try {
        reply = { id: id ?? -1, ok: true, result: await handlePlaygroundRequest(request as PlaygroundRequest) };
      } catch (e) {
        const issue =
          e instanceof PlaygroundError
            ? e.issue
            : issueFrom(e, 'environment', { source: (request as { source?: string } | undefined)?.source ?? '' });
        reply = { id: id ?? -1, ok: false, issue };
      }
      port.postMessage(reply);
    });
  };
}
