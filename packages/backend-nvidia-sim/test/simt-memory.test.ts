/**
 * SIMT kernels' modelled time sees the memory system (docs/model.md, "SIMT kernels"): the three transposes of Mark
 * Harris's "An Efficient Matrix Transpose in CUDA C/C++" model in the article's order, a skewed histogram slower than
 * a uniform one, a divergent branch slower than a uniform one, a strided copy slower than a coalesced one — on the
 * H100 (and the order of the transposes on every NVIDIA device). The counters behind these times are tested in
 * @tessera/device (test/simt-cost.test.ts).
 */
import { createRuntime, type Device, type LaunchResult, simtKernel, tileKernel } from '@tessera/device';
import { describe, expect, it } from 'vitest';
import { createNvidiaSimBackend } from '../src/index';

async function gpu(id = 'h100'): Promise<Device> {
  return (await createRuntime({ backend: createNvidiaSimBackend(), devices: id, mode: 'timing' })).device(0);
}

const TILE_DIM = 32;
const BLOCK_ROWS = 8;
const tparams = { odata: 'ptr<f32>', idata: 'ptr<f32>', width: 'i32', height: 'i32' } as const;

/** transposeNaive: reads rows, writes columns (a stride of `width` floats between lanes). */
const transposeNaive = simtKernel(
  { name: 'harris_transpose_naive', params: tparams, uses: { TILE_DIM, BLOCK_ROWS } },
  (k, { odata, idata, width }) => {
    const x = k.blockIdx.x * TILE_DIM + k.threadIdx.x;
    const y = k.blockIdx.y * TILE_DIM + k.threadIdx.y;
    for (let j = 0; j < TILE_DIM; j += BLOCK_ROWS) odata.set(x * width + (y + j), idata.get((y + j) * width + x));
  },
);

/** transposeCoalesced (pitch 32) and transposeNoBankConflicts (pitch 33): the tile staged in shared memory. */
function sharedTranspose(name: string, pitch: number) {
  return simtKernel(
    { name, params: tparams, shared: { tile: ['f32', TILE_DIM * pitch] }, uses: { TILE_DIM, BLOCK_ROWS, pitch } },
    function* (k, { odata, idata, width }) {
      const tile = k.shared.tile!;
      let x = k.blockIdx.x * TILE_DIM + k.threadIdx.x;
      let y = k.blockIdx.y * TILE_DIM + k.threadIdx.y;
      for (let j = 0; j < TILE_DIM; j += BLOCK_ROWS)
        tile[(k.threadIdx.y + j) * pitch + k.threadIdx.x] = idata.get((y + j) * width + x);
      yield k.syncthreads();
      x = k.blockIdx.y * TILE_DIM + k.threadIdx.x;
      y = k.blockIdx.x * TILE_DIM + k.threadIdx.y;
      for (let j = 0; j < TILE_DIM; j += BLOCK_ROWS)
        odata.set((y + j) * width + x, tile[k.threadIdx.x * pitch + k.threadIdx.y + j]!);
    },
  );
}
const transposeCoalesced = sharedTranspose('harris_transpose_coalesced', TILE_DIM);
const transposeNoBankConflicts = sharedTranspose('harris_transpose_no_bank_conflicts', TILE_DIM + 1);

function transposes(dev: Device, N: number): { naive: LaunchResult; coalesced: LaunchResult; padded: LaunchResult } {
  const args = { odata: dev.alloc('f32', N * N), idata: dev.alloc('f32', N * N), width: N, height: N };
  const cfg = { grid: [N / TILE_DIM, N / TILE_DIM], block: [TILE_DIM, BLOCK_ROWS] };
  return {
    naive: dev.launch(transposeNaive, cfg, args),
    coalesced: dev.launch(transposeCoalesced, cfg, args),
    padded: dev.launch(transposeNoBankConflicts, cfg, args),
  };
}

