/**
 * SIMT IR → WGSL (the first piece of the WebGPU back end, issue 13). A SIMT kernel's IR is one thread's program, and
 * so is a WGSL compute entry point: a block is a workgroup (`@workgroup_size` is the specialisation's block shape),
 * `simt.tid` / `simt.bid` / `simt.gdim` are `local_invocation_id` / `workgroup_id` / `num_workgroups`, shared arrays are
 * `var<workgroup>` arrays (zero-initialised, as the CPU back end zeroes them per block), `simt.barrier` is
 * `workgroupBarrier()` and global / shared atomics are WGSL atomics. Structured control flow maps to `if` and `loop`.
 *
 * Scalars: `int` → i32, `float` → f32, `bool` → bool. This is the one place the lowering is not JavaScript's number
 * semantics: float scalar arithmetic runs in f32 (not float64) and integer arithmetic wraps at 32 bits. u32 shared
 * elements are carried as their i32 bit pattern. Accesses are not bounds-checked (WGSL's robust buffer access clamps
 * or discards them): the CPU back ends are where faults are found.
 *
 * Refused, as `Unsupported` naming the construct: warp intrinsics (they need the adapter's `subgroups` feature; not
 * lowered yet), buffer dtypes other than f32 and i32, shared dtypes other than f32 / i32 / u32, atomics on f32 (WGSL
 * has no floating-point atomics), dynamic shared memory and shared views / fills, host-array parameters, `trap`, and
 * tile-kernel ops. Layout of the bindings: one storage buffer per buffer parameter (in parameter order), then one
 * uniform struct of the runtime scalars (4 bytes each, in parameter order), all in `@group(0)`.
 */
import { TesseraError } from '../../errors';
import type { KernelIR, Op, Region, Type, Value } from '../ir';
import { walk } from '../ir';

export interface WgslBufferBinding {
  kind: 'buffer';
  binding: number;
  /** The kernel parameter's name. */
  name: string;
  dtype: 'f32' | 'i32';
  /** `read` when the kernel never writes it. */
  access: 'read' | 'read_write';
  /** Declared `array<atomic<i32>>` (the kernel uses atomics on it). */
  atomic: boolean;
}

export interface WgslScalarField {
  name: string;
  type: 'i32' | 'f32';
  /** Byte offset in the uniform buffer. */
  offset: number;
}

export interface WgslUniformBinding {
  kind: 'uniform';
  binding: number;
  fields: WgslScalarField[];
  /** Bytes of the uniform buffer (a multiple of 16). */
  size: number;
}

export interface WgslProgram {
  code: string;
  entryPoint: 'main';
  workgroupSize: readonly [number, number, number];
  bindings: (WgslBufferBinding | WgslUniformBinding)[];
}

export interface SimtToWgslOptions {
  /** The block shape the IR was specialised for (becomes `@workgroup_size`). */
  block: readonly [number, number, number];
}

const AXES = ['x', 'y', 'z'];

function refuse(ir: KernelIR, what: string, hint?: string): never {
  throw new TesseraError('Unsupported', `WGSL lowering of kernel '${ir.name}': ${what}.`, {
    kernel: ir.name,
    ...(hint ? { hint } : {}),
  });
}

type Kind = 'int' | 'float' | 'bool';

const WGSL_TYPE: Record<Kind, string> = { int: 'i32', float: 'f32', bool: 'bool' };

/** WGSL for the IR's scalar literal of kind `k`. */
function literal(v: number | boolean, k: Kind, ir: KernelIR): string {
  if (k === 'bool') return v ? 'true' : 'false';
  const x = Number(v);
  if (k === 'int') {
    if (!Number.isInteger(x) || x < -2147483648 || x > 2147483647)
      refuse(ir, `the integer constant ${x} is not an i32`);
    return x === -2147483648 ? 'i32(-2147483647 - 1)' : `${x}i`;
  }
  if (Number.isNaN(x)) return 'bitcast<f32>(0x7fc00000u)';
  if (!Number.isFinite(x)) return x > 0 ? 'bitcast<f32>(0x7f800000u)' : 'bitcast<f32>(0xff800000u)';
  const f = Math.fround(x);
  if (Object.is(f, -0)) return '-0.0f';
  if (f !== 0 && Math.abs(f) < 1.1754943508222875e-38)
    return `bitcast<f32>(${new Uint32Array(new Float32Array([f]).buffer)[0]}u)`;
  return `${f}f`;
}

