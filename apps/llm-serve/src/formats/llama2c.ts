/**
 * llama2.c checkpoints (karpathy/llama2.c, export.py), all float32, matrices (out, in) row-major:
 *
 * v0 ("legacy"): 7 × int32 header (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size — negative means an
 *   unshared classifier —, seq_len), then token_embedding (V, D), rms_att (L, D), wq (L, H·hs, D), wk/wv (L, KV·hs, D),
 *   wo (L, D, H·hs), rms_ffn (L, D), w1 (L, I, D), w2 (L, D, I), w3 (L, I, D), rms_final (D), the legacy RoPE tables
 *   freq_cis_real/imag (seq_len · hs/2 each, skipped), then wcls (V, D) if unshared.
 * v1: a 256-byte header (u32 magic 0x616b3432 "ak42", int32 version 1, the 7 ints with vocab_size positive, u8
 *   shared_classifier, zero padding), then — export.py's version1_export order, which differs from v0 —
 *   rms_att (L, D), rms_ffn (L, D), rms_final (D), token_embedding, wq, wk, wv, wo, w1, w2, w3, then wcls if unshared.
 *
 * w1 = gate, w3 = up, w2 = down. RoPE is interleaved (run.c rotates adjacent pairs), eps 1e-5, θ 10000.
 */
import { f32FromBf16Bits, f32FromF16Bits } from '@tessera/device';
import type { HostTensor, LlamaConfig, TensorMap } from '@tessera/serve';
import { ModelLoadError } from '../errors';
import { fmtShape, formatError, readTensor, withFile } from './binary';
import { canonicalShapes, validateConfig } from './canonical';

export const LLAMA2C_MAGIC = 0x616b3432;
const V1_HEADER_BYTES = 256;

/** A step of the file layout: a tensor (per layer or single) or legacy floats to skip. */
type Seg = { name: string; shape: number[]; perLayer: boolean } | { skipFloats: number };

function layout(config: LlamaConfig, version: 0 | 1): Seg[] {
  const { vocabSize: V, hiddenSize: D, intermediateSize: I, numHeads: H, numKvHeads: KV, headDim: hs } = config;
  const layer = (leaf: string, shape: number[]): Seg => ({ name: leaf, shape, perLayer: true });
  const one = (name: string, shape: number[]): Seg => ({ name, shape, perLayer: false });
  const matrices = [
    layer('q', [H * hs, D]),
    layer('k', [KV * hs, D]),
    layer('v', [KV * hs, D]),
    layer('o', [D, H * hs]),
  ];
  const ffn = [layer('gate', [I, D]), layer('down', [D, I]), layer('up', [I, D])];
  const segs: Seg[] =
    version === 0
      ? [
          one('embed', [V, D]),
          layer('attn_norm', [D]),
          ...matrices,
          layer('ffn_norm', [D]),
          ...ffn,
          one('final_norm', [D]),
          { skipFloats: config.maxPositionEmbeddings * hs }, // freq_cis_real + freq_cis_imag, seq_len · hs/2 each
        ]
      : [
          layer('attn_norm', [D]),
          layer('ffn_norm', [D]),
          one('final_norm', [D]),
          one('embed', [V, D]),
          ...matrices,
          ...ffn,
        ];
  if (!config.tieWordEmbeddings) segs.push(one('lm_head', [V, D]));
  return segs;
}

/** Walks the layout: calls `visit(canonicalName, shape, byteOffset)` per tensor; returns the total weight bytes. */
function walk(
  config: LlamaConfig,
  version: 0 | 1,
  start: number,
  visit?: (n: string, s: number[], at: number) => void,
) {
  let at = start;
  for (const seg of layout(config, version)) {
    if ('skipFloats' in seg) {
      at += seg.skipFloats * 4;
      continue;
    }
    const bytes = seg.shape.reduce((a, b) => a * b, 1) * 4;
    for (let l = 0; l < (seg.perLayer ? config.numLayers : 1); l++) {
      visit?.(seg.perLayer ? `layers.${l}.${seg.name}` : seg.name, seg.shape, at);
      at += bytes;
    }
  }
  return at;
}