describe('the transposes of "An Efficient Matrix Transpose in CUDA C/C++" on H100', () => {
  it('model in the published order: naive slowest, padded fastest (8192 × 8192 floats)', async () => {
    const dev = await gpu();
    const N = 8192;
    const { naive, coalesced, padded } = transposes(dev, N);
    expect(naive.ms).toBeGreaterThan(coalesced.ms);
    expect(coalesced.ms).toBeGreaterThan(padded.ms);
    // The padded kernel streams at the DRAM rate: 2 · N² · 4 bytes at 90 % of 3.35 TB/s, plus the launch.
    const dram = (2 * N * N * 4) / (3350e9 * 0.9);
    expect(padded.ms / 1e3).toBeCloseTo(4e-6 + dram, 6);
    // What bounds each: the naive kernel's strided stores (one L2 request per lane) on the SM's load path; the
    // unpadded one's 32-way bank conflicts on the L1 / shared-memory path.
    const b = (r: LaunchResult) => r.timing.breakdown;
    expect(b(naive).load).toBeGreaterThan(Math.max(b(naive).memory!, b(naive).l1!));
    expect(b(coalesced).l1).toBeGreaterThan(Math.max(b(coalesced).memory!, b(coalesced).load!));
    // The ratios docs/model.md compares with the article's (Tesla M2050 / K20c: naive 5.3× / 2.6×, coalesced
    // 1.9× / 1.5× the conflict-free kernel's time).
    const ratio = (r: LaunchResult) => r.ms / padded.ms;
    expect(ratio(naive)).toBeGreaterThan(3.5);
    expect(ratio(naive)).toBeLessThan(5);
    expect(ratio(coalesced)).toBeGreaterThan(1.5);
    expect(ratio(coalesced)).toBeLessThan(2.2);
  });

  it('keep that order on every NVIDIA device, and at a size whose launch is a fraction of a wave', async () => {
    for (const id of ['a100', 'h100', 'h200', 'b200']) {
      const dev = await gpu(id);
      for (const N of [1024, 4096]) {
        const { naive, coalesced, padded } = transposes(dev, N);
        expect(naive.ms, `${id} ${N}`).toBeGreaterThan(coalesced.ms);
        expect(coalesced.ms, `${id} ${N}`).toBeGreaterThan(padded.ms);
      }
    }
  });
});

