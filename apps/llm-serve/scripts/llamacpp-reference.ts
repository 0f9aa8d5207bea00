/**
 * Produces the stored llama.cpp reference that test/formats/llamacpp-reference.test.ts compares against: the embedded
 * model exported as an F32 GGUF, tokenized and decoded greedily by real llama.cpp (node-llama-cpp 3.21.1, CPU).
 *
 * node-llama-cpp is a large install (prebuilt llama.cpp binaries), so it is not a dependency; install it once outside
 * the repo and point this script at it:
 *
 *   npm i --prefix /tmp/llamacpp --ignore-scripts node-llama-cpp@3.21.1
 *   node --conditions=@tessera/source --import tsx scripts/llamacpp-reference.ts --node-llama-cpp /tmp/llamacpp
 *
 * llama.cpp runs with its defaults (F16 KV cache, its own kernels); the GGUF's SHA-256 is stored so the test knows it
 * regenerated the very same file.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { exportEmbedded } from './export-embedded';

export const REFERENCE_FILE = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../test/fixtures/llamacpp-reference.json',
);

/** Prompts: plain English, code-ish text, digits, accents and CJK, whitespace runs. */
export const REFERENCE_PROMPTS = [
  'Once upon a time',
  'The Ascend 910C and the H100 both run this kernel:',
  "don't stop 12345 the   quick\nbrown fox.",
  'héllo wörld ✓ 日本語',
  'def gemm(a, b):\n    return a @ b',
];

export const GREEDY_TOKENS = 24;

export interface LlamaCppReference {
  generator: string;
  llamaCpp: { nodeLlamaCpp: string; release: string | null; kvCache: string };
  gguf: { dtype: 'f32'; sha256: string; bytes: number };
  cases: Array<{ prompt: string; promptTokens: number[]; greedy: number[] }>;
}

/** Writes the embedded model's F32 GGUF into a fresh temp dir and returns its path and hash. */
export async function exportReferenceGguf(): Promise<{ file: string; sha256: string; bytes: number; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-gguf-'));
  await exportEmbedded({ outDir: dir, dtype: 'f32' });
  const file = path.join(dir, 'model.gguf');
  const data = fs.readFileSync(file);
  return { file, dir, bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') };
}

/** The few node-llama-cpp calls used here (it is not a dependency, so its types are not available). */
interface NodeLlamaCpp {
  getLlama(o: { gpu: false; build: 'never' }): Promise<{
    llamaCppRelease?: { release: string };
    loadModel(o: { modelPath: string }): Promise<{
      tokens: { bos: number | null };
      tokenize(text: string): ArrayLike<number>;
      createContext(o: { contextSize: number }): Promise<{
        getSequence(): { evaluate(tokens: number[], o: { temperature: number }): AsyncIterable<number> };
        dispose(): Promise<void>;
      }>;
      dispose(): Promise<void>;
    }>;
  }>;
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--node-llama-cpp');
  const prefix = i > 0 ? process.argv[i + 1] : undefined;
  if (!prefix) {
    throw new Error(
      'Pass --node-llama-cpp DIR (a folder where `npm i --prefix DIR --ignore-scripts node-llama-cpp@3.21.1` was run).',
    );
  }
  const require = createRequire(path.join(path.resolve(prefix), 'package.json'));
  const entry = require.resolve('node-llama-cpp');
  const { getLlama } = (await import(pathToFileURL(entry).href)) as NodeLlamaCpp;
  const pkgJson = path.join(path.resolve(prefix), 'node_modules/node-llama-cpp/package.json');
  const version = (JSON.parse(fs.readFileSync(pkgJson, 'utf8')) as { version: string }).version;
  const { file, sha256, bytes, dir } = await exportReferenceGguf();
  const llama = await getLlama({ gpu: false, build: 'never' });
  const model = await llama.loadModel({ modelPath: file });
  const cases: LlamaCppReference['cases'] = [];
  for (const prompt of REFERENCE_PROMPTS) {
    // llama.cpp's own tokenization, with BOS as the model's metadata asks (add_bos_token).
    const promptTokens = [model.tokens.bos!, ...Array.from(model.tokenize(prompt)).map(Number)];
    const context = await model.createContext({ contextSize: 256 });
    const sequence = context.getSequence();
    const greedy: number[] = [];
    for await (const t of sequence.evaluate(promptTokens, { temperature: 0 })) {
      greedy.push(Number(t));
      if (greedy.length === GREEDY_TOKENS) break;
    }
    await context.dispose();
    cases.push({ prompt, promptTokens, greedy });
  }
  await model.dispose();
  const reference: LlamaCppReference = {
    generator: 'apps/llm-serve/scripts/llamacpp-reference.ts',
    llamaCpp: { nodeLlamaCpp: version, release: llama.llamaCppRelease?.release ?? null, kvCache: 'F16 (default)' },
    gguf: { dtype: 'f32', sha256, bytes },
    cases,
  };
  fs.mkdirSync(path.dirname(REFERENCE_FILE), { recursive: true });
  fs.writeFileSync(REFERENCE_FILE, `${JSON.stringify(reference, null, 2)}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(
    `Wrote ${REFERENCE_FILE}: ${cases.length} prompts × ${GREEDY_TOKENS} greedy tokens from llama.cpp ${reference.llamaCpp.release}.`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((e) => {
    console.error(`llamacpp-reference: ${(e as Error).message}`);
    process.exit(1);
  });
}
