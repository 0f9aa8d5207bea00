/**
 * Tile IR → WGSL (tileToWgsl) run on Dawn against the reference back end: the conformance kernels, then the operator
 * kernels of @tessera/kernels at small shapes. Outputs are poisoned (NaN / -1) first; f32 results must match within
 * ‖gpu − ref‖ / ‖ref‖ ≤ 1e-5, f16/bf16 within 1e-2 of the reference back end's own rounding, integers exactly.
 * Without a WebGPU adapter every test is skipped with a visible SKIP.
 */
import type { Device, DeviceBuffer, DType, Kernel } from '@tessera/device';
import { conformanceKernels as K } from '@tessera/device/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import * as ops from '../../kernels/src/index';
import {
  gpu,
  lastOpenError,
  type Replay,
  type ReplayOptions,
  rand,
  refDevice,
  relErr,
  replay,
  replayOp,
} from './tile-harness';

const handle = await gpu();
if (!handle) console.warn(`SKIP: tile → WGSL on Dawn: ${lastOpenError}`);

/** Per-test limit: Dawn's llvmpipe compiles each shader on the CPU, slow on a loaded 2-core CI machine. */
const T = 120_000;

function tolerance(d: DType): number {
  return d === 'f32' ? 1e-5 : d === 'f16' || d === 'bf16' ? 1e-2 : 0;
}

function check(r: Replay, tol?: number): void {
  expect(r.fault).toBeNull();
  expect(r.outputs.length).toBeGreaterThan(0);
  for (const o of r.outputs) {
    const t = tol ?? tolerance(o.dtype);
    if (t === 0) expect(o.gpu, `${r.kernel}: ${o.name}`).toEqual(o.ref);
    else expect(relErr(o.gpu, o.ref), `${r.kernel}: ${o.name}`).toBeLessThanOrEqual(t);
  }
}

describe.skipIf(!handle)('conformance kernels lowered to WGSL, run on Dawn', () => {
  let dev: Device;
  beforeAll(async () => {
    dev = await refDevice();
  });
  const buf = (dtype: DType, n: number, seed: number | null, scale = 1): DeviceBuffer => {
    const b = dev.alloc(dtype, n);
    if (seed === null) dev.fill(b, dtype.startsWith('f') || dtype === 'bf16' ? Number.NaN : -1);
    else if (dtype === 'i8' || dtype === 'u8' || dtype === 'i32' || dtype === 'i16')
      dev.upload(
        b,
        Array.from(rand(n, seed), (v) => Math.round(v * 100 * scale)),
      );
    else
      dev.upload(
        b,
        Array.from(rand(n, seed), (v) => v * scale),
      );
    return b;
  };
  const run = (k: Kernel, grid: number | number[], args: Record<string, unknown>) =>
    replay(handle!, dev, k, grid, args);

  for (const dtype of ['f32', 'f16', 'bf16'] as const) {
    it(
      `vector add and the elementwise mix (${dtype})`,
      async () => {
        const n = 1000;
        const args = { x: buf(dtype, n, 1), y: buf(dtype, n, 2), out: buf(dtype, n, null), n, BLOCK: 256 };
        check(await run(K.vectorAdd, Math.ceil(n / 256), args));
        check(await run(K.elementwiseMix, Math.ceil(n / 256), { ...args, out: buf(dtype, n, null) }));
      },
      T,
    );
  }

  for (const dtype of ['f32', 'f16', 'bf16'] as const) {
    it(
      `matmul ${dtype} at edge shapes`,
      async () => {
        for (const [M, N, Kd, BM, BN, BK] of [
          [37, 29, 45, 16, 16, 16],
          [64, 64, 64, 32, 32, 16],
          [5, 70, 3, 16, 32, 8],
        ] as const) {
          const args = {
            a: buf(dtype, M * Kd, 3),
            b: buf(dtype, Kd * N, 4),
            c: buf(dtype, M * N, null),
            M,
            N,
            K: Kd,
            BM,
            BN,
            BK,
          };
          check(await run(K.matmul, [Math.ceil(M / BM), Math.ceil(N / BN)], args));
        }
      },
      T,
    );
  }

  it(
    'int8 matmul (exact)',
    async () => {
      const [M, N, Kd] = [33, 40, 50];
      const args = { a: buf('i8', M * Kd, 5), b: buf('i8', Kd * N, 6), c: buf('i32', M * N, null) };
      check(await run(K.matmulInt8, [3, 3], { ...args, M, N, K: Kd, BM: 16, BN: 16, BK: 16 }));
    },
    T,
  );

  it(
    'softmax',
    async () => {
      const [rows, cols] = [7, 300];
      const args = { x: buf('f32', rows * cols, 7, 4), y: buf('f32', rows * cols, null), cols, BLOCK: 512 };
      check(await run(K.softmax, rows, args));
    },
    T,
  );

  it(
    'atomic sum (f32 atomics through compare-exchange)',
    async () => {
      const n = 3000;
      const out = dev.alloc('f32', 1);
      dev.fill(out, 0);
      const r = await run(K.atomicSum, Math.ceil(n / 256), { x: buf('f32', n, 8), out, n, BLOCK: 256 });
      check(r, 1e-5);
    },
    T,
  );

  it(
    'an out-of-bounds load is an IllegalAddress fault naming the access',
    async () => {
      const n = 16;
      const ok = await run(K.outOfBounds, 1, { x: buf('f32', n, 9), out: buf('f32', n, null), n, overrun: 0 });
      check(ok);
      const bad = await replay(handle!, dev, K.outOfBounds, 1, {
        x: buf('f32', n, 9),
        out: buf('f32', n, null),
        n,
        overrun: 1,
      }).catch((e) => e as Error);
      expect(bad).not.toBeInstanceOf(Error);
      expect((bad as Replay).fault).toEqual({ site: 'load x', index: 16 });
    },
    T,
  );
});

