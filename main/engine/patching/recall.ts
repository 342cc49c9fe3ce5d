/**
 * The cost of verified recall (AtP*, Kramár et al. 2024, §4): how many activation-patching runs a
 * researcher needs when verifying components in a ranking's order before the true top-K (by
 * |activation effect|, from exhaustive activation patching) have all been found. The ranking's own
 * passes are not counted.
 */
import { topK } from './summary.ts';

export interface RecallCurve {
  /** K: size of the true top set (capped at the number of components) */
  k: number;
  /** curve[i] = fraction of the true top-K among the first i + 1 components of the ranking */
  curve: number[];
  /** verifications needed to find all of the true top-K */
  verifications_to_all: number;
  /** area under the curve, (1/N) Σ_k recall(k) */
  auc: number;
}

/** Components in ranking order: largest |score| first, ties by index; non-finite scores last. */
export function rankingOrder(scores: ArrayLike<number>): number[] {
  const mag = (i: number) => (Number.isFinite(scores[i]) ? Math.abs(scores[i]) : -1);
  return Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => mag(b) - mag(a) || a - b);
}

/** Recall after each verification, for `scores` against exhaustive `activation` (same length). */
export function verifiedRecall(scores: ArrayLike<number>, activation: Float32Array, k: number): RecallCurve {
  const N = activation.length;
  const K = Math.max(1, Math.min(k, N));
  const truth = new Set(topK(activation, K)); // non-finite activations are never in it
  const curve: number[] = [];
  let found = 0;
  let toAll = N;
  for (const [i, c] of rankingOrder(scores).entries()) {
    if (truth.has(c)) found++;
    if (found === truth.size && toAll === N) toAll = i + 1;
    curve.push(found / truth.size);
  }
  return { k: K, curve, verifications_to_all: toAll, auc: curve.reduce((a, b) => a + b, 0) / N };
}
