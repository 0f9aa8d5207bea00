/**
 * The precision policy: which dtype each kind of tensor of the decoder has on the device. Three choices and one rule:
 *
 *   weights      the projection matrices, the embedding and the output head: as stored, or `--dtype`
 *   activations  what kernels hand each other outside a GEMM's inputs: q, k, v and gate/up as the GEMMs write them,
 *                RoPE's inputs, SiLU·mul's input
 *   KV cache     keys and values in the paged cache; queries are rotated into this dtype, as attention reads q and
 *                the cache in one dtype (as llama.cpp's CPU backend converts q for its f16 K·q dot)
 *   rule         a GEMM's inputs (the normed hidden state, the attention output, the SiLU·mul output) are in the
 *                weights' dtype, rounded once from the f32 value the producing kernel computed, and every GEMM
 *                accumulates in f32. The residual stream, partial sums, the all-reduce, norms' statistics and the
 *                logits are f32 under every policy; norm weights are uploaded in f32 (their stored values, exactly).
 *
 * The rule is the kernel library's (`gemm` takes one dtype for both operands) and it is also what llama.cpp's CPU
 * backend does: ggml converts the f32 activations to the weights' `vec_dot_type` (F16 for F16 weights, BF16 for BF16)
 * before every matmul (`ggml_compute_forward_mul_mat`; tinyBLAS likewise takes F16·F16 on x86). So activations are
 * f32 *between* kernels and 16-bit *inside* a GEMM exactly as in llama.cpp; `--dtype float32` gives f32 GEMM inputs
 * (weights widened on the device, twice the memory).
 *
 * Defaults ('auto'):
 *   GGUF                  llama.cpp's: weights as stored, f32 activations, f16 KV cache (llama.cpp's `-ctk/-ctv f16`)
 *   safetensors, llama2.c vLLM's: everything in the model dtype (`--dtype`, by default the weights'), KV cache too
 *   embedded              as safetensors (bf16)
 * `--activation-dtype float16` (or bfloat16, i.e. the weights' dtype) on a GGUF model gives vLLM-style 16-bit
 * activations; `--kv-cache-dtype float32` gives llama.cpp's `-ctk f32 -ctv f32`.
 */
import type { LoadedModel, WeightDType } from '../types';

export interface PrecisionPolicy {
  weights: WeightDType;
  activations: WeightDType;
  kvCache: WeightDType;
}

/** The user's choices, as the flags spell them ('auto' or undefined: the format's default). */
export interface PrecisionChoice {
  /** `--dtype`: auto (as stored) | float32 | bfloat16 | float16. */
  dtype?: string;
  /** `--activation-dtype`: auto | float32 | float16 | bfloat16. */
  activationDtype?: string;
  /** `--kv-cache-dtype`: auto | float16 | bfloat16 | float32. */
  kvCacheDtype?: string;
}

export const DTYPE_CHOICES = ['auto', 'float32', 'bfloat16', 'float16'] as const;

/** The flag the error names, for each field of PrecisionChoice. */
const FLAG: Record<keyof PrecisionChoice, string> = {
  dtype: '--dtype',
  activationDtype: '--activation-dtype',
  kvCacheDtype: '--kv-cache-dtype',
};

/** The engine option each flag maps to (EngineError param). */
export const PRECISION_PARAM: Record<keyof PrecisionChoice, string> = {
  dtype: 'dtype',
  activationDtype: 'activation_dtype',
  kvCacheDtype: 'kv_cache_dtype',
};

/** Thrown for a choice that is not a dtype name or does not combine; `field` says which choice. */
export class PrecisionError extends Error {
  constructor(
    readonly field: keyof PrecisionChoice,
    message: string,
  ) {
    super(message);
    this.name = 'PrecisionError';
  }
}

/** A dtype name as vLLM spells it (and the short names), or null for 'auto'/undefined. */
function parse(field: keyof PrecisionChoice, choice: string | undefined): WeightDType | null {
  switch (choice ?? 'auto') {
    case 'auto':
      return null;
    case 'float32':
    case 'f32':
      return 'f32';
    case 'bfloat16':
    case 'bf16':
      return 'bf16';
    case 'float16':
    case 'half':
    case 'f16':
      return 'f16';
    default:
      throw new PrecisionError(
        field,
        `${FLAG[field]} '${choice}' is not one of ${DTYPE_CHOICES.join(', ')}${field === 'dtype' ? '' : ' (auto: the model format’s default)'}.`,
      );
  }
}

/** The policy for `model` under `choice` (see the file comment); throws PrecisionError for what cannot run. */
export function resolvePrecision(
  model: Pick<LoadedModel, 'format' | 'config'>,
  choice: PrecisionChoice = {},
): PrecisionPolicy {
  const weights = parse('dtype', choice.dtype) ?? model.config.dtype;
  const gguf = model.format === 'gguf';
  const activations = parse('activationDtype', choice.activationDtype) ?? (gguf ? 'f32' : weights);
  const kvCache = parse('kvCacheDtype', choice.kvCacheDtype) ?? (gguf ? 'f16' : weights);
  if (activations !== 'f32' && activations !== weights) {
    throw new PrecisionError(
      'activationDtype',
      `--activation-dtype ${NAME[activations]} with ${weights} weights: a GEMM multiplies operands of one dtype, so ` +
        `activations must be float32 or the weights' dtype (${NAME[weights]}). Use --dtype ${NAME[activations]} to ` +
        'convert the weights as well.',
    );
  }
  return { weights, activations, kvCache };
}

const NAME: Record<WeightDType, string> = { f32: 'float32', f16: 'float16', bf16: 'bfloat16' };

/** "bf16" when the three agree, else "f16 weights, f32 activations, f16 KV cache". */
export function describePrecision(p: PrecisionPolicy): string {
  if (p.weights === p.activations && p.weights === p.kvCache) return p.weights;
  return `${p.weights} weights, ${p.activations} activations, ${p.kvCache} KV cache`;
}
