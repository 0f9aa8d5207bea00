/**
 * Kernel definitions. A kernel declares its parameters, so that a launch can check every argument (a missing buffer,
 * a buffer of the wrong dtype, a non-integer size) before anything runs, and so that a future lowering knows
 * which arguments are buffers, scalars or compile-time constants.
 *
 * Parameter specs:
 *   'ptr'                 any device buffer          'ptr<f32>'  a buffer of one dtype   'ptr<f16|bf16>'  one of several
 *   'i32' | 'u32'         an integer scalar          'i64'       a size beyond 2³¹ (exact up to 2⁵³)
 *   'f32'                 a number
 *   'constexpr'           a number that shapes the kernel (tile sizes): part of its specialisation key
 *   'i32[]' | 'f32[]'     a small array of numbers passed by value (e.g. per-sequence lengths)
 */

import { DEVICE_FUNCTION, type DeviceFunctionInfo } from '../compiler/frontend/device-function';
import { captureSite, type DefinitionSite } from '../compiler/frontend/source';
import { SHARED_ELEMS, sharedElemBytes } from '../compiler/ir';
import { type DType, isDType } from '../dtype/dtype';
import { TesseraError } from '../errors';
import { DeviceBuffer } from '../memory/buffer';
import { checkFinite, describeValue, invalidArgument } from '../validate';
import type { GlobalArray, SharedDType, SimtContext, TileContext } from './language';

export type ParamSpec = 'ptr' | `ptr<${string}>` | 'i32' | 'u32' | 'i64' | 'f32' | 'constexpr' | 'i32[]' | 'f32[]';
export type ParamSpecs = Record<string, ParamSpec>;

type ArgOf<S> = S extends `ptr${string}` ? DeviceBuffer : S extends `${string}[]` ? readonly number[] : number;
export type ArgsOf<P extends ParamSpecs> = { [K in keyof P]: ArgOf<P[K]> };
type SimtArgOf<S> = S extends `ptr${string}` ? GlobalArray : S extends `${string}[]` ? readonly number[] : number;
export type SimtArgsOf<P extends ParamSpecs> = { [K in keyof P]: SimtArgOf<P[K]> };

let nextKernelId = 1;

export interface TileKernel<P extends ParamSpecs = ParamSpecs> {
  readonly style: 'tile';
  readonly id: number;
  readonly name: string;
  readonly params: P;
  /** Values and device functions from outside the body it may use, by the names the body uses. */
  readonly uses: Readonly<Record<string, unknown>>;
  /** Where it was defined (for compile errors). */
  readonly site: DefinitionSite | null;
  readonly body: (t: TileContext, args: ArgsOf<P>) => void;
}

export type SharedDecl = readonly [SharedDType, number];
export type { SharedDType };

export interface SimtKernel<P extends ParamSpecs = ParamSpecs> {
  readonly style: 'simt';
  readonly id: number;
  readonly name: string;
  readonly params: P;
  /** Static shared-memory arrays per block: `{ partial: ['f32', 256] }` is `__shared__ float partial[256]`. */
  readonly shared: Readonly<Record<string, SharedDecl>>;
  readonly uses: Readonly<Record<string, unknown>>;
  readonly site: DefinitionSite | null;
  /**
   * @deprecated Ignored by the cost model, which counts FLOPs from the kernel's arithmetic (compiler/cost/plan.ts).
   * Kept (validated, 0 when not declared) so that kernels declaring it still compile.
   */
  readonly flopsPerThread: number;
  readonly body: (k: SimtContext, args: SimtArgsOf<P>) => Generator<unknown, void, unknown> | void;
  /** Per-block dynamic shared memory this kernel may use beyond the default limit (set with setMaxDynamicSharedMemory). */
  maxDynamicSharedBytes: number;
  /** Opt in to more than the default 48 KiB of dynamic shared memory, as `cudaFuncSetAttribute` does. */
  setMaxDynamicSharedMemory(bytes: number): void;
}

// biome-ignore lint/suspicious/noExplicitAny: a launch accepts kernels of any parameter list; args are checked at run time
export type Kernel = TileKernel<any> | SimtKernel<any>;

