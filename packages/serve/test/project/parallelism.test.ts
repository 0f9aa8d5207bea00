/**
 * projectStep's parallelism and decoding options: pipeline stages, attention data parallelism with expert
 * parallelism, speculative decoding and mixed batches. Every check compares modelled quantities with each other (the
 * same launches placed differently), never with a timing.
 */
import { loadShippedModel, type ModelArchitecture } from '@tessera/models';
import { describe, expect, test } from 'vitest';
import { projectStep } from '../../src/project/step';
import type { StepProjection } from '../../src/project/types';

const SLOW = 300_000;
const count = (p: StepProjection, rank: number, name: string) =>
  p.ranks[rank]!.ops.filter((o) => o.name === name).length;

describe('projectStep parallelism', () => {
  test(
    'pipeline stages split the layers: the stages add up to the unpipelined step, activations cross as a send/recv, and the step is pp × the busiest stage',
    async () => {
      const arch = loadShippedModel('llama-3.1-8b'); // 32 layers
      const base = { arch, topology: 'dgx-h100', tp: 1, contextLen: 1024, phase: 'decode' as const };
      const one = await projectStep({ ...base, batch: 4 });
      const two = await projectStep({ ...base, batch: 8, pp: 2 }); // two micro-batches of 4
      expect(two.devices).toBe(2);
      expect(two.ranks.map((r) => r.stage)).toEqual([0, 1]);
      // The same launches for one micro-batch, split over the stages.
      expect(two.ranks[0]!.kernelsMs + two.ranks[1]!.kernelsMs).toBeCloseTo(one.ranks[0]!.kernelsMs, 9);
      expect(count(two, 0, 'paged_attention') + count(two, 1, 'paged_attention')).toBe(32);
      expect(count(two, 0, 'sample')).toBe(0);
      expect(count(two, 1, 'sample')).toBe(1);
      // The activations of 4 rows (f32, 4096 wide) go from stage 0 to stage 1 once, on both ranks' streams.
      const sends = two.ranks.map((r) => r.ops.filter((o) => o.kind === 'collective'));
      expect(sends.map((s) => s.length)).toEqual([1, 1]);
      expect(sends[0]![0]!.bytes).toBe(4 * 4096 * 4);
      // Stage 1 waits for stage 0: its idle time is stage 0's kernels.
      expect(two.ranks[1]!.idleMs).toBeCloseTo(two.ranks[0]!.kernelsMs, 9);
      expect(two.latencyMs).toBeCloseTo(two.stageMs[0]! + two.stageMs[1]! - sends[0]![0]!.ms, 9);
      expect(two.ms).toBeCloseTo(Math.max(two.latencyMs, 2 * Math.max(...two.stageMs)), 12);
      expect(two.tokens).toBe(8);
      // Each stage holds half the layers' weights (plus the embedding on the first, the head on the last).
      expect(two.memory.weights).toBeLessThan(0.6 * one.memory.weights);
    },
    SLOW,
  );

  test(
    'attention DP with expert parallelism: groups split the sequences, every (token, expert) row reaches one expert, and dense collectives stay inside a group',
    async () => {
      const arch = loadShippedModel('mixtral-8x7b'); // 32 MoE layers, 8 experts, top-2
      const base = { arch, topology: 'dgx-h100', contextLen: 1024, batch: 16, phase: 'decode' as const };
      const dp2 = await projectStep({ ...base, tp: 4, dp: 2 });
      expect(dp2.devices).toBe(8);
      expect(dp2.ranks.map((r) => r.group)).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
      // Per layer: one all-reduce (the O projection, within the group of 4), dispatch + combine over all 8, one
      // all-gather rebuilding the group's residual; then the logits' all-gather.
      expect(count(dp2, 0, 'allreduce')).toBe(32);
      expect(count(dp2, 0, 'allToAllv')).toBe(64);
      expect(count(dp2, 0, 'allgather')).toBe(33);
      // 16 tokens × top-2 = 32 (token, expert) rows per layer, each computed once somewhere, whatever the placement:
      // silu·mul writes each row's I bf16 activations once. (The grouped GEMMs' FLOPs include their tile padding.)
      const I = arch.moe!.expertIntermediateSize;
      const actBytes = (p: StepProjection) =>
        p.ranks.reduce(
          (s, r) => s + r.ops.filter((o) => o.name === 'silu_and_mul').reduce((t, o) => t + o.bytesWritten!, 0),
          0,
        );
      expect(actBytes(dp2)).toBe(32 * 32 * I * 2);
      const dp8 = await projectStep({ ...base, tp: 1, dp: 8 });
      expect(actBytes(dp8)).toBe(32 * 32 * I * 2);
      expect(count(dp8, 0, 'allreduce')).toBe(0); // TP 1 inside each group: nothing to reduce
      // Each DP-8 rank attends over its own 2 sequences with all 32 heads; each DP-2 rank over 8 sequences with 8.
      expect(dp8.memory.kvCache).toBeCloseTo(dp2.memory.kvCache, -6);
      expect(dp8.tokens).toBe(16);
      // Under W8A8 the dispatched rows travel quantised with their scale (D + 4 bytes a row); the combine stays bf16.
      const int8 = await projectStep({ ...base, tp: 4, dp: 2, weightDtype: 'int8' });
      const a2as = int8.ranks[0]!.ops.filter((o) => o.name === 'allToAllv');
      expect(a2as[0]!.bytes! / a2as[1]!.bytes!).toBeCloseTo((arch.hiddenSize + 4) / (2 * arch.hiddenSize), 12);
      expect(dp2.ranks[0]!.ops.filter((o) => o.name === 'allToAllv')[0]!.bytes).toBe(a2as[1]!.bytes);
      // Dense models have no expert layer to pair DP with.
      await expect(
        projectStep({ ...base, arch: loadShippedModel('llama-3.1-8b'), tp: 1, dp: 2 }),
      ).rejects.toMatchObject({ param: 'dp' });
    },
    SLOW,
  );

  test(
    'EP need not divide the experts: each rank holds ⌈E / ep⌉ slots (the rest replicas), and the rows stay balanced over the ranks',
    async () => {
      const arch = loadShippedModel('mixtral-8x7b'); // 8 experts, top-2
      const base = { arch, topology: 'dgx-h100', contextLen: 1024, phase: 'decode' as const, tp: 1 };
      // EP 6 over 8 experts: 2 slots a rank, 12 in all, 4 of them replicas.
      const ep6 = await projectStep({ ...base, dp: 6, batch: 12 });
      expect(ep6.devices).toBe(6);
      expect(ep6.assumptions.join(' ')).toMatch(
        /6 ranks of a stage: 2 whole experts each \(8 experts in 12 slots: 4 hold replicas/,
      );
      // The same expert weights per rank as EP 4, where 2 experts a rank is exact.
      const ep4 = await projectStep({ ...base, dp: 4, batch: 8 });
      expect(ep6.memory.weights).toBe(ep4.memory.weights);
      // 12 tokens × top-2 = 24 (token, expert) rows, each computed once, 4 on every rank: a sender's 4 rows do not
      // divide over 6 owners, and the extra rows go round-robin instead of all to the first owners.
      const I = arch.moe!.expertIntermediateSize;
      const rowsOn = (r: StepProjection['ranks'][number]) =>
        r.ops.filter((o) => o.name === 'silu_and_mul').reduce((t, o) => t + o.bytesWritten!, 0) / (I * 2 * 32);
      expect(ep6.ranks.map(rowsOn)).toEqual([4, 4, 4, 4, 4, 4]);
    },
    SLOW,
  );

  test(
    'speculative decoding verifies n + 1 tokens per sequence, runs n draft passes, and emits (1 − α^(n+1)) / (1 − α) tokens per sequence',
    async () => {
      const arch = loadShippedModel('llama-3.1-8b');
      const base = { arch, topology: 'dgx-h100', tp: 1, batch: 4, contextLen: 1024, phase: 'decode' as const };
      const plain = await projectStep(base);
      const spec = await projectStep({ ...base, speculative: { tokens: 2, acceptance: 0.8 } });
      expect(spec.tokens).toBe(12);
      expect(spec.sampledRows).toBe(12);
      expect(spec.tokensPerSequenceStep).toBeCloseTo(1 + 0.8 + 0.64, 12);
      expect(spec.outputTokens).toBeCloseTo(4 * 2.44, 12);
      // The target pass and two draft passes each sample; the draft passes run one decoder layer each (EAGLE-style:
      // Llama has no MTP layer).
      expect(count(spec, 0, 'sample')).toBe(3);
      expect(count(spec, 0, 'paged_attention')).toBe(32 + 2);
      expect(spec.assumptions.join(' ')).toMatch(/EAGLE-style/);
      expect(spec.ms).toBeGreaterThan(plain.ms);
      // A model with MTP layers drafts with them: DeepSeek-V3 cut to 4 layers (3 dense, 1 MoE) keeps its MoE MTP layer.
      const ds = loadShippedModel('deepseek-v3');
      const small: ModelArchitecture = { ...ds, numLayers: 4 };
      const mtp = await projectStep({
        ...base,
        arch: small,
        tp: 8,
        batch: 8,
        speculative: { tokens: 1, acceptance: 0.85 },
      });
      expect(mtp.assumptions.join(' ')).toMatch(/the model's MTP layer/);
      expect(count(mtp, 0, 'moe_router')).toBe(1 + 1); // the one MoE layer, then the MTP layer's
      expect(mtp.outputTokens).toBeCloseTo(8 * 1.85, 12);
    },
    SLOW,
  );

  test(
    'ranks that would issue the same launches share one timeline: the shortcut gives exactly what issuing every rank gives',
    async () => {
      const cases = [
        { arch: loadShippedModel('mixtral-8x7b'), topology: 'dgx-h100', tp: 2, dp: 4, batch: 13 }, // uneven groups
        { arch: loadShippedModel('llama-3.1-70b'), topology: 'dgx-h100', tp: 8, batch: 8 },
        { arch: loadShippedModel('qwen3-235b-a22b'), topology: 'dgx-h100x2', tp: 4, dp: 4, batch: 32 },
      ];
      for (const c of cases) {
        const o = { ...c, contextLen: 700, phase: 'decode' as const };
        const fast = await projectStep(o);
        const full = await projectStep({ ...o, everyRank: true });
        expect(fast.ms).toBe(full.ms);
        expect(fast.criticalRank).toBe(full.criticalRank);
        for (const [r, rp] of full.ranks.entries()) {
          expect(fast.ranks[r]!.kernelsMs, `rank ${r}`).toBeCloseTo(rp.kernelsMs, 12);
          expect(fast.ranks[r]!.collectivesMs, `rank ${r}`).toBeCloseTo(rp.collectivesMs, 12);
          expect(fast.ranks[r]!.ops.length).toBe(rp.ops.length);
        }
      }
    },
    SLOW,
  );

  test(
    "two-batch overlap: one half's dispatch and combine run while the other half's kernels do, on two streams per rank",
    async () => {
      const arch = loadShippedModel('qwen3-235b-a22b'); // 128 experts: EP 16 over two DGX H100s
      const base = {
        arch,
        topology: 'dgx-h100x2',
        tp: 1,
        dp: 16,
        batch: 64,
        contextLen: 1024,
        phase: 'prefill' as const,
        prefillChunk: 64,
      };
      const plain = await projectStep(base);
      const tbo = await projectStep({ ...base, twoBatchOverlap: true });
      const r = tbo.ranks[tbo.criticalRank]!;
      // Some collective overlaps a kernel on the same rank (none does without the overlap).
      const overlaps = (p: StepProjection) => {
        const ops = p.ranks[p.criticalRank]!.ops;
        const ks = ops.filter((o) => o.kind === 'kernel');
        return ops
          .filter((o) => o.kind === 'collective')
          .some((c) => ks.some((k) => k.startMs < c.startMs + c.ms - 1e-9 && c.startMs < k.startMs + k.ms - 1e-9));
      };
      expect(overlaps(plain)).toBe(false);
      expect(overlaps(tbo)).toBe(true);
      // Kernels serialise on the compute engine and collectives on the communication engine: the step is at least
      // either sum, and less than both together.
      expect(tbo.ms).toBeGreaterThanOrEqual(Math.max(r.kernelsMs, r.collectivesMs) - 1e-9);
      expect(tbo.ms).toBeLessThan(r.kernelsMs + r.collectivesMs);
      // Each lane holds a half's workspace: about the unsplit one, plus each small buffer's second 2 MiB allocation
      // granule (twice as many allocations).
      expect(tbo.memory.workspace).toBeLessThan(1.5 * plain.memory.workspace);
      expect(tbo.memory.workspace).toBeGreaterThan(plain.memory.workspace);
      expect(tbo.tokens).toBe(plain.tokens);
      // Where it does not apply, a typed error says why.
      const refuse = (o: Partial<Parameters<typeof projectStep>[0]>) =>
        projectStep({ ...base, twoBatchOverlap: true, ...o }).catch((e: { param: string; message: string }) => e);
      expect(await refuse({ arch: loadShippedModel('llama-3.1-8b'), dp: 1 })).toMatchObject({
        param: 'twoBatchOverlap',
      });
      expect(await refuse({ ep: 1 })).toMatchObject({ message: expect.stringMatching(/expert parallelism/) });
      expect(await refuse({ batch: 16 })).toMatchObject({ message: expect.stringMatching(/two sequences/) });
    },
    SLOW,
  );

  test(
    "DeepEP's normal mode for prefill across scale-up domains: one network copy per token and domain, then forwarding inside it",
    async () => {
      const arch = loadShippedModel('qwen3-235b-a22b'); // 128 experts, top-8, EP 16 over two DGX H100s (2 NVLink domains)
      const base = {
        arch,
        topology: 'dgx-h100x2',
        tp: 1,
        dp: 16,
        batch: 32,
        contextLen: 512,
        phase: 'prefill' as const,
      };
      const hier = await projectStep(base);
      const direct = await projectStep({ ...base, prefillDispatch: 'direct' });
      const a2a = (p: StepProjection) => p.ranks[0]!.ops.filter((o) => o.name === 'allToAllv');
      const moeLayers = arch.numLayers; // every Qwen3-MoE layer is MoE
      expect(a2a(direct)).toHaveLength(2 * moeLayers); // dispatch, combine
      expect(a2a(hier)).toHaveLength(4 * moeLayers); // network, forward; forward back, network back
      // A token of rank 0 touches the other domain's 64 experts with probability 1 − C(64, 8) / C(128, 8): its row
      // crosses once instead of once per expert there (≈ 4 of its 8).
      let miss = 1;
      for (let t = 0; t < 8; t++) miss *= (64 - t) / (128 - t);
      const tokens = (32 / 16) * 512; // rank 0's prefill tokens
      const row = arch.hiddenSize * 2; // bf16
      expect(a2a(hier)[0]!.bytes).toBe(Math.round(tokens * (1 - miss)) * row * 16);
      const sum = (p: StepProjection) => a2a(p).reduce((s, o) => s + o.ms, 0);
      expect(sum(hier)).toBeLessThan(sum(direct));
      // Decode passes stay direct (DeepEP's low-latency mode), as does a single NVLink domain.
      const decode = await projectStep({ ...base, phase: 'decode' });
      expect(a2a(decode)).toHaveLength(2 * moeLayers);
      const oneDomain = await projectStep({ ...base, topology: 'dgx-h100', dp: 8, batch: 16 });
      expect(a2a(oneDomain)).toHaveLength(2 * moeLayers);
    },
    SLOW,
  );

  test(
    "group-limited routing (DeepSeek's n_group / topk_group) narrows the domains a prefill token crosses the network to",
    async () => {
      // DeepSeek-V3 cut to its first 4 layers (3 dense, 1 MoE): 256 experts in 8 groups, a token picks 4 groups and 8
      // experts among their 128. EP 32 over four DGX H100s: each NVLink domain holds 64 experts, 2 whole groups.
      const ds = loadShippedModel('deepseek-v3');
      const grouped: ModelArchitecture = { ...ds, numLayers: 4 };
      const uniform: ModelArchitecture = { ...grouped, moe: { ...ds.moe!, numExpertGroups: null, topkGroups: null } };
      const base = { topology: 'dgx-h100x4', tp: 1, dp: 32, batch: 32, contextLen: 256, phase: 'prefill' as const };
      const network = async (arch: ModelArchitecture) =>
        (await projectStep({ ...base, arch })).ranks[0]!.ops.filter((o) => o.name === 'allToAllv')[0]!.bytes!;
      const C = (n: number, r: number) => {
        let c = 1;
        for (let i = 0; i < r; i++) c = (c * (n - i)) / (i + 1);
        return c;
      };
      const missAll = (pool: number, among: number) => {
        let m = 1;
        for (let t = 0; t < 8; t++) m *= (pool - among - t) / (pool - t);
        return m;
      };
      // Missing a domain: none of its 2 groups picked, or the 8 experts all in the picked groups it does not hold.
      let groupedMiss = 0;
      for (let j = 0; j <= 2; j++) groupedMiss += ((C(2, j) * C(6, 4 - j)) / C(8, 4)) * missAll(128, 32 * j);
      const tokens = 256; // rank 0's prefill tokens
      const rows = (miss: number) => Math.round(tokens * (1 - miss));
      expect(rows(groupedMiss)).toBeLessThan(rows(missAll(256, 64))); // ≈ 2.2 of 3 other domains, not ≈ 2.7
      const [g, u] = [await network(grouped), await network(uniform)];
      expect(g / rows(groupedMiss)).toBe(u / rows(missAll(256, 64)));
    },
    SLOW,
  );

  test('a mixed step (chunked prefill beside decodes) and a uniform one described as sequences cost alike', async () => {
    const arch = loadShippedModel('llama-3.1-8b');
    const base = { arch, topology: 'dgx-h100', tp: 2, batch: 8, contextLen: 512, phase: 'decode' as const };
    const uniform = await projectStep(base);
    const listed = await projectStep({
      ...base,
      sequences: Array.from({ length: 8 }, () => ({ queryLen: 1, contextLen: 512 })),
    });
    expect(listed.ms).toBe(uniform.ms);
    const mixed = await projectStep({
      ...base,
      sequences: [
        { queryLen: 1, contextLen: 300 },
        { queryLen: 1, contextLen: 700 },
        { queryLen: 256, contextLen: 256 },
      ],
    });
    expect(mixed.tokens).toBe(258);
    expect(mixed.sampledRows).toBe(3);
    expect(mixed.ms).toBeGreaterThan(uniform.ms);
  });
});
