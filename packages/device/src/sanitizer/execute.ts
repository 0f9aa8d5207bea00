/**
 * A launch under the sanitizer. The same path as a plain launch up to the run — compile (cached), cost by analysis,
 * the device's checks — then, in functional mode, the IR interpreter (tile or SIMT) with the checks' hooks on every
 * access and barrier, instead of the generated code. The cost record and the modelled time are the plain launch's;
 * only the wall time differs.
 *
 * A launch that faults still fails as it would without the sanitizer (the same error, after the reports): an
 * out-of-bounds access is reported and skipped, the run goes on to find the others, and the first fault in program
 * order is then thrown. Launches the runtime refuses before running — a freed buffer or one of another device
 * (memcheck), a shared view the device's alignment rule refuses (memcheck), a barrier under thread-dependent control
 * (synccheck) — are run on copies of memory to find and report the accesses (or barriers) at fault, then refused as
 * before.
 */

import { launchArgs } from '../compiler/codegen/launch-args';
import { interpretPrograms } from '../compiler/interpret';
import { interpretSimtBlocks, type SharedRef, simtSharedLayout } from '../compiler/interpret-simt';
import type { KernelIR } from '../compiler/ir';
import { asKernelFault, costOf } from '../compiler/launch';
import { canonicalize } from '../compiler/passes/canonicalize';
import { verify } from '../compiler/passes/verify';
import { compileKernel } from '../compiler/pipeline';
import { simtRuntime } from '../compiler/simt/runtime';
import { specialize } from '../compiler/specialize';
import { stageKernel } from '../compiler/stage-kernel';
import { type StorageArray, storageView } from '../dtype/dtype';
import { isTesseraError } from '../errors';
import type { CostRecord } from '../kernel/cost';
import type { ExecuteOptions } from '../kernel/execute';
import type { Kernel } from '../kernel/kernel';
import { type BufferOwner, DeviceBuffer } from '../memory/buffer';
import { type CheckMode, type CheckTarget, LaunchCheck } from './check';
import type { SanitizerState } from './state';

/** Storage for each buffer argument: its own, or (diagnostic runs) a copy that the run may scribble on. */
type Storage = (b: DeviceBuffer) => StorageArray;

const own: Storage = (b) => b.storage();

function copies(): Storage {
  const stores = new Map<object, SharedArrayBuffer>();
  return (b) => {
    const a = b.allocation;
    let s = stores.get(a);
    if (!s) {
      s = new SharedArrayBuffer(a.byteLength);
      if (a.hasData) new Uint8Array(s).set(new Uint8Array(a.store()));
      stores.set(a, s);
    }
    return storageView(b.dtype, s, b.byteOffset, b.length);
  };
}

function bufferParams(ir: KernelIR, args: Record<string, unknown>): { name: string; buffer: DeviceBuffer }[] {
  const out: { name: string; buffer: DeviceBuffer }[] = [];
  for (const p of ir.params)
    if (p.value?.type.kind === 'buffer') out.push({ name: p.name, buffer: args[p.name] as DeviceBuffer });
  return out;
}

/** Runs the launch instrumented by `mode` over `storage`; returns the check (its fault, if any, not yet thrown). */
function runChecked(
  san: SanitizerState,
  o: ExecuteOptions,
  ir: KernelIR,
  mode: CheckMode,
  storage: Storage,
  views?: (refs: readonly SharedRef[]) => CheckMode,
): LaunchCheck {
  const named = bufferParams(ir, o.args);
  const buffers = named.map((b) => ({ ...b, mem: storage(b.buffer) }));
  const programs = o.grid[0] * o.grid[1] * o.grid[2];
  if (ir.style === 'tile') {
    const L = launchArgs(ir, o.args, o.grid, o.owner.label, (b) => buffers.find((x) => x.buffer === b)!.mem);
    const t: CheckTarget = {
      kernel: o.kernel.name,
      owner: o.owner,
      style: 'tile',
      grid: o.grid,
      threads: 1,
      buffers,
      L,
    };
    const check = new LaunchCheck(san, t, mode);
    try {
      interpretPrograms(ir, L, 0, programs, check.tileHooks());
    } finally {
      check.finish();
    }
    return check;
  }
  const block = o.block ?? [1, 1, 1];
  const layout = simtSharedLayout(ir, block, o.dynamicSharedBytes);
  const ctx = { kernel: o.kernel.name, ownerLabel: o.owner.label, buffers: named };
  const rt = simtRuntime(() => ctx);
  const t: CheckTarget = {
    kernel: o.kernel.name,
    owner: o.owner,
    style: 'simt',
    grid: o.grid,
    threads: block[0] * block[1] * block[2],
    buffers,
    rt,
    sharedBytes: layout.bytes,
  };
  const check = new LaunchCheck(san, t, views ? views(layout.refs) : mode);
  const scalars: number[] = [];
  const arrays: (readonly number[])[] = [];
  for (const p of ir.params) {
    if (!p.value || p.value.type.kind === 'buffer') continue;
    if (p.value.type.kind === 'array') arrays.push(o.args[p.name] as number[]);
    else scalars.push(o.args[p.name] as number);
  }
  try {
    interpretSimtBlocks(
      ir,
      block,
      o.dynamicSharedBytes,
      {
        grid: o.grid,
        buffers: buffers.map((b) => b.mem),
        lengths: buffers.map((b) => b.buffer.length),
        scalars,
        arrays,
        rt,
        hooks: check.simtHooks(),
      },
      0,
      programs,
    );
  } finally {
    check.finish();
  }
  return check;
}

