/**
 * How a pool worker turns a job's generated source into something that runs a range of programs: one factory per
 * kind of kernel. The faults a runner raises carry the same messages as on the launching thread, built from the
 * job's data (buffer descriptions, kernel name).
 */
import { instantiate } from '../codegen/compile';
import { fault, type LaunchArgs, Refault } from '../codegen/runtime';
import { instantiateSimt, type SimtLaunch } from '../simt/codegen';
import { simtRuntime } from '../simt/runtime';
import type { PoolJob } from './pool';

export type Runner = (start: number, end: number, launch: SimtLaunch, job: PoolJob) => void;

export const RUNNER_FACTORIES: Record<PoolJob['kind'], (job: PoolJob) => Runner> = {
  simt(job) {
    let current = job;
    const rt = simtRuntime(() => ({
      kernel: current.kernel,
      ownerLabel: current.ownerLabel,
      buffers: current.buffers.map((b) => ({
        buffer: { describe: () => b.describe, length: b.length } as never,
        name: b.name,
      })),
    }));
    const run = instantiateSimt(job.source, rt);
    return (start, end, launch, j) => {
      current = j;
      run(start, end, launch);
    };
  },
  tile(job) {
    const run = instantiate(job.source);
    return (start, end, launch, j) => {
      const L: LaunchArgs = {
        kernel: j.kernel,
        device: j.ownerLabel,
        grid: j.grid,
        mem: launch.buffers as LaunchArgs['mem'],
        scalars: j.scalars,
        arrays: j.arrays,
        names: j.buffers.map((b) => b.describe),
      };
      try {
        run(L, start, end);
      } catch (e) {
        // Fused code defers a fault it cannot order; the launching thread's interpreter pins down which one is first,
        // but a worker has no IR: report this one (the launch faults either way).
        if (e instanceof Refault) throw fault(L, e.op, e.buffer, e.index, e.pid[0], e.pid[1], e.pid[2]);
        throw e;
      }
    };
  },
};
