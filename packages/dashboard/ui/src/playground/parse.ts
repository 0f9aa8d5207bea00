/**
 * The visitor's program: plain JavaScript (no TypeScript: nothing is transpiled) run as the body of a function with
 * the kernel language in scope, returning the launch:
 *
 *   return {
 *     kernel,                       // a tileKernel(…) or simtKernel(…)
 *     grid: 64,                     // or [x, y] / [x, y, z]
 *     block: 256,                   // SIMT only (threads per block); sharedMemBytes: dynamic shared memory, SIMT only
 *     buffers: { x: { dtype: 'f32', length: n, init: 'random' }, out: { length: n, init: 'poison' } },
 *     scalars: { n, BLOCK },        // every non-buffer parameter (runtime scalars and constexprs)
 *     check: { output: 'out', reference: (inputs, scalars) => … },   // optional: a float64 reference
 *     seed: 1,                      // optional: seed of the random inputs
 *   };
 *
 * `init` is 'random' (seeded, in [-1, 1) or `range: [lo, hi]`), 'poison' (NaN: the default for check.output),
 * 'zeros', a number, or an array of `length` numbers. The code runs in the visitor's own tab, with their own
 * privileges: evaluating it is no more than what they could do in the console.
 */
import {
  cdiv,
  DTYPES,
  type DType,
  deviceFunction,
  isKernel,
  type Kernel,
  simtKernel,
  tileKernel,
} from '@tessera/device';
import { defaultTolerance } from './inputs';
import { issueFrom, PRELUDE, SCOPE_NAMES, syntaxErrorPosition } from './source';
import {
  type BufferInit,
  type Dim3,
  PLAYGROUND_LIMITS,
  type PlaygroundBuffer,
  type PlaygroundCheck,
  PlaygroundError,
  type PlaygroundProgram,
  type ReferenceFn,
  type ScalarValue,
} from './types';

/** What the program sees besides JavaScript's globals: the kernel language of @tessera/device. */
export const PLAYGROUND_SCOPE = Object.freeze({ tileKernel, simtKernel, deviceFunction, cdiv });
const SCOPE_VALUES = SCOPE_NAMES.map((n) => PLAYGROUND_SCOPE[n as keyof typeof PLAYGROUND_SCOPE]);

const LAUNCH_KEYS = ['kernel', 'grid', 'block', 'sharedMemBytes', 'buffers', 'scalars', 'check', 'seed'];
const BUFFER_KEYS = ['dtype', 'length', 'init', 'range'];

function fail(message: string, hint?: string): never {
  throw new PlaygroundError({ kind: 'program', message, ...(hint ? { hint } : {}) });
}

/** Parses and runs the visitor's source, and checks the launch it returns. Throws `PlaygroundError`. */
export function parsePlayground(source: string): PlaygroundProgram {
  if (typeof source !== 'string') fail('The program must be text.');
  if (source.length > PLAYGROUND_LIMITS.maxSourceChars) {
    fail(
      `The program has ${source.length} characters; the playground takes at most ${PLAYGROUND_LIMITS.maxSourceChars}.`,
    );
  }
  let fn: (...scope: unknown[]) => unknown;
  try {
    fn = new Function(...SCOPE_NAMES, PRELUDE + source) as typeof fn;
  } catch (e) {
    const pos = syntaxErrorPosition(source);
    throw new PlaygroundError({
      kind: 'syntax',
      message: `Syntax error: ${(e as Error).message}`,
      hint: 'The playground takes plain JavaScript: no TypeScript types or annotations, no import statements.',
      ...(pos ?? {}),
    });
  }
  let value: unknown;
  try {
    value = fn(...SCOPE_VALUES);
  } catch (e) {
    throw new PlaygroundError(issueFrom(e, 'program', { source, params: SCOPE_NAMES }));
  }
  return describeLaunch(source, value);
}

const EXAMPLE = `return { kernel, grid: cdiv(n, BLOCK), buffers: { x: { dtype: 'f32', length: n, init: 'random' } }, scalars: { n, BLOCK } };`;

