/**
 * Global-memory ops of the tile language: gathers and scatters with masks, atomics, and block loads/stores through
 * tensor descriptors. Bytes are counted exactly (masked-off lanes and out-of-bounds padding move nothing); an
 * unmasked access outside its buffer is an illegal-address fault, sticky for the device as in CUDA.
 */
import { bitsDecoder, bitsEncoder, DTYPE_INFO, type DType, dtypeBytes, isFloat } from '../dtype/dtype';
import { TesseraError } from '../errors';
import type { DeviceBuffer } from '../memory/buffer';
import type { TileContext } from './context';
import { broadcastData, broadcastShapes, checkShape, sizeOf, stridesOf } from './shape';
import { type Operand, Tile, type TileData } from './tile';

export interface TensorDesc {
  readonly buffer: DeviceBuffer;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  /** Element offset of index (0, …, 0) in the buffer. */
  readonly offset: number;
}

function checkPtr(ctx: TileContext, ptr: DeviceBuffer, op: string): void {
  if (ptr === null || typeof ptr !== 'object' || typeof (ptr as DeviceBuffer).assertLive !== 'function') {
    throw new TesseraError('InvalidValue', `${ctx.location()}: ${op} needs a device buffer, got ${typeof ptr}.`);
  }
  ptr.assertLive(`${ctx.location()}: ${op}`);
  if (ptr.owner !== ctx.launch.owner) {
    throw new TesseraError(
      'IllegalAddress',
      `${ctx.location()}: ${op} of ${ptr.describe()}, which lives on another device than ${ctx.launch.owner.label}.`,
      { hint: 'Copy the data to this device first (memcpyPeer or a collective).', device: ctx.launch.owner.label },
    );
  }
  ctx.useDType(ptr.dtype);
}

function touch(ctx: TileContext, ptr: DeviceBuffer, read: boolean, written: boolean): void {
  const m = ctx.launch.buffers;
  const e = m.get(ptr.id);
  if (e) {
    e.read ||= read;
    e.written ||= written;
  } else m.set(ptr.id, { buffer: ptr, read, written });
}

function fault(ctx: TileContext, op: string, ptr: DeviceBuffer, index: number): TesseraError {
  return new TesseraError(
    'IllegalAddress',
    `${ctx.location()}: ${op} of ${ptr.describe()} at element ${index} is out of bounds (valid 0..${ptr.length - 1}).`,
    {
      hint:
        'Mask the access (e.g. t.load(x, offs, { mask: offs.lt(n) })) or fix the index math. ' +
        'The device is now in an error state, as after a CUDA illegal-address fault: call device.reset().',
      device: ctx.launch.owner.label,
      kernel: ctx.launch.kernel,
      index,
    },
  );
}

function intTile(ctx: TileContext, x: Operand, what: string): Tile {
  if (x instanceof Tile) {
    if (isFloat(x.dtype) || x.dtype === 'bool') {
      throw new TesseraError('InvalidValue', `${ctx.location()}: ${what} must be an integer tile, got ${x.dtype}.`, {
        hint: 'Build offsets from t.arange() and integer scalars, or cast("i32").',
      });
    }
    return x;
  }
  if (!Number.isInteger(x))
    throw new TesseraError('InvalidValue', `${ctx.location()}: ${what} ${x} is not an integer.`);
  return ctx.tile([], 'i32', Int32Array.of(x));
}

/** Broadcasts offsets and mask to one shape; returns their flat data (or null when abstract). */
function lanes(ctx: TileContext, offsets: Tile, mask: Tile | undefined, what: string, value?: Operand) {
  if (mask && mask.dtype !== 'bool') {
    throw new TesseraError('InvalidValue', `${ctx.location()}: ${what} mask must be a bool tile, got ${mask.dtype}.`, {
      hint: 'Build masks with comparisons, e.g. offs.lt(n).',
    });
  }
  let shape: readonly number[] = offsets.shape;
  if (mask) shape = broadcastShapes(shape, mask.shape, `${ctx.location()}: ${what}`);
  if (value instanceof Tile) shape = broadcastShapes(shape, value.shape, `${ctx.location()}: ${what}`);
  const n = sizeOf(shape);
  const off = offsets.raw
    ? offsets.size === n
      ? offsets.raw
      : broadcastData(offsets.raw, offsets.shape, shape)
    : null;
  const m = mask
    ? mask.raw
      ? mask.size === n
        ? mask.raw
        : broadcastData(mask.raw, mask.shape, shape)
      : null
    : undefined;
  return { shape, n, off, m };
}

