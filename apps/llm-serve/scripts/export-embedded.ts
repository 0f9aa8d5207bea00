/**
 * Writes the embedded model to disk in two formats, so other runtimes (transformers, llama.cpp) can load the very same
 * weights and the server's loaders can be checked against them:
 *
 *   DIR/config.json, generation_config.json, model.safetensors (HF names), tokenizer.json, tokenizer_config.json
 *   DIR/model.gguf   (llama architecture; Q/K rows permuted for llama.cpp's interleaved RoPE; gpt2 tokenizer)
 *
 *   node --conditions=@tessera/source --import tsx scripts/export-embedded.ts --out DIR [--dtype f32|bf16]
 *
 * After writing, both outputs are read back with the server's own loaders and compared with the weights bit for bit.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { f32FromBf16Bits, f32FromF16Bits } from '@tessera/device';
import type { HostTensor, LlamaConfig, TensorMap } from '@tessera/serve';
import { EMBEDDED_CONFIG, embeddedWeights } from '@tessera/serve';
import { tensorBytes } from '../src/formats/binary';
import { ggufNameOf, permuteForInterleavedRope, unpermuteFromInterleavedRope } from '../src/formats/gguf-llama';
import { ggufTokenizerMetadata } from '../src/formats/gguf-tokenizer-export';
import { type GgufTypedValue, gv, writeGguf } from '../src/formats/gguf-write';
import { hfConfigJson, toHfTensors } from '../src/formats/hf-config';
import { readModelFiles } from '../src/formats/load';
import { writeSafetensors } from '../src/formats/safetensors';

const EMBEDDED_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/embedded');

export interface ExportEmbeddedOptions {
  outDir: string;
  dtype: 'f32' | 'bf16';
  /** Defaults: src/embedded/tokenizer.json and tokenizer_config.json. */
  tokenizerJsonPath?: string;
  tokenizerConfigPath?: string;
}

export interface ExportEmbeddedResult {
  files: string[];
  /** Where llama.cpp's tokenizer may differ from the HF one (see gguf-tokenizer-export). */
  warnings: string[];
}

/** f32 copy of a 1-D bf16/f16 norm weight (exact): llama.cpp's converter keeps 1-D tensors in F32 as well. */
function widen(t: HostTensor): HostTensor {
  if (t.dtype === 'f32') return t;
  return {
    dtype: 'f32',
    shape: t.shape,
    data: Float32Array.from(t.data, t.dtype === 'bf16' ? f32FromBf16Bits : f32FromF16Bits),
  };
}

/** Canonical tensors → GGUF tensors (names, Q/K permutation, f32 norms). */
export function ggufTensors(config: LlamaConfig, tensors: TensorMap): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of tensors) {
    let w = t;
    if (name.endsWith('.q')) w = permuteForInterleavedRope(t, config.numHeads);
    else if (name.endsWith('.k')) w = permuteForInterleavedRope(t, config.numKvHeads);
    else if (t.shape.length === 1) w = widen(t);
    out.set(ggufNameOf(name), w);
  }
  return out;
}

/** llama.cpp's `general.file_type` (llama_ftype): 0 all F32, 1 mostly F16, 32 mostly BF16. */
const FILE_TYPE = { f32: 0, f16: 1, bf16: 32 } as const;

/** The `llama` architecture's metadata for `config` (name and description as given). */
export function llamaMetadata(
  config: LlamaConfig,
  name = 'tessera-embedded',
  description = 'Tessera embedded demo model: untrained deterministic random weights.',
): Array<[string, GgufTypedValue]> {
  // llama.cpp derives the head dim as embedding_length / head_count unless key/value_length say otherwise.
  const headDim: Array<[string, GgufTypedValue]> =
    config.headDim * config.numHeads === config.hiddenSize
      ? []
      : [
          ['llama.attention.key_length', gv.u32(config.headDim)],
          ['llama.attention.value_length', gv.u32(config.headDim)],
        ];
  return [
    ...headDim,
    ['general.architecture', gv.string('llama')],
    ['general.name', gv.string(name)],
    ['general.description', gv.string(description)],
    ['general.file_type', gv.u32(FILE_TYPE[config.dtype])],
    ['llama.vocab_size', gv.u32(config.vocabSize)],
    ['llama.context_length', gv.u32(config.maxPositionEmbeddings)],
    ['llama.embedding_length', gv.u32(config.hiddenSize)],
    ['llama.block_count', gv.u32(config.numLayers)],
    ['llama.feed_forward_length', gv.u32(config.intermediateSize)],
    ['llama.rope.dimension_count', gv.u32(config.headDim)],
    ['llama.attention.head_count', gv.u32(config.numHeads)],
    ['llama.attention.head_count_kv', gv.u32(config.numKvHeads)],
    ['llama.attention.layer_norm_rms_epsilon', gv.f32(config.rmsNormEps)],
    ['llama.rope.freq_base', gv.f32(config.ropeTheta)],
  ];
}

