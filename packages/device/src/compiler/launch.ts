/**
 * A launch through the compiler — the one execution path:
 *
 *   compile (cached per specialisation) → cost by analysis (cached per grid and scalars) → device checks
 *   → functional mode only: run the generated code over every program (on the program pool when it pays)
 *
 * Timing-only and functional launches share everything up to the run, so their cost records are identical.
 * `TESSERA_INTERPRET=1` runs kernels (tile and SIMT) through the IR interpreter instead of the generated code (a
 * debugging reference, like `TRITON_INTERPRET=1`).
 */
import { DTYPE_INFO, type StorageArray } from '../dtype/dtype';
import { isTesseraError, TesseraError } from '../errors';
import type { CostRecord } from '../kernel/cost';
import { withSingleThreadedDot } from '../kernel/dot';
import type { ExecuteOptions } from '../kernel/execute';
import type { DeviceBuffer } from '../memory/buffer';
import { describeValue } from '../validate';
import { compileKernel as compileJs, runCompiled } from './codegen/compile';
import { launchArgs } from './codegen/launch-args';
import { analyzeCost } from './cost/analyze';
import { interpretProgram } from './interpret';
import { interpretSimtBlocks } from './interpret-simt';
import { type KernelIR, walk } from './ir';
import { type CompiledKernel, compileKernel, dumpModes, dumpSink } from './pipeline';
import { type PoolBuffer, type PoolJob, programPool } from './pool/pool';
import { instantiateSimt, type SimtLaunch, simtSource } from './simt/codegen';
import { simtRuntime } from './simt/runtime';
import { simtToWgsl } from './wgsl/simt';
import { tileToWgsl } from './wgsl/tile';

type Env = { TESSERA_INTERPRET?: string };
const env = (): Env => (globalThis as { process?: { env: Env } }).process?.env ?? {};

/** Below this much modelled work (vector ops + matrix FLOPs + bytes), waking worker threads costs more than it saves. */
const MIN_POOL_WORK = 1 << 24;

/** Executes one launch through the compiler and returns its cost record. */
export function executeCompiled(o: ExecuteOptions): CostRecord {
  const compiled = compileKernel(o.kernel, o.args, o.block, o.dynamicSharedBytes, o.warpSize);
  const cost = costOf(compiled, o);
  const dumps = dumpModes();
  if (dumps.size) dumpLaunch(compiled, o, cost, dumps);
  o.check?.(cost);
  // A backend that runs kernels itself lowers the launch first: what it cannot run is refused before anything runs.
  const onDevice =
    o.mode === 'functional' && o.executor
      ? o.executor.executor.prepare({
          ir: compiled.ir,
          grid: o.grid,
          block: o.block,
          dynamicSharedBytes: o.dynamicSharedBytes,
          args: o.args,
          device: o.executor.device,
          deviceLabel: o.owner.label,
        })
      : null;
  if (o.mode === 'functional') {
    try {
      if (onDevice) o.onMeasured?.(onDevice());
      else if (compiled.ir.style === 'tile') runTile(compiled, o, cost);
      else runSimt(compiled, o, cost);
    } catch (e) {
      throw asKernelFault(e, o);
    }
  }
  return cost;
}

/** `TESSERA_DUMP_IR=js` and `=wgsl` (once per specialisation) and `=cost` (every launch). */
function dumpLaunch(compiled: CompiledKernel, o: ExecuteOptions, cost: CostRecord, modes: ReadonlySet<string>): void {
  const head = `// ----- ${compiled.ir.name} ${compiled.ir.key}`;
  if (modes.has('js') && !compiled.artifacts.has('dumpedJs')) {
    compiled.artifacts.set('dumpedJs', true);
    const source =
      compiled.ir.style === 'tile'
        ? compileJs(compiled.ir).source
        : simtSource(compiled.ir, o.block ?? [1, 1, 1], o.dynamicSharedBytes);
    dumpSink.write(`${head}: generated JavaScript\n${source}`);
  }
  if (modes.has('wgsl') && !compiled.artifacts.has('dumpedWgsl')) {
    compiled.artifacts.set('dumpedWgsl', true);
    let text: string;
    try {
      text =
        compiled.ir.style === 'tile'
          ? tileToWgsl(compiled.ir, { maxWorkgroupBytes: 16384, maxInvocations: 256 }).code
          : simtToWgsl(compiled.ir, { block: o.block ?? [1, 1, 1] }).code;
    } catch (e) {
      if (!isTesseraError(e)) throw e;
      text = `// not lowered: ${(e as Error).message}`; // the dump reports a refusal; the launch itself runs on
    }
    dumpSink.write(`${head}: generated WGSL\n${text}`);
  }
  if (modes.has('cost')) {
    const t = cost.total.toJSON();
    const line = {
      grid: cost.grid,
      block: cost.block,
      programs: cost.programs,
      classes: cost.classes.length,
      total: t,
      resources: cost.resources,
      ...(cost.bounds ? { bounds: cost.bounds.map((b) => `${b.op} \`${b.snippet}\``) } : {}),
    };
    dumpSink.write(`${head}: cost ${JSON.stringify(line)}`);
  }
}

