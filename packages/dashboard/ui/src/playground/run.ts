/**
 * Runs the visitor's launch on one simulated device, functionally: real results computed on the CPU in this tab, the
 * modelled time of the real chip, optionally under the sanitizer (memcheck, racecheck, initcheck, synccheck). Inputs
 * come from the program's seed, outputs start as poison, and the result is compared with the program's float64
 * reference. Everything allocated is freed, whatever the kernel did.
 *
 * The simulators run synchronously: the limits (types.ts) keep one run to seconds, but the UI should still call this
 * from a Web Worker so that the page stays responsive. Functional memory is a SharedArrayBuffer, which browsers give
 * only to cross-origin-isolated pages (COOP + COEP headers).
 */
import {
  type Backend,
  createRuntime,
  type Device,
  type DeviceBuffer,
  type DeviceProperties,
  disableSanitizer,
  enableSanitizer,
  formatSanitizerSummary,
  type KernelTiming,
  type SanitizerReport,
  sanitizerReports,
  sanitizerSummary,
  sanitizerTools,
} from '@tessera/device';
import { findSimulatedDevice } from './devices';
import { checkResult, checkRunLimits, checkWork, hostInputs, type OutputReport, poisonValue } from './inputs';
import { compileFor } from './inspect';
import { costFor } from './model';
import { bodyOffset, issueFrom, lineOfSnippet } from './source';
import { PlaygroundError, type PlaygroundIssue, type PlaygroundProgram } from './types';

export interface RunOptions {
  /** Catalogue id of a simulated device: `h100`, `a100`, `910c`, … (a fresh runtime is made for the run). */
  deviceId?: string;
  /**
   * Or a functional-mode device of a runtime the caller keeps (to reuse it across runs). Everything the run allocates
   * is freed again; after a fault the device is reset, which, as for a CUDA context, frees all of its memory.
   */
  device?: Device;
  /** The backend, when a device id is in more than one (default: the first that has it). */
  backend?: string;
  /** Run under the sanitizer (every tool). Slower: the work limit is smaller. */
  sanitize?: boolean;
}

/** A sanitizer report, with `line` the line of the visitor's source (the sanitizer itself knows only the snippet). */
export type PlaygroundSanitizerReport = SanitizerReport;

export interface SanitizerResult {
  enabled: boolean;
  reports: PlaygroundSanitizerReport[];
  errors: number;
  warnings: number;
  /** compute-sanitizer's closing lines (`========= ERROR SUMMARY: 1 error`); empty when the sanitizer was off. */
  summary: string;
}

export interface RunReport extends OutputReport {
  /** No error, the check passed (when there is one), and the sanitizer found no errors. */
  ok: boolean;
  backend: string;
  deviceId: string;
  deviceName: string;
  /** The modelled kernel time on the device, ms (null when the launch was refused before it ran). */
  modelledMs: number | null;
  timing: KernelTiming | null;
  /** Wall time of the launch on this machine's CPU, ms (compute only: no upload, no comparison). */
  wallMs: number;
  sanitizer: SanitizerResult;
  /** What went wrong: a refusal, a fault (the runtime's message), a failed check. Never thrown. */
  error: PlaygroundIssue | null;
}

const SANITIZER_TOOLS = 'memcheck,racecheck,initcheck,synccheck';

/**
 * Runs the program on a simulated device. Throws `PlaygroundError` only for a request that cannot start (an unknown
 * device, over the limits, no SharedArrayBuffer); everything the kernel or device does comes back in `error`.
 */
