/**
 * The program pool: worker threads that run the programs (tile kernels) or blocks (SIMT kernels) of one launch in
 * parallel, on the same device memory (every allocation is a SharedArrayBuffer). A launch is split into chunks taken
 * from a shared counter, as the `dot` pool does; the launching thread takes chunks too and returns when all are done,
 * so a launch stays synchronous. Each worker compiles the generated source of a specialisation once (cached by hash).
 *
 * Results are deterministic: programs of a tile kernel write disjoint memory (each output element is computed by one
 * program with the same instructions), and launches that could race — atomics, or a kernel whose programs may write
 * the same element — run on one thread (the caller decides, see `mayRace` in the launch path). A fault in any program
 * stops the others taking chunks; the launch throws the fault of the lowest-numbered faulting program, built from the
 * same message data the single-threaded path uses.
 *
 * `TESSERA_THREADS=1` turns the pool off; workers are unref'd and never keep the process alive.
 */
import type { DType } from '../../dtype/dtype';
import { TesseraError } from '../../errors';

export interface PoolBuffer {
  sab: SharedArrayBuffer;
  byteOffset: number;
  length: number;
  dtype: DType;
  /** `buffer.describe()`, for fault messages. */
  describe: string;
  name: string;
}

export interface PoolJob {
  kind: 'tile' | 'simt';
  /** Generated source of the specialisation and a key that identifies it. */
  source: string;
  key: string;
  /** Kind-specific compile-time data the worker needs to instantiate the source (SIMT block shape, …). */
  meta: Record<string, unknown>;
  kernel: string;
  ownerLabel: string;
  grid: readonly [number, number, number];
  buffers: PoolBuffer[];
  scalars: number[];
  arrays: (readonly number[])[];
  /** Programs (tile) or blocks (SIMT) in the grid. */
  total: number;
}

/** A fault as data (a TesseraError does not cross threads). */
export interface FaultRecord {
  program: number;
  code: string;
  message: string;
  details: Record<string, unknown>;
}

type Env = { TESSERA_THREADS?: string };

function threadCount(): number {
  const proc = (globalThis as { process?: { env: Env; getBuiltinModule?: (m: string) => unknown } }).process;
  const env = Number(proc?.env.TESSERA_THREADS);
  if (Number.isInteger(env) && env >= 1) return Math.min(env, 16);
  const os = proc?.getBuiltinModule?.('os') as { availableParallelism(): number } | undefined;
  return Math.max(1, Math.min(os?.availableParallelism() ?? 1, 8));
}

// Control block (Int32): [0] job generation; [1] next chunk: tag (generation, high 15 bits) | chunk (low 16);
// [2] chunks done; [3] abort flag; [4] lowest faulting program + 1 (0: none), under the lock [5]; [6] fault bytes.
const CTL_INTS = 16;
const FAULT_BYTES = 1 << 16;

interface WorkerHandle {
  w: { postMessage(m: unknown): void; unref(): void; on(e: string, f: (x: unknown) => void): void };
  /** Keys of the sources this worker has compiled. */
  compiled: Set<string>;
}

/** Shared state a worker and the caller both read (passed to workers once). */
export interface PoolShared {
  control: SharedArrayBuffer;
  fault: SharedArrayBuffer;
}

/** Records a fault in the shared area if its program is the lowest so far (workers and caller alike). */
export function recordFault(ctl: Int32Array, faultBytes: Uint8Array, f: FaultRecord): void {
  while (Atomics.compareExchange(ctl, 5, 0, 1) !== 0);
  try {
    const cur = Atomics.load(ctl, 4);
    if (cur === 0 || f.program + 1 < cur) {
      const bytes = new TextEncoder().encode(JSON.stringify(f));
      const n = Math.min(bytes.length, faultBytes.length);
      faultBytes.set(bytes.subarray(0, n));
      Atomics.store(ctl, 6, n);
      Atomics.store(ctl, 4, f.program + 1);
    }
  } finally {
    Atomics.store(ctl, 5, 0);
  }
  Atomics.store(ctl, 3, 1);
}

/** Takes the next chunk of job `gen`, or -1 when none is left (or the counter belongs to another job). */
export function takeChunk(ctl: Int32Array, gen: number, chunks: number): number {
  const tag = (gen & 0x7fff) << 16;
  for (;;) {
    if (Atomics.load(ctl, 3)) return -1;
    const v = Atomics.load(ctl, 1);
    if ((v & 0x7fff0000) !== tag) return -1;
    const c = v & 0xffff;
    if (c >= chunks) return -1;
    if (Atomics.compareExchange(ctl, 1, v, v + 1) === v) return c;
  }
}

export class ProgramPool {
  private readonly control = new Int32Array(new SharedArrayBuffer(4 * CTL_INTS));
  private readonly faultArea = new Uint8Array(new SharedArrayBuffer(FAULT_BYTES));
  private readonly workers: WorkerHandle[] = [];
  private generation = 0;
  private broken = false;

