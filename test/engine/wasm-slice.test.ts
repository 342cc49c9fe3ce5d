/**
 * The wasm backend's Slice kernel (main/engine/wasm-slice.ts), which reads its input in place:
 * every rank, contiguous and strided boxes, int32 and bool, against slices taken here by index.
 */
import * as tf from '@tensorflow/tfjs-core';
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { useBackend } from '../helpers.ts';

/** x[begin … begin + size) of a row-major array of `shape`, by index. */
function sliceByIndex(data: ArrayLike<number>, shape: number[], begin: number[], size: number[]): number[] {
  const strides = tf.util.computeStrides(shape);
  const out: number[] = [];
  const walk = (axis: number, offset: number) => {
    if (axis === shape.length) return void out.push(data[offset]);
    for (let i = 0; i < size[axis]; i++) walk(axis + 1, offset + (begin[axis] + i) * (axis === shape.length - 1 ? 1 : strides[axis]));
  };
  walk(0, 0);
  return out;
}

describe('the wasm Slice kernel', () => {
  before(() => useBackend('wasm'));

  const cases: [number[], number[], number[]][] = [
    [[10], [3], [4]],
    [[157, 20], [0, 0], [100, 20]], // a prefix of rows: one copy
    [[6, 9], [2, 3], [3, 5]],
    [[4, 5, 6], [1, 0, 2], [2, 5, 3]],
    [[3, 4, 16, 8], [0, 1, 15, 0], [3, 2, 1, 8]], // the last position of [rows, N, P, D]
    [[2, 3, 4, 5, 6], [1, 1, 0, 2, 3], [1, 2, 4, 2, 3]],
    [[5, 7], [0, 0], [0, 7]],
  ];
  for (const [shape, begin, size] of cases) {
    test(`[${shape}] from [${begin}] size [${size}]`, () => {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = Float32Array.from({ length: n }, (_, i) => i * 0.5 - 3);
      const got = tf.tidy(() => tf.slice(tf.tensor(data, shape), begin, size));
      assert.deepEqual(got.shape, size);
      assert.deepEqual(Array.from(got.dataSync()), sliceByIndex(data, shape, begin, size));
      got.dispose();
    });
  }

  test('int32 and bool tensors, and -1 sizes', () => {
    const ints = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32');
    assert.deepEqual(Array.from(tf.slice(ints, [1, 1], [-1, 1]).dataSync()), [4, 6]);
    const bools = tf.tensor1d([1, 0, 1, 1], 'bool');
    assert.deepEqual(Array.from(tf.slice(bools, [1], [2]).dataSync()), [0, 1]);
    tf.dispose([ints, bools]);
  });
});
