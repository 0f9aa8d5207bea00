/**
 * The llama.cpp comparison benchmark without llama.cpp: its flags, the install instructions when node-llama-cpp is
 * missing (nothing else is done), the decode-rate window and the printed table.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type BenchLlamaCppResult,
  benchLlamaCpp,
  decodeRate,
  formatLlamaCppReport,
  installHint,
  median,
  parseArgs,
  top2Share,
  UsageError,
} from '../../scripts/bench-llamacpp';
import { BENCH_MODEL_CONFIG, parameterCount } from '../../scripts/random-gguf';

describe('bench-llamacpp', () => {
  it('is about the 25.6 M-parameter model of the issue', () => {
    expect(BENCH_MODEL_CONFIG).toMatchObject({ hiddenSize: 512, numLayers: 8, numHeads: 8, intermediateSize: 1376 });
    expect((parameterCount(BENCH_MODEL_CONFIG) / 1e6).toFixed(1)).toBe('25.6');
  });

  it('has defaults and validates every flag', () => {
    const o = parseArgs(['--node-llama-cpp', '/x']);
    expect(o).toMatchObject({
      nodeLlamaCpp: '/x',
      threads: 2,
      promptLen: 32,
      genLen: 32,
      streams: 8,
      repeat: 5,
      tesseraRepeat: 1,
      agreementPrompts: 5,
      agreementTokens: 16,
      activationDtype: 'auto',
      kvCacheDtype: 'auto',
      llamaKvCache: 'f16',
      json: false,
    });
    const err: string[] = [];
    const bad = (argv: string[]) => () => parseArgs(argv, (s) => err.push(s));
    expect(bad(['--threads', '0'])).toThrow(/positive integer/);
    expect(bad(['--streams', '65'])).toThrow(/at most 64/);
    expect(bad(['--agreement-prompts', '11'])).toThrow(/from 0 to 10/);
    expect(bad(['--kv-cache-dtype', 'fp8'])).toThrow(/Allowed choices/);
    expect(bad(['--llama-kv-cache', 'q8_0'])).toThrow(/Allowed choices/);
    expect(bad(['--frobnicate'])).toThrow(/unknown option/);
    expect(bad(['--gen-len', '2'])).toThrow(UsageError);
    expect(err.length).toBeGreaterThan(0);
  });

  it('prints the exact install command when node-llama-cpp is not there, before doing anything', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-no-nlc-'));
    const keep = path.join(dir, 'out');
    try {
      const o = { ...parseArgs(['--node-llama-cpp', dir]), keep };
      await expect(benchLlamaCpp(o)).rejects.toThrow(UsageError);
      await expect(benchLlamaCpp(o)).rejects.toThrow(
        `npm i --prefix ${dir} --ignore-scripts node-llama-cpp@3.21.1\nthen run again with --node-llama-cpp ${dir}.`,
      );
      expect(fs.existsSync(keep)).toBe(false); // no GGUF written
      expect(installHint('/opt/nlc')).toContain('npm i --prefix /opt/nlc --ignore-scripts node-llama-cpp@3.21.1');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('counts decode tokens between the last first token and the first last token', () => {
    // Two streams: first tokens at 10 and 12, last at 50 and 40 → window (12, 40], 28 ms.
    const r = decodeRate([
      [10, 20, 30, 40, 50],
      [12, 22, 32, 40],
    ]);
    expect(r.windowMs).toBe(28);
    expect(r.tokens).toBe(6); // 20, 30, 40 and 22, 32, 40
    expect(r.tokPerS).toBeCloseTo((6 / 28) * 1000, 9);
    const single = decodeRate([[0, 5, 10, 15]]);
    expect(single.tokPerS).toBeCloseTo(200, 9); // 3 tokens in 15 ms
    expect(() => decodeRate([[1]])).toThrow(/two tokens/);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(top2Share(Float32Array.from([0, 10, 9, 5]))).toBeCloseTo(0.1, 9);
  });

  it('prints both engines, the ratios against the goals, and the agreement', () => {
    const rate = (tokPerS: number) => ({ tokPerS, runs: [tokPerS], ttftMs: 12 });
    const r: BenchLlamaCppResult = {
      model: { parameters: parameterCount(BENCH_MODEL_CONFIG), file: 'm.gguf', bytes: 1, config: BENCH_MODEL_CONFIG },
      machine: { cpus: 2, threads: 2, tesseraThreads: '2', loadAvg: 0.5 },
      promptLen: 32,
      genLen: 32,
      streams: 8,
      llamaCpp: {
        nodeLlamaCpp: '3.21.1',
        release: 'b1',
        kvCache: 'F16',
        flashAttention: 'auto',
        single: { tokPerS: 160, runs: [150, 160, 90], ttftMs: 12 },
        multi: rate(400),
      },
      tessera: {
        hardware: '1× H100, TP 1, f16 weights, f32 activations, f16 KV cache',
        single: rate(3),
        multi: rate(16),
      },
      ratio: { single: 3 / 160, multi: 16 / 400 },
      agreement: [
        {
          prompt: 'a',
          promptTokens: [1, 2],
          tokenizerDiffers: false,
          llamaCpp: [5, 6],
          tessera: [5, 6],
          firstDivergence: -1,
          marginShare: null,
          minTop2Share: 0.05,
        },
        {
          prompt: 'b',
          promptTokens: [1, 3],
          tokenizerDiffers: false,
          llamaCpp: [5, 7],
          tessera: [5, 8],
          firstDivergence: 1,
          marginShare: 0.0123,
          minTop2Share: 0.0004,
        },
      ],
    };
    const text = formatLlamaCppReport(r);
    expect(text).toMatch(/^Model: 25\.6 M-parameter Llama GGUF, F16 \(dim 512, 8 layers, 8 heads, FFN 1376/);
    expect(text).toMatch(/^Decode, 1 stream \(tok\/s\)\s+160\.0\s+3\.00\s+0\.019×\s+≥ 0\.25× \(not met\)$/m);
    expect(text).toMatch(/^Decode, 8 streams \(tok\/s, all\)\s+400\.0\s+16\.00\s+0\.040×\s+≥ 0\.50× \(not met\)$/m);
    expect(text).toMatch(/^TPOT, 1 stream \(ms\)\s+6\.25\s+333\.3$/m);
    expect(text).toContain('llama.cpp, 1 stream: runs 150.0, 160.0, 90.0 tok/s');
    expect(text).toMatch(
      /^warning: runs differ by more than 1\.5× \(llama\.cpp, 1 stream\): the machine is not steady/m,
    );
    expect(text).toContain(
      "Greedy agreement: 1/2 prompts identical over 2 tokens (smallest top-2 gap on Tessera's paths: 0.04% of the logit range)",
    );
    expect(text).toContain(
      '"b": differ from token 1 (llama.cpp 7, Tessera 8; Tessera\'s margin 1.23% of its logit range)',
    );
  });
});
