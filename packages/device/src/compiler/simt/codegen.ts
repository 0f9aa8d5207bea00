/**
 * SIMT → JavaScript: a block's threads run together between barriers ("thread-loop fission", as MCUDA and POCL
 * compile CUDA for CPUs). The IR is one thread's program; its regions are cut at barriers into segments, and each
 * segment becomes one loop over the block's threads (x fastest, in CUDA's linear thread order, so races resolve the
 * same way). Values that live across a barrier are kept per thread (typed arrays indexed by the thread); control flow
 * that contains a barrier is block-uniform (the verifier refused anything else), so it runs once per block around the
 * thread loops, reading its bounds from thread 0.
 *
 * Memory accesses check their bounds inline (a fault names the kernel, block, thread, buffer or shared array and
 * index, as before); shared arrays are plain typed arrays (f16/bf16 as their bits), zeroed for each block.
 *
 * Warp intrinsics (`simt.shfl`, `simt.vote`, `simt.redux`, `simt.syncwarp`) are cut points like barriers: the thread
 * loop before one leaves every thread's operands in per-thread arrays, the intrinsic runs at block level warp by warp
 * (runtime `rt.warp`), and the thread loop after it reads each thread's result. Unlike barriers they may sit under
 * control flow that differs between threads, so in a kernel that has any, control flow around cut points runs
 * predicated: each level keeps a per-thread flag of the threads that are on it (`if` sides run one after the other,
 * loops run in lock step until no thread is left in them), and a thread loop skips the threads that are not. Kernels
 * without warp intrinsics are generated exactly as before.
 */
import { DTYPE_INFO, type DType, isFloat } from '../../dtype/dtype';
import { type KernelIR, type Op, type Region, type Value, WARP_OPS, walk } from '../ir';
import { SCALAR_BINARY_JS, SCALAR_UNARY_JS } from '../scalar-math';
import { WARP_WHAT, type WarpRuntime, type WarpSite } from './warp';

/** What a compiled SIMT kernel runs on: device memory and arguments as plain arrays (a worker can hold them). */
export interface SimtLaunch {
  grid: readonly [number, number, number];
  /** Storage views of the buffer parameters, in parameter order. */
  buffers: ArrayLike<number>[];
  /** Their lengths in elements. */
  lengths: number[];
  /** Runtime scalar parameters, in parameter order. */
  scalars: number[];
  /** Host-array parameters, in parameter order. */
  arrays: (readonly number[])[];
}

export interface SimtProgram {
  source: string;
  /** Runs blocks [start, end) (linear index, x fastest) of the grid. */
  run(start: number, end: number, launch: SimtLaunch): void;
}

/** Runtime support the generated code calls (faults and conversions); supplied by the launch integration. */
export interface SimtRuntime {
  decode: Record<string, ((bits: number) => number) | null>;
  encode: Record<string, ((x: number) => number) | null>;
  castScalar(x: number, dtype: string): number;
  globalFault(op: string, buffer: number, index: number, block: number[], thread: number[]): never;
  sharedFault(
    op: string,
    name: string,
    dtype: string,
    length: number,
    index: unknown,
    block: number[],
    thread: number[],
  ): never;
  badValue(op: string, buffer: number, index: number, value: unknown, block: number[], thread: number[]): never;
  trap(message: string, block: number[], thread: number[], name?: string): never;
  /** Warp intrinsics over one block's per-thread arrays (compiler/simt/warp.ts). */
  warp: WarpRuntime;
}

const BINARY_JS: Record<string, string> = {
  '+': '+',
  '-': '-',
  '*': '*',
  '/': '/',
  '%': '%',
  '**': '**',
  '<': '<',
  '<=': '<=',
  '>': '>',
  '>=': '>=',
  '===': '===',
  '!==': '!==',
  '&': '&',
  '|': '|',
  '^': '^',
  '<<': '<<',
  '>>': '>>',
  '>>>': '>>>',
  '&&': '&&',
  '||': '||',
};

function containsBarrier(op: Op): boolean {
  let found = false;
  for (const r of op.regions)
    walk(r, (o) => {
      if (o.opcode === 'simt.barrier') found = true;
    });
  return found;
}

/** Whether `op`'s regions hold a cut point: a barrier or a warp intrinsic. */
function containsCut(op: Op): boolean {
  let found = false;
  for (const r of op.regions)
    walk(r, (o) => {
      if (o.opcode === 'simt.barrier' || WARP_OPS.has(o.opcode)) found = true;
    });
  return found;
}

/** Where an op came from, for warp faults: `file.ts:12 — in \`k.shfl(…)\``. */
function siteOf(op: Op): string {
  const loc = op.loc;
  if (!loc) return '';
  const file = loc.file?.split(/[\\/]/).slice(-2).join('/');
  return `${loc.line ? `${file}:${loc.line} ` : ''}— in \`${loc.snippet}\``;
}

