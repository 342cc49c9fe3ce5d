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

/** Transposed copies for the backward pass: `g @ wT` is the gradient through `h @ w`. */
export interface DecoderLayerT {
  wqT: tf.Tensor2D; wkT: tf.Tensor2D; wvT: tf.Tensor2D; woT: tf.Tensor2D; wInT: tf.Tensor2D; wUpT?: tf.Tensor2D; wOutT: tf.Tensor2D;
}

export interface DecoderWeights {
  embed: tf.Tensor2D; // [d_vocab, d_model]
  lnF: Norm;
  /** [d_vocab, d_model]: rows of the unembedding (the embedding when tied) */
  unembedRows: tf.Tensor2D;
  /** [d_model, d_vocab], made on first use (not at all where the native kernel multiplies by unembedRowsᵀ) */
  unembed?: tf.Tensor2D;
  layers: DecoderLayer[];
  /** made on the first backward pass */
  transposed?: DecoderLayerT[];
}

export function transposedWeights(w: DecoderWeights): DecoderLayerT[] {
  w.transposed ??= w.layers.map((l) =>
    tf.tidy(() => ({
      wqT: tf.transpose(l.wq) as tf.Tensor2D,
      wkT: tf.transpose(l.wk) as tf.Tensor2D,
      wvT: tf.transpose(l.wv) as tf.Tensor2D,
      woT: tf.transpose(l.wo) as tf.Tensor2D,
      wInT: tf.transpose(l.wIn) as tf.Tensor2D,
      ...(l.wUp ? { wUpT: tf.transpose(l.wUp) as tf.Tensor2D } : {}),
      wOutT: tf.transpose(l.wOut) as tf.Tensor2D,
    })),
  );
  return w.transposed;
}

export function disposeDecoderWeights(w: DecoderWeights): void {
  const all = new Set<tf.Tensor | undefined>([w.embed, w.lnF.w, w.lnF.b, w.unembedRows, w.unembed]);
  for (const l of w.layers) {
    for (const v of Object.values(l) as (tf.Tensor | Norm | undefined)[]) {
      if (v instanceof tf.Tensor) all.add(v);
      else if (v) [v.w, v.b].forEach((x) => all.add(x));
    }
  }
  for (const t of w.transposed ?? []) for (const x of Object.values(t)) all.add(x);
  tf.dispose([...all].filter((t): t is tf.Tensor => !!t));
  w.transposed = undefined;
}

/** `[out, in]` row-major (nn.Linear) → `[in, out]`, in blocks so both sides stay in cache. */
export function transposeRows(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  const B = 64;
  for (let r0 = 0; r0 < rows; r0 += B) {
    for (let c0 = 0; c0 < cols; c0 += B) {
      const r1 = Math.min(rows, r0 + B);
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = src[r * cols + c];
    }
  }
  return out;
}
