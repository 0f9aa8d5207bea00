/**
 * Warp intrinsics → WGSL subgroup operations (`enable subgroups;`), when the runner promises subgroups of exactly the
 * IR's warp size. A warp is a subgroup and a lane its `subgroup_invocation_id`; the kernel checks at its start that
 * the adapter numbers them as CUDA does (lane = linear thread index mod warpSize, x fastest) and records a fault
 * otherwise, so a mismatched adapter reports an error instead of wrong results.
 *
 * The lanes that take part are those in the mask that reach the call (`subgroupBallot(true)`): as on the CPU back
 * end (simt/warp.ts), a shuffle from a lane outside that set returns the caller's own value, a ballot has 0 bits
 * there, and reductions, `any` and `all` cover the lanes in the set. Shuffles follow PTX's lane arithmetic on
 * sections of `width` lanes. Reductions use `subgroupAdd/Min/Max` when every lane that arrived passes a mask naming
 * all of them, and otherwise gather the mask's lanes one shuffle at a time.
 *
 * What WGSL cannot promise: which invocations run a subgroup operation together under divergent control flow is the
 * adapter's choice (Vulkan does not guarantee CUDA's reconvergence), so warp intrinsics under thread-dependent
 * branches are exact only where the adapter keeps the lanes that reach the call together; CUDA's misuse checks (a
 * named lane that never arrives) are not made. `simt.syncwarp` becomes `workgroupBarrier()` (a stronger barrier)
 * where every thread of the block reaches it (at the kernel's top level), and is refused elsewhere: WGSL has no
 * warp-scoped barrier. `simt.exit` needs no code: the front end already guards everything after a `return`.
 */
import type { Op, Value } from '../ir';
import { refuse, type SimtEmitter, snippetOf } from './simt-context';

/** Builtins the entry point declares when the kernel has warp intrinsics. */
export const WARP_BUILTINS = '@builtin(subgroup_invocation_id) sg_lane: u32, @builtin(subgroup_size) sg_size: u32';

/** The check, at the kernel's start, that subgroups are CUDA's warps (see the module comment). */
export function laneOrderCheck(e: SimtEmitter, warpSize: number): void {
  const site = e.site({
    kind: 'trap',
    op: 'trap',
    name: '',
    message:
      `the adapter's subgroups are not CUDA's warps of ${warpSize} lanes (their size or lane numbering differs from ` +
      'linear thread index mod warpSize), so warp intrinsics cannot run on it',
  });
  e.emit(`if (sg_size != ${warpSize}u || sg_lane != lidx % ${warpSize}u) { ${e.fault(site, 'i32(sg_lane)')} }`);
}

/** A 32-bit lane mask operand as u32 (constants are written as such: 0xffffffff is not an i32). */
function mask(e: SimtEmitter, v: Value): string {
  if (v.def?.opcode === 'const') return `${Number(v.def.attrs.value) >>> 0}u`;
  return `bitcast<u32>(${e.as(v, 'int')})`;
}

export function warpOp(e: SimtEmitter, op: Op, warpSize: number, topLevel: boolean): undefined {
  const o = op.operands;
  switch (op.opcode) {
    case 'simt.exit':
      return undefined;
    case 'simt.syncwarp':
      if (!topLevel)
        refuse(
          e.ir,
          `k.syncwarp${snippetOf(op)} inside control flow: WGSL has no warp-scoped barrier, and a workgroup barrier must be reached by every thread of the block`,
          'Use k.syncthreads() where every thread reaches it, or move k.syncwarp() to the kernel body.',
        );
      return e.emit('workgroupBarrier();');
    case 'simt.shfl':
      return shuffle(e, op, warpSize);
    case 'simt.vote': {
      const kind = op.attrs.kind as string;
      const arrived = e.temp('arrived');
      e.emit(`let ${arrived} = subgroupBallot(true).x;`);
      if (kind === 'active') return e.define(op.result, `bitcast<i32>(${arrived})`);
      const part = e.temp('part');
      e.emit(`let ${part} = ${mask(e, o[0]!)} & ${arrived};`);
      const yes = `subgroupBallot(${e.as(o[1]!, 'bool')}).x`;
      if (kind === 'ballot') return e.define(op.result, `bitcast<i32>(${yes} & ${part})`);
      const r = kind === 'any' ? `(${yes} & ${part}) != 0u` : `(${part} & ~${yes}) == 0u`;
      return e.define(op.result, e.kind(op.result) === 'bool' ? r : `select(0i, 1i, ${r})`);
    }
    case 'simt.redux':
      return reduce(e, op, warpSize);
  }
}

