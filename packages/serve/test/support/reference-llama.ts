/**
 * A plain float64 Llama forward pass (llama2.c-style: one loop per concept, full causal attention over the whole
 * sequence, no cache), the reference the Tessera model is checked against.
 */
import { f32FromBf16Bits, f32FromF16Bits } from '@tessera/device';
import type { HostTensor, LlamaConfig, TensorMap } from '../../src/types';

function f64(t: HostTensor): Float64Array {
  if (t.dtype === 'f32') return Float64Array.from(t.data as Float32Array);
  const dec = t.dtype === 'bf16' ? f32FromBf16Bits : f32FromF16Bits;
  return Float64Array.from(t.data as Uint16Array, dec);
}

/** y (n_out) = W (n_out, n_in) · x (n_in). */
function matvec(w: Float64Array, x: Float64Array, nOut: number, nIn: number): Float64Array {
  const y = new Float64Array(nOut);
  for (let o = 0; o < nOut; o++) {
    let s = 0;
    for (let i = 0; i < nIn; i++) s += w[o * nIn + i]! * x[i]!;
    y[o] = s;
  }
  return y;
}

function rmsnorm(x: Float64Array, w: Float64Array, eps: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const r = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * r * w[i]!);
}

/** Rotates each head of `x` (heads · hd) at position `pos`. */
function rope(x: Float64Array, heads: number, hd: number, pos: number, c: LlamaConfig): void {
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < hd / 2; i++) {
      const freq = c.ropeTheta ** (-(2 * i) / hd);
      const [cos, sin] = [Math.cos(pos * freq), Math.sin(pos * freq)];
      const [a, b] =
        c.ropeConvention === 'half' ? [h * hd + i, h * hd + i + hd / 2] : [h * hd + 2 * i, h * hd + 2 * i + 1];
      const [x0, x1] = [x[a]!, x[b]!];
      x[a] = x0 * cos - x1 * sin;
      x[b] = x0 * sin + x1 * cos;
    }
  }
}

/** Logits (vocab) after each token of `tokens`, float64. */
export function referenceLogits(c: LlamaConfig, tensors: TensorMap, tokens: readonly number[]): Float64Array[] {
  const W = new Map([...tensors].map(([k, v]) => [k, f64(v)]));
  const w = (n: string) => W.get(n)!;
  const { hiddenSize: D, headDim: hd, numHeads: H, numKvHeads: KV, intermediateSize: I, vocabSize: V } = c;
  const keys: Float64Array[][] = Array.from({ length: c.numLayers }, () => []);
  const values: Float64Array[][] = Array.from({ length: c.numLayers }, () => []);
  const out: Float64Array[] = [];
  tokens.forEach((tok, pos) => {
    let x = w('embed').slice(tok * D, (tok + 1) * D);
    for (let l = 0; l < c.numLayers; l++) {
      const L = (n: string) => w(`layers.${l}.${n}`);
      const h = rmsnorm(x, L('attn_norm'), c.rmsNormEps);
      const q = matvec(L('q'), h, H * hd, D);
      const k = matvec(L('k'), h, KV * hd, D);
      const v = matvec(L('v'), h, KV * hd, D);
      rope(q, H, hd, pos, c);
      rope(k, KV, hd, pos, c);
      keys[l]!.push(k);
      values[l]!.push(v);
      const att = new Float64Array(H * hd);
      for (let head = 0; head < H; head++) {
        const g = Math.floor(head / (H / KV));
        const scores = keys[l]!.map((kk) => {
          let s = 0;
          for (let d = 0; d < hd; d++) s += q[head * hd + d]! * kk[g * hd + d]!;
          return s / Math.sqrt(hd);
        });
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        values[l]!.forEach((vv, t) => {
          for (let d = 0; d < hd; d++) att[head * hd + d]! += (e[t]! / z) * vv[g * hd + d]!;
        });
      }
      const o = matvec(L('o'), att, D, H * hd);
      x = x.map((v, i) => v + o[i]!);
      const h2 = rmsnorm(x, L('ffn_norm'), c.rmsNormEps);
      const gate = matvec(L('gate'), h2, I, D);
      const up = matvec(L('up'), h2, I, D);
      const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
      const down = matvec(L('down'), act, D, I);
      x = x.map((v, i) => v + down[i]!);
    }
    const hf = rmsnorm(x, w('final_norm'), c.rmsNormEps);
    out.push(matvec(c.tieWordEmbeddings ? w('embed') : w('lm_head'), hf, V, D));
  });
  return out;
}

export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}
