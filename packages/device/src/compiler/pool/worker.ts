/**
 * A program-pool worker: compiles each specialisation's generated source once, then takes chunks of programs of the
 * current launch from the shared counter until none are left. A fault is written to the shared fault area (the
 * lowest-numbered program's wins) and stops the launch.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { storageView } from '../../dtype/dtype';
import { isTesseraError } from '../../errors';
import type { PoolJob, PoolShared } from './pool';
import { recordFault, takeChunk } from './pool';
import { RUNNER_FACTORIES, type Runner } from './runners';

// Nested parallelism would oversubscribe the cores: dot runs single-threaded inside a worker.
process.env.TESSERA_THREADS = '1';

const shared = workerData as PoolShared;
const ctl = new Int32Array(shared.control);
const faultBytes = new Uint8Array(shared.fault);
const runners = new Map<string, Runner>();

parentPort!.on('message', (m: { gen: number; chunk: number; chunks: number; job: PoolJob }) => {
  const { gen, chunk, chunks, job } = m;
  let runner = runners.get(job.key);
  if (!runner) {
    if (job.source === undefined) return; // never compiled here (should not happen): take no chunks
    runner = RUNNER_FACTORIES[job.kind](job);
    runners.set(job.key, runner);
  }
  const launch = {
    grid: job.grid,
    buffers: job.buffers.map((b) => storageView(b.dtype, b.sab, b.byteOffset, b.length)),
    lengths: job.buffers.map((b) => b.length),
    scalars: job.scalars,
    arrays: job.arrays,
  };
  for (;;) {
    const c = takeChunk(ctl, gen, chunks);
    if (c < 0) break;
    const start = c * chunk;
    const end = Math.min(job.total, start + chunk);
    try {
      runner(start, end, launch, job);
    } catch (e) {
      recordFault(ctl, faultBytes, {
        program: start,
        code: isTesseraError(e) ? e.code : 'LaunchFailure',
        message: e instanceof Error ? e.message : String(e),
        details: isTesseraError(e) ? plain(e.details) : {},
      });
    }
    Atomics.add(ctl, 2, 1);
    Atomics.notify(ctl, 2);
  }
});

/** The serialisable part of error details (numbers, strings, arrays of them). */
function plain(d: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(d)) {
    if (v === undefined || typeof v === 'function' || (typeof v === 'object' && v !== null && !Array.isArray(v)))
      continue;
    out[k] = v;
  }
  return out;
}
