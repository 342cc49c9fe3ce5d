/**
 * Model configuration, read from a Hugging Face `config.json` and checked field by field so that a
 * bad file is reported by name rather than failing somewhere inside the forward pass.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { badModel } from './errors.ts';

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
  activation: 'gelu_new';
}

/** Activation functions we compute; HF names that are the same function map to ours. */
const ACTIVATIONS: Record<string, 'gelu_new'> = { gelu_new: 'gelu_new', gelu_pytorch_tanh: 'gelu_new' };

export function readConfig(dir: string): ModelConfig {
  const path = join(dir, 'config.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw badModel(`${path}: missing (${(e as NodeJS.ErrnoException).code ?? e}); a model folder needs config.json`);
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw badModel(`${path}: not valid JSON (${(e as Error).message})`);
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
  const actName = String(raw.activation_function ?? 'gelu_new');
  const activation = ACTIVATIONS[actName];
  if (!activation) {
    throw badModel(`${path}: activation_function "${actName}" is not supported (supported: ${Object.keys(ACTIVATIONS).join(', ')})`);
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
    activation,
  };
}