  constructor(threads: number, workerUrl: URL, execArgv: string[]) {
    const proc = (globalThis as { process?: { getBuiltinModule?: (m: string) => unknown } }).process;
    const wt = proc?.getBuiltinModule?.('worker_threads') as
      | { Worker: new (url: URL, o: object) => WorkerHandle['w'] }
      | undefined;
    if (!wt) {
      this.broken = true;
      return;
    }
    const shared: PoolShared = {
      control: this.control.buffer as SharedArrayBuffer,
      fault: this.faultArea.buffer as SharedArrayBuffer,
    };
    for (let i = 0; i < threads - 1; i++) {
      const w = new wt.Worker(workerUrl, { execArgv, workerData: shared });
      w.unref();
      w.on('error', () => {
        this.broken = true;
      });
      this.workers.push({ w, compiled: new Set() });
    }
  }

  get threads(): number {
    return this.broken ? 1 : this.workers.length + 1;
  }

  /**
   * Runs `job` over its grid, the calling thread included (`runLocal(start, end)` runs a range here). Throws the fault
   * of the lowest-numbered faulting program.
   */
  run(job: PoolJob, runLocal: (start: number, end: number) => void): void {
    const ctl = this.control;
    const threads = this.threads;
    const chunk = Math.max(1, Math.ceil(job.total / (threads * 8)));
    const chunks = Math.ceil(job.total / chunk);
    if (chunks > 0xffff) throw new Error('program pool: too many chunks');
    const gen = (this.generation = (this.generation % 0x7fff) + 1);
    Atomics.store(ctl, 2, 0);
    Atomics.store(ctl, 3, 0);
    Atomics.store(ctl, 4, 0);
    Atomics.store(ctl, 0, gen);
    Atomics.store(ctl, 1, (gen & 0x7fff) << 16);
    for (const h of this.workers) {
      const first = !h.compiled.has(job.key);
      h.compiled.add(job.key);
      h.w.postMessage({ gen, chunk, chunks, job: first ? job : { ...job, source: undefined } });
    }
    let localError: unknown = null;
    let localProgram = Number.POSITIVE_INFINITY;
    for (;;) {
      const c = takeChunk(ctl, gen, chunks);
      if (c < 0) break;
      const start = c * chunk;
      const end = Math.min(job.total, start + chunk);
      try {
        runLocal(start, end);
      } catch (e) {
        if (start < localProgram) {
          localError = e;
          localProgram = start;
        }
        Atomics.store(ctl, 3, 1);
      }
      Atomics.add(ctl, 2, 1);
    }
    // Wait for the chunks workers took (a worker that never woke took none).
    const taken = () => Math.min(chunks, Atomics.load(ctl, 1) & 0xffff);
    const deadline = Date.now() + 60_000;
    for (let i = 0; i < 100_000 && Atomics.load(ctl, 2) < taken(); i++);
    while (Atomics.load(ctl, 2) < taken()) {
      const seen = Atomics.load(ctl, 2);
      if (Atomics.wait(ctl, 2, seen, 100) === 'timed-out' && Date.now() > deadline) {
        this.broken = true;
        throw new TesseraError('LaunchFailure', `kernel '${job.kernel}': a worker thread stopped responding.`, {
          hint: 'Set TESSERA_THREADS=1 to run launches on one thread, and report the kernel.',
        });
      }
    }
    // Stop late workers from taking chunks of this job.
    Atomics.store(ctl, 1, 0);
    const faulted = Atomics.load(ctl, 4);
    if (localError || faulted) {
      const workerProgram = faulted ? faulted - 1 : Number.POSITIVE_INFINITY;
      if (localError && localProgram <= workerProgram) throw localError;
      const n = Atomics.load(ctl, 6);
      const f = JSON.parse(new TextDecoder().decode(this.faultArea.slice(0, n))) as FaultRecord;
      throw new TesseraError(f.code as never, f.message, f.details);
    }
  }
}

let pool: ProgramPool | null | undefined;

/** The process-wide program pool, or null when threads are off or workers cannot start here. */
export function programPool(): ProgramPool | null {
  if (pool !== undefined) return pool;
  const n = threadCount();
  pool = null;
  if (n <= 1 || typeof SharedArrayBuffer === 'undefined') return pool;
  try {
    const here = import.meta.url;
    const ts = here.endsWith('.ts');
    const url = new URL(ts ? './worker.ts' : './pool-worker.js', here);
    const execArgv = ts ? ['--conditions=@tessera/source', '--import', 'tsx'] : [];
    pool = new ProgramPool(n, url, execArgv);
    if (pool.threads <= 1) pool = null;
  } catch {
    pool = null;
  }
  return pool;
}
