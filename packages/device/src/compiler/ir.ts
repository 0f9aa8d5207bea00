/**
 * The Tessera kernel IR: typed SSA values, ops with attributes, and structured control flow (regions), in the style
 * of MLIR's `scf` dialect. A kernel specialisation — one kernel body with its constexprs, buffer dtypes and
 * divisibility hints fixed — becomes one `KernelIR`; program ids, thread ids and runtime scalars stay symbolic, and
 * loops whose bounds come from them stay loops. Everything downstream (cost analysis, CPU code generation, the IR
 * interpreter, and later WGSL) reads this and nothing else: the IR is the one place where a kernel's meaning lives.
 * The ops, types and invariants are written down in packages/device/docs/ir.md.
 */
import type { DType, TileDType } from '../dtype/dtype';

// ---------------------------------------------------------------------------------------------------------- types

/** Scalars follow JavaScript's number semantics (float64); `int` marks values known to be integral. */
export type ScalarKind = 'int' | 'float' | 'bool';

export type Type =
  | { readonly kind: 'scalar'; readonly s: ScalarKind }
  | { readonly kind: 'tile'; readonly dtype: TileDType; readonly shape: readonly number[] }
  | { readonly kind: 'buffer'; readonly dtype: DType }
  | { readonly kind: 'tensor'; readonly dtype: DType; readonly rank: number }
  | { readonly kind: 'array'; readonly elem: 'int' | 'float' }
  | { readonly kind: 'shared'; readonly dtype: SharedElem; readonly length: number };

/** Element dtypes of SIMT shared arrays (`u32` exists only here: a shared-memory counter or bitmask type). */
export type SharedElem = 'f32' | 'f16' | 'bf16' | 'i32' | 'u32' | 'i16' | 'i8' | 'u8';

export const SHARED_ELEMS: readonly SharedElem[] = ['f32', 'f16', 'bf16', 'i32', 'u32', 'i16', 'i8', 'u8'];

/** Bytes per element of a shared array. */
export function sharedElemBytes(d: SharedElem): number {
  return d === 'f32' || d === 'i32' || d === 'u32' ? 4 : d === 'i8' || d === 'u8' ? 1 : 2;
}

/**
 * SIMT ops that exchange values between the lanes of a warp (and `simt.syncwarp`): each is a warp-scoped
 * synchronisation point — every active lane's operands exist before any lane reads (see docs/ir.md).
 */
export const WARP_OPS: ReadonlySet<string> = new Set(['simt.shfl', 'simt.vote', 'simt.redux', 'simt.syncwarp']);

export const INT: Type = Object.freeze({ kind: 'scalar', s: 'int' });
export const FLOAT: Type = Object.freeze({ kind: 'scalar', s: 'float' });
export const BOOL: Type = Object.freeze({ kind: 'scalar', s: 'bool' });

export function tileType(dtype: TileDType, shape: readonly number[]): Type {
  return { kind: 'tile', dtype, shape: [...shape] };
}

export function isScalar(t: Type): t is { kind: 'scalar'; s: ScalarKind } {
  return t.kind === 'scalar';
}

export function isTile(t: Type): t is { kind: 'tile'; dtype: TileDType; shape: readonly number[] } {
  return t.kind === 'tile';
}

export function sameType(a: Type, b: Type): boolean {
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case 'scalar':
      return a.s === (b as typeof a).s;
    case 'tile': {
      const bt = b as typeof a;
      return a.dtype === bt.dtype && a.shape.length === bt.shape.length && a.shape.every((d, i) => d === bt.shape[i]);
    }
    case 'buffer':
      return a.dtype === (b as typeof a).dtype;
    case 'tensor':
      return a.dtype === (b as typeof a).dtype && a.rank === (b as typeof a).rank;
    case 'array':
      return a.elem === (b as typeof a).elem;
    case 'shared':
      return a.dtype === (b as typeof a).dtype && a.length === (b as typeof a).length;
  }
}

export function typeToString(t: Type): string {
  switch (t.kind) {
    case 'scalar':
      return t.s;
    case 'tile':
      return `${t.dtype}[${t.shape.join(',')}]`;
    case 'buffer':
      return `ptr<${t.dtype}>`;
    case 'tensor':
      return `tensor<${t.dtype}, ${t.rank}>`;
    case 'array':
      return `${t.elem}[]`;
    case 'shared':
      return `shared<${t.dtype}, ${t.length}>`;
  }
}

// ------------------------------------------------------------------------------------------- values, ops, regions

/** Where in the kernel's source an op came from (for errors and dumps). */
export interface SourceLoc {
  /** The source text of the expression or statement. */
  snippet: string;
  /** Line in the kernel's source file, when known. */
  line?: number;
  file?: string;
}

let nextValueId = 1;

export class Value {
  readonly id = nextValueId++;
  /** The op that defines it (null for region arguments and kernel parameters). */
  def: Op | null = null;
  constructor(
    readonly type: Type,
    /** A source-level name, for dumps only. */
    public hint?: string,
  ) {}
}