class Gen {
  private readonly lines: string[] = [];
  private indent = '';
  private readonly names = new Map<Value, string>();
  /** Values kept per thread (an array indexed by the thread) because they cross a barrier. */
  private readonly perThread = new Set<Value>();
  /** Values held as block-level variables (induction variables of block-level loops). */
  private readonly blockLevel = new Set<Value>();
  private readonly segmentOf = new Map<Value, number>();
  private segment = -1;
  private nextSegment = 0;
  private readonly params = new Map<
    Value,
    { kind: 'buffer' | 'scalar' | 'array'; index: number; dtype?: DType; name: string }
  >();
  private readonly shared = new Map<Value, { name: string; dtype: string; length: number; view: string }>();
  private readonly threads: number;
  /** The kernel has warp intrinsics: control flow around cut points runs predicated (see the file's comment). */
  private readonly warp: boolean;
  /** … and early returns (`simt.exit`): `EX[t]` marks the threads that have exited. */
  private readonly exits: boolean;
  private readonly warpSize: number;
  /** The current predicate: a per-thread flag array of the threads on this path (null: every thread). */
  private pred: string | null = null;
  private nextPred = 0;
  /** Declarations made while generating, placed before the block loop (predicates, warp sites). */
  private readonly hoisted: string[] = [];

  constructor(
    private readonly ir: KernelIR,
    private readonly block: readonly [number, number, number],
    private readonly dynamicSharedBytes: number,
  ) {
    this.threads = block[0] * block[1] * block[2];
    this.warpSize = ir.warpSize ?? 32;
    let warp = false;
    let exits = false;
    walk(ir.body, (op) => {
      if (WARP_OPS.has(op.opcode)) warp = true;
      else if (op.opcode === 'simt.exit') exits = true;
    });
    this.warp = warp;
    this.exits = warp && exits;
    let b = 0;
    let s = 0;
    let a = 0;
    for (const p of ir.params) {
      if (!p.value) continue;
      const t = p.value.type;
      if (t.kind === 'buffer') this.params.set(p.value, { kind: 'buffer', index: b++, dtype: t.dtype, name: p.name });
      else if (t.kind === 'array') this.params.set(p.value, { kind: 'array', index: a++, name: p.name });
      else this.params.set(p.value, { kind: 'scalar', index: s++, name: p.name });
    }
  }

  private emit(line: string): void {
    this.lines.push(this.indent + line);
  }

  private name(v: Value): string {
    let n = this.names.get(v);
    if (!n) {
      n = `v${v.id}`;
      this.names.set(v, n);
    }
    return n;
  }

  /** An operand as an expression inside the current thread loop (or at block level). */
  private ref(v: Value): string {
    const p = this.params.get(v);
    if (p) return p.kind === 'scalar' ? `s${p.index}` : p.kind === 'buffer' ? `B${p.index}` : `A${p.index}`;
    const sh = this.shared.get(v);
    if (sh) return sh.view;
    if (v.def?.opcode === 'const') return literal(v.def.attrs.value as number | boolean);
    if (this.blockLevel.has(v)) return this.name(v);
    if (this.perThread.has(v)) return this.segment >= 0 ? `${this.name(v)}[t]` : `${this.name(v)}[0]`;
    return this.name(v);
  }

  /** Whether `op` must run at block level: it holds a barrier (or, in a kernel with warp intrinsics, one of them). */
  private cuts(op: Op): boolean {
    return this.warp ? containsCut(op) : containsBarrier(op);
  }

  /** Where results must go: per-thread arrays for values used outside the segment that defines them. */
  private planHomes(): void {
    // Assign each op (and so its results) to a segment: ops at block level between barriers share one; ops nested
    // in barrier-free control flow belong to the enclosing segment.
    const uses = new Map<Value, Set<number>>();
    const note = (v: Value, seg: number) => {
      let s = uses.get(v);
      if (!s) uses.set(v, (s = new Set()));
      s.add(seg);
    };
    let seg = 0;
    const inThread = (region: Region, s: number) => {
      for (const op of region.ops) {
        for (const v of op.operands) note(v, s);
        for (const r of op.results) this.segmentOf.set(r, s);
        for (const r of op.regions) {
          for (const a of r.args) this.segmentOf.set(a, s);
          inThread(r, s);
        }
      }
    };
    const atBlock = (region: Region) => {
      seg++;
      for (const op of region.ops) {
        if (op.opcode === 'simt.barrier') {
          seg++;
          continue;
        }
        if (this.warp && WARP_OPS.has(op.opcode)) {
          // A warp intrinsic runs at block level on every thread's operands and leaves every thread's result.
          for (const v of op.operands) note(v, -1);
          for (const r of op.results) this.perThread.add(r);
          seg++;
          continue;
        }
        if (op.regions.length && this.cuts(op)) {
          // Block-level control: its operands are read at block level (-1); regions start new segments.
          for (const v of op.operands) note(v, -1);
          for (const r of op.results) this.perThread.add(r);
          for (const r of op.regions) {
            r.args.forEach((a, i) => {
              if (op.opcode === 'scf.for' && i === 0 && !this.warp) this.blockLevel.add(a);
              else this.perThread.add(a);
            });
            atBlock(r);
            const term = r.ops[r.ops.length - 1];
            if (term) for (const v of term.operands) note(v, seg);
            // A while's condition is read at block level, after the thread loops of its first region.
            if (term?.opcode === 'scf.condition') note(term.operands[0]!, -1);
          }
          seg++;
          continue;
        }
        for (const v of op.operands) note(v, seg);
        for (const r of op.results) this.segmentOf.set(r, seg);
        for (const r of op.regions) {
          for (const a of r.args) this.segmentOf.set(a, seg);
          inThread(r, seg);
        }
      }
    };
    atBlock(this.ir.body);
    for (const [v, segs] of uses) {
      if (this.perThread.has(v) || this.blockLevel.has(v) || this.params.has(v) || v.def?.opcode === 'const') continue;
      if (v.type.kind === 'shared') continue;
      const home = this.segmentOf.get(v);
      for (const s of segs) if (s !== home) this.perThread.add(v);
    }
  }

