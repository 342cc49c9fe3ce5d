/**
 * One thread's share of a training step: its batches forward and backward, gradients summed into
 * `grads`. The same function runs on the main thread and in worker.ts, so the two cores split
 * every step (tfjs's wasm backend is single-threaded in Node).
 */
import { disposeWeights, lossAndGrads, uploadWeights, type Batch } from './grad.ts';
import type { ArchConfig, ParamLayout } from './params.ts';

export interface ShardResult {
  loss: number;
  weight: number;
  /** −log p(target) per position, per batch */
  nll: Float32Array[];
}

export function runShard(cfg: ArchConfig, layout: ParamLayout, params: Float32Array, chunks: Batch[], grads: Float32Array): ShardResult {
  grads.fill(0);
  const w = uploadWeights(cfg, layout, params);
  let loss = 0;
  let weight = 0;
  const nll: Float32Array[] = [];
  try {
    for (const b of chunks) {
      const out = new Float32Array(b.n * b.p);
      const r = lossAndGrads(cfg, layout, w, b, grads, out);
      loss += r.loss;
      weight += r.weight;
      nll.push(out);
    }
  } finally {
    disposeWeights(w);
  }
  return { loss, weight, nll };
}
