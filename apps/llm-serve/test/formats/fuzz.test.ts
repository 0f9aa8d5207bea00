/**
 * Property-based fuzzing of the model loaders (fast-check): small valid files of every format — GGUF with a
 * SentencePiece or a byte-level BPE vocabulary, a Hugging Face directory, llama2.c v0 and v1 with tokenizer.bin — get
 * random mutations (bytes, u32/u64 fields set to boundary values and truncation, aimed mostly at headers; JSON values
 * set to boundary values or deleted) and go through loadModel. Each case must load, or fail with ModelLoadError
 * (ModelFormatError included) or TokenizerError — never another error, never a hang or an out-of-memory. A model that
 * loads must then encode, decode and render its chat template with typed errors only, its ids inside the vocabulary.
 *
 * Time and memory are bounded structurally: the loaders check every count against the file before acting on it, so a
 * mutated header cannot make a case slow; a regression shows up as the (generous) timeout or an OOM.
 *
 * Budget: TESSERA_FUZZ_RUNS (default RUNS below, per property). A failure prints fast-check's `{ seed, path }`;
 * replay it with TESSERA_FUZZ_SEED=<seed> TESSERA_FUZZ_PATH=<path> npx vitest run test/formats/fuzz.test.ts
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fuzzParameters, fuzzScale } from '@tessera/device/testing';
import type { HostTensor } from '@tessera/serve';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withFile } from '../../src/formats/binary';
import { readGgufHeader } from '../../src/formats/gguf';
import { type GgufTypedValue, gv } from '../../src/formats/gguf-write';
import { loadModel } from '../../src/load-model';
import { tempDir } from './helpers';
import { applyBytes, applyJson, byteMutation, expectTyped, jsonMutation } from './mutate';
import { ggufModel, hfModelFiles, llama2cFiles, writeFiles } from './samples';

const RUNS = 100;
const TIMEOUT = 60_000 * fuzzScale(RUNS);
const TEXTS = ['Hello world', `${'a'.repeat(40)}!`, ' <s> </s> <|eot_id|> é日本 ', ''];

/** Loads `p`; a failure must be typed, a success must tokenize with typed errors and in-vocabulary ids. */
async function loadAndUse(p: string): Promise<void> {
  let model: Awaited<ReturnType<typeof loadModel>>;
  try {
    model = await loadModel(p);
  } catch (err) {
    expectTyped(err, 'load');
    return;
  }
  const t = model.tokenizer;
  expect(t.vocabSize).toBeLessThanOrEqual(model.config.vocabSize);
  for (const text of TEXTS) {
    try {
      const ids = t.encode(text);
      for (const id of ids) expect(Number.isInteger(id) && id >= 0 && id < t.vocabSize, `id ${id}`).toBe(true);
      t.decode(ids);
    } catch (err) {
      expectTyped(err, 'request');
    }
  }
  try {
    t.applyChatTemplate([{ role: 'user', content: 'Hi' }], { addGenerationPrompt: true });
  } catch (err) {
    expectTyped(err, 'request');
  }
}

/** GGUF metadata keys the loaders read, and typed values for them (valid for their type, at the edges). */
const GGUF_KEYS = [
  'general.architecture',
  'llama.block_count',
  'llama.embedding_length',
  'llama.feed_forward_length',
  'llama.context_length',
  'llama.attention.head_count',
  'llama.attention.head_count_kv',
  'llama.attention.key_length',
  'llama.attention.value_length',
  'llama.rope.dimension_count',
  'llama.vocab_size',
  'llama.attention.layer_norm_rms_epsilon',
  'llama.rope.freq_base',
  'llama.rope.scaling.type',
  'llama.expert_count',
  'tokenizer.ggml.model',
  'tokenizer.ggml.pre',
  'tokenizer.ggml.tokens',
  'tokenizer.ggml.token_type',
  'tokenizer.ggml.scores',
  'tokenizer.ggml.merges',
  'tokenizer.ggml.bos_token_id',
  'tokenizer.ggml.eos_token_id',
  'tokenizer.ggml.eot_token_id',
  'tokenizer.ggml.unknown_token_id',
  'tokenizer.ggml.add_bos_token',
  'tokenizer.ggml.add_space_prefix',
  'tokenizer.chat_template',
];
const ggufValue: fc.Arbitrary<GgufTypedValue | null> = fc.oneof(
  fc.constantFrom(0, 1, 2, 3, 4, 7, 8, 16, 255, 256, 512, 65535, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1).map(gv.u32),
  fc.constantFrom(-1, -(2 ** 31), 0, 1, 2 ** 31 - 1).map(gv.i32),
  fc.constantFrom(0n, 1n, 2n ** 32n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n).map(gv.u64),
  fc.constantFrom(0, -1, 1e-5, Number.NaN, Number.POSITIVE_INFINITY, 1e30).map(gv.f32),
  fc
    .oneof(fc.string({ maxLength: 20 }), fc.constantFrom('llama', 'gpt2', 'none', 'gpt-2', 'llama3', ''))
    .map(gv.string),
  fc.boolean().map(gv.bool),
  fc.array(fc.string({ maxLength: 6 }), { maxLength: 8 }).map(gv.strings),
  fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 8 }).map((a) => gv.array('i32', a)),
  fc.constant(null),
);
/** Edits of the tensor list: drop one, or give one another shape. */
const tensorEdit = fc.option(
  fc.record({
    pick: fc.nat(),
    op: fc.constantFrom('drop', 'reshape', 'flatten'),
    dim: fc.constantFrom(0, 1, 3, 9, 600),
  }),
);
function editTensors(edit: { pick: number; op: string; dim: number } | null) {
  return (tensors: Map<string, HostTensor>) => {
    if (!edit) return;
    const names = [...tensors.keys()];
    const name = names[edit.pick % names.length]!;
    const t = tensors.get(name)!;
    if (edit.op === 'drop') tensors.delete(name);
    else if (edit.op === 'flatten') tensors.set(name, { ...t, shape: [t.data.length] });
    else if (edit.dim > 0 && t.data.length % edit.dim === 0)
      tensors.set(name, { ...t, shape: [edit.dim, t.data.length / edit.dim] });
  };
}