const BINARY_INFIX: Record<string, string> = {
  '+': '+',
  '-': '-',
  '*': '*',
  '/': '/',
  '%': '%',
  '<': '<',
  '<=': '<=',
  '>': '>',
  '>=': '>=',
  '===': '==',
  '!==': '!=',
  '&': '&',
  '|': '|',
  '^': '^',
};
const COMPARE = new Set(['<', '<=', '>', '>=', '===', '!==']);
const BITWISE = new Set(['&', '|', '^', '<<', '>>', '>>>']);

class Emitter {
  private readonly lines: string[] = [];
  private indent = '  ';
  private readonly names = new Map<Value, string>();
  private readonly buffers = new Map<Value, WgslBufferBinding>();
  private readonly scalars = new Map<Value, string>();
  private readonly sharedNames = new Map<Value, { name: string; dtype: 'f32' | 'i32' | 'u32'; atomic: boolean }>();
  private nextTemp = 0;

  constructor(private readonly ir: KernelIR) {}

  private kind(v: Value | Type): Kind {
    const t = v instanceof Object && 'type' in v ? (v as Value).type : (v as Type);
    if (t.kind !== 'scalar') refuse(this.ir, `a ${t.kind} value where a scalar was expected`);
    return t.s;
  }

  private name(v: Value): string {
    let n = this.names.get(v);
    if (!n) {
      n = `v${v.id}`;
      this.names.set(v, n);
    }
    return n;
  }

  /** The WGSL expression of `v` converted to `to` (JavaScript's conversions: number → bool is `x ≠ 0 && !NaN`). */
  private as(v: Value, to: Kind): string {
    const s = this.scalars.get(v) ?? (v.def?.opcode === 'const' ? null : this.name(v));
    const from = this.kind(v);
    if (s === null) return literal(v.def!.attrs.value as number | boolean, to, this.ir);
    return convert(s, from, to);
  }

  // emit / define / op / atomic return `undefined` (not void) so a switch case can `return this.emit(…)`.
  private emit(line: string): undefined {
    this.lines.push(this.indent + line);
    return undefined;
  }

  private define(v: Value, expr: string): undefined {
    return this.emit(`let ${this.name(v)} = ${expr};`);
  }