  generate(): string {
    this.planHomes();
    const [bx, by] = this.block;
    this.emit(`const T = ${this.threads};`);
    this.emit('return function run(b0, b1, launch) {');
    this.indent = '  ';
    this.emit('const [gx, gy, gz] = launch.grid;');
    for (const [, p] of this.params) {
      if (p.kind === 'buffer')
        this.emit(`const B${p.index} = launch.buffers[${p.index}], L${p.index} = launch.lengths[${p.index}];`);
      else if (p.kind === 'scalar') this.emit(`const s${p.index} = launch.scalars[${p.index}];`);
      else this.emit(`const A${p.index} = launch.arrays[${p.index}];`);
    }
    // Shared memory: static arrays and the dynamic area, one set reused by every block.
    for (const s of this.ir.shared) {
      const t = s.value.type as { dtype: string; length: number };
      const view = `SH_${s.name.replace(/\W/g, '_')}`;
      this.shared.set(s.value, { name: s.name, dtype: t.dtype, length: t.length, view });
      this.emit(`const ${view} = new ${arrayType(t.dtype)}(${t.length});`);
    }
    if (this.dynamicSharedBytes > 0)
      this.emit(`const DYN = new ArrayBuffer(${this.dynamicSharedBytes}), DYN8 = new Uint8Array(DYN);`);
    walk(this.ir.body, (op) => {
      if (op.opcode === 'simt.dynamic_shared') {
        const { dtype, offset, length } = op.attrs as { dtype: string; offset: number; length: number };
        const view = `DS${op.result.id}`;
        this.shared.set(op.result, { name: `dynamicShared(${dtype}, ${offset})`, dtype, length, view });
        this.emit(`const ${view} = new ${arrayType(dtype)}(DYN, ${offset}, ${length});`);
      }
      if (op.opcode === 'simt.shared_view') {
        const base = this.shared.get(op.operands[0]!)!;
        const { offset, length } = op.attrs as { offset: number; length: number };
        const view = `DS${op.result.id}`;
        this.shared.set(op.result, {
          name: `${base.name}.subarray(${offset}, ${offset + length})`,
          dtype: base.dtype,
          length,
          view,
        });
        this.emit(`const ${view} = ${base.view}.subarray(${offset}, ${offset + length});`);
      }
    });
    for (const v of this.perThread) this.emit(`const ${this.name(v)} = new Array(T);`);
    if (this.exits) this.emit('const EX = new Uint8Array(T);');
    const hoistAt = this.lines.length;
    this.emit('for (let blk = b0; blk < b1; blk++) {');
    this.indent = '    ';
    this.emit('const bx = blk % gx, by = Math.floor(blk / gx) % gy, bz = Math.floor(blk / (gx * gy));');
    for (const [, s] of this.shared) if (!s.view.startsWith('DS')) this.emit(`${s.view}.fill(0);`);
    if (this.dynamicSharedBytes > 0) this.emit('DYN8.fill(0);');
    if (this.exits) this.emit('EX.fill(0);');
    this.blockRegion(this.ir.body);
    this.indent = '  ';
    this.emit('}');
    this.lines.splice(hoistAt, 0, ...this.hoisted.map((l) => `  ${l}`));
    this.indent = '';
    this.emit('};');
    void bx;
    void by;
    return this.lines.join('\n');
  }

  /** A region that runs at block level: thread loops between barriers, block-level control around them. */
  private blockRegion(region: Region, onTerminator?: (term: Op) => void): void {
    let pending: Op[] = [];
    const flush = (extra?: () => void) => {
      if (!pending.length && !extra) return;
      this.threadLoop(pending, extra);
      pending = [];
    };
    for (let i = 0; i < region.ops.length; i++) {
      const op = region.ops[i]!;
      const last = i === region.ops.length - 1;
      if (last && (op.opcode === 'scf.yield' || op.opcode === 'scf.condition')) {
        flush(() => onTerminator?.(op));
        return;
      }
      if (op.opcode === 'simt.barrier') {
        flush();
        continue;
      }
      if (this.warp && WARP_OPS.has(op.opcode)) {
        flush();
        this.warpOp(op);
        continue;
      }
      if (op.opcode === 'const' || op.opcode === 'simt.dynamic_shared' || op.opcode === 'simt.shared_view') continue;
      if (op.regions.length && this.cuts(op)) {
        flush();
        if (this.warp) this.predicatedControl(op);
        else this.blockControl(op);
        continue;
      }
      pending.push(op);
    }
    flush();
  }

  private threadLoop(ops: Op[], extra?: () => void): void {
    const [bx, by] = this.block;
    this.segment = this.nextSegment++;
    this.localAlias.clear();
    this.emit('for (let t = 0; t < T; t++) {');
    const saved = this.indent;
    this.indent += '  ';
    if (this.pred) this.emit(`if (!${this.pred}[t]) continue;`);
    this.emit(`const tx = t % ${bx}, ty = Math.floor(t / ${bx}) % ${by}, tz = Math.floor(t / ${bx * by});`);
    for (const op of ops) this.threadOp(op);
    extra?.();
    this.indent = saved;
    this.emit('}');
    this.segment = -1;
    this.localAlias.clear();
  }

  /** Assigns op results: a local const, and the per-thread slot when the value crosses a barrier. */
  private define(v: Value, expr: string): void {
    const n = this.name(v);
    if (this.perThread.has(v)) {
      this.emit(`const ${n}_ = ${expr};`);
      this.emit(`${n}[t] = ${n}_;`);
      this.names.set(v, n);
      this.localAlias.set(v, `${n}_`);
    } else this.emit(`const ${n} = ${expr};`);
  }

