/**
 * The shapes the serving engine and its users share: a model as loaded (config, host tensors, the Tokenizer
 * interface — implementations live with the loaders, above this package), and the engine's request/response types.
 * The model (model/), the engine (engine/) and the simulation driver (sim/) depend on this file; so do the HTTP
 * server, the loaders and the tokenizers of apps/llm-serve.
 */

/** Weight dtypes a model file may hold (Q8_0 GGUF tensors are dequantised to f32 on load). */
export type WeightDType = 'f32' | 'f16' | 'bf16';

/**
 * How RoPE pairs a head's dimensions. 'half' rotates (x[i], x[i + d/2]) — Hugging Face checkpoints; 'interleaved'
 * rotates (x[2i], x[2i+1]) — GGUF (whose converter permutes Q/K rows to make it so) and llama2.c.
 */
export type RopeConvention = 'interleaved' | 'half';

/** A Llama-architecture decoder's hyperparameters, normalised from config.json, GGUF metadata or a llama2.c header. */
export interface LlamaConfig {
  vocabSize: number;
  /** Model width (d_model). */
  hiddenSize: number;
  /** SwiGLU inner width. */
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Context length the model was built for (max_position_embeddings / llama.context_length / seq_len). */
  maxPositionEmbeddings: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeConvention: RopeConvention;
  /** Output head shares the embedding table (no separate `lm_head`). */
  tieWordEmbeddings: boolean;
  /** The dtype of the weights as stored. */
  dtype: WeightDType;
}

/**
 * A tensor read from a model file, on the host. `data` holds f32 values, or the raw bits of f16/bf16 values
 * (Uint16Array), row-major with `shape` outermost first.
 */
export interface HostTensor {
  dtype: WeightDType;
  shape: number[];
  data: Float32Array | Uint16Array;
}

/**
 * Canonical tensor names the model uses, whatever the file called them. Matrices are (out, in) row-major, as both
 * Hugging Face and GGUF store them:
 *   embed                     (vocab, hidden)
 *   layers.{i}.attn_norm      (hidden)
 *   layers.{i}.q              (numHeads · headDim, hidden)
 *   layers.{i}.k, .v          (numKvHeads · headDim, hidden)
 *   layers.{i}.o              (hidden, numHeads · headDim)
 *   layers.{i}.ffn_norm       (hidden)
 *   layers.{i}.gate, .up      (intermediate, hidden)
 *   layers.{i}.down           (hidden, intermediate)
 *   final_norm                (hidden)
 *   lm_head                   (vocab, hidden) — absent when tieWordEmbeddings
 */
export type TensorMap = Map<string, HostTensor>;

export interface ChatMessage {
  role: string;
  content: string;
}

/**
 * What the engine and the server need of a tokenizer. The engine only decodes (the incremental detokenizer of a
 * request's output); the server encodes prompts, renders chat templates and answers /tokenize. Implementations (Hugging
 * Face tokenizer.json, SentencePiece, GGUF, llama2.c) live in apps/llm-serve, not in this package.
 */
export interface Tokenizer {
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  /** Token ids that end generation (eos and, for chat models, end-of-turn). */
  readonly eosTokenIds: readonly number[];
  /** The chat template (Jinja), or null if the model has none. */
  readonly chatTemplate: string | null;
  /** Encodes text; `addSpecialTokens` (default true) adds BOS where the model's tokenizer does. */
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  /** Decodes ids to text; `skipSpecialTokens` (default true) drops control tokens such as BOS/EOS. */
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  /** The token's string form (e.g. "Ġhello"), for /tokenize's return_token_strs. */
  idToToken(id: number): string | undefined;
  /** Renders messages with the chat template; throws (llm-serve: a TokenizerError) if there is none. */
  applyChatTemplate(messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean }): string;
}

/** A model ready to serve: what the loaders produce. */
export interface LoadedModel {
  /** The id shown in /v1/models and accepted in requests' `model`. */
  id: string;
  /** Where it came from: a path, or 'embedded'. */
  source: string;
  format: 'safetensors' | 'gguf' | 'llama2c' | 'embedded';
  /** One honest line for /v1/models and the start-up banner (e.g. "untrained random weights"). */
  description: string;
  config: LlamaConfig;
  tensors: TensorMap;
  tokenizer: Tokenizer;
  /** Token ids that end generation: the tokenizer's and those the model files list (generation_config, GGUF eot). */
  eosTokenIds: readonly number[];
}

