/**
 * One entry point for model files: `readModelFiles(path)` decides what `path` is — a Hugging Face directory, a GGUF
 * file or a llama2.c checkpoint — and returns the config, the canonical tensors, and where the tokenizer lives. The
 * caller builds the Tokenizer from `tokenizerSource` and assembles the LoadedModel.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HostTensor, LlamaConfig, TensorMap } from '@tessera/serve';
import { ModelLoadError } from '../errors';
import type { GgufValue } from './gguf';
import { readGgufModel } from './gguf-llama';
import { isHfModelTensor, mapHfTensors, readHfConfigDir } from './hf-config';
import { LLAMA2C_MAGIC, readLlama2c } from './llama2c';
import { readSafetensors } from './safetensors';

export type TokenizerSource =
  | { kind: 'hf'; tokenizerJsonPath: string; tokenizerConfigPath?: string }
  | { kind: 'gguf'; metadata: Map<string, GgufValue> }
  | { kind: 'llama2c'; tokenizerBinPath: string };

export interface ModelFiles {
  format: 'safetensors' | 'gguf' | 'llama2c';
  /** The directory's name, or the file's name without its extension. */
  id: string;
  /** The resolved path that was read. */
  source: string;
  config: LlamaConfig;
  /** Canonical names (types.ts). Dtypes may differ between tensors (e.g. f32 norms beside bf16 matrices in GGUF). */
  tensors: TensorMap;
  tokenizerSource: TokenizerSource;
  /** Special ids the model files state (the tokenizer may know more). */
  bosTokenId: number | null;
  eosTokenIds: number[];
}

export interface ReadModelFilesOptions {
  /** llama2.c only: the tokenizer.bin to use instead of the one beside the checkpoint. */
  tokenizerPath?: string;
}

export const ACCEPTED_HINT =
  'Pass a Hugging Face model directory (config.json, *.safetensors, tokenizer.json), a .gguf file (llama ' +
  'architecture; F32/F16/BF16/Q8_0 tensors), or a llama2.c .bin checkpoint (with tokenizer.bin beside it or given ' +
  'explicitly).';

function unusable(message: string, file: string): never {
  throw new ModelLoadError(message, { file, hint: ACCEPTED_HINT });
}

/** Reads the model at `p` (see ACCEPTED_HINT for what it may be). */
export function readModelFiles(p: string, options: ReadModelFilesOptions = {}): ModelFiles {
  const source = path.resolve(p);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(source);
  } catch {
    unusable(`No model at ${source}: the path does not exist.`, source);
  }
  if (stat.isDirectory()) {
    if (fs.existsSync(path.join(source, 'config.json'))) return readHfDir(source);
    const ggufs = fs.readdirSync(source).filter((n) => n.endsWith('.gguf'));
    const also = ggufs.length ? ` It holds ${ggufs.join(', ')}: pass that file instead.` : '';
    unusable(`${source} is a directory without config.json, so not a Hugging Face model.${also}`, source);
  }
  const magic = Buffer.alloc(4);
  const fd = fs.openSync(source, 'r');
  try {
    fs.readSync(fd, magic, 0, 4, 0);
  } finally {
    fs.closeSync(fd);
  }
  const base = path.basename(source);
  if (magic.toString('latin1') === 'GGUF') return readGgufFile(source);
  // A file inside a Hugging Face directory (config.json, a shard, the index) stands for the directory.
  if (/\.(safetensors|json)$/.test(base) && fs.existsSync(path.join(path.dirname(source), 'config.json'))) {
    return readHfDir(path.dirname(source));
  }
  if (magic.toString('latin1') === 'PK\x03\x04') {
    unusable(
      `${source} is a PyTorch (zip/pickle) checkpoint, which is not supported; convert it to safetensors.`,
      source,
    );
  }
  if (base.endsWith('.safetensors')) {
    unusable(`${source}: a .safetensors file needs config.json (and tokenizer.json) beside it.`, source);
  }
  if (base.endsWith('.bin') || magic.readUInt32LE(0) === LLAMA2C_MAGIC) return readLlama2cFile(source, options);
  unusable(`${source}: unknown model format.`, source);
}

function stem(file: string): string {
  return path.basename(file).replace(/\.(gguf|bin)$/, '');
}

