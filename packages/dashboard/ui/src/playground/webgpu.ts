/**
 * The visitor's launch on the visitor's own GPU: the kernel's IR lowered to WGSL (`@tessera/device/wgsl`, the lowering
 * @tessera/backend-webgpu runs), dispatched through `navigator.gpu` by that package's runner (run-program.ts, which
 * the backend uses too) on the same seeded inputs
 * the simulators use, and compared with the program's float64 reference. The GPU's measured time is reported beside,
 * optionally, the modelled time of a catalogue device.
 */
import {
  allocStorage,
  bitsDecoder,
  bitsEncoder,
  compileKernel,
  isFloat,
  isTesseraError,
  type KernelIR,
  storageView,
} from '@tessera/device';
import {
  deviceRequest,
  type FaultRecord,
  fixedSubgroupSize,
  type GpuAdapter,
  type GpuDevice,
  limitOf,
  lowerToWgsl,
  type ProgramBuffer,
  type ProgramRegion,
  type ProgramResult,
  runProgram,
  type WebGpuLike,
  WgslCompileError,
  type WgslProgram,
} from '@tessera/device/wgsl';
import { findSimulatedDevice } from './devices';
import { checkResult, checkRunLimits, hostInputs, type OutputReport, poisonValue } from './inputs';
import { compileFor, inspectionArgs } from './inspect';
import { costFor, modelRow } from './model';
import { bodyOffset, issueFrom, lineOfSnippet } from './source';
import { PlaygroundError, type PlaygroundIssue, type PlaygroundProgram } from './types';

export type { WebGpuLike } from '@tessera/device/wgsl';

export interface WebGpuOptions {
  /** A catalogue device (`h100`, `910c`, …) whose modelled time to report beside the measured one. */
  modelOn?: string;
}

export interface WebGpuReport extends OutputReport {
  /** No fault, and the check passed (when there is one). */
  ok: boolean;
  /** The adapter, as it describes itself ("NVIDIA GeForce RTX 4090", "llvmpipe (LLVM 15.0.6, 256 bits)", …). */
  adapterName: string;
  /** Measured kernel time, ms (the dispatches only: no upload or read-back). */
  measuredMs: number;
  /** `timestamp-query`: the GPU's timestamps around the dispatches; `host-wall`: submit to completion on the host. */
  measuredBy: 'timestamp-query' | 'host-wall';
  /** The modelled time on `options.modelOn`, ms (null without it, or when that device refuses the launch). */
  modelledMs: number | null;
  modelledOn: string | null;
  /** A fault (from the kernel's fault record) or a failed check. Never thrown. */
  error: PlaygroundIssue | null;
}

interface GpuContext {
  device: GpuDevice;
  adapterName: string;
  subgroupSize: number | null;
}

/** One device per GPU entry point, opened on first use and forgotten when it is lost. */
const contexts = new WeakMap<object, Promise<GpuContext>>();

function openGpu(gpu: WebGpuLike): Promise<GpuContext> {
  let ctx = contexts.get(gpu);
  if (!ctx) {
    ctx = (async () => {
      // Some adapters (OpenGL ES through Dawn, older browsers' fallbacks) exist only at the compatibility level.
      const adapter = ((await gpu.requestAdapter()) ??
        (await gpu.requestAdapter({ featureLevel: 'compatibility' }))) as GpuAdapter | null;
      if (!adapter) {
        throw new PlaygroundError({
          kind: 'environment',
          message: 'This browser offers WebGPU but found no GPU adapter.',
          hint: 'Enable hardware acceleration, or use the simulated devices.',
        });
      }
      const request = deviceRequest(adapter);
      const device = await adapter.requestDevice(request);
      const info = adapter.info ?? {};
      const subgroupSize = fixedSubgroupSize(request.requiredFeatures, info);
      const adapterName =
        info.description || [info.vendor, info.architecture, info.device].filter(Boolean).join(' ') || 'WebGPU adapter';
      return { device, adapterName, subgroupSize };
    })();
    contexts.set(gpu, ctx);
    ctx.then(
      (c) => c.device.lost.then(() => contexts.delete(gpu)),
      () => contexts.delete(gpu),
    );
  }
  return ctx;
}

