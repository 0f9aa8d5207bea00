/**
 * Planning for the CPU back end: which tile values are fused into their consumers (computed inside another op's loop
 * nest, never stored) and which are materialised in a typed array; how fused values are indexed from a loop nest
 * (contexts); which reductions ride along in the nest of their operand. Slots (the typed arrays materialised values
 * live in) are assigned by the generator (codegen.ts) from this plan.
 *
 * Fusion rules (a value is fused only when every rule holds):
 * - it is elementwise (binary, unary, where, cast, broadcast, reshape, full, arange, permute of a materialised tile),
 *   a gather (`mem.load`) or a block load, and every consumer can take a fused operand (elementwise ops, reductions,
 *   the offsets / mask / value of gathers, scatters and atomics, the value of a block store; a permute takes a block
 *   load, read transposed);
 * - its consumers are in its region (constants and aranges may also be fused into nested regions);
 * - an expensive value (special functions, divisions, 16-bit float rounding, gathers) is computed once per element:
 *   it is reached from one loop nest, in one indexing context, and depends on a prefix of the nest's loops (a (R, 1)
 *   value in an (R, C) nest is computed once per row; a (1, C) one would be recomputed per row, so it is stored);
 *   a block load is re-read by every nest that needs it (as cheap as reading a stored copy, and no copy pass);
 * - a memory read (gather, block load) sits in its consumer's region with nothing between them that writes memory or
 *   can fault, so values and faults keep their program order; into a consumer that writes memory (scatter, atomic,
 *   block store) only behind a per-launch check that the buffers do not overlap (`guards`; the generated code keeps
 *   a materialising fallback), and never a gather into a block store (which skips out-of-view lanes).
 * Gathers fused together (or into a scatter) cannot raise their faults in program order as they go: the nest then
 * only flags a bad lane, and a replay checks each gather's lanes in program order and throws the first fault.
 */
import type { TileDType } from '../../dtype/dtype';
import { sizeOf, stridesOf } from '../../kernel/shape';
import { isPure } from '../builder';
import { laneShape, type Op, type Region, type Value } from '../ir';

export const ELEMENTWISE = new Set([
  'tile.binary',
  'tile.unary',
  'tile.where',
  'tile.cast',
  'tile.broadcast',
  'tile.reshape',
  'tile.full',
  'tile.arange',
  'tile.permute',
  'mem.load',
]);

/** Ops that may be computed inside a consumer's loop nest: the elementwise ones and block loads. */
export const FUSIBLE = new Set([...ELEMENTWISE, 'mem.load_block']);

const EXPENSIVE_UNARY = new Set([
  'exp',
  'exp2',
  'log',
  'log2',
  'sqrt',
  'rsqrt',
  'sin',
  'cos',
  'tanh',
  'sigmoid',
  'erf',
  'round',
]);
const EXPENSIVE_BINARY = new Set(['div', 'idiv', 'rem']);

export function tileShape(v: Value): readonly number[] {
  return (v.type as { shape: readonly number[] }).shape;
}

export function tileDType(v: Value): TileDType {
  return (v.type as { dtype: TileDType }).dtype;
}

export function isTileValue(v: Value): boolean {
  return v.type.kind === 'tile';
}

/** Values whose computation costs enough that computing them twice per element is not acceptable. */
export function expensive(op: Op): boolean {
  const rd = isTileValue(op.result) ? tileDType(op.result) : null;
  switch (op.opcode) {
    case 'mem.load':
      return true;
    case 'tile.unary':
      return EXPENSIVE_UNARY.has(op.attrs.op as string) || rd === 'f16' || rd === 'bf16';
    case 'tile.binary':
      return EXPENSIVE_BINARY.has(op.attrs.op as string) || rd === 'f16' || rd === 'bf16';
    case 'tile.cast':
      return rd === 'f16' || rd === 'bf16' || rd === 'fp8e4m3' || rd === 'fp8e5m2';
    default:
      return false;
  }
}

/** Ops that write memory or can fault: a fused gather may not move across them. */
function barrier(op: Op, inline: ReadonlySet<Op>): boolean {
  switch (op.opcode) {
    case 'mem.store':
    case 'mem.atomic':
    case 'mem.store_block':
    case 'mem.view':
    case 'trap':
      return true;
    case 'mem.load':
      return !inline.has(op);
    default:
      if (op.regions.length === 0) return false;
      for (const r of op.regions) for (const o of r.ops) if (o.opcode === 'mem.load' || barrier(o, inline)) return true;
      return false;
  }
}