function readHfDir(dir: string): ModelFiles {
  const { config, special } = readHfConfigDir(dir);
  const tokenizerJsonPath = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(tokenizerJsonPath)) {
    throw new ModelLoadError(`${dir}: tokenizer.json is missing.`, {
      file: tokenizerJsonPath,
      hint: 'Only fast (tokenizer.json) tokenizers are supported; save one with AutoTokenizer.save_pretrained.',
    });
  }
  const index = path.join(dir, 'model.safetensors.index.json');
  const single = path.join(dir, 'model.safetensors');
  const files = fs.existsSync(index)
    ? [index]
    : fs.existsSync(single)
      ? [single]
      : fs
          .readdirSync(dir)
          .filter((n) => n.endsWith('.safetensors'))
          .sort()
          .map((n) => path.join(dir, n));
  if (files.length === 0) {
    const pt = fs.existsSync(path.join(dir, 'pytorch_model.bin')) ? ' (pytorch_model.bin is not supported)' : '';
    unusable(`${dir}: no *.safetensors weights${pt}.`, dir);
  }
  const tensors = new Map<string, HostTensor>();
  const fileOf = new Map<string, string>();
  for (const file of files) {
    // A tied model's stored lm_head copy is never used, so it is not read either.
    const select = (n: string) => isHfModelTensor(n) && !(config.tieWordEmbeddings && n === 'lm_head.weight');
    const st = readSafetensors(file, { select });
    for (const [name, t] of st.tensors) {
      if (tensors.has(name)) {
        throw new ModelLoadError(`${file}: tensor ${name} is also in ${fileOf.get(name)}.`, { file, tensor: name });
      }
      tensors.set(name, t);
      fileOf.set(name, st.fileOf.get(name) ?? file);
    }
  }
  const canonical = mapHfTensors(config, tensors, fileOf, dir);
  // What is stored wins over torch_dtype (they disagree in some published checkpoints).
  config.dtype = canonical.get('embed')!.dtype;
  const tokenizerConfigPath = path.join(dir, 'tokenizer_config.json');
  return {
    format: 'safetensors',
    id: path.basename(dir),
    source: dir,
    config,
    tensors: canonical,
    tokenizerSource: fs.existsSync(tokenizerConfigPath)
      ? { kind: 'hf', tokenizerJsonPath, tokenizerConfigPath }
      : { kind: 'hf', tokenizerJsonPath },
    ...special,
  };
}

function readGgufFile(file: string): ModelFiles {
  const m = readGgufModel(file);
  const id = (key: string) => {
    const v = m.metadata.get(key);
    return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null;
  };
  const eos = ['tokenizer.ggml.eos_token_id', 'tokenizer.ggml.eot_token_id', 'tokenizer.ggml.eom_token_id']
    .map(id)
    .filter((v): v is number => v !== null);
  return {
    format: 'gguf',
    id: stem(file),
    source: file,
    config: m.config,
    tensors: m.tensors,
    tokenizerSource: { kind: 'gguf', metadata: m.metadata },
    bosTokenId: id('tokenizer.ggml.bos_token_id'),
    eosTokenIds: [...new Set(eos)],
  };
}

function readLlama2cFile(file: string, options: ReadModelFilesOptions): ModelFiles {
  const tokenizerBinPath = path.resolve(options.tokenizerPath ?? path.join(path.dirname(file), 'tokenizer.bin'));
  // Check the tokenizer before reading what may be gigabytes of weights.
  if (!fs.existsSync(tokenizerBinPath)) {
    throw new ModelLoadError(`${file}: llama2.c tokenizer ${tokenizerBinPath} not found.`, {
      file: tokenizerBinPath,
      hint: 'Put tokenizer.bin beside the checkpoint or pass its path explicitly.',
    });
  }
  const m = readLlama2c(file);
  return {
    format: 'llama2c',
    id: stem(file),
    source: file,
    config: m.config,
    tensors: m.tensors,
    tokenizerSource: { kind: 'llama2c', tokenizerBinPath },
    // llama2.c's SentencePiece vocabularies: BOS 1, EOS 2. run.c also stops when the model emits BOS, which its
    // TinyStories training data uses as the only story delimiter, so 1 ends generation too.
    bosTokenId: 1,
    eosTokenIds: [2, 1],
  };
}