function describeLaunch(source: string, value: unknown): PlaygroundProgram {
  if (value === undefined) fail('The program returned nothing.', `End it with the launch, e.g. ${EXAMPLE}`);
  if (value !== null && typeof (value as { then?: unknown }).then === 'function') {
    fail('The program returned a Promise.', 'Return the launch object itself: the program runs synchronously.');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail(`The program must return a launch object, not ${typeof value}.`, `E.g. ${EXAMPLE}`);
  }
  const launch = value as Record<string, unknown>;
  for (const k of Object.keys(launch)) {
    if (!LAUNCH_KEYS.includes(k))
      fail(`The launch has an unknown field '${k}'.`, `Its fields: ${LAUNCH_KEYS.join(', ')}.`);
  }
  if (!isKernel(launch.kernel)) {
    fail(
      launch.kernel === undefined ? "The launch is missing 'kernel'." : "The launch's 'kernel' is not a kernel.",
      'Define one with tileKernel({ name, params }, (t, args) => …) or simtKernel(…), and return { kernel: myKernel, … }.',
    );
  }
  const kernel = launch.kernel as Kernel;
  const params = kernel.params as Record<string, string>;
  const grid = dims(launch.grid, 'grid', 'grid: cdiv(n, BLOCK), or [x, y] for a 2-D grid');
  let block: Dim3 | null = null;
  let sharedMemBytes = 0;
  if (kernel.style === 'simt') {
    if (launch.block === undefined)
      fail("A SIMT kernel's launch is missing 'block' (threads per block).", 'E.g. block: 256.');
    block = dims(launch.block, 'block', 'block: 256, or [16, 16]');
    if (launch.sharedMemBytes !== undefined) sharedMemBytes = count(launch.sharedMemBytes, 'sharedMemBytes', 0);
  } else if (launch.block !== undefined || launch.sharedMemBytes !== undefined) {
    fail(
      `Kernel '${kernel.name}' is a tile kernel: it takes only a grid, not ${launch.block !== undefined ? 'block' : 'sharedMemBytes'}.`,
      'The backend maps each program onto the hardware itself; remove the field (block and sharedMemBytes are for simtKernel).',
    );
  }
  // The compared output starts as poison unless the program says otherwise: random values could pass for a result.
  const checked = (launch.check as { output?: unknown } | null | undefined)?.output;
  const buffers = describeBuffers(kernel, params, launch.buffers, typeof checked === 'string' ? checked : null);
  const scalars = describeScalars(kernel, params, launch.scalars);
  const check = describeCheck(launch.check, buffers);
  const seed = launch.seed === undefined ? 1 : count(launch.seed, 'seed', 0);
  const all = Object.values(buffers);
  const output = check?.output ?? all.find((b) => b.init.kind === 'poison')?.name ?? all[all.length - 1]?.name ?? '';
  return { source, kernel, style: kernel.style, grid, block, sharedMemBytes, buffers, scalars, check, output, seed };
}

function dims(v: unknown, what: string, example: string): Dim3 {
  const list = typeof v === 'number' ? [v] : Array.isArray(v) ? v : null;
  if (v === undefined) fail(`The launch is missing '${what}'.`, `E.g. ${example}.`);
  if (!list || list.length < 1 || list.length > 3) {
    fail(`'${what}' must be a number or an array of 1 to 3 numbers.`, `E.g. ${example}.`);
  }
  const d = list!.map((x, i) => count(x, list!.length > 1 ? `${what}[${i}]` : what, 1));
  const dim: Dim3 = [d[0]!, d[1] ?? 1, d[2] ?? 1];
  const product = dim[0] * dim[1] * dim[2];
  if (product > 2 ** 31 - 1) fail(`'${what}' has ${product} entries in all; at most 2^31 − 1.`);
  return dim;
}

/** An integer ≥ min that is safe to index with. */
function count(v: unknown, what: string, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    fail(
      `'${what}' must be an integer ≥ ${min}, got ${show(v)}.`,
      'Sizes are plain numbers: cdiv(n, BLOCK), 1 << 20, …',
    );
  }
  return v as number;
}

function show(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'function') return 'a function';
  if (Array.isArray(v)) return 'an array';
  return v !== null && typeof v === 'object' ? 'an object' : String(v);
}