function readJson(file: string): unknown {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function sameBits(a: HostTensor, b: HostTensor): boolean {
  return a.dtype === b.dtype && a.shape.join() === b.shape.join() && Buffer.from(tensorBytes(a)).equals(tensorBytes(b));
}

/** Reads both outputs back with the loaders and checks they reproduce `tensors` exactly. */
function verify(outDir: string, config: LlamaConfig, tensors: TensorMap): void {
  const hf = readModelFiles(outDir);
  const gguf = readModelFiles(path.join(outDir, 'model.gguf'));
  for (const [what, m, convention] of [
    ['HF', hf, 'half'],
    ['GGUF', gguf, 'interleaved'],
  ] as const) {
    const want = { ...config, ropeConvention: convention };
    if (JSON.stringify(m.config) !== JSON.stringify(want)) {
      throw new Error(`export check: ${what} config reads back as ${JSON.stringify(m.config)}`);
    }
    for (const [name, t] of tensors) {
      let got = m.tensors.get(name);
      if (got && what === 'GGUF') {
        if (name.endsWith('.q')) got = unpermuteFromInterleavedRope(got, config.numHeads);
        else if (name.endsWith('.k')) got = unpermuteFromInterleavedRope(got, config.numKvHeads);
      }
      const expected = what === 'GGUF' && t.shape.length === 1 ? widen(t) : t;
      if (!got || !sameBits(got, expected)) throw new Error(`export check: ${what} tensor ${name} differs.`);
    }
  }
}

export function exportEmbedded(opts: ExportEmbeddedOptions): ExportEmbeddedResult {
  const tokenizerJsonPath = opts.tokenizerJsonPath ?? path.join(EMBEDDED_DIR, 'tokenizer.json');
  const tokenizerConfigPath = opts.tokenizerConfigPath ?? path.join(EMBEDDED_DIR, 'tokenizer_config.json');
  for (const f of [tokenizerJsonPath, tokenizerConfigPath]) {
    if (!fs.existsSync(f)) {
      throw new Error(
        `export-embedded: ${f} does not exist. The embedded tokenizer (tokenizer.json and tokenizer_config.json in ` +
          'src/embedded/) must be created before the model can be exported.',
      );
    }
  }
  const config: LlamaConfig = { ...EMBEDDED_CONFIG, dtype: opts.dtype };
  const tensors = embeddedWeights(config);
  const tok = ggufTokenizerMetadata(readJson(tokenizerJsonPath), readJson(tokenizerConfigPath), {
    vocabSize: config.vocabSize,
  });
  const special = { bosTokenId: tok.bosTokenId, eosTokenIds: tok.eosTokenId === null ? [] : [tok.eosTokenId] };

  fs.mkdirSync(opts.outDir, { recursive: true });
  const out = (name: string) => path.join(opts.outDir, name);
  const files: string[] = [];
  const write = (name: string, data: string | Buffer) => {
    fs.writeFileSync(out(name), data);
    files.push(out(name));
  };
  write('config.json', `${JSON.stringify(hfConfigJson(config, special), null, 2)}\n`);
  const generation = { bos_token_id: special.bosTokenId, eos_token_id: tok.eosTokenId };
  write('generation_config.json', `${JSON.stringify(generation, null, 2)}\n`);
  write('model.safetensors', writeSafetensors(toHfTensors(tensors), { format: 'pt' }));
  write('tokenizer.json', fs.readFileSync(tokenizerJsonPath));
  write('tokenizer_config.json', fs.readFileSync(tokenizerConfigPath));
  write(
    'model.gguf',
    writeGguf({ metadata: [...llamaMetadata(config), ...tok.metadata], tensors: ggufTensors(config, tensors) }),
  );
  verify(opts.outDir, config, tensors);
  return { files, warnings: tok.warnings };
}

function main(argv: string[]): void {
  let outDir: string | undefined;
  let dtype = 'bf16';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') outDir = argv[++i];
    else if (a === '--dtype') dtype = argv[++i] ?? '';
    else if (a === '--help' || a === '-h') {
      console.log('usage: export-embedded.ts --out DIR [--dtype f32|bf16]');
      return;
    } else throw new Error(`export-embedded: unknown argument ${a}`);
  }
  if (!outDir) throw new Error('export-embedded: --out DIR is required.');
  if (dtype !== 'f32' && dtype !== 'bf16')
    throw new Error(`export-embedded: --dtype must be f32 or bf16, not ${dtype}.`);
  const { files, warnings } = exportEmbedded({ outDir, dtype });
  for (const w of warnings) console.warn(`warning: llama.cpp may tokenize differently: ${w}`);
  for (const f of files) console.log(`wrote ${f} (${fs.statSync(f).size} bytes)`);
  console.log('read back with the HF and GGUF loaders: config and tensors identical.');
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    process.exitCode = 1;
  }
}
