/**
 * projectStep: a step of a real architecture costed with the kernels' launches and the communicator's collectives on a
 * timing-only cluster. No timed assertions: every check compares modelled quantities with each other or with
 * @tessera/models' counts.
 */
import { createCluster } from '@tessera/cluster';
import { gemm } from '@tessera/kernels';
import { countParameters, kvCacheBytesPerToken, loadShippedModel, tensorGroups, weightBytes } from '@tessera/models';
import { describe, expect, test } from 'vitest';
import { CapacityError, earliestStart, evenSplit, type ProjectionError, projectStep } from '../../src/model/project';

const SLOW = 300_000;

describe('projectStep', () => {
  test(
    'a step is the sum of its launches and collectives on the critical rank, each as the kernels and the communicator report it',
    async () => {
      const arch = loadShippedModel('llama-3.1-70b');
      const p = await projectStep({ arch, topology: 'dgx-h100', tp: 8, batch: 64, contextLen: 2048, phase: 'decode' });
      expect(p.tokens).toBe(64);
      for (const r of p.ranks) {
        const sum = r.ops.reduce((s, o) => s + o.ms, 0);
        expect(r.kernelsMs + r.collectivesMs).toBeCloseTo(sum, 9);
      }
      const crit = p.ranks[p.criticalRank]!;
      // One stream per rank: the step is the critical rank's kernels + collectives + any wait, end to end.
      expect(crit.kernelsMs + crit.collectivesMs + crit.idleMs).toBeCloseTo(p.ms, 9);
      expect(crit.idleMs).toBeLessThan(1e-9);
      // 80 layers: two all-reduces each, then the logits' all-gather.
      expect(crit.ops.filter((o) => o.name === 'allreduce')).toHaveLength(160);
      expect(crit.ops.filter((o) => o.name === 'allgather')).toHaveLength(1);

      // The same shapes launched directly: the q projection (64 × 8192 · 8192 × 1024, bf16) and the all-reduce of the
      // (64, 8192) f32 residual over the 8 GPUs.
      const cluster = await createCluster({ topology: 'dgx-h100', ranks: 8, mode: 'timing' });
      const d = cluster.devices[1]!;
      const g = gemm(d, {
        a: d.alloc('bf16', 64 * 8192),
        b: d.alloc('bf16', 8192 * 1024),
        c: d.alloc('bf16', 64 * 1024),
        M: 64,
        N: 1024,
        K: 8192,
      });
      const firstGemm = p.ranks[1]!.ops.find((o) => o.name === 'gemm')!;
      expect(firstGemm.ms).toBeCloseTo(g.ms, 12);
      expect(firstGemm.flops).toBe(2 * 64 * 1024 * 8192);
      const bufs = cluster.devices.map((dv) => dv.alloc('f32', 64 * 8192));
      const ar = cluster.world.allReduce(bufs, bufs);
      const firstAr = crit.ops.find((o) => o.name === 'allreduce')!;
      expect(firstAr.ms).toBeCloseTo(ar.us / 1000, 12);
      expect(firstAr.bytes).toBe(64 * 8192 * 4);
    },
    SLOW,
  );

  test(
    'Llama-3.1-70B, TP 8, batch 64, context 2048: the GEMMs read the weights / TP once, plus their activation inputs',
    async () => {
      const arch = loadShippedModel('llama-3.1-70b');
      const p = await projectStep({ arch, topology: 'dgx-h100', tp: 8, batch: 64, contextLen: 2048, phase: 'decode' });
      const total = countParameters(arch).total;
      // Every projection, expert and the LM head, sharded 8 ways (bf16). Left out: the embedding table (a gather reads
      // only the step's rows) and the RMSNorm weights (f32, read by the norms, not the GEMMs).
      const weights = ((total.total - total.embedding - total.norms) * 2) / 8;
      expect(weights).toBeCloseTo((weightBytes(arch, 'bf16') - (total.embedding + total.norms) * 2) / 8, 0);
      // The activation term, stated: each GEMM also reads its input once — per layer q, k, v (64 × 8192 each), o
      // (64 × 1024), gate/up (64 × 8192), down (64 × 28672 / 8); then the head's (64 × 8192). bf16.
      const N = 64;
      const D = 8192;
      const activations = (80 * N * (3 * D + 1024 + D + 28672 / 8) + N * D) * 2;
      const gemms = p.ranks[1]!.ops.filter((o) => o.name === 'gemm'); // rank 1: no fused residual read
      const read = gemms.reduce((s, o) => s + o.bytesRead!, 0);
      expect(read - activations).toBe(weights);
      // The same weights are what each GPU holds, with the replicated embedding and the f32 norms added.
      // (The device charges each allocation rounded up to its granularity, 2 MiB: each 32 KiB norm weight costs
      // 2 MiB, under 2 % more here.)
      const held = weights + total.embedding * 2 + total.norms * 4;
      expect(p.memory.weights).toBeGreaterThanOrEqual(held);
      expect(p.memory.weights).toBeLessThan(held * 1.02);
      // KV cache: 64 sequences × 2048 tokens × 80 layers × (k + v) × 1 KV head of 128 × bf16 (2 MiB multiples already).
      expect(p.memory.kvCache).toBe(64 * 2048 * 80 * 2 * 128 * 2);
    },
    SLOW,
  );

  test(
    'Llama-3.1-405B on one H100 does not fit: a CapacityError names the shortfall',
    async () => {
      const arch = loadShippedModel('llama-3.1-405b');
      const err = await projectStep({
        arch,
        topology: 'dgx-h100',
        tp: 1,
        batch: 1,
        contextLen: 1024,
        phase: 'decode',
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CapacityError);
      const e = err as CapacityError;
      expect(e.code).toBe('capacity');
      expect(e.memory.weights).toBeGreaterThan(weightBytes(arch, 'bf16'));
      expect(e.shortfall).toBe(e.memory.total - e.memory.capacity);
      expect(e.shortfall).toBeGreaterThan(600 * 2 ** 30); // ~811 GB of bf16 weights on an 80 GB GPU
      expect(e.message).toMatch(/GiB short/);
      expect(e.message).toContain(`${(e.shortfall / 2 ** 30).toFixed(2)} GiB short`);
      // At TP 8 in int8 (W8A8) the same model fits.
      const p = await projectStep({
        arch,
        topology: 'dgx-h100',
        tp: 8,
        batch: 1,
        contextLen: 1024,
        phase: 'decode',
        weightDtype: 'int8',
      });
      expect(p.memory.total).toBeLessThan(p.memory.capacity);
      expect(p.ranks[0]!.ops.some((o) => o.name === 'quantize_per_token')).toBe(true);
    },
    SLOW,
  );

  /** Active routed-expert parameters of one token (all MoE layers), from @tessera/models. */
  const activeExpertParams = (id: 'mixtral-8x7b' | 'qwen3-235b-a22b') =>
    tensorGroups(loadShippedModel(id))
      .filter((g) => g.scope === 'moe-layers' && g.name.includes('.experts.*'))
      .reduce((s, g) => s + g.rows * g.cols * g.activeCount, 0);

  // The kernels count matrix FLOPs per tile (as the MMA runs them), so the batch is chosen for every expert's rows to
  // fill whole row tiles under uniform routing: Mixtral 64·2/8 = 16 rows per expert, Qwen3 256·8/128 = 16.
  for (const [id, ep, batch] of [
    ['mixtral-8x7b', 8, 64],
    ['mixtral-8x7b', 1, 64],
    ['qwen3-235b-a22b', 8, 256],
    ['qwen3-235b-a22b', 1, 256],
  ] as const) {
    test(
      `${id}, TP 8, ep ${ep}: the expert GEMMs' FLOPs are 2 × active expert params × tokens`,
      async () => {
        const arch = loadShippedModel(id);
        const p = await projectStep({
          arch,
          topology: 'dgx-h100',
          tp: 8,
          ep,
          batch,
          contextLen: 1024,
          phase: 'decode',
        });
        const flops = p.ranks
          .flatMap((r) => r.ops)
          .filter((o) => o.name === 'grouped_gemm')
          .reduce((s, o) => s + o.flops!, 0);
        expect(flops).toBe(2 * activeExpertParams(id) * batch);
        const names = new Set(p.ranks[0]!.ops.map((o) => o.name));
        for (const n of ['moe_router', 'moe_permute', 'moe_unpermute', 'grouped_gemm']) expect(names).toContain(n);
        const crit = p.ranks[p.criticalRank]!;
        expect(crit.kernelsMs + crit.collectivesMs + crit.idleMs).toBeCloseTo(p.ms, 9);
        if (ep > 1) {
          // Dispatch and combine per MoE layer.
          expect(crit.ops.filter((o) => o.name === 'allToAllv')).toHaveLength(2 * arch.layers.moe);
        } else expect(names.has('allToAllv')).toBe(false);
      },
      SLOW,
    );
  }

  test(
    'dense GQA variants: Qwen2.5 q/k/v biases and Qwen3 q/k norms launch; prefill chunks cost more than decode',
    async () => {
      const q3 = loadShippedModel('qwen3-32b');
      const dec = await projectStep({
        arch: q3,
        topology: 'dgx-h100',
        tp: 4,
        batch: 8,
        contextLen: 1024,
        phase: 'decode',
      });
      const pre = await projectStep({
        arch: q3,
        topology: 'dgx-h100',
        tp: 4,
        batch: 8,
        contextLen: 1024,
        phase: 'prefill',
        prefillChunk: 512,
      });
      expect(pre.tokens).toBe(8 * 512);
      expect(pre.sampledRows).toBe(8);
      expect(pre.ms).toBeGreaterThan(dec.ms);
      // Per layer: attention norm, q norm, k norm, MLP norm; then the final norm.
      const norms = (p: typeof dec) => p.ranks[0]!.ops.filter((o) => o.name === 'rmsnorm').length;
      expect(norms(dec)).toBe(4 * q3.numLayers + 1);
      const q25 = loadShippedModel('qwen2.5-72b');
      const b = await projectStep({
        arch: q25,
        topology: 'dgx-h100',
        tp: 8,
        batch: 8,
        contextLen: 1024,
        phase: 'decode',
      });
      expect(b.memory.weights).toBeGreaterThan(0);
      expect(norms(b)).toBe(2 * q25.numLayers + 1);
    },
    SLOW,
  );

  test(
    'DeepSeek-V3 (MLA, absorbed decode): the latent cache is what @tessera/models counts; 8 H200s are too small in bf16',
    async () => {
      const arch = loadShippedModel('deepseek-v3');
      const err = await projectStep({
        arch,
        topology: 'hgx-h200',
        tp: 8,
        batch: 64,
        contextLen: 2048,
        phase: 'decode',
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CapacityError);
      expect((err as CapacityError).shortfall).toBeGreaterThan(0);
      const p = await projectStep({
        arch,
        topology: 'dgx-h100x4',
        tp: 32,
        batch: 64,
        contextLen: 2048,
        phase: 'decode',
      });
      // One latent row (kv_lora_rank + qk_rope_head_dim = 576) per token and layer, replicated on every rank.
      expect(p.memory.kvCache).toBe(64 * 2048 * kvCacheBytesPerToken(arch, 'bf16'));
      const crit = p.ranks[p.criticalRank]!;
      expect(crit.kernelsMs + crit.collectivesMs + crit.idleMs).toBeCloseTo(p.ms, 9);
      const attn = crit.ops.filter((o) => o.name === 'paged_attention');
      expect(attn).toHaveLength(arch.numLayers);
      // Each layer's attention reads its whole latent cache (64 × 2048 rows of 576 bf16).
      for (const o of attn) expect(o.bytesRead!).toBeGreaterThanOrEqual(64 * 2048 * 576 * 2);
      // The absorbed W_UK GEMM: per head, 64 tokens × 128 (nope) → 512 (latent); 128 heads / 32 = 4 per rank.
      expect(crit.ops.some((o) => o.name === 'gemm' && o.flops === 2 * 64 * 512 * 128 * 4)).toBe(true);
      expect(p.assumptions.join(' ')).toMatch(/sigmoid routing/);
    },
    SLOW,
  );

  test('options the projection cannot model are typed errors naming the parameter', async () => {
    const arch = loadShippedModel('llama-3.1-8b');
    const bad = (o: Partial<Parameters<typeof projectStep>[0]>) =>
      projectStep({ arch, topology: 'dgx-h100', tp: 1, batch: 1, contextLen: 16, phase: 'decode', ...o }).catch(
        (e: unknown) => e as ProjectionError,
      );
    expect(((await bad({ tp: 3 })) as ProjectionError).param).toBe('tp');
    expect(((await bad({ batch: 0 })) as ProjectionError).param).toBe('batch');
    expect(((await bad({ weightDtype: 'fp4' as 'bf16' })) as ProjectionError).param).toBe('weightDtype');
    // Ascend 910B has no fp8 matrix path: the error names the dtypes it has and what to use.
    const noFp8 = (await bad({ topology: 'atlas-800t-a2', weightDtype: 'fp8' })) as ProjectionError;
    expect(noFp8.param).toBe('weightDtype');
    expect(noFp8.message).toMatch(/no fp8e4m3 matrix path.*use int8/);
    const noFp8Kv = (await bad({ topology: 'atlas-800t-a2', kvDtype: 'fp8' })) as ProjectionError;
    expect(noFp8Kv.param).toBe('kvDtype');
    expect(noFp8Kv.message).toMatch(/no fp8.*use a bf16 or f16 KV cache/);
    // Attention DP pairs with expert parallelism: a dense model says to run replicas instead.
    expect(((await bad({ dp: 2, batch: 2 })) as ProjectionError).param).toBe('dp');
    expect(((await bad({ pp: 33 })) as ProjectionError).param).toBe('pp'); // 32 layers
    expect(((await bad({ pp: 2, batch: 3 })) as ProjectionError).param).toBe('batch');
    const specPrefill = await bad({ phase: 'prefill', speculative: { tokens: 1, acceptance: 0.8 } });
    expect((specPrefill as ProjectionError).param).toBe('speculative');
    expect(((await bad({ speculative: { tokens: 1, acceptance: 1 } })) as ProjectionError).param).toBe(
      'speculative.acceptance',
    );
    expect(((await bad({ sequences: [{ queryLen: 9, contextLen: 8 }] })) as ProjectionError).param).toBe('sequences');
    expect(evenSplit(10, 4)).toEqual([3, 3, 2, 2]);
  });

  test('the timeline start of a step with more records than a call takes arguments', () => {
    // DeepSeek-R1 at TP 128 on CloudMatrix384 has hundreds of thousands of records; Math.min(...) overflowed the stack.
    const records = Array.from({ length: 500_000 }, (_, i) => ({ startMs: 1000 - (i % 997) }));
    expect(earliestStart(records)).toBe(1000 - 996);
    expect(earliestStart([])).toBe(Number.POSITIVE_INFINITY);
  });

  test('an fp8 KV cache holds half the bytes of a bf16 one, and attention reads half the KV', async () => {
    const arch = loadShippedModel('llama-3.1-8b');
    const o = { arch, topology: 'dgx-h100', tp: 1, batch: 16, contextLen: 4096, phase: 'decode' as const };
    const bf16 = await projectStep(o);
    const fp8 = await projectStep({ ...o, kvDtype: 'fp8' });
    expect(fp8.memory.kvCache).toBeCloseTo(bf16.memory.kvCache / 2, -6);
    const kvRead = (p: typeof bf16) =>
      p.ranks[0]!.ops.filter((x) => x.name === 'paged_attention').reduce((s, x) => s + x.bytesRead!, 0);
    // K and V of 16 × 4096 tokens × 8 KV heads × 128 × 32 layers, at 2 and 1 bytes, plus the same query bytes.
    const kv = 2 * 16 * 4096 * 8 * 128 * 32;
    expect(kvRead(bf16) - kvRead(fp8)).toBe(kv);
    expect(fp8.ms).toBeLessThan(bf16.ms);
    expect(fp8.assumptions.join(' ')).toMatch(/fp8 \(e4m3, one scale per tensor/);
  });
});
