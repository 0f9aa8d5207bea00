/**
 * Tile IR → WGSL (issue 13): one program of a tile kernel is one workgroup of W invocations. Tile values are
 * computed element by element — each invocation the elements e ≡ lid (mod W) — with elementwise ops fused into their
 * consumers, and materialized (private arrays, workgroup memory, or the per-program scratch binding) where elements
 * cross invocations or must persist (tile-plan.ts decides, tile-emit.ts keeps the books). Scalars follow the SIMT
 * lowering: `int` → i32, `float` → f32 (JavaScript's float64 scalar arithmetic runs in f32: the documented
 * deviation), `bool` → bool. Tile-kernel control flow depends on scalars only, so it is uniform across the
 * workgroup and barriers may sit anywhere in it.
 *
 * Memory follows abi.ts: every buffer access is bounds-checked against `params.len_<name>` (masked-off lanes never
 * are), a fault is recorded in the `fault` binding with a `WgslFaultSite` and the access is skipped (a load gives 0);
 * the program then runs on (its results are unobservable: the device is sticky after a fault). Global memory is
 * ordered within the program as on the CPU: a `storageBarrier` separates a write from a later access by another
 * invocation. Where lanes of one store collide, which lane wins is unspecified (the CPU: the last); atomics collide
 * correctly, in an unspecified order.
 */
import { DTYPE_INFO, type DType, type TileDType } from '../../dtype/dtype';
import { sizeOf } from '../../kernel/shape';
import type { KernelIR, Op, Region, Value } from '../ir';
import { walk } from '../ir';
import {
  faultDecl,
  geometryFields,
  geometryPrologue,
  recordFault,
  uniformDecl,
  type WgslBinding,
  type WgslBufferBinding,
  type WgslFaultSite,
  type WgslProgram,
  type WgslScalarField,
} from './abi';
import { type AtomicKind, bufferAccessors, bufferAtomics, bufferDecl, conversionLibrary } from './dtypes';
import { SCALAR_DTYPES, type ScalarHost, scalarBinary, scalarSelect, scalarUnary } from './scalar';
import { emitCumsum, emitDot, emitReduce, emitSort } from './tile-compute';
import { Emitter, Idx, type Storage } from './tile-emit';
import { TILE_HELPERS } from './tile-expr';
import { TileMemory } from './tile-memory';
import { carryGroups, LAZY_OPS, planTile, shapeOf } from './tile-plan';

export interface TileToWgslOptions {
  /** The adapter's maxComputeWorkgroupStorageSize (bytes of `var<workgroup>` memory); 16384 by default. */
  maxWorkgroupBytes: number;
  /** The adapter's maxComputeInvocationsPerWorkgroup (≥ 256 in core WebGPU). */
  maxInvocations: number;
  /** Invocations per program (a power of two; default: from the largest tile, at most 256). */
  workgroupSize?: number;
}

const AXES = ['x', 'y', 'z'];

const dtypeOf = (v: Value) => (v.type as { dtype: TileDType }).dtype;
const wgslName = (s: string) => s.replace(/[^A-Za-z0-9_]/g, '_');

class TileLowering {
  readonly em: Emitter;
  private readonly buffers = new Map<Value, WgslBufferBinding>();
  private readonly arrays = new Map<Value, string>();
  private readonly sites: WgslFaultSite[] = [];
  private readonly mem: TileMemory;
  /** Scalar ops (scalar.ts) see the emitter's scalars; their helpers are all in TILE_HELPERS. */
  private readonly scalarHost: ScalarHost;

  constructor(
    readonly ir: KernelIR,
    readonly opts: TileToWgslOptions,
  ) {
    const plan = planTile(ir);
    const cap = Math.max(1, Math.min(256, opts.maxInvocations));
    let W = opts.workgroupSize ?? 32;
    if (!opts.workgroupSize) while (W < cap && W < plan.maxTile) W *= 2;
    W = Math.min(W, cap);
    this.em = new Emitter(ir, plan, W, opts.maxWorkgroupBytes);
    this.mem = new TileMemory(this.em, ir, this.buffers, (site) => this.site(site));
    const em = this.em;
    this.scalarHost = {
      kind: (v) => em.kind(v),
      as: (v, k) => em.scalar(v, k),
      need: () => {},
      refuse: (what) => em.refuse(what),
    };
  }