/**
 * How a loop nest indexes a fused value: `axes[i]` is the loop dimension that axis i of the value follows (−1: the
 * axis is fixed at 0, a broadcast or a size-1 axis), or, under a reshape that is not just size-1 axes, `flat[d]` is
 * the coefficient of loop dimension d in the value's flat index.
 */
export type Ctx = { axes: readonly number[]; flat?: undefined } | { flat: readonly number[]; axes?: undefined };

export function ctxKey(c: Ctx): string {
  return c.axes ? `a${c.axes.join(',')}` : `f${c.flat!.join(',')}`;
}

/** The coefficients, per loop dimension, of a value's flat index. */
export function flatCoef(shape: readonly number[], ctx: Ctx, dims: number): number[] {
  if (ctx.flat) return [...ctx.flat];
  const out = new Array<number>(dims).fill(0);
  const st = stridesOf(shape);
  ctx.axes!.forEach((d, i) => {
    if (d >= 0 && shape[i]! > 1) out[d]! += st[i]!;
  });
  return out;
}

/** Identity context of a nest over `shape` (axis i follows loop i). */
export function identity(rank: number): Ctx {
  return { axes: Array.from({ length: rank }, (_, i) => i) };
}

/**
 * The context of operand `u` of `n` (in context `ctx`), or null when `n` cannot be fused in that context (a
 * broadcasting op under a flat index).
 */
export function childCtx(n: Op, ctx: Ctx, u: Value, dims: number): Ctx | null {
  const ns = tileShape(n.result);
  const us = tileShape(u);
  switch (n.opcode) {
    case 'tile.reshape': {
      if (ctx.flat) return ctx;
      // Only size-1 axes inserted or removed: the other axes keep following their loops.
      const nAxes = ns.map((d, i) => [d, i] as const).filter(([d]) => d !== 1);
      const uAxes = us.map((d, i) => [d, i] as const).filter(([d]) => d !== 1);
      if (nAxes.length === uAxes.length && nAxes.every(([d], k) => d === uAxes[k]![0])) {
        const axes = new Array<number>(us.length).fill(-1);
        uAxes.forEach(([, ui], k) => {
          axes[ui] = ctx.axes![nAxes[k]![1]]!;
        });
        return { axes };
      }
      return { flat: flatCoef(ns, ctx, dims) };
    }
    case 'tile.permute': {
      if (ctx.flat) return null;
      const perm = n.attrs.perm as readonly number[];
      const axes = new Array<number>(us.length).fill(-1);
      perm.forEach((p, i) => {
        axes[p] = us[p] === 1 ? -1 : ctx.axes![i]!;
      });
      return { axes };
    }
    default: {
      // Elementwise (and broadcast): operands right-aligned; size-1 axes fixed at 0.
      if (ctx.flat) {
        if (sizeOf(us) === sizeOf(ns)) return ctx;
        if (sizeOf(us) === 1) return { axes: us.map(() => -1) };
        return null;
      }
      const off = ns.length - us.length;
      return { axes: us.map((d, j) => (d === 1 ? -1 : ctx.axes![j + off]!)) };
    }
  }
}

/** A loop nest that consumes fused values: its loop dimensions, and the context of each consumed operand. */
export interface RootShape {
  /** Extent of each loop dimension, outer to inner. */
  dims: number[];
  /** True when fused values are visited in their own row-major order (so a single gather's faults stay ordered). */
  rowMajor: boolean;
  /** Operands read through the nest, with their contexts. */
  operands: { value: Value; ctx: Ctx }[];
  /** True if the nest writes memory (no gather may be fused into it). */
  sideEffects: boolean;
}

