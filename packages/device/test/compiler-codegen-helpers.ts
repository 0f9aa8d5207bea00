/**
 * Runs a kernel three ways from the same initial memory — the eager interpreter (through `dev.launch`), the generated
 * code and the IR interpreter — and compares every argument buffer bit for bit (or, when the eager run faults, the
 * error's code and message).
 */
import { expect } from 'vitest';
import { compileKernel, runCompiled } from '../src/compiler/codegen/compile';
import { launchArgs } from '../src/compiler/codegen/launch-args';
import { interpretPrograms } from '../src/compiler/interpret';
import { printIR } from '../src/compiler/ir';
import { specialize } from '../src/compiler/specialize';
import { stageKernel } from '../src/compiler/stage-kernel';
import type { DType } from '../src/dtype/dtype';
import { createRuntime, type Device, type DeviceBuffer, type Kernel } from '../src/index';
import type { Allocation } from '../src/memory/buffer';
import { rng } from '../src/random';
import { createTestBackend } from '../src/testing/test-backend';

/** A test device that also takes fp8 (the plain testchip does not). */
export async function device(): Promise<Device> {
  const backend = createTestBackend();
  const base = backend.catalog()[0]!;
  backend.addDevice!({
    ...base,
    id: 'testchip-fp8',
    dtypes: [...base.dtypes, 'fp8e4m3', 'fp8e5m2'],
    peakTflops: { ...base.peakTflops, matrix: { ...base.peakTflops.matrix, fp8e4m3: 8, fp8e5m2: 8 } },
  });
  return (await createRuntime({ backend, mode: 'functional', devices: 'testchip-fp8' })).device(0);
}

/** Random values for a dtype (never all zeros), with NaN / ±0 / ±∞ sprinkled in for floats when `specials`. */
export function values(
  dtype: DType,
  n: number,
  seed: number,
  opts: { specials?: boolean; lo?: number; hi?: number } = {},
): number[] {
  const r = rng(seed);
  const out: number[] = [];
  const float = dtype === 'f32' || dtype === 'f16' || dtype === 'bf16' || dtype === 'fp8e4m3' || dtype === 'fp8e5m2';
  const [lo, hi] =
    opts.lo !== undefined && opts.hi !== undefined
      ? [opts.lo, opts.hi]
      : float
        ? [-6, 6]
        : dtype === 'u8'
          ? [0, 256]
          : dtype === 'i8'
            ? [-128, 128]
            : dtype === 'i16'
              ? [-40000, 40000]
              : [-3e9, 3e9];
  const specials = [
    Number.NaN,
    0,
    -0,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    1e30,
    -1e-30,
    65504.5,
    0.5,
    -2.5,
  ];
  for (let i = 0; i < n; i++) {
    if (float && opts.specials && r() < 0.15) out.push(specials[Math.floor(r() * specials.length)]!);
    else {
      const v = lo + r() * (hi - lo);
      out.push(float ? v : Math.floor(v));
    }
  }
  return out;
}

export function buffer(
  dev: Device,
  dtype: DType,
  n: number,
  seed: number,
  opts: { specials?: boolean; lo?: number; hi?: number } = {},
): DeviceBuffer {
  const b = dev.alloc(dtype, n);
  const vals = values(dtype, n, seed, opts);
  if (dtype === 'i32' || dtype === 'i16' || dtype === 'i8' || dtype === 'u8') {
    // Raw integers (upload would saturate): write the wrapped bits directly.
    const st = b.storage();
    for (let i = 0; i < n; i++) st[i] = vals[i]!;
  } else dev.upload(b, vals);
  return b;
}

/** A buffer poisoned with garbage bits (an output: every element the kernel does not write keeps them). */
export function poisoned(dev: Device, dtype: DType, n: number, seed = 99): DeviceBuffer {
  const b = dev.alloc(dtype, n);
  const bytes = b.bytes();
  const r = rng(seed);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
  if (dtype === 'f32') {
    const st = b.storage() as Float32Array;
    for (let i = 0; i < n; i++) if (!Number.isFinite(st[i]!)) st[i] = Number.NaN;
  }
  return b;
}

type Grid = number | readonly [number, number?, number?];

function grid3(g: Grid): [number, number, number] {
  if (typeof g === 'number') return [g, 1, 1];
  return [g[0], g[1] ?? 1, g[2] ?? 1];
}

function allocationsOf(args: Record<string, unknown>): Allocation[] {
  const out = new Set<Allocation>();
  for (const v of Object.values(args))
    if (v && typeof v === 'object' && 'allocation' in v) out.add((v as DeviceBuffer).allocation);
  return [...out];
}

function snapshot(allocs: Allocation[]): Uint8Array[] {
  return allocs.map((a) => new Uint8Array(a.store()).slice());
}

function restore(allocs: Allocation[], snap: Uint8Array[]): void {
  allocs.forEach((a, i) => {
    new Uint8Array(a.store()).set(snap[i]!);
  });
}

function firstDiff(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

export interface Outcome {
  /** Bytes of each argument allocation after the run, or the error. */
  bytes: Uint8Array[] | null;
  error: { code?: string; message: string } | null;
}

/**
 * Runs `kernel` eagerly, then compiled and interpreted from the same initial memory; expects identical memory
 * (or identical errors). Returns the generated source (for assertions on fusion).
 */
export function expectSame(dev: Device, kernel: Kernel, grid: Grid, args: Record<string, unknown>): string {
  const g = grid3(grid);
  const allocs = allocationsOf(args);
  const initial = snapshot(allocs);
  const ir = stageKernel(kernel, specialize(kernel, args, null, 0));
  const compiled = compileKernel(ir);
  const run = (how: 'eager' | 'codegen' | 'interp'): Outcome => {
    restore(allocs, initial);
    try {
      if (how === 'eager') dev.launch(kernel, { grid: g }, args as never);
      else {
        const L = launchArgs(ir, args, g, dev.label);
        const n = g[0] * g[1] * g[2];
        if (how === 'codegen') runCompiled(compiled, ir, L, 0, n);
        else interpretPrograms(ir, L, 0, n);
      }
      return { bytes: snapshot(allocs), error: null };
    } catch (e) {
      const err = e as { code?: string; message: string };
      return { bytes: null, error: { code: err.code, message: err.message } };
    }
  };
  const eager = run('eager');
  const summary = Object.entries(args)
    .map(
      ([k, v]) => `${k}=${v && typeof v === 'object' && 'dtype' in v ? (v as DeviceBuffer).dtype : JSON.stringify(v)}`,
    )
    .join(' ');
  const where = `\n[${summary}]\n${printIR(ir)}\n\n${compiled.source}`;
  for (const how of ['codegen', 'interp'] as const) {
    const got = run(how);
    if (eager.error || got.error) {
      expect(got.error, `${how} vs eager error${where}`).toEqual(eager.error);
      continue;
    }
    got.bytes!.forEach((b, i) => {
      const d = firstDiff(eager.bytes![i]!, b);
      if (d >= 0) {
        const e = eager.bytes![i]!;
        const show = (x: Uint8Array) => Array.from(x.slice(d & ~3, (d & ~3) + 8)).join(',');
        expect.fail(
          `${how} differs from eager at byte ${d} of allocation ${i}: eager ${show(e)} vs ${show(b)}${where}`,
        );
      }
    });
  }
  if (eager.error) dev.reset();
  return compiled.source;
}
