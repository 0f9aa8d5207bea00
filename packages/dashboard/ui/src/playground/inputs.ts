/**
 * What every run shares, whatever it runs on: the inputs (seeded, so the simulators and the visitor's GPU see the
 * same numbers), the poison outputs start as, the comparison with the float64 reference, and the run limits.
 */
import { castScalar, DTYPE_INFO, type DType, isFloat, type ProgramCost } from '@tessera/device';
import { randomArray, randomInts } from '@tessera/device/random';
import { issueFrom, SCOPE_NAMES } from './source';
import {
  PLAYGROUND_LIMITS,
  type PlaygroundBuffer,
  PlaygroundError,
  type PlaygroundIssue,
  type PlaygroundProgram,
} from './types';

/** Floats start as NaN, so an element the kernel never writes cannot pass for a result; integers at an extreme. */
export function poisonValue(dtype: DType): number {
  if (isFloat(dtype)) return Number.NaN;
  const info = DTYPE_INFO[dtype];
  return info.min !== 0 ? info.min : info.max;
}

/** The default tolerance of ‖out − ref‖ / ‖ref‖ for an output of this dtype (ints must match exactly). */
export function defaultTolerance(dtype: DType): number {
  if (dtype === 'f32') return 1e-5;
  if (dtype === 'f16' || dtype === 'bf16') return 1e-2;
  if (dtype === 'fp8e4m3' || dtype === 'fp8e5m2') return 1e-1;
  return 0;
}

/** A distinct seed per buffer, so `x` and `y` of one program differ. */
function bufferSeed(seed: number, index: number): number {
  return (Math.imul(seed >>> 0, 0x9e3779b1) + Math.imul(index + 1, 0x85ebca6b)) >>> 0;
}

/**
 * Each buffer's initial values as the device holds them (rounded to its dtype), in float64: what is uploaded, and
 * what the reference sees. Poisoned buffers are all NaN here (the reference gets their shape, not their values).
 */
export function hostInputs(program: PlaygroundProgram): Record<string, Float64Array> {
  const out: Record<string, Float64Array> = {};
  Object.values(program.buffers).forEach((b, i) => {
    out[b.name] = initialValues(b, bufferSeed(program.seed, i));
  });
  return out;
}

function initialValues(b: PlaygroundBuffer, seed: number): Float64Array {
  const init = b.init;
  let raw: ArrayLike<number>;
  switch (init.kind) {
    case 'random':
      raw = isFloat(b.dtype)
        ? randomArray(b.length, seed, init.lo, init.hi)
        : randomInts(b.length, seed, Math.ceil(init.lo), Math.floor(init.hi));
      break;
    case 'poison':
      return new Float64Array(b.length).fill(Number.NaN);
    case 'value':
      return new Float64Array(b.length).fill(castScalar(init.value, b.dtype));
    case 'values':
      raw = init.values;
      break;
  }
  const v = new Float64Array(b.length);
  for (let i = 0; i < b.length; i++) v[i] = castScalar(raw[i]!, b.dtype);
  return v;
}

/** What a run compares: the error, and how many elements are still poison (never written). */
export interface Comparison {
  relError: number;
  /** Output elements that are NaN where the reference is not: usually elements the kernel never wrote. */
  nanCount: number;
}

/** ‖out − ref‖ / ‖ref‖ over float64 (‖out − ref‖ alone when the reference is all zeros); NaN in out → Infinity. */
export function compare(out: ArrayLike<number>, ref: ArrayLike<number>): Comparison {
  let num = 0;
  let den = 0;
  let nanCount = 0;
  for (let i = 0; i < ref.length; i++) {
    const o = out[i]!;
    const r = ref[i]!;
    if (Number.isNaN(o) && !Number.isNaN(r)) {
      nanCount++;
      continue;
    }
    if (Number.isNaN(o) && Number.isNaN(r)) continue;
    num += (o - r) ** 2;
    den += r ** 2;
  }
  const relError = nanCount > 0 ? Number.POSITIVE_INFINITY : den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
  return { relError, nanCount };
}

/**
 * Calls the program's reference on the inputs and checks what it returned: one number per element of the output.
 * Its failures are the visitor's (kind `check`, with the line from the stack).
 */