/** Counts active lanes and checks their bounds; returns the active count. */
function checkLanes(
  ctx: TileContext,
  op: string,
  ptr: DeviceBuffer,
  n: number,
  off: TileData | null,
  m: TileData | null | undefined,
): number {
  if (!off) return m ? countTrue(m) : n; // offsets derive from data timing-only mode lacks: assume every lane
  // A mask computed from loaded data (timing-only mode has none): the active lanes are unknown, so bounds cannot be
  // checked here; every lane counts. The functional run checks them for real.
  if (m === null) return n;
  const len = ptr.length;
  let active = 0;
  for (let i = 0; i < n; i++) {
    if (m && !m[i]) continue;
    const o = off[i]!;
    if (o < 0 || o >= len) throw fault(ctx, op, ptr, o);
    active++;
  }
  return active;
}

/** Copies the in-bounds part of a (rows, cols) block at (r0, c0) of a 2-D f32 tensor (unit column stride) into out. */
function copyBlock2dF32(
  out: Float32Array,
  st: Float32Array,
  desc: TensorDesc,
  r0: number,
  c0: number,
  rows: number,
  cols: number,
): void {
  const [R, C] = desc.shape as [number, number];
  const rs = desc.strides[0]!;
  const j0 = Math.max(0, -c0);
  const j1 = Math.min(cols, C - c0);
  const i0 = Math.max(0, -r0);
  const i1 = Math.min(rows, R - r0);
  if (j1 <= j0) return;
  for (let i = i0; i < i1; i++) {
    const ob = i * cols;
    const sb = desc.offset + (r0 + i) * rs + c0;
    for (let j = j0; j < j1; j++) out[ob + j] = st[sb + j]!;
  }
}

/** dst[d..d+n) = src[s..s+n) for float32 arrays: one monomorphic loop the JIT turns into tight code. */
function copyF32(dst: Float32Array, d: number, src: Float32Array, s: number, n: number): void {
  for (let j = 0; j < n; j++) dst[d + j] = src[s + j]!;
}

function countTrue(m: TileData): number {
  let c = 0;
  for (let i = 0; i < m.length; i++) if (m[i]) c++;
  return c;
}

export function load(
  ctx: TileContext,
  ptr: DeviceBuffer,
  offsets: Operand,
  opts: { mask?: Tile; other?: number },
): Tile {
  checkPtr(ctx, ptr, 'load');
  const offT = intTile(ctx, offsets, 'load offsets');
  const { shape, n, off, m } = lanes(ctx, offT, opts.mask, 'load');
  const active = checkLanes(ctx, 'load', ptr, n, off, m);
  const c = ctx.cost;
  c.memoryOps += 1;
  c.bytesRead += active * DTYPE_INFO[ptr.dtype].bytes;
  touch(ctx, ptr, true, false);
  if (ctx.mode === 'timing' || !off || m === null) {
    const out = ctx.tile(shape, ptr.dtype, null);
    ctx.noteVector(out);
    return out;
  }
  const out = ctx.alloc(ptr.dtype, n);
  const store = ptr.storage();
  const dec = bitsDecoder(ptr.dtype);
  const other = opts.other ?? 0;
  if (m) {
    for (let i = 0; i < n; i++) out[i] = m[i] ? (dec ? dec(store[off[i]!]!) : store[off[i]!]!) : other;
  } else if (dec) {
    for (let i = 0; i < n; i++) out[i] = dec(store[off[i]!]!);
  } else {
    for (let i = 0; i < n; i++) out[i] = store[off[i]!]!;
  }
  const t = ctx.tile(shape, ptr.dtype, out);
  ctx.noteVector(t);
  return t;
}