function headerBytesOfGguf(bytes: Buffer): number {
  const f = path.join(tempDir(), 'valid.gguf');
  fs.writeFileSync(f, bytes);
  return withFile(f, (h) => readGgufHeader(h).dataStart);
}

describe('loader fuzz', () => {
  for (const vocab of ['spm', 'gpt2'] as const) {
    it(
      `GGUF (${vocab} vocabulary): mutated files load or fail with a typed error`,
      async () => {
        const { bytes } = ggufModel(vocab);
        const header = headerBytesOfGguf(bytes);
        const file = path.join(tempDir(), 'model.gguf');
        fs.writeFileSync(file, bytes);
        await expect(loadModel(file)).resolves.toBeDefined(); // the unmutated sample is valid
        await fc.assert(
          fc.asyncProperty(fc.array(byteMutation(header, bytes.length), { minLength: 1, maxLength: 6 }), async (m) => {
            fs.writeFileSync(file, applyBytes(bytes, m));
            await loadAndUse(file);
          }),
          fuzzParameters(RUNS),
        );
      },
      TIMEOUT,
    );
  }

  it(
    'GGUF: metadata values and tensor lists edited through the writer load or fail typed',
    async () => {
      const file = path.join(tempDir(), 'model.gguf');
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('spm' as const, 'gpt2' as const),
          fc.dictionary(fc.constantFrom(...GGUF_KEYS), ggufValue, { minKeys: 1, maxKeys: 3 }),
          tensorEdit,
          async (vocab, patch, edit) => {
            fs.writeFileSync(file, ggufModel(vocab, patch, editTensors(edit)).bytes);
            await loadAndUse(file);
          },
        ),
        fuzzParameters(RUNS),
      );
    },
    TIMEOUT,
  );

  it(
    'Hugging Face directory: mutated config.json, safetensors header and tokenizer files load or fail typed',
    async () => {
      const files = hfModelFiles();
      const st = Buffer.from(files['model.safetensors']!);
      const stHeaderBytes = 8 + Number(st.readBigUInt64LE(0));
      const stHeader = JSON.parse(st.subarray(8, stHeaderBytes).toString('utf8')) as object;
      const stData = st.subarray(stHeaderBytes);
      const json = (name: string) => JSON.parse(files[name] as string) as object;
      const dir = writeFiles(tempDir(), files);
      await expect(loadModel(dir)).resolves.toBeDefined();
      const target = fc.constantFrom(
        'config.json',
        'safetensors header',
        'safetensors bytes',
        'tokenizer.json',
        'tokenizer_config.json',
      );
      await fc.assert(
        fc.asyncProperty(
          target,
          fc.array(jsonMutation, { minLength: 1, maxLength: 4 }),
          fc.array(byteMutation(stHeaderBytes, st.length), { minLength: 1, maxLength: 4 }),
          async (which, jm, bm) => {
            const out = { ...files };
            if (which === 'config.json' || which === 'tokenizer.json' || which === 'tokenizer_config.json') {
              out[which] = JSON.stringify(applyJson(json(which), jm));
            } else if (which === 'safetensors header') {
              const h = Buffer.from(JSON.stringify(applyJson(stHeader, jm)));
              const len = Buffer.alloc(8);
              len.writeBigUInt64LE(BigInt(h.length));
              out['model.safetensors'] = Buffer.concat([len, h, stData]);
            } else {
              out['model.safetensors'] = applyBytes(st, bm);
            }
            writeFiles(dir, out);
            await loadAndUse(dir);
          },
        ),
        fuzzParameters(RUNS),
      );
    },
    TIMEOUT,
  );

  for (const version of [0, 1] as const) {
    it(
      `llama2.c v${version}: mutated checkpoint headers and tokenizer.bin load or fail typed`,
      async () => {
        const files = llama2cFiles(version);
        const model = files['model.bin'];
        const tok = files['tokenizer.bin'];
        const dir = writeFiles(tempDir(), files);
        await expect(loadModel(path.join(dir, 'model.bin'))).resolves.toBeDefined();
        const headerBytes = version === 1 ? 40 : 28;
        await fc.assert(
          fc.asyncProperty(
            fc.boolean(),
            fc.array(byteMutation(headerBytes, model.length), { minLength: 1, maxLength: 4 }),
            fc.array(byteMutation(tok.length, tok.length), { minLength: 1, maxLength: 4 }),
            async (mutateModel, mm, tm) => {
              writeFiles(dir, {
                'model.bin': mutateModel ? applyBytes(model, mm) : model,
                'tokenizer.bin': mutateModel ? tok : applyBytes(tok, tm),
              });
              await loadAndUse(path.join(dir, 'model.bin'));
            },
          ),
          fuzzParameters(RUNS),
        );
      },
      TIMEOUT,
    );
  }
});
