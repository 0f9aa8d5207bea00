/**
 * transpose (CUDA samples, 6_Performance/transpose, and Mark Harris's "An Efficient Matrix Transpose in CUDA C/C++"):
 * odata (width×height) = idataᵀ for idata (height×width, row-major). Each block of TILE_DIM×BLOCK_ROWS threads
 * moves one TILE_DIM×TILE_DIM tile, every thread TILE_DIM / BLOCK_ROWS elements.
 *
 *   transposeNaive           reads rows of the input (coalesced) and writes columns of the output (strided by height).
 *   transposeNoBankConflicts stages the tile in shared memory, so that both the read and the write walk rows; the
 *                            tile is padded to TILE_DIM × (TILE_DIM + 1) so that a column of it spans all 32 banks.
 *
 * and the same transpose as a tile kernel: `loadBlock`, `.trans()`, `storeBlock`.
 *
 * The sample file uses TILE_DIM = BLOCK_ROWS = 16; this port uses the article's TILE_DIM 32 and BLOCK_ROWS 8 (the
 * kernels are the same). As in the sample, width and height must be multiples of TILE_DIM (the tile kernel takes any
 * size). The cost model sees coalescing (sectors per warp access) and bank conflicts, so the three SIMT kernels model
 * in the article's order: naive slowest, the padded shared-memory kernel fastest (backend-nvidia-sim docs/model.md
 * compares the ratios with the article's).
 */
import { cdiv, type Device, simtKernel, tileKernel } from '@tessera/device';
import { compare, type ExampleResult, poison, type SampleResult, sample, uploadInputs, within } from './check';

export const TILE_DIM = 32;
export const BLOCK_ROWS = 8;

const params = { odata: 'ptr<f32>', idata: 'ptr<f32>', width: 'i32', height: 'i32' } as const;

export const transposeNaive = simtKernel(
  { name: 'transposeNaive', params, uses: { TILE_DIM, BLOCK_ROWS } },
  (k, { odata, idata, width, height }) => {
    const xIndex = k.blockIdx.x * TILE_DIM + k.threadIdx.x;
    const yIndex = k.blockIdx.y * TILE_DIM + k.threadIdx.y;
    const index_in = xIndex + width * yIndex;
    const index_out = yIndex + height * xIndex;
    for (let i = 0; i < TILE_DIM; i += BLOCK_ROWS) {
      odata.set(index_out + i, idata.get(index_in + i * width));
    }
  },
);

/**
 * transposeCoalesced (the article's second kernel): the tile staged in shared memory so both global accesses walk
 * rows, but unpadded — reading a column of the 32×32 tile (`tile[tx][ty + i]`) hits one bank 32 times.
 */
export const transposeCoalesced = simtKernel(
  {
    name: 'transposeCoalesced',
    params,
    shared: { tile: ['f32', TILE_DIM * TILE_DIM] },
    uses: { TILE_DIM, BLOCK_ROWS },
  },
  function* (k, { odata, idata, width, height }) {
    const tile = k.shared.tile!;
    const tx = k.threadIdx.x;
    const ty = k.threadIdx.y;
    let xIndex = k.blockIdx.x * TILE_DIM + tx;
    let yIndex = k.blockIdx.y * TILE_DIM + ty;
    const index_in = xIndex + yIndex * width;
    xIndex = k.blockIdx.y * TILE_DIM + tx;
    yIndex = k.blockIdx.x * TILE_DIM + ty;
    const index_out = xIndex + yIndex * height;
    for (let i = 0; i < TILE_DIM; i += BLOCK_ROWS) {
      tile[(ty + i) * TILE_DIM + tx] = idata.get(index_in + i * width); // tile[ty + i][tx]
    }
    yield k.syncthreads();
    for (let i = 0; i < TILE_DIM; i += BLOCK_ROWS) {
      odata.set(index_out + i * height, tile[tx * TILE_DIM + ty + i]!); // tile[tx][ty + i]: one bank
    }
  },
);

const PITCH = TILE_DIM + 1; // __shared__ float tile[TILE_DIM][TILE_DIM + 1]

