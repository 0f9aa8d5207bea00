/**
 * The cost record of a launch comes from analysing the kernel's IR, not from running it, so it must not depend on the
 * execution mode: a functional device (buffers hold data) and a timing-only device (no data) must produce the same
 * record for the same launch. This file runs one workload (library-workload.ts) that calls every operator — several
 * variants each, with sizes that leave partial tiles — on both kinds of device, and compares the profiled records
 * launch by launch. It also checks that the workload launches every kernel the package exports, so a kernel added
 * later without a launch there fails the test by name.
 */
import { isDeepStrictEqual } from 'node:util';
import type { CostRecord } from '@tessera/device';
import { describe, expect, it, vi } from 'vitest';
import * as exported from '../src/index';
import { type HostData, kernelsIn, libraryWorkload } from './library-workload';
import { TARGETS } from './setup';

/**
 * Runs the workload on a fresh profiled device and returns the kernel launches' cost records, in order. Compiled
 * kernels and cost analyses are cached per process (per kernel IR, grid, scalars and buffer lengths), so a second run
 * in the same module instances would read the first run's analysis back instead of redoing it: each run imports the
 * device, backend and operator modules afresh, so that each mode compiles and analyses every kernel on its own.
 */
async function records(target: (typeof TARGETS)[number], mode: 'functional' | 'timing', host: HostData) {
  vi.resetModules();
  const { createRuntime } = await import('@tessera/device');
  const ops = await import('../src/index');
  const backend =
    target.backend === 'nvidia-sim'
      ? (await import('@tessera/backend-nvidia-sim')).createNvidiaSimBackend()
      : (await import('@tessera/backend-ascend-sim')).createAscendSimBackend();
  expect(ops.gemmKernel).not.toBe(exported.gemmKernel); // really a fresh instance
  const rt = await createRuntime({ backend, devices: target.device, mode, profile: true });
  libraryWorkload(ops, rt.device(0), host);
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

const kernels = kernelsIn(exported);

for (const target of TARGETS) {
  describe(`cost records on ${target.device}`, () => {
    it('are identical in functional and timing-only mode for every exported kernel', async () => {
      const host: HostData = {};
      const functional = await records(target, 'functional', host);
      const timing = await records(target, 'timing', host);
      expect(timing.map((r) => r.kernel)).toEqual(functional.map((r) => r.kernel));
      const mismatches = functional.flatMap((f, i) => diff(plain(f), plain(timing[i]!), `#${i} ${f.kernel}`));
      expect.soft(mismatches).toEqual([]);
      // Coverage: every exported kernel launched at least once (exports found: the package is not empty).
      expect(kernels.size).toBeGreaterThan(20);
      const seen = new Set(functional.map((r) => r.kernel));
      const missing = [...kernels].filter(([name]) => !seen.has(name)).map(([name, path]) => `${path} ('${name}')`);
      expect(missing, 'exported kernels the workload never launches').toEqual([]);
    });
  });
}
