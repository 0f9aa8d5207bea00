/**
 * The SIMT language as the stager sees it: the body is one thread's program (as in CUDA), with symbolic thread and
 * block ids; the block shape is part of the specialisation, so `k.blockDim.x` is a compile-time number and loops over
 * it unroll. `yield` is `__syncthreads()` (a `simt.barrier` op), buffers are read and written element by element
 * (`x.get(i)`, `x.set(i, v)`, atomics), shared arrays index like typed arrays (`s[i]`, `s[i] = v`, `s[i] += v`) and
 * have atomics (`s.atomicAdd(i, v)`, as buffers do). Warp intrinsics (`k.shfl`, `k.ballot`, `k.reduceAdd`, …) become
 * `simt.shfl` / `simt.vote` / `simt.redux` / `simt.syncwarp` ops; `k.laneId` and `k.warpId` are index arithmetic on the
 * thread id with the device's warp size (part of the specialisation).
 */
import { TesseraError } from '../../errors';
import {
  BOOL,
  FLOAT,
  INT,
  isScalar,
  SHARED_ELEMS,
  type SharedElem,
  sharedElemBytes,
  type Type,
  typeToString,
  Value,
} from '../ir';
import type { AnyNode } from './source';
import { CompileError, describe, LANGS, type LangContext, type Stager, type ValueMembers } from './stager';
import { Builtin, stamp } from './values';

const SHARED_DTYPES = SHARED_ELEMS;

/** Scalar kind of an element of `dtype` read into a thread's registers. */
function elemType(dtype: string): Type {
  return dtype === 'f32' || dtype === 'f16' || dtype === 'bf16' || dtype.startsWith('fp8') ? FLOAT : INT;
}

/**
 * Shared atomics CUDA has natively (`atomicAdd(float*)`, `atomicAdd(__half*)`, the 32-bit integer ones, 16-bit CAS);
 * the others (8/16-bit integers, float min/max, …) are CAS loops on the containing word in CUDA. Tessera gives every
 * kind on every shared dtype the same one-step semantics; `native` tells the cost model which are which.
 */
function nativeSharedAtomic(kind: string, dtype: SharedElem): boolean {
  if (dtype === 'i32' || dtype === 'u32') return true;
  if (dtype === 'f32') return kind === 'add' || kind === 'exch';
  if (dtype === 'f16' || dtype === 'bf16') return kind === 'add' || kind === 'cas';
  if (dtype === 'i16') return kind === 'cas';
  return false;
}

/** CUDA's names of the warp intrinsics, for messages. */
const CUDA_NAME: Record<string, string> = {
  shfl: '__shfl_sync',
  shflUp: '__shfl_up_sync',
  shflDown: '__shfl_down_sync',
  shflXor: '__shfl_xor_sync',
  ballot: '__ballot_sync',
  any: '__any_sync',
  all: '__all_sync',
  reduceAdd: '__reduce_add_sync',
  reduceMin: '__reduce_min_sync',
  reduceMax: '__reduce_max_sync',
  syncwarp: '__syncwarp',
  activeMask: '__activemask',
};

const SHFL_MODES: Record<string, string> = { shfl: 'idx', shflUp: 'up', shflDown: 'down', shflXor: 'bfly' };

export class SimtLanguage implements LangContext, ValueMembers {
  private readonly builtins = new Map<string, unknown>();
  readonly sharedByName = new Map<string, Value>();

  constructor(
    private readonly st: Stager,
    private readonly block: readonly [number, number, number],
    private readonly dynamicSharedBytes: number,
    shared: Readonly<Record<string, readonly [SharedElem, number]>>,
    private readonly warpSize = 32,
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
    this.builtins.set('warpSize', this.warpSize);
    this.defineWarp();
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
        const eb = sharedElemBytes(dt);
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
    if (name === 'laneId' || name === 'warpId') return this.laneOrWarp(name);
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
        case 'atomicMin':
        case 'atomicExch': {
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
            `a buffer in a SIMT kernel has no '${String(key)}' (get, set, atomicAdd/Max/Min/Exch/CAS, length).`,
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
      if (key === 'atomicAdd' || key === 'atomicMax' || key === 'atomicMin' || key === 'atomicExch') {
        const kind = key.slice(6).toLowerCase();
        return new Builtin(key, ([i, x]) => this.sharedAtomic(v, t.dtype, kind, key, i, x));
      }
      if (key === 'atomicCAS') {
        return new Builtin(key, ([i, cmp, x]) => this.sharedAtomic(v, t.dtype, 'cas', key, i, x, cmp));
      }
      return this.fail(
        `a shared array has no '${key}' in a SIMT kernel (index it, read length or dtype, fill, subarray, atomicAdd/Max/Min/Exch/CAS).`,
      );
    }
    if (t.kind === 'array') {
      if (key === 'length') return this.b.op('arr.len', [v], [INT]).result;
      if (typeof key === 'number' || key instanceof Value) {
        return this.b.op('arr.get', [v, this.index(key, 'array index')], [t.elem === 'int' ? INT : FLOAT]).result;
      }
    }
    return this.fail(`a ${typeToString(t)} has no member '${String(key)}'.`);
  }

