/**
 * GPT-2 weights as tfjs tensors, named after the checkpoint (`wte`, `c_attn`, `c_proj`, …).
 * Loading reads one tensor at a time (safetensors.ts) so peak memory stays near one copy.
 *
 * Layout choices, for speed on the wasm backend: `c_attn` is split into separate q, k and v
 * matrices at load (a split at run time is a copy per call), and the forward's matmuls are plain
 * ones against [in, out] matrices. The backward pass multiplies by the same matrices transposed
 * (transposed.ts): no second copy of them where the native kernel does `a · bᵀ`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { badModel } from '../errors.ts';
import type { ModelConfig } from '../config.ts';
import { loadWeights, type CheckpointInfo } from '../weight-reader.ts';

export type { CheckpointInfo };

export interface LayerWeights {
  ln1: { w: tf.Tensor1D; b: tf.Tensor1D };
  wq: tf.Tensor2D; bq: tf.Tensor1D; // [d_model, d_model]
  wk: tf.Tensor2D; bk: tf.Tensor1D;
  wv: tf.Tensor2D; bv: tf.Tensor1D;
  wo: tf.Tensor2D; bo: tf.Tensor1D; // [d_model (= head·d_head), d_model]
  ln2: { w: tf.Tensor1D; b: tf.Tensor1D };
  wfc: tf.Tensor2D; bfc: tf.Tensor1D; // [d_model, d_mlp]
  wproj: tf.Tensor2D; bproj: tf.Tensor1D; // [d_mlp, d_model]
}

export interface Gpt2Weights {
  wte: tf.Tensor2D; // [d_vocab, d_model]: embedding rows
  wpe: tf.Tensor2D; // [n_ctx, d_model]
  lnF: { w: tf.Tensor1D; b: tf.Tensor1D };
  /** [d_vocab, d_model]: rows of the unembedding (wte when tied, else lm_head.weight) */
  unembedRows: tf.Tensor2D;
  layers: LayerWeights[];
  /** made on the first backward pass that hands over head-major input gradients (EAP) */
  inputGradFold?: InputGradFold[];
}

/**
 * The q/k/v projections with the first norm folded in, for R = 3H per-head inputs (the q of every
 * head, then k, then v). With h = LN(x) = xhat·w + b and a_r = h @ W_r + bias_r:
 *
 *   forward (edge patching):  a_r = inv·(x @ W̃_rᵀ) + c_r
 *   backward (EAP):           ∂M/∂x_r = (inv·ĝ_r) @ W̃_r − (inv·ĝ_r·(a_r − c_r)/D)·xhat,   ĝ_r = ∂M/∂a_r
 *
 * where W̃_r = W_rᵀ·diag(w) with each row centred over d_model (the norm's mean, folded into the
 * weight) and c_r = bias_r + b @ W_r (so that a_r − c_r = W̃_r·xhat, from the forward's own a_r).
 */
export interface InputGradFold {
  wt: tf.Tensor3D; // [R, d_head, d_model]
  c: tf.Tensor3D; // [R, 1, d_head]
}

