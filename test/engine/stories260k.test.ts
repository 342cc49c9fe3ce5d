/**
 * stories260K (test/fixtures/stories260K: Karpathy's llama2.c model trained on TinyStories, in
 * Hugging Face's Llama layout; 5 layers, 8 query heads on 4 key/value heads, tied embeddings) on the
 * engine against the float64 reference and against the numbers its SOURCE gives (an fp64 numpy
 * forward pass of the original llama2.c checkpoint): next-token logits, a greedy continuation, and
 * the per-token loss of a short story. Token ids are given directly (llama2.c's tokenizer, by hand),
 * so this checks the model alone.
 */
import * as tf from '@tensorflow/tfjs-core';
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Architecture } from '../../main/engine/architecture.ts';
import { initBackend } from '../../main/engine/backend.ts';
import { readConfig } from '../../main/engine/config.ts';
import { loadLlama } from '../../main/engine/llama/index.ts';
import { passThrough } from '../../main/engine/architecture.ts';
import { assertClose, FIXTURES } from '../helpers.ts';
import { loadRefModel, type RefModel } from '../reference/model.ts';

const DIR = FIXTURES + 'stories260K';
/** "Once upon a time" with BOS */
const PROMPT = [1, 403, 407, 261, 378];
/** the source's top-5 next tokens and logits (rounded to 4 decimals) */
const TOP5: [number, number][] = [[432, 17.7994], [383, 14.2813], [322, 9.7097], [353, 9.5873], [323, 9.1342]];
/** the source's greedy continuation: ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball." */
const GREEDY = [432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352, 266, 268, 388, 426];
/** "Once upon a time, there was a little dog named Max. Max liked to run in the park with his friend Tom. One day, they found a big red ball." */
const STORY = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 400, 428, 395, 392, 412, 444, 426, 392, 412, 444, 397, 355, 267, 352, 379, 322, 265, 282, 295, 433, 335, 345, 374, 274, 287, 426, 385, 328, 432, 366, 272, 277, 264, 261, 370, 352, 266, 268, 388, 426];

let arch: Architecture;
let ref: RefModel;

before(async () => {
  await initBackend();
  arch = loadLlama(DIR, readConfig(DIR)).arch;
  ref = loadRefModel(DIR);
});

/** Logits [P, V] at every position of one prompt: the final norm applied to each position's residual. */
function allLogits(ids: number[]): Float32Array {
  return tf.tidy(() => {
    let x = arch.embed(tf.tensor2d([ids], [1, ids.length], 'int32'), passThrough);
    for (let l = 0; l < arch.config.nLayers; l++) x = arch.block(l, x, { p0: 0, lastOnly: false, hook: passThrough }).out;
    const perPosition = tf.reshape(x, [ids.length, 1, arch.config.dModel]) as tf.Tensor3D; // each position as its own "last"
    return tf.matMul(arch.finalNorm(perPosition), arch.unembed).dataSync() as Float32Array;
  });
}

const lastRow = (logits: Float32Array, V: number) => logits.subarray(logits.length - V);
const argmax = (x: ArrayLike<number>) => Array.from(x).reduce((best, v, i, a) => (v > a[best] ? i : best), 0);

describe('stories260K', () => {
  test('the float64 reference gives the source numbers', () => {
    const V = ref.config.dVocab;
    const logits = ref.forward([PROMPT]).data.subarray((PROMPT.length - 1) * V);
    const top = [...logits.keys()].sort((a, b) => logits[b] - logits[a]).slice(0, 5);
    assert.deepEqual(top, TOP5.map(([id]) => id));
    assertClose(top.map((id) => logits[id]), TOP5.map(([, v]) => v), 6e-5, 'reference top-5 logits');
  });

  test('next-token logits match the reference to 1e-4 and the source top-5', () => {
    const V = arch.config.dVocab;
    const got = lastRow(allLogits(PROMPT), V);
    const want = ref.forward([PROMPT]).data.subarray((PROMPT.length - 1) * V);
    assertClose(got, want, 1e-4, 'logits after "Once upon a time"');
    const top = [...got.keys()].sort((a, b) => got[b] - got[a]).slice(0, 5);
    assert.deepEqual(top, TOP5.map(([id]) => id));
  });

  test('greedy decoding continues the story as the source does', () => {
    const ids = [...PROMPT];
    while (ids.length < PROMPT.length + GREEDY.length) ids.push(argmax(lastRow(allLogits(ids), arch.config.dVocab)));
    assert.deepEqual(ids.slice(PROMPT.length), GREEDY);
  });

  test('per-token loss of a short story matches the reference', () => {
    const V = arch.config.dVocab;
    const P = STORY.length;
    const lossAt = (logits: ArrayLike<number>, p: number) => {
      let max = -Infinity;
      for (let i = 0; i < V; i++) max = Math.max(max, logits[p * V + i]);
      let z = 0;
      for (let i = 0; i < V; i++) z += Math.exp(logits[p * V + i] - max);
      return max + Math.log(z) - logits[p * V + STORY[p + 1]];
    };
    const got = allLogits(STORY);
    const want = ref.forward([STORY]).data;
    const engine = Array.from({ length: P - 1 }, (_, p) => lossAt(got, p));
    const reference = Array.from({ length: P - 1 }, (_, p) => lossAt(want, p));
    assertClose(engine, reference, 1e-4, 'per-token loss');
    const mean = reference.reduce((a, b) => a + b, 0) / reference.length;
    // A trained model: far below a uniform guess (ln 512 ≈ 6.24), near its validation loss of 1.30.
    assert.ok(mean > 0.5 && mean < 2, `mean loss ${mean.toFixed(3)} nats per token`);
  });
});
