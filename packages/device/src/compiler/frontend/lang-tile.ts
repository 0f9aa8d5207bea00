/**
 * The tile language as the stager sees it: `t.*` (program identity, creation, memory, math) and the methods and
 * properties of tiles, buffers and host arrays. Each call checks its arguments at compile time and emits typed IR;
 * the semantics (type promotion, shapes) are TileOps'.
 */
import { DTYPE_INFO, isDType, type TileDType } from '../../dtype/dtype';
import type { BinaryOp, UnaryOp } from '../../kernel/elementwise';
import { INT, isScalar, isTile, tileType, typeToString, Value } from '../ir';
import type { AnyNode } from './source';
import { describe, LANGS, type LangContext, type Stager, type ValueMembers } from './stager';
import type { Operand, TileOps } from './tile-ops';
import { Builtin, stamp, TensorDescriptor } from './values';

const BINARY: readonly BinaryOp[] = [
  'add',
  'sub',
  'mul',
  'div',
  'maximum',
  'minimum',
  'idiv',
  'rem',
  'and',
  'or',
  'xor',
  'shl',
  'shr',
  'shru',
  'lt',
  'le',
  'gt',
  'ge',
  'eq',
  'ne',
];
const UNARY: readonly UnaryOp[] = [
  'neg',
  'abs',
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
  'floor',
  'ceil',
  'trunc',
  'round',
  'not',
  'isnan',
];
const TILE_DTYPES = new Set<string>(['f32', 'f16', 'bf16', 'fp8e4m3', 'fp8e5m2', 'i32', 'i16', 'i8', 'u8', 'bool']);

export class TileLanguage implements LangContext, ValueMembers {
  private readonly builtins = new Map<string, Builtin>();

  constructor(private readonly st: Stager) {
    LANGS.add(this);
    this.define();
  }

  private get ops() {
    return this.st.ops;
  }

  private get b() {
    return this.st.b;
  }

  private fail(m: string, hint?: string): never {
    return this.st.fail(m, hint);
  }

  // ------------------------------------------------------------------------------------------- arguments

  private operand(x: unknown, what: string): Operand {
    if (typeof x === 'number') return x;
    if (typeof x === 'boolean') return x ? 1 : 0;
    if (x instanceof Value && (isTile(x.type) || isScalar(x.type))) return x;
    return this.fail(`${what}: expected a tile or a number, got ${describe(x)}.`);
  }

  private tile(x: unknown, what: string): Value {
    if (x instanceof Value && isTile(x.type)) return x;
    return this.fail(`${what}: expected a tile, got ${describe(x)}.`);
  }

  private ct<T>(x: unknown, what: string, check: (v: unknown) => boolean, expected: string): T {
    if (x instanceof Value) this.fail(`${what} must be known at compile time (${expected}), not a runtime value.`);
    if (!check(x)) this.fail(`${what} must be ${expected}, got ${describe(x)}.`);
    return x as T;
  }

  private axis(x: unknown, what: string): 0 | 1 | 2 {
    return this.ct(x ?? 0, `${what} axis`, (v) => v === 0 || v === 1 || v === 2, '0, 1 or 2');
  }

  private dtype(x: unknown, what: string, fallback?: TileDType): TileDType {
    if (x === undefined && fallback) return fallback;
    return this.ct(
      x,
      `${what} dtype`,
      (v) => typeof v === 'string' && TILE_DTYPES.has(v),
      `one of ${[...TILE_DTYPES].join(', ')}`,
    );
  }

  private shape(x: unknown, what: string): number[] {
    if (!Array.isArray(x)) this.fail(`${what}: the shape must be an array of sizes, got ${describe(x)}.`);
    const ops: TileOps = this.ops;
    ops.checkShape(x as unknown[], what);
    return [...(x as number[])];
  }

  private intAxis(x: unknown, what: string): number {
    return this.ct(x, `${what} axis`, (v) => typeof v === 'number' && Number.isInteger(v), 'an integer');
  }

