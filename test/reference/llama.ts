/**
 * Llama, Mistral and Qwen2 in float64 (see rotary-decoder.ts): RMSNorm, SwiGLU with SiLU, grouped-
 * query attention, rope_theta with rope_scaling (linear, llama3), Qwen2's q/k/v biases, Llama's
 * attention_bias, tied or untied unembedding, head_dim.
 */
import { configNumbers, openCheckpoint } from './family.ts';
import type { RefConfig, RefModel } from './model.ts';
import { outputHeads, perHead, RotaryDecoderRef, transposed, type RotaryLayer } from './rotary-decoder.ts';

/** θ_i after rope_scaling, written from Hugging Face's `_compute_llama3_parameters`. */
function ropeTheta(raw: Record<string, unknown>, dims: number, base: number, where: string): number[] {
  const theta = Array.from({ length: dims / 2 }, (_, i) => 1 / base ** ((2 * i) / dims));
  const s = raw.rope_scaling as Record<string, number | string> | null | undefined;
  if (!s) return theta;
  const type = s.rope_type ?? s.type;
  if (type === 'default') return theta;
  if (type === 'linear') return theta.map((t) => t / (s.factor as number));
  if (type !== 'llama3') throw new Error(`${where}: rope_scaling ${type} is not in the reference`);
  const factor = s.factor as number;
  const low = (s.low_freq_factor as number) ?? 1;
  const high = (s.high_freq_factor as number) ?? 4;
  const old = (s.original_max_position_embeddings as number) ?? 8192;
  return theta.map((t) => {
    const wavelen = (2 * Math.PI) / t;
    if (wavelen < old / high) return t;
    if (wavelen > old / low) return t / factor;
    const smooth = (old / wavelen - low) / (high - low);
    return (1 - smooth) * (t / factor) + smooth * t;
  });
}

export function loadLlamaRef(dir: string, raw: Record<string, unknown>): RefModel {
  const where = `${dir}/config.json`;
  const { stored, get, dtypes } = openCheckpoint(dir);
  const num = configNumbers(raw, where);
  const D = num('hidden_size');
  const H = num('num_attention_heads');
  const K = num('num_key_value_heads', H);
  const dh = num('head_dim', D / H);
  const L = num('num_hidden_layers');
  const M = num('intermediate_size');
  const V = num('vocab_size');
  const type = String(raw.model_type);
  const config: RefConfig = {
    modelType: type,
    nLayers: L,
    nHeads: H,
    nKvHeads: K,
    dModel: D,
    dHead: dh,
    dMlp: M,
    dVocab: V,
    nCtx: num('max_position_embeddings', 2048),
    eps: num('rms_norm_eps', 1e-6),
    activation: String(raw.hidden_act ?? 'silu'),
    parallelAttnMlp: false,
    attnScale: Array.from({ length: L }, () => 1 / Math.sqrt(dh)),
    bosTokenId: num('bos_token_id', 1),
    dtypes,
  };
  const opt = (name: string, n: number) => stored.get(name)?.data ?? new Float64Array(n);
  const linear = (name: string, out: number, inp: number) => transposed(get(name).data, out, inp);
  const layers: RotaryLayer[] = [];
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    const a = p + 'self_attn.';
    layers.push({
      ln1w: get(p + 'input_layernorm.weight').data,
      ln2w: get(p + 'post_attention_layernorm.weight').data,
      Q: perHead(linear(a + 'q_proj.weight', H * dh, D), opt(a + 'q_proj.bias', H * dh), D, H, dh),
      K: perHead(linear(a + 'k_proj.weight', K * dh, D), opt(a + 'k_proj.bias', K * dh), D, K, dh),
      V: perHead(linear(a + 'v_proj.weight', K * dh, D), opt(a + 'v_proj.bias', K * dh), D, K, dh),
      WO: outputHeads(linear(a + 'o_proj.weight', D, H * dh), H, dh, D),
      bO: opt(a + 'o_proj.bias', D),
      Win: linear(p + 'mlp.gate_proj.weight', M, D), bIn: opt(p + 'mlp.gate_proj.bias', M),
      Wup: linear(p + 'mlp.up_proj.weight', M, D), bUp: opt(p + 'mlp.up_proj.bias', M),
      Wout: linear(p + 'mlp.down_proj.weight', D, M), bOut: opt(p + 'mlp.down_proj.bias', D),
    });
  }
  const WE = get('model.embed_tokens.weight').data;
  const windowed = type === 'mistral' ? raw.sliding_window != null : type === 'qwen2' && raw.use_sliding_window === true;
  return new RotaryDecoderRef({
    config,
    norm: 'rms',
    rotaryDims: dh,
    theta: ropeTheta(raw, dh, num('rope_theta', 10000), where),
    window: windowed ? num('sliding_window') : undefined,
    WE,
    layers,
    lnfW: get('model.norm.weight').data,
    WU: raw.tie_word_embeddings ? WE : get('lm_head.weight').data,
  });
}
