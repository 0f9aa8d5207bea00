/**
 * The canonical tensor set a LlamaConfig implies (names and shapes from types.ts), and the one place that maps a
 * file's own tensor names onto it, checking every expected tensor is there with the shape the config implies.
 */
import type { HostTensor, LlamaConfig, TensorMap } from '@tessera/serve';
import { fmtShape, formatError } from './binary';

/** Tensors every layer has (attn_norm, q, k, v, o, ffn_norm, gate, up, down). */
export const TENSORS_PER_LAYER = 9;

/**
 * Refuses a layer count the file cannot back — before any per-layer name or shape is built, so a header claiming 2^32
 * layers costs nothing: `numLayers` layers need TENSORS_PER_LAYER × numLayers tensors, and the file holds
 * `tensorCount`. (assembleCanonical then names any tensor that is still missing.)
 */
export function checkLayerCount(numLayers: number, tensorCount: number, where: { file: string; field: string }): void {
  const max = Math.floor(tensorCount / TENSORS_PER_LAYER);
  if (!(numLayers <= max)) {
    throw formatError(
      where.file,
      where.field,
      `${where.field} is ${numLayers}, but the model's files hold ${tensorCount} tensors, enough for at most ${max} ` +
        `layers of ${TENSORS_PER_LAYER}.`,
      { limit: `${max} layers`, hint: 'The header is corrupt, or tensors are missing.' },
    );
  }
}

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
      throw formatError(
        source.where,
        fileName,
        `tensor ${fileName} is missing (expected shape ${fmtShape(expected)}).`,
        {
          tensor: fileName,
        },
      );
    }
    const shape = found.tensor.shape;
    if (shape.length !== expected.length || shape.some((d, i) => d !== expected[i])) {
      throw formatError(
        found.file,
        `${fileName}.shape`,
        `tensor ${fileName} has shape ${fmtShape(shape)}, but the model config implies ${fmtShape(expected)}.`,
        { limit: fmtShape(expected), tensor: fileName },
      );
    }
    out.set(canonical, found.tensor);
  }
  return out;
}

/** The file's own name of each config number, so that errors name the field as the file spells it. */
export type ConfigFieldNames = Partial<Record<keyof LlamaConfig, string>>;

/** Checks the config's numbers are usable (positive integers, heads divide evenly) before any shape is derived. */
export function validateConfig(config: LlamaConfig, file: string, names: ConfigFieldNames = {}): void {
  const ints: Array<[keyof LlamaConfig, string]> = [
    ['vocabSize', 'vocab size'],
    ['hiddenSize', 'hidden size'],
    ['intermediateSize', 'intermediate size'],
    ['numLayers', 'layer count'],
    ['numHeads', 'attention head count'],
    ['numKvHeads', 'KV head count'],
    ['headDim', 'head dim'],
    ['maxPositionEmbeddings', 'context length'],
  ];
  const field = (key: keyof LlamaConfig, what: string) => names[key] ?? what;
  for (const [key, what] of ints) {
    const v = config[key] as number;
    if (!Number.isSafeInteger(v) || v <= 0) {
      throw formatError(file, field(key, what), `${what} (${field(key, what)}) must be a positive integer, got ${v}.`, {
        limit: '1 to 2^53 − 1',
      });
    }
  }
  if (config.numHeads % config.numKvHeads !== 0) {
    throw formatError(
      file,
      field('numKvHeads', 'KV head count'),
      `${config.numHeads} attention heads are not a multiple of ${config.numKvHeads} KV heads.`,
    );
  }
  if (config.headDim % 2 !== 0) {
    throw formatError(file, field('headDim', 'head dim'), `head dim ${config.headDim} must be even for RoPE.`);
  }
  if (!(config.rmsNormEps > 0) || !(config.ropeTheta > 0)) {
    throw formatError(
      file,
      `${field('rmsNormEps', 'rms_norm_eps')}/${field('ropeTheta', 'rope_theta')}`,
      `rms_norm_eps (${config.rmsNormEps}) and rope_theta (${config.ropeTheta}) must be positive.`,
    );
  }
}
