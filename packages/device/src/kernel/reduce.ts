/**
 * Reductions, scans and sorts along one axis of a tile. Sums accumulate in float64 and round once to the result
 * dtype, so they are at least as accurate as a tree of f32 adds, and the same on every backend.
 */
import { isFloat, isFp8, type TileDType } from '../dtype/dtype';
import { TesseraError } from '../errors';
import { finishData, type TileContext } from './context';
import { normalizeAxis, sizeOf } from './shape';
import type { Tile, TileData } from './tile';

export type ReduceKind = 'sum' | 'max' | 'min' | 'argmax' | 'argmin';

/** Splits a shape around `axis` into (outer, n, inner). */
function split(shape: readonly number[], axis: number): [number, number, number] {
  return [sizeOf(shape.slice(0, axis)), shape[axis]!, sizeOf(shape.slice(axis + 1))];
}

function checkType(ctx: TileContext, x: Tile, what: string): void {
  if (isFp8(x.dtype)) {
    throw new TesseraError('InvalidValue', `${ctx.location()}: ${what} of an fp8 tile.`, {
      hint: 'Cast to f32 first.',
    });
  }
}

export function reduce(ctx: TileContext, kind: ReduceKind, x: Tile, axis: number | undefined, keepDims: boolean): Tile {
  checkType(ctx, x, kind);
  const whole = axis === undefined;
  const src = whole ? ctx.reshape(x, [x.size]) : x;
  const ax = whole ? 0 : normalizeAxis(axis, x.rank, `${ctx.location()}: ${kind}`);
  const [outer, n, inner] = split(src.shape, ax);
  if (n === 0 && kind !== 'sum') {
    throw new TesseraError('InvalidValue', `${ctx.location()}: ${kind} over an empty axis has no result.`);
  }
  let shape: number[];
  if (whole) shape = keepDims ? x.shape.map(() => 1) : [];
  else {
    shape = [...x.shape];
    if (keepDims) shape[ax] = 1;
    else shape.splice(ax, 1);
  }
  const rd: TileDType =
    kind === 'argmax' || kind === 'argmin' ? 'i32' : kind === 'sum' && !isFloat(x.dtype) ? 'i32' : x.dtype;
  ctx.cost.addVector(x.dtype === 'bool' ? 'i32' : x.dtype, x.size);
  if (!x.raw) {
    const out = ctx.tile(shape, rd, null, x.fromDot);
    ctx.noteVector(out, x);
    return out;
  }
  const a = x.raw;
  const out = ctx.alloc(rd, outer * inner);
  if (kind === 'sum') sumInto(a, out, outer, n, inner);
  else if (kind === 'max' || kind === 'min') extremeInto(a, out, outer, n, inner, kind === 'max');
  else argInto(a, out, outer, n, inner, kind === 'argmax');
  finishData(out, rd);
  const res = ctx.tile(shape, rd, out, x.fromDot);
  ctx.noteVector(res, x);
  return res;
}

function sumInto(a: TileData, out: TileData, outer: number, n: number, inner: number): void {
  if (inner === 1) {
    for (let o = 0; o < outer; o++) {
      let s = 0;
      const base = o * n;
      for (let i = 0; i < n; i++) s += a[base + i]!;
      out[o] = s;
    }
    return;
  }
  const acc = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    acc.fill(0);
    for (let i = 0; i < n; i++) {
      const base = (o * n + i) * inner;
      for (let j = 0; j < inner; j++) acc[j]! += a[base + j]!;
    }
    for (let j = 0; j < inner; j++) out[o * inner + j] = acc[j]!;
  }
}

function extremeInto(a: TileData, out: TileData, outer: number, n: number, inner: number, isMax: boolean): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      let best = a[o * n * inner + j]!;
      for (let i = 1; i < n && !Number.isNaN(best); i++) {
        const v = a[(o * n + i) * inner + j]!;
        if (Number.isNaN(v) || (isMax ? v > best : v < best)) best = v;
      }
      out[o * inner + j] = best;
    }
  }
}

function argInto(a: TileData, out: TileData, outer: number, n: number, inner: number, isMax: boolean): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      let best = a[o * n * inner + j]!;
      let bi = 0;
      for (let i = 1; i < n && !Number.isNaN(best); i++) {
        const v = a[(o * n + i) * inner + j]!;
        if (Number.isNaN(v) || (isMax ? v > best : v < best)) {
          best = v;
          bi = i;
        }
      }
      out[o * inner + j] = bi;
    }
  }
}

export function cumsum(ctx: TileContext, x: Tile, axis: number): Tile {
  checkType(ctx, x, 'cumsum');
  const ax = normalizeAxis(axis, x.rank, `${ctx.location()}: cumsum`);
  const rd: TileDType = isFloat(x.dtype) ? x.dtype : 'i32';
  ctx.cost.addVector(rd, x.size);
  if (!x.raw) return ctx.tile(x.shape, rd, null, x.fromDot);
  const [outer, n, inner] = split(x.shape, ax);
  const a = x.raw;
  const out = ctx.alloc(rd, x.size);
  const tmp = new Float64Array(x.size);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      let s = 0;
      for (let i = 0; i < n; i++) {
        const k = (o * n + i) * inner + j;
        s += a[k]!;
        tmp[k] = s;
      }
    }
  }
  for (let k = 0; k < x.size; k++) out[k] = tmp[k]!;
  finishData(out, rd);
  const res = ctx.tile(x.shape, rd, out, x.fromDot);
  ctx.noteVector(res, x);
  return res;
}

export function sort(ctx: TileContext, x: Tile, axis: number, descending: boolean, indices: boolean): Tile {
  checkType(ctx, x, indices ? 'argsort' : 'sort');
  const ax = normalizeAxis(axis, x.rank, `${ctx.location()}: sort`);
  const [outer, n, inner] = split(x.shape, ax);
  // A bitonic network (what GPUs run) does n·log2(n)·(log2(n)+1)/4 compare-exchanges per row.
  const lg = Math.ceil(Math.log2(Math.max(2, n)));
  ctx.cost.addVector(x.dtype, ((outer * inner * n * lg * (lg + 1)) / 4) * 2);
  const rd: TileDType = indices ? 'i32' : x.dtype;
  if (!x.raw) return ctx.tile(x.shape, rd, null);
  const a = x.raw;
  const out = ctx.alloc(rd, x.size);
  const idx = new Array<number>(n);
  const nanLast = (p: number, q: number): number => {
    const vp = a[p]!;
    const vq = a[q]!;
    if (Number.isNaN(vp)) return Number.isNaN(vq) ? 0 : 1;
    if (Number.isNaN(vq)) return -1;
    return descending ? vq - vp : vp - vq;
  };
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      for (let i = 0; i < n; i++) idx[i] = (o * n + i) * inner + j;
      const order = idx.map((k, i) => [k, i] as const).sort((p, q) => nanLast(p[0], q[0]) || p[1] - q[1]);
      for (let i = 0; i < n; i++) {
        const dst = (o * n + i) * inner + j;
        out[dst] = indices ? order[i]![1] : a[order[i]![0]]!;
      }
    }
  }
  const res = ctx.tile(x.shape, rd, out);
  ctx.noteVector(res, x);
  return res;
}
