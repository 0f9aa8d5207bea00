/**
 * DeepSeek's MLA in the step projection: prefill rows take the non-absorbed path (vLLM's and SGLang's prefill: kv_b
 * decompresses the latent into per-head k_nope and v, flash attention over q/k heads of 192 and v heads of 128), decode
 * rows the absorbed one (paged attention over the 576-wide latent). No timed assertions: launches, their FLOPs as the
 * kernels' cost records count them, and modelled times compared with each other.
 */
import { loadShippedModel, type ModelArchitecture } from '@tessera/models';
import { describe, expect, test } from 'vitest';
import { type ProjectedOp, type ProjectStepOptions, projectStep, type StepProjection } from '../../src/model/project';

const SLOW = 300_000;

// DeepSeek-V3 cut to 4 layers (3 dense, 1 MoE) at TP 8: 128 / 8 = 16 heads per rank.
const arch: ModelArchitecture = { ...loadShippedModel('deepseek-v3'), numLayers: 4 };
const base = { arch, topology: 'dgx-h100', tp: 8 } as const;
const [heads, lat, nope, rope, vd] = [16, 512, 128, 64, 128];
const qk = nope + rope; // 192

/** The launches of one layer's MLA, prefill rows only (after the O projection's input is ready, the O GEMM). */
const PREFILL_LAYER = [
  'rmsnorm', // attention norm
  'gemm', // q_a
  'rmsnorm', // q_a norm
  'gemm', // q_b → (N, heads, 192)
  'gemm', // kv_a → [latent 512, k_rope 64]
  'rmsnorm', // latent norm
  'rope', // q_rope
  'rope', // k_rope
  'reshape_and_cache', // the latent row cached (the decode path's cache, unchanged)
  'gemm', // kv_b, k_nope half: latent (N, 512) · W_UKᵀ → (N, heads · 128)
  'gemm', // kv_b, v half: latent · W_UV → (N, heads · 128)
  'copy', // k = [k_nope, k_rope] per head
  'flash_attention', // q/k 192, v 128, causal
  'gemm', // O projection
];

const ofRank = (p: StepProjection, rank: number, name: string): ProjectedOp[] =>
  p.ranks[rank]!.ops.filter((o) => o.name === name);

/**
 * FLOPs the flash-attention kernel counts for one sequence of q queries at the end of n keys: its 128-row query blocks
 * walk the keys up to their last row (whole 64-key blocks, the diagonal ones computed and masked), 2 · (192 + 128)
 * per (query, key, head).
 */
function flashFlops(q: number, n: number): number {
  let keys = 0;
  for (let m0 = 0; m0 < q; m0 += 128)
    keys += Math.min(q - m0, 128) * Math.ceil(Math.min(n, n - q + m0 + 128) / 64) * 64;
  return keys * 2 * heads * (qk + vd);
}

