/**
 * Metrics read at the last position of each prompt, from the final-layer-normed residual r [N, D],
 * so that no metric needs more of the model than the unembedding. Rows are variant-major: row i
 * belongs to pair i mod B. Every metric is reported raw and normalised (corrupted = 0, clean = 1).
 */
import * as tf from '@tensorflow/tfjs-core';
import { badInput } from './errors.ts';
import { tileTo } from './ops.ts';
import type { HookedModel } from './model.ts';

export const METRICS = {
  'logit-diff': 'logit(answer) − logit(wrong) at the last position, mean over pairs',
  'prob-diff': 'p(answer) − p(wrong) at the last position, mean over pairs',
  logprob: 'log p(answer) at the last position, mean over pairs',
} as const;
export type MetricName = keyof typeof METRICS;

export function parseMetric(s: string): MetricName {
  if (!(s in METRICS)) throw badInput(`unknown metric "${s}" (use one of ${Object.keys(METRICS).join(', ')})`);
  return s as MetricName;
}

export interface Targets {
  answer: number[]; // per pair
  wrong: number[];
}

/** Per-row gathers: for row i of logits [N, V], the logit of ids[i mod B]. */
function pick(logits: tf.Tensor2D, ids: number[]): tf.Tensor1D {
  const [n, v] = logits.shape;
  const flat = new Int32Array(n);
  for (let i = 0; i < n; i++) flat[i] = i * v + ids[i % ids.length];
  return tf.gather(tf.reshape(logits, [n * v]), tf.tensor1d(flat, 'int32')) as tf.Tensor1D;
}

/** The metric of every row: r [N, D] → [N]. */
export function metricPerRow(model: HookedModel, metric: MetricName, r: tf.Tensor2D, t: Targets): tf.Tensor1D {
  return tf.tidy(() => {
    const n = r.shape[0];
    const B = t.answer.length;
    if (metric === 'logit-diff') {
      // Only two columns of the unembedding matter: r · (u_answer − u_wrong).
      const U = model.arch.unembedRows;
      const dirs = tf.sub(tf.gather(U, t.answer), tf.gather(U, t.wrong)); // [B, D]
      return tf.sum(tf.mul(r, tileTo(dirs, n)), -1) as tf.Tensor1D;
    }
    const logits = model.logits(r); // [N, V]
    const lse = tf.logSumExp(logits, -1) as tf.Tensor1D;
    const la = pick(logits, t.answer);
    if (metric === 'logprob') return tf.sub(la, lse);
    const lw = pick(logits, t.wrong);
    return tf.sub(tf.exp(tf.sub(la, lse)), tf.exp(tf.sub(lw, lse)));
  });
}

/** Mean over pairs of each variant: per-row values [V·B] → [V]. */
export function meanPerVariant(perRow: tf.Tensor1D, B: number): tf.Tensor1D {
  return tf.tidy(() => tf.mean(tf.reshape(perRow, [perRow.shape[0] / B, B]), 1) as tf.Tensor1D);
}

/** ∂(mean over the B rows of the metric)/∂r for r [B, D]. */
export function metricGradient(model: HookedModel, metric: MetricName, r: tf.Tensor2D, t: Targets): tf.Tensor2D {
  return tf.tidy(() => {
    const B = r.shape[0];
    const U = model.arch.unembedRows; // [V, D]
    const ua = tf.gather(U, t.answer);
    if (metric === 'logit-diff') return tf.div(tf.sub(ua, tf.gather(U, t.wrong)), B) as tf.Tensor2D;
    const logits = model.logits(r);
    const p = tf.softmax(logits); // [B, V]
    const pU = tf.matMul(p, U); // [B, D] = E_p[u]
    if (metric === 'logprob') return tf.div(tf.sub(ua, pU), B) as tf.Tensor2D;
    // d(p_a − p_w)/dr = p_a(u_a − E_p u) − p_w(u_w − E_p u)
    const pa = tf.reshape(tf.exp(tf.sub(pick(logits, t.answer), tf.logSumExp(logits, -1))), [B, 1]);
    const pw = tf.reshape(tf.exp(tf.sub(pick(logits, t.wrong), tf.logSumExp(logits, -1))), [B, 1]);
    const uw = tf.gather(U, t.wrong);
    return tf.div(tf.sub(tf.mul(pa, tf.sub(ua, pU)), tf.mul(pw, tf.sub(uw, pU))), B) as tf.Tensor2D;
  });
}
