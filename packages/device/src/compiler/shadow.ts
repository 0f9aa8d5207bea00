/**
 * Cross-checks for compiler development: with `TESSERA_SHADOW=stage,cost,codegen` (any subset), every launch is also
 * checked against a slower, simpler reference — `cost`: the analysis against the per-program reference;
 * `codegen`: the generated code against the IR interpreter on copies of memory — appending one line per disagreement
 * (and per compile error; `stage` logs compile times) to `TESSERA_SHADOW_LOG` (default /tmp/tessera-shadow.log).
 * Nothing here affects a launch's result.
 */

import type { CostRecord } from '../kernel/cost';
import type { ExecuteOptions } from '../kernel/execute';
import { codegenShadow } from './codegen/shadow-check';
import { costShadow } from './cost/shadow-check';
import type { KernelIR } from './ir';
import { specialize } from './specialize';
import { stageKernel } from './stage-kernel';

export interface ShadowCheck {
  /** Before the launch runs (e.g. snapshot memory and run the kernel on a copy). */
  before?(o: ExecuteOptions, ir: KernelIR): unknown;
  /** After the launch ran, with its cost record; returns a disagreement, or null. */
  after?(o: ExecuteOptions, ir: KernelIR, record: CostRecord, state: unknown): string | null;
}

const CHECKS: Record<string, ShadowCheck> = { cost: costShadow, codegen: codegenShadow };

type Env = { TESSERA_SHADOW?: string; TESSERA_SHADOW_LOG?: string };
const env = (): Env => (globalThis as { process?: { env: Env } }).process?.env ?? {};

export function shadowEnabled(): boolean {
  return !!env().TESSERA_SHADOW;
}

function log(line: string): void {
  const proc = (globalThis as { process?: { getBuiltinModule?: (m: string) => unknown } }).process;
  const fs = proc?.getBuiltinModule?.('fs') as { appendFileSync(p: string, s: string): void } | undefined;
  fs?.appendFileSync(env().TESSERA_SHADOW_LOG ?? '/tmp/tessera-shadow.log', `${line}\n`);
}

export interface ShadowRun {
  ir: KernelIR;
  states: Map<string, unknown>;
}

/** Compiles the launch's kernel and runs the `before` checks; null if shadowing is off or compiling failed. */
export function shadowBefore(o: ExecuteOptions): ShadowRun | null {
  const names = (env().TESSERA_SHADOW ?? '').split(',').filter(Boolean);
  if (!names.length) return null;
  let ir: KernelIR;
  try {
    const spec = specialize(o.kernel, o.args, o.block, o.dynamicSharedBytes);
    const t0 = performance.now();
    ir = stageKernel(o.kernel, spec);
    if (names.includes('stage')) log(`STAGE ok ${o.kernel.name} ${(performance.now() - t0).toFixed(1)} ms`);
  } catch (e) {
    log(`STAGE error ${o.kernel.name}: ${(e as Error).message.split('\n')[0]}`);
    return null;
  }
  const states = new Map<string, unknown>();
  for (const n of names) {
    const c = CHECKS[n];
    if (!c?.before) continue;
    try {
      states.set(n, c.before(o, ir));
    } catch (e) {
      log(
        `${n.toUpperCase()} error ${o.kernel.name} (before): ${(e as Error).stack?.split('\n').slice(0, 3).join(' | ')}`,
      );
    }
  }
  return { ir, states };
}

export function shadowAfter(o: ExecuteOptions, run: ShadowRun | null, record: CostRecord): void {
  if (!run) return;
  for (const n of (env().TESSERA_SHADOW ?? '').split(',')) {
    const c = CHECKS[n];
    if (!c?.after) continue;
    try {
      const d = c.after(o, run.ir, record, run.states.get(n));
      if (d) log(`${n.toUpperCase()} mismatch ${o.kernel.name}: ${d}`);
    } catch (e) {
      log(
        `${n.toUpperCase()} error ${o.kernel.name} (after): ${(e as Error).stack?.split('\n').slice(0, 3).join(' | ')}`,
      );
    }
  }
}
