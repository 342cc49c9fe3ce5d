/**
 * config.json of GPT-NeoX (Pythia): LayerNorm with bias, partial rotary (`rotary_pct` of each head,
 * base `rotary_emb_base`), exact GELU, attention and MLP in parallel (`use_parallel_residual`),
 * and an untied `embed_out` unless `tie_word_embeddings` says otherwise.
 */
import type { ConfigFields, ModelConfig } from '../config.ts';
import { rotaryInvFreq } from '../rotary-config.ts';

export function parseNeoxConfig(f: ConfigFields): ModelConfig {
  const nLayers = f.int('num_hidden_layers');
  const nHeads = f.int('num_attention_heads');
  const dModel = f.int('hidden_size');
  const dVocab = f.int('vocab_size');
  f.divides('hidden_size', dModel, nHeads, 'num_attention_heads');
  const dHead = dModel / nHeads;
  const pct = f.raw.rotary_pct ?? 0.25;
  if (typeof pct !== 'number' || !(pct > 0 && pct <= 1)) f.fail(`rotary_pct must be a number in (0, 1], got ${JSON.stringify(pct)}`);
  const dims = Math.floor(dHead * pct);
  if (dims < 2 || dims % 2 !== 0) f.fail(`rotary_pct ${pct} of head size ${dHead} gives ${dims} rotary dimensions; they must be even and at least 2`);
  const base = f.has('rotary_emb_base') ? f.positive('rotary_emb_base', 10000) : f.positive('rope_theta', 10000);
  const bias = f.bool('attention_bias', true);
  return {
    architecture: 'gpt_neox',
    modelType: 'gpt_neox',
    nLayers,
    nHeads,
    nKvHeads: nHeads,
    dModel,
    dHead,
    dMlp: f.int('intermediate_size', 4 * dModel),
    dVocab,
    nCtx: f.int('max_position_embeddings', 2048),
    eps: f.positive('layer_norm_eps', 1e-5),
    norm: 'layer',
    activation: f.activation('hidden_act', 'gelu', ['gelu', 'gelu_new', 'gelu_fast', 'gelu_pytorch_tanh', 'relu']),
    attnScale: Array.from({ length: nLayers }, () => 1 / Math.sqrt(dHead)),
    gatedMlp: false,
    parallelAttnMlp: f.bool('use_parallel_residual', true),
    rotary: { dims, invFreq: rotaryInvFreq(f, dims, base) },
    qkvBias: bias,
    outBias: bias,
    mlpBias: true,
    tiedEmbeddings: f.bool('tie_word_embeddings', false),
    slidingWindow: null,
  };
}
