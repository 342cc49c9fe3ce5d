/**
 * GPT-NeoX (Pythia) in float64 (see rotary-decoder.ts): LayerNorm with bias, exact GELU, rotary on
 * the first rotary_pct of each head, attention and MLP in parallel (or not: use_parallel_residual),
 * the fused per-head query_key_value weight, an untied embed_out.
 */
import { configNumbers, openCheckpoint } from './family.ts';
import type { RefConfig, RefModel } from './model.ts';
import { outputHeads, perHead, RotaryDecoderRef, transposed, type RotaryLayer } from './rotary-decoder.ts';

export function loadNeoxRef(dir: string, raw: Record<string, unknown>): RefModel {
  const where = `${dir}/config.json`;
  const { get, dtypes } = openCheckpoint(dir);
  const num = configNumbers(raw, where);
  const D = num('hidden_size');
  const H = num('num_attention_heads');
  const dh = D / H;
  const L = num('num_hidden_layers');
  const M = num('intermediate_size', 4 * D);
  const config: RefConfig = {
    modelType: 'gpt_neox',
    nLayers: L,
    nHeads: H,
    nKvHeads: H,
    dModel: D,
    dHead: dh,
    dMlp: M,
    dVocab: num('vocab_size'),
    nCtx: num('max_position_embeddings', 2048),
    eps: num('layer_norm_eps', 1e-5),
    activation: String(raw.hidden_act ?? 'gelu'),
    parallelAttnMlp: (raw.use_parallel_residual ?? true) as boolean,
    attnScale: Array.from({ length: L }, () => 1 / Math.sqrt(dh)),
    bosTokenId: num('bos_token_id', 0),
    dtypes,
  };
  const layers: RotaryLayer[] = [];
  for (let l = 0; l < L; l++) {
    const p = `gpt_neox.layers.${l}.`;
    // query_key_value: output rows (h·3 + part)·dh + i, part 0 = q, 1 = k, 2 = v
    const qkv = transposed(get(p + 'attention.query_key_value.weight').data, 3 * D, D); // [D, 3D]
    const qkvB = get(p + 'attention.query_key_value.bias').data;
    const [Q, K, V] = [0, 1, 2].map((part) => {
      const all = new Float64Array(D * D);
      const bAll = new Float64Array(D);
      for (let h = 0; h < H; h++)
        for (let i = 0; i < dh; i++) {
          const src = (h * 3 + part) * dh + i;
          for (let r = 0; r < D; r++) all[r * D + h * dh + i] = qkv[r * 3 * D + src];
          bAll[h * dh + i] = qkvB[src];
        }
      return perHead(all, bAll, D, H, dh);
    });
    layers.push({
      ln1w: get(p + 'input_layernorm.weight').data, ln1b: get(p + 'input_layernorm.bias').data,
      ln2w: get(p + 'post_attention_layernorm.weight').data, ln2b: get(p + 'post_attention_layernorm.bias').data,
      Q, K, V,
      WO: outputHeads(transposed(get(p + 'attention.dense.weight').data, D, D), H, dh, D),
      bO: get(p + 'attention.dense.bias').data,
      Win: transposed(get(p + 'mlp.dense_h_to_4h.weight').data, M, D), bIn: get(p + 'mlp.dense_h_to_4h.bias').data,
      Wout: transposed(get(p + 'mlp.dense_4h_to_h.weight').data, D, M), bOut: get(p + 'mlp.dense_4h_to_h.bias').data,
    });
  }
  const rotaryDims = Math.floor(dh * num('rotary_pct', 0.25));
  const base = num('rotary_emb_base', (raw.rope_theta as number | undefined) ?? 10000);
  const WE = get('gpt_neox.embed_in.weight').data;
  return new RotaryDecoderRef({
    config,
    norm: 'layer',
    rotaryDims,
    theta: Array.from({ length: rotaryDims / 2 }, (_, i) => 1 / base ** ((2 * i) / rotaryDims)),
    WE,
    layers,
    lnfW: get('gpt_neox.final_layer_norm.weight').data,
    lnfB: get('gpt_neox.final_layer_norm.bias').data,
    WU: raw.tie_word_embeddings ? WE : get('embed_out.weight').data,
  });
}