  /** `s.atomicAdd(i, v)` & co.: a read-modify-write of one shared element, returning the old value. */
  private sharedAtomic(
    s: Value,
    dtype: SharedElem,
    kind: string,
    what: string,
    i: unknown,
    x: unknown,
    cmp?: unknown,
  ): Value {
    const operands = [s, this.index(i, `${what} index`), this.number(x, `${what} value`)];
    if (kind === 'cas') operands.push(this.number(cmp, `${what} compare`));
    return this.b.op('simt.shared_atomic', operands, [elemType(dtype)], {
      kind,
      native: nativeSharedAtomic(kind, dtype),
    }).result;
  }

  /** A kernel-level `return` under runtime control: the thread exits (warp intrinsics no longer wait for it). */
  kernelReturn(): void {
    this.b.op('simt.exit', [], []);
  }

  // ------------------------------------------------------------------------------------------------- warps

  /** Refuses a cross-lane intrinsic on a device without warps (or with more lanes than a 32-bit mask names). */
  private needWarps(name: string): void {
    const ws = this.warpSize;
    if (ws >= 2 && ws <= 32 && (ws & (ws - 1)) === 0) return;
    const hint =
      ws === 1
        ? 'This device runs a SIMT block on the lanes of one vector core, without warps: Ascend 910B/910C have no SIMT ' +
          "hardware, and Huawei's warp intrinsics (asc_shfl, …) exist only on the Atlas 350 (Ascend 950). Exchange the " +
          'values through shared memory between k.syncthreads(), or write the kernel in the tile style (t.sum, t.max, ' +
          't.cumsum over a tile). See packages/device/docs/kernel-language.md, "Warps".'
        : 'Warp masks are 32 bits: warp intrinsics need a warp size that is a power of two up to 32.';
    try {
      this.fail(
        `k.${name} (${CUDA_NAME[name]}) exchanges values between the lanes of a warp, and this device has no warps (warpSize ${ws}).`,
      );
    } catch (e) {
      if (!(e instanceof CompileError)) throw e;
      throw new TesseraError('Unsupported', e.message, { ...e.details, hint, warpSize: ws });
    }
  }

  /** A lane mask: a 32-bit integer (a constant is checked here: it must name at least one lane). */
  private mask(x: unknown, name: string): Value {
    const call = `k.${name}`;
    if (x === undefined) {
      this.fail(
        `${call} needs a mask of the lanes taking part (CUDA's first argument).`,
        'Pass 0xffffffff for the whole warp, or a ballot / k.activeMask() for the lanes that are active.',
      );
    }
    if (typeof x === 'number') {
      if (!Number.isInteger(x) || x < -(2 ** 31) || x > 0xffffffff)
        this.fail(`${call}: the mask ${x} is not a 32-bit integer.`);
      const m = x >>> 0;
      if (m === 0) this.fail(`${call}: the mask 0 names no lane, but the calling lane must be in it.`);
      return this.b.constant(m);
    }
    if (x instanceof Value && isScalar(x.type) && x.type.s !== 'bool') return x;
    return this.fail(`${call}: the mask must be an integer, got ${describe(x)}.`);
  }