describe('MLA prefill, non-absorbed', () => {
  test(
    'a prefill step issues the non-absorbed launches, with the attention FLOPs of 192/128-wide heads',
    async () => {
      const p = await projectStep({ ...base, batch: 2, contextLen: 1024, phase: 'prefill' });
      const N = 2 * 1024;
      const ops = p.ranks[0]!.ops.map((o) => o.name);
      // Each layer: the shared projections and the cache write, then kv_b, the concatenation and flash attention.
      const first = ops.indexOf('rmsnorm');
      expect(ops.slice(first, first + PREFILL_LAYER.length)).toEqual(PREFILL_LAYER);
      expect(ofRank(p, 0, 'flash_attention')).toHaveLength(arch.numLayers);
      expect(ofRank(p, 0, 'paged_attention')).toHaveLength(0);
      // kv_b over the step's 2048 latent rows, both halves: 2 · N · 512 · (16 heads · 128) FLOPs each, per layer.
      const kvB = ofRank(p, 0, 'gemm').filter((o) => o.flops === 2 * N * lat * heads * nope);
      expect(kvB).toHaveLength(2 * arch.numLayers);
      // Causal attention ≈ half of 2 · L² · heads · (192 + 128) per sequence of L = 1024; the kernel's cost record
      // counts exactly L · (L + 128) · heads · 320 (its 128-row diagonal blocks are computed whole and masked).
      const half = 2 * ((2 * 1024 * 1024 * heads * (qk + vd)) / 2);
      for (const o of ofRank(p, 0, 'flash_attention')) {
        expect(o.flops).toBe(2 * 1024 * (1024 + 128) * heads * (qk + vd));
        expect(o.flops).toBe(2 * flashFlops(1024, 1024));
        expect(o.flops! / half).toBeGreaterThan(1);
        expect(o.flops! / half).toBeLessThanOrEqual(1 + 128 / 1024);
        // Reads and writes at the heads' own widths: the output is (N, heads · 128) bf16, not 576-wide.
        expect(o.bytesWritten).toBe(N * heads * vd * 2);
      }
      expect(p.assumptions.join('\n')).toMatch(/MLA prefill rows, non-absorbed.*q\/k heads of 192 and v heads of 128/);
      expect(p.assumptions.join('\n')).not.toMatch(/MLA decode rows/);
    },
    SLOW,
  );

  test(
    'a decode step still issues the absorbed path',
    async () => {
      const p = await projectStep({ ...base, batch: 16, contextLen: 1024, phase: 'decode' });
      expect(ofRank(p, 0, 'paged_attention')).toHaveLength(arch.numLayers);
      expect(ofRank(p, 0, 'flash_attention')).toHaveLength(0);
      expect(ofRank(p, 0, 'copy')).toHaveLength(0);
      // q_nope · W_UK per head: 16 tokens × 128 → 512, 16 heads; then the latent output · W_UV: 512 → 128.
      const absorbed = ofRank(p, 0, 'gemm').filter((o) => o.flops === 2 * 16 * nope * lat * heads);
      expect(absorbed).toHaveLength(2 * arch.numLayers);
      expect(p.assumptions.join('\n')).toMatch(/MLA decode rows, absorbed/);
      expect(p.assumptions.join('\n')).not.toMatch(/MLA prefill rows/);
      // Speculative verification (2 query tokens per sequence) is decode too, as vLLM's decode threshold makes it.
      const spec = await projectStep({
        ...base,
        batch: 8,
        contextLen: 1024,
        phase: 'decode',
        speculative: { tokens: 1, acceptance: 0.8 },
      });
      expect(ofRank(spec, 0, 'flash_attention')).toHaveLength(0);
      expect(ofRank(spec, 0, 'paged_attention')).toHaveLength(arch.numLayers + 1); // + the MTP layer
    },
    SLOW,
  );

  test(
    'prefill is cheaper than the absorbed path would be on the same step, and the step is the sum of its launches and collectives',
    async () => {
      const o: ProjectStepOptions = { ...base, batch: 2, contextLen: 4096, phase: 'prefill' };
      const now = await projectStep(o);
      const absorbed = await projectStep({ ...o, mlaPrefill: 'absorbed' });
      expect(ofRank(absorbed, 0, 'flash_attention')).toHaveLength(0);
      expect(ofRank(absorbed, 0, 'paged_attention')).toHaveLength(arch.numLayers);
      // Attention alone: flash attention over 192/128-wide heads against paged attention over 576/576-wide ones.
      const ms = (p: StepProjection, names: string[]) =>
        p.ranks[0]!.ops.filter((x) => names.includes(x.name)).reduce((s, x) => s + x.ms, 0);
      const flops = (p: StepProjection, name: string) => ofRank(p, 0, name).reduce((s, x) => s + x.flops!, 0);
      expect(flops(now, 'flash_attention')).toBeLessThan(0.4 * flops(absorbed, 'paged_attention'));
      expect(ms(now, ['flash_attention', 'copy'])).toBeLessThan(ms(absorbed, ['paged_attention']));
      // The whole step, kv_b included.
      expect(now.ms).toBeLessThan(absorbed.ms);
      for (const p of [now, absorbed]) {
        for (const r of p.ranks) {
          const sum = r.ops.reduce((s, x) => s + x.ms, 0);
          expect(r.kernelsMs + r.collectivesMs).toBeCloseTo(sum, 9);
        }
        const crit = p.ranks[p.criticalRank]!;
        expect(crit.kernelsMs + crit.collectivesMs + crit.idleMs).toBeCloseTo(p.ms, 9);
      }
      expect(absorbed.assumptions.join('\n')).toMatch(/every row takes the absorbed path/);
    },
    SLOW,
  );

  test(
    'a mixed step issues both paths for their rows; chunked prefill decompresses its cached context too',
    async () => {
      // 16 decodes (whole 16-row GEMM tiles: FLOPs without padding) around two prefills.
      const decode = (n: number) => Array.from({ length: n }, (_, i) => ({ queryLen: 1, contextLen: 500 + 37 * i }));
      const sequences = [
        ...decode(8),
        { queryLen: 256, contextLen: 768 }, // a chunk after 512 cached tokens
        ...decode(8),
        { queryLen: 512, contextLen: 512 }, // a whole prompt
      ];
      const o: ProjectStepOptions = { ...base, batch: 1, contextLen: 1, phase: 'prefill', sequences };
      const p = await projectStep(o);
      const layers = arch.numLayers;
      expect(ofRank(p, 0, 'flash_attention')).toHaveLength(layers);
      expect(ofRank(p, 0, 'paged_attention')).toHaveLength(layers);
      // Flash attention over the two prefills (bottom-right causal for the chunk), exactly the kernel's count.
      for (const o of ofRank(p, 0, 'flash_attention'))
        expect(o.flops).toBe(flashFlops(256, 768) + flashFlops(512, 512));
      // The 16 decode rows alone on the absorbed path: W_UK and W_UV over 16 tokens per head.
      const gemms = ofRank(p, 0, 'gemm');
      expect(gemms.filter((x) => x.flops === 2 * 16 * nope * lat * heads)).toHaveLength(2 * layers);
      // kv_b over the 512 cached context tokens (gathered from the cache first), and over the 768 new prefill rows.
      expect(gemms.filter((x) => x.flops === 2 * 512 * lat * heads * nope)).toHaveLength(2 * layers);
      expect(gemms.filter((x) => x.flops === 2 * 768 * lat * heads * nope)).toHaveLength(2 * layers);
      expect(p.assumptions.join('\n')).toMatch(/MLA decode rows, absorbed/);
      expect(p.assumptions.join('\n')).toMatch(/MLA prefill rows, non-absorbed/);
      expect(p.assumptions.join('\n')).toMatch(/MLA chunked prefill with cached context/);
      // All sequences on the absorbed path instead: one paged attention per layer, no flash attention — and no
      // gather of the cached context (one embedding-style gather per layer fewer).
      const absorbed = await projectStep({ ...o, mlaPrefill: 'absorbed' });
      expect(ofRank(absorbed, 0, 'flash_attention')).toHaveLength(0);
      expect(ofRank(absorbed, 0, 'paged_attention')).toHaveLength(layers);
      expect(ofRank(p, 0, 'embedding').length - ofRank(absorbed, 0, 'embedding').length).toBe(layers);
    },
    SLOW,
  );
});