export async function runPlayground(program: PlaygroundProgram, options: RunOptions): Promise<RunReport> {
  const sanitize = options.sanitize === true;
  checkRunLimits(program);
  const { backend, device, given } = await target(options);
  if (typeof SharedArrayBuffer === 'undefined') {
    throw new PlaygroundError({
      kind: 'environment',
      message: 'Running kernels needs SharedArrayBuffer, which this page does not have.',
      hint: 'The page must be cross-origin isolated (served with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp). Modelling works without it.',
    });
  }
  // Bound the work from the cost record before anything runs.
  let early: PlaygroundIssue | null = null;
  try {
    checkWork(costFor(program, compileFor(program, device.warpSize, device.id)).total, sanitize);
  } catch (e) {
    if (!(e instanceof PlaygroundError) || e.kind === 'limit') throw e;
    early = e.issue;
  }
  const report: RunReport = {
    ok: false,
    backend: backend.name,
    deviceId: device.id,
    deviceName: device.name,
    modelledMs: null,
    timing: null,
    wallMs: 0,
    relError: null,
    tolerance: program.check?.tolerance ?? null,
    nanCount: 0,
    output: program.output,
    outputPreview: [],
    outputValues: null,
    sanitizer: { enabled: sanitize, reports: [], errors: 0, warnings: 0, summary: '' },
    error: null,
  };
  // Only a fault goes on to the launch (which reports it in the runtime's words, and lets the sanitizer find every
  // faulting access; with no cost record to bound it by, the element and program limits still hold); anything else
  // the analysis refused, the launch would refuse again, after as long.
  if (early && early.kind !== 'fault') {
    report.error = early;
    return report;
  }
  const dev = given ?? (await createRuntime({ backend, devices: device.id })).device(0);
  const inputs = hostInputs(program);
  const where = { source: program.source, kernelBody: program.kernel.body };
  const before = sanitizerTools();
  // From here to the end of the launch everything is synchronous: the process-wide sanitizer sees this run only.
  if (sanitize) enableSanitizer(SANITIZER_TOOLS, { print: false });
  const allocated: DeviceBuffer[] = [];
  const names = new Map<string, string>();
  try {
    const args: Record<string, unknown> = { ...program.scalars };
    for (const b of Object.values(program.buffers)) {
      const buf = dev.alloc(b.dtype, b.length);
      allocated.push(buf);
      names.set(buf.describe(), b.name);
      if (b.init.kind === 'poison') dev.fill(buf, poisonValue(b.dtype));
      else dev.upload(buf, inputs[b.name]!);
      args[b.name] = buf;
    }
    const config = program.block
      ? { grid: program.grid, block: program.block, sharedMemBytes: program.sharedMemBytes }
      : { grid: program.grid };
    const t0 = performance.now();
    const r = dev.launch(program.kernel, config, args);
    report.wallMs = performance.now() - t0;
    report.modelledMs = r.ms;
    report.timing = r.timing;
    const values = dev.download(args[program.output] as DeviceBuffer);
    report.outputValues = values;
    report.outputPreview = Array.from(values.subarray(0, 8));
  } catch (e) {
    // A refusal (configuration, arguments, out of memory) or a fault: the runtime's own words, not a throw.
    report.error = withBufferNames(issueFrom(e, 'launch', where), names);
  } finally {
    if (sanitize) {
      report.sanitizer = sanitizerResult(program);
      disableSanitizer();
      if (before.length) enableSanitizer(before, { print: false });
    }
    release(dev, allocated);
  }
  if (!report.error && program.check && report.outputValues) {
    const verdict = checkResult(program, report.outputValues, inputs);
    Object.assign(report, verdict);
  }
  report.ok = report.error === null && report.sanitizer.errors === 0;
  return report;
}

/** The device to run on: the caller's, or a catalogue device of a registered simulator. */
async function target(
  options: RunOptions,
): Promise<{ backend: Backend; device: DeviceProperties; given: Device | null }> {
  const given = options.device;
  if (given) {
    if (given.mode !== 'functional') {
      throw new PlaygroundError({
        kind: 'environment',
        message: `Device ${given.label} is in timing-only mode: it holds no data to run on.`,
        hint: "Pass a device of a runtime created with mode 'functional' (the default), or a deviceId.",
      });
    }
    return { backend: given.backend, device: given.properties, given };
  }
  if (typeof options.deviceId !== 'string') {
    throw new PlaygroundError({
      kind: 'environment',
      message: 'runPlayground needs a deviceId (a catalogue id such as h100 or 910c) or a device.',
    });
  }
  const d = await findSimulatedDevice(options.deviceId, options.backend);
  return { backend: d.backend, device: d.device, given: null };
}

/** The runtime names buffers by allocation (`buffer #15 (f32[4096], h100:0)`); the visitor knows them as `'x'`. */
function withBufferNames(issue: PlaygroundIssue, names: Map<string, string>): PlaygroundIssue {
  let message = issue.message;
  for (const [described, name] of names) message = message.split(described).join(`'${name}' (${described})`);
  return { ...issue, message };
}

/** Frees the run's buffers; after a fault the device refuses every call until reset, which releases them all. */
function release(dev: Device, allocated: DeviceBuffer[]): void {
  try {
    for (const b of allocated) dev.free(b);
  } catch {
    dev.reset();
  }
}

function sanitizerResult(program: PlaygroundProgram): SanitizerResult {
  const from = bodyOffset(program.source, program.kernel.body);
  const reports = sanitizerReports().map((r) => {
    const line = r.file ? r.line : lineOfSnippet(program.source, r.snippet, from);
    return line === undefined ? { ...r } : { ...r, line };
  });
  const s = sanitizerSummary();
  return { enabled: true, reports, errors: s.errors, warnings: s.warnings, summary: formatSanitizerSummary(s) };
}