/** The loop nest of a root op (null: the op reads no fused operands). */
export function rootShape(op: Op, materialised: boolean): RootShape | null {
  const tileOps = (vs: readonly Value[]) => vs.filter(isTileValue);
  if (materialised && ELEMENTWISE.has(op.opcode)) {
    const shape = tileShape(op.result);
    // The op itself is computed in its own identity context; its operands follow from there (see `operandsOf`).
    return {
      dims: [...shape],
      rowMajor: true,
      operands: [{ value: op.result, ctx: identity(shape.length) }],
      sideEffects: false,
    };
  }
  switch (op.opcode) {
    case 'tile.reduce': {
      const x = op.operands[0]!;
      const shape = tileShape(x);
      const axis = op.attrs.axis as number | null;
      if (axis === null)
        return {
          dims: [...shape],
          rowMajor: true,
          operands: [{ value: x, ctx: identity(shape.length) }],
          sideEffects: false,
        };
      const order = [...shape.keys()].filter((i) => i !== axis).concat([axis]);
      const axes = new Array<number>(shape.length);
      order.forEach((ax, d) => {
        axes[ax] = d;
      });
      return {
        dims: order.map((i) => shape[i]!),
        rowMajor: axis === shape.length - 1 || shape.slice(axis + 1).every((d) => d === 1),
        operands: [{ value: x, ctx: { axes } }],
        sideEffects: false,
      };
    }
    case 'mem.store':
    case 'mem.atomic': {
      const shape = laneShape(op);
      const vs = tileOps(op.operands.slice(1));
      return {
        dims: [...shape],
        rowMajor: true,
        operands: vs.map((v) => ({ value: v, ctx: alignedCtx(tileShape(v), shape) })),
        sideEffects: true,
      };
    }
    case 'mem.store_block': {
      const v = op.operands[op.operands.length - 1]!;
      const shape = tileShape(v);
      return {
        dims: [...shape],
        rowMajor: true,
        operands: [{ value: v, ctx: identity(shape.length) }],
        sideEffects: true,
      };
    }
    default:
      return null;
  }
}

/** The context of a value of shape `s` right-aligned into a nest over `shape`. */
export function alignedCtx(s: readonly number[], shape: readonly number[]): Ctx {
  const off = shape.length - s.length;
  return { axes: s.map((d, j) => (d === 1 ? -1 : j + off)) };
}

/** Tile operands of a fused op that are read through the nest (the offsets and mask of a gather; not scalars). */
export function fusedOperands(op: Op): Value[] {
  switch (op.opcode) {
    case 'tile.full':
    case 'tile.arange':
    case 'mem.load_block':
      return [];
    case 'mem.load':
      return op.operands.slice(1).filter(isTileValue);
    default:
      return op.operands.filter(isTileValue);
  }
}

/** Whether consumer `u` can read operand number `i` fused. */
function acceptsFused(u: Op, i: number): boolean {
  switch (u.opcode) {
    case 'tile.binary':
    case 'tile.unary':
    case 'tile.where':
    case 'tile.cast':
    case 'tile.broadcast':
    case 'tile.reshape':
    case 'tile.reduce':
      return true;
    case 'mem.load':
    case 'mem.store':
    case 'mem.atomic':
      return i >= 1;
    case 'mem.store_block':
      return i === u.operands.length - 1;
    default:
      return false;
  }
}

export interface OpInfo {
  pos: number;
  /** Position after the op's last nested op. */
  end: number;
  region: Region;
  index: number;
  parent: Op | null;
}

/** The analysis of one kernel body. */
export class Plan {
  readonly info = new Map<Op, OpInfo>();
  readonly regionParent = new Map<Region, Op | null>();
  /** Direct uses of each value: (op, operand index). */
  readonly uses = new Map<Value, { op: Op; index: number }[]>();
  /** Elementwise ops computed inside their consumers' loop nests. */
  readonly inline = new Set<Op>();
  /** Ops whose result is never used and that can be dropped. */
  readonly dead = new Set<Op>();
  /** Root of each fused op: the op whose loop nest computes it (the last one, for ops several nests recompute). */
  readonly rootOf = new Map<Op, Op>();
  /** The fused ops each root's nest computes. */
  readonly nodesOf = new Map<Op, Set<Op>>();
  /**
   * Roots that write memory and read memory through fused loads: their fused loop runs only when the buffers read
   * cannot overlap the one written (checked per launch); otherwise the loads are materialised first.
   */
  readonly guards = new Map<Op, Op[]>();
  private counter = 0;

  constructor(readonly body: Region) {
    this.number(body, null);
    this.decide();
  }

