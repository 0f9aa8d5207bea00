/**
 * Worker threads for large `dot` calls. Every thread instantiates the same WebAssembly module over one shared memory;
 * the calling thread packs the operands, then each thread computes a contiguous range of 4-row panels of C. Each
 * output element is still computed by exactly one thread with the same instruction sequence, so results are
 * bit-identical to the single-threaded path. `TESSERA_THREADS=1` turns the pool off.
 *
 * Protocol over a small shared Int32Array: [0] job generation, [2..9] job arguments, [10] panels per chunk, [11] the
 * job's tag (high 16 bits) and next free panel (low 16), [12] panels finished. Every thread, the caller included, takes
 * chunks with a compare-and-swap that only succeeds while the tag is its job's, so a worker waking late can never
 * work on a job whose arguments it did not read. Workers spin briefly, then block in Atomics.wait; they are unref'd,
 * so they never keep the process alive. The caller waits (with a timeout) only for chunks that were taken; if a worker
 * dies mid-chunk, the pool is retired and the job is recomputed on the calling thread.
 */
import type { Worker } from 'node:worker_threads';
import { type DotFn, PANEL_ROWS, type WasmDot } from './wasm-dot';

/**
 * Node's os and worker_threads, loaded at run time so this module also bundles for a browser (no static `node:`
 * imports; the pool is simply off there), as compiler/pool does.
 */
interface NodeHost {
  os: { availableParallelism(): number };
  wt: { Worker: new (src: string, o: object) => Worker };
  env: Record<string, string | undefined>;
}
function nodeHost(): NodeHost | null {
  const proc = (globalThis as { process?: { env?: NodeHost['env']; getBuiltinModule?: (m: string) => unknown } })
    .process;
  const os = proc?.getBuiltinModule?.('node:os') as NodeHost['os'] | undefined;
  const wt = proc?.getBuiltinModule?.('node:worker_threads') as NodeHost['wt'] | undefined;
  return os && wt && proc?.env ? { os, wt, env: proc.env } : null;
}

const WORKER_SOURCE = `
const ROWS4 = ${4 * PANEL_ROWS}; // bytes per element × rows per panel
const { workerData } = require('node:worker_threads');
const { memory, module: mod, control } = workerData;
const ex = new WebAssembly.Instance(mod, { env: { mem: memory } }).exports;
const ctl = new Int32Array(control);
let seen = 0;
for (;;) {
  // Spin briefly before sleeping: dot calls come in bursts (one per K step), and a futex wake costs tens of µs.
  for (let i = 0; i < 200000 && Atomics.load(ctl, 0) === seen; i++);
  Atomics.wait(ctl, 0, seen);
  const gen = Atomics.load(ctl, 0);
  if (gen < 0) break;
  seen = gen;
  const [kind, a, b, c, panels, colBlocks, K, ld, chunk] = [ctl[2], ctl[3], ctl[4], ctl[5], ctl[6], ctl[7], ctl[8], ctl[9], ctl[10]];
  const fn = kind === 0 ? ex.dot_f32 : ex.dot_i32;
  const tag = (gen & 0xffff) << 16;
  for (;;) {
    // Take the next chunk only while the counter still belongs to this job (its high half is the job's tag).
    const v = Atomics.load(ctl, 11);
    if ((v & 0xffff0000) !== tag) break;
    const p0 = v & 0xffff;
    if (p0 >= panels) break;
    if (Atomics.compareExchange(ctl, 11, v, v + chunk) !== v) continue;
    const p1 = Math.min(panels, p0 + chunk);
    fn(a + p0 * K * ROWS4, b, c + p0 * ROWS4 * ld, p1 - p0, colBlocks, K, K, ld, ld);
    Atomics.add(ctl, 12, p1 - p0);
    Atomics.notify(ctl, 12);
  }
}
`;

/** Smallest M·N·K worth splitting across threads (below it, waking workers costs more than it saves). */
const MIN_PARALLEL_WORK = 1 << 16;

