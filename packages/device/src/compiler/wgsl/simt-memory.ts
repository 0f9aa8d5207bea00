/**
 * Global and shared memory in the SIMT lowering. Every access is bounds-checked: an index outside the buffer
 * (`params.len_<name>` elements) or the shared array / view is recorded in the fault binding (site, index, block,
 * thread) instead of touching memory — a load gives 0, a store or atomic is skipped — and a non-integer index is a
 * fault as on the CPU (`Number.isInteger`). Site ops are the CPU's words (`read`, `write`, `atomicAdd`, …).
 *
 * Buffers follow the ABI's layouts through dtypes.ts's accessors: f32 / i32 one element per word, the narrow dtypes
 * packed. A store converts like `castScalar` (floats round to nearest even, fp8 saturating; float → int truncates and
 * saturates, NaN → 0; int → narrower int saturates). Atomics: i32 with WGSL's atomics, everything else through
 * compare-exchange loops computing what the CPU computes.
 *
 * Shared memory is `var<workgroup>` (zero-initialised, as the CPU zeroes it per block) with one element per 32-bit
 * word: f32 / f16 / bf16 as f32 values (f16 / bf16 kept rounded to their dtype), i32 / i16 / i8 / u8 as i32 (narrow ones
 * kept wrapped), u32 as u32 carried in i32 registers (its bit pattern). Stores convert as the CPU's typed arrays do
 * (ToInt32 and friends wrap; f16 / bf16 round). Dynamic shared memory is one more array: of the views' dtype when
 * they all have one, or of u32 words read through bitcasts when they mix 4-byte dtypes (f32 / i32 / u32 views of the
 * same bytes then alias exactly as on the CPU); narrower views of mixed dtypes are refused. Arrays any atomic
 * touches are declared atomic and every access to them is an atomic load / store.
 */
import { DTYPE_INFO, type DType } from '../../dtype/dtype';
import { type KernelIR, type Op, type SharedElem, sharedElemBytes, type Value, walk } from '../ir';
import type { WgslBufferBinding } from './abi';
import { type AtomicKind, bufferAccessors, bufferAtomics, bufferDecl, valueType } from './dtypes';
import { convertScalar as convert, type Kind } from './scalar';
import { refuse, type SimtEmitter, snippetOf } from './simt-context';

/** A workgroup array. */
interface SharedVar {
  name: string;
  words: number;
  /** `value`: one element per word in the dtype's carrier; `bits`: u32 words read as f32 / i32 / u32. */
  storage: 'value' | 'bits';
  /** The dtype of a `value` array. */
  dtype: SharedElem;
  atomic: boolean;
}

/** A shared array or view: a window of `length` elements at element `base` of a workgroup array. */
interface SharedObject {
  v: SharedVar;
  base: number;
  length: number;
  dtype: SharedElem;
  /** As the CPU names it in fault messages. */
  label: string;
}

const ATOMIC_NAME: Record<string, string> = {
  add: 'atomicAdd',
  max: 'atomicMax',
  min: 'atomicMin',
  exch: 'atomicExch',
  cas: 'atomicCAS',
};

const isFloatElem = (d: SharedElem): d is 'f32' | 'f16' | 'bf16' => d === 'f32' || d === 'f16' || d === 'bf16';

/** The IR kind a shared element is carried in (u32 as its i32 bit pattern). */
const elemKind = (d: SharedElem): Kind => (isFloatElem(d) ? 'float' : 'int');

export class SimtMemory {
  readonly bindings = new Map<Value, WgslBufferBinding>();
  private readonly atomicKinds = new Map<Value, Set<AtomicKind>>();
  private readonly vars: SharedVar[] = [];
  private readonly objects = new Map<Value, SharedObject>();

  constructor(
    private readonly e: SimtEmitter,
    private readonly ir: KernelIR,
  ) {}

  /** Buffer bindings (from `binding` on, in parameter order) and shared arrays, from what the kernel does. */
  plan(firstBinding: number): number {
    const ir = this.ir;
    const written = new Set<Value>();
    walk(ir.body, (op) => {
      if (op.opcode === 'simt.store' || op.opcode === 'simt.atomic') written.add(op.operands[0]!);
      if (op.opcode === 'simt.atomic') {
        const kinds = this.atomicKinds.get(op.operands[0]!) ?? new Set();
        kinds.add(op.attrs.kind as AtomicKind);
        this.atomicKinds.set(op.operands[0]!, kinds);
      }
    });
    let binding = firstBinding;
    for (const p of ir.params) {
      const v = p.value;
      if (v?.type.kind !== 'buffer') continue;
      const dtype = v.type.dtype;
      const layout = DTYPE_INFO[dtype].bytes === 4 ? 'word' : 'packed';
      const isWritten = written.has(v);
      this.bindings.set(v, {
        kind: 'buffer',
        binding: binding++,
        name: p.name,
        dtype,
        layout,
        access: isWritten ? 'read_write' : 'read',
        atomic: this.atomicKinds.has(v) || (layout === 'packed' && isWritten),
      });
    }
    this.planShared();
    return binding;
  }