describe.skipIf(!handle)('operator kernels of @tessera/kernels lowered to WGSL, run on Dawn', () => {
  let dev: Device;
  beforeAll(async () => {
    dev = await refDevice();
  });
  const buf = (dtype: DType, n: number, seed: number | null, lo = -1, hi = 1): DeviceBuffer => {
    const b = dev.alloc(dtype, Math.max(1, n));
    if (seed === null) dev.fill(b, dtype.startsWith('f') || dtype === 'bf16' ? Number.NaN : -1);
    else
      dev.upload(
        b,
        Array.from(rand(n, seed), (v) => lo + ((v + 1) / 2) * (hi - lo)),
      );
    return b;
  };
  const ints = (values: number[]): DeviceBuffer => {
    const b = dev.alloc('i32', Math.max(1, values.length));
    dev.upload(b, values);
    return b;
  };
  const op = async (fn: (d: Device) => unknown, tol?: number, opts: ReplayOptions = {}) => {
    const t0 = performance.now();
    const rs = await replayOp(handle!, dev, fn, opts);
    if (process.env.TILE_TIMES)
      console.log(
        rs
          .map((r) => `${r.kernel}: ${(performance.now() - t0).toFixed(0)} ms (GPU ${r.gpuWallMs.toFixed(1)} ms)`)
          .join(', '),
      );
    expect(rs.length).toBeGreaterThan(0);
    for (const r of rs) check(r, tol !== undefined && r.outputs.some((o) => o.dtype === 'f32') ? tol : undefined);
    return rs;
  };

  for (const dtype of ['f32', 'f16'] as const) {
    it(
      `gemm (${dtype}): plain, transposed B with bias and activation`,
      async () => {
        const [M, N, Kd] = [37, 45, 70];
        await op((d) =>
          ops.gemm(d, { a: buf(dtype, M * Kd, 1), b: buf(dtype, Kd * N, 2), c: buf(dtype, M * N, null), M, N, K: Kd }),
        );
        await op((d) =>
          ops.gemm(d, {
            a: buf(dtype, M * Kd, 3),
            b: buf(dtype, N * Kd, 4),
            c: buf(dtype, M * N, null),
            M,
            N,
            K: Kd,
            transB: true,
            bias: buf(dtype, N, 5),
            activation: 'gelu',
          }),
        );
      },
      T,
    );

    it(
      `rmsnorm and layernorm (${dtype})`,
      async () => {
        const [rows, cols] = [5, 300];
        await op((d) =>
          ops.rmsnorm(d, {
            x: buf(dtype, rows * cols, 6),
            weight: buf(dtype, cols, 7),
            out: buf(dtype, rows * cols, null),
            rows,
            cols,
          }),
        );
        await op((d) =>
          ops.rmsnorm(
            d,
            {
              x: buf(dtype, rows * cols, 6),
              weight: buf(dtype, cols, 7),
              out: buf(dtype, rows * cols, null),
              rows,
              cols,
            },
            { config: { BLOCK: 128 } },
          ),
        );
        await op((d) =>
          ops.layernorm(d, {
            x: buf(dtype, rows * cols, 8, 2, 4),
            weight: buf(dtype, cols, 9),
            bias: buf(dtype, cols, 10),
            out: buf(dtype, rows * cols, null),
            rows,
            cols,
          }),
        );
      },
      T,
    );

    it(
      `rope (${dtype}): half and interleaved conventions`,
      async () => {
        const [tokens, heads, headDim] = [5, 3, 32];
        // Positions up to 100 hold 1e-5; at 4095 the angle amplifies the few-ulp differences of the inverse
        // frequencies (θ's log is scalar f32 arithmetic on the GPU, float64 on the CPU) to ~3e-5.
        for (const [positions, tol] of [
          [[0, 3, 7, 50, 100], undefined],
          [[0, 3, 7, 100, 4095], 1e-4],
        ] as const) {
          for (const convention of ['half', 'interleaved'] as const) {
            await op(
              (d) =>
                ops.rope(d, {
                  x: buf(dtype, tokens * heads * headDim, 11),
                  out: buf(dtype, tokens * heads * headDim, null),
                  positions: ints([...positions]),
                  tokens,
                  heads,
                  headDim,
                  convention,
                }),
              tol,
            );
          }
        }
      },
      T,
    );

    it(
      `flash attention (${dtype}): causal GQA, two sequences`,
      async () => {
        const [heads, kvHeads, headDim] = [4, 2, 32];
        const seqLens = [5, 19];
        const tokens = 24;
        await op((d) =>
          ops.flashAttention(d, {
            q: buf(dtype, tokens * heads * headDim, 12),
            k: buf(dtype, tokens * kvHeads * headDim, 13),
            v: buf(dtype, tokens * kvHeads * headDim, 14),
            out: buf(dtype, tokens * heads * headDim, null),
            seqLens,
            heads,
            kvHeads,
            headDim,
          }),
        );
      },
      T,
    );

    it(
      `paged attention (${dtype}): decode and a prefill chunk`,
      async () => {
        const [H, KH, D, BS, maxBlocks, numBlocks] = [4, 2, 32, 8, 4, 10];
        const queryLens = [1, 3];
        const contextLens = [9, 20];
        const Q = 4;
        await op((d) =>
          ops.pagedAttention(d, {
            q: buf(dtype, Q * H * D, 15),
            keyCache: buf(dtype, numBlocks * BS * KH * D, 16),
            valueCache: buf(dtype, numBlocks * BS * KH * D, 17),
            blockTables: ints([3, 7, 0, 0, 1, 9, 4, 2]),
            out: buf(dtype, Q * H * D, null),
            queryLens,
            contextLens,
            maxBlocksPerSeq: maxBlocks,
            blockSize: BS,
            heads: H,
            kvHeads: KH,
            headDim: D,
          }),
        );
      },
      T,
    );

    it(
      `softmax, log-softmax and the row reductions (${dtype})`,
      async () => {
        const [rows, cols] = [6, 333];
        await op((d) =>
          ops.softmax(d, { x: buf(dtype, rows * cols, 18, -4, 4), out: buf(dtype, rows * cols, null), rows, cols }),
        );
        await op((d) =>
          ops.logSoftmax(d, { x: buf(dtype, rows * cols, 19, -4, 4), out: buf(dtype, rows * cols, null), rows, cols }),
        );
        for (const o of ['sum', 'max', 'min'] as const)
          await op((d) =>
            ops.reduce(d, { x: buf(dtype, rows * cols, 20), out: buf(dtype, rows, null), rows, cols, op: o }),
          );
        await op((d) => ops.argmax(d, { x: buf(dtype, rows * cols, 21), out: buf('i32', rows, null), rows, cols }));
      },
      T,
    );

    it(
      `embedding, elementwise, cast and transpose (${dtype})`,
      async () => {
        const [tokens, vocab, dim] = [6, 50, 40];
        await op((d) =>
          ops.embedding(d, {
            table: buf(dtype, vocab * dim, 22),
            ids: ints([3, 0, 49, 7, 7, 12]),
            out: buf(dtype, tokens * dim, null),
            tokens,
            vocab,
            dim,
          }),
        );
        const [rows, cols] = [7, 45];
        const n = rows * cols;
        await op((d) =>
          ops.add(d, { a: buf(dtype, n, 23), b: buf(dtype, n, 24), out: buf(dtype, n, null), rows, cols }),
        );
        await op((d) => ops.mul(d, { a: buf(dtype, n, 25), b: 1.5, out: buf(dtype, n, null), rows, cols }));
        await op((d) => ops.silu(d, { x: buf(dtype, n, 26, -4, 4), out: buf(dtype, n, null), n }));
        await op((d) => ops.gelu(d, { x: buf(dtype, n, 27, -4, 4), out: buf(dtype, n, null), n }));
        await op((d) => ops.siluAndMul(d, { x: buf(dtype, n * 2, 28), out: buf(dtype, n, null), rows, d: cols }));
        await op((d) => ops.cast(d, { x: buf(dtype, n, 29, -300, 300), out: buf('i32', n, null), n }));
        await op((d) => ops.cast(d, { x: buf('f32', n, 30, -3, 3), out: buf(dtype, n, null), n }));
        await op((d) => ops.transpose(d, { x: buf(dtype, n, 31), out: buf(dtype, n, null), rows, cols }));
      },
      T,
    );
  }

  it(
    'top-k and sampling (f32)',
    async () => {
      const [rows, cols, k] = [3, 200, 5];
      await op((d) =>
        ops.topk(d, {
          x: buf('f32', rows * cols, 32),
          values: buf('f32', rows * k, null),
          indices: buf('i32', rows * k, null),
          rows,
          cols,
          k,
        }),
      );
      const vocab = 300;
      await op((d) =>
        ops.sample(d, {
          logits: buf('f32', rows * vocab, 33, -5, 5),
          out: buf('i32', rows, null),
          rows,
          vocab,
          temperature: [0, 0.7, 1.2],
          topK: [0, 20, 0],
          topP: [1, 0.9, 0.5],
          seeds: [1, 2, 3],
          steps: [0, 4, 9],
        }),
      );
    },
    T,
  );

  it(
    'quantisation and MoE routing (f32)',
    async () => {
      const [rows, cols] = [4, 100];
      await op((d) =>
        ops.quantizePerToken(d, {
          x: buf('f32', rows * cols, 34, -3, 3),
          out: buf('i8', rows * cols, null),
          scales: buf('f32', rows, null),
          rows,
          cols,
        }),
      );
      const [tokens, experts, k] = [9, 8, 2];
      const weights = buf('f32', tokens * k, null);
      const ids = buf('i32', tokens * k, null);
      await op((d) =>
        ops.moeRouter(d, { logits: buf('f32', tokens * experts, 35, -2, 2), weights, ids, tokens, experts, k }),
      );
      await op((d) =>
        ops.moePermute(d, {
          ids,
          tokens,
          k,
          experts,
          permuted: buf('i32', tokens * k, null),
          expertOffsets: buf('i32', experts + 1, null),
          positions: buf('i32', tokens * k, null),
        }),
      );
    },
    T,
  );

  it(
    'tiles in the per-program scratch binding (no workgroup memory) and 32-invocation programs',
    async () => {
      const [heads, kvHeads, headDim] = [2, 1, 32];
      const attention = (d: Device) =>
        ops.flashAttention(d, {
          q: buf('f32', 20 * heads * headDim, 40),
          k: buf('f32', 20 * kvHeads * headDim, 41),
          v: buf('f32', 20 * kvHeads * headDim, 42),
          out: buf('f32', 20 * heads * headDim, null),
          seqLens: [7, 13],
          heads,
          kvHeads,
          headDim,
        });
      const [scr] = await op(attention, undefined, { maxWorkgroupBytes: 0 });
      expect(scr!.prog.workgroupBytes).toBe(0);
      expect(scr!.prog.bindings.some((b) => b.kind === 'scratch' && b.wordsPerProgram > 0)).toBe(true);
      const [narrow] = await op(attention, undefined, { workgroupSize: 32 });
      expect(narrow!.prog.workgroupSize).toEqual([32, 1, 1]);
      const [rows, cols] = [3, 200];
      await op(
        (d) =>
          ops.topk(d, {
            x: buf('f32', rows * cols, 43),
            values: buf('f32', rows * 4, null),
            indices: buf('i32', rows * 4, null),
            rows,
            cols,
            k: 4,
          }),
        undefined,
        { maxWorkgroupBytes: 0, workgroupSize: 32 },
      );
    },
    T,
  );

  it(
    'W8A8: int8 and fp8 GEMMs with scales, grouped GEMM, fp8 KV cache writes and paged attention over it',
    async () => {
      const [M, N, Kd] = [20, 24, 40];
      for (const q of ['i8', 'fp8e4m3'] as const) {
        const lo = q === 'i8' ? -100 : -3;
        await op((d) =>
          ops.gemm(d, {
            a: buf(q, M * Kd, 50, lo, -lo),
            b: buf(q, Kd * N, 51, lo, -lo),
            c: buf('f32', M * N, null),
            M,
            N,
            K: Kd,
            scales: { a: buf('f32', M, 52, 0.01, 0.02), b: buf('f32', N, 53, 0.01, 0.02) },
            bias: buf('f32', N, 54),
            activation: 'silu',
          }),
        );
      }
      const offsets = [0, 5, 5, 17, 20];
      await op((d) =>
        ops.groupedGemm(d, {
          a: buf('f32', 20 * Kd, 55),
          b: buf('f32', 4 * Kd * N, 56),
          c: buf('f32', 20 * N, null),
          offsets,
          N,
          K: Kd,
        }),
      );
      // reshape_and_cache into an fp8 cache, then paged attention reading it.
      const [H, KH, D, BS, numBlocks] = [4, 2, 32, 8, 6];
      const keyCache = buf('fp8e4m3', numBlocks * BS * KH * D, 57, -200, 200);
      const valueCache = buf('fp8e4m3', numBlocks * BS * KH * D, 58, -200, 200);
      const scales = { kScale: 0.01, vScale: 0.02 };
      await op((d) =>
        ops.reshapeAndCache(d, {
          key: buf('f32', 3 * KH * D, 59, -2, 2),
          value: buf('f32', 3 * KH * D, 60, -2, 2),
          keyCache,
          valueCache,
          slotMapping: ints([17, -1, 40]),
          tokens: 3,
          kvHeads: KH,
          headDim: D,
          ...scales,
        }),
      );
      await op((d) =>
        ops.pagedAttention(d, {
          q: buf('f32', 3 * H * D, 61),
          keyCache,
          valueCache,
          blockTables: ints([2, 5, 0, 1, 4, 3]),
          out: buf('f32', 3 * H * D, null),
          queryLens: [1, 2],
          contextLens: [14, 20],
          maxBlocksPerSeq: 3,
          blockSize: BS,
          heads: H,
          kvHeads: KH,
          headDim: D,
          ...scales,
        }),
      );
      await op((d) =>
        ops.moeUnpermute(d, {
          y: buf('f32', 18 * 40, 62),
          positions: ints([3, 0, 17, 9, 4, 2, 11, 5, 1, 16, 7, 8, 13, 6, 15, 10, 14, 12]),
          weights: buf('f32', 18, 63),
          out: buf('f32', 9 * 40, null),
          tokens: 9,
          k: 2,
          hidden: 40,
        }),
      );
      await op((d) => ops.copy(d, buf('bf16', 1000, 64), buf('bf16', 1000, null)));
    },
    T,
  );
});