  private site(s: WgslFaultSite): number {
    this.sites.push(s);
    return this.sites.length - 1;
  }

  run(): WgslProgram {
    const { ir, em } = this;
    if (ir.style !== 'tile') em.refuse('only tile kernels are lowered by tileToWgsl (SIMT kernels: simtToWgsl)');
    // Buffers written, used atomically (and with which kinds).
    const written = new Set<Value>();
    const atomicKinds = new Map<Value, Set<AtomicKind>>();
    walk(ir.body, (op) => {
      if (op.opcode === 'mem.store' || op.opcode === 'mem.store_block' || op.opcode === 'mem.atomic')
        written.add(op.operands[0]!);
      if (op.opcode === 'mem.atomic') {
        const b = op.operands[0]!;
        let s = atomicKinds.get(b);
        if (!s) atomicKinds.set(b, (s = new Set()));
        s.add(op.attrs.kind as AtomicKind);
      }
    });
    const bindings: WgslBinding[] = [];
    const fields: WgslScalarField[] = geometryFields();
    const decls: string[] = [];
    const used = new Set<DType | 'bool'>(['f32', ...SCALAR_DTYPES]);
    const arrayParams: { name: string; float: boolean }[] = [];
    for (const p of ir.params) {
      const v = p.value;
      if (!v) continue;
      const name = wgslName(p.name);
      if (name !== p.name)
        em.refuse(
          `parameter '${p.name}' is not a WGSL identifier (bindings and accessors are named after parameters)`,
          'Rename the parameter to letters, digits and underscores.',
        );
      if (v.type.kind === 'buffer') {
        const dtype = v.type.dtype;
        if (!(dtype in DTYPE_INFO)) em.refuse(`buffer parameter '${p.name}' of dtype ${dtype}`);
        const packed = DTYPE_INFO[dtype].bytes < 4;
        const b: WgslBufferBinding = {
          kind: 'buffer',
          binding: bindings.length,
          name,
          dtype,
          layout: packed ? 'packed' : 'word',
          access: written.has(v) ? 'read_write' : 'read',
          atomic: atomicKinds.has(v) || (packed && written.has(v)),
        };
        bindings.push(b);
        this.buffers.set(v, b);
        used.add(dtype);
        decls.push(bufferDecl(b), bufferAccessors(b));
        if (atomicKinds.has(v)) decls.push(bufferAtomics(b, atomicKinds.get(v)!));
        fields.push({ name: `off_${name}`, type: 'i32', offset: 0, source: { kind: 'offset', param: p.name } });
        fields.push({ name: `len_${name}`, type: 'i32', offset: 0, source: { kind: 'length', param: p.name } });
      } else if (v.type.kind === 'scalar') {
        const k = v.type.s;
        const type = k === 'float' ? 'f32' : 'i32';
        fields.push({ name: `p_${name}`, type, offset: 0, source: { kind: 'scalar', param: p.name } });
        em.scalars.set(v, k === 'bool' ? `(params.p_${name} != 0i)` : `params.p_${name}`);
      } else if (v.type.kind === 'array') {
        arrayParams.push({ name: p.name, float: v.type.elem === 'float' });
        this.arrays.set(v, name);
        fields.push({ name: `ao_${name}`, type: 'i32', offset: 0, source: { kind: 'arrayOffset', param: p.name } });
        fields.push({ name: `al_${name}`, type: 'i32', offset: 0, source: { kind: 'arrayLength', param: p.name } });
      } else em.refuse(`parameter '${p.name}' of type ${v.type.kind}`);
    }
    walk(ir.body, (op) => {
      for (const r of op.results) if (r.type.kind === 'tile') used.add(r.type.dtype);
    });
    const uni = uniformDecl(fields, bindings.length);
    bindings.push(uni.binding);
    if (arrayParams.length) {
      const binding = bindings.length;
      bindings.push({
        kind: 'arrays',
        binding,
        params: arrayParams.map((a) => a.name),
        floats: arrayParams.filter((a) => a.float).map((a) => a.name),
      });
      decls.push(`@group(0) @binding(${binding}) var<storage, read> arrs: array<u32>;`);
      decls.push(
        'fn tt_arr(o: i32, n: i32, i: i32) -> u32 { if (u32(i) >= u32(n)) { return 0u; } return arrs[o + i]; }',
      );
    }
    const faultBinding = bindings.length;
    bindings.push({ kind: 'fault', binding: faultBinding });
    decls.push(faultDecl(faultBinding));

    this.region(ir.body);

    const scratchWords = em.scratchWords;
    if (scratchWords > 0) {
      const binding = bindings.length;
      bindings.push({ kind: 'scratch', binding, wordsPerProgram: scratchWords });
      decls.push(`@group(0) @binding(${binding}) var<storage, read_write> scratch: array<u32>;`);
    }
    if (em.wgWords > 0) decls.push(`var<workgroup> smem: array<u32, ${em.wgWords}>;`);
    let lib = conversionLibrary(used);
    if (!lib.includes('fn tsr_f32_bits')) lib = `fn tsr_f32_bits(b: u32) -> f32 { return bitcast<f32>(b); }\n${lib}`;
    const W = em.W;
    const code = [
      `// ${ir.name} ${ir.key}: generated by @tessera/device (tile IR → WGSL), ${W} invocations per program`,
      uni.decl,
      ...decls,
      lib,
      TILE_HELPERS,
      '',
      `@compute @workgroup_size(${W}, 1, 1)`,
      'fn main(@builtin(local_invocation_index) lidx: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {',
      ...geometryPrologue(),
      '  let lid = i32(lidx);',
      // Zero, but not known to the shader compiler (lin ≥ 0): keeps compensated sums from being simplified away.
      '  tt_zero = select(0u, 1u, lin < 0i);',
      // Every binding is used, so a pipeline's 'auto' layout keeps them all.
      ...bindings
        .filter((b) => b.kind !== 'uniform')
        .map((b) =>
          b.kind === 'buffer'
            ? `  _ = &b_${b.name};`
            : b.kind === 'arrays'
              ? '  _ = &arrs;'
              : b.kind === 'fault'
                ? '  _ = &fault;'
                : '  _ = &scratch;',
        ),
      ...(scratchWords > 0 ? [`  let sb = (lin - params.pid_base) * ${scratchWords}i;`] : []),
      ...em.privDecls.map((d) => `  ${d}`),
      ...em.lines,
      '}',
      '',
    ].join('\n');
    return {
      code,
      entryPoint: 'main',
      workgroupSize: [W, 1, 1],
      bindings,
      sites: this.sites,
      features: [],
      workgroupBytes: em.wgWords * 4,
    };
  }

