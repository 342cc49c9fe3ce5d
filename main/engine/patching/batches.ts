/**
 * How many pairs a patching part may hold at once. A part keeps, for every pair in it, the source
 * and base activations of each patched site, the base run's tape (attribution) or keys, values and
 * residual streams (activation patching), and one layer's working set; all of it grows linearly
 * with the pairs. So a job is planned as batches whose estimated footprint fits in a share of the
 * heap the model leaves free, and the pairs are streamed through them (patching/index.ts): memory
 * stays flat however many pairs there are.
 */
import * as tf from '@tensorflow/tfjs-core';
import { totalmem } from 'node:os';
import type { ModelConfig } from '../config.ts';
import { KIND_SPECS, type Kind } from './components.ts';

const GiB = 2 ** 30;
/** wasm32's address space; the other backends get the same ceiling, bounded by the machine's memory */
const HEAP_CAP = 4 * GiB;
/** the most a batch may plan for, so that peak memory does not grow with the pairs past this */
const MAX_BATCH_BYTES = 512 * 2 ** 20;
/** the least, so that a nearly full heap still makes progress (one pair at a time if need be) */
const MIN_BATCH_BYTES = 32 * 2 ** 20;

export interface BatchPlanInput {
  config: Pick<ModelConfig, 'nLayers' | 'nHeads' | 'dModel' | 'dMlp' | 'dVocab'>;
  /**
   * bytes of transposed weight copies the backward pass makes on first use, for attribution
   * (memory.ts memoryNeed: none where the native kernel reads weights as stored)
   */
  copyBytes: number;
  /** tokens per prompt */
  positions: number;
  kinds: Kind[];
  attribution: boolean;
  activation: boolean;
  /** bytes the backend's tensors use now (default: tf.memory()) */
  usedBytes?: number;
}

/** Floats of one pair's activation at a hook site, per layer. */
function siteFloats(kind: Kind, c: BatchPlanInput['config'], P: number): number {
  if (kind === 'head_pattern') return c.nHeads * P * P;
  if (kind === 'neuron') return P * c.dMlp;
  return P * c.dModel;
}

/** Estimated bytes one pair costs a part, over all layers (see the module comment). */
export function bytesPerPair(o: BatchPlanInput): number {
  const { dModel: D, dMlp: M, nHeads: H, nLayers: L, dVocab: V } = o.config;
  const P = o.positions;
  const sites = new Map<string, number>();
  for (const k of o.kinds) sites.set(KIND_SPECS[k].site, siteFloats(k, o.config, P));
  let perLayer = 2 * [...sites.values()].reduce((a, b) => a + b, 0); // source and base
  if (o.attribution) perLayer += 5 * P * D + P * M + H * P * P + 2 * P; // the tape
  if (o.activation) perLayer += 3 * P * D; // keys, values, resid_pre of the base run
  // One layer in flight (forward, backward or a patched variant), with its temporaries.
  const working = 2 * (P * (6 * D + 3 * M) + 3 * H * P * P);
  return 4 * (L * perLayer + working + 4 * V);
}

/** Bytes of the heap no tensor uses yet (`heapBytes`: the heap's ceiling, default HEAP_CAP within half the machine's memory). */
export function heapFree(usedBytes = tf.memory().numBytes, heapBytes = Math.min(HEAP_CAP, totalmem() / 2)): number {
  return Math.max(0, heapBytes - usedBytes);
}

/**
 * Pairs per batch: the heap share the model leaves free (half of it, as the allocator fragments), at
 * most MAX_BATCH_BYTES, over bytesPerPair.
 */
export function planBatchPairs(o: BatchPlanInput): number {
  const pending = o.attribution ? o.copyBytes : 0;
  const free = Math.max(0, heapFree(o.usedBytes) - pending);
  const budget = Math.min(MAX_BATCH_BYTES, Math.max(MIN_BATCH_BYTES, free / 2));
  return Math.max(1, Math.floor(budget / bytesPerPair(o)));
}

/** the most rows (variants × pairs × positions) an activation-patching group holds: more gains no speed */
const MAX_GROUP_ROWS = 4096;

/**
 * Rows per activation-patching group (activation.ts): one layer of a group's batch is in flight at a
 * time, about 16·d_model + 8·d_mlp + 4·heads·positions floats per row with the MLP's temporaries;
 * the group may take a quarter of the heap the model and the part's batch leave free (the allocator
 * fragments, and the batch's own runs are alive beside it). A small model gets MAX_GROUP_ROWS; GPT-2
 * large, with 2.9 GiB of weights in the 4 GiB heap, fewer.
 */
export function planGroupRows(o: { config: BatchPlanInput['config']; positions: number; usedBytes?: number; heapBytes?: number }): number {
  const { dModel: D, dMlp: M, nHeads: H } = o.config;
  const free = heapFree(o.usedBytes, o.heapBytes);
  const bytesPerRow = 4 * (16 * D + 8 * M + 4 * H * o.positions);
  return Math.max(o.positions, Math.min(MAX_GROUP_ROWS, Math.floor(free / 4 / bytesPerRow)));
}
