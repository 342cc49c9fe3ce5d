/**
 * GPT-NeoX (Pythia) checkpoints loaded into the rotary decoder. `attention.query_key_value` is fused
 * per head — its output rows run [head 0: q, k, v][head 1: q, k, v]… — and is split into separate
 * q, k and v matrices at load, as GPT-2's c_attn is.
 */
import * as tf from '@tensorflow/tfjs-core';

import type { ModelConfig } from '../config.ts';
import { Decoder } from '../decoder/index.ts';
import { loadWeights, type CheckpointInfo, type WeightReader } from '../weight-reader.ts';
import type { DecoderLayer } from '../decoder/weights.ts';

/** q, k, v [in, H·dh] (and biases) from the fused [H·3·dh, in] weight */
function splitQkv(r: WeightReader, name: string, cfg: ModelConfig) {
  const { dModel: D, nHeads: H, dHead: dh } = cfg;
  const w = r.raw(name + '.weight', [3 * D, D]);
  const b = cfg.qkvBias ? r.raw(name + '.bias', [3 * D]) : undefined;
  return [0, 1, 2].map((part) => {
    const wt = new Float32Array(D * D); // [in, H·dh]
    const bt = new Float32Array(D);
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < dh; i++) {
        const row = (h * 3 + part) * dh + i;
        const col = h * dh + i;
        for (let c = 0; c < D; c++) wt[c * D + col] = w[row * D + c];
        if (b) bt[col] = b[row];
      }
    }
    return { w: r.own(tf.tensor2d(wt, [D, D])), b: b ? r.own(tf.tensor1d(bt)) : undefined };
  });
}

export function loadNeox(dir: string, cfg: ModelConfig): { arch: Decoder; checkpoint: CheckpointInfo } {
  const { dModel: D, dMlp: M, dVocab: V } = cfg;
  const { weights, info } = loadWeights(dir, 'gpt_neox.', `gpt_neox with ${cfg.nLayers} layers`, (r) => {
    const embed = r.matrix('embed_in.weight', V, D);
    const ln = (name: string) => ({ w: r.vector(name + '.weight', D), b: r.vector(name + '.bias', D) });
    const layers: DecoderLayer[] = [];
    for (let l = 0; l < cfg.nLayers; l++) {
      const p = `layers.${l}.`;
      const [q, k, v] = splitQkv(r, p + 'attention.query_key_value', cfg);
      layers.push({
        ln1: ln(p + 'input_layernorm'),
        ln2: ln(p + 'post_attention_layernorm'),
        wq: q.w, bq: q.b, wk: k.w, bk: k.b, wv: v.w, bv: v.b,
        wo: r.linear(p + 'attention.dense.weight', D, D), bo: cfg.outBias ? r.vector(p + 'attention.dense.bias', D) : undefined,
        wIn: r.linear(p + 'mlp.dense_h_to_4h.weight', M, D), bIn: r.vector(p + 'mlp.dense_h_to_4h.bias', M),
        wOut: r.linear(p + 'mlp.dense_4h_to_h.weight', D, M), bOut: r.vector(p + 'mlp.dense_4h_to_h.bias', D),
      });
    }
    const lnF = ln('final_layer_norm');
    const unembedRows = cfg.tiedEmbeddings ? embed : r.matrix('embed_out.weight', V, D);
    return { embed, lnF, unembedRows, layers };
  });
  return { arch: new Decoder(cfg, weights), checkpoint: info };
}