function describeBuffers(
  kernel: Kernel,
  params: Record<string, string>,
  raw: unknown,
  checked: string | null,
): Record<string, PlaygroundBuffer> {
  const names = Object.keys(params).filter((p) => params[p]!.startsWith('ptr'));
  if (raw === undefined && names.length === 0) return {};
  const example = (p: string) => `${p}: { dtype: '${specDTypes(params[p]!)[0] ?? 'f32'}', length: n, init: 'random' }`;
  if (raw === undefined || raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    fail(
      raw === undefined ? "The launch is missing 'buffers'." : "'buffers' must be an object keyed by parameter name.",
      `Kernel '${kernel.name}' takes buffers ${names.join(', ')}: e.g. buffers: { ${names.map(example).join(', ')} }.`,
    );
  }
  const given = raw as Record<string, unknown>;
  for (const k of Object.keys(given)) {
    if (!names.includes(k)) {
      fail(
        `buffers.${k}: kernel '${kernel.name}' has no buffer parameter '${k}'.`,
        names.length ? `Its buffers: ${names.join(', ')}.` : 'It takes no buffers.',
      );
    }
  }
  const out: Record<string, PlaygroundBuffer> = {};
  for (const name of names) {
    const b = given[name];
    if (b === undefined) {
      fail(
        `buffers.${name} is missing: kernel '${kernel.name}' takes buffer '${name}' (${params[name]}).`,
        `Add e.g. ${example(name)}.`,
      );
    }
    out[name] = describeBuffer(name, params[name]!, b, name === checked ? 'poison' : 'random');
  }
  return out;
}

/** The dtypes a `ptr<…>` spec accepts (empty for plain `ptr`: any). */
function specDTypes(spec: string): string[] {
  const m = /^ptr<(.+)>$/.exec(spec);
  return m ? m[1]!.split('|') : [];
}

function describeBuffer(name: string, spec: string, raw: unknown, byDefault: 'random' | 'poison'): PlaygroundBuffer {
  const where = `buffers.${name}`;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    fail(
      `${where} must be an object { dtype, length, init }.`,
      `E.g. ${name}: { dtype: 'f32', length: 1024, init: 'random' }.`,
    );
  }
  const b = raw as Record<string, unknown>;
  for (const k of Object.keys(b)) {
    if (!BUFFER_KEYS.includes(k))
      fail(`${where} has an unknown field '${k}'.`, `Its fields: ${BUFFER_KEYS.join(', ')}.`);
  }
  const allowed = specDTypes(spec);
  const dtype = (b.dtype ?? (allowed.length === 1 ? allowed[0] : undefined)) as DType | undefined;
  if (dtype === undefined) fail(`${where}.dtype is missing (parameter '${name}' is '${spec}').`, "E.g. dtype: 'f32'.");
  if (!(DTYPES as readonly string[]).includes(dtype as string)) {
    fail(`${where}.dtype '${String(dtype)}' is not a dtype.`, `Use one of ${DTYPES.join(', ')}.`);
  }
  if (allowed.length && !allowed.includes(dtype as string)) {
    fail(`${where}.dtype is '${dtype}', but parameter '${name}' is '${spec}'.`, `Use ${allowed.join(' or ')}.`);
  }
  if (b.length === undefined)
    fail(`${where}.length is missing.`, `E.g. ${name}: { dtype: '${dtype}', length: 1 << 20 }.`);
  const length = count(b.length, `${where}.length`, 1);
  if (length > PLAYGROUND_LIMITS.maxBufferLength) fail(`${where}.length ${length} is above 2^31 − 1 elements.`);
  return { name, dtype: dtype as DType, length, init: describeInit(where, b.init ?? byDefault, b.range, length) };
}

function describeInit(where: string, init: unknown, range: unknown, length: number): BufferInit {
  let lo = -1;
  let hi = 1;
  if (range !== undefined) {
    const r = range as unknown[];
    if (!Array.isArray(r) || r.length !== 2 || !r.every(Number.isFinite) || !((r[0] as number) < (r[1] as number))) {
      fail(`${where}.range must be [lo, hi] with lo < hi.`, 'E.g. range: [-10, 10].');
    }
    [lo, hi] = r as [number, number];
  }
  if (init === 'random') return { kind: 'random', lo, hi };
  if (range !== undefined) fail(`${where}.range only applies to init: 'random'.`);
  if (init === 'poison') return { kind: 'poison' };
  if (init === 'zeros') return { kind: 'value', value: 0 };
  if (typeof init === 'number') return { kind: 'value', value: init };
  if (Array.isArray(init) || ArrayBuffer.isView(init)) {
    const values = init as ArrayLike<unknown>;
    if (values.length !== length) {
      fail(
        `${where}.init has ${values.length} values; the buffer has ${length} elements.`,
        'Give one value per element.',
      );
    }
    for (let i = 0; i < values.length; i++) {
      if (typeof values[i] !== 'number') fail(`${where}.init[${i}] is ${show(values[i])}, not a number.`);
    }
    return { kind: 'values', values: Float64Array.from(values as ArrayLike<number>) };
  }
  return fail(`${where}.init must be 'random', 'poison', 'zeros', a number or an array of numbers; got ${show(init)}.`);
}