  /** A runtime or compile-time integer scalar as a value. */
  private index(x: unknown, what: string): Value {
    if (typeof x === 'number') {
      if (!Number.isInteger(x)) this.fail(`${what} ${x} is not an integer.`);
      return this.b.constant(x);
    }
    if (x instanceof Value && isScalar(x.type)) {
      if (x.type.s === 'bool') this.fail(`${what} must be an integer, got a bool.`);
      return x;
    }
    return this.fail(`${what} must be an integer, got ${describe(x)}.`);
  }

  private buffer(x: unknown, what: string): Value {
    if (x instanceof Value && x.type.kind === 'buffer') return x;
    return this.fail(`${what} needs a device buffer (a ptr parameter), got ${describe(x)}.`);
  }

  private options(x: unknown, what: string, allowed: readonly string[]): Record<string, unknown> {
    if (x === undefined) return {};
    if (x === null || typeof x !== 'object' || x instanceof Value) this.fail(`${what}: options must be an object.`);
    for (const k of Object.keys(x))
      if (!allowed.includes(k)) this.fail(`${what}: unknown option '${k}' (known: ${allowed.join(', ')}).`);
    return x as Record<string, unknown>;
  }

  private mask(x: unknown, what: string): Value | undefined {
    if (x === undefined || x === null) return undefined;
    return this.tile(x, `${what} mask`);
  }

  private number(x: unknown, what: string, fallback: number): number {
    if (x === undefined) return fallback;
    return this.ct(x, what, (v) => typeof v === 'number', 'a number');
  }

  // ------------------------------------------------------------------------------------------- the `t` API

  private def(name: string, fn: (args: unknown[], node: AnyNode) => unknown): void {
    this.builtins.set(name, new Builtin(`t.${name}`, fn));
  }