  run(opts: SimtToWgslOptions): WgslProgram {
    const ir = this.ir;
    if (ir.style !== 'simt') refuse(ir, 'only SIMT kernels are lowered to WGSL (tile kernels are not yet)');
    // Which buffers and shared arrays are written or used atomically.
    const written = new Set<Value>();
    const atomic = new Set<Value>();
    walk(ir.body, (op) => {
      if (op.opcode === 'simt.store' || op.opcode === 'simt.atomic') written.add(op.operands[0]!);
      if (op.opcode === 'simt.atomic' || op.opcode === 'simt.shared_atomic') atomic.add(op.operands[0]!);
    });
    const bindings: (WgslBufferBinding | WgslUniformBinding)[] = [];
    const fields: WgslScalarField[] = [];
    const decls: string[] = [];
    for (const p of ir.params) {
      const v = p.value;
      if (!v) continue;
      if (v.type.kind === 'buffer') {
        const dtype = v.type.dtype;
        if (dtype !== 'f32' && dtype !== 'i32')
          refuse(
            ir,
            `buffer parameter '${p.name}' has dtype ${dtype}; WGSL buffers are lowered for f32 and i32 only`,
            'f16 (shader-f16) and packed bf16/fp8/i8/u8 buffers are later pieces of the WebGPU back end.',
          );
        if (atomic.has(v) && dtype === 'f32')
          refuse(
            ir,
            `an atomic on f32 buffer '${p.name}': WGSL has no floating-point atomics`,
            'Write per-block partial results and reduce them in a second launch, or accumulate in i32.',
          );
        const b: WgslBufferBinding = {
          kind: 'buffer',
          binding: bindings.length,
          name: p.name,
          dtype,
          access: written.has(v) ? 'read_write' : 'read',
          atomic: atomic.has(v),
        };
        bindings.push(b);
        this.buffers.set(v, b);
        const elem = b.atomic ? `atomic<${dtype}>` : dtype;
        decls.push(`@group(0) @binding(${b.binding}) var<storage, ${b.access}> b_${p.name}: array<${elem}>;`);
      } else if (v.type.kind === 'scalar') {
        if (v.type.s === 'bool') refuse(ir, `bool scalar parameter '${p.name}'`);
        const type = v.type.s === 'int' ? 'i32' : 'f32';
        fields.push({ name: p.name, type, offset: fields.length * 4 });
        this.scalars.set(v, `params.${p.name}`);
      } else {
        refuse(ir, `parameter '${p.name}' of type ${v.type.kind} (host arrays are not lowered yet)`);
      }
    }
    if (fields.length) {
      const binding = bindings.length;
      bindings.push({ kind: 'uniform', binding, fields, size: Math.ceil((fields.length * 4) / 16) * 16 });
      decls.unshift(`struct Params {\n${fields.map((f) => `  ${f.name}: ${f.type},`).join('\n')}\n}`);
      decls.push(`@group(0) @binding(${binding}) var<uniform> params: Params;`);
    }
    for (const s of ir.shared) {
      const t = s.value.type;
      if (t.kind !== 'shared') continue;
      if (t.dtype !== 'f32' && t.dtype !== 'i32' && t.dtype !== 'u32')
        refuse(
          ir,
          `shared array '${s.name}' of dtype ${t.dtype}; WGSL shared arrays are lowered for f32, i32 and u32 only`,
        );
      const isAtomic = atomic.has(s.value);
      if (isAtomic && t.dtype === 'f32')
        refuse(ir, `an atomic on f32 shared array '${s.name}': WGSL has no floating-point atomics`);
      const name = `sh_${s.name.replace(/[^A-Za-z0-9_]/g, '_')}`;
      this.sharedNames.set(s.value, { name, dtype: t.dtype, atomic: isAtomic });
      decls.push(`var<workgroup> ${name}: array<${isAtomic ? `atomic<${t.dtype}>` : t.dtype}, ${t.length}>;`);
    }
    this.region(ir.body);
    const [bx, by, bz] = opts.block;
    const code = [
      `// ${ir.name} ${ir.key}: generated by @tessera/device (SIMT IR → WGSL)`,
      ...decls,
      '',
      `@compute @workgroup_size(${bx}, ${by}, ${bz})`,
      'fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {',
      ...this.lines,
      '}',
      '',
    ].join('\n');
    return { code, entryPoint: 'main', workgroupSize: [bx, by, bz], bindings };
  }