export type Attr = number | string | boolean | null | readonly number[] | readonly (number | null)[];

export class Region {
  readonly ops: Op[] = [];
  constructor(readonly args: Value[] = []) {}
}

export class Op {
  readonly results: Value[];
  constructor(
    readonly opcode: string,
    readonly operands: Value[],
    resultTypes: readonly Type[],
    readonly attrs: Readonly<Record<string, Attr>> = {},
    readonly regions: Region[] = [],
    public loc?: SourceLoc,
  ) {
    this.results = resultTypes.map((t) => new Value(t));
    for (const r of this.results) r.def = this;
  }

  get result(): Value {
    return this.results[0]!;
  }
}

/** A kernel parameter and the IR value it became (null for constexprs, which are folded away). */
export interface IRParam {
  name: string;
  spec: string;
  value: Value | null;
  /** The constexpr's value, when it is one. */
  constant?: number;
}

export interface KernelIR {
  name: string;
  style: 'tile' | 'simt';
  params: IRParam[];
  body: Region;
  /** SIMT: static shared arrays (values of type `shared`), by name. */
  shared: { name: string; value: Value }[];
  /** The specialisation this IR was compiled for (constexprs, dtypes, hints), as a readable key. */
  key: string;
  /** SIMT: the device's warp size the kernel was specialised for (lanes of `simt.shfl` and friends). */
  warpSize?: number;
}

// ---------------------------------------------------------------------------------------------------------- lanes

/**
 * The lanes of a memory op: a load's or atomic's are its result's shape; a store's (and a scatter's) are its offsets,
 * value and mask broadcast together (NumPy rules, right-aligned). Every executor of the IR uses this one rule.
 */
export function laneShape(op: Op): readonly number[] {
  if (op.opcode === 'mem.atomic' || op.opcode === 'mem.load') {
    return (op.result.type as { shape: readonly number[] }).shape;
  }
  let shape: readonly number[] = [];
  for (const v of op.operands.slice(1)) {
    if (v.type.kind !== 'tile') continue;
    const s = v.type.shape;
    const n = Math.max(shape.length, s.length);
    const out = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const da = shape[shape.length - n + i] ?? 1;
      const db = s[s.length - n + i] ?? 1;
      out[i] = da === 1 ? db : da;
    }
    shape = out;
  }
  return shape;
}

// -------------------------------------------------------------------------------------------------------- walking

/** Visits every op, depth first, in program order. */
export function walk(region: Region, fn: (op: Op, depth: number) => void, depth = 0): void {
  for (const op of region.ops) {
    fn(op, depth);
    for (const r of op.regions) walk(r, fn, depth + 1);
  }
}

// ------------------------------------------------------------------------------------------------------- printing

function attrText(v: Attr): string {
  if (Array.isArray(v)) return `[${v.join(', ')}]`;
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

export function valueName(v: Value): string {
  return `%${v.hint ? `${v.hint}.` : ''}${v.id}`;
}

/** The IR as text, MLIR-like: `%3 = tile.binary(%1, %2) {op = "add"} : f32[128,64]`. */
export function printIR(ir: KernelIR): string {
  const lines: string[] = [];
  const params = ir.params.map((p) =>
    p.value ? `${valueName(p.value)}: ${typeToString(p.value.type)}` : `${p.name} = ${p.constant} (constexpr)`,
  );
  lines.push(`kernel @${ir.name} (${ir.style}) specialised ${ir.key}`);
  lines.push(`  params ${params.join(', ')}`);
  for (const s of ir.shared) lines.push(`  shared ${s.name}: ${typeToString(s.value.type)} = ${valueName(s.value)}`);
  printRegion(ir.body, '  ', lines);
  return lines.join('\n');
}

function printRegion(r: Region, indent: string, lines: string[]): void {
  for (const op of r.ops) {
    const res = op.results.length ? `${op.results.map(valueName).join(', ')} = ` : '';
    const attrs = Object.entries(op.attrs)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k} = ${attrText(v)}`)
      .join(', ');
    const types = op.results.length ? ` : ${op.results.map((v) => typeToString(v.type)).join(', ')}` : '';
    const head = `${indent}${res}${op.opcode}(${op.operands.map(valueName).join(', ')})${attrs ? ` {${attrs}}` : ''}${types}`;
    if (op.regions.length === 0) {
      lines.push(head);
      continue;
    }
    lines.push(`${head} {`);
    op.regions.forEach((reg, i) => {
      if (i > 0) lines.push(`${indent}} {`);
      if (reg.args.length) {
        lines.push(`${indent}  ^(${reg.args.map((a) => `${valueName(a)}: ${typeToString(a.type)}`).join(', ')}):`);
      }
      printRegion(reg, `${indent}  `, lines);
    });
    lines.push(`${indent}}`);
  }
}
