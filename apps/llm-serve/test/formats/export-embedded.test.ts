import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EMBEDDED_CONFIG } from '@tessera/serve';
import { describe, expect, it } from 'vitest';
import { exportEmbedded } from '../../scripts/export-embedded';
import { readModelFiles } from '../../src/formats/load';
import { tempDir } from './helpers';

const EMBEDDED = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/embedded');
const haveTokenizer = fs.existsSync(path.join(EMBEDDED, 'tokenizer.json'));

describe('scripts/export-embedded', () => {
  // exportEmbedded itself reads both outputs back and compares every tensor bit for bit (GGUF Q/K un-permuted).
  it.skipIf(!haveTokenizer)('writes an HF directory and a GGUF that load back as the embedded model', () => {
    for (const dtype of ['bf16', 'f32'] as const) {
      const out = tempDir();
      const { files, warnings } = exportEmbedded({ outDir: out, dtype });
      expect(warnings).toEqual([]);
      expect(files.map((f) => path.basename(f)).sort()).toEqual([
        'config.json',
        'generation_config.json',
        'model.gguf',
        'model.safetensors',
        'tokenizer.json',
        'tokenizer_config.json',
      ]);
      const hf = readModelFiles(out);
      expect(hf.config).toEqual({ ...EMBEDDED_CONFIG, dtype });
      const gguf = readModelFiles(path.join(out, 'model.gguf'));
      expect(gguf.config).toEqual({ ...EMBEDDED_CONFIG, dtype, ropeConvention: 'interleaved' });
      expect(gguf.bosTokenId).toBe(hf.bosTokenId);
      expect(gguf.eosTokenIds).toEqual(hf.eosTokenIds);
      // llama.cpp's converter keeps 1-D tensors in F32.
      expect(gguf.tensors.get('final_norm')!.dtype).toBe('f32');
      if (gguf.tokenizerSource.kind !== 'gguf') throw new Error('expected GGUF tokenizer metadata');
      expect(gguf.tokenizerSource.metadata.get('general.architecture')).toBe('llama');
      expect(gguf.tokenizerSource.metadata.get('tokenizer.ggml.model')).toBe('gpt2');
    }
  });

  it('fails with a clear message when the tokenizer files are missing', () => {
    const missing = path.join(tempDir(), 'tokenizer.json');
    expect(() => exportEmbedded({ outDir: tempDir(), dtype: 'bf16', tokenizerJsonPath: missing })).toThrow(
      /tokenizer\.json does not exist/,
    );
  });
});
