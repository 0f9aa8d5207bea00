/**
 * sweepProjections: the pool's outcomes are projectStep's figures for the same options, in task order, whether the
 * tasks run on worker threads or in this thread; a failing task is a failure outcome and the others are unaffected.
 * No timed assertions.
 */
import { threadId } from 'node:worker_threads';
import { loadShippedModel, readShippedConfig } from '@tessera/models';
import { afterEach, describe, expect, test } from 'vitest';
import { projectStep } from '../../src/project/step';
import { CapacityError, ProjectionError, type ProjectStepOptions } from '../../src/project/types';
import { SWEEP_THREADS_ENV, SweepPool, sweepProjections, sweepThreads } from '../../src/sweep/sweep';
import type { SweepOutcome, SweepTask } from '../../src/sweep/types';

const base = { topology: 'dgx-h100', contextLen: 2048, phase: 'decode' } as const;

// Llama-3.1-8B at TP 1 and 2 × batch 1…8 (one of them with the model as a config.json object), then one that does not
// fit (405B on one H100), one projectStep refuses (a prefill chunk longer than the context: an option the sweep only
// passes through), and an unknown model id.
const fitting: SweepTask<string>[] = [];
for (const tp of [1, 2])
  for (const batch of [1, 2, 4, 8])
    fitting.push({ ...base, arch: 'llama-3.1-8b', tp, batch, key: `tp${tp}-b${batch}` });
fitting[3] = { ...fitting[3]!, arch: JSON.parse(readShippedConfig('llama-3.1-8b')) as Record<string, unknown> };
const tasks: SweepTask<string>[] = [
  ...fitting,
  { ...base, arch: 'llama-3.1-405b', tp: 1, batch: 1, key: 'capacity' },
  { ...base, arch: 'llama-3.1-8b', tp: 1, batch: 1, phase: 'prefill', prefillChunk: 4096, key: 'projection' },
  { ...base, arch: 'no-such-model', tp: 1, batch: 1, key: 'unknown' },
];

/** What projectStep says in this thread, in the sweep's shape. */
async function direct(t: SweepTask<string>): Promise<unknown> {
  const { key: _key, arch, ...rest } = t;
  const a = arch === 'llama-3.1-405b' ? loadShippedModel('llama-3.1-405b') : loadShippedModel('llama-3.1-8b');
  try {
    const p = await projectStep({ ...rest, arch: a } as ProjectStepOptions);
    return { ...p, ranks: p.ranks.map(({ ops: _ops, ...r }) => r) };
  } catch (e) {
    if (e instanceof CapacityError)
      return { kind: 'capacity', message: e.message, shortfall: e.shortfall, memory: e.memory };
    if (e instanceof ProjectionError) return { kind: 'projection', message: e.message, param: e.param };
    throw e;
  }
}

let expected: unknown[] | undefined;
async function expectedOutcomes(): Promise<unknown[]> {
  expected ??= await Promise.all(tasks.slice(0, -1).map(direct));
  return expected;
}

async function checkSweep(threads: number): Promise<void> {
  const seen: number[] = [];
  const out = await sweepProjections(tasks, {
    threads,
    onResult: (o: SweepOutcome<string>, t) => {
      expect(t).toBe(tasks[o.index]);
      seen.push(o.index);
    },
  });
  expect([...seen].sort((a, b) => a - b)).toEqual(tasks.map((_, i) => i));
  expect(out.map((o) => o.key)).toEqual(tasks.map((t) => t.key));
  expect(out.map((o) => o.index)).toEqual(tasks.map((_, i) => i));
  // Worker threads, or this one.
  for (const o of out) expect(o.thread === threadId).toBe(threads === 1);
  const want = await expectedOutcomes();
  for (let i = 0; i < fitting.length; i++) {
    const o = out[i]!;
    expect(o.ok, `${o.key}: ${o.ok ? '' : o.failure.message}`).toBe(true);
    if (o.ok) expect(o.step).toEqual(want[i]);
  }
  const [capacity, projection, unknown] = out.slice(fitting.length);
  expect(capacity!.ok).toBe(false);
  if (!capacity!.ok) {
    expect(capacity!.failure).toEqual(want[fitting.length]);
    expect(capacity!.failure.shortfall).toBeGreaterThan(0);
  }
  expect(projection!.ok).toBe(false);
  if (!projection!.ok) expect(projection!.failure).toEqual(want[fitting.length + 1]);
  expect(unknown!.ok).toBe(false);
  if (!unknown!.ok) {
    expect(unknown!.failure.kind).toBe('error');
    expect(unknown!.failure.message).toMatch(/no-such-model/);
  }
}

