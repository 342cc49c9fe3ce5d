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