  private planShared(): void {
    const ir = this.ir;
    for (const s of ir.shared) {
      const t = s.value.type;
      if (t.kind !== 'shared') continue;
      const v: SharedVar = {
        name: `sh_${s.name.replace(/[^A-Za-z0-9_]/g, '_')}`,
        words: t.length,
        storage: 'value',
        dtype: t.dtype,
        atomic: false,
      };
      this.vars.push(v);
      this.objects.set(s.value, { v, base: 0, length: t.length, dtype: t.dtype, label: s.name });
    }
    const dynamic: Op[] = [];
    walk(ir.body, (op) => {
      if (op.opcode === 'simt.dynamic_shared') dynamic.push(op);
    });
    if (dynamic.length) {
      const dtypes = new Set(dynamic.map((op) => op.attrs.dtype as SharedElem));
      const one = dtypes.size === 1;
      if (!one && [...dtypes].some((d) => sharedElemBytes(d) !== 4))
        refuse(
          ir,
          `dynamic shared memory viewed as ${[...dtypes].join(', ')}: views of different dtypes share its bytes, and the lowering keeps narrow elements one per 32-bit word`,
          'Use one dtype for every dynamicShared view, or only 4-byte ones (f32, i32, u32), or static shared arrays.',
        );
      const unit = one ? sharedElemBytes([...dtypes][0]!) : 4;
      let words = 0;
      for (const op of dynamic) {
        const { offset, length } = op.attrs as { offset: number; length: number };
        if (offset % unit !== 0) refuse(ir, `dynamicShared at byte ${offset}, not a multiple of ${unit}`);
        words = Math.max(words, offset / unit + length);
      }
      const v: SharedVar = {
        name: 'sh_dynamic',
        words,
        storage: one ? 'value' : 'bits',
        dtype: [...dtypes][0]!,
        atomic: false,
      };
      this.vars.push(v);
      for (const op of dynamic) {
        const { dtype, offset, length } = op.attrs as { dtype: SharedElem; offset: number; length: number };
        this.objects.set(op.result, {
          v,
          base: offset / unit,
          length,
          dtype,
          label: `dynamicShared(${dtype}, ${offset})`,
        });
      }
    }
    // Views (in program order, so their base exists), and which arrays atomics touch.
    walk(ir.body, (op) => {
      if (op.opcode === 'simt.shared_view') {
        const base = this.object(op.operands[0]!);
        const { offset, length } = op.attrs as { offset: number; length: number };
        this.objects.set(op.result, {
          v: base.v,
          base: base.base + offset,
          length,
          dtype: base.dtype,
          label: `${base.label}.subarray(${offset}, ${offset + length})`,
        });
      }
      if (op.opcode === 'simt.shared_atomic') this.object(op.operands[0]!).v.atomic = true;
    });
  }

  private object(v: Value): SharedObject {
    const o = this.objects.get(v);
    if (!o) refuse(this.ir, 'a shared access on something other than a shared array or view');
    return o;
  }

  /** Bytes of workgroup memory declared. */
  workgroupBytes(): number {
    return this.vars.reduce((n, v) => n + v.words * 4, 0);
  }

  /** Storage declarations (buffers and workgroup arrays). */
  decls(): string[] {
    const out = [...this.bindings.values()].map(bufferDecl);
    for (const v of this.vars) out.push(`var<workgroup> ${v.name}: array<${wordType(v)}, ${Math.max(1, v.words)}>;`);
    return out;
  }

  /** The accessor and atomic functions of the buffer bindings. */
  functions(): string[] {
    const out: string[] = [];
    for (const [v, b] of this.bindings) {
      out.push(bufferAccessors(b));
      const kinds = this.atomicKinds.get(v);
      if (kinds) out.push(bufferAtomics(b, kinds));
    }
    return out;
  }

  /** Dtypes whose conversion functions the accessors need. */
  dtypesUsed(): DType[] {
    return [...this.bindings.values()].map((b) => b.dtype);
  }

  // ---------------------------------------------------------------------------------------------- bounds checks

