/**
 * A tile: a small n-dimensional block of values that lives on chip for the duration of one program instance.
 * Kernels never see a tile's numbers: they combine tiles with the tile language's ops, which is what keeps kernels
 * traceable (timing-only mode, and a future lowering to WGSL) and lets every op be costed.
 */
import type { DType, TileDType } from '../dtype/dtype';
import type { TileContext } from './context';
import { type Shape, sizeOf } from './shape';

/** Element storage inside a tile: float dtypes in float32, integer dtypes in int32, bool in uint8. */
export type TileData = Float32Array | Int32Array | Uint8Array;

export type Operand = Tile | number;

export class Tile {
  readonly size: number;

  constructor(
    /** @internal */ readonly ctx: TileContext,
    readonly shape: Shape,
    readonly dtype: TileDType,
    /** @internal Values, or null when the tile derives from data that timing-only mode does not hold. */
    readonly raw: TileData | null,
    /** @internal True for `dot` accumulators and values computed from them (matrix-unit epilogue). */
    readonly fromDot = false,
  ) {
    this.size = sizeOf(shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  // Arithmetic and logic (broadcasting, NumPy rules; numbers are scalars).
  add(b: Operand): Tile {
    return this.ctx.add(this, b);
  }
  sub(b: Operand): Tile {
    return this.ctx.sub(this, b);
  }
  mul(b: Operand): Tile {
    return this.ctx.mul(this, b);
  }
  div(b: Operand): Tile {
    return this.ctx.div(this, b);
  }
  maximum(b: Operand): Tile {
    return this.ctx.maximum(this, b);
  }
  minimum(b: Operand): Tile {
    return this.ctx.minimum(this, b);
  }
  idiv(b: Operand): Tile {
    return this.ctx.idiv(this, b);
  }
  rem(b: Operand): Tile {
    return this.ctx.rem(this, b);
  }
  and(b: Operand): Tile {
    return this.ctx.and(this, b);
  }
  or(b: Operand): Tile {
    return this.ctx.or(this, b);
  }
  xor(b: Operand): Tile {
    return this.ctx.xor(this, b);
  }
  shl(b: Operand): Tile {
    return this.ctx.shl(this, b);
  }
  shr(b: Operand): Tile {
    return this.ctx.shr(this, b);
  }
  lt(b: Operand): Tile {
    return this.ctx.lt(this, b);
  }
  le(b: Operand): Tile {
    return this.ctx.le(this, b);
  }
  gt(b: Operand): Tile {
    return this.ctx.gt(this, b);
  }
  ge(b: Operand): Tile {
    return this.ctx.ge(this, b);
  }
  eq(b: Operand): Tile {
    return this.ctx.eq(this, b);
  }
  ne(b: Operand): Tile {
    return this.ctx.ne(this, b);
  }

  // Unary math.
  neg(): Tile {
    return this.ctx.neg(this);
  }
  abs(): Tile {
    return this.ctx.abs(this);
  }
  exp(): Tile {
    return this.ctx.exp(this);
  }
  exp2(): Tile {
    return this.ctx.exp2(this);
  }
  log(): Tile {
    return this.ctx.log(this);
  }
  sqrt(): Tile {
    return this.ctx.sqrt(this);
  }
  rsqrt(): Tile {
    return this.ctx.rsqrt(this);
  }
  sigmoid(): Tile {
    return this.ctx.sigmoid(this);
  }
  tanh(): Tile {
    return this.ctx.tanh(this);
  }
  not(): Tile {
    return this.ctx.not(this);
  }
  log2(): Tile {
    return this.ctx.log2(this);
  }
  sin(): Tile {
    return this.ctx.sin(this);
  }
  cos(): Tile {
    return this.ctx.cos(this);
  }
  erf(): Tile {
    return this.ctx.erf(this);
  }
  floor(): Tile {
    return this.ctx.floor(this);
  }
  ceil(): Tile {
    return this.ctx.ceil(this);
  }
  /** Round half to even. */
  round(): Tile {
    return this.ctx.round(this);
  }
  isnan(): Tile {
    return this.ctx.isnan(this);
  }

  cast(dtype: TileDType): Tile {
    return this.ctx.cast(this, dtype);
  }

  // Shape.
  reshape(shape: readonly number[]): Tile {
    return this.ctx.reshape(this, shape);
  }
  expandDims(axis: number): Tile {
    return this.ctx.expandDims(this, axis);
  }
  broadcastTo(shape: readonly number[]): Tile {
    return this.ctx.broadcastTo(this, shape);
  }
  trans(): Tile {
    return this.ctx.trans(this);
  }
  permute(perm: readonly number[]): Tile {
    return this.ctx.permute(this, perm);
  }

  // Reductions.
  sum(axis?: number, keepDims = false): Tile {
    return this.ctx.sum(this, axis, keepDims);
  }
  max(axis?: number, keepDims = false): Tile {
    return this.ctx.max(this, axis, keepDims);
  }
  min(axis?: number, keepDims = false): Tile {
    return this.ctx.min(this, axis, keepDims);
  }
  argmax(axis?: number, keepDims = false): Tile {
    return this.ctx.argmax(this, axis, keepDims);
  }
  argmin(axis?: number, keepDims = false): Tile {
    return this.ctx.argmin(this, axis, keepDims);
  }
  cumsum(axis = -1): Tile {
    return this.ctx.cumsum(this, axis);
  }

  toString(): string {
    return `Tile<${this.dtype}>[${this.shape.join(', ')}]`;
  }
}

/** The dtype of a buffer argument as the kernel sees it. */
export type BufferDType = DType;
