/**
 * The config.json files this package ships (configs/<id>/config.json; provenance in configs/README.md), and loading
 * them. Reading is Node's fs, relative to this module: src/ and dist/ both sit beside configs/.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ModelArgumentError, showValue } from './errors';
import { parseModelConfigText } from './parse';
import type { ModelArchitecture } from './types';

export const SHIPPED_MODELS = [
  { id: 'llama-3.1-8b', hubId: 'meta-llama/Llama-3.1-8B' },
  { id: 'llama-3.1-70b', hubId: 'meta-llama/Llama-3.1-70B' },
  { id: 'llama-3.1-405b', hubId: 'meta-llama/Llama-3.1-405B' },
  { id: 'qwen2.5-72b', hubId: 'Qwen/Qwen2.5-72B' },
  { id: 'qwen3-32b', hubId: 'Qwen/Qwen3-32B' },
  { id: 'mixtral-8x7b', hubId: 'mistralai/Mixtral-8x7B-v0.1' },
  { id: 'qwen3-235b-a22b', hubId: 'Qwen/Qwen3-235B-A22B' },
  { id: 'deepseek-v3', hubId: 'deepseek-ai/DeepSeek-V3' },
  { id: 'deepseek-r1', hubId: 'deepseek-ai/DeepSeek-R1' },
] as const;

export type ShippedModelId = (typeof SHIPPED_MODELS)[number]['id'];

function checkId(id: unknown): ShippedModelId {
  if (!SHIPPED_MODELS.some((m) => m.id === id)) {
    throw new ModelArgumentError(
      'id',
      `${showValue(id)} is not a shipped model; one of ${SHIPPED_MODELS.map((m) => m.id).join(', ')}.`,
    );
  }
  return id as ShippedModelId;
}

/** The absolute path of a shipped config.json. */
export function shippedConfigPath(id: ShippedModelId): string {
  return fileURLToPath(new URL(`../configs/${checkId(id)}/config.json`, import.meta.url));
}

/** The text of a shipped config.json. */
export function readShippedConfig(id: ShippedModelId): string {
  return readFileSync(shippedConfigPath(id), 'utf8');
}

/** A shipped model's architecture. */
export function loadShippedModel(id: ShippedModelId): ModelArchitecture {
  return parseModelConfigText(readShippedConfig(id), { source: `configs/${id}/config.json` });
}
