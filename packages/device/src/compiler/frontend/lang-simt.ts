/**
 * The SIMT language as the stager sees it: the body is one thread's program (as in CUDA), with symbolic thread and
 * block ids; the block shape is part of the specialisation, so `k.blockDim.x` is a compile-time number and loops over
 * it unroll. `yield` is `__syncthreads()` (a `simt.barrier` op), buffers are read and written element by element
 * (`x.get(i)`, `x.set(i, v)`, atomics), shared arrays index like typed arrays (`s[i]`, `s[i] = v`, `s[i] += v`).
 */
import { DTYPE_INFO, isFloat } from '../../dtype/dtype';
import { FLOAT, INT, isScalar, type SharedElem, type Type, typeToString, Value } from '../ir';
import type { AnyNode } from './source';
import { describe, LANGS, type LangContext, type Stager, type ValueMembers } from './stager';
import { Builtin, stamp } from './values';

const SHARED_DTYPES: readonly SharedElem[] = ['f32', 'i32', 'i16', 'i8', 'u8'];

/** Scalar kind of an element of `dtype` read into a thread's registers. */
function elemType(dtype: string): Type {
  return isFloat(dtype as never) ? FLOAT : INT;
}

export class SimtLanguage implements LangContext, ValueMembers {
  private readonly builtins = new Map<string, unknown>();
  readonly sharedByName = new Map<string, Value>();

  constructor(
    private readonly st: Stager,
    private readonly block: readonly [number, number, number],
    private readonly dynamicSharedBytes: number,
    shared: Readonly<Record<string, readonly [SharedElem, number]>>,
  ) {
    LANGS.add(this);
    for (const [name, [dtype, length]] of Object.entries(shared)) {
      this.sharedByName.set(name, new Value({ kind: 'shared', dtype, length }, name));
    }
    this.define();
  }

  private get b() {
    return this.st.b;
  }

  private fail(m: string, hint?: string): never {
    return this.st.fail(m, hint);
  }

  private index(x: unknown, what: string): Value {
    if (typeof x === 'number') {
      if (!Number.isInteger(x)) this.fail(`${what} ${x} is not an integer.`);
      return this.b.constant(x);
    }
    if (x instanceof Value && isScalar(x.type) && x.type.s !== 'bool') return x;
    return this.fail(`${what} must be an integer, got ${describe(x)}.`);
  }

  private number(x: unknown, what: string): Value {
    if (typeof x === 'number') return this.b.constant(x);
    if (typeof x === 'boolean') return this.b.constant(x ? 1 : 0);
    if (x instanceof Value && isScalar(x.type)) return x;
    return this.fail(
      `${what} must be a number, got ${describe(x)}.`,
      x === undefined
        ? 'An undefined value usually comes from reading past the end of a plain array or a misspelt variable.'
        : undefined,
    );
  }

  private dims(opcode: string, values?: readonly number[]): Record<string, unknown> {
    const o: Record<string, unknown> = stamp({});
    (['x', 'y', 'z'] as const).forEach((axis, i) => {
      o[axis] = values ? values[i]! : this.b.op(opcode, [], [INT], { axis: i }).result;
    });
    return Object.freeze(o);
  }

  private define(): void {
    this.builtins.set('threadIdx', this.dims('simt.tid'));
    this.builtins.set('blockIdx', this.dims('simt.bid'));
    this.builtins.set('blockDim', this.dims('simt.bdim', this.block));
    this.builtins.set('gridDim', this.dims('simt.gdim'));
    const shared: Record<string, unknown> = stamp({});
    for (const [name, v] of this.sharedByName) shared[name] = v;
    this.builtins.set('shared', Object.freeze(shared));
    this.builtins.set('syncthreads', new Builtin('k.syncthreads', () => BARRIER));
    this.builtins.set(
      'countFlops',
      new Builtin('k.countFlops', ([n, dtype]) => {
        const d = dtype ?? 'f32';
        if (!['f32', 'f16', 'bf16', 'i32'].includes(d as string))
          this.fail(`countFlops: dtype must be f32, f16, bf16 or i32, got ${describe(d)}.`);
        this.b.op('simt.flops', [this.number(n, 'countFlops n')], [], { dtype: d as string });
        return undefined;
      }),
    );
    this.builtins.set(
      'dynamicShared',
      new Builtin('k.dynamicShared', ([dtype, byteOffset, length]) => {
        const ct = (x: unknown, what: string) => {
          if (x instanceof Value) this.fail(`dynamicShared: ${what} must be known at compile time.`);
          return x;
        };
        const dt = ct(dtype, 'the dtype') as SharedElem;
        if (!SHARED_DTYPES.includes(dt)) {
          this.fail(
            `dynamicShared: dtype ${describe(dtype)} is not a shared-memory dtype; expected one of ${SHARED_DTYPES.join(', ')}.`,
          );
        }
        const eb = DTYPE_INFO[dt].bytes;
        const off = (ct(byteOffset ?? 0, 'the byte offset') as number) ?? 0;
        if (!Number.isSafeInteger(off) || off < 0 || off % eb !== 0) {
          this.fail(`dynamicShared(${dt}, ${off}): offset must be a multiple of ${eb} bytes.`);
        }
        const len =
          length === undefined
            ? Math.floor((this.dynamicSharedBytes - off) / eb)
            : (ct(length, 'the length') as number);
        if (!Number.isSafeInteger(len) || len < 0)
          this.fail(`dynamicShared: length must be an integer ≥ 0, got ${describe(length)}.`);
        if (off + len * eb > this.dynamicSharedBytes) {
          this.fail(
            `dynamicShared(${dt}, ${off}, ${len}) needs ${off + len * eb} bytes, but the launch gives ${this.dynamicSharedBytes} bytes of dynamic shared memory.`,
            'Pass a larger sharedMemBytes in the launch config.',
          );
        }
        return this.b.op('simt.dynamic_shared', [], [{ kind: 'shared', dtype: dt, length: len }], {
          dtype: dt,
          offset: off,
          length: len,
        }).result;
      }),
    );
  }

