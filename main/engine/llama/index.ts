/**
 * Llama, Mistral and Qwen2 checkpoints (`LlamaForCausalLM` names: model.layers.L.self_attn.q_proj,
 * mlp.gate_proj, input_layernorm, …) loaded into the rotary decoder. The weights are in Hugging
 * Face's `rotate_half` layout, which decoder/rotary.ts computes.
 */

import type { ModelConfig } from '../config.ts';
import { Decoder } from '../decoder/index.ts';
import { loadWeights, type CheckpointInfo } from '../weight-reader.ts';
import type { DecoderLayer } from '../decoder/weights.ts';

export function loadLlama(dir: string, cfg: ModelConfig): { arch: Decoder; checkpoint: CheckpointInfo } {
  const { dModel: D, dMlp: M, dVocab: V, nHeads: H, nKvHeads: K, dHead: dh } = cfg;
  const { weights, info } = loadWeights(dir, 'model.', `${cfg.modelType} with ${cfg.nLayers} layers`, (r) => {
    const embed = r.matrix('embed_tokens.weight', V, D);
    const layers: DecoderLayer[] = [];
    for (let l = 0; l < cfg.nLayers; l++) {
      const p = `layers.${l}.`;
      const a = p + 'self_attn.';
      const bias = (name: string, n: number, present: boolean) => (present ? r.vector(name, n) : undefined);
      layers.push({
        ln1: { w: r.vector(p + 'input_layernorm.weight', D) },
        ln2: { w: r.vector(p + 'post_attention_layernorm.weight', D) },
        wq: r.linear(a + 'q_proj.weight', H * dh, D), bq: bias(a + 'q_proj.bias', H * dh, cfg.qkvBias),
        wk: r.linear(a + 'k_proj.weight', K * dh, D), bk: bias(a + 'k_proj.bias', K * dh, cfg.qkvBias),
        wv: r.linear(a + 'v_proj.weight', K * dh, D), bv: bias(a + 'v_proj.bias', K * dh, cfg.qkvBias),
        wo: r.linear(a + 'o_proj.weight', D, H * dh), bo: bias(a + 'o_proj.bias', D, cfg.outBias),
        wIn: r.linear(p + 'mlp.gate_proj.weight', M, D), bIn: bias(p + 'mlp.gate_proj.bias', M, cfg.mlpBias),
        wUp: r.linear(p + 'mlp.up_proj.weight', M, D), bUp: bias(p + 'mlp.up_proj.bias', M, cfg.mlpBias),
        wOut: r.linear(p + 'mlp.down_proj.weight', D, M), bOut: bias(p + 'mlp.down_proj.bias', D, cfg.mlpBias),
      });
    }
    const lnF = { w: r.vector('norm.weight', D) };
    // Some tied checkpoints store lm_head.weight anyway (a copy of the embedding): read, then unused.
    if (cfg.tiedEmbeddings && r.has('lm_head.weight')) r.raw('lm_head.weight', [V, D]);
    const unembedRows = cfg.tiedEmbeddings ? embed : r.matrix('lm_head.weight', V, D);
    return { embed, lnF, unembedRows, layers };
  });
  return { arch: new Decoder(cfg, weights), checkpoint: info };
}
