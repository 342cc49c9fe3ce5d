/**
 * `npm run bench:heap -- [--size small|medium|large] [--model DIR] [--pairs 8] [--pos 16]`
 *
 * How much of the wasm backend's heap (capped at 4 GB per thread) a model takes, on one thread:
 * after loading, after exhaustive activation patching of `resid_pre`, and after attribution
 * patching of every kind (whose backward pass adds transposed copies of the weights). Tells which
 * model sizes fit; the README quotes its figures.
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { HookedModel } from '../engine/model.ts';
import { KINDS } from '../engine/patching/components.ts';
import { runPatching } from '../engine/patching/index.ts';
import { GPT2_SHAPES, randomGpt2, randomPairs } from './checkpoints.ts';

const { values: a } = parseArgs({
  options: {
    size: { type: 'string', default: 'small' },
    model: { type: 'string' },
    pairs: { type: 'string', default: '8' },
    pos: { type: 'string', default: '16' },
  },
});
if (!a.model && !(a.size! in GPT2_SHAPES)) throw new Error(`--size ${a.size}: use one of ${Object.keys(GPT2_SHAPES).join(', ')}`);
const model = await HookedModel.load(a.model ?? randomGpt2(a.size as keyof typeof GPT2_SHAPES));
if (tf.getBackend() !== 'wasm') throw new Error(`the heap is the wasm backend's; this run is on ${model.info.backend}`);
const heapGiB = () => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.buffer.byteLength / 2 ** 30;
const pairs = randomPairs(model.config.dVocab, Number(a.pairs), Number(a.pos));
const request = { direction: 'denoising', metric: 'logit-diff' } as const;
const result: Record<string, number | string> = { model: model.info.name, backend: model.info.backend, loaded_gib: heapGiB() };
await runPatching(model, pairs, { ...request, kinds: ['resid_pre'], method: 'activation' });
result.after_activation_gib = heapGiB();
await runPatching(model, pairs, { ...request, kinds: [...KINDS], method: 'attribution' });
result.after_attribution_gib = heapGiB();
console.log(JSON.stringify(result));
model.dispose();
