/**
 * Compiles a kernel specialisation's IR to JavaScript once (cached per IR object) and runs ranges of its programs.
 *
 * The compiled program is `run(L, pidStart, pidEnd)`: it runs programs pidStart … pidEnd−1 of the launch (linear ids,
 * x fastest, then y, then z — CUDA's order) given only `L`, plain launch data (typed-array views of device memory,
 * scalars, host arrays), and the runtime library it was built with. Its tile buffers are allocated once, when the
 * source is compiled, and reused by every program; so a worker thread can compile the same source against its own
 * copy of the runtime and run another range of programs over the same shared memory.
 */
import { interpretProgram } from '../interpret';
import type { KernelIR } from '../ir';
import { generate } from './codegen';
import { fault, type LaunchArgs, Refault, RUNTIME, type Runtime } from './runtime';

export type ProgramRange = (L: LaunchArgs, pidStart: number, pidEnd: number) => void;

export interface CompiledKernel {
  /** The generated source (a function body taking `rt` and returning the program-range function). */
  source: string;
  run: ProgramRange;
}

const cache = new WeakMap<KernelIR, CompiledKernel>();

/** Builds the program-range function from generated source against a runtime library (a worker passes its own). */
export function instantiate(source: string, rt: Runtime = RUNTIME): ProgramRange {
  return new Function('rt', source)(rt) as ProgramRange;
}

export function compileKernel(ir: KernelIR): CompiledKernel {
  let c = cache.get(ir);
  if (!c) {
    const source = generate(ir);
    c = { source, run: instantiate(source) };
    cache.set(ir, c);
  }
  return c;
}

/**
 * Runs programs [pidStart, pidEnd). Generated code raises its faults itself, in program order (fused gathers that
 * cannot are replayed in order; see plan.ts). A `Refault` — a fault whose place in program order is unknown — is
 * pinned down by re-running that program with the IR interpreter, which raises the exact fault (the launch faults
 * either way, and what a faulting launch wrote is unobservable).
 */
export function runCompiled(c: CompiledKernel, ir: KernelIR, L: LaunchArgs, pidStart: number, pidEnd: number): void {
  try {
    c.run(L, pidStart, pidEnd);
  } catch (e) {
    if (!(e instanceof Refault)) throw e;
    interpretProgram(ir, L, e.pid);
    throw fault(L, e.op, e.buffer, e.index, e.pid[0], e.pid[1], e.pid[2]);
  }
}
