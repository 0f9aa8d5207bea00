import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hfConfigJson, toHfTensors } from '../../src/formats/hf-config';
import { readModelFiles } from '../../src/formats/load';
import { writeSafetensors } from '../../src/formats/safetensors';
import { loadError, randomTensors, tempDir, tinyConfig } from './helpers';

const ACCEPTED = /Hugging Face model directory.*\.gguf file.*llama2\.c \.bin/;

describe('readModelFiles dispatch', () => {
  it('explains what it accepts when the path does not exist', () => {
    const p = path.join(tempDir(), 'nope');
    const err = loadError(() => readModelFiles(p));
    expect(err.message).toContain(`No model at ${p}`);
    expect(err.message).toMatch(ACCEPTED);
  });

  it('refuses a directory without config.json, pointing at a .gguf inside it', () => {
    const dir = tempDir();
    expect(loadError(() => readModelFiles(dir)).message).toMatch(ACCEPTED);
    fs.writeFileSync(path.join(dir, 'm.gguf'), 'x');
    expect(loadError(() => readModelFiles(dir)).message).toContain('m.gguf: pass that file instead');
  });

  it('refuses unknown files and PyTorch pickles', () => {
    const dir = tempDir();
    const txt = path.join(dir, 'notes.txt');
    fs.writeFileSync(txt, 'hello world');
    expect(loadError(() => readModelFiles(txt)).message).toMatch(ACCEPTED);
    const pt = path.join(dir, 'pytorch_model.bin');
    fs.writeFileSync(pt, Buffer.from('PK\x03\x04rest', 'latin1'));
    expect(loadError(() => readModelFiles(pt)).message).toContain('PyTorch');
  });

  it('reads an HF directory through any file in it, and requires tokenizer.json and weights', () => {
    const dir = tempDir();
    const config = tinyConfig();
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(hfConfigJson(config)));
    expect(loadError(() => readModelFiles(dir)).message).toContain('tokenizer.json is missing');
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{}');
    fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), 'x');
    expect(loadError(() => readModelFiles(dir)).message).toContain('pytorch_model.bin is not supported');
    fs.rmSync(path.join(dir, 'pytorch_model.bin'));
    fs.writeFileSync(path.join(dir, 'model.safetensors'), writeSafetensors(toHfTensors(randomTensors(config))));
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), '{}');
    const m = readModelFiles(path.join(dir, 'config.json'));
    expect(m.source).toBe(dir);
    expect(m.tokenizerSource).toEqual({
      kind: 'hf',
      tokenizerJsonPath: path.join(dir, 'tokenizer.json'),
      tokenizerConfigPath: path.join(dir, 'tokenizer_config.json'),
    });
    expect(readModelFiles(path.join(dir, 'model.safetensors')).id).toBe(path.basename(dir));
  });
});
