/**
 * The compiler as a short list of named passes over one IR (TileLang's `phase.py`, Triton's pass manager), each
 * dumpable: `TESSERA_DUMP_IR=1` prints the IR after every pass (`=ir` the final IR only, `=js` the generated
 * JavaScript, `=wgsl` the generated WGSL of SIMT kernels, `=cost` each launch's cost record; a comma list combines them), with the kernel's name and
 * specialisation, to stderr. Compiled specialisations are cached per kernel object: a launch with new runtime scalars or a new grid
 * reuses the entry; only new constexprs, buffer dtypes, divisibility hints or (SIMT) block shapes and warp sizes compile
 * again.
 */
import type { Kernel } from '../kernel/kernel';
import { type KernelIR, printIR } from './ir';
import { canonicalize } from './passes/canonicalize';
import { verify } from './passes/verify';
import { type Specialization, specialize } from './specialize';
import { stageKernel } from './stage-kernel';

export interface Pass {
  name: string;
  run(ir: KernelIR): KernelIR;
}

/** The passes after staging, in order. */
export const PASSES: readonly Pass[] = [
  { name: 'canonicalize', run: canonicalize },
  { name: 'verify', run: verify },
];

export interface CompiledKernel {
  kernel: Kernel;
  spec: Specialization;
  ir: KernelIR;
  /** Milliseconds spent compiling (staging and passes). */
  compileMs: number;
  /** Artifacts attached by back ends (generated code, cost plans), by name. */
  artifacts: Map<string, unknown>;
}

type Env = { TESSERA_DUMP_IR?: string };
const env = (): Env => (globalThis as { process?: { env: Env } }).process?.env ?? {};

/** Where dumps go (tests replace it). */
export const dumpSink: { write: (text: string) => void } = {
  write: (text) => {
    const proc = (globalThis as { process?: { stderr?: { write(s: string): void } } }).process;
    if (proc?.stderr) proc.stderr.write(`${text}\n`);
    else console.log(text);
  },
};

const NO_DUMPS: ReadonlySet<string> = new Set();
let lastDumpSetting = '';
let lastDumpModes = NO_DUMPS;
/** What `TESSERA_DUMP_IR` asks for: '1' or 'all' → every pass; otherwise a comma list of ir, js, wgsl, cost. */
export function dumpModes(): ReadonlySet<string> {
  const v = env().TESSERA_DUMP_IR ?? '';
  if (v === lastDumpSetting) return lastDumpModes; // read on every launch: parse only when it changes
  const modes = new Set(
    v
      .split(',')
      .map((m) => m.trim())
      .filter(Boolean),
  );
  if (modes.has('1') || modes.has('all')) modes.add('passes');
  lastDumpSetting = v;
  lastDumpModes = modes.size ? modes : NO_DUMPS;
  return lastDumpModes;
}

function dump(stage: string, ir: KernelIR): void {
  dumpSink.write(`// ----- ${ir.name} ${ir.key}: after ${stage}\n${printIR(ir)}`);
}

/** Runs staging and every pass for one specialisation. */
export function compileSpecialization(kernel: Kernel, spec: Specialization): CompiledKernel {
  const t0 = performance.now();
  const modes = dumpModes();
  let ir = stageKernel(kernel, spec);
  if (modes.has('passes')) dump('stage', ir);
  for (const p of PASSES) {
    ir = p.run(ir);
    if (modes.has('passes')) dump(p.name, ir);
  }
  if (modes.has('ir')) dump('passes', ir);
  return { kernel, spec, ir, compileMs: performance.now() - t0, artifacts: new Map() };
}

const cache = new WeakMap<Kernel, Map<string, CompiledKernel>>();
/** Counts compiles (for tests: one compile across many launches with new scalars). */
export const compileStats = { compiles: 0, hits: 0 };

/** The compiled specialisation for a launch's arguments (compiling it the first time). */
export function compileKernel(
  kernel: Kernel,
  args: Record<string, unknown>,
  block: readonly [number, number, number] | null = null,
  dynamicSharedBytes = 0,
  warpSize = 32,
): CompiledKernel {
  const spec = specialize(kernel, args, block, dynamicSharedBytes, warpSize);
  let perKernel = cache.get(kernel);
  if (!perKernel) {
    perKernel = new Map();
    cache.set(kernel, perKernel);
  }
  const hit = perKernel.get(spec.key);
  if (hit) {
    compileStats.hits++;
    return hit;
  }
  const compiled = compileSpecialization(kernel, spec);
  compileStats.compiles++;
  perKernel.set(spec.key, compiled);
  return compiled;
}