/** Value tile converted to the buffer dtype and broadcast to `shape` (flat data, or null when abstract). */
function valueFor(ctx: TileContext, ptr: DeviceBuffer, value: Operand, shape: readonly number[], what: string) {
  const v = value instanceof Tile ? value : ctx.full([], value, ptr.dtype);
  broadcastShapes(v.shape, shape, `${ctx.location()}: ${what}`);
  const conv = ctx.cast(v, ptr.dtype);
  const n = sizeOf(shape);
  return {
    tile: conv,
    data: conv.raw ? (conv.size === n ? conv.raw : broadcastData(conv.raw, conv.shape, shape)) : null,
  };
}

export function store(
  ctx: TileContext,
  ptr: DeviceBuffer,
  offsets: Operand,
  value: Operand,
  opts: { mask?: Tile },
): void {
  checkPtr(ctx, ptr, 'store');
  const offT = intTile(ctx, offsets, 'store offsets');
  const { shape, n, off, m } = lanes(ctx, offT, opts.mask, 'store', value);
  const active = checkLanes(ctx, 'store', ptr, n, off, m);
  const { tile, data } = valueFor(ctx, ptr, value, shape, 'store');
  const c = ctx.cost;
  c.memoryOps += 1;
  c.bytesWritten += active * DTYPE_INFO[ptr.dtype].bytes;
  touch(ctx, ptr, false, true);
  ctx.noteVector(tile);
  if (ctx.mode === 'timing' || !off || m === null || !data) return;
  writeLanes(ptr, n, off, m, data);
}

function writeLanes(ptr: DeviceBuffer, n: number, off: TileData, m: TileData | undefined, data: TileData): void {
  const st = ptr.storage();
  const enc = bitsEncoder(ptr.dtype);
  for (let i = 0; i < n; i++) {
    if (m && !m[i]) continue;
    st[off[i]!] = enc ? enc(data[i]!) : data[i]!;
  }
}

export function atomic(
  ctx: TileContext,
  op: 'add' | 'max' | 'min',
  ptr: DeviceBuffer,
  offsets: Operand,
  value: Operand,
  opts: { mask?: Tile },
): Tile {
  const what = `atomic${op[0]!.toUpperCase()}${op.slice(1)}`;
  checkPtr(ctx, ptr, what);
  if (!(['f32', 'f16', 'bf16', 'i32'] as DType[]).includes(ptr.dtype)) {
    throw new TesseraError(
      'InvalidValue',
      `${ctx.location()}: ${what} supports f32, f16, bf16 and i32 buffers, not ${ptr.dtype}.`,
    );
  }
  const offT = intTile(ctx, offsets, `${what} offsets`);
  const { shape, n, off, m } = lanes(ctx, offT, opts.mask, what, value);
  const active = checkLanes(ctx, what, ptr, n, off, m);
  const { data } = valueFor(ctx, ptr, value, shape, what);
  const c = ctx.cost;
  c.memoryOps += 1;
  c.atomicOps += active;
  c.bytesRead += active * DTYPE_INFO[ptr.dtype].bytes;
  c.bytesWritten += active * DTYPE_INFO[ptr.dtype].bytes;
  touch(ctx, ptr, true, true);
  if (ctx.mode === 'timing' || !off || m === null || !data) return ctx.tile(shape, ptr.dtype, null);
  const old = ctx.alloc(ptr.dtype, n).fill(0);
  const st = ptr.storage();
  const dec = bitsDecoder(ptr.dtype);
  const enc = bitsEncoder(ptr.dtype);
  const round = ptr.dtype === 'f32' ? Math.fround : ptr.dtype === 'i32' ? (x: number) => x | 0 : (x: number) => x;
  for (let i = 0; i < n; i++) {
    if (m && !m[i]) continue;
    const o = off[i]!;
    const prev = dec ? dec(st[o]!) : st[o]!;
    old[i] = prev;
    const v = data[i]!;
    const next = op === 'add' ? round(prev + v) : op === 'max' ? (v > prev ? v : prev) : v < prev ? v : prev;
    st[o] = enc ? enc(next) : next;
  }
  return ctx.tile(shape, ptr.dtype, old);
}