  /** `let i = …; let ok = …;` for index `x` against `len` (an i32 expression); returns the two names. */
  private checkIndex(x: Value, len: string): { i: string; ok: string } {
    const e = this.e;
    const i = e.temp('i');
    const ok = e.temp('ok');
    if (e.kind(x) === 'float') {
      const f = e.temp('fi');
      e.emit(`let ${f} = ${e.as(x, 'float')};`);
      e.emit(`let ${i} = i32(${f});`);
      e.emit(`let ${ok} = ${f} == trunc(${f}) && ${i} >= 0i && ${i} < ${len};`);
    } else {
      e.emit(`let ${i} = ${e.as(x, 'int')};`);
      e.emit(`let ${ok} = ${i} >= 0i && ${i} < ${len};`);
    }
    return { i, ok };
  }

  /** `if (ok) { body } else { record the fault }`. */
  private guarded(ok: string, i: string, site: number, body: () => void): void {
    const e = this.e;
    e.emit(`if (${ok}) {`);
    e.nested(body);
    e.emit(`} else { ${e.fault(site, i)} }`);
  }

  // ---------------------------------------------------------------------------------------------- global memory

  private binding(v: Value): WgslBufferBinding {
    const b = this.bindings.get(v);
    if (!b) refuse(this.ir, 'a memory access on something other than a buffer parameter');
    return b;
  }

  /** A value converted as a store into buffer dtype `d` converts it (`castScalar`), as d's carrier (f32 / i32). */
  private storeValue(v: Value, d: DType, what: string): string {
    const e = this.e;
    const k = e.kind(v);
    if (k === 'bool')
      refuse(this.ir, `a boolean value given to ${what} (the CPU back ends raise InvalidValue: it must be a number)`);
    if (DTYPE_INFO[d].kind === 'float') return e.as(v, 'float');
    if (k === 'float') {
      e.use(d);
      return `tsr_f32_to_${d}(${e.as(v, 'float')})`;
    }
    if (d === 'i32') return e.as(v, 'int');
    e.use(d);
    return `tsr_sat_${d}(${e.as(v, 'int')})`;
  }

  globalOp(op: Op): void {
    const e = this.e;
    const [buf, index, value, cmp] = op.operands;
    const b = this.binding(buf!);
    const carrier: Kind = valueType(b.dtype) === 'f32' ? 'float' : 'int';
    const len = `params.len_${b.name}`;
    if (op.opcode === 'simt.load') {
      const site = e.site({ kind: 'global', op: 'read', name: b.name, snippet: op.loc?.snippet });
      const { i, ok } = this.checkIndex(index!, len);
      const r = e.temp('ld');
      e.emit(`var ${r}: ${valueType(b.dtype)};`);
      this.guarded(ok, i, site, () => e.emit(`${r} = ld_${b.name}(${i});`));
      e.define(op.result, convert(r, carrier, e.kind(op.result)));
      return;
    }
    if (op.opcode === 'simt.store') {
      const site = e.site({ kind: 'global', op: 'write', name: b.name, snippet: op.loc?.snippet });
      const val = this.storeValue(value!, b.dtype, `${b.name}.set`);
      const { i, ok } = this.checkIndex(index!, len);
      this.guarded(ok, i, site, () => e.emit(`st_${b.name}(${i}, ${val});`));
      return;
    }
    // simt.atomic
    const kind = op.attrs.kind as AtomicKind;
    const what = ATOMIC_NAME[kind] ?? kind;
    const site = e.site({ kind: 'global', op: what, name: b.name, snippet: op.loc?.snippet });
    const operand = (x: Value): string => {
      const k = e.kind(x);
      if (k === 'bool') refuse(this.ir, `a boolean value given to ${b.name}.${what}`);
      if (carrier === 'int' && k === 'float')
        refuse(
          this.ir,
          `${b.name}.${what} with a float value on an integer (${b.dtype}) buffer${snippetOf(op)}: the CPU adds in float64 and truncates the sum, which 32-bit GPU atomics cannot reproduce`,
          'Convert the value to an integer first (Math.trunc(v) or v | 0).',
        );
      return e.as(x, carrier);
    };
    const args = [operand(value!), ...(kind === 'cas' ? [operand(cmp!)] : [])];
    const { i, ok } = this.checkIndex(index!, len);
    const r = e.temp('at');
    e.emit(`var ${r}: ${valueType(b.dtype)};`);
    this.guarded(ok, i, site, () => e.emit(`${r} = atomic_${kind}_${b.name}(${i}, ${args.join(', ')});`));
    e.define(op.result, convert(r, carrier, e.kind(op.result)));
  }

  // ---------------------------------------------------------------------------------------------- shared memory