  private readonly localAlias = new Map<Value, string>();

  private r(v: Value): string {
    if (this.segment >= 0) {
      const alias = this.localAlias.get(v);
      if (alias) return alias;
    }
    return this.ref(v);
  }

  private where(): string {
    return '[bx, by, bz], [tx, ty, tz]';
  }

  private threadOp(op: Op): void {
    const o = op.operands;
    switch (op.opcode) {
      case 'const':
        return;
      case 's.binary': {
        const k = op.attrs.op as string;
        const [a, b] = [this.r(o[0]!), this.r(o[1]!)];
        let e: string;
        if (BINARY_JS[k]) e = `(${a} ${BINARY_JS[k]} ${b})`;
        else if (SCALAR_BINARY_JS[k]) e = `${SCALAR_BINARY_JS[k]}(${a}, ${b})`;
        else throw new Error(`simt codegen: unknown scalar op ${k}`);
        this.define(op.result, e);
        return;
      }
      case 's.unary': {
        const k = op.attrs.op as string;
        const a = this.r(o[0]!);
        const fn = SCALAR_UNARY_JS[k];
        if (!fn && !['-', '+', '!', '~'].includes(k)) throw new Error(`simt codegen: unknown scalar op ${k}`);
        const e = fn ? `${fn}(${a})` : `(${k}${a})`;
        this.define(op.result, e);
        return;
      }
      case 's.select':
        this.define(op.result, `(${this.r(o[0]!)} ? ${this.r(o[1]!)} : ${this.r(o[2]!)})`);
        return;
      case 'simt.tid':
        this.define(op.result, ['tx', 'ty', 'tz'][op.attrs.axis as number]!);
        return;
      case 'simt.bid':
        this.define(op.result, ['bx', 'by', 'bz'][op.attrs.axis as number]!);
        return;
      case 'simt.gdim':
        this.define(op.result, ['gx', 'gy', 'gz'][op.attrs.axis as number]!);
        return;
      case 'simt.bdim':
        this.define(op.result, String(this.block[op.attrs.axis as number]));
        return;
      case 'arr.get':
        this.define(op.result, `${this.r(o[0]!)}[${this.r(o[1]!)}]`);
        return;
      case 'arr.len':
        this.define(op.result, `${this.r(o[0]!)}.length`);
        return;
      case 'buf.len':
        this.define(op.result, `L${this.params.get(o[0]!)!.index}`);
        return;
      case 'simt.load': {
        const p = this.params.get(o[0]!)!;
        const i = this.r(o[1]!);
        const dec = isFloat(p.dtype!) && p.dtype !== 'f32' ? `rt.decode.${p.dtype}` : null;
        this.emit(
          `if (!(Number.isInteger(${i}) && ${i} >= 0 && ${i} < L${p.index})) rt.globalFault('read', ${p.index}, ${i}, ${this.where()});`,
        );
        this.define(op.result, dec ? `${dec}(B${p.index}[${i}])` : `B${p.index}[${i}]`);
        return;
      }
      case 'simt.store': {
        const p = this.params.get(o[0]!)!;
        const i = this.r(o[1]!);
        const v = this.r(o[2]!);
        this.emit(
          `if (!(Number.isInteger(${i}) && ${i} >= 0 && ${i} < L${p.index})) rt.globalFault('write', ${p.index}, ${i}, ${this.where()});`,
        );
        this.emit(`if (typeof ${v} !== 'number') rt.badValue('set', ${p.index}, ${i}, ${v}, ${this.where()});`);
        this.emit(`B${p.index}[${i}] = ${this.encode(p.dtype!, `rt.castScalar(${v}, '${p.dtype}')`)};`);
        return;
      }
      case 'simt.atomic': {
        const p = this.params.get(o[0]!)!;
        const kind = op.attrs.kind as string;
        const i = this.r(o[1]!);
        const v = this.r(o[2]!);
        const name = kind === 'cas' ? 'atomicCAS' : `atomic${kind[0]!.toUpperCase()}${kind.slice(1)}`;
        this.emit(
          `if (!(Number.isInteger(${i}) && ${i} >= 0 && ${i} < L${p.index})) rt.globalFault('${name}', ${p.index}, ${i}, ${this.where()});`,
        );
        this.emit(`if (typeof ${v} !== 'number') rt.badValue('${name}', ${p.index}, ${i}, ${v}, ${this.where()});`);
        const dec = isFloat(p.dtype!) && p.dtype !== 'f32' ? `rt.decode.${p.dtype}` : null;
        const old = `${this.name(op.result)}_old`;
        this.emit(`const ${old} = ${dec ? `${dec}(B${p.index}[${i}])` : `B${p.index}[${i}]`};`);
        let next: string;
        if (kind === 'add') next = `${old} + ${v}`;
        else if (kind === 'max') next = `(${v} > ${old} ? ${v} : ${old})`;
        else if (kind === 'min') next = `(${v} < ${old} ? ${v} : ${old})`;
        else if (kind === 'exch') next = v;
        else {
          const cmp = this.r(o[3]!);
          this.emit(
            `if (typeof ${cmp} !== 'number') rt.badValue('atomicCAS', ${p.index}, ${i}, ${cmp}, ${this.where()});`,
          );
          next = `(${old} === ${cmp} ? ${v} : ${old})`;
        }
        this.emit(`B${p.index}[${i}] = ${this.encode(p.dtype!, `rt.castScalar(${next}, '${p.dtype}')`)};`);
        this.define(op.result, old);
        return;
      }
      case 'simt.shared_load': {
        const s = this.shared.get(o[0]!)!;
        const i = this.r(o[1]!);
        this.emit(
          `if (!(${i} >= 0 && ${i} < ${s.length} && (${i} | 0) === ${i})) rt.sharedFault('read', ${JSON.stringify(s.name)}, '${s.dtype}', ${s.length}, ${i}, ${this.where()});`,
        );
        this.define(op.result, halfDecode(s.dtype, `${s.view}[${i}]`));
        return;
      }
      case 'simt.shared_store': {
        const s = this.shared.get(o[0]!)!;
        const i = this.r(o[1]!);
        this.emit(
          `if (!(${i} >= 0 && ${i} < ${s.length} && (${i} | 0) === ${i})) rt.sharedFault('write', ${JSON.stringify(s.name)}, '${s.dtype}', ${s.length}, ${i}, ${this.where()});`,
        );
        this.emit(`${s.view}[${i}] = ${halfEncode(s.dtype, this.r(o[2]!))};`);
        return;
      }
      case 'simt.shared_fill': {
        const sh = this.shared.get(o[0]!)!;
        this.emit(`${sh.view}.fill(${halfEncode(sh.dtype, this.r(o[1]!))}, ${this.r(o[2]!)}, ${this.r(o[3]!)});`);
        return;
      }
      case 'simt.shared_atomic':
        this.sharedAtomic(op);
        return;
      case 'simt.exit':
        if (this.exits) this.emit('EX[t] = 1;');
        return;
      case 'simt.shared_view':
      case 'simt.dynamic_shared':
      case 'simt.flops':
        return;
      case 'trap':
        this.emit(
          `rt.trap(${JSON.stringify(op.attrs.message)}, ${this.where()}, ${JSON.stringify(op.attrs.name ?? 'Error')});`,
        );
        return;
      case 'scf.if':
        this.threadIf(op);
        return;
      case 'scf.for':
        this.threadFor(op);
        return;
      case 'scf.while':
        this.threadWhile(op);
        return;
      default:
        throw new Error(`simt codegen: op ${op.opcode} is not supported in SIMT kernels`);
    }
  }