  /** A shuffle's section width: a power of two in [1, warpSize], known at compile time (default: warpSize). */
  private width(x: unknown, name: string): number {
    const ws = this.warpSize;
    if (x === undefined) return ws;
    if (x instanceof Value) this.fail(`k.${name}: the width must be known at compile time (a number or a constexpr).`);
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 1 || x > ws || (x & (x - 1)) !== 0) {
      this.fail(
        `k.${name}: the width must be a power of two from 1 to the warp size (${ws}), got ${describe(x)}.`,
        'CUDA leaves any other width undefined.',
      );
    }
    return x as number;
  }

  /** A value exchanged between lanes: a number (a bool becomes 0 or 1). */
  private lanesValue(x: unknown, name: string): Value {
    const v = this.number(x, `k.${name} value`);
    if (isScalar(v.type) && v.type.s === 'bool') return this.b.select(v, this.b.constant(1), this.b.constant(0));
    return v;
  }

  private defineWarp(): void {
    for (const name of ['shfl', 'shflUp', 'shflDown', 'shflXor'] as const) {
      const what = name === 'shfl' ? 'srcLane' : name === 'shflXor' ? 'laneMask' : 'delta';
      this.builtins.set(
        name,
        new Builtin(`k.${name}`, ([mask, x, lane, width]) => {
          this.needWarps(name);
          const m = this.mask(mask, name);
          const v = this.lanesValue(x, name);
          if (lane === undefined) this.fail(`k.${name}(mask, v, ${what}, width?) needs its ${what}.`);
          const b = this.index(lane, `k.${name} ${what}`);
          const w = this.width(width, name);
          return this.b.op('simt.shfl', [m, v, b], [v.type], { mode: SHFL_MODES[name]!, width: w }).result;
        }),
      );
    }
    for (const name of ['ballot', 'any', 'all'] as const) {
      this.builtins.set(
        name,
        new Builtin(`k.${name}`, ([mask, pred]) => {
          this.needWarps(name);
          const m = this.mask(mask, name);
          if (pred === undefined) this.fail(`k.${name}(mask, predicate) needs its predicate.`);
          const p =
            pred instanceof Value
              ? isScalar(pred.type)
                ? this.st.truthy(pred)
                : this.fail(`k.${name}: the predicate must be a scalar, got ${describe(pred)}.`)
              : this.b.constant(Boolean(pred));
          return this.b.op('simt.vote', [m, p], [name === 'ballot' ? INT : BOOL], { kind: name }).result;
        }),
      );
    }
    this.builtins.set(
      'activeMask',
      new Builtin('k.activeMask', () => {
        this.needWarps('activeMask');
        return this.b.op('simt.vote', [], [INT], { kind: 'active' }).result;
      }),
    );
    for (const name of ['reduceAdd', 'reduceMin', 'reduceMax'] as const) {
      this.builtins.set(
        name,
        new Builtin(`k.${name}`, ([mask, x, type]) => {
          this.needWarps(name);
          const m = this.mask(mask, name);
          if (type !== undefined && type !== 'i32' && type !== 'u32')
            this.fail(`k.${name}: the type must be 'i32' (CUDA's int overload, the default) or 'u32' (unsigned).`);
          const integer =
            typeof x === 'number' ? Number.isInteger(x) : x instanceof Value && isScalar(x.type) && x.type.s === 'int';
          if (!integer) {
            this.fail(
              `k.${name} takes an integer (as ${CUDA_NAME[name]} takes int or unsigned), got ${describe(x)}.`,
              'Reduce floats with k.shflXor / k.shflDown steps; make an integer value with Math.trunc(v) or v | 0.',
            );
          }
          const v = this.number(x, `k.${name} value`);
          return this.b.op('simt.redux', [m, v], [INT], { kind: name.slice(6).toLowerCase(), unsigned: type === 'u32' })
            .result;
        }),
      );
    }
    this.builtins.set(
      'syncwarp',
      new Builtin('k.syncwarp', ([mask]) => {
        this.needWarps('syncwarp');
        this.b.op('simt.syncwarp', [this.mask(mask ?? 0xffffffff, 'syncwarp')], []);
        return undefined;
      }),
    );
  }

  /** `k.laneId` / `k.warpId`: the linear thread index (x fastest) modulo / divided by the warp size. */
  private laneOrWarp(name: 'laneId' | 'warpId'): Value | number {
    const [bx, by, bz] = this.block;
    const ws = this.warpSize;
    const tid = this.builtins.get('threadIdx') as { x: Value; y: Value; z: Value };
    let lin = tid.x;
    if (by > 1) lin = this.b.binary('+', lin, this.b.binary('*', tid.y, this.b.constant(bx)));
    if (bz > 1) lin = this.b.binary('+', lin, this.b.binary('*', tid.z, this.b.constant(bx * by)));
    if (bx * by * bz <= ws) return name === 'laneId' ? lin : 0;
    const w = this.b.constant(ws);
    if (name === 'laneId') return this.b.binary('%', lin, w);
    return this.b.unary('floor', this.b.binary('/', lin, w));
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