  /** The element at word `k` of `o`'s array, in `o.dtype`'s carrier (f32, or i32). */
  private sharedLoad(o: SharedObject, k: string): string {
    const ref = `${o.v.name}[${k}]`;
    const raw = o.v.atomic ? `atomicLoad(&${ref})` : ref;
    return fromWord(o, raw);
  }

  private sharedStore(o: SharedObject, k: string, value: string): string {
    const ref = `${o.v.name}[${k}]`;
    const w = toWord(o, value);
    return o.v.atomic ? `atomicStore(&${ref}, ${w});` : `${ref} = ${w};`;
  }

  /** `v` converted as the CPU's typed-array store into a shared `d` element converts it, in d's carrier. */
  private canonical(v: Value, d: SharedElem): string {
    const e = this.e;
    const k = e.kind(v);
    if (isFloatElem(d)) {
      const f = e.as(v, 'float');
      if (d === 'f32') return f;
      e.use(d);
      return `tsr_round_${d}(${f})`;
    }
    let i: string;
    if (k === 'float') {
      e.use('i32');
      i = `tsr_f32_toint32(${e.as(v, 'float')})`;
    } else i = e.as(v, 'int');
    if (d === 'i16' || d === 'i8' || d === 'u8') {
      e.use(d);
      return `tsr_wrap_${d}(${i})`;
    }
    return i;
  }

  sharedOp(op: Op): undefined {
    const e = this.e;
    const o = this.object(op.operands[0]!);
    const shared = { dtype: o.dtype, length: o.length };
    const k = elemKind(o.dtype);
    switch (op.opcode) {
      case 'simt.shared_load': {
        const site = e.site({ kind: 'shared', op: 'read', name: o.label, shared, snippet: op.loc?.snippet });
        const { i, ok } = this.checkIndex(op.operands[1]!, `${o.length}i`);
        const r = e.temp('sl');
        e.emit(`var ${r}: ${k === 'float' ? 'f32' : 'i32'};`);
        this.guarded(ok, i, site, () => e.emit(`${r} = ${this.sharedLoad(o, `${at(o, i)}`)};`));
        return e.define(op.result, convert(r, k, e.kind(op.result)));
      }
      case 'simt.shared_store': {
        const site = e.site({ kind: 'shared', op: 'write', name: o.label, shared, snippet: op.loc?.snippet });
        const val = this.canonical(op.operands[2]!, o.dtype);
        const { i, ok } = this.checkIndex(op.operands[1]!, `${o.length}i`);
        this.guarded(ok, i, site, () => e.emit(this.sharedStore(o, `${at(o, i)}`, val)));
        return undefined;
      }
      case 'simt.shared_fill':
        return this.fill(op, o);
      case 'simt.shared_atomic':
        return this.sharedAtomic(op, o);
    }
  }

  /** `s.fill(v, start, end)`: typed-array clamping of start / end (never a fault); every thread fills the range. */
  private fill(op: Op, o: SharedObject): undefined {
    const e = this.e;
    const [, value, start, end] = op.operands as Value[];
    const val = e.temp('fv');
    e.emit(`let ${val} = ${this.canonical(value!, o.dtype)};`);
    const bound = (x: Value): string => {
      const t = e.temp('fb');
      let raw: string;
      if (e.kind(x) === 'float') {
        e.use('i32');
        raw = `tsr_f32_to_i32(${e.as(x, 'float')})`;
      } else raw = e.as(x, 'int');
      e.emit(`let ${t}r = ${raw};`);
      e.emit(`let ${t} = select(min(${t}r, ${o.length}i), max(${o.length}i + ${t}r, 0i), ${t}r < 0i);`);
      return t;
    };
    const a = bound(start!);
    const b = bound(end!);
    const j = e.temp('fk');
    e.emit(`for (var ${j} = ${a}; ${j} < ${b}; ${j} = ${j} + 1i) {`);
    e.nested(() => e.emit(this.sharedStore(o, `${at(o, j)}`, val)));
    return e.emit('}');
  }

