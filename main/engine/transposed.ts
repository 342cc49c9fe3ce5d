/**
 * Products with a weight's transpose, `g @ wᵀ`: the backward pass through `y = x @ w`, and the
 * unembedding through its stored rows. Where the native kernel computes `a · bᵀ` (or the backend is
 * not wasm) the weight is read as stored. Elsewhere tfjs-wasm's transposed kernels are 10–30× slower,
 * so a transposed copy of each weight is made on first use and kept until `dispose`; memory.ts
 * (memoryNeed) counts those copies when it decides whether a model fits.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fastTransposedMatMul } from './native-matmul.ts';

export class TransposedProducts {
  private readonly copies = new Map<tf.Tensor2D, tf.Tensor2D>();

  /** g [..., out] with w [in, out] → g @ wᵀ [..., in] */
  times(g: tf.Tensor, w: tf.Tensor2D): tf.Tensor {
    const out = g.shape[g.rank - 1];
    const g2 = tf.reshape(g, [-1, out]) as tf.Tensor2D;
    const y = fastTransposedMatMul() ? tf.matMul(g2, w, false, true) : tf.matMul(g2, this.copyOf(w));
    return tf.reshape(y, [...g.shape.slice(0, -1), w.shape[0]]);
  }

  /** wᵀ, made once (kept, so a first call inside a tidy does not lose it) */
  copyOf(w: tf.Tensor2D): tf.Tensor2D {
    let t = this.copies.get(w);
    if (!t) {
      t = tf.keep(tf.transpose(w));
      this.copies.set(w, t);
    }
    return t;
  }

  dispose(): void {
    tf.dispose([...this.copies.values()]);
    this.copies.clear();
  }
}