  /**
   * `s.atomicAdd(i, v)` & co. on a shared array: the value converts to the element dtype first (as CUDA's typed
   * parameter does), the new element is computed and stored in the dtype's arithmetic (integers wrap, f16/bf16 round
   * once), the old value is the result. Threads of a block run one after another, so it is atomic by construction.
   */
  private sharedAtomic(op: Op): void {
    const o = op.operands;
    const s = this.shared.get(o[0]!)!;
    const kind = op.attrs.kind as string;
    const i = this.r(o[1]!);
    const n = this.name(op.result);
    const name = kind === 'cas' ? 'atomicCAS' : `atomic${kind[0]!.toUpperCase()}${kind.slice(1)}`;
    this.emit(
      `if (!(${i} >= 0 && ${i} < ${s.length} && (${i} | 0) === ${i})) rt.sharedFault('${name}', ${JSON.stringify(s.name)}, '${s.dtype}', ${s.length}, ${i}, ${this.where()});`,
    );
    const conv = (x: string): string => {
      switch (s.dtype) {
        case 'f32':
          return `Math.fround(${x})`;
        case 'f16':
        case 'bf16':
          return `rt.castScalar(${x}, '${s.dtype}')`;
        case 'i32':
          return `(${x} | 0)`;
        case 'u32':
          return `(${x} >>> 0)`;
        case 'i16':
          return `((${x} << 16) >> 16)`;
        case 'i8':
          return `((${x} << 24) >> 24)`;
        default:
          return `(${x} & 255)`;
      }
    };
    const half = s.dtype === 'f16' || s.dtype === 'bf16';
    const old = `${n}_old`;
    const val = `${n}_v`;
    this.emit(`const ${old} = ${halfDecode(s.dtype, `${s.view}[${i}]`)}, ${val} = ${conv(this.r(o[2]!))};`);
    let next: string;
    if (kind === 'add') next = s.dtype === 'f32' || half ? `${old} + ${val}` : `${old} + ${val}`;
    else if (kind === 'max') next = `(${val} > ${old} ? ${val} : ${old})`;
    else if (kind === 'min') next = `(${val} < ${old} ? ${val} : ${old})`;
    else if (kind === 'exch') next = val;
    else {
      // Compare-and-swap compares the stored element with `compare` converted to the dtype, bit for bit (floats:
      // Object.is, so −0 and +0 differ and NaN equals NaN).
      const cmp = conv(this.r(o[3]!));
      next = `(${s.dtype === 'f32' || half ? `Object.is(${old}, ${cmp})` : `${old} === ${cmp}`} ? ${val} : ${old})`;
    }
    // Integers wrap on the typed-array store; floats round to the dtype (f32 by the Float32Array, f16/bf16 by encode).
    this.emit(`${s.view}[${i}] = ${halfEncode(s.dtype, next)};`);
    this.define(op.result, old);
  }

  // ------------------------------------------------------------------------------------------------- warps

