/**
 * The IR interpreter: walks a kernel's IR for one program at a time, op by op, with fresh arrays for every tile and
 * the runtime library's whole-tile operations — the simple reference the generated code is checked against (and what
 * `TESSERA_INTERPRET=1` runs, as `TRITON_INTERPRET=1` does). It evaluates ops in program order, so it raises the
 * first fault of a program that has several, as the generated code does. SIMT kernels have their own interpreter
 * (interpret-simt.ts).
 *
 * With `TileHooks` (the sanitizer, packages/device/docs/sanitizer.md) every global access is shown to the hooks as
 * lanes of element offsets before it is made: the hook may report lanes (out of bounds, uninitialised, racing) and
 * returns the lanes to make, so an out-of-bounds lane is skipped (a load reads `other` / padding) instead of faulting.
 */
import type { DType, TileDType } from '../dtype/dtype';
import type { BinaryOp, UnaryOp } from '../kernel/elementwise';
import { sizeOf } from '../kernel/shape';
import { evalBinary, evalUnary } from './builder';
import { allocTile, castTo, kindOf, type LaunchArgs, RUNTIME, type TileData, tf32Into } from './codegen/runtime';
import type { TileValue, View, Where } from './codegen/runtime-ops';
import * as ops from './codegen/runtime-ops';
import { type KernelIR, laneShape, type Op, type Region, type Value } from './ir';

export type Access = 'read' | 'write' | 'atomic';

/** Instrumentation of a tile kernel's run (the sanitizer). */
export interface TileHooks {
  /**
   * Program `w` is about to access buffer `k` at element offsets `off` (lanes; active where `mask` is non-zero, or
   * all when it is null) — in bounds or not. `values`: what a store or atomic writes per lane (converted to the
   * buffer's dtype), null for loads. Returns the lanes to make (the mask, with lanes the hook refused cleared; null:
   * all); an out-of-bounds lane must be refused.
   */
  access(
    op: Op,
    access: Access,
    k: number,
    off: ArrayLike<number>,
    mask: ArrayLike<number> | null,
    w: Where,
    values: ArrayLike<number> | null,
  ): ArrayLike<number> | null;
  /** A `t.tensor` view that reaches past its buffer (the `IllegalAddress` the plain run raises, `error`). */
  view(op: Op, k: number, w: Where, error: Error): void;
}

type Val = number | boolean | TileValue | readonly number[] | null;

class Yielded {
  constructor(readonly values: Val[]) {}
}

/** Runs programs [pidStart, pidEnd) of a launch (linear ids: x fastest, then y, then z), in order. */
export function interpretPrograms(
  ir: KernelIR,
  L: LaunchArgs,
  pidStart: number,
  pidEnd: number,
  hooks: TileHooks | null = null,
): void {
  const [gx, gy] = L.grid;
  for (let p = pidStart; p < pidEnd; p++) {
    const x = p % gx;
    const q = (p - x) / gx;
    const y = q % gy;
    const z = (q - y) / gy;
    interpretProgram(ir, L, [x, y, z], hooks);
  }
}

/** Runs one program of a launch. */
export function interpretProgram(
  ir: KernelIR,
  L: LaunchArgs,
  pid: readonly [number, number, number],
  hooks: TileHooks | null = null,
): void {
  if (ir.style !== 'tile') throw new Error(`interpretProgram: ${ir.name} is a ${ir.style} kernel`);
  const env = new Map<Value, Val>();
  const bufIndex = new Map<Value, number>();
  let nb = 0;
  let ns = 0;
  let na = 0;
  for (const p of ir.params) {
    if (!p.value) continue;
    const t = p.value.type;
    if (t.kind === 'buffer') {
      bufIndex.set(p.value, nb);
      env.set(p.value, nb++);
    } else if (t.kind === 'array') env.set(p.value, L.arrays[na++]!);
    else env.set(p.value, L.scalars[ns++]!);
  }
  new Interpreter(L, { L, x: pid[0], y: pid[1], z: pid[2] }, env, bufIndex, hooks).region(ir.body, []);
}

