/**
 * What the pieces of the SIMT → WGSL lowering share (simt.ts drives; simt-scalar.ts, simt-memory.ts and simt-warp.ts
 * emit ops through this interface): scalar kinds and their WGSL types, conversions between them with JavaScript's
 * meaning, literals, and refusals.
 */
import type { DType } from '../../dtype/dtype';
import { TesseraError } from '../../errors';
import type { KernelIR, Value } from '../ir';
import type { WgslFaultSite } from './abi';

/** IR scalar kinds; on the GPU `int` is i32, `float` is f32, `bool` is bool. */
export type Kind = 'int' | 'float' | 'bool';

export const WGSL_TYPE: Record<Kind, string> = { int: 'i32', float: 'f32', bool: 'bool' };

/** The emitter as the op lowerings see it. */
export interface SimtEmitter {
  readonly ir: KernelIR;
  /** Appends a statement at the current indentation. */
  emit(line: string): undefined;
  /** `let <name(v)> = expr;` */
  define(v: Value, expr: string): undefined;
  /** The WGSL expression of `v` converted to `k`. */
  as(v: Value, k: Kind): string;
  kind(v: Value): Kind;
  /** The WGSL name of an SSA value. */
  name(v: Value): string;
  /** A fresh identifier starting with `prefix`. */
  temp(prefix: string): string;
  /** Runs `fn` one indentation level deeper. */
  nested(fn: () => void): void;
  /** Registers a fault site; returns its index (stored in `fault[1]`). */
  site(s: WgslFaultSite): number;
  /** The WGSL statement recording a fault at `site` for element `index` (an i32 expression), by this thread. */
  fault(site: number, index: string): string;
  /** Marks a dtype whose conversion functions (`tsr_*`, dtypes.ts) the code calls. */
  use(d: DType | 'bool'): void;
}

export function refuse(ir: KernelIR, what: string, hint?: string): never {
  throw new TesseraError('Unsupported', `WGSL lowering of kernel '${ir.name}': ${what}.`, {
    kernel: ir.name,
    ...(hint ? { hint } : {}),
  });
}

/** WGSL for a scalar literal of kind `k` (NaN and ±inf through `tsr_f32_bits`: constant NaN / inf are WGSL errors). */
export function literal(v: number | boolean, k: Kind, ir: KernelIR): string {
  if (k === 'bool') return v ? 'true' : 'false';
  const x = Number(v);
  if (k === 'int') {
    if (!Number.isInteger(x) || x < -2147483648 || x > 2147483647)
      refuse(ir, `the integer constant ${x} is not an i32`);
    return x === -2147483648 ? 'bitcast<i32>(0x80000000u)' : `${x}i`;
  }
  if (Number.isNaN(x)) return 'tsr_f32_bits(0x7fc00000u)';
  if (!Number.isFinite(x)) return x > 0 ? 'tsr_f32_bits(0x7f800000u)' : 'tsr_f32_bits(0xff800000u)';
  const f = Math.fround(x);
  if (!Number.isFinite(f)) return f > 0 ? 'tsr_f32_bits(0x7f800000u)' : 'tsr_f32_bits(0xff800000u)';
  if (Object.is(f, -0)) return '-0.0f';
  if (f !== 0 && Math.abs(f) < 1.1754943508222875e-38)
    return `tsr_f32_bits(${new Uint32Array(new Float32Array([f]).buffer)[0]}u)`;
  return `${f}f`;
}

/** Converts a WGSL expression between scalar kinds, with JavaScript's truthiness for → bool. */
export function convert(e: string, from: Kind, to: Kind): string {
  if (from === to) return e;
  // float → bool: neither ±0 nor NaN (the magnitude's bits are in 1..0x7f800000).
  if (to === 'bool') return from === 'int' ? `(${e} != 0i)` : `((bitcast<u32>(${e}) & 0x7fffffffu) - 1u < 0x7f800000u)`;
  if (from === 'bool') return to === 'int' ? `select(0i, 1i, ${e})` : `select(0.0f, 1.0f, ${e})`;
  // float → int: the IR only converts values it knows to be integral; i32() truncates and saturates.
  return to === 'int' ? `i32(${e})` : `f32(${e})`;
}

/** The source snippet of an op, for messages. */
export function snippetOf(op: { loc?: { snippet: string } }): string {
  return op.loc ? ` (\`${op.loc.snippet}\`)` : '';
}