  /** An operand of a block-level op: a literal, a scalar parameter, or a per-thread array (indexed by the runtime). */
  private blockArg(v: Value): string {
    const p = this.params.get(v);
    if (p) {
      if (p.kind !== 'scalar') throw new Error(`simt codegen: a ${p.kind} cannot be a warp intrinsic's operand`);
      return `s${p.index}`;
    }
    if (v.def?.opcode === 'const') return literal(v.def.attrs.value as number | boolean);
    if (this.perThread.has(v)) return this.name(v);
    throw new Error(`simt codegen: %${v.id} is not available at block level`);
  }

  /** A warp intrinsic, at block level between two thread loops: `rt.warp` runs it warp by warp over the block. */
  private warpOp(op: Op): void {
    const a = op.attrs;
    const kind =
      op.opcode === 'simt.shfl' ? (a.mode as string) : op.opcode === 'simt.syncwarp' ? 'sync' : (a.kind as string);
    const site: WarpSite = {
      what: op.opcode === 'simt.syncwarp' ? 'k.syncwarp' : WARP_WHAT[kind]!,
      site: siteOf(op),
      kind,
      width: (a.width as number | undefined) ?? this.warpSize,
      unsigned: a.unsigned === true,
      threads: this.threads,
      warpSize: this.warpSize,
      block: [...this.block],
    };
    const w = `W${op.result?.id ?? `s${this.nextPred++}`}`;
    this.hoisted.push(`const ${w} = ${JSON.stringify(site)};`);
    const ctx = `${w}, ${this.pred ?? 'null'}, ${this.exits ? 'EX' : 'null'}, [bx, by, bz]`;
    const args = op.operands.map((v) => this.blockArg(v));
    switch (op.opcode) {
      case 'simt.shfl':
        this.emit(`rt.warp.shfl(${ctx}, ${args[0]}, ${args[1]}, ${args[2]}, ${this.name(op.result)});`);
        return;
      case 'simt.vote':
        if (kind === 'active') this.emit(`rt.warp.vote(${ctx}, 0, true, ${this.name(op.result)});`);
        else this.emit(`rt.warp.vote(${ctx}, ${args[0]}, ${args[1]}, ${this.name(op.result)});`);
        return;
      case 'simt.redux':
        this.emit(`rt.warp.redux(${ctx}, ${args[0]}, ${args[1]}, ${this.name(op.result)});`);
        return;
      case 'simt.syncwarp':
        this.emit(`rt.warp.sync(${ctx}, ${args[0]});`);
        return;
    }
  }

  /** A fresh per-thread flag array, allocated once before the block loop. */
  private newPred(): string {
    const n = `PR${this.nextPred++}`;
    this.hoisted.push(`const ${n} = new Uint8Array(T);`);
    return n;
  }

  /**
   * Block-level control in a kernel with warp intrinsics: the condition or bounds may differ between threads, so each
   * region runs under a predicate — the threads that are on it. `if`: the threads of the `then` side, then those of the
   * `else` side (a side no thread takes is skipped). Loops: in lock step, one iteration of every thread still in the
   * loop at a time, until none is left.
   */
  private predicatedControl(op: Op): void {
    const outer = this.pred;
    const saved = this.indent;
    const copyIn = (dst: readonly Value[], src: readonly Value[]) => this.copyIn(dst, src);
    const copyOut = (dst: readonly Value[]) => (term: Op) => this.copyOut(dst, term);
    const under = (pred: string, fn: () => void) => {
      this.pred = pred;
      try {
        fn();
      } finally {
        this.pred = outer;
      }
    };
    if (op.opcode === 'scf.if') {
      const [thenR, elseR] = op.regions as [Region, Region];
      const [pt, pe] = [this.newPred(), this.newPred()];
      const [at, ae] = [`${pt}a`, `${pe}a`];
      this.emit(`${pt}.fill(0); ${pe}.fill(0);`);
      this.emit(`let ${at} = false, ${ae} = false;`);
      this.threadLoop([], () => {
        this.emit(
          `if (${this.r(op.operands[0]!)}) { ${pt}[t] = 1; ${at} = true; } else { ${pe}[t] = 1; ${ae} = true; }`,
        );
      });
      for (const [flag, pred, region] of [
        [at, pt, thenR],
        [ae, pe, elseR],
      ] as const) {
        this.emit(`if (${flag}) {`);
        this.indent += '  ';
        under(pred, () => this.blockRegion(region, copyOut(op.results)));
        this.indent = saved;
        this.emit('}');
      }
      return;
    }
    if (op.opcode === 'scf.for') {
      const [lo, hi, step, ...inits] = op.operands;
      const body = op.regions[0]!;
      const [iv, ...iters] = body.args;
      copyIn([iv!, ...iters], [lo!, ...inits]);
      const pl = this.newPred();
      const any = `${pl}a`;
      this.emit('for (;;) {');
      this.indent += '  ';
      this.emit(`${pl}.fill(0);`);
      this.emit(`let ${any} = false;`);
      this.threadLoop([], () => {
        this.emit(`if (${this.r(iv!)} < ${this.r(hi!)}) { ${pl}[t] = 1; ${any} = true; }`);
      });
      this.emit(`if (!${any}) break;`);
      under(pl, () =>
        this.blockRegion(body, (term) => {
          copyOut(iters)(term);
          this.emit(`${this.name(iv!)}[t] += ${this.r(step!)};`);
        }),
      );
      this.indent = saved;
      this.emit('}');
      op.results.forEach((r, i) => {
        this.names.set(r, this.name(iters[i]!));
      });
      return;
    }
    if (op.opcode === 'scf.while') {
      const [before, after] = op.regions as [Region, Region];
      copyIn(before.args, op.operands);
      const pw = this.newPred();
      const any = `${pw}a`;
      this.emit(`${pw}.fill(0);`);
      this.threadLoop([], () => {
        this.emit(`${pw}[t] = 1;`);
      });
      this.emit('for (;;) {');
      this.indent += '  ';
      under(pw, () =>
        this.blockRegion(before, (term) => {
          copyOut(after.args)(term);
          this.emit(`if (!(${this.r(term.operands[0]!)})) ${pw}[t] = 0;`);
        }),
      );
      this.emit(`let ${any} = false;`);
      this.emit(`for (let t = 0; t < T; t++) if (${pw}[t]) { ${any} = true; break; }`);
      this.emit(`if (!${any}) break;`);
      under(pw, () => this.blockRegion(after, copyOut(before.args)));
      this.indent = saved;
      this.emit('}');
      op.results.forEach((r, i) => {
        this.names.set(r, this.name(after.args[i]!));
      });
      return;
    }
    throw new Error(`simt codegen: ${op.opcode} cannot contain a barrier or a warp intrinsic`);
  }