function threadCount(): number {
  const host = nodeHost();
  if (!host) return 1;
  const env = Number(host.env.TESSERA_THREADS);
  if (Number.isInteger(env) && env >= 1) return Math.min(env, 16);
  return Math.max(1, Math.min(host.os.availableParallelism(), 8));
}

export class DotPool {
  private readonly control = new Int32Array(new SharedArrayBuffer(4 * 64));
  private readonly workers: Worker[] = [];
  private generation = 0;
  private broken = false;

  constructor(
    private readonly wasm: WasmDot,
    threads: number,
  ) {
    for (let i = 0; i < threads - 1; i++) {
      const w = new (nodeHost()!.wt.Worker)(WORKER_SOURCE, {
        eval: true,
        workerData: { memory: wasm.memory, module: wasm.sharedModule, control: this.control.buffer },
      });
      w.unref();
      w.on('error', () => {
        this.broken = true;
      });
      this.workers.push(w);
    }
  }

  get threads(): number {
    return this.broken ? 1 : this.workers.length + 1;
  }

  /**
   * Runs the kernel over `panels` panels of PANEL_ROWS rows (A row-major with stride K). Threads take chunks of panels from a shared
   * counter until none are left, so a worker that wakes late simply takes fewer.
   */
  run(
    kind: 'f32' | 'i32',
    a: number,
    b: number,
    c: number,
    panels: number,
    colBlocks: number,
    K: number,
    ld: number,
  ): void {
    const fn: DotFn = kind === 'f32' ? this.wasm.dotF32 : this.wasm.dotI32;
    const threads = this.threads;
    if (threads <= 1 || panels < 2 || panels >= 0xffff || panels * PANEL_ROWS * colBlocks * 8 * K < MIN_PARALLEL_WORK) {
      fn(a, b, c, panels, colBlocks, K, K, ld, ld);
      return;
    }
    const ctl = this.control;
    const chunk = Math.max(1, Math.floor(panels / (16 * threads))); // small chunks: short wait for the last one
    const gen = (this.generation = (this.generation % 0x7fff) + 1);
    const tag = (gen & 0xffff) << 16;
    ctl.set([kind === 'f32' ? 0 : 1, a, b, c, panels, colBlocks, K, ld, chunk], 2);
    Atomics.store(ctl, 12, 0);
    Atomics.store(ctl, 11, tag);
    Atomics.store(ctl, 0, gen);
    Atomics.notify(ctl, 0);
    for (;;) {
      const v = Atomics.load(ctl, 11);
      const p0 = v & 0xffff;
      if (p0 >= panels) break;
      if (Atomics.compareExchange(ctl, 11, v, v + chunk) !== v) continue;
      const p1 = Math.min(panels, p0 + chunk);
      fn(a + p0 * K * 4 * PANEL_ROWS, b, c + p0 * 4 * PANEL_ROWS * ld, p1 - p0, colBlocks, K, K, ld, ld);
      Atomics.add(ctl, 12, p1 - p0);
    }
    // Every chunk is taken; wait until the ones workers took are done (sleeping workers took none).
    for (let i = 0; i < 1_000_000 && Atomics.load(ctl, 12) < panels; i++);
    const deadline = Date.now() + 10_000;
    while (Atomics.load(ctl, 12) < panels) {
      const seen = Atomics.load(ctl, 12);
      if (Atomics.wait(ctl, 12, seen, 100) === 'timed-out' && Date.now() > deadline) {
        // A worker died or hung mid-chunk: retire the pool; the caller recomputes the job on this thread.
        this.broken = true;
        throw new PoolFailure();
      }
    }
  }
}

/** Thrown when a worker fails mid-job; the caller recomputes on one thread. */
export class PoolFailure extends Error {}

let pool: DotPool | null | undefined;

/** The process-wide pool for `wasm`, or null when threads are off or shared memory is unavailable. */
export function dotPool(wasm: WasmDot): DotPool | null {
  if (pool !== undefined) return pool;
  const n = threadCount();
  pool = n > 1 && wasm.sharedModule ? new DotPool(wasm, n) : null;
  return pool;
}
