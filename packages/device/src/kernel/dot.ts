/**
 * Functional `dot`: acc(M,N) += a(M,K) · b(K,N) with the semantics documented in `wasm-dot.ts`:
 * per output element, products and sums each round to float32 (int32 for integer inputs) in ascending k.
 * The WebAssembly SIMD path and the plain-JS path give identical bits; `TESSERA_NO_WASM=1` forces plain JS.
 */
import { dotPool, PoolFailure } from './dot-pool';
import { MAX_PAGES, PANEL_ROWS, wasmDot } from './wasm-dot';

const fround = Math.fround;

/** Plain-JS reference path: 4×4 register blocking, rounding after every multiply and add. */
export function dotF32Js(a: Float32Array, b: Float32Array, c: Float32Array, M: number, N: number, K: number): void {
  const M4 = M - (M % 4);
  const N4 = N - (N % 4);
  for (let i = 0; i < M4; i += 4) {
    const r0 = i * K;
    const r1 = r0 + K;
    const r2 = r1 + K;
    const r3 = r2 + K;
    for (let j = 0; j < N4; j += 4) {
      const o0 = i * N + j;
      const o1 = o0 + N;
      const o2 = o1 + N;
      const o3 = o2 + N;
      let c00 = c[o0]!,
        c01 = c[o0 + 1]!,
        c02 = c[o0 + 2]!,
        c03 = c[o0 + 3]!;
      let c10 = c[o1]!,
        c11 = c[o1 + 1]!,
        c12 = c[o1 + 2]!,
        c13 = c[o1 + 3]!;
      let c20 = c[o2]!,
        c21 = c[o2 + 1]!,
        c22 = c[o2 + 2]!,
        c23 = c[o2 + 3]!;
      let c30 = c[o3]!,
        c31 = c[o3 + 1]!,
        c32 = c[o3 + 2]!,
        c33 = c[o3 + 3]!;
      for (let k = 0; k < K; k++) {
        const bk = k * N + j;
        const b0 = b[bk]!,
          b1 = b[bk + 1]!,
          b2 = b[bk + 2]!,
          b3 = b[bk + 3]!;
        const a0 = a[r0 + k]!,
          a1 = a[r1 + k]!,
          a2 = a[r2 + k]!,
          a3 = a[r3 + k]!;
        c00 = fround(c00 + fround(a0 * b0));
        c01 = fround(c01 + fround(a0 * b1));
        c02 = fround(c02 + fround(a0 * b2));
        c03 = fround(c03 + fround(a0 * b3));
        c10 = fround(c10 + fround(a1 * b0));
        c11 = fround(c11 + fround(a1 * b1));
        c12 = fround(c12 + fround(a1 * b2));
        c13 = fround(c13 + fround(a1 * b3));
        c20 = fround(c20 + fround(a2 * b0));
        c21 = fround(c21 + fround(a2 * b1));
        c22 = fround(c22 + fround(a2 * b2));
        c23 = fround(c23 + fround(a2 * b3));
        c30 = fround(c30 + fround(a3 * b0));
        c31 = fround(c31 + fround(a3 * b1));
        c32 = fround(c32 + fround(a3 * b2));
        c33 = fround(c33 + fround(a3 * b3));
      }
      c[o0] = c00;
      c[o0 + 1] = c01;
      c[o0 + 2] = c02;
      c[o0 + 3] = c03;
      c[o1] = c10;
      c[o1 + 1] = c11;
      c[o1 + 2] = c12;
      c[o1 + 3] = c13;
      c[o2] = c20;
      c[o2 + 1] = c21;
      c[o2 + 2] = c22;
      c[o2 + 3] = c23;
      c[o3] = c30;
      c[o3 + 1] = c31;
      c[o3 + 2] = c32;
      c[o3 + 3] = c33;
    }
  }
  // Edges: the same per-element recurrence, one element at a time.
  for (let i = 0; i < M; i++) {
    for (let j = i < M4 ? N4 : 0; j < N; j++) {
      let s = c[i * N + j]!;
      for (let k = 0; k < K; k++) s = fround(s + fround(a[i * K + k]! * b[k * N + j]!));
      c[i * N + j] = s;
    }
  }
}

/** Plain-JS integer path: int32 products and wrapping int32 sums. */
export function dotI32Js(a: Int32Array, b: Int32Array, c: Int32Array, M: number, N: number, K: number): void {
  for (let i = 0; i < M; i++) {
    for (let k = 0; k < K; k++) {
      const av = a[i * K + k]!;
      if (av === 0) continue; // adding 0 leaves an int32 sum unchanged, so skipping is exact
      const bk = k * N;
      const ci = i * N;
      for (let j = 0; j < N; j++) c[ci + j] = (c[ci + j]! + Math.imul(av, b[bk + j]!)) | 0;
    }
  }
}

let views: { buffer: ArrayBufferLike; f32: Float32Array; i32: Int32Array } | null = null;

/** Typed views of the kernel's memory, rebuilt only when it grows. */
function heapViews(mem: { buffer: ArrayBufferLike }) {
  const buf = mem.buffer;
  if (!views || views.buffer.byteLength !== buf.byteLength)
    views = { buffer: buf, f32: new Float32Array(buf), i32: new Int32Array(buf) };
  return views;
}

/** Smallest M·N·K for which packing into WebAssembly memory pays for itself. */
const WASM_MIN_WORK = 4 * 8 * 8;

/** acc += a·b on float32 storage (values already rounded to their dtype). */
/**
 * c = acc + a·b on float32 storage (values already rounded to their dtype). `acc` defaults to c's own contents; when
 * given, c may be uninitialised. Passing the previous call's c as `acc` (a K loop) skips copying the accumulator back
 * into the kernel's memory, where it still is.
 */