/** Lowers the program's kernel for this GPU; what WGSL or the GPU cannot run is a `PlaygroundError` (unsupported). */
function lower(program: PlaygroundProgram, ctx: GpuContext): WgslProgram {
  compileFor(program); // the compiler's own errors, with the visitor's line
  const ir: KernelIR = compileKernel(
    program.kernel,
    inspectionArgs(program),
    program.block,
    program.sharedMemBytes,
    ctx.subgroupSize ?? 32,
  ).ir;
  let prog: WgslProgram;
  try {
    prog = lowerToWgsl(ir, {
      block: program.block ?? [1, 1, 1],
      ...(ctx.subgroupSize ? { subgroupSize: ctx.subgroupSize } : {}),
      maxWorkgroupBytes: limitOf(ctx.device.limits, 'maxComputeWorkgroupStorageSize', 16384),
      maxInvocations: limitOf(ctx.device.limits, 'maxComputeInvocationsPerWorkgroup', 256),
      maxStorageBuffers: limitOf(ctx.device.limits, 'maxStorageBuffersPerShaderStage', 8),
    });
  } catch (e) {
    if (!isTesseraError(e)) throw e;
    throw new PlaygroundError({ ...issueFrom(e, 'unsupported', { source: program.source }), kind: 'unsupported' });
  }
  const missing = prog.features.filter((f) => !ctx.device.features.has(f));
  if (missing.length) {
    throw new PlaygroundError({
      kind: 'unsupported',
      message: `Kernel '${program.kernel.name}' needs the WebGPU feature(s) ${missing.join(', ')}, which ${ctx.adapterName} does not have.`,
      hint: 'Run it on a simulated device instead.',
    });
  }
  return prog;
}

/** Host bytes of each buffer, as the device stores them (f32 words, f16 bits packed two to a word, …). */
/** Each buffer as a memory region of its own (the parameters never alias here), in its dtype's storage. */
function hostBytes(program: PlaygroundProgram, inputs: Record<string, Float64Array>) {
  const regions: ProgramRegion[] = [];
  const buffers: Record<string, ProgramBuffer> = {};
  for (const b of Object.values(program.buffers)) {
    const storage = allocStorage(b.dtype, b.length);
    const enc = bitsEncoder(b.dtype);
    const values = inputs[b.name]!;
    const poison = poisonValue(b.dtype);
    for (let i = 0; i < b.length; i++) {
      const v = b.init.kind === 'poison' ? poison : values[i]!;
      storage[i] = enc ? enc(v) : v;
    }
    buffers[b.name] = { region: regions.length, byteOffset: 0, length: b.length };
    regions.push({ bytes: new Uint8Array(storage.buffer, storage.byteOffset, storage.byteLength) });
  }
  return { regions, buffers };
}

function decode(program: PlaygroundProgram, name: string, bytes: Uint8Array): Float32Array | Int32Array {
  const b = program.buffers[name]!;
  const copy = bytes.slice(); // aligned, and ours
  const st = storageView(b.dtype, copy.buffer, 0, b.length);
  const dec = bitsDecoder(b.dtype);
  if (!isFloat(b.dtype)) return Int32Array.from(st as ArrayLike<number>);
  const out = new Float32Array(b.length);
  for (let i = 0; i < b.length; i++) out[i] = dec ? dec(st[i]!) : st[i]!;
  return out;
}

