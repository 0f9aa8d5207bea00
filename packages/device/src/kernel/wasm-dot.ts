/**
 * A WebAssembly SIMD micro-kernel for `dot`, assembled here from opcodes (no toolchain, nothing downloaded).
 *
 * It computes C += A·B for one tile, 6 rows × 8 columns of C at a time held in twelve f32x4 registers, reading A, B
 * and C row-major in place. Each multiply and each add rounds to float32 separately (no fused multiply-add),
 * and k runs in ascending order, so every output element is exactly
 *   acc ← fl32(acc + fl32(a[i,k]·b[k,j])),  k = 0, 1, …, K−1
 * — the same bits as the plain-JS path in `dot.ts`, whatever the tile sizes.
 */

// --- a minimal WebAssembly binary writer -------------------------------------------------------------------------

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  let more = true;
  while (more) {
    let b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) more = false;
    else b |= 0x80;
    out.push(b);
  }
  return out;
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

const I32 = 0x7f;
const V128 = 0x7b;

// Core opcodes.
const op = {
  block: 0x02,
  loop: 0x03,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Const: 0x41,
  i32Eqz: 0x45,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  i32Shl: 0x74,
};
const EMPTY_BLOCK = 0x40;

// SIMD opcodes (0xFD prefix, LEB128 sub-opcode).
const simd = (sub: number): number[] => [0xfd, ...uleb(sub)];
const V128_LOAD = 0x00;
const V128_LOAD32_SPLAT = 0x09;
const V128_STORE = 0x0b;
const F32X4_ADD = 0xe4;
const F32X4_MUL = 0xe6;
const I32X4_ADD = 0xae;
const I32X4_MUL = 0xb5;

const memarg = (align: number, offset: number): number[] => [...uleb(align), ...uleb(offset)];

/** Rows of C one pass of the kernel keeps in registers: 6 rows × 8 columns = 12 f32x4 accumulators, + 2 for B and 1
 * for A's splat: 15 of the 16 SIMD registers x86-64 has, the most reuse per load that fits. */
export const PANEL_ROWS = 4;

/**
 * Emits `dot(a, b, c, panels, colBlocks, K, lda, ldb, ldc)`, with R = PANEL_ROWS:
 *   for p < panels, jb < colBlocks: C[Rp..Rp+R−1][8jb..8jb+7] += Σ_k A[Rp..Rp+R−1][k] ⊗ B[k][8jb..8jb+7]
 * A, B and C are row-major with row strides lda, ldb, ldc (elements); pointers are byte addresses. A is read in place
 * (four row pointers advance together), so the caller copies tiles in with plain memcpys and never repacks them.
 */
function dotFunction(mul: number, add: number): number[] {
  const R = PANEL_ROWS;
  // Params 0..8: a b c panels colBlocks K lda ldb ldc.
  // Locals: 9 p, 10 jb, 11 k, then R row pointers of A, bp, cp, the row stride of A in bytes; then v128: 2R
  // accumulators (R rows × 8 columns) and the two B vectors.
  const [A, B, C, PANELS, CB, K, LDA, LDB, LDC] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [P, JB, KK] = [9, 10, 11];
  const ap = (r: number) => 12 + r;
  const [BP, CP, ASTRIDE] = [12 + R, 13 + R, 14 + R];
  const acc = (r: number, h: number) => 15 + R + r * 2 + h;
  const [B0, B1] = [15 + 3 * R, 16 + 3 * R];
  const get = (l: number) => [op.localGet, ...uleb(l)];
  const set = (l: number) => [op.localSet, ...uleb(l)];
  const i32c = (v: number) => [op.i32Const, ...sleb(v)];
  const code: number[] = [];
  const emit = (...parts: number[][]) => {
    for (const p of parts) code.push(...p);
  };
  // row r of the C block starts at cp + r*ldc*4
  const cRowAddr = (r: number) => [...get(CP), ...get(LDC), ...i32c(r * 4), op.i32Mul, op.i32Add];

  emit(get(LDA), i32c(4), [op.i32Mul], set(ASTRIDE));
  emit(i32c(0), set(P));
  emit([op.block, EMPTY_BLOCK, op.loop, EMPTY_BLOCK]); // panels loop
  emit(get(P), get(PANELS), [0x4e /* i32.ge_s */], [op.brIf, 1]);
  emit(i32c(0), set(JB));
  emit([op.block, EMPTY_BLOCK, op.loop, EMPTY_BLOCK]); // column blocks loop
  emit(get(JB), get(CB), [0x4e], [op.brIf, 1]);
  // cp = c + (p*R*ldc + jb*8) * 4
  emit(get(C), get(P), get(LDC), [op.i32Mul], i32c(4 * R), [op.i32Mul], [op.i32Add], get(JB), i32c(32), [op.i32Mul]);
  emit([op.i32Add], set(CP));
  for (let r = 0; r < R; r++) {
    emit(cRowAddr(r), simd(V128_LOAD), memarg(2, 0), set(acc(r, 0)));
    emit(cRowAddr(r), simd(V128_LOAD), memarg(2, 16), set(acc(r, 1)));
  }
  // ap[r] = a + (R·p + r) * lda * 4 ; bp = b + jb*32
  for (let r = 0; r < R; r++) {
    emit(
      get(A),
      get(P),
      i32c(R),
      [op.i32Mul],
      i32c(r),
      [op.i32Add],
      get(ASTRIDE),
      [op.i32Mul],
      [op.i32Add],
      set(ap(r)),
    );
  }
  emit(get(B), get(JB), i32c(32), [op.i32Mul], [op.i32Add], set(BP));
  emit(get(K), set(KK));
  emit([op.block, EMPTY_BLOCK, op.loop, EMPTY_BLOCK]); // k loop
  emit(get(KK), [op.i32Eqz], [op.brIf, 1]);
  emit(get(BP), simd(V128_LOAD), memarg(2, 0), set(B0));
  emit(get(BP), simd(V128_LOAD), memarg(2, 16), set(B1));
  for (let r = 0; r < R; r++) {
    for (let h = 0; h < 2; h++) {
      emit(get(acc(r, h)), get(ap(r)), simd(V128_LOAD32_SPLAT), memarg(2, 0), get(h === 0 ? B0 : B1));
      emit(simd(mul), simd(add), set(acc(r, h)));
    }
    emit(get(ap(r)), i32c(4), [op.i32Add], set(ap(r)));
  }
  emit(get(BP), get(LDB), i32c(4), [op.i32Mul], [op.i32Add], set(BP));
  emit(get(KK), i32c(1), [op.i32Sub], set(KK));
  emit([op.br, 0, op.end, op.end]);
  for (let r = 0; r < R; r++) {
    emit(cRowAddr(r), get(acc(r, 0)), simd(V128_STORE), memarg(2, 0));
    emit(cRowAddr(r), get(acc(r, 1)), simd(V128_STORE), memarg(2, 16));
  }
  emit(get(JB), i32c(1), [op.i32Add], set(JB), [op.br, 0, op.end, op.end]);
  emit(get(P), i32c(1), [op.i32Add], set(P), [op.br, 0, op.end, op.end]);
  code.push(op.end);
  const locals = vec([
    [...uleb(6 + R), I32],
    [...uleb(2 * R + 2), V128],
  ]);
  const body = [...locals, ...code];
  return [...uleb(body.length), ...body];
}

