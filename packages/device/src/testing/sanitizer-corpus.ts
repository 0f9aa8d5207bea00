/**
 * Deliberately buggy kernels, one known bug each, for the sanitizer (docs/sanitizer.md): what each tool must report,
 * with the kind, the kernel, the source line (the line marked `// BUG: <case>` in this file) and who made the access.
 * Each case allocates, fills and launches on the device(s) it is given; the launch may throw (as it would without the
 * sanitizer) — the case swallows that, the reports are what is checked. `packages/device/test/sanitizer.test.ts` runs
 * them on the reference backend; `packages/kernels/test/sanitizer.test.ts` on nvidia-sim and ascend-sim.
 *
 * Names here avoid `k`, `t`, `x`… at module level so that the kernels' own parameters keep their names when the file
 * is transpiled (the compiler finds a kernel's source line by its text).
 */
import type { DType } from '../dtype/dtype';
import { simtKernel, tileKernel } from '../kernel/kernel';
import type { Device } from '../runtime/device';
import type { SanitizerKind, SanitizerTool } from '../sanitizer/types';

export interface SanitizerCase {
  /** The marker on the buggy line: `// BUG: <name>`. */
  name: string;
  style: 'tile' | 'simt';
  tool: SanitizerTool;
  kind: SanitizerKind;
  kernel: string;
  space: 'global' | 'shared';
  /** The first access (or barrier) at fault. */
  program?: readonly [number, number, number];
  block?: readonly [number, number, number];
  thread?: readonly [number, number, number];
  /** Devices the case needs (a buffer of another device). */
  devices: 1 | 2;
  /** Only where the device has the rule (Ascend's 32-byte Unified Buffer alignment) or warp intrinsics. */
  needs?: 'shared-alignment-32' | 'warps';
  /** Other kinds the same bug also shows as, at the same line (a `+=` without an atomic: RAW, WAW and WAR). */
  alsoKinds?: readonly SanitizerKind[];
  /** Allocates, launches; swallows the launch's own error. */
  run(devs: readonly Device[]): void;
}

function buf(dev: Device, dtype: DType, n: number, fill: number | null = 1): ReturnType<Device['alloc']> {
  const b = dev.alloc(dtype, n);
  if (fill !== null) dev.fill(b, fill);
  return b;
}

function quietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // the launch fails as it would without the sanitizer; the reports are what the case checks
  }
}

// ------------------------------------------------------------------------------------------------------ memcheck

const oobGlobalRead = simtKernel(
  { name: 'oob_global_read', params: { src: 'ptr<f32>', dst: 'ptr<f32>', n: 'i32' } },
  (k, { src, dst, n }) => {
    const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
    const v = src.get(i); // BUG: oob-global-read
    if (i < n) dst.set(i, v * 2);
  },
);

const oobGlobalWrite = simtKernel(
  { name: 'oob_global_write', params: { src: 'ptr<f32>', dst: 'ptr<f32>', n: 'i32' } },
  (k, { src, dst, n }) => {
    const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
    if (i < n) {
      dst.set(i + 1, src.get(i)); // BUG: oob-global-write
    }
  },
);

const oobSharedWrite = simtKernel(
  { name: 'oob_shared_write', params: { src: 'ptr<f32>', dst: 'ptr<f32>' }, shared: { tile: ['f32', 32] } },
  function* (k, { src, dst }) {
    const tid = k.threadIdx.x;
    k.shared.tile![tid + 1] = src.get(tid); // BUG: oob-shared-write
    yield k.syncthreads();
    dst.set(tid, k.shared.tile![tid]!);
  },
);

const oobSharedRead = simtKernel(
  { name: 'oob_shared_read', params: { src: 'ptr<f32>', dst: 'ptr<f32>' }, shared: { tile: ['f32', 32] } },
  function* (k, { src, dst }) {
    const tid = k.threadIdx.x;
    k.shared.tile![tid] = src.get(tid);
    yield k.syncthreads();
    const right = k.shared.tile![tid + 16]!; // BUG: oob-shared-read
    dst.set(tid, right);
  },
);

