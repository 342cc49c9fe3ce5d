/**
 * Model configuration, read from a Hugging Face `config.json` and checked field by field so that a
 * bad file is reported by name rather than failing somewhere inside the forward pass.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { badModel } from './errors.ts';
import { ACTIVATIONS, type ActivationName } from './gpt2/activations.ts';
import { jsonProblem } from './json.ts';

export type Architecture = 'gpt2';

export interface ModelConfig {
  architecture: Architecture;
  nLayers: number;
  nHeads: number;
  dModel: number;
  dHead: number;
  dMlp: number;
  dVocab: number;
  nCtx: number;
  eps: number;
  /** config.json's activation_function */
  activation: ActivationName;
  /** the factor on q·k in each layer: 1/√d_head (scale_attn_weights) and 1/(layer + 1) (scale_attn_by_inverse_layer_idx) */
  attnScale: number[];
  /** the unembedding is wte (tie_word_embeddings), else lm_head.weight */
  tiedEmbeddings: boolean;
}

export function readConfig(dir: string): ModelConfig {
  const path = join(dir, 'config.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EISDIR') throw badModel(`${path}: is a folder, not a file`);
    throw badModel(`${path}: ${code === 'ENOENT' ? 'missing' : `cannot be read (${code ?? e})`}; a model folder needs config.json`);
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw badModel(`${path}: not valid JSON (${jsonProblem(e)})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw badModel(`${path}: not a JSON object`);
  return parseConfig(raw, path);
}

export function parseConfig(raw: Record<string, unknown>, path = 'config.json'): ModelConfig {
  const modelType = raw.model_type ?? 'gpt2';
  if (modelType !== 'gpt2') {
    throw badModel(`${path}: model_type "${String(modelType)}" is not supported yet (supported: gpt2)`);
  }
  const int = (field: string, fallback?: number): number => {
    const v = raw[field] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw badModel(`${path}: field "${field}" must be a positive integer, got ${JSON.stringify(raw[field])}`);
    }
    return v;
  };
  const nLayers = int('n_layer');
  const nHeads = int('n_head');
  const dModel = int('n_embd');
  const dVocab = int('vocab_size');
  const nCtx = int('n_positions', raw.n_ctx as number | undefined);
  if (dModel % nHeads !== 0) {
    throw badModel(`${path}: n_embd ${dModel} is not divisible by n_head ${nHeads}`);
  }
  const dMlp = raw.n_inner == null ? 4 * dModel : int('n_inner');
  const eps = raw.layer_norm_epsilon ?? 1e-5;
  if (typeof eps !== 'number' || !(eps > 0)) {
    throw badModel(`${path}: field "layer_norm_epsilon" must be a positive number, got ${JSON.stringify(eps)}`);
  }
  const activation = String(raw.activation_function ?? 'gelu_new');
  if (!Object.hasOwn(ACTIVATIONS, activation)) {
    throw badModel(`${path}: activation_function "${activation}" is not supported (supported: ${Object.keys(ACTIVATIONS).join(', ')})`);
  }
  const flag = (field: string, fallback: boolean): boolean => {
    const v = raw[field] ?? fallback;
    if (typeof v !== 'boolean') throw badModel(`${path}: field "${field}" must be true or false, got ${JSON.stringify(raw[field])}`);
    return v;
  };
  // transformers' GPT-2 divides attention scores by √d_head under scale_attn_weights and by
  // layer + 1 under scale_attn_by_inverse_layer_idx. reorder_and_upcast_attn only moves that
  // scaling before the q·k product and computes it in float32 to avoid float16 overflow: in
  // float32, as here, it is the same function, so it is accepted and needs nothing.
  const byDh = flag('scale_attn_weights', true) ? 1 / Math.sqrt(dModel / nHeads) : 1;
  const byLayer = flag('scale_attn_by_inverse_layer_idx', false);
  flag('reorder_and_upcast_attn', false);
  if (flag('add_cross_attention', false)) {
    throw badModel(`${path}: add_cross_attention is true: cross-attention layers need an encoder's output, and Patchbench runs decoder-only language models`);
  }
  return {
    architecture: 'gpt2',
    nLayers,
    nHeads,
    dModel,
    dHead: dModel / nHeads,
    dMlp,
    dVocab,
    nCtx,
    eps,
    activation: activation as ActivationName,
    attnScale: Array.from({ length: nLayers }, (_, l) => (byLayer ? byDh / (l + 1) : byDh)),
    tiedEmbeddings: flag('tie_word_embeddings', true),
  };
}
