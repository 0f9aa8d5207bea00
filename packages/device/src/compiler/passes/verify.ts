/**
 * Checks the IR's invariants after each pass (structured regions end in their terminator, region results match
 * their yields) and one rule of the SIMT model: a barrier must be reached by every thread of a block, so it may not sit
 * under control flow whose condition differs between threads (CUDA leaves that undefined; we refuse it).
 */
import { CompileError } from '../frontend/stager';
import { type KernelIR, type Op, type Region, sameType, typeToString, type Value } from '../ir';

const VARYING_SOURCES = new Set([
  'simt.tid',
  'simt.load',
  'simt.shared_load',
  'simt.atomic',
  'simt.shared_atomic',
  // Warp intrinsics: the same in a warp at most, and a block has several warps.
  'simt.shfl',
  'simt.vote',
  'simt.redux',
]);

function fail(ir: KernelIR, op: Op, message: string, hint?: string): never {
  const where = op.loc?.line ? ` at ${op.loc.file?.split(/[\\/]/).slice(-2).join('/')}:${op.loc.line}` : '';
  throw new CompileError(
    `Kernel '${ir.name}'${where}: ${message}${op.loc ? ` — in \`${op.loc.snippet}\`` : ''}`,
    hint,
    {
      kernel: ir.name,
    },
  );
}

function checkRegions(ir: KernelIR, region: Region, isRoot: boolean): void {
  for (const op of region.ops) {
    for (const r of op.regions) checkRegions(ir, r, false);
    const check = (r: Region, term: string, values: readonly Value[]) => {
      const last = r.ops[r.ops.length - 1];
      if (!last || last.opcode !== term) fail(ir, op, `internal: a region of ${op.opcode} does not end in ${term}.`);
      const given = term === 'scf.condition' ? last.operands.slice(1) : last.operands;
      if (given.length !== values.length)
        fail(ir, op, `internal: ${op.opcode} yields ${given.length} values for ${values.length} results.`);
      given.forEach((g, i) => {
        const want = values[i]!.type;
        const okScalar =
          g.type.kind === 'scalar' && want.kind === 'scalar' && (want.s === 'float' || g.type.s === want.s);
        if (!sameType(g.type, want) && !okScalar) {
          fail(
            ir,
            op,
            `internal: ${op.opcode} result ${i} is ${typeToString(want)} but ${typeToString(g.type)} is yielded.`,
          );
        }
      });
    };
    switch (op.opcode) {
      case 'scf.if':
        check(op.regions[0]!, 'scf.yield', op.results);
        check(op.regions[1]!, 'scf.yield', op.results);
        break;
      case 'scf.for':
        check(op.regions[0]!, 'scf.yield', op.regions[0]!.args.slice(1));
        break;
      case 'scf.while':
        check(op.regions[0]!, 'scf.condition', op.regions[1]!.args);
        check(op.regions[1]!, 'scf.yield', op.regions[0]!.args);
        break;
      default:
    }
  }
  void isRoot;
}

/** Values that may differ between the threads of one block. */
function varyingValues(ir: KernelIR): Set<Value> {
  const varying = new Set<Value>();
  let changed = true;
  const mark = (v: Value) => {
    if (!varying.has(v)) {
      varying.add(v);
      changed = true;
    }
  };
  const visit = (region: Region, controlVarying: boolean) => {
    for (const op of region.ops) {
      const inVarying = controlVarying || op.operands.some((o) => varying.has(o));
      if (VARYING_SOURCES.has(op.opcode) || (op.regions.length === 0 && op.operands.some((o) => varying.has(o)))) {
        for (const r of op.results) mark(r);
      }
      if (op.opcode === 'scf.if') {
        const c = varying.has(op.operands[0]!);
        op.regions.forEach((r) => {
          visit(r, controlVarying || c);
          const y = r.ops[r.ops.length - 1]!;
          y.operands.forEach((v, i) => {
            if (varying.has(v) || c || controlVarying) mark(op.results[i]!);
          });
        });
      } else if (op.opcode === 'scf.for') {
        const body = op.regions[0]!;
        const bounds = op.operands.slice(0, 3).some((o) => varying.has(o));
        if (bounds) mark(body.args[0]!);
        op.operands.slice(3).forEach((o, i) => {
          if (varying.has(o)) mark(body.args[i + 1]!);
        });
        visit(body, controlVarying || bounds);
        const y = body.ops[body.ops.length - 1]!;
        y.operands.forEach((v, i) => {
          if (varying.has(v) || bounds) {
            mark(body.args[i + 1]!);
            mark(op.results[i]!);
          }
        });
      } else if (op.opcode === 'scf.while') {
        const [before, after] = op.regions as [Region, Region];
        op.operands.forEach((o, i) => {
          if (varying.has(o)) mark(before.args[i]!);
        });
        visit(before, controlVarying);
        const cond = before.ops[before.ops.length - 1]!;
        const cv = varying.has(cond.operands[0]!);
        cond.operands.slice(1).forEach((v, i) => {
          if (varying.has(v) || cv) {
            mark(after.args[i]!);
            mark(op.results[i]!);
          }
        });
        visit(after, controlVarying || cv);
        const y = after.ops[after.ops.length - 1]!;
        y.operands.forEach((v, i) => {
          if (varying.has(v) || cv) mark(before.args[i]!);
        });
      } else if (inVarying && op.results.length && op.regions.length) {
        for (const r of op.results) mark(r);
      }
    }
  };
  while (changed) {
    changed = false;
    visit(ir.body, false);
  }
  return varying;
}

function checkBarriers(ir: KernelIR, varying: Set<Value>): void {
  const visit = (region: Region, divergent: Op | null) => {
    for (const op of region.ops) {
      if (op.opcode === 'simt.barrier' && divergent) {
        fail(
          ir,
          divergent,
          'a barrier (yield) is reached under a condition that differs between the threads of a block; threads that skip it would wait forever on a GPU.',
          'Move the barrier out of the thread-dependent branch or loop: every thread of the block must reach the same barriers.',
        );
      }
      let d = divergent;
      if (!d) {
        if (op.opcode === 'scf.if' && varying.has(op.operands[0]!)) d = op;
        if (op.opcode === 'scf.for' && op.operands.slice(0, 3).some((o) => varying.has(o))) d = op;
        if (op.opcode === 'scf.while') {
          const before = op.regions[0]!;
          const cond = before.ops[before.ops.length - 1]!;
          if (varying.has(cond.operands[0]!)) d = op;
        }
      }
      for (const r of op.regions) visit(r, d);
    }
  };
  visit(ir.body, null);
}

/** Every operand is defined before its use, in the same region or an enclosing one (SSA dominance). */
function checkDominance(ir: KernelIR): void {
  const defined = new Set<Value>();
  for (const p of ir.params) if (p.value) defined.add(p.value);
  for (const s of ir.shared) defined.add(s.value);
  const visit = (region: Region, scope: Set<Value>) => {
    const local = new Set(scope);
    for (const a of region.args) local.add(a);
    for (const op of region.ops) {
      for (const v of op.operands) {
        if (!local.has(v)) fail(ir, op, `internal: ${op.opcode} uses %${v.id}, which is not defined where it is used.`);
      }
      for (const r of op.regions) visit(r, local);
      for (const r of op.results) local.add(r);
    }
  };
  visit(ir.body, defined);
}

/**
 * `barriers: false` leaves out the barrier rule: the sanitizer's synccheck compiles a refused kernel that way to run it
 * on copies of memory and report which threads of which blocks actually diverge (the launch still fails).
 */
export function verify(ir: KernelIR, o: { barriers?: boolean } = {}): KernelIR {
  checkDominance(ir);
  checkRegions(ir, ir.body, true);
  if (ir.style === 'simt' && o.barriers !== false) checkBarriers(ir, varyingValues(ir));
  return ir;
}

export { varyingValues };