// ---------------------------------------------------------------- engine ↔ its callers (the HTTP server, the simulation)

export interface SamplingParams {
  /** Tokens to generate at most. */
  maxTokens: number;
  /** 0 = greedy. */
  temperature: number;
  /** 1 = off. */
  topP: number;
  /** 0 or −1 = off. */
  topK: number;
  /** Per-request RNG seed; null = a fresh random one. */
  seed: number | null;
  /** Generation stops when the text contains one of these; the stop string is not returned. */
  stop: readonly string[];
  /** Generation stops at one of these tokens (in addition to EOS unless ignoreEos). */
  stopTokenIds: readonly number[];
  ignoreEos: boolean;
  /** EOS and stop tokens are ignored until this many tokens are generated. */
  minTokens: number;
}

export type FinishReason = 'stop' | 'length' | 'abort';

/** Latency figures of one request, in milliseconds. */
export interface LatencyFigures {
  /** Arrival → first generated token. */
  ttftMs: number;
  /** Mean time per output token after the first: (e2e − ttft) / (outputTokens − 1); 0 for one token. */
  tpotMs: number;
  /** Arrival → last token. */
  e2eMs: number;
  /** Gaps between consecutive output tokens. */
  itlMs: number[];
  /** Arrival → first scheduled (time spent waiting). */
  queueMs: number;
}

export interface RequestMetrics {
  /** Measured on this machine. */
  wall: LatencyFigures;
  /** Modelled on the simulated hardware: the modelled durations of the engine steps between arrival and each token. */
  modelled: LatencyFigures;
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens served from the prefix cache. */
  cachedPromptTokens: number;
  /** Times the request was preempted (its KV freed and recomputed). */
  preemptions: number;
}

/** One step's news for one request. */
export interface RequestOutput {
  requestId: string;
  /** Tokens generated in this step (usually one). */
  tokenIds: number[];
  /** Text those tokens add (UTF-8 completed, stop strings cut). */
  text: string;
  finished: boolean;
  finishReason: FinishReason | null;
  /** The stop string or stop token id that ended it, if any. */
  stopReason: string | number | null;
  /** Modelled ms from arrival to this output (for per-chunk ITL in modelled time). */
  modelledMs: number;
  /** The engine's modelled clock at this output (ms since the engine started; it stands still while idle). */
  modelledClockMs: number;
  /** Present when finished. */
  metrics?: RequestMetrics;
}

export interface GenerateRequest {
  requestId: string;
  promptTokenIds: readonly number[];
  params: SamplingParams;
}

export interface EngineStats {
  running: number;
  waiting: number;
  /** Fraction of KV blocks in use, 0–1. */
  kvCacheUsage: number;
  prefixCacheQueries: number;
  prefixCacheHits: number;
  preemptions: number;
}

/** What the server needs from the engine. */
export interface Engine {
  readonly model: LoadedModel;
  /** Longest prompt + completion a request may have. */
  readonly maxModelLen: number;
  /** A one-line description of the simulated hardware (e.g. "8× NVIDIA H100 SXM5 80GB, dgx-h100, TP 8"). */
  readonly hardware: string;
  /**
   * Queues a request and streams its outputs. Throws EngineError('overloaded') at once if the waiting queue is full,
   * EngineError('invalid_request') for a prompt over the context length. Aborting `signal` (a client that went away)
   * finishes the stream with finishReason 'abort' and frees the request's KV blocks.
   */
  generate(request: GenerateRequest, signal?: AbortSignal): AsyncIterable<RequestOutput>;
  stats(): EngineStats;
  /** Stops the loop; pending requests finish with 'abort'. */
  shutdown(): Promise<void>;
  /** True while the engine can serve (false after a fatal error: /health then says 503). */
  readonly healthy: boolean;
  /** Why the engine cannot serve — the device fault or the shutdown — or null while healthy (/health shows it). */
  readonly failure: string | null;
  /** How many more requests the waiting queue takes now; a batch larger than this is refused (429) up front. */
  readonly waitingRoom: number;
}
