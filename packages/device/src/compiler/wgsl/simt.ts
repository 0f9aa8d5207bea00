/**
 * SIMT IR → WGSL, on the ABI of abi.ts (the WebGPU back end, issue 13). A SIMT kernel's IR is one thread's program,
 * and so is a WGSL compute entry point: a block is a workgroup (`@workgroup_size` is the specialisation's block
 * shape), `simt.tid` is `local_invocation_id`, `simt.bid` the block id `pid` the ABI's launch geometry derives from
 * the linear workgroup id, `simt.gdim` the uniform `grid_*` fields. Shared arrays are `var<workgroup>` arrays,
 * `simt.barrier` is `workgroupBarrier()`, structured control flow maps to `if` and `loop`.
 *
 * Scalars: `int` → i32, `float` → f32, `bool` → bool (the scalar ops are scalar.ts's, shared with the tile lowering).
 * This is where the GPU differs from the CPU back ends, whose scalars are JavaScript numbers (float64): float
 * arithmetic and f32 parameters run in f32, and integer arithmetic wraps at 32 bits (u32 parameters, u32 shared
 * elements and ballots are carried as their i32 bit pattern). Memory
 * holds the same bits on both: loads decode and stores encode exactly as the CPU does (simt-memory.ts, dtypes.ts),
 * and i32 global atomicAdd wraps as CUDA's does where the CPU back end saturates.
 *
 * Bindings (@group(0), in this order): one storage buffer per buffer parameter (in parameter order), the uniform
 * `params` (launch geometry, then per parameter: a scalar's value `p_<name>`, a buffer's element offset and length
 * `off_<name>` / `len_<name>`, a host array's offset and length `aoff_<name>` / `alen_<name>`), the host arrays (when
 * the kernel has any), and the fault record. Every global and shared access is bounds-checked and an out-of-bounds
 * one, like a `trap` (a `throw` the kernel reaches), is recorded there for the runner to raise (abi.ts).
 *
 * Refused, as `Unsupported` naming the construct: warp intrinsics unless the runner promises subgroups of the IR's
 * warp size (simt-warp.ts), `k.syncwarp` inside control flow, i64 parameters, narrow dynamic-shared views of mixed
 * dtypes, integer atomics given float values, boolean values stored to buffers, `&&` / `||` on non-booleans, and
 * tile kernels (tile.ts lowers those).
 */
import type { DType } from '../../dtype/dtype';
import type { KernelIR, Op, Region, Type, Value } from '../ir';
import { WARP_OPS, walk } from '../ir';
import {
  faultDecl,
  geometryFields,
  geometryPrologue,
  recordFault,
  uniformDecl,
  type WgslBinding,
  type WgslFaultSite,
  type WgslProgram,
  type WgslScalarField,
} from './abi';
import { conversionLibrary } from './dtypes';
import {
  constAs,
  convertScalar as convert,
  type Kind,
  SCALAR_DTYPES,
  type ScalarHelper,
  type ScalarHost,
  scalarBinary,
  scalarHelpers,
  scalarSelect,
  scalarUnary,
  WGSL_TYPE,
} from './scalar';
import { refuse, type SimtEmitter, snippetOf } from './simt-context';
import { SimtMemory } from './simt-memory';
import { laneOrderCheck, WARP_BUILTINS, warpOp } from './simt-warp';

export type { WgslBufferBinding, WgslProgram } from './abi';

export interface SimtToWgslOptions {
  /** The block shape the IR was specialised for (becomes `@workgroup_size`). */
  block: readonly [number, number, number];
  /**
   * The subgroup size the runner guarantees (the adapter has `subgroups` with a fixed size); warp intrinsics are
   * lowered only when it equals the IR's warp size.
   */
  subgroupSize?: number;
}

const AXES = ['x', 'y', 'z'];
const WARP_OR_EXIT = new Set([...WARP_OPS, 'simt.exit']);