  private number(r: Region, parent: Op | null): void {
    this.regionParent.set(r, parent);
    r.ops.forEach((op, index) => {
      const pos = this.counter++;
      op.operands.forEach((v, i) => {
        let l = this.uses.get(v);
        if (!l) this.uses.set(v, (l = []));
        l.push({ op, index: i });
      });
      for (const sub of op.regions) this.number(sub, op);
      this.info.set(op, { pos, end: this.counter - 1, region: r, index, parent });
    });
  }

  /** The region a value is defined in (region arguments: their region). */
  regionOfValue(v: Value, argRegions: Map<Value, Region>): Region | undefined {
    return v.def ? this.info.get(v.def)?.region : argRegions.get(v);
  }

  /** Drops pure ops whose results nothing live uses (gathers stay: their bounds checks can fault). */
  private deadCode(): void {
    const live = (v: Value): boolean => (this.uses.get(v) ?? []).some((u) => !this.dead.has(u.op));
    const walk = (r: Region) => {
      for (let i = r.ops.length - 1; i >= 0; i--) {
        const op = r.ops[i]!;
        for (const sub of op.regions) walk(sub);
        if (op.regions.length || !isPure(op.opcode) || op.opcode === 'mem.load') continue;
        if (op.results.length && !op.results.some(live)) this.dead.add(op);
      }
    };
    walk(this.body);
  }

  private decide(): void {
    this.deadCode();
    // Initial candidates.
    const candidates: Op[] = [];
    const walk = (r: Region) => {
      for (const op of r.ops) {
        if (FUSIBLE.has(op.opcode) && op.results.length === 1 && isTileValue(op.result)) candidates.push(op);
        for (const sub of op.regions) walk(sub);
      }
    };
    walk(this.body);
    for (const op of candidates) {
      if (this.dead.has(op)) continue;
      const uses = (this.uses.get(op.result) ?? []).filter((u) => !this.dead.has(u.op));
      if (uses.length === 0) continue;
      const region = this.info.get(op)!.region;
      const free = op.opcode === 'tile.full' || op.opcode === 'tile.arange';
      // Block loads are re-read by each nest that needs them (as cheap as reading a stored copy).
      let ok = true;
      for (const u of uses) {
        // A permute reads a materialised tile — or a block load, read transposed in the permute's own pass.
        const permuted = op.opcode === 'mem.load_block' && u.op.opcode === 'tile.permute';
        if (!acceptsFused(u.op, u.index) && !permuted) ok = false;
        else if (this.info.get(u.op)!.region !== region && !free) ok = false;
      }
      if (op.opcode === 'mem.load' && uses.length !== 1) ok = false;
      if (op.opcode === 'mem.load_block' && uses.some((u) => this.info.get(u.op)!.region !== region)) ok = false;
      if (ok) this.inline.add(op);
    }
    // Refine until stable: contexts, computed-once and gather rules.
    for (let round = 0; round < 100; round++) if (!this.refine()) break;
  }

  /** Roots: every op that is not fused and reads fused operands through a loop nest. */
  roots(): Op[] {
    const out: Op[] = [];
    const walk = (r: Region) => {
      for (const op of r.ops) {
        if (!this.inline.has(op) && !this.dead.has(op) && rootShape(op, ELEMENTWISE.has(op.opcode))) out.push(op);
        for (const sub of op.regions) walk(sub);
      }
    };
    walk(this.body);
    return out;
  }