  private define(): void {
    this.def('programId', ([axis]) => this.b.op('prog.id', [], [INT], { axis: this.axis(axis, 'programId') }).result);
    this.def(
      'numPrograms',
      ([axis]) => this.b.op('prog.num', [], [INT], { axis: this.axis(axis, 'numPrograms') }).result,
    );
    this.def('arange', ([start, end], node) => {
      const size = this.st.binary('-', end, start, node);
      const n = size instanceof Value ? this.b.constantOf(size) : size;
      if (typeof n !== 'number') {
        this.fail(
          'arange(start, end): end − start must be known at compile time (it is the tile size).',
          'Write arange(s, s + BLOCK) with a constexpr BLOCK, or arange(0, BLOCK).add(s).',
        );
      }
      if (!Number.isInteger(n) || n < 0)
        this.fail(`arange(${String(start)}, ${String(end)}) needs integers with end ≥ start.`);
      return this.ops.arange(this.index(start, 'arange start'), n);
    });
    this.def('full', ([shape, value, dtype]) =>
      this.ops.full(
        this.shape(shape, 'full'),
        this.scalarOperand(value, 'full value'),
        this.dtype(dtype, 'full', 'f32'),
      ),
    );
    this.def('zeros', ([shape, dtype]) =>
      this.ops.full(this.shape(shape, 'zeros'), 0, this.dtype(dtype, 'zeros', 'f32')),
    );
    for (const op of BINARY) {
      this.def(op, ([a, b]) => this.ops.binary(op, this.operand(a, op), this.operand(b, op)));
    }
    for (const op of UNARY) this.def(op, ([x]) => this.ops.unary(op, this.tile(x, op)));
    this.def('where', ([c, a, b]) =>
      this.ops.where(this.tile(c, 'where'), this.operand(a, 'where'), this.operand(b, 'where')),
    );
    this.def('cast', ([x, d]) => this.ops.cast(this.tile(x, 'cast'), this.dtype(d, 'cast')));
    this.def('reshape', ([x, s]) => this.ops.reshape(this.tile(x, 'reshape'), this.reshapeShape(s)));
    this.def('expandDims', ([x, a]) => this.ops.expandDims(this.tile(x, 'expandDims'), this.intAxis(a, 'expandDims')));
    this.def('broadcastTo', ([x, s]) =>
      this.ops.broadcastTo(this.tile(x, 'broadcastTo'), this.shape(s, 'broadcastTo')),
    );
    this.def('permute', ([x, p]) => this.ops.permute(this.tile(x, 'permute'), this.shape(p, 'permute')));
    this.def('trans', ([x]) => this.ops.trans(this.tile(x, 'trans')));
    for (const kind of ['sum', 'max', 'min', 'argmax', 'argmin'] as const) {
      this.def(kind, ([x, axis, keep]) => this.reduce(kind, x, axis, keep));
    }
    this.def('cumsum', ([x, axis]) =>
      this.ops.cumsum(this.tile(x, 'cumsum'), axis === undefined ? -1 : this.intAxis(axis, 'cumsum')),
    );
    this.def('sort', ([x, o]) => this.sort(x, o, false));
    this.def('argsort', ([x, o]) => this.sort(x, o, true));
    this.def('dot', ([a, bb, acc, o]) => {
      const opts = this.options(o, 'dot', ['precision']);
      const precision = opts.precision ?? 'ieee';
      if (precision !== 'ieee' && precision !== 'tf32')
        this.fail(`dot: precision must be 'ieee' or 'tf32', got ${describe(precision)}.`);
      return this.ops.dot(
        this.tile(a, 'dot'),
        this.tile(bb, 'dot'),
        acc === undefined || acc === null ? undefined : this.tile(acc, 'dot accumulator'),
        precision,
      );
    });
    this.def('load', ([ptr, offsets, o]) => {
      const buf = this.buffer(ptr, 'load');
      const opts = this.options(o, 'load', ['mask', 'other']);
      const off = this.ops.offsets(this.operand(offsets, 'load offsets'), 'load offsets');
      const mask = this.mask(opts.mask, 'load');
      const shape = this.ops.laneShape(off, mask, undefined, 'load');
      const dtype = (buf.type as { dtype: TileDType }).dtype;
      const other = this.number(opts.other, 'load other', 0);
      return this.b.op('mem.load', mask ? [buf, off, mask] : [buf, off], [tileType(dtype, shape)], {
        other,
        masked: !!mask,
      }).result;
    });
    this.def('store', ([ptr, offsets, value, o]) => {
      const buf = this.buffer(ptr, 'store');
      const opts = this.options(o, 'store', ['mask']);
      const off = this.ops.offsets(this.operand(offsets, 'store offsets'), 'store offsets');
      const mask = this.mask(opts.mask, 'store');
      const v = this.operand(value, 'store value');
      this.ops.laneShape(off, mask, v, 'store');
      const conv = this.toBufferDType(buf, v);
      this.b.op('mem.store', mask ? [buf, off, conv, mask] : [buf, off, conv], [], { masked: !!mask });
      return undefined;
    });
    for (const kind of ['add', 'max', 'min'] as const) {
      const name = `atomic${kind[0]!.toUpperCase()}${kind.slice(1)}`;
      this.def(name, ([ptr, offsets, value, o]) => {
        const buf = this.buffer(ptr, name);
        const dtype = (buf.type as { dtype: TileDType }).dtype;
        if (!['f32', 'f16', 'bf16', 'i32'].includes(dtype))
          this.fail(`${name} supports f32, f16, bf16 and i32 buffers, not ${dtype}.`);
        const opts = this.options(o, name, ['mask']);
        const off = this.ops.offsets(this.operand(offsets, `${name} offsets`), `${name} offsets`);
        const mask = this.mask(opts.mask, name);
        const v = this.operand(value, `${name} value`);
        const shape = this.ops.laneShape(off, mask, v, name);
        const conv = this.toBufferDType(buf, v);
        return this.b.op('mem.atomic', mask ? [buf, off, conv, mask] : [buf, off, conv], [tileType(dtype, shape)], {
          kind,
          masked: !!mask,
        }).result;
      });
    }
    this.def('tensor', ([ptr, shape, strides, offset]) => {
      const buf = this.buffer(ptr, 'tensor');
      if (!Array.isArray(shape) || shape.length === 0)
        this.fail(`tensor: the shape must be a non-empty array, got ${describe(shape)}.`);
      const dims = (shape as unknown[]).map((d, i) => this.index(d, `tensor shape[${i}]`));
      let st: Value[];
      if (strides === undefined || strides === null) {
        // Row-major: stride[d] = product of the later dims.
        st = new Array(dims.length);
        let acc: Value = this.b.constant(1);
        for (let d = dims.length - 1; d >= 0; d--) {
          st[d] = acc;
          acc = this.b.binary('*', acc, dims[d]!);
        }
      } else {
        if (!Array.isArray(strides) || strides.length !== dims.length) {
          this.fail(`tensor: strides must be ${dims.length} integers, got ${describe(strides)}.`);
        }
        st = (strides as unknown[]).map((s, i) => this.index(s, `tensor strides[${i}]`));
      }
      const off = this.index(offset ?? 0, 'tensor offset');
      this.b.op('mem.view', [buf, off, ...dims, ...st], [], { rank: dims.length });
      return new TensorDescriptor(buf, dims, st, off);
    });
    this.def('loadBlock', ([desc, at, block, o]) => {
      const d = this.descriptor(desc, 'loadBlock');
      const offs = this.blockAt(at, d, 'loadBlock');
      const shape = this.shape(block, 'loadBlock block');
      if (shape.length !== d.rank)
        this.fail(`loadBlock: block [${shape.join(', ')}] must have ${d.rank} entries, one per tensor axis.`);
      const opts = this.options(o, 'loadBlock', ['padding']);
      const padding = this.number(opts.padding, 'loadBlock padding', 0);
      const dtype = (d.buffer.type as { dtype: TileDType }).dtype;
      return this.b.op(
        'mem.load_block',
        [d.buffer, d.offset, ...d.shape, ...d.strides, ...offs],
        [tileType(dtype, shape)],
        {
          rank: d.rank,
          block: shape,
          padding,
        },
      ).result;
    });
    this.def('storeBlock', ([desc, at, value]) => {
      const d = this.descriptor(desc, 'storeBlock');
      const offs = this.blockAt(at, d, 'storeBlock');
      const v = this.tile(value, 'storeBlock value');
      const shape = (v.type as { shape: readonly number[] }).shape;
      if (shape.length !== d.rank)
        this.fail(`storeBlock: a [${shape.join(', ')}] tile does not match the tensor's ${d.rank} axes.`);
      const conv = this.ops.cast(v, (d.buffer.type as { dtype: TileDType }).dtype);
      this.b.op('mem.store_block', [d.buffer, d.offset, ...d.shape, ...d.strides, ...offs, conv], [], { rank: d.rank });
      return undefined;
    });
  }

