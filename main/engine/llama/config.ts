/**
 * config.json of the Llama family — `llama` (Llama 2/3, SmolLM, TinyLlama), `mistral` and `qwen2`:
 * RMSNorm, rotary positions (rope_theta, rope_scaling), a SwiGLU MLP, grouped-query attention.
 * Qwen2 always has q/k/v biases; Llama has them (and an o bias) when `attention_bias` is set.
 */
import type { ConfigFields, ModelConfig } from '../config.ts';
import { rotaryInvFreq } from '../rotary-config.ts';

export function parseLlamaConfig(f: ConfigFields, modelType: 'llama' | 'mistral' | 'qwen2'): ModelConfig {
  const nLayers = f.int('num_hidden_layers');
  const nHeads = f.int('num_attention_heads');
  const nKvHeads = f.int('num_key_value_heads', nHeads);
  const dModel = f.int('hidden_size');
  const dVocab = f.int('vocab_size');
  f.divides('num_attention_heads', nHeads, nKvHeads, 'num_key_value_heads');
  if (!f.has('head_dim')) f.divides('hidden_size', dModel, nHeads, 'num_attention_heads');
  const dHead = f.int('head_dim', dModel / nHeads);
  if (dHead % 2 !== 0) f.fail(`head_dim ${dHead} must be even for rotary embeddings`);
  const qwen = modelType === 'qwen2';
  const attentionBias = qwen || f.bool('attention_bias', false);
  // Qwen2 uses the window only when use_sliding_window is set; Mistral whenever sliding_window is.
  const windowed = modelType === 'mistral' ? f.has('sliding_window') : qwen && f.bool('use_sliding_window', false) && f.has('sliding_window');
  return {
    architecture: 'llama',
    modelType,
    nLayers,
    nHeads,
    nKvHeads,
    dModel,
    dHead,
    dMlp: f.int('intermediate_size'),
    dVocab,
    nCtx: f.int('max_position_embeddings', 2048),
    eps: f.positive('rms_norm_eps', 1e-6),
    norm: 'rms',
    activation: f.activation('hidden_act', 'silu', ['silu', 'swish']),
    attnScale: Array.from({ length: nLayers }, () => 1 / Math.sqrt(dHead)),
    gatedMlp: true,
    parallelAttnMlp: false,
    rotary: { dims: dHead, invFreq: rotaryInvFreq(f, dHead, f.positive('rope_theta', 10000)) },
    qkvBias: attentionBias,
    outBias: !qwen && attentionBias,
    mlpBias: f.bool('mlp_bias', false),
    tiedEmbeddings: f.bool('tie_word_embeddings', false),
    slidingWindow: windowed ? f.int('sliding_window') : null,
  };
}