  /** One pass of the fusion rules; returns true if a fused op had to be materialised. */
  private refine(): boolean {
    const reached = new Map<Op, Set<string>>();
    const changed = new Set<Op>();
    this.rootOf.clear();
    this.nodesOf.clear();
    this.guards.clear();
    const readsOf = new Map<Op, Op[]>();
    for (const root of this.roots()) {
      const rs = rootShape(root, ELEMENTWISE.has(root.opcode))!;
      const visit = (v: Value, ctx: Ctx, top: boolean) => {
        const n = v.def;
        if (!n || (!top && !this.inline.has(n))) return;
        if (!top) {
          let s = reached.get(n);
          if (!s) reached.set(n, (s = new Set()));
          s.add(`${this.info.get(root)!.pos}:${ctxKey(ctx)}`);
          this.rootOf.set(n, root);
          let ns = this.nodesOf.get(root);
          if (!ns) this.nodesOf.set(root, (ns = new Set()));
          ns.add(n);
          if (n.opcode === 'mem.load' || n.opcode === 'mem.load_block') {
            let g = readsOf.get(root);
            if (!g) readsOf.set(root, (g = []));
            if (!g.includes(n)) g.push(n);
          }
          if (n.opcode === 'mem.load_block' && ctx.flat) changed.add(n);
          if (expensive(n) && !prefix(flatCoef(tileShape(n.result), ctx, rs.dims.length), rs.dims)) changed.add(n);
        }
        for (const u of fusedOperands(n)) {
          const c = childCtx(n, ctx, u, rs.dims.length);
          if (c === null) {
            if (!top) changed.add(n);
            else if (u.def && this.inline.has(u.def)) changed.add(u.def);
            continue;
          }
          visit(u, c, false);
        }
      };
      for (const { value, ctx } of rs.operands) visit(value, ctx, value === root.result && root.results.length > 0);
    }
    for (const [n, keys] of reached) if (keys.size > 1 && expensive(n)) changed.add(n);
    // Memory reads: in their root's region, with nothing between that writes memory or faults; into a root that
    // writes memory only behind a no-overlap guard (and gathers never into a block store, which skips lanes).
    for (const [root, reads] of readsOf) {
      const rs = rootShape(root, ELEMENTWISE.has(root.opcode))!;
      for (const g of reads) {
        const gi = this.info.get(g)!;
        const ri = this.info.get(root)!;
        if (
          gi.region !== ri.region ||
          (rs.sideEffects && g.opcode === 'mem.load' && root.opcode === 'mem.store_block')
        ) {
          changed.add(g);
          continue;
        }
        let ok = true;
        for (let i = gi.index + 1; i < ri.index && ok; i++) {
          const between = gi.region.ops[i]!;
          if (this.inline.has(between) && this.nodesOf.get(root)?.has(between)) continue;
          if (barrier(between, this.inline)) ok = false;
        }
        if (!ok) changed.add(g);
        else if (rs.sideEffects) {
          let l = this.guards.get(root);
          if (!l) this.guards.set(root, (l = []));
          l.push(g);
        }
      }
    }
    for (const n of changed) this.inline.delete(n);
    return changed.size > 0;
  }

  /**
   * Reductions computed inside the loop nest that materialises their operand (a second output of that nest): the
   * operand is an elementwise value stored for other uses too, reduced over its last axis (or whole), and the
   * reduction is the next thing after it in the region that reads it.
   */
  fusedReductions(): Map<Op, Op> {
    const out = new Map<Op, Op>();
    const walk = (r: Region) => {
      r.ops.forEach((op, i) => {
        for (const sub of op.regions) walk(sub);
        if (op.opcode !== 'tile.reduce' || this.dead.has(op)) return;
        const x = op.operands[0]!;
        const e = x.def;
        if (!e || this.inline.has(e) || this.dead.has(e) || !ELEMENTWISE.has(e.opcode) || e.opcode === 'mem.load')
          return;
        if (e.opcode === 'tile.reshape' || e.opcode === 'tile.full' || this.info.get(e)!.region !== r || out.has(e))
          return;
        const shape = tileShape(x);
        const axis = op.attrs.axis as number | null;
        if (axis !== null && !shape.slice(axis + 1).every((d) => d === 1)) return;
        // Nothing between writes memory or reads the reduction's own slot before it exists: only pure scalar and
        // tile ops that do not use the reduction (it is defined later) may sit between.
        for (let j = this.info.get(e)!.index + 1; j < i; j++) {
          const b = r.ops[j]!;
          if (b.regions.length || !isPure(b.opcode)) return;
        }
        out.set(e, op);
      });
    };
    walk(this.body);
    return out;
  }

  /** Fused gathers of a root, in program order. */
  gathersOf(root: Op): Op[] {
    const out: Op[] = [];
    for (const [n, r] of this.rootOf) if (r === root && n.opcode === 'mem.load' && this.inline.has(n)) out.push(n);
    return out.sort((a, b) => this.info.get(a)!.pos - this.info.get(b)!.pos);
  }
}

/** True if the loop dimensions a value depends on are 0 … k for some k (ignoring size-1 loops). */
export function prefix(coef: readonly number[], dims: readonly number[]): boolean {
  let seenZero = false;
  for (let d = 0; d < coef.length; d++) {
    if (dims[d] === 1) continue;
    if (coef[d] === 0) seenZero = true;
    else if (seenZero) return false;
  }
  return true;
}