export function tensor(
  ctx: TileContext,
  ptr: DeviceBuffer,
  shape: readonly number[],
  strides?: readonly number[],
  offset = 0,
): TensorDesc {
  checkPtr(ctx, ptr, 'tensor');
  const what = `${ctx.location()}: tensor`;
  checkShape(shape, what);
  if (!Number.isInteger(offset) || offset < 0) {
    throw new TesseraError('InvalidValue', `${what}: offset ${offset} must be an integer ≥ 0.`);
  }
  const st = strides ? [...strides] : stridesOf(shape);
  if (st.length !== shape.length || st.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new TesseraError('InvalidValue', `${what}: strides [${st.join(', ')}] must be ${shape.length} integers ≥ 0.`);
  }
  if (sizeOf(shape) > 0) {
    let last = offset;
    for (let d = 0; d < shape.length; d++) last += (shape[d]! - 1) * st[d]!;
    if (last >= ptr.length) {
      throw new TesseraError(
        'IllegalAddress',
        `${what}: a [${shape.join(', ')}] view with strides [${st.join(', ')}] at offset ${offset} reaches element ${last}, past the end of ${ptr.describe()}.`,
        {
          hint: 'Check the shape and strides against the buffer you allocated; then call device.reset().',
          device: ctx.launch.owner.label,
        },
      );
    }
  }
  return { buffer: ptr, shape: [...shape], strides: st, offset };
}

function checkBlock(ctx: TileContext, desc: TensorDesc, at: readonly number[], block: readonly number[], op: string) {
  const what = `${ctx.location()}: ${op}`;
  if (!desc?.buffer || !Array.isArray(desc.shape)) {
    throw new TesseraError('InvalidValue', `${what} needs a descriptor from t.tensor(ptr, shape).`);
  }
  if (at.length !== desc.shape.length || block.length !== desc.shape.length) {
    throw new TesseraError(
      'InvalidValue',
      `${what}: offsets [${at.join(', ')}] and block [${block.join(', ')}] must each have ${desc.shape.length} entries, one per tensor axis.`,
    );
  }
  for (const v of at)
    if (!Number.isInteger(v)) throw new TesseraError('InvalidValue', `${what}: offset ${v} is not an integer.`);
  checkShape(block, what);
  desc.buffer.assertLive(what);
}

/** Number of in-bounds elements of a block: the product over axes of the overlap. */
function inBounds(desc: TensorDesc, at: readonly number[], block: readonly number[]): number {
  let n = 1;
  for (let d = 0; d < block.length; d++) {
    const lo = Math.max(0, at[d]!);
    const hi = Math.min(desc.shape[d]!, at[d]! + block[d]!);
    n *= Math.max(0, hi - lo);
  }
  return n;
}

/** Visits the block row by row (all axes but the last), giving the in-bounds column range and source base. */
function forEachRow(
  desc: TensorDesc,
  at: readonly number[],
  block: readonly number[],
  fn: (outBase: number, srcBase: number, j0: number, j1: number) => void,
): void {
  const r = block.length;
  const lastLen = block[r - 1] ?? 1;
  const lastAt = at[r - 1] ?? 0;
  const lastShape = desc.shape[r - 1] ?? 1;
  const lastStride = desc.strides[r - 1] ?? 1;
  const j0 = Math.max(0, -lastAt);
  const j1 = Math.min(lastLen, lastShape - lastAt);
  const rows = sizeOf(block.slice(0, -1));
  const idx = new Array<number>(Math.max(0, r - 1)).fill(0);
  for (let row = 0; row < rows; row++) {
    let inside = true;
    let base = desc.offset;
    for (let d = 0; d < r - 1; d++) {
      const g = at[d]! + idx[d]!;
      if (g < 0 || g >= desc.shape[d]!) inside = false;
      base += g * desc.strides[d]!;
    }
    if (inside && j1 > j0) fn(row * lastLen, base + lastAt * lastStride, j0, j1);
    for (let d = r - 2; d >= 0; d--) {
      if (++idx[d]! < block[d]!) break;
      idx[d] = 0;
    }
  }
}