export function loadGpt2Weights(dir: string, cfg: ModelConfig): { weights: Gpt2Weights; info: CheckpointInfo } {
  const { dModel: D, dMlp: M, dVocab: V, nCtx: C } = cfg;
  const model = `a GPT-2 model of n_layer ${cfg.nLayers}, n_head ${cfg.nHeads}, n_embd ${D} (config.json)`;
  return loadWeights(dir, 'transformer.', model, (r) => {
    const wte = r.matrix('wte.weight', V, D);
    const wpe = r.matrix('wpe.weight', C, D);
    const layers: LayerWeights[] = [];
    for (let l = 0; l < cfg.nLayers; l++) {
      const p = `h.${l}.`;
      // c_attn is [d_model, 3·d_model] = [q | k | v] column blocks: split on the JS side, once.
      const attn = r.raw(p + 'attn.c_attn.weight', [D, 3 * D]);
      const attnB = r.raw(p + 'attn.c_attn.bias', [3 * D]);
      const cols = (k: number) => {
        const out = new Float32Array(D * D);
        for (let row = 0; row < D; row++) out.set(attn.subarray(row * 3 * D + k * D, row * 3 * D + (k + 1) * D), row * D);
        return r.own(tf.tensor2d(out, [D, D]));
      };
      const bias = (k: number) => r.own(tf.tensor1d(attnB.slice(k * D, (k + 1) * D)));
      layers.push({
        ln1: { w: r.vector(p + 'ln_1.weight', D), b: r.vector(p + 'ln_1.bias', D) },
        wq: cols(0), bq: bias(0), wk: cols(1), bk: bias(1), wv: cols(2), bv: bias(2),
        wo: r.matrix(p + 'attn.c_proj.weight', D, D), bo: r.vector(p + 'attn.c_proj.bias', D),
        ln2: { w: r.vector(p + 'ln_2.weight', D), b: r.vector(p + 'ln_2.bias', D) },
        wfc: r.matrix(p + 'mlp.c_fc.weight', D, M), bfc: r.vector(p + 'mlp.c_fc.bias', M),
        wproj: r.matrix(p + 'mlp.c_proj.weight', M, D), bproj: r.vector(p + 'mlp.c_proj.bias', D),
      });
    }
    const lnF = { w: r.vector('ln_f.weight', D), b: r.vector('ln_f.bias', D) };
    // Hugging Face keeps lm_head.weight as [d_vocab, d_model]; when absent it is tied to wte.
    // Untied but absent, transformers would start it from random weights: no model to study.
    if (!cfg.tiedEmbeddings && !r.has('lm_head.weight')) {
      throw badModel(`${dir}: config.json sets tie_word_embeddings to false, but the checkpoint has no lm_head.weight (transformers would initialise it at random)`);
    }
    const unembedRows = r.has('lm_head.weight') ? r.matrix('lm_head.weight', V, D) : wte;
    return { wte, wpe, lnF, unembedRows, layers };
  });
}

/** The folded input-gradient weights of every layer, made once. */
export function inputGradFold(w: Gpt2Weights, H: number): InputGradFold[] {
  w.inputGradFold ??= w.layers.map((l) =>
    tf.tidy(() => {
      const [D] = l.wq.shape;
      const dh = D / H;
      const mats = [l.wq, l.wk, l.wv];
      // W [D, H·dh] → Wᵀ per head [H, dh, D], scaled by the norm's weight along D, rows centred
      const wt = tf.concat(mats.map((m) => tf.reshape(tf.transpose(m), [H, dh, D])), 0);
      const scaled = tf.mul(wt, l.ln1.w);
      const centred = tf.sub(scaled, tf.mean(scaled, -1, true)) as tf.Tensor3D;
      const lnB = tf.reshape(l.ln1.b, [1, D]) as tf.Tensor2D;
      const c = tf.concat(
        mats.map((m, i) => tf.reshape(tf.add(tf.matMul(lnB, m), [l.bq, l.bk, l.bv][i]), [H, 1, dh])),
        0,
      ) as tf.Tensor3D;
      return { wt: tf.keep(centred), c: tf.keep(c) };
    }),
  );
  return w.inputGradFold;
}

export function disposeGpt2Weights(w: Gpt2Weights): void {
  const all: tf.Tensor[] = [w.wte, w.wpe, w.lnF.w, w.lnF.b];
  if (w.unembedRows !== w.wte) all.push(w.unembedRows);
  for (const l of w.layers) {
    all.push(l.ln1.w, l.ln1.b, l.wq, l.bq, l.wk, l.bk, l.wv, l.bv, l.wo, l.bo, l.ln2.w, l.ln2.b, l.wfc, l.bfc, l.wproj, l.bproj);
  }
  for (const t of w.inputGradFold ?? []) all.push(t.wt, t.c);
  tf.dispose(all);
}