/**
 * The launch's cost record by analysis. What the analysis cannot bound (a SIMT loop whose trip count comes from loaded
 * data) is refused as `Unsupported`, naming the kernel.
 */
export function costOf(compiled: CompiledKernel, o: ExecuteOptions): CostRecord {
  try {
    return analyzeCost(compiled.ir, {
      grid: o.grid,
      block: o.block,
      args: o.args,
      dynamicSharedBytes: o.dynamicSharedBytes,
      kernelName: o.kernel.name,
      ownerLabel: o.owner.label,
      exact: o.exact,
    });
  } catch (e) {
    if (isTesseraError(e)) throw e;
    throw new TesseraError('Unsupported', `kernel '${o.kernel.name}': ${(e as Error).message}.`, {
      hint: 'The cost of every launch is computed from the kernel before it runs; restructure the kernel so the work it does follows from its parameters and program ids (e.g. a loop bound that is a parameter).',
      kernel: o.kernel.name,
    });
  }
}

/** Whether programs of the launch could touch the same memory in an order-dependent way (atomics). */
function mayRace(ir: KernelIR): boolean {
  let race = false;
  walk(ir.body, (op) => {
    if (op.opcode === 'mem.atomic' || op.opcode === 'simt.atomic') race = true;
  });
  return race;
}

function raceFlag(compiled: CompiledKernel): boolean {
  let r = compiled.artifacts.get('mayRace') as boolean | undefined;
  if (r === undefined) {
    r = mayRace(compiled.ir);
    compiled.artifacts.set('mayRace', r);
  }
  return r;
}

function workOf(cost: CostRecord): number {
  const t = cost.total;
  return t.totalVectorOps + t.totalMatrixFlops + t.bytesRead + t.bytesWritten;
}

function usePool(compiled: CompiledKernel, cost: CostRecord, programs: number) {
  if (programs < 2 || raceFlag(compiled) || workOf(cost) < MIN_POOL_WORK) return null;
  const pool = programPool();
  return pool && programs >= pool.threads ? pool : null;
}

function poolBuffers(ir: KernelIR, args: Record<string, unknown>): PoolBuffer[] {
  const out: PoolBuffer[] = [];
  for (const p of ir.params) {
    if (p.value?.type.kind !== 'buffer') continue;
    const b = args[p.name] as DeviceBuffer;
    out.push({
      sab: b.allocation.store(),
      byteOffset: b.byteOffset,
      length: b.length,
      dtype: b.dtype,
      describe: b.describe(),
      name: p.name,
    });
  }
  return out;
}

function runTile(compiled: CompiledKernel, o: ExecuteOptions, cost: CostRecord): void {
  const { ir } = compiled;
  const L = launchArgs(ir, o.args, o.grid, o.owner.label);
  const programs = o.grid[0] * o.grid[1] * o.grid[2];
  if (env().TESSERA_INTERPRET === '1') {
    for (let pid = 0; pid < programs; pid++) {
      const x = pid % o.grid[0];
      const y = Math.floor(pid / o.grid[0]) % o.grid[1];
      const z = Math.floor(pid / (o.grid[0] * o.grid[1]));
      interpretProgram(ir, L, [x, y, z]);
    }
    return;
  }
  const js = compileJs(ir);
  const pool = usePool(compiled, cost, programs);
  if (!pool) {
    runCompiled(js, ir, L, 0, programs);
    return;
  }
  const job: PoolJob = {
    kind: 'tile',
    source: js.source,
    key: `${o.kernel.id}${compiled.spec.key}`,
    meta: {},
    kernel: o.kernel.name,
    ownerLabel: o.owner.label,
    grid: o.grid,
    buffers: poolBuffers(ir, o.args),
    scalars: L.scalars,
    arrays: L.arrays,
    total: programs,
  };
  withSingleThreadedDot(() => pool.run(job, (s, e) => runCompiled(js, ir, L, s, e)));
}