export const transposeNoBankConflicts = simtKernel(
  {
    name: 'transposeNoBankConflicts',
    params,
    shared: { tile: ['f32', TILE_DIM * PITCH] },
    uses: { TILE_DIM, BLOCK_ROWS, PITCH },
  },
  function* (k, { odata, idata, width, height }) {
    const tile = k.shared.tile!;
    const tx = k.threadIdx.x;
    const ty = k.threadIdx.y;
    let xIndex = k.blockIdx.x * TILE_DIM + tx;
    let yIndex = k.blockIdx.y * TILE_DIM + ty;
    const index_in = xIndex + yIndex * width;
    xIndex = k.blockIdx.y * TILE_DIM + tx; // the block's tile lands at the mirrored position
    yIndex = k.blockIdx.x * TILE_DIM + ty;
    const index_out = xIndex + yIndex * height;
    for (let i = 0; i < TILE_DIM; i += BLOCK_ROWS) {
      tile[(ty + i) * PITCH + tx] = idata.get(index_in + i * width); // tile[ty + i][tx]
    }
    yield k.syncthreads();
    for (let i = 0; i < TILE_DIM; i += BLOCK_ROWS) {
      odata.set(index_out + i * height, tile[tx * PITCH + ty + i]!); // tile[tx][ty + i]
    }
  },
);

/** The tile version: one T×T block per program, transposed in registers. */
export const transposeTile = tileKernel(
  { name: 'transpose_tile', params: { ...params, T: 'constexpr' } },
  (t, { odata, idata, width, height, T }) => {
    const In = t.tensor(idata, [height, width]);
    const Out = t.tensor(odata, [width, height]);
    const r0 = t.programId(1) * T;
    const c0 = t.programId(0) * T;
    t.storeBlock(Out, [c0, r0], t.loadBlock(In, [r0, c0], [T, T]).trans());
  },
);

/** Transposes a height×width matrix (both multiples of TILE_DIM, as the sample requires). */
export function runTranspose(dev: Device, height = 96, width = 160): SampleResult {
  if (width % TILE_DIM || height % TILE_DIM) {
    throw new Error(`transpose: ${height}×${width} must be multiples of TILE_DIM ${TILE_DIM}, as in the CUDA sample.`);
  }
  const [idata, odata] = [dev.alloc('f32', [height, width]), dev.alloc('f32', [width, height])];
  const h = uploadInputs(dev, idata, 401);
  const gold = () => {
    const g = new Float64Array(width * height);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) g[x * height + y] = h[y * width + x]!;
    return g;
  };
  const size = `${height}×${width}`;
  const args = { odata, idata, width, height };
  const run = (name: string, detail: string, launch: () => number): ExampleResult => {
    poison(dev, odata);
    const ms = launch();
    const err = compare(dev, odata, gold);
    return { name, ok: within(err, 0), relError: err, modelledMs: ms, detail };
  };
  const grid: [number, number] = [width / TILE_DIM, height / TILE_DIM];
  const block: [number, number] = [TILE_DIM, BLOCK_ROWS];
  const variants = [
    run(
      'transpose: SIMT transposeNaive',
      `${size}, ${TILE_DIM}×${BLOCK_ROWS} threads/block`,
      () => dev.launch(transposeNaive, { grid, block }, args).ms,
    ),
    run(
      'transpose: SIMT transposeCoalesced',
      `${size}, shared ${TILE_DIM}×${TILE_DIM} (unpadded)`,
      () => dev.launch(transposeCoalesced, { grid, block }, args).ms,
    ),
    run(
      'transpose: SIMT transposeNoBankConflicts',
      `${size}, shared ${TILE_DIM}×${TILE_DIM + 1}`,
      () => dev.launch(transposeNoBankConflicts, { grid, block }, args).ms,
    ),
    run(
      'transpose: tile, loadBlock + trans + storeBlock',
      `${size}, ${TILE_DIM}×${TILE_DIM} blocks`,
      () =>
        dev.launch(transposeTile, { grid: [cdiv(width, TILE_DIM), cdiv(height, TILE_DIM)] }, { ...args, T: TILE_DIM })
          .ms,
    ),
  ];
  dev.free(idata);
  dev.free(odata);
  return sample('transpose', size, variants);
}