class Interpreter {
  constructor(
    readonly L: LaunchArgs,
    readonly w: Where,
    readonly env: Map<Value, Val>,
    readonly bufIndex: Map<Value, number>,
    readonly hooks: TileHooks | null = null,
  ) {}

  get(v: Value): Val {
    if (!this.env.has(v)) throw new Error(`interpreter: %${v.id} is used before it is defined`);
    return this.env.get(v)!;
  }

  tile(v: Value): TileValue {
    return this.get(v) as TileValue;
  }

  num(v: Value): number {
    return this.get(v) as number;
  }

  /** A tile operand or a scalar (numbers and booleans convert as JS does). */
  operand(v: Value): TileValue | number {
    const x = this.get(v);
    return typeof x === 'object' && x !== null && 'data' in x ? (x as TileValue) : (x as number);
  }

  buf(v: Value): number {
    return this.bufIndex.get(v)!;
  }

  /** Runs a region with its arguments bound; returns the values of its terminator (yield / condition). */
  region(r: Region, args: Val[]): Val[] {
    r.args.forEach((a, i) => {
      this.env.set(a, args[i]!);
    });
    for (const op of r.ops) {
      const res = this.op(op);
      if (res instanceof Yielded) return res.values;
    }
    return [];
  }

  private shapeOf(v: Value): readonly number[] {
    return (v.type as { shape: readonly number[] }).shape;
  }

  private dtypeOf(v: Value): TileDType {
    return (v.type as { dtype: TileDType }).dtype;
  }