class Emitter implements SimtEmitter {
  private readonly lines: string[] = [];
  private indent = '  ';
  private readonly names = new Map<Value, string>();
  private readonly scalars = new Map<Value, string>();
  private readonly arrays = new Map<Value, { name: string; elem: 'int' | 'float' }>();
  private readonly sites: WgslFaultSite[] = [];
  private readonly used = new Set<DType | 'bool'>(SCALAR_DTYPES);
  /** The scalar helpers (scalar.ts) the code calls. */
  private readonly helpers = new Set<ScalarHelper>();
  /** Scalar ops (scalar.ts) see this emitter. */
  private readonly scalarHost: ScalarHost = {
    kind: (v) => this.kind(v),
    as: (v, k) => this.as(v, k),
    need: (h) => {
      this.helpers.add(h);
    },
    refuse: (what) => refuse(this.ir, what),
  };
  private readonly memory: SimtMemory;
  private nextTemp = 0;
  /** How many scf regions enclose the op being lowered. */
  private depth = 0;
  private warpSize = 0;
  private block: readonly [number, number, number] = [1, 1, 1];

  constructor(readonly ir: KernelIR) {
    this.memory = new SimtMemory(this, ir);
  }

  kind(v: Value | Type): Kind {
    const t = v instanceof Object && 'type' in v ? (v as Value).type : (v as Type);
    if (t.kind !== 'scalar') refuse(this.ir, `a ${t.kind} value where a scalar was expected`);
    return t.s;
  }

  name(v: Value): string {
    let n = this.names.get(v);
    if (!n) {
      n = `v${v.id}`;
      this.names.set(v, n);
    }
    return n;
  }

  temp(prefix: string): string {
    return `${prefix}_${this.nextTemp++}`;
  }

  as(v: Value, to: Kind): string {
    const s = this.scalars.get(v) ?? (v.def?.opcode === 'const' ? null : this.name(v));
    if (s === null) return constAs(v.def!.attrs.value as number | boolean, this.kind(v), to);
    return convert(s, this.kind(v), to);
  }

  emit(line: string): undefined {
    this.lines.push(this.indent + line);
    return undefined;
  }

  define(v: Value, expr: string): undefined {
    return this.emit(`let ${this.name(v)} = ${expr};`);
  }

  nested(fn: () => void): void {
    const saved = this.indent;
    this.indent += '  ';
    fn();
    this.indent = saved;
  }

  site(s: WgslFaultSite): number {
    this.sites.push(s);
    return this.sites.length - 1;
  }

  fault(site: number, index: string): string {
    return recordFault(site, index, 'tlin');
  }

  use(d: DType | 'bool'): void {
    this.used.add(d);
  }