interface SimtArtifact {
  source: string;
  run: (b0: number, b1: number, launch: SimtLaunch) => void;
  ctx: { kernel: string; ownerLabel: string; buffers: { buffer: DeviceBuffer; name: string }[] };
}

function runSimt(compiled: CompiledKernel, o: ExecuteOptions, cost: CostRecord): void {
  const { ir } = compiled;
  const block = o.block ?? [1, 1, 1];
  let art = compiled.artifacts.get('simt') as SimtArtifact | undefined;
  if (!art) {
    const source = simtSource(ir, block, o.dynamicSharedBytes);
    const ctx: SimtArtifact['ctx'] = { kernel: o.kernel.name, ownerLabel: o.owner.label, buffers: [] };
    art = {
      source,
      ctx,
      run: instantiateSimt(
        source,
        simtRuntime(() => ctx),
      ),
    };
    compiled.artifacts.set('simt', art);
  }
  const launch: SimtLaunch = { grid: o.grid, buffers: [], lengths: [], scalars: [], arrays: [] };
  const named: { buffer: DeviceBuffer; name: string }[] = [];
  for (const p of ir.params) {
    if (!p.value) continue;
    const v = o.args[p.name];
    if (p.value.type.kind === 'buffer') {
      const b = v as DeviceBuffer;
      named.push({ buffer: b, name: p.name });
      launch.buffers.push(b.storage());
      launch.lengths.push(b.length);
    } else if (p.value.type.kind === 'array') launch.arrays.push(v as number[]);
    else launch.scalars.push(v as number);
  }
  art.ctx.kernel = o.kernel.name;
  art.ctx.ownerLabel = o.owner.label;
  art.ctx.buffers = named;
  const blocks = o.grid[0] * o.grid[1] * o.grid[2];
  if (env().TESSERA_INTERPRET === '1') {
    const ctx = art.ctx;
    const rt = simtRuntime(() => ctx);
    const buffers = launch.buffers as StorageArray[];
    interpretSimtBlocks(ir, block, o.dynamicSharedBytes, { ...launch, buffers, rt }, 0, blocks);
    return;
  }
  const pool = usePool(compiled, cost, blocks);
  if (!pool) {
    art.run(0, blocks, launch);
    return;
  }
  const job: PoolJob = {
    kind: 'simt',
    source: art.source,
    key: `${o.kernel.id}${compiled.spec.key}`,
    meta: { block, dynamicSharedBytes: o.dynamicSharedBytes },
    kernel: o.kernel.name,
    ownerLabel: o.owner.label,
    grid: o.grid,
    buffers: poolBuffers(ir, o.args),
    scalars: launch.scalars,
    arrays: launch.arrays,
    total: blocks,
  };
  const run = art.run;
  pool.run(job, (s, e) => run(s, e, launch));
}

/**
 * A throw while programs ran: faults (illegal addresses) pass through; anything else (a JavaScript error of the
 * generated code or the runtime) becomes a sticky `LaunchFailure` naming the kernel — what the launch wrote is
 * undefined, as after a CUDA kernel fault.
 */
export function asKernelFault(e: unknown, o: ExecuteOptions): unknown {
  if (isTesseraError(e) && e.sticky) return e;
  const what = isTesseraError(e)
    ? `failed while its programs ran: ${e.message.replace(/\.$/, '')}`
    : `threw ${e instanceof Error ? `${e.name}: ${e.message}` : describeValue(e)}`;
  return new TesseraError('LaunchFailure', `kernel '${o.kernel.name}' ${what}.`, {
    hint:
      'The device is now in an error state, as after a CUDA kernel fault: every call on it fails until ' +
      'device.reset(), which releases its memory (what the launch wrote is undefined).',
    device: o.owner.label,
    kernel: o.kernel.name,
    cause: e,
  });
}

export { DTYPE_INFO };
