/**
 * Reading a checkpoint into a family's weights, the same for every family: tensors by name
 * (without the family's prefix), shapes and values checked by the Checkpoint, nn.Linear weights
 * transposed to [in, out] once, every tensor made so far freed if any later one is missing or
 * malformed, and tensors left unread refused.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Checkpoint } from './checkpoint.ts';
import type { Dtype } from './safetensors.ts';

export interface CheckpointInfo {
  files: string[];
  dtypes: Dtype[];
  /** number of parameters in the checkpoint (tied matrices counted once) */
  paramCount: number;
}

export interface WeightReader {
  has(name: string): boolean;
  /** [n] */
  vector(name: string, n: number): tf.Tensor1D;
  /** an nn.Linear weight stored [out, in], as [in, out] */
  linear(name: string, out: number, inp: number): tf.Tensor2D;
  /** a matrix as stored, [rows, cols] */
  matrix(name: string, rows: number, cols: number): tf.Tensor2D;
  /** the raw float32 data of a tensor, for layouts the family splits itself */
  raw(name: string, shape: number[]): Float32Array;
  /** registers a tensor made from raw data, so it is freed on failure */
  own<T extends tf.Tensor>(t: T): T;
}

/**
 * `build` makes the weights from the reader; `model` names what config.json describes, for the
 * error when the checkpoint holds more.
 */
export function loadWeights<W>(dir: string, prefix: string, model: string, build: (r: WeightReader) => W): { weights: W; info: CheckpointInfo } {
  const ckpt = Checkpoint.open(dir, { prefixes: [prefix] });
  const created: tf.Tensor[] = [];
  const own = <T extends tf.Tensor>(t: T): T => (created.push(t), t);
  const reader: WeightReader = {
    has: (name) => ckpt.has(name),
    raw: (name, shape) => ckpt.read(name, shape),
    own,
    vector: (name, n) => own(tf.tensor1d(ckpt.read(name, [n]))),
    linear: (name, out, inp) => own(tf.tensor2d(transposeRows(ckpt.read(name, [out, inp]), out, inp), [inp, out])),
    matrix: (name, rows, cols) => own(tf.tensor2d(ckpt.read(name, [rows, cols]), [rows, cols])),
  };
  try {
    const weights = build(reader);
    ckpt.checkAllUsed(model);
    return { weights, info: { files: ckpt.paths, dtypes: [...ckpt.dtypes].sort(), paramCount: ckpt.paramCount } };
  } catch (e) {
    tf.dispose(created);
    throw e;
  } finally {
    ckpt.close();
  }
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
