/**
 * The metric of the unpatched clean and corrupted runs, for the editor to show before any job
 * runs: the two ends of the normalised scale (corrupted = 0, clean = 1) that patching results use.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { MetricName } from '../engine/metrics.ts';
import type { HookedModel } from '../engine/model.ts';
import { meanMetric } from '../engine/patching/runs.ts';

export async function meanMetricOf(model: HookedModel, metric: MetricName, tokens: number[][], t: { answer: number[]; wrong: number[] }): Promise<number> {
  const ids = model.tokensTensor(tokens);
  const { final } = model.run(ids, { lastOnlyFinal: true });
  try {
    return await meanMetric(model, metric, final, t);
  } finally {
    tf.dispose([ids, final]);
  }
}