  private scalarOperand(x: unknown, what: string): Operand {
    const v = this.operand(x, what);
    if (v instanceof Value && isTile(v.type)) this.fail(`${what} must be a number, got a tile.`);
    return v;
  }

  private reshapeShape(s: unknown): number[] {
    if (!Array.isArray(s) || s.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < -1)) {
      this.fail(`reshape: the shape must hold integers known at compile time (one may be -1), got ${describe(s)}.`);
    }
    return [...(s as number[])];
  }

  private reduce(kind: 'sum' | 'max' | 'min' | 'argmax' | 'argmin', x: unknown, axis: unknown, keep: unknown): Value {
    const ax = axis === undefined || axis === null ? undefined : this.intAxis(axis, kind);
    const k =
      keep === undefined
        ? false
        : this.ct<boolean>(keep, `${kind} keepDims`, (v) => typeof v === 'boolean', 'a boolean');
    return this.ops.reduce(kind, this.tile(x, kind), ax, k);
  }

  private sort(x: unknown, o: unknown, indices: boolean): Value {
    const name = indices ? 'argsort' : 'sort';
    const opts = this.options(o, name, ['axis', 'descending']);
    const axis = opts.axis === undefined ? -1 : this.intAxis(opts.axis, name);
    const desc =
      opts.descending === undefined
        ? false
        : this.ct<boolean>(opts.descending, `${name} descending`, (v) => typeof v === 'boolean', 'a boolean');
    return this.ops.sort(this.tile(x, name), axis, desc, indices);
  }

  private toBufferDType(buf: Value, v: Operand): Value {
    const dtype = (buf.type as { dtype: TileDType }).dtype;
    if (v instanceof Value && isTile(v.type)) return this.ops.cast(v, dtype);
    return v instanceof Value ? v : this.b.constant(v);
  }

  private descriptor(x: unknown, what: string): TensorDescriptor {
    if (x instanceof TensorDescriptor) return x;
    return this.fail(`${what} needs a descriptor from t.tensor(ptr, shape), got ${describe(x)}.`);
  }

  private blockAt(at: unknown, d: TensorDescriptor, what: string): Value[] {
    if (!Array.isArray(at) || at.length !== d.rank) {
      this.fail(`${what}: offsets ${describe(at)} must be ${d.rank} integers, one per tensor axis.`);
    }
    return (at as unknown[]).map((v, i) => this.index(v, `${what} offset[${i}]`));
  }

  // ------------------------------------------------------------------------------------- members

  member(name: string, node: AnyNode): unknown {
    const b = this.builtins.get(name);
    if (b) return b;
    if (name === 'mode') {
      return this.fail(
        't.mode is gone: a compiled kernel is the same program in functional and timing-only mode.',
        undefined,
      );
    }
    void node;
    return this.fail(`t.${name} is not part of the tile language.`, 'See packages/device/docs/kernel-language.md.');
  }

  /** Members of runtime values: tile methods and properties, buffer and array properties. */
  valueMember(v: Value, key: string | number | Value, node: AnyNode): unknown {
    void node;
    switch (v.type.kind) {
      case 'tile': {
        if (typeof key !== 'string')
          this.fail(
            'tiles cannot be indexed; their values are not visible to the kernel.',
            'Reduce or select with tile ops (sum, max, where) instead.',
          );
        const t = v.type;
        if (key === 'shape') return stamp([...t.shape]);
        if (key === 'dtype') return t.dtype;
        if (key === 'rank') return t.shape.length;
        if (key === 'size') return t.shape.reduce((a, d) => a * d, 1);
        if (key === 'raw' || key === 'data') {
          this.fail(`tile.${key} is not part of the kernel language: a kernel cannot read a tile's values.`);
        }
        const fn = this.builtins.get(key);
        if (!fn || key === 'load' || key === 'store' || key === 'tensor' || key === 'programId') {
          this.fail(`a tile has no method '${key}'.`);
        }
        return new Builtin(`tile.${key}`, (args, n) => fn.call([v, ...args], n));
      }
      case 'buffer':
        if (key === 'dtype') return v.type.dtype;
        if (key === 'length') return this.b.op('buf.len', [v], [INT]).result;
        if (key === 'bytesPerElement') return DTYPE_INFO[v.type.dtype].bytes;
        if (key === 'storage' || key === 'raw')
          this.fail("a kernel cannot reach a buffer's storage: use t.load / t.loadBlock.");
        return this.fail(`a buffer has no '${String(key)}' in a kernel (it has dtype and length).`);
      case 'array': {
        if (key === 'length') return this.b.op('arr.len', [v], [INT]).result;
        if (typeof key === 'number' || key instanceof Value) {
          const i = this.index(key, 'array index');
          return this.b.op('arr.get', [v, i], [v.type.elem === 'int' ? INT : { kind: 'scalar', s: 'float' }]).result;
        }
        return this.fail(`a ${typeToString(v.type)} parameter has no '${key}' (index it, or read length).`);
      }
      default:
        return this.fail(`a ${typeToString(v.type)} has no member '${String(key)}'.`);
    }
  }
}

export function isDTypeName(x: unknown): boolean {
  return typeof x === 'string' && (isDType(x) || x === 'bool');
}