  op(op: Op): Yielded | undefined {
    const { w, L } = this;
    const a = op.attrs;
    const set = (v: Val) => this.env.set(op.result, v);
    switch (op.opcode) {
      case 'const':
        set(a.value as number | boolean);
        return;
      case 's.binary':
        set(evalBinary(a.op as string, this.get(op.operands[0]!) as number, this.get(op.operands[1]!) as number));
        return;
      case 's.unary':
        set(evalUnary(a.op as string, this.get(op.operands[0]!) as number));
        return;
      case 's.select':
        set(this.get(op.operands[0]!) ? this.get(op.operands[1]!) : this.get(op.operands[2]!));
        return;
      case 'prog.id':
        set([w.x, w.y, w.z][a.axis as number]!);
        return;
      case 'prog.num':
        set(L.grid[a.axis as number]!);
        return;
      case 'arr.get':
        set((this.get(op.operands[0]!) as readonly number[])[this.num(op.operands[1]!)] as number);
        return;
      case 'arr.len':
        set((this.get(op.operands[0]!) as readonly number[]).length);
        return;
      case 'buf.len':
        set(L.mem[this.buf(op.operands[0]!)]!.length);
        return;
      case 'trap':
        throw RUNTIME.trap(L, a.message as string, w.x, w.y, w.z, (a.name as string | undefined) ?? 'Error');
      case 'scf.yield':
      case 'scf.condition':
        return new Yielded(op.operands.map((v) => this.get(v)));
      case 'scf.if': {
        const c = this.get(op.operands[0]!);
        const out = this.region(op.regions[c ? 0 : 1]!, []);
        op.results.forEach((r, i) => {
          this.env.set(r, out[i]!);
        });
        return;
      }
      case 'scf.for': {
        const [lo, hi, step] = op.operands.slice(0, 3).map((v) => this.num(v)) as [number, number, number];
        let iters = op.operands.slice(3).map((v) => this.get(v));
        for (let iv = lo; iv < hi; iv += step) iters = this.region(op.regions[0]!, [iv, ...iters]);
        op.results.forEach((r, i) => {
          this.env.set(r, iters[i]!);
        });
        return;
      }
      case 'scf.while': {
        let args = op.operands.map((v) => this.get(v));
        for (;;) {
          const [c, ...vals] = this.region(op.regions[0]!, args);
          if (!c) {
            op.results.forEach((r, i) => {
              this.env.set(r, vals[i]!);
            });
            return;
          }
          args = this.region(op.regions[1]!, vals);
        }
      }
      // ------------------------------------------------------------------------------------------ tiles
      case 'tile.arange': {
        const start = this.num(op.operands[0]!);
        if (!Number.isInteger(start)) throw RUNTIME.arangeError(L, start, a.size as number, w.x, w.y, w.z);
        set(ops.arange(start, a.size as number));
        return;
      }
      case 'tile.full':
        set(ops.full(a.shape as number[], this.num(op.operands[0]!), a.dtype as TileDType));
        return;
      case 'tile.binary':
        set(
          ops.binary(
            a.op as BinaryOp,
            a.dtype as TileDType,
            this.dtypeOf(op.result),
            this.operand(op.operands[0]!),
            this.operand(op.operands[1]!),
            this.shapeOf(op.result),
          ),
        );
        return;
      case 'tile.unary':
        set(ops.unary(a.op as UnaryOp, a.dtype as TileDType, this.dtypeOf(op.result), this.tile(op.operands[0]!)));
        return;
      case 'tile.where':
        set(
          ops.where(
            a.dtype as TileDType,
            this.tile(op.operands[0]!),
            this.operand(op.operands[1]!),
            this.operand(op.operands[2]!),
            this.shapeOf(op.result),
          ),
        );
        return;
      case 'tile.cast':
        set(ops.cast(this.tile(op.operands[0]!), a.dtype as TileDType));
        return;
      case 'tile.reshape': {
        const x = this.tile(op.operands[0]!);
        set({ shape: a.shape as number[], dtype: x.dtype, data: x.data });
        return;
      }
      case 'tile.broadcast':
        set(ops.broadcastTo(this.tile(op.operands[0]!), a.shape as number[]));
        return;
      case 'tile.permute':
        set(ops.permute(this.tile(op.operands[0]!), a.perm as number[]));
        return;
      case 'tile.reduce': {
        const x = this.tile(op.operands[0]!);
        const rd = this.dtypeOf(op.result);
        const [outer, n, inner] = a.axis === null ? [1, x.data.length, 1] : ops.splitAxis(x.shape, a.axis as number);
        const out = allocTile(rd, outer * inner);
        ops.reduceInto(a.kind as 'sum', x.data, out, outer, n, inner, rd);
        set({ shape: this.shapeOf(op.result), dtype: rd, data: out });
        return;
      }
      case 'tile.cumsum': {
        const x = this.tile(op.operands[0]!);
        const rd = this.dtypeOf(op.result);
        const [outer, n, inner] = ops.splitAxis(x.shape, a.axis as number);
        const out = allocTile(rd, x.data.length);
        ops.cumsumInto(x.data, out, outer, n, inner, rd);
        set({ shape: x.shape, dtype: rd, data: out });
        return;
      }
      case 'tile.sort': {
        const x = this.tile(op.operands[0]!);
        const rd = this.dtypeOf(op.result);
        const [outer, n, inner] = ops.splitAxis(x.shape, a.axis as number);
        const out = allocTile(rd, x.data.length);
        RUNTIME.sort(x.data, out, outer, n, inner, a.descending as boolean, a.indices as boolean);
        set({ shape: x.shape, dtype: rd, data: out });
        return;
      }
      case 'tile.dot': {
        const ta = this.tile(op.operands[0]!);
        const tb = this.tile(op.operands[1]!);
        const acc = op.operands[2] ? this.tile(op.operands[2]) : null;
        const [M, K] = ta.shape as [number, number];
        const N = tb.shape[1]!;
        const rd = this.dtypeOf(op.result);
        const c = allocTile(rd, M * N);
        if (rd === 'i32') {
          RUNTIME.dotI32(
            ta.data as Int32Array,
            tb.data as Int32Array,
            c as Int32Array,
            M,
            N,
            K,
            (acc?.data as Int32Array) ?? null,
          );
        } else {
          let ad = ta.data as Float32Array;
          let bd = tb.data as Float32Array;
          if (a.precision === 'tf32' && ta.dtype === 'f32') {
            ad = tf32Into(ad, new Float32Array(ad.length), ad.length);
            bd = tf32Into(bd, new Float32Array(bd.length), bd.length);
          }
          RUNTIME.dotF32(ad, bd, c as Float32Array, M, N, K, (acc?.data as Float32Array) ?? null);
        }
        set({ shape: [M, N], dtype: rd, data: c });
        return;
      }
      // ----------------------------------------------------------------------------------------- memory
      case 'mem.load': {
        const k = this.buf(op.operands[0]!);
        const dtype = this.dtypeOf(op.result) as DType;
        const shape = this.shapeOf(op.result);
        const { off, mask } = this.lanes(op, 'load', 'load offsets', shape, a.masked ? op.operands[2]! : null);
        const m = this.hooks ? this.hooks.access(op, 'read', k, off, mask, w, null) : mask;
        if (!this.hooks) ops.checkLanes(w, 'load', k, off, mask);
        set(ops.gather(L.mem[k]!, dtype, off, m, a.other as number, shape));
        return;
      }
      case 'mem.store': {
        const k = this.buf(op.operands[0]!);
        const dtype = (op.operands[0]!.type as { dtype: DType }).dtype;
        const shape = laneShape(op);
        const { off, mask } = this.lanes(op, 'store', 'store offsets', shape, a.masked ? op.operands[3]! : null);
        if (!this.hooks) ops.checkLanes(w, 'store', k, off, mask);
        const data = this.converted(op.operands[2]!, dtype, shape);
        const m = this.hooks ? this.hooks.access(op, 'write', k, off, mask, w, data) : mask;
        ops.scatter(L.mem[k]!, dtype, off, m, data);
        return;
      }
      case 'mem.atomic': {
        const k = this.buf(op.operands[0]!);
        const dtype = (op.operands[0]!.type as { dtype: DType }).dtype;
        const kind = a.kind as 'add' | 'max' | 'min';
        const what = `atomic${kind[0]!.toUpperCase()}${kind.slice(1)}`;
        const shape = this.shapeOf(op.result);
        const { off, mask } = this.lanes(op, what, `${what} offsets`, shape, a.masked ? op.operands[3]! : null);
        if (!this.hooks) ops.checkLanes(w, what, k, off, mask);
        const data = this.converted(op.operands[2]!, dtype, shape);
        const m = this.hooks ? this.hooks.access(op, 'atomic', k, off, mask, w, data) : mask;
        set(ops.atomicRmw(kind, L.mem[k]!, dtype, off, m, data, shape));
        return;
      }
      case 'mem.view': {
        const k = this.buf(op.operands[0]!);
        const r = a.rank as number;
        const nums = op.operands.slice(1).map((v) => this.num(v));
        const offset = nums[0]!;
        const shape = nums.slice(1, 1 + r);
        const strides = nums.slice(1 + r, 1 + 2 * r);
        try {
          RUNTIME.viewError(L, k, offset, shape, strides, w.x, w.y, w.z);
        } catch (e) {
          if (!this.hooks || (e as { code?: string }).code !== 'IllegalAddress') throw e;
          this.hooks.view(op, k, w, e as Error);
        }
        return;
      }
      case 'mem.load_block': {
        const k = this.buf(op.operands[0]!);
        const r = a.rank as number;
        const nums = op.operands.slice(1).map((v) => this.num(v));
        const v: View = { k, offset: nums[0]!, shape: nums.slice(1, 1 + r), strides: nums.slice(1 + r, 1 + 2 * r) };
        const at = nums.slice(1 + 2 * r, 1 + 3 * r);
        const dtype = this.dtypeOf(op.result) as DType;
        if (this.hooks) {
          const block = a.block as number[];
          RUNTIME.blockAtError(L, 'loadBlock', at, w.x, w.y, w.z);
          const { off, mask } = blockLanes(v, at, block);
          const m = this.hooks.access(op, 'read', k, off, mask, w, null);
          set(ops.gather(L.mem[k]!, dtype, off, m, a.padding as number, block));
          return;
        }
        set(ops.loadBlock(w, L.mem[k]!, dtype, v, at, a.block as number[], a.padding as number));
        return;
      }
      case 'mem.store_block': {
        const k = this.buf(op.operands[0]!);
        const r = a.rank as number;
        const nums = op.operands.slice(1, 2 + 3 * r).map((v) => this.num(v));
        const v: View = { k, offset: nums[0]!, shape: nums.slice(1, 1 + r), strides: nums.slice(1 + r, 1 + 2 * r) };
        const at = nums.slice(1 + 2 * r, 1 + 3 * r);
        const dtype = (op.operands[0]!.type as { dtype: DType }).dtype;
        const value = this.tile(op.operands[2 + 3 * r]!);
        if (this.hooks) {
          RUNTIME.blockAtError(L, 'storeBlock', at, w.x, w.y, w.z);
          const { off, mask } = blockLanes(v, at, value.shape);
          const m = this.hooks.access(op, 'write', k, off, mask, w, value.data);
          ops.scatter(L.mem[k]!, dtype, off, m, value.data);
          return;
        }
        ops.storeBlock(w, L.mem[k]!, dtype, v, at, value);
        return;
      }
      default:
        throw new Error(`interpreter: unknown op ${op.opcode}`);
    }
  }