const oobTileLoad = tileKernel(
  { name: 'oob_tile_load', params: { src: 'ptr', dst: 'ptr', n: 'i32', BLOCK: 'constexpr' } },
  (t, { src, dst, n, BLOCK }) => {
    const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK);
    const v = t.load(src, offs); // BUG: oob-tile-load
    t.store(dst, offs, v.mul(2), { mask: offs.lt(n) });
  },
);

const oobTileStore = tileKernel(
  { name: 'oob_tile_store', params: { src: 'ptr', dst: 'ptr', n: 'i32', BLOCK: 'constexpr' } },
  (t, { src, dst, n, BLOCK }) => {
    const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK);
    const v = t.load(src, offs, { mask: offs.lt(n) });
    t.store(dst, offs, v, { mask: offs.le(n) }); // BUG: oob-tile-store
  },
);

const oobTileView = tileKernel(
  { name: 'oob_tile_view', params: { src: 'ptr', dst: 'ptr', rows: 'i32', cols: 'constexpr' } },
  (t, { src, dst, rows, cols }) => {
    const X = t.tensor(src, [rows + 1, cols]); // BUG: oob-tile-view
    const row = t.loadBlock(X, [t.programId(0), 0], [1, cols]);
    t.storeBlock(t.tensor(dst, [rows, cols]), [t.programId(0), 0], row);
  },
);

const scaleSimt = simtKernel(
  { name: 'scale_simt', params: { src: 'ptr<f32>', dst: 'ptr<f32>', n: 'i32' } },
  (k, { src, dst, n }) => {
    const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
    if (i < n) dst.set(i, src.get(i) * 3); // BUG: use-after-free-simt
  },
);

const scaleTile = tileKernel(
  { name: 'scale_tile', params: { src: 'ptr', dst: 'ptr', n: 'i32', BLOCK: 'constexpr' } },
  (t, { src, dst, n, BLOCK }) => {
    const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK);
    const v = t.load(src, offs, { mask: offs.lt(n) }); // BUG: wrong-device-tile
    t.store(dst, offs, v.mul(3), { mask: offs.lt(n) });
  },
);

const copyTile = tileKernel(
  { name: 'copy_tile', params: { src: 'ptr', dst: 'ptr', n: 'i32', BLOCK: 'constexpr' } },
  (t, { src, dst, n, BLOCK }) => {
    const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK);
    const v = t.load(src, offs, { mask: offs.lt(n) });
    t.store(dst, offs, v, { mask: offs.lt(n) }); // BUG: use-after-free-tile
  },
);

const copySimt = simtKernel(
  { name: 'copy_simt', params: { src: 'ptr<f32>', dst: 'ptr<f32>', n: 'i32' } },
  (k, { src, dst, n }) => {
    const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
    if (i < n) {
      const v = src.get(i); // BUG: wrong-device-simt
      dst.set(i, v);
    }
  },
);

const misalignedView = simtKernel(
  { name: 'misaligned_view', params: { src: 'ptr<f32>', dst: 'ptr<f32>' } },
  function* (k, { src, dst }) {
    const tid = k.threadIdx.x;
    const stage = k.dynamicShared('f32', 16, 32);
    stage[tid] = src.get(tid); // BUG: misaligned-shared
    yield k.syncthreads();
    dst.set(tid, stage[31 - tid]!);
  },
);

// ----------------------------------------------------------------------------------------------------- racecheck

const sharedRaw = simtKernel(
  { name: 'shared_raw', params: { src: 'ptr<f32>', dst: 'ptr<f32>' }, shared: { buf: ['f32', 32] } },
  (k, { src, dst }) => {
    const tid = k.threadIdx.x;
    k.shared.buf![tid] = src.get(tid);
    const left = tid > 0 ? k.shared.buf![tid - 1]! : 0; // BUG: shared-raw
    dst.set(tid, left);
  },
);