  private encode(dtype: DType, expr: string): string {
    return isFloat(dtype) && dtype !== 'f32' ? `rt.encode.${dtype}(${expr})` : expr;
  }

  /** Results of a structured op inside a thread loop: `let` variables the regions assign. */
  private declareResults(op: Op): string[] {
    return op.results.map((r) => {
      const n = this.perThread.has(r) ? `${this.name(r)}_` : this.name(r);
      this.emit(`let ${n};`);
      if (this.perThread.has(r)) this.localAlias.set(r, n);
      return n;
    });
  }

  private storeResults(op: Op): void {
    for (const r of op.results) if (this.perThread.has(r)) this.emit(`${this.name(r)}[t] = ${this.name(r)}_;`);
  }

  private threadRegion(region: Region, onTerminator: (term: Op) => void): void {
    for (const op of region.ops) {
      if (op === region.ops[region.ops.length - 1] && (op.opcode === 'scf.yield' || op.opcode === 'scf.condition')) {
        onTerminator(op);
        return;
      }
      this.threadOp(op);
    }
  }

  private threadIf(op: Op): void {
    const outs = this.declareResults(op);
    const [thenR, elseR] = op.regions as [Region, Region];
    const assign = (term: Op) =>
      term.operands.forEach((v, i) => {
        this.emit(`${outs[i]} = ${this.r(v)};`);
      });
    this.emit(`if (${this.r(op.operands[0]!)}) {`);
    const saved = this.indent;
    this.indent += '  ';
    this.threadRegion(thenR, assign);
    this.indent = saved;
    this.emit('} else {');
    this.indent += '  ';
    this.threadRegion(elseR, assign);
    this.indent = saved;
    this.emit('}');
    this.storeResults(op);
  }

  private threadFor(op: Op): void {
    const [lo, hi, step, ...inits] = op.operands;
    const body = op.regions[0]!;
    const [iv, ...iters] = body.args;
    const outs = this.declareResults(op);
    iters.forEach((a, i) => {
      this.emit(`let ${this.name(a)} = ${this.r(inits[i]!)};`);
    });
    this.emit(
      `for (let ${this.name(iv!)} = ${this.r(lo!)}; ${this.name(iv!)} < ${this.r(hi!)}; ${this.name(iv!)} += ${this.r(step!)}) {`,
    );
    const saved = this.indent;
    this.indent += '  ';
    this.threadRegion(body, (term) => {
      const tmp = term.operands.map((v, i) => {
        const n = `${this.name(iters[i]!)}_n`;
        this.emit(`const ${n} = ${this.r(v)};`);
        return n;
      });
      tmp.forEach((n, i) => {
        this.emit(`${this.name(iters[i]!)} = ${n};`);
      });
    });
    this.indent = saved;
    this.emit('}');
    iters.forEach((a, i) => {
      this.emit(`${outs[i]} = ${this.name(a)};`);
    });
    this.storeResults(op);
  }

  private threadWhile(op: Op): void {
    const [before, after] = op.regions as [Region, Region];
    const outs = this.declareResults(op);
    before.args.forEach((a, i) => {
      this.emit(`let ${this.name(a)} = ${this.r(op.operands[i]!)};`);
    });
    this.emit('for (;;) {');
    const saved = this.indent;
    this.indent += '  ';
    this.threadRegion(before, (cond) => {
      const [c, ...vals] = cond.operands;
      this.emit(`if (!(${this.r(c!)})) {`);
      vals.forEach((v, i) => {
        this.emit(`  ${outs[i]} = ${this.r(v)};`);
      });
      this.emit('  break;');
      this.emit('}');
      vals.forEach((v, i) => {
        this.emit(`const ${this.name(after.args[i]!)} = ${this.r(v)};`);
      });
    });
    this.threadRegion(after, (term) => {
      const tmp = term.operands.map((v, i) => {
        const n = `${this.name(before.args[i]!)}_n`;
        this.emit(`const ${n} = ${this.r(v)};`);
        return n;
      });
      tmp.forEach((n, i) => {
        this.emit(`${this.name(before.args[i]!)} = ${n};`);
      });
    });
    this.indent = saved;
    this.emit('}');
    this.storeResults(op);
  }