export function loadBlock(
  ctx: TileContext,
  desc: TensorDesc,
  at: readonly number[],
  block: readonly number[],
  padding: number,
): Tile {
  checkBlock(ctx, desc, at, block, 'loadBlock');
  const ptr = desc.buffer;
  const n = inBounds(desc, at, block);
  const c = ctx.cost;
  c.memoryOps += 1;
  c.bytesRead += n * dtypeBytes(ptr.dtype);
  touch(ctx, ptr, true, false);
  if (ctx.mode === 'timing') {
    const t = ctx.tile(block, ptr.dtype, null);
    ctx.noteVector(t);
    return t;
  }
  const out = ctx.alloc(ptr.dtype, sizeOf(block));
  if (n < out.length) out.fill(padding);
  const st = ptr.storage();
  const dec = bitsDecoder(ptr.dtype);
  const ls = desc.strides[block.length - 1] ?? 1;
  const f32 = st instanceof Float32Array && out instanceof Float32Array;
  if (f32 && block.length === 2 && ls === 1) {
    // The hot case (GEMM and attention operand tiles): a 2-D f32 block with unit inner stride.
    copyBlock2dF32(out, st, desc, at[0]!, at[1]!, block[0]!, block[1]!);
    const t = ctx.tile(block, ptr.dtype, out);
    ctx.noteVector(t);
    return t;
  }
  if (ptr.dtype === 'bf16' && out instanceof Float32Array) {
    // bf16 → f32 is exact and is only a shift of the bits: write them through a u32 view of the tile.
    const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
    const src = st as Uint16Array;
    forEachRow(desc, at, block, (ob, sb, j0, j1) => {
      for (let j = j0; j < j1; j++) bits[ob + j] = src[sb + j * ls]! << 16;
    });
    const t = ctx.tile(block, ptr.dtype, out);
    ctx.noteVector(t);
    return t;
  }
  forEachRow(desc, at, block, (ob, sb, j0, j1) => {
    // Long contiguous rows: one native copy; short ones: a monomorphic loop beats a subarray view per row.
    if (!dec && ls === 1 && j1 - j0 >= 256)
      (out as Float32Array).set(st.subarray(sb + j0, sb + j1) as Float32Array, ob + j0);
    else if (f32 && ls === 1) copyF32(out, ob + j0, st, sb + j0, j1 - j0);
    else if (!dec && ls === 1) for (let j = j0; j < j1; j++) out[ob + j] = st[sb + j]!;
    else if (!dec) for (let j = j0; j < j1; j++) out[ob + j] = st[sb + j * ls]!;
    else for (let j = j0; j < j1; j++) out[ob + j] = dec(st[sb + j * ls]!);
  });
  const t = ctx.tile(block, ptr.dtype, out);
  ctx.noteVector(t);
  return t;
}

export function storeBlock(ctx: TileContext, desc: TensorDesc, at: readonly number[], value: Tile): void {
  checkBlock(ctx, desc, at, value.shape, 'storeBlock');
  const ptr = desc.buffer;
  const n = inBounds(desc, at, value.shape);
  const conv = ctx.cast(value, ptr.dtype);
  const c = ctx.cost;
  c.memoryOps += 1;
  c.bytesWritten += n * dtypeBytes(ptr.dtype);
  touch(ctx, ptr, false, true);
  ctx.noteVector(conv);
  if (ctx.mode === 'timing' || !conv.raw) return;
  const data = conv.raw;
  const st = ptr.storage();
  const enc = bitsEncoder(ptr.dtype);
  const ls = desc.strides[value.rank - 1] ?? 1;
  const f32 = st instanceof Float32Array && data instanceof Float32Array;
  forEachRow(desc, at, value.shape, (ob, sb, j0, j1) => {
    if (!enc && ls === 1 && j1 - j0 >= 256)
      (st as Float32Array).set(data.subarray(ob + j0, ob + j1) as Float32Array, sb + j0);
    else if (f32 && ls === 1) copyF32(st, sb + j0, data, ob + j0, j1 - j0);
    else if (!enc && ls === 1) for (let j = j0; j < j1; j++) st[sb + j] = data[ob + j]!;
    else if (!enc) for (let j = j0; j < j1; j++) st[sb + j * ls] = data[ob + j]!;
    else for (let j = j0; j < j1; j++) st[sb + j * ls] = enc(data[ob + j]!);
  });
}
