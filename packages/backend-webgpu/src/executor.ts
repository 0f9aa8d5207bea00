/**
 * The webgpu backend's executor (Backend.executor in @tessera/device): a launch's IR is lowered to WGSL (cached per
 * IR and block shape), compiled on the GPU thread before anything runs (so what cannot run is refused cleanly), then
 * run there on the runtime's memory. Faults come back in the kernel's fault record and become the same sticky errors
 * the CPU back ends raise.
 */
import {
  DeviceBuffer,
  DTYPE_INFO,
  type ExecutorLaunch,
  type KernelExecutor,
  type KernelIR,
  type KernelMeasurement,
  TesseraError,
} from '@tessera/device';
import { lowerToWgsl, type WgslProgram } from '@tessera/device/wgsl';
import type { GpuThread } from './bridge';
import type { FaultRecord, ProgramBuffer } from './gpu/run-program';
import type { AdapterReport, Reply, SharedRegion } from './protocol';

const ADDRESS_HINT =
  'Mask or guard the access, or fix the index math. The device is now in an error state, as after a CUDA ' +
  'illegal-address fault: call device.reset().';

export function createExecutor(thread: GpuThread, adapter: AdapterReport): KernelExecutor {
  /** Lowered programs per IR (an IR is one specialisation) and block shape; `compiled` once the GPU accepted it. */
  const programs = new WeakMap<KernelIR, Map<string, { program: WgslProgram; compiled: boolean }>>();

  function lower(l: ExecutorLaunch): { program: WgslProgram; compiled: boolean } {
    let byBlock = programs.get(l.ir);
    if (!byBlock) {
      byBlock = new Map();
      programs.set(l.ir, byBlock);
    }
    const key = `${l.block?.join(',') ?? '-'}|${l.dynamicSharedBytes}`;
    let entry = byBlock.get(key);
    if (!entry) {
      const program = lowerToWgsl(l.ir, {
        block: l.block ?? [1, 1, 1],
        subgroupSize: adapter.subgroupSize ?? undefined,
        maxWorkgroupBytes: adapter.limits.maxComputeWorkgroupStorageSize ?? 16384,
        maxInvocations: adapter.limits.maxComputeInvocationsPerWorkgroup ?? 256,
      });
      const missing = program.features.filter((f) => !adapter.features.includes(f));
      if (missing.length)
        throw new TesseraError(
          'Unsupported',
          `kernel '${l.ir.name}' needs the WebGPU feature(s) ${missing.join(', ')}, which ${l.deviceLabel} does not have.`,
          { hint: 'Run it on a simulator backend, or on an adapter with those features.', kernel: l.ir.name },
        );
      entry = { program, compiled: false };
      byBlock.set(key, entry);
    }
    return entry;
  }

  function fail(l: ExecutorLaunch, r: Extract<Reply, { ok: false }>, compiling: boolean): never {
    if (compiling || r.kind === 'compile')
      throw new TesseraError(
        'Unsupported',
        `kernel '${l.ir.name}': the WebGPU compiler rejected its WGSL (a Tessera lowering bug): ${r.error}`,
        {
          hint: 'Dump it with TESSERA_DUMP_IR=wgsl and report it; the simulator backends run the kernel meanwhile.',
          kernel: l.ir.name,
        },
      );
    throw new TesseraError('LaunchFailure', `kernel '${l.ir.name}' failed on ${l.deviceLabel}: ${r.error}.`, {
      hint: 'The device is now in an error state: call device.reset().',
      kernel: l.ir.name,
      device: l.deviceLabel,
    });
  }

  return {
    prepare(l: ExecutorLaunch): () => KernelMeasurement {
      const entry = lower(l);
      const launch = memoryOf(l, entry.program);
      if (!entry.compiled) {
        const r = thread.call({ op: 'compile', program: entry.program });
        if (!r.ok) fail(l, r, true);
        entry.compiled = true;
      }
      return () => {
        const r = thread.call({ op: 'run', program: entry.program, launch });
        if (!r.ok) fail(l, r, false);
        if (!('wallMs' in r)) throw new Error('webgpu: unexpected reply to a run');
        if (r.fault) throw faultError(l, entry.program, r.fault);
        return r.gpuMs !== null ? { ms: r.gpuMs, by: 'timestamp-query' } : { ms: r.wallMs, by: 'host-wall' };
      };
    },
  };
}

/**
 * The launch's memory as regions (windows of the runtime's SharedArrayBuffers, one GPU buffer each). WebGPU forbids
 * binding overlapping ranges of one buffer when one of the bindings is writable, so views are grouped by overlap:
 * views that do not overlap get regions of their own; within a group of overlapping views the written parameter gets
 * the region that is read back and the read-only ones share a snapshot of it taken at launch (so a kernel reading
 * through one parameter what it writes through an aliasing one sees the values from before the launch — a pattern
 * that is a race in CUDA unless one thread does both). Two written parameters that overlap are refused.
 */
