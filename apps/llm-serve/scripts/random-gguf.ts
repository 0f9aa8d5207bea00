/**
 * Writes a Llama GGUF with seeded random weights and the embedded 512-token tokenizer — the file the llama.cpp
 * comparison benchmark (bench-llamacpp.ts) and the precision tests serve. Weights are drawn as the embedded model's
 * (src/embedded/weights.ts: matrices ~ N(0, 1/in), embedding ~ N(0, 0.125²), tied head), stored in F16 (or F32/BF16)
 * with F32 norms, Q/K rows permuted for llama.cpp's adjacent-pair RoPE, as llama.cpp's converter writes them.
 *
 *   node --conditions=@tessera/source --import tsx scripts/random-gguf.ts --out model.gguf [--dtype f16|bf16|f32]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { LlamaConfig, WeightDType } from '@tessera/serve';
import { embeddedWeights } from '@tessera/serve';
import { ggufTokenizerMetadata } from '../src/formats/gguf-tokenizer-export';
import { writeGguf } from '../src/formats/gguf-write';
import { ggufTensors, llamaMetadata } from './export-embedded';

const EMBEDDED_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/embedded');

/** The benchmark model: 25.6 M parameters (dim 512, 8 layers, 8 heads of 64, FFN 1376, 512-token vocabulary, tied). */
export const BENCH_MODEL_CONFIG: LlamaConfig = {
  vocabSize: 512,
  hiddenSize: 512,
  intermediateSize: 1376,
  numLayers: 8,
  numHeads: 8,
  numKvHeads: 8,
  headDim: 64,
  maxPositionEmbeddings: 2048,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  ropeConvention: 'half', // canonical layout; the GGUF gets the Q/K permutation for 'interleaved'
  tieWordEmbeddings: true,
  dtype: 'f16',
};

export const BENCH_MODEL_SEED = 20261204;

export interface RandomGgufOptions {
  file: string;
  /** Default BENCH_MODEL_CONFIG; vocabSize must be 512 (the embedded tokenizer's). */
  config?: LlamaConfig;
  seed?: number;
  dtype?: WeightDType;
}

/** Parameters of a tied or untied Llama config (what `general.*` and the banner count). */
export function parameterCount(c: LlamaConfig): number {
  const { hiddenSize: D, intermediateSize: I, numHeads: H, numKvHeads: KV, headDim: hd, vocabSize: V } = c;
  const layer = D * H * hd * 2 + 2 * D * KV * hd + 3 * D * I + 2 * D;
  return V * D * (c.tieWordEmbeddings ? 1 : 2) + c.numLayers * layer + D;
}

/** Writes the GGUF; returns its size in bytes. */
export function writeRandomGguf(o: RandomGgufOptions): number {
  const config: LlamaConfig = { ...(o.config ?? BENCH_MODEL_CONFIG), ...(o.dtype ? { dtype: o.dtype } : {}) };
  if (config.vocabSize !== 512) {
    throw new Error(`random-gguf: vocabSize must be 512 (the embedded tokenizer's), not ${config.vocabSize}.`);
  }
  const tensors = embeddedWeights(config, o.seed ?? BENCH_MODEL_SEED);
  const readJson = (name: string) => JSON.parse(fs.readFileSync(path.join(EMBEDDED_DIR, name), 'utf8')) as unknown;
  const tok = ggufTokenizerMetadata(readJson('tokenizer.json'), readJson('tokenizer_config.json'), {
    vocabSize: config.vocabSize,
  });
  const millions = (parameterCount(config) / 1e6).toFixed(1);
  const bytes = writeGguf({
    metadata: [
      ...llamaMetadata(
        config,
        `tessera-random-${millions}M`,
        `Untrained Llama with seeded random weights (${millions} M parameters), for benchmarks and numerics tests.`,
      ),
      ...tok.metadata,
    ],
    tensors: ggufTensors(config, tensors),
  });
  fs.mkdirSync(path.dirname(path.resolve(o.file)), { recursive: true });
  fs.writeFileSync(o.file, bytes);
  return bytes.length;
}

function main(argv: string[]): void {
  let file: string | undefined;
  let dtype: string = 'f16';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') file = argv[++i];
    else if (a === '--dtype') dtype = argv[++i] ?? '';
    else if (a === '--help' || a === '-h') {
      console.log('usage: random-gguf.ts --out FILE [--dtype f16|bf16|f32]');
      return;
    } else throw new Error(`random-gguf: unknown argument ${a}`);
  }
  if (!file) throw new Error('random-gguf: --out FILE is required.');
  if (dtype !== 'f16' && dtype !== 'bf16' && dtype !== 'f32') {
    throw new Error(`random-gguf: --dtype must be f16, bf16 or f32, not ${dtype}.`);
  }
  const bytes = writeRandomGguf({ file, dtype });
  console.log(`wrote ${file} (${bytes} bytes, ${(parameterCount(BENCH_MODEL_CONFIG) / 1e6).toFixed(2)} M parameters)`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    process.exitCode = 1;
  }
}