  /** Offsets (int tile, or integer scalar wrapped as Int32Array.of does) and mask, expanded to the lanes. */
  private lanes(op: Op, what: string, offWhat: string, shape: readonly number[], maskV: Value | null) {
    const o = this.operand(op.operands[1]!);
    let off: ArrayLike<number>;
    if (typeof o === 'number') {
      if (!Number.isInteger(o)) throw RUNTIME.offsetError(this.L, offWhat, o, this.w.x, this.w.y, this.w.z);
      off = ops.expand(o | 0, shape);
    } else off = ops.expand(o, shape);
    void what;
    const mask = maskV ? ops.expand(this.tile(maskV), shape) : null;
    return { off, mask };
  }

  /** A store's value in the buffer's dtype at every lane (a scalar converts as `castScalar`). */
  private converted(v: Value, dtype: DType, shape: readonly number[]): ArrayLike<number> {
    const x = this.operand(v);
    if (typeof x === 'number') {
      const t: TileData = allocTile(dtype, 1);
      t[0] = castTo(x, dtype);
      return ops.expand({ shape: [], dtype, data: t }, shape);
    }
    return ops.expand(x, shape);
  }
}

/**
 * The lanes of a block access: for each element of the block (row-major), its element offset in the buffer and
 * whether it lies inside the view (elements outside it are padding / skipped, as `loadBlock` / `storeBlock` do).
 */
export function blockLanes(
  v: View,
  at: readonly number[],
  block: readonly number[],
): { off: Int32Array; mask: Uint8Array } {
  const n = sizeOf(block);
  const off = new Int32Array(n);
  const mask = new Uint8Array(n);
  const r = block.length;
  const idx = new Array<number>(r).fill(0);
  for (let i = 0; i < n; i++) {
    let o = v.offset;
    let inside = true;
    for (let d = 0; d < r; d++) {
      const g = at[d]! + idx[d]!;
      if (g < 0 || g >= v.shape[d]!) inside = false;
      o += g * v.strides[d]!;
    }
    if (inside) {
      off[i] = o;
      mask[i] = 1;
    }
    for (let d = r - 1; d >= 0; d--) {
      if (++idx[d]! < block[d]!) break;
      idx[d] = 0;
    }
  }
  return { off, mask };
}

export { kindOf };