const sharedWar = simtKernel(
  { name: 'shared_war', params: { src: 'ptr<f32>', dst: 'ptr<f32>' }, shared: { buf: ['f32', 33] } },
  function* (k, { src, dst }) {
    const tid = k.threadIdx.x;
    k.shared.buf![tid] = src.get(tid);
    yield k.syncthreads();
    const right = tid < 32 ? k.shared.buf![tid + 1]! : 0;
    k.shared.buf![tid] = right * 2; // BUG: shared-war
    yield k.syncthreads();
    dst.set(tid, k.shared.buf![tid]!);
  },
);

const sharedWaw = simtKernel(
  { name: 'shared_waw', params: { src: 'ptr<f32>', dst: 'ptr<f32>' }, shared: { flag: ['f32', 1] } },
  function* (k, { src, dst }) {
    const tid = k.threadIdx.x;
    k.shared.flag![0] = src.get(tid); // BUG: shared-waw
    yield k.syncthreads();
    dst.set(tid, k.shared.flag![0]!);
  },
);

const reduceNoBarrier = simtKernel(
  { name: 'reduce_missing_barrier', params: { src: 'ptr<f32>', dst: 'ptr<f32>' }, shared: { part: ['f32', 64] } },
  function* (k, { src, dst }) {
    const tid = k.threadIdx.x;
    k.shared.part![tid] = src.get(k.blockIdx.x * 64 + tid);
    yield k.syncthreads();
    for (let s = 32; s > 0; s >>= 1) {
      if (tid < s) k.shared.part![tid] += k.shared.part![tid + s]!; // BUG: reduce-missing-barrier
    }
    yield k.syncthreads();
    if (tid === 0) dst.set(k.blockIdx.x, k.shared.part![0]!);
  },
);

const tileWaw = tileKernel(
  { name: 'tile_programs_waw', params: { src: 'ptr', dst: 'ptr', n: 'i32', BLOCK: 'constexpr' } },
  (t, { src, dst, n, BLOCK }) => {
    const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK);
    const v = t.load(src, offs, { mask: offs.lt(n) });
    const local = t.arange(0, BLOCK);
    t.store(dst, local, v, { mask: local.lt(n) }); // BUG: tile-programs-waw
  },
);

const blocksWaw = simtKernel(
  { name: 'blocks_waw', params: { src: 'ptr<f32>', dst: 'ptr<f32>' } },
  (k, { src, dst }) => {
    const tid = k.threadIdx.x;
    const v = src.get(k.blockIdx.x * k.blockDim.x + tid);
    dst.set(tid, v); // BUG: blocks-waw
  },
);

const warpBroadcast = simtKernel(
  { name: 'warp_broadcast', params: { src: 'ptr<f32>', dst: 'ptr<f32>' }, shared: { slot: ['f32', 1] } },
  (k, { src, dst }) => {
    const tid = k.threadIdx.x;
    if (tid === 0) k.shared.slot![0] = src.get(0);
    const v = k.shared.slot![0]!; // BUG: warp-missing-syncwarp
    dst.set(tid, v + tid);
  },
);

const histogramPlain = simtKernel(
  { name: 'shared_histogram_plain', params: { src: 'ptr<i32>', hist: 'ptr<i32>' }, shared: { bins: ['i32', 8] } },
  function* (k, { src, hist }) {
    const tid = k.threadIdx.x;
    if (tid < 8) k.shared.bins![tid] = 0;
    yield k.syncthreads();
    const bin = src.get(tid) & 7;
    k.shared.bins![bin] = k.shared.bins![bin]! + 1; // BUG: shared-histogram-no-atomic
    yield k.syncthreads();
    if (tid < 8) hist.set(tid, k.shared.bins![tid]!);
  },
);