  // ------------------------------------------------------------------------------------------- regions

  /** Emits a region's ops up to its terminator; returns the terminator. */
  private region(r: Region): Op | undefined {
    for (const op of r.ops) {
      if (op.opcode === 'scf.yield' || op.opcode === 'scf.condition') return op;
      this.op(op);
      this.em.freeAfter(op);
    }
    return undefined;
  }

  private defineScalar(v: Value, expr: string): void {
    const n = `sv_${v.id}`;
    this.em.emit(`let ${n} = ${expr};`);
    this.em.scalars.set(v, n);
  }

  private op(op: Op): void {
    const { em } = this;
    const o = op.operands;
    const a = op.attrs;
    if (LAZY_OPS.has(op.opcode)) {
      if (em.plan.lazy.has(op.result)) {
        em.reps.set(op.result, { kind: 'lazy' });
        return;
      }
      // A materialized elementwise op.
      em.reps.set(op.result, { kind: 'lazy' });
      const lazyView = op.result;
      const out = em.alloc(sizeOf(shapeOf(lazyView)), dtypeOf(lazyView), em.plan.shared.has(lazyView));
      em.sync({ reads: op.operands, writes: [out] });
      em.forEachOwned(sizeOf(shapeOf(lazyView)), (e, j) => {
        em.writeAt(out, e, j, em.lazy(op, new Idx(shapeOf(lazyView), e), j));
      });
      em.reps.set(lazyView, out);
      em.owners.set(lazyView, out);
      return;
    }
    switch (op.opcode) {
      case 'const':
        return;
      case 's.binary':
        this.defineScalar(op.result, scalarBinary(this.scalarHost, op));
        return;
      case 's.unary':
        this.defineScalar(op.result, scalarUnary(this.scalarHost, op));
        return;
      case 's.select':
        this.defineScalar(op.result, scalarSelect(this.scalarHost, op));
        return;
      case 'prog.id':
        this.defineScalar(op.result, `pid.${AXES[a.axis as number]}`);
        return;
      case 'prog.num':
        this.defineScalar(op.result, `params.grid_${AXES[a.axis as number]}`);
        return;
      case 'arr.get': {
        const name = this.arrays.get(o[0]!)!;
        const w = `tt_arr(params.ao_${name}, params.al_${name}, ${em.scalar(o[1]!, 'int')})`;
        this.defineScalar(op.result, em.kind(op.result) === 'float' ? `bitcast<f32>(${w})` : `bitcast<i32>(${w})`);
        return;
      }
      case 'arr.len':
        this.defineScalar(op.result, `params.al_${this.arrays.get(o[0]!)!}`);
        return;
      case 'buf.len':
        this.defineScalar(op.result, `params.len_${this.mem.buf(o[0]!).name}`);
        return;
      case 'trap': {
        const site = this.site({ kind: 'trap', op: 'trap', name: '', message: a.message as string });
        em.emit(`if (lid == 0i) { ${recordFault(site, '0')} }`);
        em.emit('return;');
        return;
      }
      case 'scf.if':
        this.ifOp(op);
        return;
      case 'scf.for':
        this.forOp(op);
        return;
      case 'scf.while':
        this.whileOp(op);
        return;
      case 'mem.load':
        this.mem.load(op);
        return;
      case 'mem.store':
        this.mem.store(op);
        return;
      case 'mem.atomic':
        this.mem.atomic(op);
        return;
      case 'mem.view':
        this.mem.view(op);
        return;
      case 'mem.load_block':
        this.mem.loadBlock(op);
        return;
      case 'mem.store_block':
        this.mem.storeBlock(op);
        return;
      case 'tile.dot':
        emitDot(em, op);
        return;
      case 'tile.reduce':
        emitReduce(em, op);
        return;
      case 'tile.cumsum':
        emitCumsum(em, op);
        return;
      case 'tile.sort':
        emitSort(em, op);
        return;
      default:
        em.refuse(
          `the op ${op.opcode}${op.loc ? ` (\`${op.loc.snippet}\`)` : ''} is not lowered to WGSL`,
          'Run the kernel on a CPU back end.',
        );
        return;
    }
  }

  // --------------------------------------------------------------------------------------- control flow

  /** Copies tile `v` into storage `s` (same shape), element by element. */
  private copyInto(s: Storage, v: Value): void {
    const { em } = this;
    if (em.reps.get(v) === s) return;
    const shape = shapeOf(v);
    em.sync({ reads: [v], writes: [s] });
    em.forEachOwned(sizeOf(shape), (e, j) => em.writeAt(s, e, j, em.at(v, new Idx(shape, e), j)));
  }

  private copyStorage(dst: Storage, src: Storage, size: number): void {
    const { em } = this;
    em.sync({ readsStorage: [src], writes: [dst] });
    em.forEachOwned(size, (e, j) => em.writeAt(dst, e, j, em.readAt(src, e, j)));
  }

  /** Storage (or a WGSL var, for scalars) for each value of a carried group. */
  private carry(group: Value[], owner: Value | null): { storage?: Storage; scalar?: string } {
    const { em } = this;
    const v = group[0]!;
    if (v.type.kind === 'tile') {
      const s = em.alloc(sizeOf(v.type.shape), v.type.dtype, em.plan.shared.has(v));
      for (const g of group) em.reps.set(g, s);
      if (owner) em.owners.set(owner, s);
      return { storage: s };
    }
    const k = em.kind(v);
    const name = em.id('cv');
    em.emit(`var ${name}: ${k === 'float' ? 'f32' : k === 'int' ? 'i32' : 'bool'};`);
    for (const g of group) em.scalars.set(g, name);
    return { scalar: name };
  }

  /**
   * Assigns `values` to carried slots `targets` as a parallel assignment: tile values that read a target (directly
   * or through lazy ops) go through temporaries first.
   */
  private assign(targets: { storage?: Storage; scalar?: string }[], values: Value[]): void {
    const { em } = this;
    const targetStorage = new Set(targets.map((t) => t.storage).filter((s): s is Storage => !!s));
    const temps: Storage[] = [];
    const plan: (() => void)[] = [];
    const scalarTemps: [string, string][] = [];
    values.forEach((v, i) => {
      const t = targets[i]!;
      if (t.scalar) {
        const k = em.kind(v);
        const tmp = em.id('y');
        em.emit(`let ${tmp} = ${em.scalar(v, k)};`);
        scalarTemps.push([t.scalar, tmp]);
        return;
      }
      const s = t.storage!;
      if (em.reps.get(v) === s) return;
      const leaves = em.leaves([v]);
      const conflicts =
        [...leaves].some((l) => targetStorage.has(l) && l !== s) || (leaves.has(s) && em.reps.get(v) !== s);
      if (!conflicts) {
        plan.push(() => this.copyInto(s, v));
        return;
      }
      const tmp = em.allocLike(s, dtypeOf(v));
      temps.push(tmp);
      this.copyInto(tmp, v);
      plan.push(() => this.copyStorage(s, tmp, sizeOf(shapeOf(v))));
    });
    for (const p of plan) p();
    for (const [name, tmp] of scalarTemps) em.emit(`${name} = ${tmp};`);
    for (const t of temps) em.free(t);
  }

  private ifOp(op: Op): void {
    const { em } = this;
    const targets = carryGroups(op).map((g) => this.carry(g, g[0]!));
    const start = Emitter.copyFlags(em.flags);
    let thenFlags = start;
    em.block(`if (${em.scalar(op.operands[0]!, 'bool')}) `, () => {
      const y = this.region(op.regions[0]!);
      if (y) this.assign(targets, y.operands);
      thenFlags = em.flags;
    });
    em.flags = Emitter.copyFlags(start);
    const elseRegion = op.regions[1];
    if (elseRegion?.ops.some((x) => x.opcode !== 'scf.yield' || x.operands.length)) {
      em.lines.pop();
      em.block('} else ', () => {
        const y = this.region(elseRegion);
        if (y) this.assign(targets, y.operands);
      });
    }
    em.flags = Emitter.merge(em.flags, thenFlags);
  }

  private forOp(op: Op): void {
    const { em } = this;
    const [lo, hi, step] = op.operands as [Value, Value, Value];
    const body = op.regions[0]!;
    const ivArg = body.args[0]!;
    const ivKind = em.kind(ivArg);
    const groups = carryGroups(op);
    const targets = groups.map((g) => this.carry(g, g[0]!));
    this.assign(targets, op.operands.slice(3));
    if (em.dirty()) em.barrier();
    const iv = em.id('iv');
    const T = ivKind === 'float' ? 'f32' : 'i32';
    em.emit(`var ${iv}: ${T} = ${em.scalar(lo, ivKind)};`);
    const hiE = em.scalar(hi, ivKind);
    const stepE = em.scalar(step, ivKind);
    em.block('loop ', () => {
      em.emit(`if (!(${iv} < ${hiE})) { break; }`);
      em.scalars.set(ivArg, iv);
      const y = this.region(body);
      if (y) this.assign(targets, y.operands);
      if (em.dirty()) em.barrier();
      em.emit(`${iv} = ${iv} + ${stepE};`);
    });
  }

  private whileOp(op: Op): void {
    const { em } = this;
    const [before, after] = op.regions as [Region, Region];
    const groups = carryGroups(op);
    const nState = before.args.length;
    const state = groups.slice(0, nState).map((g) => this.carry(g, null));
    const results = groups.slice(nState).map((g) => this.carry(g, g[0]!));
    this.assign(state, op.operands);
    if (em.dirty()) em.barrier();
    let exitFlags = Emitter.copyFlags(em.flags);
    em.block('loop ', () => {
      const cond = this.region(before);
      if (cond?.opcode !== 'scf.condition') em.internal('a while loop without scf.condition');
      const [c, ...vals] = cond!.operands;
      this.assign(results, vals);
      exitFlags = Emitter.copyFlags(em.flags);
      em.emit(`if (!(${em.scalar(c!, 'bool')})) { break; }`);
      const y = this.region(after);
      if (y) this.assign(state, y.operands);
      if (em.dirty()) em.barrier();
    });
    em.flags = exitFlags;
    for (const s of state) if (s.storage) em.free(s.storage);
  }
}

/** The WGSL of a tile kernel's IR (see the module comment; abi.ts for the bindings and the fault record). */
export function tileToWgsl(ir: KernelIR, opts: TileToWgslOptions): WgslProgram {
  return new TileLowering(ir, opts).run();
}
