/**
 * The engine's command-line flags, named as `vllm serve` names them: shared by `tessera-serve` (serve) and
 * `tessera-serve bench --modelled-time`, which runs the engine in-process.
 */
import { DTYPE_CHOICES, type EngineOptions } from '@tessera/serve';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { positiveInt } from './args';

/**
 * Default device per backend (the engine picks the topology that holds it: dgx-h100, atlas-800t-a2, …); webgpu has
 * none to name: its device is this machine's adapter, known once it is open (the engine's `webgpu-local` topology).
 */
export const DEFAULT_DEVICE = { 'nvidia-sim': 'h100', 'ascend-sim': '910b2', webgpu: undefined } as const;

/** The backends `--backend` takes; `TESSERA_BACKEND` sets its default. */
export const BACKEND_CHOICES = ['nvidia-sim', 'ascend-sim', 'webgpu'] as const;

type Dtype = (typeof DTYPE_CHOICES)[number];

export interface EngineFlags {
  backend: (typeof BACKEND_CHOICES)[number];
  device?: string;
  topology?: string;
  tp: number;
  dtype: Dtype;
  activationDtype: Dtype;
  kvCacheDtype: Dtype;
  tpInvariant?: boolean;
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  maxModelLen?: number;
  blockSize: number;
  numGpuBlocksOverride?: number;
  gpuMemoryUtilization: number;
  enablePrefixCaching: boolean;
  maxWaiting: number;
}

/** The flags' keys in commander's option values (for telling which were given). */
export const ENGINE_FLAG_KEYS: readonly (keyof EngineFlags)[] = [
  'backend',
  'device',
  'topology',
  'tp',
  'dtype',
  'activationDtype',
  'kvCacheDtype',
  'tpInvariant',
  'maxNumSeqs',
  'maxNumBatchedTokens',
  'maxModelLen',
  'blockSize',
  'numGpuBlocksOverride',
  'gpuMemoryUtilization',
  'enablePrefixCaching',
  'maxWaiting',
];

function utilization(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 1) throw new InvalidArgumentError('expected a number in (0, 1].');
  return n;
}

/** A backend name as the registry reads one (`TESSERA_BACKEND=WebGPU` too): trimmed, case-insensitive. */
function backendName(value: string): EngineFlags['backend'] {
  const name = value.trim().toLowerCase();
  const hit = BACKEND_CHOICES.find((b) => b === name);
  if (!hit) throw new InvalidArgumentError(`expected one of ${BACKEND_CHOICES.join(', ')}.`);
  return hit;
}

/** Adds the engine's flags to `cmd`. */
export function addEngineOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--backend <name>',
        "simulated hardware vendor, or webgpu: this machine's GPU through WebGPU (Dawn; without a GPU, Mesa's llvmpipe on the CPU)",
      )
        .choices(BACKEND_CHOICES)
        .argParser(backendName)
        .env('TESSERA_BACKEND')
        .default('nvidia-sim'),
    )
    .option('--device <id>', 'device (default: h100 on nvidia-sim, 910b2 on ascend-sim, the adapter on webgpu)')
    .option(
      '--topology <name>',
      'built-in topology or spec file (default: the one for the device, e.g. dgx-h100; webgpu-local on webgpu)',
    )
    .option('--tp <n>', 'tensor-parallel degree', positiveInt, 1)
    .addOption(
      new Option('--dtype <dtype>', 'weights dtype (auto: as stored); GEMM inputs are in this dtype')
        .choices(DTYPE_CHOICES)
        .default('auto'),
    )
    .addOption(
      new Option(
        '--activation-dtype <dtype>',
        'dtype of activations between kernels (auto: float32 for GGUF as llama.cpp; the weights’ dtype otherwise, as vLLM)',
      )
        .choices(DTYPE_CHOICES)
        .default('auto'),
    )
    .addOption(
      new Option(
        '--kv-cache-dtype <dtype>',
        'KV-cache dtype (auto: float16 for GGUF as llama.cpp; the weights’ otherwise)',
      )
        .choices(DTYPE_CHOICES)
        .default('auto'),
    )
    .option(
      '--tp-invariant',
      'sum row-parallel GEMMs in 8 fixed chunks: bit-identical logits at every TP degree dividing 8 (slower)',
    )
    .option('--max-num-seqs <n>', 'most requests running at once', positiveInt, 256)
    .option('--max-num-batched-tokens <n>', 'token budget of one engine step', positiveInt, 2048)
    .option('--max-model-len <n>', 'context length (default: the model’s)', positiveInt)
    .option('--block-size <n>', 'tokens per KV-cache block', positiveInt, 16)
    .option('--num-gpu-blocks-override <n>', 'KV-cache blocks instead of sizing from memory', positiveInt)
    .option('--gpu-memory-utilization <f>', 'fraction of device memory for weights + KV cache', utilization, 0.9)
    .option('--no-enable-prefix-caching', 'disable automatic prefix caching')
    .option('--max-waiting <n>', 'waiting requests beyond which new ones get 429', positiveInt, 256);
}

/** The engine options the flags ask for. */
export function engineOptions(f: EngineFlags): Omit<EngineOptions, 'model'> {
  return {
    backend: f.backend,
    device: f.device ?? (f.topology ? undefined : DEFAULT_DEVICE[f.backend]),
    topology: f.topology,
    tp: f.tp,
    dtype: f.dtype,
    activationDtype: f.activationDtype,
    kvCacheDtype: f.kvCacheDtype,
    tpInvariant: f.tpInvariant ?? false,
    maxNumSeqs: f.maxNumSeqs,
    maxNumBatchedTokens: f.maxNumBatchedTokens,
    maxModelLen: f.maxModelLen,
    blockSize: f.blockSize,
    numGpuBlocksOverride: f.numGpuBlocksOverride,
    enablePrefixCaching: f.enablePrefixCaching,
    maxWaiting: f.maxWaiting,
    gpuMemoryUtilization: f.gpuMemoryUtilization,
  };
}