  run(opts: SimtToWgslOptions): WgslProgram {
    const ir = this.ir;
    if (ir.style !== 'simt') refuse(ir, 'only SIMT kernels are lowered here (tile kernels: tile.ts)');
    this.block = opts.block;
    const warp = this.checkWarp(opts);
    for (const p of ir.params)
      if (p.value && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(p.name))
        refuse(ir, `parameter '${p.name}': its name is not a WGSL identifier`, 'Rename it (letters, digits, _).');
    const nBuffers = this.memory.plan(0);
    const fields: WgslScalarField[] = geometryFields();
    const field = (name: string, type: 'i32' | 'f32' | 'u32', source: WgslScalarField['source']) =>
      fields.push({ name, type, offset: 0, source });
    const arrayParams: string[] = [];
    const floatArrays: string[] = [];
    for (const p of ir.params) {
      const v = p.value;
      if (!v) continue;
      if (v.type.kind === 'buffer') {
        field(`off_${p.name}`, 'i32', { kind: 'offset', param: p.name });
        field(`len_${p.name}`, 'i32', { kind: 'length', param: p.name });
      } else if (v.type.kind === 'scalar') {
        if (p.spec === 'i64')
          refuse(ir, `i64 parameter '${p.name}': WGSL has no 64-bit integers`, 'Pass sizes below 2³¹ as i32.');
        const s = v.type.s;
        field(`p_${p.name}`, s === 'float' ? 'f32' : 'i32', { kind: 'scalar', param: p.name });
        this.scalars.set(v, s === 'bool' ? `(params.p_${p.name} != 0i)` : `params.p_${p.name}`);
      } else if (v.type.kind === 'array') {
        field(`aoff_${p.name}`, 'i32', { kind: 'arrayOffset', param: p.name });
        field(`alen_${p.name}`, 'i32', { kind: 'arrayLength', param: p.name });
        arrayParams.push(p.name);
        if (v.type.elem === 'float') floatArrays.push(p.name);
        this.arrays.set(v, { name: p.name, elem: v.type.elem });
      } else refuse(ir, `parameter '${p.name}' of type ${v.type.kind}`);
    }
    const bindings: WgslBinding[] = [...this.memory.bindings.values()];
    const uniform = uniformDecl(fields, nBuffers);
    bindings.push(uniform.binding);
    let next = nBuffers + 1;
    const decls = [uniform.decl, ...this.memory.decls()];
    if (arrayParams.length) {
      bindings.push({ kind: 'arrays', binding: next, params: arrayParams, floats: floatArrays });
      decls.push(`@group(0) @binding(${next++}) var<storage, read> arrays: array<u32>;`);
    }
    bindings.push({ kind: 'fault', binding: next });
    decls.push(faultDecl(next));

    // The body: launch geometry, the thread's linear id (for fault records), the lane check, the ops.
    this.lines.push(...geometryPrologue(this.indent));
    this.emit('let tlin = i32(lidx);');
    if (warp) laneOrderCheck(this, this.warpSize);
    this.region(ir.body);

    const body = this.lines.join('\n');
    for (const d of this.memory.dtypesUsed()) this.used.add(d);
    const [bx, by, bz] = opts.block;
    const code = [
      `// ${ir.name} ${ir.key}: generated by @tessera/device (SIMT IR → WGSL)`,
      ...(warp ? ['enable subgroups;', 'diagnostic(off, subgroup_uniformity);'] : []),
      ...decls,
      conversionLibrary(this.used),
      scalarHelpers(this.helpers),
      ...this.memory.functions(),
      '',
      `@compute @workgroup_size(${bx}, ${by}, ${bz})`,
      `fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) lidx: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>${warp ? `, ${WARP_BUILTINS}` : ''}) {`,
      body,
      '}',
      '',
    ]
      .filter((l) => l !== '')
      .join('\n');
    return {
      code: `${code}\n`,
      entryPoint: 'main',
      workgroupSize: [bx, by, bz],
      bindings,
      sites: this.sites,
      features: warp ? ['subgroups'] : [],
      workgroupBytes: this.memory.workgroupBytes(),
    };
  }

  /** Whether the kernel has warp intrinsics (then refused unless the runner's subgroups are its warps). */
  private checkWarp(opts: SimtToWgslOptions): boolean {
    let first: Op | undefined;
    walk(this.ir.body, (op) => {
      if (!first && WARP_OR_EXIT.has(op.opcode)) first = op;
    });
    if (!first) return false;
    const ws = this.ir.warpSize ?? 32;
    if (opts.subgroupSize !== ws) {
      const why =
        opts.subgroupSize === undefined
          ? "the adapter lacks the 'subgroups' feature (or its subgroup size is not fixed)"
          : `the adapter's subgroup size is ${opts.subgroupSize}, not the kernel's warp size ${ws}`;
      refuse(
        this.ir,
        `the warp intrinsic ${first.opcode}${snippetOf(first)} needs subgroups of ${ws} lanes, and ${why}`,
        "Warp intrinsics run on adapters with the 'subgroups' feature and a fixed subgroup size equal to the warp size; run the kernel on a simulator backend, or exchange values through shared memory.",
      );
    }
    this.warpSize = ws;
    return true;
  }

  private region(r: Region): void {
    for (const op of r.ops) this.op(op);
  }

  /** Lowers an scf region's ops one level deeper (for `k.syncwarp`'s top-level rule). */
  private inRegion(fn: () => void): void {
    this.depth++;
    this.nested(fn);
    this.depth--;
  }

  /** Declares `var`s for an op's results (assigned by its regions' yields). */
  private resultVars(op: Op): void {
    for (const v of op.results) this.emit(`var ${this.name(v)}: ${WGSL_TYPE[this.kind(v)]};`);
  }