describe('atomics, divergence and coalescing in modelled time', () => {
  const histogram = (name: string, skewed: boolean) =>
    simtKernel({ name, params: { hist: 'ptr<i32>', n: 'i32' }, uses: { skewed } }, (k, { hist, n }) => {
      const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
      const bin = skewed ? (i % 10 === 0 ? i % 256 : 0) : i % 256; // skewed: 90 % of the values in bin 0
      if (i < n) hist.atomicAdd(bin, 1);
    });

  it('a skewed histogram (90 % in one bin) models slower than a uniform one', async () => {
    const dev = await gpu();
    const n = 1 << 22;
    const hist = dev.alloc('i32', 256);
    const cfg = { grid: n / 256, block: 256 };
    const uniform = dev.launch(histogram('hist_uniform', false), cfg, { hist, n });
    const skewed = dev.launch(histogram('hist_skewed', true), cfg, { hist, n });
    expect(skewed.ms).toBeGreaterThan(2 * uniform.ms);
    // The hottest address, bin 0: the 90 % plus the multiples of 1280, one update per clock at its L2 slice. The
    // launch has 16 384 blocks, so this is estimated from a sample of them (within 1 %).
    const bin0 = n - Math.ceil(n / 10) + Math.ceil(n / 1280);
    expect(Math.abs(skewed.cost.simt!.hotAtomicUpdates / bin0 - 1)).toBeLessThan(0.01);
    expect(skewed.timing.breakdown.atomics).toBeCloseTo((skewed.cost.simt!.hotAtomicUpdates / 1.98e9) * 1e6, 3);
    expect(uniform.cost.simt!.hotAtomicUpdates).toBe(n / 256);
  });

  it('so does a skewed shared-memory histogram (per-block sub-histograms, merged with global atomics)', async () => {
    const dev = await gpu();
    const sharedHistogram = (name: string, skewed: boolean) =>
      simtKernel(
        { name, params: { hist: 'ptr<i32>', n: 'i32' }, shared: { s: ['u32', 256] }, uses: { skewed } },
        function* (k, { hist, n }) {
          const s = k.shared.s!;
          const t = k.threadIdx.x;
          s[t] = 0;
          yield k.syncthreads();
          for (let i = k.blockIdx.x * 256 + t; i < n; i += k.gridDim.x * 256) {
            s.atomicAdd(skewed ? (i % 10 === 0 ? i % 256 : 0) : i % 256, 1);
          }
          yield k.syncthreads();
          hist.atomicAdd(t, s[t]!);
        },
      );
    const n = 1 << 24;
    const hist = dev.alloc('i32', 256);
    const cfg = { grid: 264, block: 256 }; // two blocks per SM, each walking the input
    const uniform = dev.launch(sharedHistogram('shared_hist_uniform', false), cfg, { hist, n });
    const skewed = dev.launch(sharedHistogram('shared_hist_skewed', true), cfg, { hist, n });
    // Skewed: ~29 of a warp's 32 lanes update one word, 29 wavefronts where the uniform warp takes one.
    expect(skewed.cost.total.simt.sharedWavefronts).toBeGreaterThan(20 * uniform.cost.total.simt.sharedWavefronts);
    expect(skewed.ms).toBeGreaterThan(5 * uniform.ms);
    expect(skewed.timing.breakdown.l1).toBeGreaterThan(skewed.timing.breakdown.memory!);
  });

  it('a branch whose lanes disagree models slower than one uniform over each warp', async () => {
    const dev = await gpu();
    const branchy = (name: string, divergent: boolean) =>
      simtKernel({ name, params: { x: 'ptr<f32>', steps: 'i32' }, uses: { divergent } }, (k, { x, steps }) => {
        const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
        let r = x.get(i);
        const side = divergent ? (k.threadIdx.x >> 1) % 2 : (k.threadIdx.x >> 5) % 2;
        if (side === 0) for (let s = 0; s < steps; s++) r = r * 1.0001 + 0.5;
        else for (let s = 0; s < steps; s++) r = r * 0.9999 - 0.5;
        x.set(i, r);
      });
    const x = dev.alloc('f32', 1 << 20);
    const cfg = { grid: (1 << 20) / 256, block: 256 };
    const d = dev.launch(branchy('branch_divergent', true), cfg, { x, steps: 256 });
    const u = dev.launch(branchy('branch_uniform', false), cfg, { x, steps: 256 });
    expect(d.cost.total.vectorOps).toEqual(u.cost.total.vectorOps); // the same FLOPs …
    expect(d.timing.bound).toBe('vector');
    // … issued twice by the divergent warps (the work outside the branch is issued once by both).
    expect(d.ms / u.ms).toBeGreaterThan(1.6);
  });

  it('a strided copy models slower than a coalesced one, by its sectors', async () => {
    const dev = await gpu();
    const copy = simtKernel(
      { name: 'strided_copy', params: { x: 'ptr<f32>', y: 'ptr<f32>', n: 'i32', S: 'i32' } },
      (k, { x, y, n, S }) => {
        const i = k.blockIdx.x * k.blockDim.x + k.threadIdx.x;
        if (i < n) y.set(i, x.get((i * S) % n));
      },
    );
    const n = 1 << 24;
    const [x, y] = [dev.alloc('f32', n), dev.alloc('f32', n)];
    const cfg = { grid: n / 256, block: 256 };
    const unit = dev.launch(copy, cfg, { x, y, n, S: 1 });
    const strided = dev.launch(copy, cfg, { x, y, n, S: 32 });
    expect(strided.cost.total.simt.sectorsRead).toBe(8 * unit.cost.total.simt.sectorsRead);
    expect(strided.ms).toBeGreaterThan(3 * unit.ms);
  });

  it('tile kernels keep their model: no SIMT terms', async () => {
    const dev = await gpu();
    const add = tileKernel(
      { name: 'tile_add', params: { x: 'ptr<f32>', y: 'ptr<f32>', n: 'i32', B: 'constexpr' } },
      (t, { x, y, n, B }) => {
        const o = t.arange(0, B).add(t.programId(0) * B);
        t.store(y, o, t.load(x, o, { mask: o.lt(n) }).add(1), { mask: o.lt(n) });
      },
    );
    const n = 1 << 24;
    const r = dev.launch(add, { grid: n / 1024 }, { x: dev.alloc('f32', n), y: dev.alloc('f32', n), n, B: 1024 });
    expect(r.cost.simt).toBeUndefined();
    expect(r.cost.total.simt.isZero()).toBe(true);
    expect(r.timing.breakdown.l1).toBeUndefined();
    expect(r.ms / 1e3).toBeCloseTo(4e-6 + (2 * n * 4) / (3350e9 * 0.9), 6);
  });
});
