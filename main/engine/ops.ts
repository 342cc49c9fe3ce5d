/** Small tensor helpers shared by the architectures and the patching code. */
import * as tf from '@tensorflow/tfjs-core';

/** Repeats t along axis 0 (variant-major) until it has n rows. */
export function tileTo<T extends tf.Tensor>(t: T, n: number): T {
  const rows = t.shape[0];
  if (rows === n) return t;
  if (n % rows !== 0) throw new Error(`cannot tile batch ${rows} to ${n}`);
  // concat copies whole blocks; wasm's Tile kernel indexes element by element and is ~40× slower.
  return tf.concat(new Array<T>(n / rows).fill(t), 0) as T;
}

/** t sliced along `axis` to [start, start + len); t itself when that is all of it. */
export function sliceAxis(t: tf.Tensor, axis: number, start: number, len: number): tf.Tensor {
  if (start === 0 && t.shape[axis] === len) return t;
  const begin = t.shape.map((_, i) => (i === axis ? start : 0));
  const size = t.shape.map((d, i) => (i === axis ? len : d));
  return tf.slice(t, begin, size);
}

/**
 * softmax(q kᵀ·scale + mask) for queries q [N, P, Hq, dh] and keys k [N, P, Hkv, dh] → [N, Hq, P, P].
 * Under grouped-query attention (Hkv < Hq) query head h reads KV head ⌊h / (Hq/Hkv)⌋. `mask` [P, P]
 * is additive (0 where a query may see a key, a large negative number elsewhere).
 */
export function attentionPatternFrom(q: tf.Tensor4D, k: tf.Tensor4D, scale: number, mask: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => {
    const [, , hq] = q.shape;
    const hkv = k.shape[2];
    if (hq % hkv !== 0) throw new Error(`${hq} query heads cannot share ${hkv} key/value heads`);
    const qT = tf.transpose(q, [0, 2, 1, 3]) as tf.Tensor4D; // [N, Hq, P, dh]
    let kT = tf.transpose(k, [0, 2, 3, 1]) as tf.Tensor4D; // [N, Hkv, dh, P]
    if (hkv < hq) {
      const group = hq / hkv;
      kT = tf.gather(kT, tf.tensor1d(Array.from({ length: hq }, (_, h) => Math.floor(h / group)), 'int32'), 1); // [N, Hq, dh, P]
    }
    return tf.softmax(tf.add(tf.mul(tf.matMul(qT, kT), scale), mask)) as tf.Tensor4D;
  });
}