function memoryOf(l: ExecutorLaunch, program: WgslProgram) {
  const written = new Set(
    program.bindings
      .filter((b) => b.kind === 'buffer' && b.access === 'read_write')
      .map((b) => (b as { name: string }).name),
  );
  const scalars: Record<string, number> = {};
  const arrays: Record<string, readonly number[]> = {};
  const views: { name: string; b: DeviceBuffer; lo: number; hi: number }[] = [];
  for (const p of l.ir.params) {
    if (!p.value) continue;
    const v = l.args[p.name];
    if (v instanceof DeviceBuffer)
      views.push({ name: p.name, b: v, lo: v.byteOffset, hi: v.byteOffset + v.byteLength });
    else if (Array.isArray(v)) arrays[p.name] = v as number[];
    else if (typeof v === 'number' || typeof v === 'boolean') scalars[p.name] = Number(v);
  }
  // Overlap groups per allocation (sorted sweep).
  const groups: (typeof views)[] = [];
  const byAlloc = new Map<object, typeof views>();
  for (const v of views) byAlloc.set(v.b.allocation, [...(byAlloc.get(v.b.allocation) ?? []), v]);
  for (const list of byAlloc.values()) {
    list.sort((x, y) => x.lo - y.lo);
    let cur: typeof views = [];
    let end = -1;
    for (const v of list) {
      if (cur.length && v.lo >= end) {
        groups.push(cur);
        cur = [];
      }
      cur.push(v);
      end = Math.max(end, v.hi);
    }
    if (cur.length) groups.push(cur);
  }
  const regions: SharedRegion[] = [];
  const buffers: Record<string, ProgramBuffer> = {};
  for (const g of groups) {
    const writers = g.filter((v) => written.has(v.name));
    if (writers.length > 1 && g.some((v) => v.hi > v.lo))
      throw new TesseraError(
        'Unsupported',
        `kernel '${l.ir.name}': parameters ${writers.map((w) => `'${w.name}'`).join(' and ')} are overlapping views of one allocation and both are written; WebGPU cannot bind them together.`,
        { hint: 'Pass one view and index into it, or pass non-overlapping views.', kernel: l.ir.name },
      );
    const lo = Math.min(...g.map((v) => v.lo));
    const start = lo - (lo % 4);
    const span = {
      sab: g[0]!.b.allocation.store(),
      byteOffset: start,
      byteLength: Math.max(...g.map((v) => v.hi)) - start,
    };
    const shared = regions.length;
    regions.push(span);
    const readers = writers.length ? g.filter((v) => !written.has(v.name)) : [];
    const snapshot = readers.length ? regions.push({ ...span }) - 1 : shared;
    for (const v of g) {
      const byteOffset = v.lo - start;
      const eb = DTYPE_INFO[v.b.dtype].bytes;
      if (byteOffset % eb !== 0)
        throw new TesseraError(
          'Unsupported',
          `kernel '${l.ir.name}': ${v.b.describe()} starts at byte ${v.lo}, not aligned to its ${eb}-byte elements as WebGPU storage needs.`,
          { hint: 'Pass views whose offset is a multiple of their element size.', kernel: l.ir.name },
        );
      buffers[v.name] = { region: readers.includes(v) ? snapshot : shared, byteOffset, length: v.b.length };
    }
  }
  return { grid: l.grid, regions, buffers, scalars, arrays, timestamps: true };
}

/** The fault record as the CPU back ends word it (codegen/runtime.ts, simt/runtime.ts). */
function faultError(l: ExecutorLaunch, program: WgslProgram, f: FaultRecord): TesseraError {
  const [gx, gy] = l.grid;
  const at = [f.lin % gx, Math.floor(f.lin / gx) % gy, Math.floor(f.lin / (gx * gy))];
  let where = `kernel '${l.ir.name}' program (${at.join(', ')})`;
  if (l.ir.style === 'simt') {
    const [bx, by] = l.block ?? [1, 1, 1];
    const t = [f.thread % bx, Math.floor(f.thread / bx) % by, Math.floor(f.thread / (bx * by))];
    where = `kernel '${l.ir.name}' block (${at.join(', ')}) thread (${t.join(', ')})`;
  }
  const site = program.sites[f.site];
  const more = f.count > 1 ? ` (${f.count} faulting accesses in all; the GPU reports one)` : '';
  if (!site || site.kind === 'trap')
    return new TesseraError('LaunchFailure', `${where}: ${site?.message ?? 'the kernel trapped'}${more}.`, {
      hint: 'The device is now in an error state: call device.reset().',
      kernel: l.ir.name,
      device: l.deviceLabel,
    });
  if (site.kind === 'shared') {
    const sh = site.shared ?? { dtype: '?', length: 0 };
    return new TesseraError(
      'IllegalAddress',
      `${where}: ${site.op} of shared array '${site.name}' (${sh.dtype}[${sh.length}]) at index ${f.index} is out of bounds (valid 0..${sh.length - 1})${more}.`,
      { hint: ADDRESS_HINT, kernel: l.ir.name, device: l.deviceLabel, index: f.index },
    );
  }
  const buf = l.args[site.name];
  const desc = buf instanceof DeviceBuffer ? buf.describe() : `'${site.name}'`;
  const len = buf instanceof DeviceBuffer ? buf.length : 0;
  const unit = l.ir.style === 'simt' ? 'index' : 'element';
  return new TesseraError(
    'IllegalAddress',
    `${where}: ${site.op} of ${desc} at ${unit} ${f.index} is out of bounds (valid 0..${len - 1})${more}.`,
    { hint: ADDRESS_HINT, kernel: l.ir.name, device: l.deviceLabel, index: f.index },
  );
}