  /** Runs `r` with its yielded values assigned to `targets` (converted to their kinds). */
  private yieldInto(r: Region, targets: string[], kinds: Kind[], terminator = 'scf.yield'): Op | undefined {
    let last: Op | undefined;
    for (const op of r.ops) {
      if (op.opcode === terminator) {
        last = op;
        break;
      }
      this.op(op);
    }
    if (terminator === 'scf.yield' && last)
      for (const [i, v] of last.operands.entries()) this.emit(`${targets[i]} = ${this.as(v, kinds[i]!)};`);
    return last;
  }

  private op(op: Op): undefined {
    const o = op.operands;
    const a = op.attrs;
    switch (op.opcode) {
      case 'const':
      case 'simt.flops':
      case 'simt.dynamic_shared': // views are planned by SimtMemory
      case 'simt.shared_view':
        return;
      case 'simt.tid':
        return this.define(op.result, `i32(lid.${AXES[a.axis as number]})`);
      case 'simt.bid':
        return this.define(op.result, `pid.${AXES[a.axis as number]}`);
      case 'simt.gdim':
        return this.define(op.result, `params.grid_${AXES[a.axis as number]}`);
      case 'simt.bdim':
        return this.define(op.result, `${this.block[a.axis as number]}i`);
      case 's.binary':
        return this.define(op.result, scalarBinary(this.scalarHost, op));
      case 's.unary':
        return this.define(op.result, scalarUnary(this.scalarHost, op));
      case 's.select':
        return this.define(op.result, scalarSelect(this.scalarHost, op));
      case 'buf.len': {
        const b = this.memory.bindings.get(o[0]!);
        if (!b) refuse(this.ir, 'buf.len of something other than a buffer parameter');
        return this.define(op.result, `params.len_${b.name}`);
      }
      case 'arr.get':
        return this.arrayGet(op);
      case 'arr.len': {
        const arr = this.arrays.get(o[0]!);
        if (!arr) refuse(this.ir, 'arr.len of something other than a host-array parameter');
        return this.define(op.result, `params.alen_${arr.name}`);
      }
      case 'simt.load':
      case 'simt.store':
      case 'simt.atomic':
        this.memory.globalOp(op);
        return;
      case 'simt.shared_load':
      case 'simt.shared_store':
      case 'simt.shared_fill':
      case 'simt.shared_atomic':
        this.memory.sharedOp(op);
        return;
      case 'simt.barrier':
        return this.emit('workgroupBarrier();');
      case 'trap': {
        // Recorded, then the thread goes on: the front end guards everything after a `throw` already.
        const name = (a.name as string | undefined) ?? 'Error';
        const site = this.site({
          kind: 'trap',
          op: 'trap',
          name: '',
          message: `threw ${name}: ${a.message as string}`,
          snippet: op.loc?.snippet,
        });
        return this.emit(this.fault(site, '0i'));
      }
      case 'scf.if':
        return this.ifOp(op);
      case 'scf.for':
        return this.forOp(op);
      case 'scf.while':
        return this.whileOp(op);
      default:
        if (WARP_OR_EXIT.has(op.opcode)) {
          warpOp(this, op, this.warpSize, this.depth === 0);
          return;
        }
        return refuse(this.ir, `the op ${op.opcode}${snippetOf(op)} is not lowered to WGSL`);
    }
  }

  /** A host-array element (an index outside the array reads 0 / NaN: undefined on the CPU, not a fault). */
  private arrayGet(op: Op): undefined {
    const arr = this.arrays.get(op.operands[0]!);
    if (!arr) refuse(this.ir, 'arr.get of something other than a host-array parameter');
    const x = op.operands[1]!;
    const i = this.temp('ai');
    const ok = this.temp('aok');
    if (this.kind(x) === 'float') {
      this.emit(`let ${i}f = ${this.as(x, 'float')};`);
      this.emit(`let ${i} = i32(${i}f);`);
      this.emit(`let ${ok} = ${i}f == trunc(${i}f) && ${i} >= 0i && ${i} < params.alen_${arr.name};`);
    } else {
      this.emit(`let ${i} = ${this.as(x, 'int')};`);
      this.emit(`let ${ok} = ${i} >= 0i && ${i} < params.alen_${arr.name};`);
    }
    const word = `arrays[params.aoff_${arr.name} + select(0i, ${i}, ${ok})]`;
    const e =
      arr.elem === 'float'
        ? `select(tsr_f32_bits(0x7fc00000u), bitcast<f32>(${word}), ${ok})`
        : `select(0i, bitcast<i32>(${word}), ${ok})`;
    return this.define(op.result, convert(e, arr.elem, this.kind(op.result)));
  }