export function dotF32(
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  M: number,
  N: number,
  K: number,
  acc: Float32Array = c,
): void {
  const w = M * N * K >= WASM_MIN_WORK ? wasmDot() : null;
  if (w) runWasm(w, 'f32', a, b, c, M, N, K, acc);
  else {
    if (acc !== c) c.set(acc.subarray(0, M * N));
    dotF32Js(a, b, c, M, N, K);
  }
}

export function dotI32(
  a: Int32Array,
  b: Int32Array,
  c: Int32Array,
  M: number,
  N: number,
  K: number,
  acc: Int32Array = c,
): void {
  const w = M * N * K >= WASM_MIN_WORK ? wasmDot() : null;
  if (w) runWasm(w, 'i32', a, b, c, M, N, K, acc);
  else {
    if (acc !== c) c.set(acc.subarray(0, M * N));
    dotI32Js(a, b, c, M, N, K);
  }
}

/** The output of the last WebAssembly dot and the layout it was computed in: its C region still holds it. */
let last: { out: Float32Array | Int32Array; M: number; N: number; K: number } | null = null;

/**
 * Tells the dot kernel that `c` was written by something else since the last dot produced it, so a later dot taking
 * `c` as its accumulator copies it in again. Compiled kernels reuse one array per tile across programs, so an array
 * being "the last output" no longer implies its contents are.
 */
export function forgetDotOutput(c: Float32Array | Int32Array): void {
  if (last !== null && last.out === c) last = null;
}

/** True when a dot of this size runs on the WebAssembly kernel (and so records its output as the last one). */
let dotThreads = true;

/**
 * Runs `fn` with `dot` on the calling thread only: while the program pool runs a launch's programs on every core, a
 * `dot` that woke the dot pool's threads too would oversubscribe them.
 */
export function withSingleThreadedDot<T>(fn: () => T): T {
  const saved = dotThreads;
  dotThreads = false;
  try {
    return fn();
  } finally {
    dotThreads = saved;
  }
}

export function dotUsesWasm(M: number, N: number, K: number): boolean {
  if (M * N * K < WASM_MIN_WORK || !wasmDot()) return false;
  const rows = Math.ceil(M / PANEL_ROWS) * PANEL_ROWS;
  const ld = (N + 7) & ~7;
  return (rows * K + K * ld + rows * ld) * 4 <= MAX_PAGES * 65536;
}

function runWasm(
  w: NonNullable<ReturnType<typeof wasmDot>>,
  kind: 'f32' | 'i32',
  a: Float32Array | Int32Array,
  b: Float32Array | Int32Array,
  c: Float32Array | Int32Array,
  M: number,
  N: number,
  K: number,
  acc: Float32Array | Int32Array,
): void {
  const panels = Math.ceil(M / PANEL_ROWS);
  const rows = panels * PANEL_ROWS; // the kernel computes whole panels; rows past M are scratch and discarded
  const ld = (N + 7) & ~7; // B and C row stride, padded to whole 8-column blocks (padding columns are discarded too)
  const aWords = rows * K;
  const bWords = K * ld;
  const cWords = rows * ld;
  const need = (aWords + bWords + cWords) * 4;
  const mem = w.memory;
  if (need > MAX_PAGES * 65536) {
    // Bigger than the kernel's memory: the plain-JS path gives the same bits.
    if (kind === 'f32') dotF32Js(a as Float32Array, b as Float32Array, c as Float32Array, M, N, K);
    else dotI32Js(a as Int32Array, b as Int32Array, c as Int32Array, M, N, K);
    return;
  }
  if (mem.buffer.byteLength < need) mem.grow(Math.ceil((need - mem.buffer.byteLength) / 65536));
  const heap = kind === 'f32' ? heapViews(mem).f32 : heapViews(mem).i32;
  const aOff = 0;
  const bOff = aWords;
  const cOff = aWords + bWords;
  // Plain copies in: A as is (row-major, stride K); B and C with their rows padded to ld. Scratch rows and padding
  // columns hold stale values; each output element depends only on its own row and column, so they never leak.
  heap.set(a.subarray(0, M * K), aOff);
  if (ld === N) heap.set(b.subarray(0, K * N), bOff);
  else for (let k = 0; k < K; k++) heap.set(b.subarray(k * N, k * N + N), bOff + k * ld);
  const loadC = () => {
    if (ld === N) heap.set(acc.subarray(0, M * N), cOff);
    else for (let i = 0; i < M; i++) heap.set(acc.subarray(i * N, i * N + N), cOff + i * ld);
  };
  // The accumulator of a K loop is the previous call's output, already in place: skip the copy.
  const inPlace = last !== null && last.out === acc && last.M === M && last.N === N && last.K === K;
  if (!inPlace) loadC();
  last = null;
  const pool = dotThreads ? dotPool(w) : null;
  const single = () =>
    (kind === 'f32' ? w.dotF32 : w.dotI32)(aOff * 4, bOff * 4, cOff * 4, panels, ld >> 3, K, K, ld, ld);
  if (!pool) single();
  else {
    try {
      pool.run(kind, aOff * 4, bOff * 4, cOff * 4, panels, ld >> 3, K, ld);
    } catch (e) {
      if (!(e instanceof PoolFailure)) throw e;
      // A worker died mid-job: reload C (partly accumulated) and compute everything here.
      if (inPlace) throw new Error('dot: a worker died while the accumulator was only in kernel memory');
      loadC();
      single();
    }
  }
  if (ld === N) c.set(heap.subarray(cOff, cOff + M * N));
  else for (let i = 0; i < M; i++) c.set(heap.subarray(cOff + i * ld, cOff + i * ld + N), i * N);
  last = { out: c, M, N, K };
}