/** A launch through the compiler with the sanitizer's checks (functional mode). */
export function sanitizedExecute(
  san: SanitizerState,
  o: ExecuteOptions,
  plain: (o: ExecuteOptions) => CostRecord,
): CostRecord {
  if (o.mode !== 'functional') {
    san.note(
      'timing',
      'Note: timing-only launches are costed, not run: the sanitizer checks functional launches only.',
    );
    return plain(o);
  }
  let compiled: ReturnType<typeof compileKernel>;
  try {
    compiled = compileKernel(o.kernel, o.args, o.block, o.dynamicSharedBytes, o.warpSize);
  } catch (e) {
    if (san.has('synccheck') && isTesseraError(e, 'CompileError')) diagnoseBarriers(san, o);
    throw e;
  }
  let cost: CostRecord | null = null;
  let fault: unknown = null;
  try {
    cost = costOf(compiled, o);
  } catch (e) {
    // A fault the analysis finds before anything runs (an unmasked access out of bounds, a view past its buffer):
    // the run below reports every access at fault; the analysis's error is then thrown, as without the sanitizer.
    if (!(isTesseraError(e) && e.sticky)) throw e;
    fault = e;
  }
  if (cost) {
    try {
      o.check?.(cost);
    } catch (e) {
      if (san.has('memcheck') && compiled.ir.style === 'simt') diagnoseAlignment(san, o, compiled.ir, e);
      throw e;
    }
  }
  san.launches++;
  san.launchSeq++;
  let check: LaunchCheck;
  try {
    check = runChecked(san, o, compiled.ir, { kind: 'run' }, own);
  } catch (e) {
    throw asKernelFault(fault ?? e, o);
  }
  if (fault) throw fault;
  if (check.fault) throw check.fault;
  return cost!;
}

// ------------------------------------------------------------------------------------------------- diagnostics

/**
 * memcheck: the runtime refused a launch's arguments. For a freed buffer or one of another device, run the kernel on
 * copies of memory and report each access to it (where, by whom); nothing is written to device memory.
 */
export function diagnoseRefused(san: SanitizerState, o: ExecuteOptions): void {
  if (!san.has('memcheck') || o.mode !== 'functional') return;
  const bad = new Map<string, 'use-after-free' | 'wrong-device'>();
  for (const [name, v] of Object.entries(o.args)) {
    if (!(v instanceof DeviceBuffer)) continue;
    if (v.allocation.freed) bad.set(name, 'use-after-free');
    else if (v.owner !== o.owner) bad.set(name, 'wrong-device');
  }
  if (!bad.size) return;
  let ir: KernelIR;
  try {
    ir = compileKernel(o.kernel, o.args, o.block, o.dynamicSharedBytes, o.warpSize).ir;
  } catch {
    return;
  }
  const byIndex = new Map<number, 'use-after-free' | 'wrong-device'>();
  bufferParams(ir, o.args).forEach((b, k) => {
    const why = bad.get(b.name);
    if (why) byIndex.set(k, why);
  });
  try {
    runChecked(san, o, ir, { kind: 'refused', bad: byIndex }, copies());
  } catch {
    // The diagnosis is best effort: the launch is refused either way.
  }
}

/** memcheck: the device refused a dynamic-shared view's alignment (Ascend's Unified Buffer: 32 bytes). */
function diagnoseAlignment(san: SanitizerState, o: ExecuteOptions, ir: KernelIR, e: unknown): void {
  if (!isTesseraError(e, 'InvalidValue') || !/misaligned/i.test(e.message)) return;
  const props = (o.owner as BufferOwner & { properties?: { onChip?: { sharedAlignment?: number }; name?: string } })
    .properties;
  const align = props?.onChip?.sharedAlignment ?? 1;
  const views = (refs: readonly SharedRef[]): CheckMode => {
    const bad = new Set<SharedRef>();
    for (const r of refs) {
      if (r.op?.opcode === 'simt.dynamic_shared' && (r.op.attrs.offset as number) % align !== 0) bad.add(r);
    }
    // Subarrays of a misaligned view start misaligned too (their name starts with the view's).
    for (const r of refs)
      if (r.op?.opcode === 'simt.shared_view' && [...bad].some((b) => r.name.startsWith(`${b.name}.`))) bad.add(r);
    return { kind: 'misaligned', views: bad, align, device: props?.name ?? o.owner.label };
  };
  try {
    runChecked(san, o, ir, { kind: 'sync' }, copies(), views);
  } catch {
    // best effort
  }
}

const relaxed = new WeakMap<Kernel, Map<string, KernelIR | null>>();

/**
 * synccheck: the compiler refused the kernel (a barrier under control flow that may differ between threads). Compile
 * it without that rule and run it on copies of memory, reporting each barrier that only part of a block reaches.
 */
function diagnoseBarriers(san: SanitizerState, o: ExecuteOptions): void {
  if (o.kernel.style !== 'simt') return;
  let ir: KernelIR | null;
  try {
    const spec = specialize(o.kernel, o.args, o.block, o.dynamicSharedBytes, o.warpSize);
    let m = relaxed.get(o.kernel);
    if (!m) relaxed.set(o.kernel, (m = new Map()));
    ir = m.get(spec.key) ?? null;
    if (!m.has(spec.key)) {
      try {
        ir = verify(canonicalize(stageKernel(o.kernel, spec)), { barriers: false });
      } catch {
        ir = null;
      }
      m.set(spec.key, ir);
    }
  } catch {
    return;
  }
  if (!ir) return;
  try {
    runChecked(san, o, ir, { kind: 'sync' }, copies());
  } catch {
    // best effort
  }
}