/**
 * The file size the header implies, in exact (bigint) arithmetic from the ~12 layout segments — never by walking the
 * layers — so a header claiming 2^31 layers of 2^31 dims is compared with the file size in microseconds.
 */
function impliedBytes(config: LlamaConfig, version: 0 | 1, start: number): bigint {
  let total = BigInt(start);
  for (const seg of layout(config, version)) {
    if ('skipFloats' in seg) {
      total += BigInt(seg.skipFloats) * 4n;
      continue;
    }
    const elements = seg.shape.reduce((a, b) => a * BigInt(b), 1n);
    total += elements * 4n * BigInt(seg.perLayer ? config.numLayers : 1);
  }
  return total;
}

function configFrom(ints: number[], shared: boolean, file: string): LlamaConfig {
  const [dim, hidden, layers, heads, kvHeads, vocab, seqLen] = ints as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (heads <= 0 || dim % heads !== 0) {
    throw formatError(
      file,
      'n_heads',
      `dim ${dim} is not a multiple of n_heads ${heads} (not a llama2.c checkpoint?).`,
    );
  }
  const config: LlamaConfig = {
    vocabSize: vocab,
    hiddenSize: dim,
    intermediateSize: hidden,
    numLayers: layers,
    numHeads: heads,
    numKvHeads: kvHeads,
    headDim: dim / heads,
    maxPositionEmbeddings: seqLen,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    ropeConvention: 'interleaved',
    tieWordEmbeddings: shared,
    dtype: 'f32',
  };
  validateConfig(config, file, {
    vocabSize: 'vocab_size',
    hiddenSize: 'dim',
    intermediateSize: 'hidden_dim',
    numLayers: 'n_layers',
    numHeads: 'n_heads',
    numKvHeads: 'n_kv_heads',
    maxPositionEmbeddings: 'seq_len',
  });
  return config;
}

export interface Llama2cModel {
  version: 0 | 1;
  config: LlamaConfig;
  /** Canonical names, f32. */
  tensors: TensorMap;
}

/** Reads a llama2.c `.bin` (v0 or v1), checking the file is exactly the size its header implies. */
export function readLlama2c(file: string): Llama2cModel {
  return withFile(file, (f) => {
    if (f.size < 28) {
      throw formatError(file, 'header', `${f.size} bytes is too short for a llama2.c header (28 bytes).`);
    }
    const head = f.read(0, Math.min(f.size, V1_HEADER_BYTES));
    let version: 0 | 1;
    let ints: number[];
    let shared: boolean;
    let start: number;
    if (head.readUInt32LE(0) === LLAMA2C_MAGIC) {
      const v = head.readInt32LE(4);
      if (v !== 1) {
        throw new ModelLoadError(
          `${file}: llama2.c version ${v} is unsupported${v === 2 ? ' (its int8 Q8_0 layout is not implemented)' : ''}; export with --version 0 or 1.`,
          { file },
        );
      }
      if (f.size < V1_HEADER_BYTES) {
        throw formatError(file, 'header', `${f.size} bytes is too short for a llama2.c v1 header (256 bytes).`);
      }
      version = 1;
      ints = Array.from({ length: 7 }, (_, i) => head.readInt32LE(8 + 4 * i));
      shared = head.readUInt8(36) !== 0;
      start = V1_HEADER_BYTES;
    } else {
      version = 0;
      ints = Array.from({ length: 7 }, (_, i) => head.readInt32LE(4 * i));
      shared = ints[5]! > 0;
      ints[5] = Math.abs(ints[5]!);
      start = 28;
    }
    const config = configFrom(ints, shared, file);
    // Checked before any tensor is named or allocated: the walk below is then bounded by the file's size.
    const expected = impliedBytes(config, version, start);
    if (expected !== BigInt(f.size)) {
      throw formatError(
        file,
        'header',
        `the llama2.c v${version} header (dim ${config.hiddenSize}, hidden ${config.intermediateSize}, ` +
          `${config.numLayers} layers, ${config.numHeads} heads, ${config.numKvHeads} KV heads, vocab ${config.vocabSize}, ` +
          `seq_len ${config.maxPositionEmbeddings}, ${shared ? 'shared' : 'separate'} classifier) implies ${expected} ` +
          `bytes, but the file has ${f.size} bytes.`,
        { limit: `${f.size} bytes`, hint: 'The file is truncated, or not a llama2.c float32 checkpoint.' },
      );
    }
    const tensors: TensorMap = new Map();
    walk(config, version, start, (name, shape, at) => tensors.set(name, readTensor(f, at, 'f32', shape)));
    // Re-key in canonical order (embed, layers…, final_norm, lm_head) whatever the file order was.
    const ordered: TensorMap = new Map([...canonicalShapes(config).keys()].map((k) => [k, tensors.get(k)!]));
    return { version, config, tensors: ordered };
  });
}