  private ifOp(op: Op): undefined {
    const o = op.operands;
    this.resultVars(op);
    const targets = op.results.map((v) => this.name(v));
    const kinds = op.results.map((v) => this.kind(v));
    this.emit(`if (${this.as(o[0]!, 'bool')}) {`);
    this.inRegion(() => this.yieldInto(op.regions[0]!, targets, kinds));
    if (op.regions[1]?.ops.some((x) => x.opcode !== 'scf.yield' || x.operands.length)) {
      this.emit('} else {');
      this.inRegion(() => this.yieldInto(op.regions[1]!, targets, kinds));
    }
    return this.emit('}');
  }

  /** for (iv = lo; iv < hi; iv += step), iters carried in vars. */
  private forOp(op: Op): undefined {
    const o = op.operands;
    const body = op.regions[0]!;
    const [ivArg, ...iterArgs] = body.args;
    const t = this.temp('f');
    const ivKind = this.kind(ivArg!);
    this.emit(`var ${t}_iv: ${WGSL_TYPE[ivKind]} = ${this.as(o[0]!, ivKind)};`);
    const iters = iterArgs.map((v, i) => {
      const n = `${t}_it${i}`;
      this.emit(`var ${n}: ${WGSL_TYPE[this.kind(v)]} = ${this.as(o[3 + i]!, this.kind(v))};`);
      return n;
    });
    this.emit('loop {');
    this.inRegion(() => {
      this.emit(`if (!(${t}_iv < ${this.as(o[1]!, ivKind)})) { break; }`);
      this.define(ivArg!, `${t}_iv`);
      iterArgs.forEach((v, i) => {
        this.define(v, iters[i]!);
      });
      this.yieldInto(
        body,
        iters,
        iterArgs.map((v) => this.kind(v)),
      );
      this.emit(`${t}_iv = ${t}_iv + ${this.as(o[2]!, ivKind)};`);
    });
    this.emit('}');
    for (const [i, v] of op.results.entries()) this.define(v, iters[i]!);
    return;
  }

  private whileOp(op: Op): undefined {
    const o = op.operands;
    const [before, after] = op.regions as [Region, Region];
    const t = this.temp('w');
    const state = before.args.map((v, i) => {
      const n = `${t}_a${i}`;
      this.emit(`var ${n}: ${WGSL_TYPE[this.kind(v)]} = ${this.as(o[i]!, this.kind(v))};`);
      return n;
    });
    this.resultVars(op);
    this.emit('loop {');
    this.inRegion(() => {
      before.args.forEach((v, i) => {
        this.define(v, state[i]!);
      });
      const cond = this.yieldInto(before, [], [], 'scf.condition');
      if (!cond) refuse(this.ir, 'a while loop without scf.condition');
      const [c, ...vals] = cond.operands;
      op.results.forEach((v, i) => {
        this.emit(`${this.name(v)} = ${this.as(vals[i]!, this.kind(v))};`);
      });
      this.emit(`if (!(${this.as(c!, 'bool')})) { break; }`);
      after.args.forEach((v, i) => {
        this.define(v, this.as(vals[i]!, this.kind(v)));
      });
      this.yieldInto(
        after,
        state,
        before.args.map((v) => this.kind(v)),
      );
    });
    return this.emit('}');
  }
}

/** The WGSL of a SIMT kernel's IR (see the module comment for the mapping and what is refused). */
export function simtToWgsl(ir: KernelIR, options: SimtToWgslOptions): WgslProgram {
  return new Emitter(ir).run(options);
}
