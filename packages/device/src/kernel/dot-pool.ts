/**
 * Worker threads for large `dot` calls. Every thread instantiates the same WebAssembly module over one shared memory;
 * the calling thread packs the operands, then each thread computes a contiguous range of 4-row panels of C. Each
 * output element is still computed by exactly one thread with the same instruction sequence, so results are
 * bit-identical to the single-threaded path. `TESSERA_THREADS=1` turns the pool off.
 *
 * Protocol over a small shared Int32Array: [0] job generation (−1: exit), [1] parts finished, [2..9] job arguments,
 * [10] number of parts, [16 + i] part i done. Workers block in Atomics.wait and are unref'd, so they never keep the
 * process alive; the caller waits with a timeout and computes any part a worker failed to finish itself.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { DotFn, WasmDot } from './wasm-dot';

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, module: mod, control, index } = workerData;
const ex = new WebAssembly.Instance(mod, { env: { mem: memory } }).exports;
const ctl = new Int32Array(control);
let seen = 0;
for (;;) {
  Atomics.wait(ctl, 0, seen);
  const gen = Atomics.load(ctl, 0);
  if (gen < 0) break;
  seen = gen;
  const parts = ctl[10];
  if (index + 1 >= parts) continue;
  const part = index + 1;
  const [kind, a, b, c, panels, colBlocks, K, ld] = [ctl[2], ctl[3], ctl[4], ctl[5], ctl[6], ctl[7], ctl[8], ctl[9]];
  const p0 = Math.floor((part * panels) / parts);
  const p1 = Math.floor(((part + 1) * panels) / parts);
  if (p1 > p0) (kind === 0 ? ex.dot_f32 : ex.dot_i32)(a + p0 * K * 16, b, c + p0 * 16 * ld, p1 - p0, colBlocks, K, ld, ld);
  Atomics.store(ctl, 16 + part, gen);
  Atomics.add(ctl, 1, 1);
  Atomics.notify(ctl, 1);
}
`;

/** Smallest M·N·K worth splitting across threads (below it, waking workers costs more than it saves). */
const MIN_PARALLEL_WORK = 1 << 19;

function threadCount(): number {
  const env = Number(process.env.TESSERA_THREADS);
  if (Number.isInteger(env) && env >= 1) return Math.min(env, 16);
  return Math.max(1, Math.min(availableParallelism(), 8));
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
      const w = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { memory: wasm.memory, module: wasm.sharedModule, control: this.control.buffer, index: i },
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

  /** Runs the kernel over `panels` 4-row panels, splitting them across threads. Offsets are byte addresses. */
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
    const parts = Math.min(this.threads, panels);
    if (parts <= 1 || panels * 4 * colBlocks * 8 * K < MIN_PARALLEL_WORK) {
      fn(a, b, c, panels, colBlocks, K, ld, ld);
      return;
    }
    const ctl = this.control;
    const gen = ++this.generation;
    ctl.set([kind === 'f32' ? 0 : 1, a, b, c, panels, colBlocks, K, ld, parts], 2);
    Atomics.store(ctl, 1, 0);
    Atomics.store(ctl, 0, gen);
    Atomics.notify(ctl, 0);
    const p1 = Math.floor(panels / parts);
    fn(a, b, c, p1, colBlocks, K, ld, ld); // part 0 on this thread
    const deadline = Date.now() + 10_000;
    while (Atomics.load(ctl, 1) < parts - 1) {
      const seen = Atomics.load(ctl, 1);
      if (Atomics.wait(ctl, 1, seen, 100) === 'timed-out' && Date.now() > deadline) {
        this.broken = true;
        break;
      }
    }
    // Any part a worker did not finish (a crashed or stalled worker) is computed here; recomputing is idempotent.
    for (let part = 1; part < parts; part++) {
      if (Atomics.load(ctl, 16 + part) === gen) continue;
      const q0 = Math.floor((part * panels) / parts);
      const q1 = Math.floor(((part + 1) * panels) / parts);
      if (q1 > q0) fn(a + q0 * K * 16, b, c + q0 * 16 * ld, q1 - q0, colBlocks, K, ld, ld);
    }
  }
}

let pool: DotPool | null | undefined;

/** The process-wide pool for `wasm`, or null when threads are off or shared memory is unavailable. */
export function dotPool(wasm: WasmDot): DotPool | null {
  if (pool !== undefined) return pool;
  const n = threadCount();
  pool = n > 1 && wasm.sharedModule ? new DotPool(wasm, n) : null;
  return pool;
}