function checkDefinition(op: string, def: unknown, body: unknown): void {
  if (def === null || typeof def !== 'object') {
    throw invalidArgument(op, 'definition', `must be an object { name, params }, got ${describeValue(def)}`);
  }
  const { name, params } = def as { name?: unknown; params?: unknown };
  if (typeof name !== 'string' || name.trim() === '') {
    throw new TesseraError('InvalidValue', 'A kernel needs a non-empty name (it appears in traces and errors).');
  }
  if (params === null || typeof params !== 'object' || Array.isArray(params)) {
    throw invalidArgument(
      op,
      `'${name}': params`,
      `must be an object of parameter specs, got ${describeValue(params)}`,
    );
  }
  if (typeof body !== 'function') {
    throw invalidArgument(op, `'${name}': body`, `must be a function, got ${describeValue(body)}`);
  }
  for (const [p, spec] of Object.entries(params as Record<string, unknown>)) {
    if (typeof spec !== 'string') {
      throw new TesseraError(
        'InvalidValue',
        `Kernel '${name}': parameter '${p}' has a spec of ${describeValue(spec)}.`,
        {
          hint: "Use 'ptr', 'ptr<f32>', 'ptr<f16|bf16>', 'i32', 'u32', 'i64', 'f32', 'constexpr', 'i32[]' or 'f32[]'.",
        },
      );
    }
    const ok =
      ['ptr', 'i32', 'u32', 'i64', 'f32', 'constexpr', 'i32[]', 'f32[]'].includes(spec) ||
      (/^ptr<([a-z0-9|]+)>$/.test(spec) && allowedDTypes(spec)!.every((d) => isDType(d)));
    if (!ok) {
      throw new TesseraError('InvalidValue', `Kernel '${name}': parameter '${p}' has an unknown spec '${spec}'.`, {
        hint: "Use 'ptr', 'ptr<f32>', 'ptr<f16|bf16>', 'i32', 'u32', 'i64', 'f32', 'constexpr', 'i32[]' or 'f32[]'.",
      });
    }
  }
}

function allowedDTypes(spec: string): string[] | null {
  const m = /^ptr<(.+)>$/.exec(spec);
  return m ? m[1]!.split('|') : null;
}

function checkUses(op: string, name: string, uses: unknown): Readonly<Record<string, unknown>> {
  if (uses === undefined) return Object.freeze({});
  if (uses === null || typeof uses !== 'object' || Array.isArray(uses)) {
    throw invalidArgument(op, `'${name}': uses`, `must be an object of named values, got ${describeValue(uses)}`);
  }
  return Object.freeze({ ...(uses as Record<string, unknown>) });
}

/**
 * Defines a tile kernel: `body(t, args)` describes one program instance of the grid. The body is compiled (see
 * packages/device/docs/ir.md): it may use its parameters, locals, the tile language, `Math`, and — because a kernel
 * cannot see the variables around it — whatever `uses` names (constants, device functions).
 */
export function tileKernel<const P extends ParamSpecs>(
  def: { name: string; params: P; uses?: Record<string, unknown> },
  body: (t: TileContext, args: ArgsOf<P>) => void,
): TileKernel<P> {
  checkDefinition('tileKernel', def, body);
  const uses = checkUses('tileKernel', def.name, def.uses);
  return Object.freeze({
    style: 'tile' as const,
    id: nextKernelId++,
    name: def.name,
    params: def.params,
    uses,
    site: captureSite(),
    body,
  });
}

/**
 * Marks `fn` as a device function: a helper kernels may call with runtime values and tiles (an activation, an index
 * computation, a block walk). The compiler inlines it at each call, as Triton inlines nested `@triton.jit` calls;
 * `uses` names what it needs from outside its body. Returns `fn` itself.
 */
export function deviceFunction<F extends (...args: never[]) => unknown>(
  fn: F,
  options: { uses?: Record<string, unknown> } = {},
): F {
  if (typeof fn !== 'function')
    throw invalidArgument('deviceFunction', 'fn', `must be a function, got ${describeValue(fn)}`);
  const name = fn.name || 'deviceFunction';
  const info: DeviceFunctionInfo = { name, uses: checkUses('deviceFunction', name, options.uses), site: captureSite() };
  Object.defineProperty(fn, DEVICE_FUNCTION, { value: info, enumerable: false });
  return fn;
}

/** Defines a SIMT kernel: `body(k, args)` runs once per thread; `yield` in a generator body is `__syncthreads()`. */
export function simtKernel<const P extends ParamSpecs>(
  def: {
    name: string;
    params: P;
    shared?: Record<string, SharedDecl>;
    /** @deprecated Ignored: FLOPs are counted from the kernel's arithmetic. */
    flopsPerThread?: number;
    uses?: Record<string, unknown>;
  },
  body: (k: SimtContext, args: SimtArgsOf<P>) => Generator<unknown, void, unknown> | void,
): SimtKernel<P> {
  checkDefinition('simtKernel', def, body);
  const shared = def.shared ?? {};
  if (shared === null || typeof shared !== 'object') {
    throw invalidArgument('simtKernel', `'${def.name}': shared`, `must be an object, got ${describeValue(shared)}`);
  }
  const flopsPerThread = checkFinite('simtKernel', `'${def.name}': flopsPerThread`, def.flopsPerThread ?? 0, 0);
  for (const [n, decl] of Object.entries(shared)) {
    const [dt, len] = Array.isArray(decl) ? decl : [];
    if (!SHARED_ELEMS.includes(dt as SharedDType) || !Number.isInteger(len) || (len as number) <= 0) {
      throw new TesseraError(
        'InvalidValue',
        `Kernel '${def.name}': shared array '${n}' must be [${SHARED_ELEMS.join('|')}, length > 0].`,
      );
    }
  }
  const k: SimtKernel<P> = {
    style: 'simt',
    id: nextKernelId++,
    name: def.name,
    params: def.params,
    shared,
    uses: checkUses('simtKernel', def.name, def.uses),
    site: captureSite(),
    flopsPerThread,
    body,
    maxDynamicSharedBytes: 0,
    setMaxDynamicSharedMemory(bytes: number) {
      if (!Number.isInteger(bytes) || bytes < 0) {
        throw new TesseraError('InvalidValue', `setMaxDynamicSharedMemory(${bytes}): bytes must be an integer ≥ 0.`);
      }
      k.maxDynamicSharedBytes = bytes;
    },
  };
  return k;
}

