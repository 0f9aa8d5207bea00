/**
 * How config.json is read: the bounds a config must satisfy (CONFIG_LIMITS) and `Reader`, typed reads of one JSON
 * object's own properties that refuse with a `ModelConfigError` naming the dotted path. parse.ts reads each section
 * of a config through it.
 */
import { ModelConfigError, showValue } from './errors';

/**
 * The bounds a config must satisfy. They are generous next to every published model (the largest shipped values are
 * in brackets) and small enough that every count this package derives stays an exact double.
 */
export const CONFIG_LIMITS = {
  /** Characters of config.json text parseModelConfigText accepts (real ones are 1–40 kB). */
  maxTextLength: 1 << 20,
  /** Characters in a string field (model_type, hidden_act, an architecture name). */
  maxStringLength: 256,
  /** Entries in `architectures`. */
  maxArchitectures: 16,
  /** Entries in `quantization_config.modules_to_not_convert`. */
  maxModulesToNotConvert: 4096,
  /** vocab_size [152,064]. */
  maxVocabSize: 1 << 22,
  /** hidden_size [16,384]. */
  maxHiddenSize: 1 << 16,
  /** intermediate_size, moe_intermediate_size [53,248]. */
  maxIntermediateSize: 1 << 18,
  /** num_hidden_layers [126]. */
  maxLayers: 1024,
  /** num_attention_heads, num_key_value_heads [128]. */
  maxHeads: 4096,
  /** head_dim and the MLA head dims [192]. */
  maxHeadDim: 4096,
  /** q_lora_rank, kv_lora_rank [1,536]. */
  maxLoraRank: 1 << 16,
  /** Routed experts per layer [256]. */
  maxExperts: 4096,
  /** Shared experts per layer [1]. */
  maxSharedExperts: 64,
  /** num_nextn_predict_layers [1]. */
  maxMtpLayers: 16,
  /** max_position_embeddings, sliding_window, original_max_position_embeddings [163,840]. */
  maxPositions: 1 << 27,
  /** rope_theta [1,000,000]. */
  maxRopeTheta: 1e12,
  /** rope_scaling.factor [40]. */
  maxRopeFactor: 4096,
  /** weight_block_size entries [128]. */
  maxBlockSize: 1 << 16,
  /** Parameters in the whole checkpoint (100 T; the largest open models are ~1–2 T). */
  maxParameters: 1e14,
} as const;

export function checkInt(r: Reader, field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    r.fail('type', field, `must be an integer, got ${showValue(v)}.`);
  }
  if (v < min || v > max) r.fail('range', field, `${v} is outside ${min} to ${max}.`);
  return v;
}

/** Typed reads of one JSON object's own properties; errors carry the dotted path. */
export class Reader {
  constructor(
    private readonly obj: Record<string, unknown>,
    private readonly prefix: string,
    private readonly source: string | undefined,
  ) {}

  path(key: string): string {
    return this.prefix + key;
  }

  fail(code: ConstructorParameters<typeof ModelConfigError>[0], key: string, message: string): never {
    throw new ModelConfigError(code, this.path(key), message, this.source);
  }

  has(key: string): boolean {
    return Object.hasOwn(this.obj, key);
  }

  raw(key: string): unknown {
    return Object.hasOwn(this.obj, key) ? this.obj[key] : undefined;
  }

  /** The value, or undefined when absent or null (transformers' None). */
  private present(key: string): unknown {
    const v = this.raw(key);
    return v === null ? undefined : v;
  }

  int(key: string, min: number, max: number, fallback?: number): number {
    const v = this.present(key);
    if (v === undefined) {
      if (fallback !== undefined) return fallback;
      this.fail('missing', key, this.raw(key) === null ? 'is null; an integer is required.' : 'is required.');
    }
    return checkInt(this, key, v, min, max);
  }

  optionalInt(key: string, min: number, max: number): number | null {
    const v = this.present(key);
    return v === undefined ? null : checkInt(this, key, v, min, max);
  }

  num(key: string, bounds: { gt?: number; lt?: number; max?: number }, fallback?: number): number {
    const v = this.present(key);
    if (v === undefined) {
      if (fallback !== undefined) return fallback;
      this.fail('missing', key, 'is required.');
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail('type', key, `must be a number, got ${showValue(v)}.`);
    const { gt, lt, max } = bounds;
    if ((gt !== undefined && !(v > gt)) || (lt !== undefined && !(v < lt)) || (max !== undefined && v > max)) {
      const lo = gt === undefined ? '' : `> ${gt}`;
      const hi = lt !== undefined ? `< ${lt}` : max !== undefined ? `≤ ${max}` : '';
      this.fail('range', key, `${v} is outside the range ${[lo, hi].filter(Boolean).join(' and ')}.`);
    }
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.present(key);
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') this.fail('type', key, `must be true or false, got ${showValue(v)}.`);
    return v;
  }

  string(key: string): string {
    const v = this.present(key);
    if (v === undefined) this.fail('missing', key, 'is required.');
    if (typeof v !== 'string') this.fail('type', key, `must be a string, got ${showValue(v)}.`);
    if (v.length > CONFIG_LIMITS.maxStringLength) {
      this.fail('range', key, `is ${v.length} characters; the limit is ${CONFIG_LIMITS.maxStringLength}.`);
    }
    return v;
  }

  enumString(key: string, allowed: readonly string[], fallback?: string): string {
    if (this.present(key) === undefined && fallback !== undefined) return fallback;
    const v = this.string(key);
    if (!allowed.includes(v)) {
      this.fail('unsupported', key, `${showValue(v)} is not one of ${allowed.map((a) => `"${a}"`).join(', ')}.`);
    }
    return v;
  }

  stringArray(key: string, maxLength: number, fallback: string[]): string[] {
    const v = this.present(key);
    if (v === undefined) return fallback;
    if (!Array.isArray(v)) this.fail('type', key, `must be an array of strings, got ${showValue(v)}.`);
    if (v.length > maxLength) this.fail('range', key, `has ${v.length} entries; the limit is ${maxLength}.`);
    return v.map((s, i) => {
      if (typeof s !== 'string') this.fail('type', `${key}.${i}`, `must be a string, got ${showValue(s)}.`);
      if (s.length > CONFIG_LIMITS.maxStringLength) {
        this.fail('range', `${key}.${i}`, `is ${s.length} characters; the limit is ${CONFIG_LIMITS.maxStringLength}.`);
      }
      return s;
    });
  }

  /** Distinct layer indices in [0, numLayers), sorted. */
  layerList(key: string, numLayers: number): number[] {
    const v = this.present(key);
    if (v === undefined) return [];
    if (!Array.isArray(v)) this.fail('type', key, `must be an array of layer indices, got ${showValue(v)}.`);
    if (v.length > numLayers) this.fail('range', key, `has ${v.length} entries for ${numLayers} layers.`);
    const seen = new Set<number>();
    for (let i = 0; i < v.length; i++) {
      const layer = checkInt(this, `${key}.${i}`, v[i], 0, numLayers - 1);
      if (seen.has(layer)) this.fail('inconsistent', `${key}.${i}`, `layer ${layer} is listed twice.`);
      seen.add(layer);
    }
    return [...seen].sort((a, b) => a - b);
  }

  optionalObject(key: string): Reader | null {
    const v = this.present(key);
    if (v === undefined) return null;
    if (typeof v !== 'object' || Array.isArray(v)) this.fail('type', key, `must be an object, got ${showValue(v)}.`);
    return new Reader(v as Record<string, unknown>, `${this.path(key)}.`, this.source);
  }
}