  private region(r: Region): void {
    for (const op of r.ops) this.op(op);
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
    const ir = this.ir;
    const o = op.operands;
    const a = op.attrs;
    switch (op.opcode) {
      case 'const':
        return; // literals are written where they are used
      case 'simt.tid':
        return this.define(op.result, `i32(lid.${AXES[a.axis as number]})`);
      case 'simt.bid':
        return this.define(op.result, `i32(wid.${AXES[a.axis as number]})`);
      case 'simt.gdim':
        return this.define(op.result, `i32(nwg.${AXES[a.axis as number]})`);
      case 'simt.flops':
        return;
      case 's.binary':
        return this.define(op.result, this.binary(op));
      case 's.unary':
        return this.define(op.result, this.unary(op));
      case 's.select': {
        const k = this.kind(op.result);
        return this.define(op.result, `select(${this.as(o[2]!, k)}, ${this.as(o[1]!, k)}, ${this.as(o[0]!, 'bool')})`);
      }
      case 'buf.len':
        return this.define(op.result, `i32(arrayLength(&b_${this.buf(o[0]!).name}))`);
      case 'simt.load': {
        const b = this.buf(o[0]!);
        const ref = `b_${b.name}[${this.as(o[1]!, 'int')}]`;
        const k: Kind = b.dtype === 'f32' ? 'float' : 'int';
        return this.define(op.result, convert(b.atomic ? `atomicLoad(&${ref})` : ref, k, this.kind(op.result)));
      }
      case 'simt.store': {
        const b = this.buf(o[0]!);
        const ref = `b_${b.name}[${this.as(o[1]!, 'int')}]`;
        const v = this.storeValue(o[2]!, b.dtype);
        return this.emit(b.atomic ? `atomicStore(&${ref}, ${v});` : `${ref} = ${v};`);
      }
      case 'simt.atomic': {
        const b = this.buf(o[0]!);
        return this.atomic(op, `&b_${b.name}[${this.as(o[1]!, 'int')}]`, 'i32', ['add', 'max', 'min', 'exch', 'cas']);
      }
      case 'simt.shared_load': {
        const s = this.sharedOf(o[0]!);
        const ref = `${s.name}[${this.as(o[1]!, 'int')}]`;
        const raw = s.atomic ? `atomicLoad(&${ref})` : ref;
        const e = s.dtype === 'u32' ? `bitcast<i32>(${raw})` : raw;
        return this.define(op.result, convert(e, s.dtype === 'f32' ? 'float' : 'int', this.kind(op.result)));
      }
      case 'simt.shared_store': {
        const s = this.sharedOf(o[0]!);
        const ref = `${s.name}[${this.as(o[1]!, 'int')}]`;
        const v = this.storeValue(o[2]!, s.dtype);
        return this.emit(s.atomic ? `atomicStore(&${ref}, ${v});` : `${ref} = ${v};`);
      }
      case 'simt.shared_atomic': {
        const s = this.sharedOf(o[0]!);
        return this.atomic(op, `&${s.name}[${this.as(o[1]!, 'int')}]`, s.dtype as 'i32' | 'u32', [
          'add',
          'max',
          'min',
          'exch',
          'cas',
        ]);
      }
      case 'simt.barrier':
        return this.emit('workgroupBarrier();');
      case 'scf.if': {
        this.resultVars(op);
        const targets = op.results.map((v) => this.name(v));
        const kinds = op.results.map((v) => this.kind(v));
        this.emit(`if (${this.as(o[0]!, 'bool')}) {`);
        this.nested(() => this.yieldInto(op.regions[0]!, targets, kinds));
        if (op.regions[1]?.ops.some((x) => x.opcode !== 'scf.yield' || x.operands.length)) {
          this.emit('} else {');
          this.nested(() => this.yieldInto(op.regions[1]!, targets, kinds));
        }
        return this.emit('}');
      }
      case 'scf.for': {
        // for (iv = lo; iv < hi; iv += step), iters carried in vars.
        const body = op.regions[0]!;
        const [ivArg, ...iterArgs] = body.args;
        const t = `f${this.nextTemp++}`;
        const ivKind = this.kind(ivArg!);
        this.emit(`var ${t}_iv: ${WGSL_TYPE[ivKind]} = ${this.as(o[0]!, ivKind)};`);
        const iters = iterArgs.map((v, i) => {
          const n = `${t}_it${i}`;
          this.emit(`var ${n}: ${WGSL_TYPE[this.kind(v)]} = ${this.as(o[3 + i]!, this.kind(v))};`);
          return n;
        });
        this.emit('loop {');
        this.nested(() => {
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
      case 'scf.while': {
        const [before, after] = op.regions as [Region, Region];
        const t = `w${this.nextTemp++}`;
        const state = before.args.map((v, i) => {
          const n = `${t}_a${i}`;
          this.emit(`var ${n}: ${WGSL_TYPE[this.kind(v)]} = ${this.as(o[i]!, this.kind(v))};`);
          return n;
        });
        this.resultVars(op);
        this.emit('loop {');
        this.nested(() => {
          before.args.forEach((v, i) => {
            this.define(v, state[i]!);
          });
          const cond = this.yieldInto(before, [], [], 'scf.condition');
          if (!cond) refuse(ir, 'a while loop without scf.condition');
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
      case 'simt.shfl':
      case 'simt.vote':
      case 'simt.redux':
      case 'simt.syncwarp':
      case 'simt.exit':
        return refuse(
          ir,
          `the warp intrinsic ${op.opcode}${op.loc ? ` (\`${op.loc.snippet}\`)` : ''} is not lowered to WGSL yet`,
          "Warp intrinsics will map to subgroup operations on adapters with the 'subgroups' feature; without it they stay refused.",
        );
      case 'simt.dynamic_shared':
      case 'simt.shared_view':
      case 'simt.shared_fill':
        return refuse(ir, `${op.opcode} (dynamic shared memory, shared views and fills are not lowered to WGSL yet)`);
      case 'trap':
        return refuse(ir, `a runtime \`throw\` (trap: ${JSON.stringify(a.message)}) has no WGSL equivalent yet`);
      default:
        return refuse(ir, `the op ${op.opcode} is not lowered to WGSL`);
    }
  }

  private nested(fn: () => void): void {
    const saved = this.indent;
    this.indent += '  ';
    fn();
    this.indent = saved;
  }

  private buf(v: Value): WgslBufferBinding {
    const b = this.buffers.get(v);
    if (!b) refuse(this.ir, 'a memory access on something other than a buffer parameter');
    return b;
  }

  private sharedOf(v: Value): { name: string; dtype: 'f32' | 'i32' | 'u32'; atomic: boolean } {
    const s = this.sharedNames.get(v);
    if (!s) refuse(this.ir, 'a shared access on something other than a static shared array');
    return s;
  }

  /** A value converted as a store to `dtype` converts it (`castScalar`: float → int truncates and saturates). */
  private storeValue(v: Value, dtype: 'f32' | 'i32' | 'u32'): string {
    if (dtype === 'f32') return this.as(v, 'float');
    const k = this.kind(v);
    if (dtype === 'i32') return this.as(v, 'int');
    // u32: integers wrap (the typed array's ToUint32); floats truncate through i32.
    return k === 'float' ? `u32(i32(${this.as(v, 'float')}))` : `bitcast<u32>(${this.as(v, 'int')})`;
  }

  private atomic(op: Op, ptr: string, dtype: 'i32' | 'u32', kinds: string[]): undefined {
    const kind = op.attrs.kind as string;
    if (!kinds.includes(kind)) refuse(this.ir, `atomic '${kind}'`);
    const o = op.operands;
    const val = (v: Value): string => (dtype === 'u32' ? `bitcast<u32>(${this.as(v, 'int')})` : this.as(v, 'int'));
    const back = (e: string): string =>
      convert(dtype === 'u32' ? `bitcast<i32>(${e})` : e, 'int', this.kind(op.result));
    if (kind !== 'cas') {
      const fn = { add: 'atomicAdd', max: 'atomicMax', min: 'atomicMin', exch: 'atomicExchange' }[kind]!;
      return this.define(op.result, back(`${fn}(${ptr}, ${val(o[2]!)})`));
    }
    // CUDA's atomicCAS is strong; WGSL's compare-exchange may fail spuriously: retry while it failed on an equal value.
    const t = `c${this.nextTemp++}`;
    this.emit(`var ${t}: ${dtype};`);
    this.emit('loop {');
    this.nested(() => {
      this.emit(`let r = atomicCompareExchangeWeak(${ptr}, ${val(o[3]!)}, ${val(o[2]!)});`);
      this.emit(`if (r.exchanged || r.old_value != ${val(o[3]!)}) { ${t} = r.old_value; break; }`);
    });
    this.emit('}');
    return this.define(op.result, back(t));
  }

  private binary(op: Op): string {
    const [x, y] = op.operands as [Value, Value];
    const bop = op.attrs.op as string;
    const rk = this.kind(op.result);
    const kx = this.kind(x);
    const ky = this.kind(y);
    // The kind the operation is computed in.
    const ck: Kind = COMPARE.has(bop)
      ? kx === 'bool' && ky === 'bool'
        ? 'bool'
        : kx === 'float' || ky === 'float'
          ? 'float'
          : 'int'
      : bop === '&&' || bop === '||'
        ? 'bool'
        : BITWISE.has(bop) || bop === 'imul'
          ? 'int'
          : bop === '/' || bop === '**' || bop === 'atan2' || bop === 'hypot'
            ? 'float'
            : rk;
    if ((bop === '&&' || bop === '||') && (kx !== 'bool' || ky !== 'bool' || rk !== 'bool'))
      refuse(this.ir, `\`${bop}\` on non-boolean operands (JavaScript returns an operand)`);
    if (BITWISE.has(bop) && (kx === 'float' || ky === 'float'))
      refuse(this.ir, `\`${bop}\` on a float operand (ToInt32 of an f32 is not lowered)`);
    const a = this.as(x, ck);
    const b = this.as(y, ck);
    let e: string;
    switch (bop) {
      case '<<':
        e = `(${a} << u32(${b}))`;
        break;
      case '>>':
        e = `(${a} >> u32(${b}))`;
        break;
      case '>>>':
        e = `bitcast<i32>(bitcast<u32>(${a}) >> u32(${b}))`;
        break;
      case '**':
        e = `pow(${a}, ${b})`;
        break;
      case 'min':
      case 'max':
        e = `${bop}(${a}, ${b})`;
        break;
      case 'imul':
        e = `(${a} * ${b})`;
        break;
      case 'atan2':
        e = `atan2(${a}, ${b})`;
        break;
      case 'hypot':
        e = `length(vec2<f32>(${a}, ${b}))`;
        break;
      default: {
        const inf = BINARY_INFIX[bop];
        if (!inf) refuse(this.ir, `the scalar operator \`${bop}\``);
        if (bop === '%' && ck === 'float') e = `(${a} - ${b} * trunc(${a} / ${b}))`;
        else e = `(${a} ${inf} ${b})`;
      }
    }
    const k: Kind = COMPARE.has(bop) ? 'bool' : ck;
    return convert(e, k, rk);
  }

  private unary(op: Op): string {
    const x = op.operands[0]!;
    const u = op.attrs.op as string;
    const rk = this.kind(op.result);
    const xk = this.kind(x);
    const f = (): string => this.as(x, 'float');
    let e: string;
    let k: Kind = 'float';
    switch (u) {
      case '-':
        k = xk === 'int' ? 'int' : 'float';
        e = `(-${this.as(x, k)})`;
        break;
      case '+':
        k = xk === 'int' ? 'int' : 'float';
        e = this.as(x, k);
        break;
      case '!':
        k = 'bool';
        e = `(!${this.as(x, 'bool')})`;
        break;
      case '~':
        if (xk === 'float') refuse(this.ir, '`~` on a float operand');
        k = 'int';
        e = `(~${this.as(x, 'int')})`;
        break;
      case 'floor':
      case 'ceil':
      case 'trunc':
      case 'sign':
      case 'abs':
        if (xk === 'int') {
          k = 'int';
          e = u === 'abs' || u === 'sign' ? `${u}(${this.as(x, 'int')})` : this.as(x, 'int');
        } else e = `${u}(${f()})`;
        break;
      case 'round': // JavaScript rounds halves up
        e = xk === 'int' ? f() : `floor(${f()} + 0.5f)`;
        break;
      case 'sqrt':
      case 'exp':
      case 'log':
      case 'log2':
      case 'sin':
      case 'cos':
      case 'tan':
      case 'tanh':
      case 'atan':
        e = `${u}(${f()})`;
        break;
      case 'cbrt':
        e = `(sign(${f()}) * pow(abs(${f()}), 1.0f / 3.0f))`;
        break;
      case 'expm1':
        e = `(exp(${f()}) - 1.0f)`;
        break;
      case 'log1p':
        e = `log(1.0f + ${f()})`;
        break;
      case 'log10':
        e = `(log2(${f()}) * 0.30102999566398120f)`;
        break;
      case 'fround':
        e = f();
        break;
      case 'isNaN':
        k = 'bool';
        e = `((bitcast<u32>(${f()}) & 0x7fffffffu) > 0x7f800000u)`;
        break;
      case 'isFinite':
        k = 'bool';
        e = `((bitcast<u32>(${f()}) & 0x7f800000u) != 0x7f800000u)`;
        break;
      case 'isInteger':
        k = 'bool';
        e =
          xk === 'int' ? 'true' : `(((bitcast<u32>(${f()}) & 0x7f800000u) != 0x7f800000u) && trunc(${f()}) == ${f()})`;
        break;
      default:
        refuse(this.ir, `the scalar function \`${u}\``);
    }
    return convert(e, k, rk);
  }
}

/** Converts a WGSL expression between scalar kinds, with JavaScript's truthiness for → bool. */
function convert(e: string, from: Kind, to: Kind): string {
  if (from === to) return e;
  // float → bool: neither ±0 nor NaN (the magnitude's bits are in 1..0x7f800000).
  if (to === 'bool') return from === 'int' ? `(${e} != 0i)` : `((bitcast<u32>(${e}) & 0x7fffffffu) - 1u < 0x7f800000u)`;
  if (from === 'bool') return to === 'int' ? `select(0i, 1i, ${e})` : `select(0.0f, 1.0f, ${e})`;
  return to === 'int' ? `i32(${e})` : `f32(${e})`;
}

/** The WGSL of a SIMT kernel's IR (see the module comment for the mapping and what is refused). */
export function simtToWgsl(ir: KernelIR, options: SimtToWgslOptions): WgslProgram {
  return new Emitter(ir).run(options);
}
