/**
 * Per-head pieces of attention for circuit discovery (TransformerLens's use_split_qkv_input,
 * use_attn_result): each head reads its own copy of the residual stream and writes its own result.
 *
 * The fused projections stay the only stored weights ([d_model, heads·d_head], [heads·d_head,
 * d_model]); each call views or transposes one layer's matrix into its per-head form, which costs
 * d_model² floats for the duration of the call, where a cached per-head copy would cost a second
 * set of attention weights for the life of the model.
 */
import * as tf from '@tensorflow/tfjs-core';

/** One copy of the residual stream per head: x [N, P, D] → [N, P, heads, D]. */
export function headCopies(x: tf.Tensor, heads: number): tf.Tensor4D {
  const [n, p, d] = x.shape;
  return tf.mul(tf.reshape(x, [n, p, 1, d]), tf.ones([1, 1, heads, 1])) as tf.Tensor4D;
}

/** [N, P, heads, x] → [heads, N·P, x]: one matrix per head, for a batched matmul */
function byHead(t: tf.Tensor): tf.Tensor3D {
  const [n, p, heads, x] = t.shape;
  return tf.reshape(tf.transpose(t, [2, 0, 1, 3]), [heads, n * p, x]);
}

/** [heads, N·P, y] → [N, P, heads, y] */
function fromHeads(t: tf.Tensor3D, n: number, p: number): tf.Tensor4D {
  const [heads, , y] = t.shape;
  return tf.transpose(tf.reshape(t, [heads, n, p, y]), [1, 2, 0, 3]) as tf.Tensor4D;
}

/**
 * Each head's own projection of its own (normed) copy: x [N, P, heads, D] with w [D, heads·dh]
 * (+ b [heads·dh]) → [N, P, heads, dh].
 */
export function perHeadIn(x: tf.Tensor, w: tf.Tensor2D, b: tf.Tensor1D | undefined, heads: number): tf.Tensor4D {
  const [n, p, , d] = x.shape;
  const dh = w.shape[1] / heads;
  const wh = tf.transpose(tf.reshape(w, [d, heads, dh]), [1, 0, 2]) as tf.Tensor3D; // [heads, D, dh]
  const y = fromHeads(tf.matMul(byHead(x), wh), n, p);
  return b ? (tf.add(y, tf.reshape(b, [heads, dh])) as tf.Tensor4D) : y;
}

/** Each head's write to the residual stream, head-major: z [N, Q, H, dh] with W_O [H·dh, D] → [H, N·Q, D]. */
export function headResults(z: tf.Tensor, wo: tf.Tensor2D): tf.Tensor3D {
  const [, , H, dh] = z.shape;
  return tf.matMul(byHead(z), tf.reshape(wo, [H, dh, wo.shape[1]]) as tf.Tensor3D);
}

/** The same as attn.hook_result [N, Q, H, D]. */
export function perHeadOut(z: tf.Tensor, wo: tf.Tensor2D): tf.Tensor4D {
  return fromHeads(headResults(z, wo), z.shape[0]!, z.shape[1]!);
}

/**
 * The gradient at each head's own input, before the norm's backward: g [N, P, heads, dh] through
 * that head's columns of w [D, heads·dh] → [N, P, heads, D].
 */
export function perHeadInBackward(g: tf.Tensor, w: tf.Tensor2D): tf.Tensor4D {
  return fromHeads(perHeadInBackwardHeadMajor(g, w), g.shape[0]!, g.shape[1]!);
}

/** The same, head-major: [heads, N·P, D]. */
export function perHeadInBackwardHeadMajor(g: tf.Tensor, w: tf.Tensor2D): tf.Tensor3D {
  const [, , heads, dh] = g.shape;
  const d = w.shape[0];
  const whT = tf.transpose(tf.reshape(w, [d, heads, dh]), [1, 2, 0]) as tf.Tensor3D; // [heads, dh, D]
  return tf.matMul(byHead(g), whT);
}
