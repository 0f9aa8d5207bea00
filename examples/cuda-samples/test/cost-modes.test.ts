/**
 * The cost record of a launch comes from analysing the kernel (tile or SIMT), not from running it, so a functional
 * device (buffers hold data) and a timing-only device (no data) must produce the same record for the same launch.
 * This file runs every sample — at its default size and at sizes that leave partial blocks — on both kinds of
 * device, compares the profiled records launch by launch, and checks that every kernel any module of src/ exports
 * was launched, so a kernel added later without a sample here fails the test by name.
 */
import { readdirSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { type CostRecord, type Device, isKernel } from '@tessera/device';
import { describe, expect, it, vi } from 'vitest';
import * as exported from '../src/index';

const targets = [
  { backend: 'nvidia-sim', device: 'h100' },
  { backend: 'ascend-sim', device: '910b2' },
] as const;

/**
 * Every kernel exported by a module of src/ (not only those index.ts re-exports). main.ts is the CLI entry point: it
 * runs every sample when imported, so it is left out (it defines no kernel). A kernel that no module exports (e.g.
 * one made inside a function and never returned) cannot be found this way.
 */
async function srcKernels(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const dir = new URL('../src/', import.meta.url);
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'main.ts')) {
    const mod: Record<string, unknown> = await import(new URL(file, dir).href);
    for (const [name, v] of Object.entries(mod)) if (isKernel(v)) out.set(v.name, `${file}: ${name}`);
  }
  return out;
}

/**
 * Every sample, checking its own results on a functional device, and again at sizes that are not multiples of the
 * tile kernels' blocks (the SIMT samples need multiples of their tiles, as in CUDA, so those stay whole).
 */
function workload(ops: typeof exported, dev: Device): void {
  for (const run of ops.samples) expect(run(dev).ok).toBe(true);
  const odd = [
    ops.runVectorAdd(dev, 1000),
    ops.runMatrixMul(dev, 48, 32, 16),
    ops.runReduction(dev, 4097),
    ops.runTranspose(dev, 64, 32),
    ops.runSoftmax(dev, 5, 300),
    ops.runScan(dev, 300),
    ops.runHistogram(dev, 1000),
  ];
  for (const r of odd) expect(r.ok, r.name).toBe(true);
}

/**
 * Runs the workload on a fresh profiled device and returns the kernel launches' cost records, in order. Compiled
 * kernels and cost analyses are cached per process (per kernel IR, grid, scalars and buffer lengths), so a second run
 * in the same module instances would read the first run's analysis back instead of redoing it: each run imports the
 * device, backend and sample modules afresh, so that each mode compiles and analyses every kernel on its own.
 */
async function records(target: (typeof targets)[number], mode: 'functional' | 'timing'): Promise<CostRecord[]> {
  vi.resetModules();
  const { createRuntime } = await import('@tessera/device');
  const ops = await import('../src/index');
  const backend =
    target.backend === 'nvidia-sim'
      ? (await import('@tessera/backend-nvidia-sim')).createNvidiaSimBackend()
      : (await import('@tessera/backend-ascend-sim')).createAscendSimBackend();
  expect(ops.vectorAdd).not.toBe(exported.vectorAdd); // really a fresh instance
  const rt = await createRuntime({ backend, devices: target.device, mode, profile: true });
  workload(ops, rt.device(0));
  return rt.profiler.records.filter((a) => a.kind === 'kernel').map((a) => a.cost!);
}

/** A record as plain data: cost counters via toJSON; everything else as it is (buffer uses hold no identity). */
function plain(r: CostRecord): Record<string, unknown> {
  return {
    ...r,
    classes: r.classes.map((c) => ({ count: c.count, cost: c.cost.toJSON() })),
    total: r.total.toJSON(),
  };
}

/** Paths where two plain values differ, with both values. */
function diff(a: unknown, b: unknown, path: string): string[] {
  if (isDeepStrictEqual(a, b)) return [];
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) =>
      diff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`),
    );
  }
  return [`${path}: functional ${JSON.stringify(a)}, timing-only ${JSON.stringify(b)}`];
}

for (const target of targets) {
  describe(`cost records of the CUDA samples on ${target.device}`, () => {
    it('are identical in functional and timing-only mode for every kernel of src/', async () => {
      const kernels = await srcKernels();
      const functional = await records(target, 'functional');
      const timing = await records(target, 'timing');
      expect(timing.map((r) => r.kernel)).toEqual(functional.map((r) => r.kernel));
      const mismatches = functional.flatMap((f, i) => diff(plain(f), plain(timing[i]!), `#${i} ${f.kernel}`));
      expect.soft(mismatches).toEqual([]);
      // Coverage: every kernel of src/ launched at least once (and src/ does define kernels).
      expect(kernels.size).toBeGreaterThan(5);
      const seen = new Set(functional.map((r) => r.kernel));
      // Kernels that need warps run only where there are warps (not on Ascend 910B/910C).
      const needed = [...kernels].filter(
        ([name]) => target.backend === 'nvidia-sim' || !exported.warpKernels.has(name),
      );
      const missing = needed.filter(([name]) => !seen.has(name)).map(([name, where]) => `${where} ('${name}')`);
      expect(missing, 'kernels of src/ that no sample launches').toEqual([]);
    });
  });
}