function toF32(t: HostTensor): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  const dec = t.dtype === 'bf16' ? f32FromBf16Bits : f32FromF16Bits;
  return Float32Array.from(t.data, dec);
}

/**
 * Serialises canonical tensors as a llama2.c v0 or v1 file (f16/bf16 are widened to f32, which is exact). v0 gets
 * real freq_cis tables (cos/sin of pos · 10000^(−2i/hs)), as export.py wrote them, though readers skip them.
 */
export function writeLlama2c(config: LlamaConfig, tensors: TensorMap, version: 0 | 1): Buffer {
  const ints = [
    config.hiddenSize,
    config.intermediateSize,
    config.numLayers,
    config.numHeads,
    config.numKvHeads,
    config.vocabSize * (version === 0 && !config.tieWordEmbeddings ? -1 : 1),
    config.maxPositionEmbeddings,
  ];
  if (config.headDim * config.numHeads !== config.hiddenSize) {
    throw new Error('writeLlama2c: llama2.c requires headDim · numHeads = hiddenSize.');
  }
  const start = version === 0 ? 28 : V1_HEADER_BYTES;
  const out = Buffer.alloc(walk(config, version, start));
  if (version === 1) {
    out.writeUInt32LE(LLAMA2C_MAGIC, 0);
    out.writeInt32LE(1, 4);
    for (const [i, v] of ints.entries()) out.writeInt32LE(v, 8 + 4 * i);
    out.writeUInt8(config.tieWordEmbeddings ? 1 : 0, 36);
  } else {
    for (const [i, v] of ints.entries()) out.writeInt32LE(v, 4 * i);
    // The legacy RoPE tables sit right after rms_final_weight.
    const hs = config.headDim;
    let at = 0;
    walk(config, 0, start, (name, shape, pos) => {
      if (name === 'final_norm') at = pos + shape[0]! * 4;
    });
    for (const fn of [Math.cos, Math.sin]) {
      for (let p = 0; p < config.maxPositionEmbeddings; p++) {
        for (let i = 0; i < hs / 2; i++, at += 4) out.writeFloatLE(fn(p * 10000 ** (-(2 * i) / hs)), at);
      }
    }
  }
  walk(config, version, start, (name, shape, at) => {
    const t = tensors.get(name);
    if (!t || t.shape.join() !== shape.join()) {
      throw new Error(
        `writeLlama2c: tensor ${name} should have shape ${fmtShape(shape)}, got ${t ? fmtShape(t.shape) : 'none'}.`,
      );
    }
    const f = toF32(t);
    Buffer.from(f.buffer, f.byteOffset, f.byteLength).copy(out, at);
  });
  return out;
}
