/**
 * The float64 reference model: what every family module provides, and the loader that picks the
 * module from config.json's `model_type`. Tests and `npm run fixtures:reference` check the engine
 * against it; it shares no code with main/engine (its own safetensors reader, its own forward pass).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadGpt2Ref } from './gpt2.ts';
import { loadLlamaRef } from './llama.ts';
import { loadNeoxRef } from './neox.ts';
import type { Tensor64 } from './tensor.ts';

export type { Tensor64 } from './tensor.ts';

/**
 * Sees every hook point in forward order, with TransformerLens's name and shape, and may return a
 * replacement of the same shape (undefined keeps the value). A hook must not change `x` in place;
 * it may keep `x` without copying, since the reference never changes an array after hooking it.
 */
export type RefHook = (name: string, x: Tensor64) => Tensor64 | undefined;

export interface RefConfig {
  modelType: string;
  nLayers: number;
  nHeads: number;
  /** key/value heads (grouped-query attention); nHeads where every head has its own */
  nKvHeads: number;
  dModel: number;
  dHead: number;
  dMlp: number;
  dVocab: number;
  nCtx: number;
  eps: number;
  /** config.json's activation_function */
  activation: string;
  /** attention and MLP read the same residual (GPT-J, NeoX); there is no hook_resid_mid then */
  parallelAttnMlp: boolean;
  /** the factor on q·k in each layer (GPT-2: 1/√d_head, and 1/(layer+1) under scale_attn_by_inverse_layer_idx) */
  attnScale: number[];
  bosTokenId: number;
  /** the safetensors dtypes the weights were stored in */
  dtypes: string[];
}

/** Shortcuts for runs that only a metric at the last position reads (patching uses both). */
export interface RunOptions {
  /** start at block `layer` from this hook_resid_pre [batch, pos, d_model]; earlier hooks are not called */
  from?: { layer: number; residPre: Tensor64 };
  /**
   * The final block computes queries, attention and MLP at the last position only (keys and values
   * everywhere, as the last query needs them). Its other positions are not computed: zero in the
   * attention and MLP hooks, so the residual there stays hook_resid_pre's. Only for metrics.
   */
  lastOnly?: boolean;
}

export interface RefModel {
  readonly config: RefConfig;
  /** tokens [batch][pos] (equal lengths) → logits [batch, pos, vocab]; `hook` sees every hook point */
  forward(tokens: number[][], hook?: RefHook): Tensor64;
  /** The forward pass without the unembedding: ln_final.hook_normalized [batch, pos, d_model]. */
  residual(tokens: number[][], hook?: RefHook, options?: RunOptions): Tensor64;
  /** the unembedding of one normalised residual vector (d_model values from `x` at `offset`):
   *  logits of the given token ids, or of the whole vocabulary */
  logits(x: Float64Array, offset: number, ids?: number[]): Float64Array;
}

/** Loads a Hugging Face model folder (config.json + safetensors) in float64. */
export function loadRefModel(dir: string): RefModel {
  const raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const type = raw.model_type ?? 'gpt2';
  if (type === 'gpt2') return loadGpt2Ref(dir, raw);
  if (type === 'llama' || type === 'mistral' || type === 'qwen2') return loadLlamaRef(dir, raw);
  if (type === 'gpt_neox') return loadNeoxRef(dir, raw);
  throw new Error(`${dir}/config.json: model_type ${JSON.stringify(type)} has no reference module (have: gpt2, llama, mistral, qwen2, gpt_neox)`);
}