const zeroRacesAtomics = tileKernel(
  { name: 'zero_races_atomics', params: { src: 'ptr', total: 'ptr', n: 'i32', BLOCK: 'constexpr' } },
  (t, { src, total, n, BLOCK }) => {
    const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK);
    const part = t.load(src, offs, { mask: offs.lt(n) }).sum();
    if (t.programId(0) === 1) t.store(total, 0, 0); // BUG: zero-races-atomics
    t.atomicAdd(total, 0, part);
  },
);

// ----------------------------------------------------------------------------------------------------- initcheck

const uninitAccumulate = simtKernel(
  { name: 'uninit_accumulate', params: { src: 'ptr<f32>', acc: 'ptr<f32>', n: 'i32' } },
  (k, { src, acc, n }) => {
    const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
    if (i < n) acc.set(i, acc.get(i) + src.get(i)); // BUG: uninit-global-simt
  },
);

const uninitTileLoad = tileKernel(
  { name: 'uninit_tile_load', params: { src: 'ptr', bias: 'ptr', dst: 'ptr', n: 'i32', BLOCK: 'constexpr' } },
  (t, { src, bias, dst, n, BLOCK }) => {
    const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK);
    const mask = offs.lt(n);
    const b = t.load(bias, offs, { mask }); // BUG: uninit-global-tile
    t.store(dst, offs, t.load(src, offs, { mask }).add(b), { mask });
  },
);

const uninitAtomic = tileKernel(
  { name: 'uninit_tile_atomic', params: { src: 'ptr', total: 'ptr', n: 'i32', BLOCK: 'constexpr' } },
  (t, { src, total, n, BLOCK }) => {
    const offs = t.arange(0, BLOCK).add(t.programId(0) * BLOCK);
    const part = t.load(src, offs, { mask: offs.lt(n) }).sum();
    t.atomicAdd(total, 0, part); // BUG: uninit-atomic-tile
  },
);

const uninitShared = simtKernel(
  { name: 'uninit_shared', params: { src: 'ptr<f32>', dst: 'ptr<f32>' }, shared: { half: ['f32', 32] } },
  function* (k, { src, dst }) {
    const tid = k.threadIdx.x;
    if (tid < 16) k.shared.half![tid] = src.get(tid);
    yield k.syncthreads();
    dst.set(tid, k.shared.half![31 - tid]!); // BUG: uninit-shared
  },
);

// ----------------------------------------------------------------------------------------------------- synccheck

const divergentBarrier = simtKernel(
  { name: 'divergent_barrier', params: { src: 'ptr<f32>', dst: 'ptr<f32>' }, shared: { buf: ['f32', 32] } },
  function* (k, { src, dst }) {
    const tid = k.threadIdx.x;
    k.shared.buf![tid] = src.get(tid);
    if (tid < 16) {
      yield k.syncthreads(); // BUG: divergent-barrier
    }
    dst.set(tid, k.shared.buf![31 - tid]!);
  },
);

const earlyReturn = simtKernel(
  {
    name: 'early_return_barrier',
    params: { src: 'ptr<f32>', dst: 'ptr<f32>', n: 'i32' },
    shared: { buf: ['f32', 64] },
  },
  function* (k, { src, dst, n }) {
    const tid = k.threadIdx.x;
    if (tid >= n) return;
    k.shared.buf![tid] = src.get(tid);
    yield k.syncthreads(); // BUG: early-return-barrier
    dst.set(tid, k.shared.buf![n - 1 - tid]!);
  },
);

const divergentShfl = simtKernel(
  { name: 'divergent_shfl', params: { src: 'ptr<f32>', dst: 'ptr<f32>' } },
  (k, { src, dst }) => {
    const tid = k.threadIdx.x;
    let v = src.get(tid);
    if (tid < 16) {
      v = k.shflDown(0xffffffff, v, 1); // BUG: warp-mask-divergent
    }
    dst.set(tid, v);
  },
);

// ------------------------------------------------------------------------------------------------------ the cases