function shuffle(e: SimtEmitter, op: Op, warpSize: number): undefined {
  const [m, v, b] = op.operands as [Value, Value, Value];
  const mode = op.attrs.mode as string;
  const width = (op.attrs.width as number | undefined) ?? warpSize;
  const k = e.kind(op.result);
  const t = e.temp('sh');
  e.emit(`let ${t}_m = ${mask(e, m)};`);
  e.emit(`let ${t}_b = bitcast<u32>(${e.as(b, 'int')}) & ${warpSize - 1}u;`);
  e.emit(`let ${t}_base = sg_lane & ${~(width - 1) >>> 0}u;`);
  let j: string;
  let ok: string;
  switch (mode) {
    case 'idx':
      j = `${t}_base | (${t}_b & ${width - 1}u)`;
      ok = 'true';
      break;
    case 'up':
      j = `sg_lane - ${t}_b`;
      ok = `${t}_b <= sg_lane - ${t}_base`;
      break;
    case 'down':
      j = `sg_lane + ${t}_b`;
      ok = `sg_lane + ${t}_b <= ${t}_base + ${width - 1}u`;
      break;
    default: // bfly: may read an earlier section, not a later one
      j = `sg_lane ^ ${t}_b`;
      ok = `(sg_lane ^ ${t}_b) <= ${t}_base + ${width - 1}u`;
  }
  e.emit(`let ${t}_j = (${j}) & ${warpSize - 1}u;`);
  e.emit(`let ${t}_arrived = subgroupBallot(true).x;`);
  e.emit(`let ${t}_src = select(sg_lane, ${t}_j, (${ok}) && (((${t}_m & ${t}_arrived) >> ${t}_j) & 1u) == 1u);`);
  return e.define(op.result, `subgroupShuffle(${e.as(v, k === 'bool' ? 'int' : k)}, ${t}_src)`);
}

function reduce(e: SimtEmitter, op: Op, warpSize: number): undefined {
  const [m, v] = op.operands as [Value, Value];
  const kind = op.attrs.kind as 'add' | 'min' | 'max';
  const unsigned = op.attrs.unsigned === true;
  const t = e.temp('rd');
  const x = unsigned ? `bitcast<u32>(${e.as(v, 'int')})` : e.as(v, 'int');
  const ty = unsigned ? 'u32' : 'i32';
  e.emit(`let ${t}_x = ${x};`);
  e.emit(`let ${t}_arrived = subgroupBallot(true).x;`);
  e.emit(`let ${t}_part = ${mask(e, m)} & ${t}_arrived;`);
  e.emit(`var ${t}: ${ty};`);
  // Every lane's mask names every lane that arrived (the same for all of them, so the branch is subgroup-uniform).
  e.emit(`if (subgroupAll(${t}_part == ${t}_arrived)) {`);
  const fn = { add: 'subgroupAdd', min: 'subgroupMin', max: 'subgroupMax' }[kind];
  e.nested(() => e.emit(`${t} = ${fn}(${t}_x);`));
  e.emit('} else {');
  e.nested(() => {
    const identity =
      kind === 'add'
        ? `0${unsigned ? 'u' : 'i'}`
        : unsigned
          ? kind === 'min'
            ? '0xffffffffu'
            : '0u'
          : kind === 'min'
            ? '2147483647i'
            : 'bitcast<i32>(0x80000000u)';
    e.emit(`${t} = ${identity};`);
    e.emit(`for (var j = 0u; j < ${warpSize}u; j = j + 1u) {`);
    e.nested(() => {
      e.emit(`let y = subgroupShuffle(${t}_x, j);`);
      const acc = kind === 'add' ? `${t} + y` : `${kind}(${t}, y)`;
      e.emit(`if (((${t}_part >> j) & 1u) == 1u) { ${t} = ${acc}; }`);
    });
    e.emit('}');
  });
  e.emit('}');
  return e.define(op.result, unsigned ? `bitcast<i32>(${t})` : t);
}
