/**
 * Model configuration, read from a Hugging Face `config.json` and checked field by field so that a
 * bad file is reported by name rather than failing somewhere inside the forward pass. Each family
 * parses its own fields (gpt2 here, llama/config.ts, neox/config.ts) into one ModelConfig that says
 * what the forward pass computes: the norm, the MLP, rotary or learned positions, biases.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { badModel } from './errors.ts';
import { ACTIVATIONS, type ActivationName } from './gpt2/activations.ts';
import { jsonProblem } from './json.ts';
import { parseLlamaConfig } from './llama/config.ts';
import { parseNeoxConfig } from './neox/config.ts';

/** Families with a module in main/engine; `modelType` keeps config.json's own name (e.g. qwen2). */
export type Family = 'gpt2' | 'llama' | 'gpt_neox';

export interface RotaryConfig {
  /** leading dimensions of each head that are rotated (the rest pass through) */
  dims: number;
  /** angle per position of each rotated pair i < dims / 2, after any rope_scaling */
  invFreq: number[];
}

export interface ModelConfig {
  architecture: Family;
  /** config.json's model_type: gpt2, llama, mistral, qwen2, gpt_neox */
  modelType: string;
  nLayers: number;
  /** query heads */
  nHeads: number;
  /** key/value heads (fewer than nHeads under grouped-query attention) */
  nKvHeads: number;
  dModel: number;
  dHead: number;
  dMlp: number;
  dVocab: number;
  nCtx: number;
  eps: number;
  norm: 'layer' | 'rms';
  /** the MLP's nonlinearity, as transformers names it (gpt2/activations.ts) */
  activation: ActivationName;
  /** the factor on q·k in each layer: 1/√d_head, and 1/(layer + 1) under GPT-2's scale_attn_by_inverse_layer_idx */
  attnScale: number[];
  /** SwiGLU: mlp.hook_post = act(gate) · up */
  gatedMlp: boolean;
  /** attention and MLP both read resid_pre (GPT-NeoX); there is no resid_mid */
  parallelAttnMlp: boolean;
  /** null: learned absolute positions (GPT-2) */
  rotary: RotaryConfig | null;
  qkvBias: boolean;
  outBias: boolean;
  mlpBias: boolean;
  /** the unembedding is the embedding matrix (no lm_head.weight / embed_out.weight) */
  tiedEmbeddings: boolean;
  /** Mistral-style sliding-window attention: prompts longer than this are refused */
  slidingWindow: number | null;
}

export const SUPPORTED_MODEL_TYPES = ['gpt2', 'llama', 'mistral', 'qwen2', 'gpt_neox'] as const;

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
  const f = new ConfigFields(raw, path);
  switch (modelType) {
    case 'gpt2':
      return parseGpt2Config(f);
    case 'llama':
    case 'mistral':
    case 'qwen2':
      return parseLlamaConfig(f, modelType as 'llama' | 'mistral' | 'qwen2');
    case 'gpt_neox':
      return parseNeoxConfig(f);
    default:
      throw badModel(`${path}: model_type "${String(modelType)}" is not supported (supported: ${SUPPORTED_MODEL_TYPES.join(', ')})`);
  }
}

/** Typed reads of config.json fields; every failure names the file and the field. */
export class ConfigFields {
  constructor(
    readonly raw: Record<string, unknown>,
    readonly path: string,
  ) {}
  fail(message: string): never {
    throw badModel(`${this.path}: ${message}`);
  }
  has(field: string): boolean {
    return this.raw[field] !== undefined && this.raw[field] !== null;
  }
  /** a positive integer (the first of `fields` present), or `fallback` when none is */
  int(fields: string | string[], fallback?: number): number {
    const names = Array.isArray(fields) ? fields : [fields];
    const field = names.find((n) => this.has(n)) ?? names[0];
    const v = this.raw[field] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      this.fail(`field "${field}" must be a positive integer, got ${JSON.stringify(this.raw[field])}`);
    }
    return v;
  }
  positive(field: string, fallback: number): number {
    const v = this.raw[field] ?? fallback;
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) this.fail(`field "${field}" must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  }
  bool(field: string, fallback: boolean): boolean {
    const v = this.raw[field] ?? fallback;
    if (typeof v !== 'boolean') this.fail(`field "${field}" must be true or false, got ${JSON.stringify(this.raw[field])}`);
    return v;
  }
  /** an activation function transformers defines (`known` limits it to what the family uses) */
  activation(field: string, fallback: string, known: readonly string[] = Object.keys(ACTIVATIONS)): ActivationName {
    const name = String(this.raw[field] ?? fallback);
    if (!known.includes(name) || !Object.hasOwn(ACTIVATIONS, name)) this.fail(`${field} "${name}" is not supported (supported: ${known.join(', ')})`);
    return name as ActivationName;
  }
  divides(what: string, whole: number, part: number, partName: string): void {
    if (whole % part !== 0) this.fail(`${what} ${whole} is not divisible by ${partName} ${part}`);
  }
}

function parseGpt2Config(f: ConfigFields): ModelConfig {
  const nLayers = f.int('n_layer');
  const nHeads = f.int('n_head');
  const dModel = f.int('n_embd');
  const dVocab = f.int('vocab_size');
  const nCtx = f.int(['n_positions', 'n_ctx']);
  f.divides('n_embd', dModel, nHeads, 'n_head');
  // transformers' GPT-2 divides attention scores by √d_head under scale_attn_weights and by
  // layer + 1 under scale_attn_by_inverse_layer_idx. reorder_and_upcast_attn only moves that
  // scaling before the q·k product and computes it in float32 to avoid float16 overflow: in
  // float32, as here, it is the same function, so it is accepted and needs nothing.
  const byDh = f.bool('scale_attn_weights', true) ? 1 / Math.sqrt(dModel / nHeads) : 1;
  const byLayer = f.bool('scale_attn_by_inverse_layer_idx', false);
  f.bool('reorder_and_upcast_attn', false);
  if (f.bool('add_cross_attention', false)) {
    f.fail(`add_cross_attention is true: cross-attention layers need an encoder's output, and Patchbench runs decoder-only language models`);
  }
  return {
    architecture: 'gpt2',
    modelType: 'gpt2',
    nLayers,
    nHeads,
    nKvHeads: nHeads,
    dModel,
    dHead: dModel / nHeads,
    dMlp: f.has('n_inner') ? f.int('n_inner') : 4 * dModel,
    dVocab,
    nCtx,
    eps: f.positive('layer_norm_epsilon', 1e-5),
    norm: 'layer',
    activation: f.activation('activation_function', 'gelu_new'),
    attnScale: Array.from({ length: nLayers }, (_, l) => (byLayer ? byDh / (l + 1) : byDh)),
    gatedMlp: false,
    parallelAttnMlp: false,
    rotary: null,
    qkvBias: true,
    outBias: true,
    mlpBias: true,
    tiedEmbeddings: f.bool('tie_word_embeddings', true),
    slidingWindow: null,
  };
}