export const SANITIZER_CORPUS: readonly SanitizerCase[] = [
  {
    name: 'oob-global-read',
    style: 'simt',
    tool: 'memcheck',
    kind: 'out-of-bounds',
    kernel: 'oob_global_read',
    space: 'global',
    block: [3, 0, 0],
    thread: [4, 0, 0],
    devices: 1,
    run([d]) {
      const [src, dst] = [buf(d!, 'f32', 100), buf(d!, 'f32', 100, 0)];
      quietly(() => d!.launch(oobGlobalRead, { grid: 4, block: 32 }, { src, dst, n: 100 }));
    },
  },
  {
    name: 'oob-global-write',
    style: 'simt',
    tool: 'memcheck',
    kind: 'out-of-bounds',
    kernel: 'oob_global_write',
    space: 'global',
    block: [3, 0, 0],
    thread: [3, 0, 0],
    devices: 1,
    run([d]) {
      const [src, dst] = [buf(d!, 'f32', 100), buf(d!, 'f32', 100, 0)];
      quietly(() => d!.launch(oobGlobalWrite, { grid: 4, block: 32 }, { src, dst, n: 100 }));
    },
  },
  {
    name: 'oob-shared-write',
    style: 'simt',
    tool: 'memcheck',
    kind: 'out-of-bounds',
    kernel: 'oob_shared_write',
    space: 'shared',
    block: [0, 0, 0],
    thread: [31, 0, 0],
    devices: 1,
    run([d]) {
      const [src, dst] = [buf(d!, 'f32', 32), buf(d!, 'f32', 32, 0)];
      quietly(() => d!.launch(oobSharedWrite, { grid: 1, block: 32 }, { src, dst }));
    },
  },
  {
    name: 'oob-shared-read',
    style: 'simt',
    tool: 'memcheck',
    kind: 'out-of-bounds',
    kernel: 'oob_shared_read',
    space: 'shared',
    block: [0, 0, 0],
    thread: [16, 0, 0],
    devices: 1,
    run([d]) {
      const [src, dst] = [buf(d!, 'f32', 32), buf(d!, 'f32', 32, 0)];
      quietly(() => d!.launch(oobSharedRead, { grid: 1, block: 32 }, { src, dst }));
    },
  },
  {
    name: 'oob-tile-load',
    style: 'tile',
    tool: 'memcheck',
    kind: 'out-of-bounds',
    kernel: 'oob_tile_load',
    space: 'global',
    program: [3, 0, 0],
    devices: 1,
    run([d]) {
      const [src, dst] = [buf(d!, 'f32', 100), buf(d!, 'f32', 100, 0)];
      quietly(() => d!.launch(oobTileLoad, { grid: 4 }, { src, dst, n: 100, BLOCK: 32 }));
    },
  },
  {
    name: 'oob-tile-store',
    style: 'tile',
    tool: 'memcheck',
    kind: 'out-of-bounds',
    kernel: 'oob_tile_store',
    space: 'global',
    program: [3, 0, 0],
    devices: 1,
    run([d]) {
      const [src, dst] = [buf(d!, 'f32', 100), buf(d!, 'f32', 100, 0)];
      quietly(() => d!.launch(oobTileStore, { grid: 4 }, { src, dst, n: 100, BLOCK: 32 }));
    },
  },
  {
    name: 'oob-tile-view',
    style: 'tile',
    tool: 'memcheck',
    kind: 'out-of-bounds',
    kernel: 'oob_tile_view',
    space: 'global',
    program: [0, 0, 0],
    devices: 1,
    run([d]) {
      const [src, dst] = [buf(d!, 'f32', 4 * 16), buf(d!, 'f32', 4 * 16, 0)];
      quietly(() => d!.launch(oobTileView, { grid: 4 }, { src, dst, rows: 4, cols: 16 }));
    },
  },
  {
    name: 'use-after-free-simt',
    style: 'simt',
    tool: 'memcheck',
    kind: 'use-after-free',
    kernel: 'scale_simt',
    space: 'global',
    block: [0, 0, 0],
    thread: [0, 0, 0],
    devices: 1,
    run([d]) {
      const [src, dst] = [buf(d!, 'f32', 64), buf(d!, 'f32', 64, 0)];
      d!.free(dst);
      quietly(() => d!.launch(scaleSimt, { grid: 2, block: 32 }, { src, dst, n: 64 }));
    },
  },
  {
    name: 'use-after-free-tile',
    style: 'tile',
    tool: 'memcheck',
    kind: 'use-after-free',
    kernel: 'copy_tile',
    space: 'global',
    program: [0, 0, 0],
    devices: 1,
    run([d]) {
      const [src, dst] = [buf(d!, 'f32', 64), buf(d!, 'f32', 64, 0)];
      d!.free(dst);
      quietly(() => d!.launch(copyTile, { grid: 2 }, { src, dst, n: 64, BLOCK: 32 }));
    },
  },
  {
    name: 'wrong-device-simt',
    style: 'simt',
    tool: 'memcheck',
    kind: 'wrong-device',
    kernel: 'copy_simt',
    space: 'global',
    block: [0, 0, 0],
    thread: [0, 0, 0],
    devices: 2,
    run([d0, d1]) {
      const [src, dst] = [buf(d1!, 'f32', 64), buf(d0!, 'f32', 64, 0)];
      quietly(() => d0!.launch(copySimt, { grid: 2, block: 32 }, { src, dst, n: 64 }));
    },
  },
  {
    name: 'wrong-device-tile',
    style: 'tile',
    tool: 'memcheck',
    kind: 'wrong-device',
    kernel: 'scale_tile',
    space: 'global',
    program: [0, 0, 0],
    devices: 2,
    run([d0, d1]) {
      const [src, dst] = [buf(d1!, 'f32', 64), buf(d0!, 'f32', 64, 0)];
      quietly(() => d0!.launch(scaleTile, { grid: 2 }, { src, dst, n: 64, BLOCK: 32 }));
    },
  },
  {
    name: 'misaligned-shared',
    style: 'simt',
    tool: 'memcheck',
    kind: 'misaligned',
    kernel: 'misaligned_view',
    space: 'shared',
    block: [0, 0, 0],
    thread: [0, 0, 0],
    devices: 1,
    needs: 'shared-alignment-32',
    run([d]) {
      const [src, dst] = [buf(d!, 'f32', 32), buf(d!, 'f32', 32, 0)];
      quietly(() => d!.launch(misalignedView, { grid: 1, block: 32, sharedMemBytes: 256 }, { src, dst }));
    },
  },
  {
    name: 'shared-raw',
    style: 'simt',
    tool: 'racecheck',
    kind: 'raw',
    kernel: 'shared_raw',
    space: 'shared',
    block: [0, 0, 0],
    thread: [1, 0, 0],
    devices: 1,
    run([d]) {
      const src = d!.alloc('f32', 32);
      d!.upload(
        src,
        Array.from({ length: 32 }, (_, i) => i + 1),
      );
      quietly(() => d!.launch(sharedRaw, { grid: 1, block: 32 }, { src, dst: buf(d!, 'f32', 32, 0) }));
    },
  },
  {
    name: 'shared-war',
    style: 'simt',
    tool: 'racecheck',
    kind: 'war',
    kernel: 'shared_war',
    space: 'shared',
    block: [0, 0, 0],
    thread: [1, 0, 0],
    devices: 1,
    run([d]) {
      const src = d!.alloc('f32', 32);
      d!.upload(
        src,
        Array.from({ length: 32 }, (_, i) => i + 1),
      );
      quietly(() => d!.launch(sharedWar, { grid: 1, block: 32 }, { src, dst: buf(d!, 'f32', 32, 0) }));
    },
  },
  {
    name: 'shared-waw',
    style: 'simt',
    tool: 'racecheck',
    kind: 'waw',
    kernel: 'shared_waw',
    space: 'shared',
    block: [0, 0, 0],
    thread: [1, 0, 0],
    devices: 1,
    run([d]) {
      const src = d!.alloc('f32', 32);
      d!.upload(
        src,
        Array.from({ length: 32 }, (_, i) => i + 1),
      );
      quietly(() => d!.launch(sharedWaw, { grid: 1, block: 32 }, { src, dst: buf(d!, 'f32', 32, 0) }));
    },
  },
  {
    name: 'reduce-missing-barrier',
    style: 'simt',
    tool: 'racecheck',
    kind: 'war',
    kernel: 'reduce_missing_barrier',
    space: 'shared',
    block: [0, 0, 0],
    thread: [1, 0, 0],
    devices: 1,
    run([d]) {
      const src = d!.alloc('f32', 128);
      d!.upload(
        src,
        Array.from({ length: 128 }, (_, i) => (i % 7) + 1),
      );
      quietly(() => d!.launch(reduceNoBarrier, { grid: 2, block: 64 }, { src, dst: buf(d!, 'f32', 2, 0) }));
    },
  },
  {
    name: 'tile-programs-waw',
    style: 'tile',
    tool: 'racecheck',
    kind: 'waw',
    kernel: 'tile_programs_waw',
    space: 'global',
    program: [1, 0, 0],
    devices: 1,
    run([d]) {
      const src = d!.alloc('f32', 64);
      d!.upload(
        src,
        Array.from({ length: 64 }, (_, i) => i + 1),
      );
      quietly(() => d!.launch(tileWaw, { grid: 2 }, { src, dst: buf(d!, 'f32', 64, 0), n: 64, BLOCK: 32 }));
    },
  },
  {
    name: 'blocks-waw',
    style: 'simt',
    tool: 'racecheck',
    kind: 'waw',
    kernel: 'blocks_waw',
    space: 'global',
    block: [1, 0, 0],
    thread: [0, 0, 0],
    devices: 1,
    run([d]) {
      const src = d!.alloc('f32', 64);
      d!.upload(
        src,
        Array.from({ length: 64 }, (_, i) => i + 1),
      );
      quietly(() => d!.launch(blocksWaw, { grid: 2, block: 32 }, { src, dst: buf(d!, 'f32', 64, 0) }));
    },
  },
  {
    name: 'warp-missing-syncwarp',
    style: 'simt',
    tool: 'racecheck',
    kind: 'raw',
    kernel: 'warp_broadcast',
    space: 'shared',
    block: [0, 0, 0],
    thread: [1, 0, 0],
    devices: 1,
    run([d]) {
      const [src, dst] = [buf(d!, 'f32', 32), buf(d!, 'f32', 32, 0)];
      d!.upload(src, [5]);
      quietly(() => d!.launch(warpBroadcast, { grid: 1, block: 32 }, { src, dst }));
    },
  },
  {
    name: 'shared-histogram-no-atomic',
    style: 'simt',
    tool: 'racecheck',
    kind: 'raw',
    alsoKinds: ['waw', 'war'],
    kernel: 'shared_histogram_plain',
    space: 'shared',
    block: [0, 0, 0],
    thread: [1, 0, 0],
    devices: 1,
    run([d]) {
      const src = d!.alloc('i32', 64);
      d!.upload(src, Array(64).fill(3));
      quietly(() => d!.launch(histogramPlain, { grid: 1, block: 64 }, { src, hist: buf(d!, 'i32', 8, 0) }));
    },
  },
  {
    name: 'zero-races-atomics',
    style: 'tile',
    tool: 'racecheck',
    kind: 'waw',
    kernel: 'zero_races_atomics',
    space: 'global',
    program: [1, 0, 0],
    devices: 1,
    run([d]) {
      const [src, total] = [buf(d!, 'f32', 96), buf(d!, 'f32', 1, 0)];
      quietly(() => d!.launch(zeroRacesAtomics, { grid: 3 }, { src, total, n: 96, BLOCK: 32 }));
    },
  },
  {
    name: 'uninit-global-simt',
    style: 'simt',
    tool: 'initcheck',
    kind: 'uninitialized',
    kernel: 'uninit_accumulate',
    space: 'global',
    block: [0, 0, 0],
    thread: [0, 0, 0],
    devices: 1,
    run([d]) {
      const [src, acc] = [buf(d!, 'f32', 64), buf(d!, 'f32', 64, null)];
      quietly(() => d!.launch(uninitAccumulate, { grid: 2, block: 32 }, { src, acc, n: 64 }));
    },
  },
  {
    name: 'uninit-global-tile',
    style: 'tile',
    tool: 'initcheck',
    kind: 'uninitialized',
    kernel: 'uninit_tile_load',
    space: 'global',
    program: [0, 0, 0],
    devices: 1,
    run([d]) {
      const [src, bias, dst] = [buf(d!, 'f32', 64), buf(d!, 'f32', 64, null), buf(d!, 'f32', 64, null)];
      quietly(() => d!.launch(uninitTileLoad, { grid: 2 }, { src, bias, dst, n: 64, BLOCK: 32 }));
    },
  },
  {
    name: 'uninit-atomic-tile',
    style: 'tile',
    tool: 'initcheck',
    kind: 'uninitialized',
    kernel: 'uninit_tile_atomic',
    space: 'global',
    program: [0, 0, 0],
    devices: 1,
    run([d]) {
      const [src, total] = [buf(d!, 'f32', 64), buf(d!, 'f32', 1, null)];
      quietly(() => d!.launch(uninitAtomic, { grid: 2 }, { src, total, n: 64, BLOCK: 32 }));
    },
  },
  {
    name: 'uninit-shared',
    style: 'simt',
    tool: 'initcheck',
    kind: 'uninitialized',
    kernel: 'uninit_shared',
    space: 'shared',
    block: [0, 0, 0],
    thread: [0, 0, 0],
    devices: 1,
    run([d]) {
      const [src, dst] = [buf(d!, 'f32', 32), buf(d!, 'f32', 32, 0)];
      quietly(() => d!.launch(uninitShared, { grid: 1, block: 32 }, { src, dst }));
    },
  },
  {
    name: 'divergent-barrier',
    style: 'simt',
    tool: 'synccheck',
    kind: 'divergent-barrier',
    kernel: 'divergent_barrier',
    space: 'shared',
    block: [0, 0, 0],
    thread: [16, 0, 0],
    devices: 1,
    run([d]) {
      const [src, dst] = [buf(d!, 'f32', 32), buf(d!, 'f32', 32, 0)];
      quietly(() => d!.launch(divergentBarrier, { grid: 1, block: 32 }, { src, dst }));
    },
  },
  {
    name: 'early-return-barrier',
    style: 'simt',
    tool: 'synccheck',
    kind: 'divergent-barrier',
    kernel: 'early_return_barrier',
    space: 'shared',
    block: [0, 0, 0],
    thread: [40, 0, 0],
    devices: 1,
    run([d]) {
      const [src, dst] = [buf(d!, 'f32', 64), buf(d!, 'f32', 64, 0)];
      quietly(() => d!.launch(earlyReturn, { grid: 1, block: 64 }, { src, dst, n: 40 }));
    },
  },
  {
    name: 'warp-mask-divergent',
    style: 'simt',
    tool: 'synccheck',
    kind: 'invalid-warp-sync',
    kernel: 'divergent_shfl',
    space: 'shared',
    block: [0, 0, 0],
    thread: [0, 0, 0],
    devices: 1,
    needs: 'warps',
    run([d]) {
      const [src, dst] = [buf(d!, 'f32', 32), buf(d!, 'f32', 32, 0)];
      quietly(() => d!.launch(divergentShfl, { grid: 1, block: 32 }, { src, dst }));
    },
  },
];
