/**
 * The analysis behind the WGSL lowering of tile kernels (tile.ts): how each tile value is represented, and when it
 * dies.
 *
 * A program is one workgroup of W invocations. A tile value is one of:
 *   - lazy: an elementwise op (binary, unary, where, cast, full, arange, reshape, broadcast, permute) recomputed
 *     wherever an element is read, so chains of them fuse into their consumer's loop;
 *   - private: materialized in per-invocation arrays, element e held by invocation e % W at slot ⌊e / W⌋ (only
 *     readable by its owner: every read of the value, through the lazy ops on top of it, is at the same flat index);
 *   - shared: materialized in workgroup memory (or the per-program scratch binding), readable by every invocation.
 * Loads, atomics, dots, reductions, scans, sorts and loop-carried / branch-merged values are materialized; lazy ops
 * that are large, or recomputed inside a loop, or read many times (dot operands, sort and scan inputs) are too.
 */

import { sizeOf } from '../../kernel/shape';
import { type KernelIR, laneShape, type Op, type Region, type Value } from '../ir';

export const LAZY_OPS: ReadonlySet<string> = new Set([
  'tile.arange',
  'tile.full',
  'tile.binary',
  'tile.unary',
  'tile.where',
  'tile.cast',
  'tile.reshape',
  'tile.broadcast',
  'tile.permute',
]);

/** Ops that only re-index their operand (plus casts): cheap to recompute at every read. */
const CHEAP_OPS: ReadonlySet<string> = new Set([
  'tile.arange',
  'tile.full',
  'tile.reshape',
  'tile.broadcast',
  'tile.permute',
  'tile.cast',
]);

export function shapeOf(v: Value): readonly number[] {
  return v.type.kind === 'tile' ? v.type.shape : [];
}

export function isTileValue(v: Value): boolean {
  return v.type.kind === 'tile';
}

/** Whether a permutation moves no element (only size-1 axes change places). */
export function permuteIsIdentity(shape: readonly number[], perm: readonly number[]): boolean {
  const moved = perm.filter((p) => shape[p]! > 1);
  return moved.every((p, i) => i === 0 || p > moved[i - 1]!);
}

/**
 * How `op` reads tile operand `i`: `id` when element e of the operand is read only while producing element e of the
 * op's own lanes (same flat index), `any` otherwise.
 */
export function operandRead(op: Op, i: number): 'id' | 'any' {
  const v = op.operands[i]!;
  if (v.type.kind !== 'tile') return 'id';
  const n = sizeOf(v.type.shape);
  const same = (shape: readonly number[]) => (sizeOf(shape) === n ? 'id' : 'any');
  switch (op.opcode) {
    case 'tile.binary':
    case 'tile.where':
    case 'tile.broadcast':
    case 'mem.load':
    case 'mem.atomic':
      return same(shapeOf(op.result));
    case 'tile.unary':
    case 'tile.cast':
    case 'tile.reshape':
    case 'mem.store_block':
    case 'scf.yield':
    case 'scf.condition':
    case 'scf.for':
    case 'scf.while':
      return 'id';
    case 'tile.permute':
      return permuteIsIdentity(v.type.shape, op.attrs.perm as number[]) ? 'id' : 'any';
    case 'mem.store':
      return same(laneShape(op));
    case 'tile.dot':
      return i === 2 ? 'id' : 'any';
    default:
      return 'any';
  }
}

export interface Use {
  op: Op;
  index: number;
}

export interface TilePlan {
  /** Tile values computed on demand. */
  lazy: Set<Value>;
  /** Materialized tile values (and carried groups) that need shared storage; the others are private. */
  shared: Set<Value>;
  uses: Map<Value, Use[]>;
  /** The op (in the value's defining region) after which the value is dead; absent: dead at its definition. */
  lastUse: Map<Value, Op>;
  /** Position of every op in its region. */
  position: Map<Op, number>;
  /** The region that defines each value (an op's results: the op's region; region arguments: that region). */
  defRegion: Map<Value, Region>;
  /** Each op's enclosing op (null at the kernel's top level). */
  parentOp: Map<Op, Op | null>;
  regionOf: Map<Op, Region>;
  /** Largest tile (elements) of the kernel. */
  maxTile: number;
}

/** Values that must share one storage: loop-carried values with their results, a branch's results. */
export function carryGroups(op: Op): Value[][] {
  switch (op.opcode) {
    case 'scf.for':
      return op.results.map((r, i) => [r, op.regions[0]!.args[i + 1]!]);
    case 'scf.if':
      return op.results.map((r) => [r]);
    case 'scf.while': {
      const [before, after] = op.regions as [Region, Region];
      return [...before.args.map((a) => [a]), ...op.results.map((r, i) => [r, after.args[i]!])];
    }
    default:
      return [];
  }
}

