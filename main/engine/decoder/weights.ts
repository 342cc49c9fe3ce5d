/**
 * Weights of a pre-norm decoder (Llama, Mistral, Qwen2, GPT-NeoX) as tfjs tensors, laid out for
 * plain matmuls `x [.., in] @ w [in, out]` (Hugging Face stores nn.Linear as [out, in]; the family
 * loaders transpose once at load). Biases and the SwiGLU up-projection are present only where the
 * family has them.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface Norm {
  w: tf.Tensor1D;
  /** LayerNorm's bias; absent for RMSNorm */
  b?: tf.Tensor1D;
}

export interface DecoderLayer {
  ln1: Norm;
  ln2: Norm;
  wq: tf.Tensor2D; bq?: tf.Tensor1D; // [d_model, head·d_head]
  wk: tf.Tensor2D; bk?: tf.Tensor1D; // [d_model, kv_head·d_head]
  wv: tf.Tensor2D; bv?: tf.Tensor1D;
  wo: tf.Tensor2D; bo?: tf.Tensor1D; // [head·d_head, d_model]
  /** the gate (SwiGLU) or the first MLP layer [d_model, d_mlp] */
  wIn: tf.Tensor2D; bIn?: tf.Tensor1D;
  /** SwiGLU's up projection [d_model, d_mlp] */
  wUp?: tf.Tensor2D; bUp?: tf.Tensor1D;
  wOut: tf.Tensor2D; bOut?: tf.Tensor1D; // [d_mlp, d_model]
}

export interface DecoderWeights {
  embed: tf.Tensor2D; // [d_vocab, d_model]
  lnF: Norm;
  /** [d_vocab, d_model]: rows of the unembedding (the embedding when tied) */
  unembedRows: tf.Tensor2D;
  layers: DecoderLayer[];
}

export function disposeDecoderWeights(w: DecoderWeights): void {
  const all = new Set<tf.Tensor | undefined>([w.embed, w.lnF.w, w.lnF.b, w.unembedRows]);
  for (const l of w.layers) {
    for (const v of Object.values(l) as (tf.Tensor | Norm | undefined)[]) {
      if (v instanceof tf.Tensor) all.add(v);
      else if (v) [v.w, v.b].forEach((x) => all.add(x));
    }
  }
  tf.dispose([...all].filter((t): t is tf.Tensor => !!t));
}