export function referenceValues(
  program: PlaygroundProgram,
  inputs: Record<string, Float64Array>,
  params: readonly string[] = SCOPE_NAMES,
): Float64Array {
  const check = program.check!;
  const want = program.buffers[check.output]!.length;
  let got: unknown;
  try {
    // Copies: a reference that writes into its inputs must not change what the next run uploads or compares.
    const copies: Record<string, Float64Array> = {};
    for (const [k, v] of Object.entries(inputs)) copies[k] = v.slice();
    got = check.reference(copies, { ...program.scalars });
  } catch (e) {
    const issue = issueFrom(e, 'check', { source: program.source, params });
    throw new PlaygroundError({ ...issue, kind: 'check', message: `check.reference threw: ${issue.message}` });
  }
  const arr = got as ArrayLike<number> | null;
  if (arr === null || typeof arr !== 'object' || typeof arr.length !== 'number') {
    throw new PlaygroundError({
      kind: 'check',
      message: `check.reference must return the expected '${check.output}' as an array of numbers; it returned ${describe(got)}.`,
      hint: `Return ${want} numbers, e.g. a Float64Array(${want}) or inputs.x.map(…).`,
    });
  }
  if (arr.length !== want) {
    throw new PlaygroundError({
      kind: 'check',
      message: `check.reference returned ${arr.length} values; '${check.output}' has ${want} elements.`,
      hint: 'Return one value per element of the output buffer.',
    });
  }
  const ref = Float64Array.from(arr as ArrayLike<number>, Number);
  return ref;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

/** The comparison of a run's output with the program's reference, and what is wrong with it (null: it passed). */
export interface Verdict {
  /** ‖out − ref‖ / ‖ref‖ against the reference (null without a check, or when the run failed). */
  relError: number | null;
  /** Elements of the output still NaN (poison) where the reference has a number: never written. */
  nanCount: number;
  error: PlaygroundIssue | null;
}

/** What a run (simulated or on WebGPU) reports of its output: the verdict, and the output itself. */
export interface OutputReport extends Verdict {
  tolerance: number | null;
  /** The buffer previewed and compared. */
  output: string;
  /** Its first 8 values. */
  outputPreview: number[];
  /** All its values (null when the run failed). */
  outputValues: Float32Array | Int32Array | null;
}

/** Compares `values` (the program's output after a run) with the reference computed from `inputs`. */
export function checkResult(
  program: PlaygroundProgram,
  values: ArrayLike<number>,
  inputs: Record<string, Float64Array>,
): Verdict {
  const check = program.check;
  if (!check) return { relError: null, nanCount: 0, error: null };
  let ref: Float64Array;
  try {
    ref = referenceValues(program, inputs, SCOPE_NAMES);
  } catch (e) {
    const error = e instanceof PlaygroundError ? e.issue : issueFrom(e, 'check', { source: program.source });
    return { relError: null, nanCount: 0, error };
  }
  const { relError, nanCount } = compare(values, ref);
  if (nanCount > 0) {
    return {
      relError,
      nanCount,
      error: {
        kind: 'check',
        message: `${nanCount} of ${ref.length} elements of '${check.output}' are still NaN (the poison it started as): the kernel never wrote them.`,
        hint: 'Check that the grid covers every element and that the masks or guards are not too strict.',
      },
    };
  }
  if (!(relError <= check.tolerance)) {
    return {
      relError,
      nanCount,
      error: {
        kind: 'check',
        message: `'${check.output}' differs from the reference: ‖out − ref‖ / ‖ref‖ = ${relError.toExponential(2)}, above the tolerance ${check.tolerance}.`,
        hint: 'Compare the preview with the reference; set check.tolerance if a lower precision is intended.',
      },
    };
  }
  return { relError, nanCount, error: null };
}

/** The work a run does, in the units the limits use: element operations plus elements moved. */
export function runWork(total: ProgramCost): number {
  return (
    total.totalVectorOps +
    total.totalMatrixFlops / 2 +
    total.specialOps +
    total.atomicOps +
    total.memoryOps +
    (total.bytesRead + total.bytesWritten) / 4
  );
}

/**
 * Refuses a run over the element, program and thread limits (before anything is allocated). `sanitize` tightens
 * nothing here: the sanitizer's own bound is on work (`checkWork`), which needs the cost record.
 */
export function checkRunLimits(program: PlaygroundProgram): void {
  const L = PLAYGROUND_LIMITS;
  const elements = Object.values(program.buffers).reduce((s, b) => s + b.length, 0);
  if (elements > L.maxRunElements) {
    const sizes = Object.values(program.buffers)
      .map((b) => `${b.name} ${b.length.toLocaleString('en-US')}`)
      .join(', ');
    throw new PlaygroundError({
      kind: 'limit',
      message: `The buffers hold ${elements.toLocaleString('en-US')} elements in all (${sizes}); a run in the browser takes at most ${L.maxRunElements.toLocaleString('en-US')} (${log2(L.maxRunElements)}).`,
      hint: 'Make the sizes smaller to run it. Modelling the launch on every device allocates nothing and takes any size.',
    });
  }
  const programs = program.grid[0] * program.grid[1] * program.grid[2];
  if (programs > L.maxRunPrograms) {
    throw new PlaygroundError({
      kind: 'limit',
      message: `The grid has ${programs.toLocaleString('en-US')} ${program.style === 'simt' ? 'blocks' : 'programs'}; a run takes at most ${L.maxRunPrograms.toLocaleString('en-US')} (${log2(L.maxRunPrograms)}).`,
      hint: 'Give each program more elements (a larger BLOCK), or shrink the problem.',
    });
  }
  if (program.block) {
    const threads = programs * program.block[0] * program.block[1] * program.block[2];
    if (threads > L.maxRunThreads) {
      throw new PlaygroundError({
        kind: 'limit',
        message: `The launch has ${threads.toLocaleString('en-US')} threads (blocks × threads per block); a run takes at most ${L.maxRunThreads.toLocaleString('en-US')} (${log2(L.maxRunThreads)}).`,
        hint: 'Fewer blocks, or a grid-stride loop with fewer threads.',
      });
    }
  }
}

/** Refuses a run whose cost record says it would take too long in the tab. */
export function checkWork(total: ProgramCost, sanitize: boolean): void {
  const work = runWork(total);
  const cap = sanitize ? PLAYGROUND_LIMITS.maxSanitizedWork : PLAYGROUND_LIMITS.maxRunWork;
  if (work > cap) {
    throw new PlaygroundError({
      kind: 'limit',
      message: `This launch does about ${fmt(work)} element operations and accesses; ${sanitize ? 'a sanitized run' : 'a run'} in the browser takes at most ${fmt(cap)}.`,
      hint: sanitize
        ? 'The sanitizer checks every access and is much slower: shrink the problem for it, or run without it.'
        : 'Shrink the problem to run it (modelling takes any size).',
    });
  }
}

const log2 = (n: number) => `2^${Math.log2(n)}`;
const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n.toLocaleString('en-US'));