  private sharedAtomic(op: Op, o: SharedObject): undefined {
    const e = this.e;
    const kind = op.attrs.kind as AtomicKind;
    const what = ATOMIC_NAME[kind] ?? kind;
    const site = e.site({
      kind: 'shared',
      op: what,
      name: o.label,
      shared: { dtype: o.dtype, length: o.length },
      snippet: op.loc?.snippet,
    });
    const [, index, value, cmp] = op.operands as Value[];
    const k = elemKind(o.dtype);
    const carrierType = k === 'float' ? 'f32' : 'i32';
    const val = e.temp('av');
    e.emit(`let ${val} = ${this.canonical(value!, o.dtype)};`);
    const cmpName = kind === 'cas' ? e.temp('ac') : '';
    if (kind === 'cas') e.emit(`let ${cmpName} = ${this.canonical(cmp!, o.dtype)};`);
    const { i, ok } = this.checkIndex(index!, `${o.length}i`);
    const r = e.temp('sa');
    e.emit(`var ${r}: ${carrierType};`);
    const ptr = `&${o.v.name}[${at(o, i)}]`;
    const wt = atomicWordType(o.v);
    // WGSL's atomics where they compute what the CPU does: i32 / u32 arrays (u32's max / min are unsigned).
    const nativeI32 = o.dtype === 'i32' && (wt === 'i32' || kind === 'add' || kind === 'exch');
    const native = kind !== 'cas' && (nativeI32 || o.dtype === 'u32');
    this.guarded(ok, i, site, () => {
      if (native) {
        const fn = { add: 'atomicAdd', max: 'atomicMax', min: 'atomicMin', exch: 'atomicExchange' }[kind as string];
        const arg = wt === 'u32' ? `bitcast<u32>(${val})` : val;
        const res = `${fn}(${ptr}, ${arg})`;
        e.emit(`${r} = ${wt === 'u32' ? `bitcast<i32>(${res})` : res};`);
        return;
      }
      // A compare-exchange loop on the word: decode, compute as the CPU does, round / wrap to the dtype, encode.
      let next: string;
      if (kind === 'add') next = `old + ${val}`;
      else if (kind === 'max') next = `select(old, ${val}, ${val} > old)`;
      else if (kind === 'min') next = `select(old, ${val}, ${val} < old)`;
      else if (kind === 'exch') next = val;
      else {
        // CAS compares as Object.is on the dtype's value (floats: bits, any NaN equal to any NaN).
        const same =
          k === 'float'
            ? `(bitcast<u32>(old) == bitcast<u32>(${cmpName}) || (((bitcast<u32>(old) & 0x7fffffffu) > 0x7f800000u) && ((bitcast<u32>(${cmpName}) & 0x7fffffffu) > 0x7f800000u)))`
            : `old == ${cmpName}`;
        next = `select(old, ${val}, ${same})`;
      }
      if (o.dtype === 'f16' || o.dtype === 'bf16' || o.dtype === 'i16' || o.dtype === 'i8' || o.dtype === 'u8') {
        e.use(o.dtype);
        next = isFloatElem(o.dtype) ? `tsr_round_${o.dtype}(${next})` : `tsr_wrap_${o.dtype}(${next})`;
      }
      e.emit(`var w = atomicLoad(${ptr});`);
      e.emit('loop {');
      e.nested(() => {
        e.emit(`let old = ${fromWord(o, 'w')};`);
        e.emit(`let x = atomicCompareExchangeWeak(${ptr}, w, ${toWord(o, next)});`);
        e.emit(`if (x.exchanged) { ${r} = old; break; }`);
        e.emit('w = x.old_value;');
      });
      e.emit('}');
    });
    return e.define(op.result, convert(r, k, e.kind(op.result)));
  }
}

/** The word of `o`'s array holding its element `i` (an i32 expression). */
function at(o: SharedObject, i: string): string {
  return o.base ? `${o.base}i + ${i}` : i;
}

/** The WGSL element type of a workgroup array. */
function wordType(v: SharedVar): string {
  if (v.atomic) return `atomic<${atomicWordType(v)}>`;
  if (v.storage === 'bits') return 'u32';
  return v.dtype === 'u32' ? 'u32' : isFloatElem(v.dtype) ? 'f32' : 'i32';
}

/** The scalar type inside `atomic<…>` (floats are kept as their bits). */
function atomicWordType(v: SharedVar): 'i32' | 'u32' {
  return v.storage === 'value' && !isFloatElem(v.dtype) && v.dtype !== 'u32' ? 'i32' : 'u32';
}

/** A word of `o`'s array (as declared, atomics loaded) → the element in its carrier (f32 / i32). */
function fromWord(o: SharedObject, w: string): string {
  const declared = o.v.atomic ? atomicWordType(o.v) : wordType(o.v);
  const want = isFloatElem(o.dtype) ? 'f32' : 'i32';
  return declared === want ? w : `bitcast<${want}>(${w})`;
}

/** An element in its carrier → the word stored in `o`'s array. */
function toWord(o: SharedObject, value: string): string {
  const declared = o.v.atomic ? atomicWordType(o.v) : wordType(o.v);
  const have = isFloatElem(o.dtype) ? 'f32' : 'i32';
  return declared === have ? value : `bitcast<${declared}>(${value})`;
}