describe('sweepProjections', () => {
  const env = process.env[SWEEP_THREADS_ENV];
  afterEach(() => {
    if (env === undefined) delete process.env[SWEEP_THREADS_ENV];
    else process.env[SWEEP_THREADS_ENV] = env;
  });

  test('on 2 worker threads: projectStep’s figures in task order; failures are outcomes of their task only', async () => {
    await checkSweep(2);
  });

  test('on 1 thread (in this one, no workers): the same outcomes', async () => {
    await checkSweep(1);
  });

  test('a task that cannot be sent to a worker fails alone; the pool goes on', async () => {
    const ok = { ...base, arch: 'llama-3.1-8b', tp: 1, batch: 1 };
    const out = await sweepProjections([ok, { ...ok, notCloneable: () => 0 } as SweepTask, ok], { threads: 2 });
    expect(out.map((o) => o.ok)).toEqual([true, false, true]);
    if (!out[1]!.ok) expect(out[1]!.failure.kind).toBe('error');
  });

  test('threads: the option, else TESSERA_SWEEP_THREADS, else the cores; at most one per minTasksPerThread tasks', async () => {
    delete process.env[SWEEP_THREADS_ENV];
    expect(await sweepProjections([])).toEqual([]);
    expect(sweepThreads(3)).toBe(3);
    expect(sweepThreads(8, 2)).toBe(2);
    expect(sweepThreads(8, 20, 8)).toBe(2);
    expect(sweepThreads(8, 6, 8)).toBe(1);
    expect(sweepThreads(undefined)).toBeGreaterThanOrEqual(1);
    process.env[SWEEP_THREADS_ENV] = '5';
    expect(sweepThreads(undefined)).toBe(5);
    expect(sweepThreads(2)).toBe(2);
    process.env[SWEEP_THREADS_ENV] = 'two';
    expect(() => sweepThreads(undefined)).toThrow(RangeError);
    expect(() => sweepThreads(0)).toThrow(RangeError);
  });
});

describe('SweepPool', () => {
  test('keeps its threads between sweeps: the second sweep runs on the same threads, with the same figures', async () => {
    const pool = new SweepPool({ threads: 2 });
    try {
      const first = await pool.sweep(tasks);
      const second = await pool.sweep(tasks);
      const want = await expectedOutcomes();
      for (const out of [first, second]) {
        expect(out.map((o) => o.key)).toEqual(tasks.map((t) => t.key));
        for (let i = 0; i < fitting.length; i++) {
          const o = out[i]!;
          expect(o.ok).toBe(true);
          if (o.ok) expect(o.step).toEqual(want[i]);
        }
        expect(out.slice(fitting.length).every((o) => !o.ok)).toBe(true);
      }
      const threadsOf = (out: typeof first) => new Set(out.map((o) => o.thread));
      expect(threadsOf(first).has(threadId)).toBe(false);
      // Thread ids are never reused in a process: a thread of the first sweep working in the second is a kept one.
      expect([...threadsOf(second)].some((t) => threadsOf(first).has(t))).toBe(true);
      expect(threadsOf(second).size).toBeLessThanOrEqual(2);
      expect(threadsOf(second).has(threadId)).toBe(false);
    } finally {
      await pool.destroy();
    }
  });

  test('an empty sweep answers at once; destroy() leaves a pool that starts again on demand', async () => {
    const pool = new SweepPool({ threads: 2 });
    expect(await pool.sweep([])).toEqual([]);
    await pool.destroy();
    const ok = { ...base, arch: 'llama-3.1-8b', tp: 1, batch: 1 };
    const out = await pool.sweep([ok, ok]);
    expect(out.map((o) => o.ok)).toEqual([true, true]);
    await pool.destroy();
  });
});