  /** Per-thread carried values of a structured op: each thread's `src` into the `dst` arrays, in one thread loop. */
  private copyIn(dst: readonly Value[], src: readonly Value[]): void {
    if (!dst.length) return;
    this.threadLoop([], () => {
      dst.forEach((d, i) => {
        this.emit(`${this.name(d)}[t] = ${this.r(src[i]!)};`);
      });
    });
  }

  /** A region's terminator (yield, or a while's condition) into the `dst` arrays, read first, then written. */
  private copyOut(dst: readonly Value[], term: Op): void {
    const vals = term.opcode === 'scf.condition' ? term.operands.slice(1) : term.operands;
    const tmp = vals.map((v, i) => {
      const n = `y${dst[i]!.id}_${this.segment}`;
      this.emit(`const ${n} = ${this.r(v)};`);
      return n;
    });
    tmp.forEach((n, i) => {
      this.emit(`${this.name(dst[i]!)}[t] = ${n};`);
    });
  }

  /** Block-level structured op (it contains a barrier): its condition or bounds are uniform; read thread 0's. */
  private blockControl(op: Op): void {
    const copyIn = (dst: readonly Value[], src: readonly Value[]) => this.copyIn(dst, src);
    const copyOut = (dst: readonly Value[]) => (term: Op) => this.copyOut(dst, term);
    const saved = this.indent;
    if (op.opcode === 'scf.if') {
      const [thenR, elseR] = op.regions as [Region, Region];
      this.emit(`if (${this.uniform(op.operands[0]!)}) {`);
      this.indent += '  ';
      this.blockRegion(thenR, copyOut(op.results));
      this.indent = saved;
      this.emit('} else {');
      this.indent += '  ';
      this.blockRegion(elseR, copyOut(op.results));
      this.indent = saved;
      this.emit('}');
      return;
    }
    if (op.opcode === 'scf.for') {
      const [lo, hi, step, ...inits] = op.operands;
      const body = op.regions[0]!;
      const [iv, ...iters] = body.args;
      copyIn(iters, inits);
      const n = this.name(iv!);
      this.emit(`for (let ${n} = ${this.uniform(lo!)}; ${n} < ${this.uniform(hi!)}; ${n} += ${this.uniform(step!)}) {`);
      this.indent += '  ';
      this.blockRegion(body, copyOut(iters));
      this.indent = saved;
      this.emit('}');
      // The results are the last iteration's values (the iter-arg arrays).
      op.results.forEach((r, i) => {
        this.names.set(r, this.name(iters[i]!));
      });
      return;
    }
    if (op.opcode === 'scf.while') {
      const [before, after] = op.regions as [Region, Region];
      copyIn(before.args, op.operands);
      this.emit('for (;;) {');
      this.indent += '  ';
      let condValue: Value | null = null;
      this.blockRegion(before, (term) => {
        condValue = term.operands[0]!;
        copyOut(after.args)(term);
      });
      this.emit(`if (!(${this.uniform(condValue!)})) break;`);
      this.blockRegion(after, copyOut(before.args));
      this.indent = saved;
      this.emit('}');
      op.results.forEach((r, i) => {
        this.names.set(r, this.name(after.args[i]!));
      });
      return;
    }
    throw new Error(`simt codegen: ${op.opcode} cannot contain a barrier`);
  }

  /** A block-uniform value at block level: thread 0's copy (or the value itself when it is not per thread). */
  private uniform(v: Value): string {
    const saved = this.segment;
    this.segment = -1;
    try {
      return this.ref(v);
    } finally {
      this.segment = saved;
    }
  }
}

function arrayType(dtype: string): string {
  return {
    f32: 'Float32Array',
    f16: 'Uint16Array',
    bf16: 'Uint16Array',
    i32: 'Int32Array',
    u32: 'Uint32Array',
    i16: 'Int16Array',
    i8: 'Int8Array',
    u8: 'Uint8Array',
  }[dtype]!;
}

/** A shared element read: f16/bf16 arrays hold bits, decoded to the value. */
function halfDecode(dtype: string, expr: string): string {
  return dtype === 'f16' || dtype === 'bf16' ? `rt.decode.${dtype}(${expr})` : expr;
}

/** A shared element write: f16/bf16 values round to nearest even and are stored as bits. */
function halfEncode(dtype: string, expr: string): string {
  return dtype === 'f16' || dtype === 'bf16' ? `rt.encode.${dtype}(${expr})` : expr;
}

function literal(v: number | boolean): string {
  if (typeof v === 'boolean') return String(v);
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return 'Infinity';
  if (v === Number.NEGATIVE_INFINITY) return '-Infinity';
  if (Object.is(v, -0)) return '-0';
  return String(v);
}

/** The JavaScript source of the block runner of a SIMT kernel specialisation. */
export function simtSource(ir: KernelIR, block: readonly [number, number, number], dynamicSharedBytes: number): string {
  return new Gen(ir, block, dynamicSharedBytes).generate();
}

/** Compiles generated source against a runtime (on the launching thread or in a pool worker). */
export function instantiateSimt(source: string, rt: SimtRuntime): (b0: number, b1: number, launch: SimtLaunch) => void {
  return new Function('rt', source)(rt) as (b0: number, b1: number, launch: SimtLaunch) => void;
}

/** Generates and compiles the block runner of a SIMT kernel specialisation. */
export function generateSimt(
  ir: KernelIR,
  block: readonly [number, number, number],
  dynamicSharedBytes: number,
  rt: SimtRuntime,
): SimtProgram {
  const source = simtSource(ir, block, dynamicSharedBytes);
  return { source, run: instantiateSimt(source, rt) };
}

export { DTYPE_INFO };
