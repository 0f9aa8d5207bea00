/**
 * What the pieces of the SIMT → WGSL lowering share (simt.ts drives; simt-memory.ts and simt-warp.ts
 * emit ops through this interface) and refusals. Scalar kinds, their WGSL types, literals, conversions and the scalar
 * ops themselves are scalar.ts's, shared with the tile lowering.
 */
import type { DType } from '../../dtype/dtype';
import { TesseraError } from '../../errors';
import type { KernelIR, Value } from '../ir';
import type { WgslFaultSite } from './abi';
import type { Kind } from './scalar';

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

/** The source snippet of an op, for messages. */
export function snippetOf(op: { loc?: { snippet: string } }): string {
  return op.loc ? ` (\`${op.loc.snippet}\`)` : '';
}