  member(name: string): unknown {
    if (this.builtins.has(name)) return this.builtins.get(name);
    return this.fail(`k.${name} is not part of the SIMT language.`, 'See packages/device/docs/kernel-language.md.');
  }

  yieldExpression(): unknown {
    this.b.op('simt.barrier', [], []);
    return undefined;
  }

  valueMember(v: Value, key: string | number | Value, node: AnyNode): unknown {
    void node;
    const t = v.type;
    if (t.kind === 'buffer') {
      const dtype = t.dtype;
      switch (key) {
        case 'length':
          return this.b.op('buf.len', [v], [INT]).result;
        case 'dtype':
          return dtype;
        case 'get':
          return new Builtin(
            'get',
            ([i]) => this.b.op('simt.load', [v, this.index(i, 'get index')], [elemType(dtype)]).result,
          );
        case 'set':
          return new Builtin('set', ([i, x]) => {
            this.b.op(
              'simt.store',
              [v, this.index(i, 'set index'), this.number(x, `${v.hint ?? 'buffer'}.set value`)],
              [],
            );
            return undefined;
          });
        case 'atomicAdd':
        case 'atomicMax':
        case 'atomicMin': {
          const kind = key.slice(6).toLowerCase();
          return new Builtin(
            key,
            ([i, x]) =>
              this.b.op(
                'simt.atomic',
                [v, this.index(i, `${key} index`), this.number(x, `${key} value`)],
                [elemType(dtype)],
                { kind },
              ).result,
          );
        }
        case 'atomicCAS':
          return new Builtin(
            key,
            ([i, cmp, x]) =>
              this.b.op(
                'simt.atomic',
                [
                  v,
                  this.index(i, 'atomicCAS index'),
                  this.number(x, 'atomicCAS value'),
                  this.number(cmp, 'atomicCAS compare'),
                ],
                [elemType(dtype)],
                { kind: 'cas' },
              ).result,
          );
        default:
          if (key === 'storage' || key === 'raw' || key === 'data')
            this.fail("a kernel cannot reach a buffer's storage: use get/set.");
          return this.fail(
            `a buffer in a SIMT kernel has no '${String(key)}' (get, set, atomicAdd/Max/Min/CAS, length).`,
          );
      }
    }
    if (t.kind === 'shared') {
      if (key === 'length') return t.length;
      if (key === 'dtype') return t.dtype;
      if (key === 'fill') {
        return new Builtin('fill', ([x, start, end]) => {
          const s0 = start === undefined ? this.b.constant(0) : this.index(start, 'fill start');
          const s1 = end === undefined ? this.b.constant(t.length) : this.index(end, 'fill end');
          this.b.op('simt.shared_fill', [v, this.number(x, 'fill value'), s0, s1], []);
          return v;
        });
      }
      if (key === 'subarray') {
        return new Builtin('subarray', ([begin, end]) => {
          const ct = (x: unknown, d: number, what: string) => {
            if (x === undefined) return d;
            if (typeof x !== 'number' || !Number.isInteger(x))
              this.fail(`subarray: ${what} must be an integer known at compile time.`);
            return x < 0 ? Math.max(0, t.length + x) : Math.min(x, t.length);
          };
          const b0 = ct(begin, 0, 'begin');
          const b1 = Math.max(b0, ct(end, t.length, 'end'));
          return this.b.op('simt.shared_view', [v], [{ kind: 'shared', dtype: t.dtype, length: b1 - b0 }], {
            offset: b0,
            length: b1 - b0,
          }).result;
        });
      }
      if (typeof key === 'number' || key instanceof Value) {
        return this.b.op('simt.shared_load', [v, this.index(key, 'shared index')], [elemType(t.dtype)]).result;
      }
      return this.fail(`a shared array has no '${key}' in a SIMT kernel (index it, or read length).`);
    }
    if (t.kind === 'array') {
      if (key === 'length') return this.b.op('arr.len', [v], [INT]).result;
      if (typeof key === 'number' || key instanceof Value) {
        return this.b.op('arr.get', [v, this.index(key, 'array index')], [t.elem === 'int' ? INT : FLOAT]).result;
      }
    }
    return this.fail(`a ${typeToString(t)} has no member '${String(key)}'.`);
  }

  assignIndex(v: Value, index: unknown, value: unknown): void {
    if (v.type.kind !== 'shared')
      this.fail(`cannot assign into a ${typeToString(v.type)}; use .set(i, v) for buffers.`);
    this.b.op(
      'simt.shared_store',
      [v, this.index(index, 'shared index'), this.number(value, 'a shared-array store')],
      [],
    );
  }
}

/** What `k.syncthreads()` returns: `yield` of anything is the barrier. */
export const BARRIER = Object.freeze({ barrier: true });