/** The fault record as the CPU back ends word a fault, with the visitor's line where the site has a snippet. */
function faultIssue(program: PlaygroundProgram, prog: WgslProgram, f: FaultRecord): PlaygroundIssue {
  const site = prog.sites[f.site];
  const who =
    program.style === 'simt' ? `block ${f.lin} thread ${f.thread} (linear ids)` : `program ${f.lin} (linear id)`;
  const line = lineOfSnippet(program.source, site?.snippet, bodyOffset(program.source, program.kernel.body));
  const at = site?.snippet ? ` — in \`${site.snippet}\`` : '';
  const more = f.count > 1 ? ` (${f.count} faulting accesses in all)` : '';
  const message =
    site?.kind === 'trap'
      ? `kernel '${program.kernel.name}' ${who} threw: ${site.message ?? 'a trap'}${at}${more}.`
      : `kernel '${program.kernel.name}' ${who}: ${site?.op ?? 'access'} of ${site?.kind === 'shared' ? 'shared array' : 'buffer'} '${site?.name ?? '?'}' at index ${f.index} is out of bounds${at}${more}.`;
  return {
    kind: 'fault',
    message,
    code: site?.kind === 'trap' ? 'LaunchFailure' : 'IllegalAddress',
    hint: 'Guard the access or fix the index math; the sanitizer on a simulated device names the thread and the line.',
    ...(line !== undefined ? { line } : {}),
  };
}

/**
 * Runs the program on the visitor's GPU (`navigator.gpu`). Throws `PlaygroundError` when it cannot run there: no
 * adapter (`environment`), over the limits (`limit`), a kernel the compiler refuses (`compile`), or one the WGSL
 * lowering or this GPU cannot run (`unsupported`). A fault or a failed check comes back in `error`.
 */
export async function runOnWebGpu(
  program: PlaygroundProgram,
  gpu: WebGpuLike,
  options: WebGpuOptions = {},
): Promise<WebGpuReport> {
  if (!gpu || typeof (gpu as { requestAdapter?: unknown }).requestAdapter !== 'function') {
    throw new PlaygroundError({
      kind: 'environment',
      message: 'This browser has no WebGPU (navigator.gpu is missing).',
      hint: 'Use a browser with WebGPU (Chrome, Edge, Safari 26, Firefox 141 on Windows), or the simulated devices.',
    });
  }
  checkRunLimits(program);
  const ctx = await openGpu(gpu);
  const prog = lower(program, ctx);
  const inputs = hostInputs(program);
  const { regions, buffers } = hostBytes(program, inputs);
  const scalars: Record<string, number> = {};
  const arrays: Record<string, readonly number[]> = {};
  for (const [k, v] of Object.entries(program.scalars)) {
    if (typeof v === 'number') scalars[k] = v;
    else arrays[k] = v;
  }
  let r: ProgramResult;
  try {
    r = await runProgram(ctx.device, prog, {
      grid: program.grid,
      regions,
      buffers,
      scalars,
      arrays,
      timestamps: true,
    });
  } catch (e) {
    if (e instanceof WgslCompileError) {
      throw new PlaygroundError({
        kind: 'unsupported',
        message: `A Tessera lowering bug: ${e.message}`,
        hint: 'Run it on a simulated device meanwhile.',
      });
    }
    throw e;
  }
  let modelledMs: number | null = null;
  if (options.modelOn) {
    const d = await findSimulatedDevice(options.modelOn);
    modelledMs = modelRow(program, d, () => costFor(program, compileFor(program, d.device.warpSize, d.device.id))).ms;
  }
  const report: WebGpuReport = {
    ok: false,
    adapterName: ctx.adapterName,
    measuredMs: r.gpuMs ?? r.wallMs,
    measuredBy: r.gpuMs !== null ? 'timestamp-query' : 'host-wall',
    modelledMs,
    modelledOn: options.modelOn ?? null,
    relError: null,
    tolerance: program.check?.tolerance ?? null,
    nanCount: 0,
    output: program.output,
    outputPreview: [],
    outputValues: null,
    error: null,
  };
  if (r.fault) {
    report.error = faultIssue(program, prog, r.fault);
    return report;
  }
  const out = buffers[program.output]!.region;
  const values = decode(program, program.output, r.written.get(out) ?? regions[out]!.bytes);
  report.outputValues = values;
  report.outputPreview = Array.from(values.subarray(0, 8));
  Object.assign(report, checkResult(program, values, inputs));
  report.ok = report.error === null;
  return report;
}