function describeScalars(kernel: Kernel, params: Record<string, string>, raw: unknown): Record<string, ScalarValue> {
  const names = Object.keys(params).filter((p) => !params[p]!.startsWith('ptr'));
  const example = (p: string) =>
    `${p}: ${params[p]!.endsWith('[]') ? '[1, 2, 3]' : params[p] === 'f32' ? '0.5' : '1024'}`;
  if (raw === undefined && names.length === 0) return {};
  if (raw === undefined || raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    fail(
      raw === undefined ? "The launch is missing 'scalars'." : "'scalars' must be an object keyed by parameter name.",
      `Kernel '${kernel.name}' takes ${names.map((p) => `${p} (${params[p]})`).join(', ')}: e.g. scalars: { ${names.map(example).join(', ')} }.`,
    );
  }
  const given = raw as Record<string, unknown>;
  for (const k of Object.keys(given)) {
    if (!names.includes(k)) {
      const isBuffer = k in params;
      fail(
        `scalars.${k}: kernel '${kernel.name}' has no ${isBuffer ? 'scalar ' : ''}parameter '${k}'${isBuffer ? ` ('${k}' is a buffer: put it under buffers)` : ''}.`,
        names.length ? `Its scalars: ${names.join(', ')}.` : 'It takes no scalars.',
      );
    }
  }
  const out: Record<string, ScalarValue> = {};
  for (const name of names) {
    const spec = params[name]!;
    const v = given[name];
    if (v === undefined) {
      fail(
        `scalars.${name} is missing: kernel '${kernel.name}' takes '${name}' (${spec}).`,
        `Add e.g. ${example(name)}.`,
      );
    }
    if (spec.endsWith('[]')) {
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
        fail(`scalars.${name} must be an array of numbers (${spec}).`, `E.g. ${example(name)}.`);
      }
      out[name] = Object.freeze([...(v as number[])]);
    } else {
      if (typeof v !== 'number' || !Number.isFinite(v))
        fail(`scalars.${name} must be a finite number (${spec}), got ${show(v)}.`);
      if (spec !== 'f32' && !Number.isInteger(v)) fail(`scalars.${name} must be an integer (${spec}), got ${v}.`);
      out[name] = v as number;
    }
  }
  return out;
}

function describeCheck(raw: unknown, buffers: Record<string, PlaygroundBuffer>): PlaygroundCheck | null {
  if (raw === undefined || raw === null) return null;
  const names = Object.keys(buffers);
  const example = "check: { output: 'out', reference: ({ x, y }) => x.map((v, i) => v + y[i]) }";
  if (typeof raw !== 'object' || Array.isArray(raw))
    fail("'check' must be an object { output, reference }.", `E.g. ${example}.`);
  const c = raw as Record<string, unknown>;
  for (const k of Object.keys(c)) {
    if (!['output', 'reference', 'tolerance'].includes(k)) {
      fail(`check has an unknown field '${k}'.`, 'Its fields: output, reference, tolerance.');
    }
  }
  if (typeof c.output !== 'string' || !(c.output in buffers)) {
    fail(
      c.output === undefined ? 'check.output is missing.' : `check.output ${show(c.output)} is not one of the buffers.`,
      `Name the buffer to compare: one of ${names.join(', ')}.`,
    );
  }
  if (typeof c.reference !== 'function') {
    fail('check.reference must be a function (inputs, scalars) => expected values.', `E.g. ${example}.`);
  }
  let tolerance = defaultTolerance(buffers[c.output as string]!.dtype);
  if (c.tolerance !== undefined) {
    if (typeof c.tolerance !== 'number' || !(c.tolerance >= 0) || !Number.isFinite(c.tolerance)) {
      fail('check.tolerance must be a number ≥ 0 (the largest accepted ‖out − ref‖ / ‖ref‖).');
    }
    tolerance = c.tolerance as number;
  }
  return { output: c.output as string, reference: c.reference as ReferenceFn, tolerance };
}
