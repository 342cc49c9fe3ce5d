/** Next-token prediction for one prompt: what the model thinks comes next, with probabilities. */
import * as tf from '@tensorflow/tfjs-core';
import { badInput } from './errors.ts';
import type { HookedModel } from './model.ts';

export interface TokenPrediction {
  id: number;
  token: string;
  logit: number;
  prob: number;
}

export interface Prediction {
  tokens: number[];
  tokenStrings: string[];
  top: TokenPrediction[];
}

export async function predictNext(model: HookedModel, prompt: string, o: { top?: number; prependBos?: boolean } = {}): Promise<Prediction> {
  const k = o.top ?? 10;
  if (!Number.isInteger(k) || k < 1) throw badInput(`--top must be a positive integer, got ${k}`);
  const ids = model.encodePrompt(prompt, o.prependBos ?? true);
  const t = model.tokensTensor([ids]);
  const { final } = model.run(t, { lastOnlyFinal: true });
  const [values, indices, logits] = tf.tidy(() => {
    const l = model.logits(final);
    const { values, indices } = tf.topk(l, Math.min(k, model.config.dVocab));
    return [values, indices, tf.logSumExp(l)];
  });
  const [v, i, lse] = await Promise.all([values.data(), indices.data(), logits.data()]);
  tf.dispose([t, final, values, indices, logits]);
  return {
    tokens: ids,
    tokenStrings: ids.map((id) => model.tokenizer.tokenString(id)),
    top: Array.from(i, (id, j) => ({ id, token: model.tokenizer.tokenString(id), logit: v[j], prob: Math.exp(v[j] - lse[0]) })),
  };
}
