/**
 * Canonicalisation: removes what staging leaves behind — pure ops whose results nobody uses (the condition a
 * compile-time loop tested before it turned out to be a runtime loop, say), `scf.if`s that only choose between
 * scalars (they become `s.select`), loop-carried values nobody reads, and double negations. Runs to a fixpoint.
 * SIMT: `simt.exit` marks (a thread's early return, which warp intrinsics must know of) are dropped from kernels
 * without warp intrinsics, where nothing reads them.
 */
import { isPure } from '../builder';
import { type KernelIR, Op, type Region, type Value, WARP_OPS, walk } from '../ir';

/** Removes `simt.exit` ops unless the kernel has warp intrinsics (only they care which lanes have exited). */
function dropUnusedExits(ir: KernelIR): void {
  let warp = false;
  let exits = false;
  walk(ir.body, (op) => {
    if (WARP_OPS.has(op.opcode)) warp = true;
    else if (op.opcode === 'simt.exit') exits = true;
  });
  if (warp || !exits) return;
  const strip = (r: Region): void => {
    for (let i = r.ops.length - 1; i >= 0; i--) {
      const op = r.ops[i]!;
      if (op.opcode === 'simt.exit') r.ops.splice(i, 1);
      else for (const reg of op.regions) strip(reg);
    }
  };
  strip(ir.body);
}

/** Replaces every use of `from` by `to` inside `region`. */
function replaceUses(region: Region, from: Value, to: Value): void {
  walk(region, (op) => {
    for (let i = 0; i < op.operands.length; i++) if (op.operands[i] === from) op.operands[i] = to;
  });
}

function useCounts(ir: KernelIR): Map<Value, number> {
  const uses = new Map<Value, number>();
  walk(ir.body, (op) => {
    for (const v of op.operands) uses.set(v, (uses.get(v) ?? 0) + 1);
  });
  return uses;
}

/** Pure scalar ops small enough to compute on both paths instead of branching. */
const CHEAP = new Set(['const', 's.binary', 's.unary', 's.select', 'arr.len', 'buf.len', 'prog.id', 'prog.num']);

function terminator(r: Region): Op | undefined {
  return r.ops[r.ops.length - 1];
}

/** `scf.if` with only cheap scalar ops and scalar results → the ops, then `s.select`s. */
function ifToSelect(region: Region, index: number, op: Op): boolean {
  if (op.results.some((r) => r.type.kind !== 'scalar')) return false;
  for (const r of op.regions) {
    const body = r.ops.slice(0, -1);
    if (body.length > 4 || body.some((o) => !CHEAP.has(o.opcode) || o.regions.length)) return false;
  }
  const [thenR, elseR] = op.regions as [Region, Region];
  const thenY = terminator(thenR)!;
  const elseY = terminator(elseR)!;
  const hoisted = [...thenR.ops.slice(0, -1), ...elseR.ops.slice(0, -1)];
  const selects: Op[] = [];
  op.results.forEach((res, i) => {
    const a = thenY.operands[i]!;
    const b = elseY.operands[i]!;
    const sel = new Op('s.select', [op.operands[0]!, a, b], [res.type]);
    selects.push(sel);
  });
  region.ops.splice(index, 1, ...hoisted, ...selects);
  op.results.forEach((res, i) => {
    const sel = selects[i]!;
    // Keep identity when both sides are the same value.
    const [, a, b] = sel.operands;
    const to = a === b ? a! : sel.result;
    replaceRegionUses(region, res, to);
  });
  return true;
}

let rootForReplace: Region | null = null;
function replaceRegionUses(_region: Region, from: Value, to: Value): void {
  if (rootForReplace) replaceUses(rootForReplace, from, to);
}

function simplifyRegion(region: Region, uses: Map<Value, number>): boolean {
  let changed = false;
  for (let i = 0; i < region.ops.length; i++) {
    const op = region.ops[i]!;
    for (const r of op.regions) if (simplifyRegion(r, uses)) changed = true;
    if (op.opcode === 'scf.if' && op.regions.length === 2 && ifToSelect(region, i, op)) {
      changed = true;
      continue;
    }
    // !!b for a bool b is b.
    if (op.opcode === 's.unary' && op.attrs.op === '!') {
      const inner = op.operands[0]!.def;
      if (
        inner?.opcode === 's.unary' &&
        inner.attrs.op === '!' &&
        inner.operands[0]!.type.kind === 'scalar' &&
        (inner.operands[0]!.type as { s: string }).s === 'bool'
      ) {
        replaceRegionUses(region, op.result, inner.operands[0]!);
        changed = true;
      }
    }
  }
  return changed;
}

function dce(region: Region, uses: Map<Value, number>): boolean {
  let changed = false;
  for (let i = region.ops.length - 1; i >= 0; i--) {
    const op = region.ops[i]!;
    for (const r of op.regions) if (dce(r, uses)) changed = true;
    const unused = op.results.every((r) => !uses.get(r));
    if (unused && op.results.length > 0 && isPure(op.opcode) && op.regions.length === 0) {
      region.ops.splice(i, 1);
      for (const v of op.operands) uses.set(v, (uses.get(v) ?? 1) - 1);
      changed = true;
    }
  }
  return changed;
}

/** Drops loop-carried values of `scf.for` that nothing outside reads and that only feed themselves. */
function pruneLoopCarried(region: Region, uses: Map<Value, number>): boolean {
  let changed = false;
  for (const op of region.ops) {
    for (const r of op.regions) if (pruneLoopCarried(r, uses)) changed = true;
    if (op.opcode !== 'scf.for') continue;
    const body = op.regions[0]!;
    const y = terminator(body)!;
    for (let k = op.results.length - 1; k >= 0; k--) {
      const arg = body.args[k + 1]!;
      const yielded = y.operands[k]!;
      const argUses = uses.get(arg) ?? 0;
      const ownUse = yielded === arg ? 1 : 0;
      if (
        (uses.get(op.results[k]!) ?? 0) === 0 &&
        argUses - ownUse === 0 &&
        (yielded === arg || isDeadChain(yielded, arg, uses))
      ) {
        (op.operands as Value[]).splice(3 + k, 1);
        body.args.splice(k + 1, 1);
        y.operands.splice(k, 1);
        op.results.splice(k, 1);
        changed = true;
      }
    }
  }
  return changed;
}

function isDeadChain(v: Value, _arg: Value, uses: Map<Value, number>): boolean {
  return (uses.get(v) ?? 0) === 1 && !!v.def && isPure(v.def.opcode) && v.def.regions.length === 0;
}

export function canonicalize(ir: KernelIR): KernelIR {
  if (ir.style === 'simt') dropUnusedExits(ir);
  rootForReplace = ir.body;
  try {
    for (let round = 0; round < 20; round++) {
      let uses = useCounts(ir);
      let changed = simplifyRegion(ir.body, uses);
      uses = useCounts(ir);
      if (pruneLoopCarried(ir.body, uses)) changed = true;
      uses = useCounts(ir);
      if (dce(ir.body, uses)) changed = true;
      if (!changed) break;
    }
  } finally {
    rootForReplace = null;
  }
  return ir;
}