/** Largest memory the dot kernel may use: 16 384 pages of 64 KiB = 1 GiB (tiles are far smaller). */
export const MAX_PAGES = 16384;

/** The module imports its memory (env.mem) so that worker threads can share one (see dot-pool.ts). */
function buildModule(shared: boolean): Uint8Array {
  const type = [0x60, ...vec(Array.from({ length: 9 }, () => [I32])), 0x00];
  const name = (s: string) => vec(Array.from(s, (c) => [c.charCodeAt(0)]));
  // Memory limits: flag 0x03 = has maximum + shared, 0x01 = has maximum.
  const memType = [shared ? 0x03 : 0x01, ...uleb(1), ...uleb(MAX_PAGES)];
  const bytes = [
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec([type])),
    ...section(2, vec([[...name('env'), ...name('mem'), 0x02, ...memType]])),
    ...section(3, vec([[0x00], [0x00]])), // two functions of type 0
    ...section(
      7,
      vec([
        [...name('dot_f32'), 0x00, 0x00],
        [...name('dot_i32'), 0x00, 0x01],
      ]),
    ),
    ...section(10, vec([dotFunction(F32X4_MUL, F32X4_ADD), dotFunction(I32X4_MUL, I32X4_ADD)])),
  ];
  return Uint8Array.from(bytes);
}

export type DotFn = (
  a: number,
  b: number,
  c: number,
  panels: number,
  colBlocks: number,
  k: number,
  lda: number,
  ldb: number,
  ldc: number,
) => void;

/** The slice of the WebAssembly JS API we use (the ES lib we compile against does not declare it). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (d: { initial: number; maximum: number; shared?: boolean }) => WasmMemory;
}

export interface WasmDot {
  memory: WasmMemory;
  /** The compiled module, for worker threads to instantiate over the same shared memory (null if not shared). */
  sharedModule: object | null;
  dotF32: DotFn;
  dotI32: DotFn;
}

let instance: WasmDot | null | undefined;

/** The SIMD dot kernel, or null where WebAssembly SIMD is unavailable (then the plain-JS path runs). */
export function wasmDot(): WasmDot | null {
  if (instance !== undefined) return instance;
  instance = null;
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (
    !wasm ||
    (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.TESSERA_NO_WASM === '1'
  )
    return instance;
  for (const shared of [true, false]) {
    try {
      const memory = new wasm.Memory({ initial: 16, maximum: MAX_PAGES, shared });
      const mod = new wasm.Module(buildModule(shared));
      const ex = new wasm.Instance(mod, { env: { mem: memory } }).exports as unknown as {
        dot_f32: DotFn;
        dot_i32: DotFn;
      };
      instance = { memory, sharedModule: shared ? mod : null, dotF32: ex.dot_f32, dotI32: ex.dot_i32 };
      return instance;
    } catch {
      // no shared memory (or no SIMD): try the next variant, else fall back to plain JS
    }
  }
  return instance;
}
