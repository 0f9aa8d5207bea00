/**
 * The webgpu backend's executor (Backend.executor in @tessera/device): a launch's IR is lowered to WGSL (cached per
 * IR and block shape), compiled on the GPU thread before anything runs (so what cannot run is refused cleanly), then
 * run there on the runtime's memory. Faults come back in the kernel's fault record and become the same sticky errors
 * the CPU back ends raise.
 */
import {
  DeviceBuffer,
  type DeviceCopy,
  DTYPE_INFO,
  type DType,
  type ExecutorLaunch,
  type KernelExecutor,
  type KernelIR,
  type KernelMeasurement,
  TesseraError,
} from '@tessera/device';
import type { FaultRecord } from '@tessera/device/wgsl';
import { lowerToWgsl, type WgslProgram } from '@tessera/device/wgsl';
import type { GpuThread } from './bridge';
import type { AdapterReport, LaunchAllocation, LaunchView, Reply } from './protocol';

type Allocation = DeviceBuffer['allocation'];

const ADDRESS_HINT =
  'Mask or guard the access, or fix the index math. The device is now in an error state, as after a CUDA ' +
  'illegal-address fault: call device.reset().';

export function createExecutor(thread: GpuThread, adapter: AdapterReport): KernelExecutor {
  /** The host version of each allocation's bytes at its last upload. */
  const uploaded = new WeakMap<Allocation, number>();

  function residentCopy(a: Allocation): DeviceCopy {
    return {
      pull(host: SharedArrayBuffer) {
        const r = thread.call({ op: 'pull', uid: a.uid, sab: host, byteLength: a.byteLength });
        if (!r.ok)
          throw new TesseraError('LaunchFailure', `webgpu: reading device memory back failed: ${r.error}.`, {
            hint: 'The GPU thread failed; call device.reset().',
          });
      },
      release() {
        thread.call({ op: 'free', uid: a.uid });
      },
    };
  }

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
        maxStorageBuffers: adapter.limits.maxStorageBuffersPerShaderStage ?? 8,
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
      const t0 = performance.now();
      const entry = lower(l);
      const t1 = performance.now();
      if (!entry.compiled) {
        const r = thread.call({ op: 'compile', program: entry.program });
        if (!r.ok) fail(l, r, true);
        entry.compiled = true;
        profile.compiles++;
        profile.compileMs += performance.now() - t1;
      }
      return () => {
        const { allocs, launch } = memoryOf(l, uploaded, adapter.limits.maxBufferSize ?? 2 ** 28);
        for (const a of allocs) a.deviceCopy ??= residentCopy(a);
        const t2 = performance.now();
        const r = thread.call({ op: 'run', program: entry.program, ...launch });
        profile.launches++;
        profile.lowerMs += t1 - t0;
        profile.runMs += performance.now() - t2;
        if (r.ok && 'wallMs' in r) profile.gpuMs += r.gpuMs ?? r.wallMs;
        // What the launch wrote now lives on the GPU; the host pulls it when it next touches the bytes.
        for (const b of entry.program.bindings)
          if (b.kind === 'buffer' && b.access === 'read_write')
            allocs[launch.buffers[b.name]!.alloc]!.deviceNewer = true;
        if (!r.ok) fail(l, r, false);
        if (!('wallMs' in r)) throw new Error('webgpu: unexpected reply to a run');
        if (r.fault) throw faultError(l, entry.program, r.fault);
        return r.gpuMs !== null ? { ms: r.gpuMs, by: 'timestamp-query' } : { ms: r.wallMs, by: 'host-wall' };
      };
    },
  };
}

/**
 * Where a process's webgpu time went (`TESSERA_WEBGPU_PROFILE=1` prints it at exit): lowering to WGSL, compiling
 * pipelines on the GPU thread, and launches (host round trip, of which the GPU's own time is `gpuMs`).
 */
const profile = { launches: 0, compiles: 0, lowerMs: 0, compileMs: 0, runMs: 0, gpuMs: 0 };
if (typeof process !== 'undefined' && process.env.TESSERA_WEBGPU_PROFILE === '1')
  process.on('exit', () => {
    const f = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    process.stderr.write(
      `webgpu profile: ${profile.launches} launches, ${profile.compiles} pipelines compiled in ${f(profile.compileMs)}; ` +
        `lowering ${f(profile.lowerMs)}; launches ${f(profile.runMs)} (GPU ${f(profile.gpuMs)})\n`,
    );
  });

/**
 * The launch's memory: every allocation its buffer parameters view (resident on the GPU thread; uploaded when the
 * host bytes changed since the last upload, or never reached the GPU), each parameter's view, scalars and host
 * arrays.
 */
function memoryOf(l: ExecutorLaunch, uploaded: WeakMap<Allocation, number>, maxBufferBytes: number) {
  const scalars: Record<string, number> = {};
  const arrays: Record<string, readonly number[]> = {};
  const allocs: Allocation[] = [];
  const index = new Map<Allocation, number>();
  const buffers: Record<string, LaunchView> = {};
  for (const p of l.ir.params) {
    if (!p.value) continue;
    const v = l.args[p.name];
    if (v instanceof DeviceBuffer) {
      const eb = DTYPE_INFO[v.dtype as DType].bytes;
      if (v.byteOffset % eb !== 0)
        throw new TesseraError(
          'Unsupported',
          `kernel '${l.ir.name}': ${v.describe()} starts at byte ${v.byteOffset}, not aligned to its ${eb}-byte elements as WebGPU storage needs.`,
          { hint: 'Pass views whose offset is a multiple of their element size.', kernel: l.ir.name },
        );
      if (v.allocation.byteLength > maxBufferBytes)
        throw new TesseraError(
          'Unsupported',
          `kernel '${l.ir.name}': ${v.describe()} is part of a ${v.allocation.byteLength}-byte allocation, above this adapter's maxBufferSize (${maxBufferBytes} bytes).`,
          { hint: 'Allocate smaller buffers (e.g. one per layer) on this adapter.', kernel: l.ir.name },
        );
      let i = index.get(v.allocation);
      if (i === undefined) {
        i = allocs.push(v.allocation) - 1;
        index.set(v.allocation, i);
      }
      buffers[p.name] = { alloc: i, byteOffset: v.byteOffset, byteLength: v.byteLength, length: v.length };
    } else if (Array.isArray(v)) arrays[p.name] = v as number[];
    else if (typeof v === 'number' || typeof v === 'boolean') scalars[p.name] = Number(v);
  }
  const allocations: LaunchAllocation[] = allocs.map((a) => {
    const at = uploaded.get(a);
    // A never-materialised allocation is zeros on both sides (new GPU buffers are zero-filled).
    const stale = at === undefined ? a.materialized : at !== a.hostVersion;
    uploaded.set(a, a.hostVersion);
    return { uid: a.uid, byteLength: a.byteLength, upload: stale ? a.rawStore() : null };
  });
  return { allocs, launch: { grid: l.grid, allocations, buffers, scalars, arrays, timestamps: true } };
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