/** Whether `x` is a kernel made by `tileKernel` or `simtKernel`. */
export function isKernel(x: unknown): x is Kernel {
  if (x === null || typeof x !== 'object') return false;
  const k = x as Partial<Kernel>;
  return (k.style === 'tile' || k.style === 'simt') && typeof k.body === 'function' && typeof k.name === 'string';
}

/** Bytes of a SIMT kernel's static shared arrays. */
export function staticSharedBytes(k: SimtKernel<ParamSpecs>): number {
  let b = 0;
  for (const [dt, len] of Object.values(k.shared)) b += sharedElemBytes(dt) * len;
  return b;
}

/**
 * Checks launch arguments against the kernel's parameter specs: all present, none extra, buffers live, on this
 * device and of an accepted dtype, scalars finite (and integral where declared). Throws `InvalidValue` naming the
 * parameter; nothing has run yet, so nothing is corrupted.
 */
export function validateArgs(kernel: Kernel, args: Record<string, unknown>, ownerLabel: string, owner: unknown): void {
  const where = `launch of '${kernel.name}'`;
  if (args === null || typeof args !== 'object') {
    throw new TesseraError('InvalidValue', `${where}: arguments must be an object keyed by parameter name.`);
  }
  for (const key of Object.keys(args)) {
    if (!(key in kernel.params)) {
      throw new TesseraError('InvalidValue', `${where}: unexpected argument '${key}'.`, {
        hint: `The kernel takes: ${Object.keys(kernel.params).join(', ')}.`,
      });
    }
  }
  for (const [p, spec] of Object.entries(kernel.params as ParamSpecs)) {
    const v = args[p];
    if (v === undefined) {
      throw new TesseraError('InvalidValue', `${where}: missing argument '${p}' (${spec}).`);
    }
    if (spec.startsWith('ptr')) {
      if (!(v instanceof DeviceBuffer)) {
        throw new TesseraError(
          'InvalidValue',
          `${where}: '${p}' must be a device buffer (${spec}), got ${describeValue(v)}.`,
          {
            hint: 'Allocate with device.alloc(dtype, n) and copy host data in with device.upload().',
          },
        );
      }
      v.assertLive(`${where}: '${p}'`);
      if (v.owner !== owner) {
        throw new TesseraError('InvalidValue', `${where}: '${p}' is ${v.describe()}, not memory of ${ownerLabel}.`, {
          hint: "A kernel can only use its own device's memory: copy the data over first (memcpyPeer or a collective).",
        });
      }
      const allowed = allowedDTypes(spec);
      if (allowed && !allowed.includes(v.dtype)) {
        throw new TesseraError(
          'InvalidValue',
          `${where}: '${p}' must hold ${allowed.join(' or ')}, but ${v.describe()} holds ${v.dtype}.`,
          {
            hint: `Convert the data (e.g. a cast kernel) or allocate the buffer as ${allowed[0]}.`,
          },
        );
      }
    } else if (spec.endsWith('[]')) {
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) {
        throw new TesseraError('InvalidValue', `${where}: '${p}' must be an array of finite numbers (${spec}).`);
      }
      if (spec === 'i32[]' && v.some((x) => !Number.isInteger(x))) {
        throw new TesseraError('InvalidValue', `${where}: '${p}' must hold integers (${spec}).`);
      }
    } else {
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new TesseraError(
          'InvalidValue',
          `${where}: '${p}' must be a finite number (${spec}), got ${describeValue(v)}.`,
        );
      }
      if ((spec === 'i32' || spec === 'u32' || spec === 'i64' || spec === 'constexpr') && !Number.isInteger(v)) {
        throw new TesseraError('InvalidValue', `${where}: '${p}' must be an integer (${spec}), got ${v}.`);
      }
      if (spec === 'i32' && (v < -(2 ** 31) || v >= 2 ** 31)) {
        throw new TesseraError('InvalidValue', `${where}: '${p}' = ${v} does not fit in int32.`);
      }
      if (spec === 'i64' && !Number.isSafeInteger(v)) {
        throw new TesseraError(
          'InvalidValue',
          `${where}: '${p}' = ${v} is beyond 2⁵³, where JS numbers stop being exact.`,
        );
      }
      if (spec === 'u32' && (v < 0 || v >= 2 ** 32)) {
        throw new TesseraError('InvalidValue', `${where}: '${p}' = ${v} does not fit in uint32.`);
      }
    }
  }
}

export type { DType };
