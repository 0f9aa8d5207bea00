/**
 * The canonical tensor set a LlamaConfig implies (names and shapes from types.ts), and the one place that maps a
 * file's own tensor names onto it, checking every expected tensor is there with the shape the config implies.
 */
import { ModelLoadError } from '../errors';
import type { HostTensor, LlamaConfig, TensorMap } from '../types';
import { fmtShape } from './binary';

/** Canonical name → expected shape (outermost first) for `config`; `lm_head` only when the embedding is not tied. */
export function canonicalShapes(config: LlamaConfig): Map<string, number[]> {
  const { vocabSize: V, hiddenSize: D, intermediateSize: I, numHeads: H, numKvHeads: KV, headDim: HD } = config;
  const m = new Map<string, number[]>();
  m.set('embed', [V, D]);
  for (let l = 0; l < config.numLayers; l++) {
    m.set(`layers.${l}.attn_norm`, [D]);
    m.set(`layers.${l}.q`, [H * HD, D]);
    m.set(`layers.${l}.k`, [KV * HD, D]);
    m.set(`layers.${l}.v`, [KV * HD, D]);
    m.set(`layers.${l}.o`, [D, H * HD]);
    m.set(`layers.${l}.ffn_norm`, [D]);
    m.set(`layers.${l}.gate`, [I, D]);
    m.set(`layers.${l}.up`, [I, D]);
    m.set(`layers.${l}.down`, [D, I]);
  }
  m.set('final_norm', [D]);
  if (!config.tieWordEmbeddings) m.set('lm_head', [V, D]);
  return m;
}

/** How a format names and finds its tensors. */
export interface TensorSource {
  /** The file's name for a canonical tensor (e.g. 'layers.3.q' → 'model.layers.3.self_attn.q_proj.weight'). */
  nameOf(canonical: string): string;
  /** The tensor stored under the file's name, and the file that holds it; undefined when absent. */
  get(fileName: string): { tensor: HostTensor; file: string } | undefined;
  /** Where to say a missing tensor was looked for (a file or a directory). */
  where: string;
}

/**
 * Builds the canonical TensorMap for `config` from `source`: every expected tensor must be present with the expected
 * shape (the error names the file, the tensor and both shapes). Tensors the config does not need are not looked at.
 */
export function assembleCanonical(config: LlamaConfig, source: TensorSource): TensorMap {
  const out: TensorMap = new Map();
  for (const [canonical, expected] of canonicalShapes(config)) {
    const fileName = source.nameOf(canonical);
    const found = source.get(fileName);
    if (!found) {
      throw new ModelLoadError(
        `${source.where}: tensor ${fileName} is missing (expected shape ${fmtShape(expected)}).`,
        {
          file: source.where,
          tensor: fileName,
        },
      );
    }
    const shape = found.tensor.shape;
    if (shape.length !== expected.length || shape.some((d, i) => d !== expected[i])) {
      throw new ModelLoadError(
        `${found.file}: tensor ${fileName} has shape ${fmtShape(shape)}, but the model config implies ` +
          `${fmtShape(expected)}.`,
        { file: found.file, tensor: fileName },
      );
    }
    out.set(canonical, found.tensor);
  }
  return out;
}

/** Checks the config's numbers are usable (positive integers, heads divide evenly) before any shape is derived. */
export function validateConfig(config: LlamaConfig, file: string): void {
  const ints: Array<[string, number]> = [
    ['vocab size', config.vocabSize],
    ['hidden size', config.hiddenSize],
    ['intermediate size', config.intermediateSize],
    ['layer count', config.numLayers],
    ['attention head count', config.numHeads],
    ['KV head count', config.numKvHeads],
    ['head dim', config.headDim],
    ['context length', config.maxPositionEmbeddings],
  ];
  for (const [what, v] of ints) {
    if (!Number.isSafeInteger(v) || v <= 0) {
      throw new ModelLoadError(`${file}: ${what} must be a positive integer, got ${v}.`, { file });
    }
  }
  if (config.numHeads % config.numKvHeads !== 0) {
    throw new ModelLoadError(
      `${file}: ${config.numHeads} attention heads are not a multiple of ${config.numKvHeads} KV heads.`,
      { file },
    );
  }
  if (config.headDim % 2 !== 0) {
    throw new ModelLoadError(`${file}: head dim ${config.headDim} must be even for RoPE.`, { file });
  }
  if (!(config.rmsNormEps > 0) || !(config.ropeTheta > 0)) {
    throw new ModelLoadError(
      `${file}: rms_norm_eps (${config.rmsNormEps}) and rope_theta (${config.ropeTheta}) must be positive.`,
      { file },
    );
  }
}