export function planTile(ir: KernelIR): TilePlan {
  const uses = new Map<Value, Use[]>();
  const position = new Map<Op, number>();
  const defRegion = new Map<Value, Region>();
  const parentOp = new Map<Op, Op | null>();
  const regionOf = new Map<Op, Region>();
  let maxTile = 1;
  const visit = (r: Region, parent: Op | null) => {
    for (const a of r.args) defRegion.set(a, r);
    r.ops.forEach((op, i) => {
      position.set(op, i);
      parentOp.set(op, parent);
      regionOf.set(op, r);
      op.operands.forEach((v, index) => {
        let l = uses.get(v);
        if (!l) uses.set(v, (l = []));
        l.push({ op, index });
      });
      for (const res of op.results) {
        defRegion.set(res, r);
        if (res.type.kind === 'tile') maxTile = Math.max(maxTile, sizeOf(res.type.shape));
      }
      if (op.opcode === 'mem.store') maxTile = Math.max(maxTile, sizeOf(laneShape(op)));
      for (const sub of op.regions) visit(sub, op);
    });
  };
  visit(ir.body, null);

  /** Whether `use` sits inside a loop that does not contain the definition region `def`. */
  const inDeeperLoop = (use: Op, def: Region): boolean => {
    let op: Op | null = use;
    while (op && regionOf.get(op) !== def) {
      const p: Op | null = parentOp.get(op) ?? null;
      if (p && (p.opcode === 'scf.for' || p.opcode === 'scf.while')) return true;
      op = p;
    }
    return false;
  };

  // Lazy or materialized, in program order (operands first).
  const lazy = new Set<Value>();
  const treeSize = new Map<Value, number>();
  const cheap = new Map<Value, boolean>();
  const decide = (r: Region) => {
    for (const op of r.ops) {
      for (const sub of op.regions) decide(sub);
      if (!LAZY_OPS.has(op.opcode)) continue;
      const v = op.result;
      let size = 1;
      let isCheap = CHEAP_OPS.has(op.opcode);
      for (const o of op.operands) {
        if (!lazy.has(o)) continue;
        size += treeSize.get(o)!;
        isCheap &&= cheap.get(o)!;
      }
      const us = uses.get(v) ?? [];
      const def = defRegion.get(v)!;
      let materialize = size > 24;
      for (const u of us) {
        if (materialize) break;
        const reread =
          (u.op.opcode === 'tile.dot' && u.index < 2) || u.op.opcode === 'tile.sort' || u.op.opcode === 'tile.cumsum';
        if (reread && !isCheap) materialize = true;
        else if (size > 2 && !isCheap && inDeeperLoop(u.op, def)) materialize = true;
      }
      if (!materialize) {
        lazy.add(v);
        treeSize.set(v, size);
        cheap.set(v, isCheap);
      }
    }
  };
  decide(ir.body);

  // Shared or private: a materialized value read at another index than its own, directly or through lazy ops.
  const memo = new Map<Value, boolean>();
  const readsAny = (v: Value): boolean => {
    const m = memo.get(v);
    if (m !== undefined) return m;
    memo.set(v, false);
    let any = false;
    for (const u of uses.get(v) ?? []) {
      if (operandRead(u.op, u.index) === 'any') any = true;
      else if (LAZY_OPS.has(u.op.opcode) && lazy.has(u.op.result) && readsAny(u.op.result)) any = true;
      if (any) break;
    }
    memo.set(v, any);
    return any;
  };
  const shared = new Set<Value>();
  const mark = (r: Region) => {
    for (const op of r.ops) {
      for (const sub of op.regions) mark(sub);
      for (const g of carryGroups(op)) {
        if (g[0]!.type.kind === 'tile' && g.some(readsAny)) for (const v of g) shared.add(v);
      }
      for (const v of op.results) {
        if (v.type.kind !== 'tile' || lazy.has(v)) continue;
        // Scans and sorts scatter along their axis: always shared.
        if (op.opcode === 'tile.cumsum' || op.opcode === 'tile.sort' || readsAny(v)) shared.add(v);
      }
    }
  };
  mark(ir.body);

  // Liveness: a use inside nested regions counts at the enclosing op of the defining region; a use of a lazy value
  // is a use of everything it reads.
  const lastUse = new Map<Value, Op>();
  const ancestorIn = (op: Op, r: Region): Op | null => {
    let o: Op | null = op;
    while (o && regionOf.get(o) !== r) o = parentOp.get(o) ?? null;
    return o;
  };
  const touch = (v: Value, at: Op, seen: Set<Value>) => {
    if (seen.has(v)) return;
    seen.add(v);
    const r = defRegion.get(v);
    if (r) {
      const anc = ancestorIn(at, r);
      if (anc) {
        const cur = lastUse.get(v);
        if (!cur || position.get(cur)! < position.get(anc)!) lastUse.set(v, anc);
      }
    }
    if (lazy.has(v)) for (const o of v.def!.operands) touch(o, at, seen);
  };
  const live = (r: Region) => {
    for (const op of r.ops) {
      const seen = new Set<Value>();
      for (const v of op.operands) touch(v, op, seen);
      for (const sub of op.regions) live(sub);
    }
  };
  live(ir.body);

  return { lazy, shared, uses, lastUse, position, defRegion, parentOp, regionOf, maxTile };
}
