/**
 * Task scores of a loaded model on held-out prompt pairs, through the engine's own forward pass:
 * how often the answer beats the wrong token, the mean logit difference, and how often the answer
 * is the model's top prediction. Prompts of different token lengths run in separate batches.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { HookedModel } from '../model.ts';
import { generatePairs, type PromptPair, type TaskName } from '../tasks/index.ts';

export interface TaskScore {
  n: number;
  /** fraction of clean prompts where logit(answer) > logit(wrong) */
  accuracy: number;
  /** mean of logit(answer) − logit(wrong) over clean prompts */
  meanLogitDiff: number;
  /** fraction of clean prompts whose highest-logit token is the answer */
  top1: number;
  /** mean probability of the answer */
  meanProb: number;
  /** the same on the corrupted prompts (where the "answer" is usually not the right continuation) */
  corruptedMeanLogitDiff: number;
}

/** Logit differences, top-1 hits and answer probabilities for prompts, batched by token length. */
async function score(model: HookedModel, prompts: string[], answer: number[], wrong: number[]) {
  const ids = prompts.map((p) => model.encodePrompt(p));
  const byLen = new Map<number, number[]>();
  ids.forEach((t, i) => byLen.set(t.length, [...(byLen.get(t.length) ?? []), i]));
  const diff = new Float64Array(prompts.length);
  const top = new Uint8Array(prompts.length);
  const prob = new Float64Array(prompts.length);
  for (const rows of byLen.values()) {
    const tokens = model.tokensTensor(rows.map((i) => ids[i]));
    const { final } = model.run(tokens, { lastOnlyFinal: true });
    const [logits, lse] = tf.tidy(() => {
      const l = model.logits(final);
      return [l.arraySync() as number[][], tf.logSumExp(l, -1).arraySync() as number[]];
    });
    tf.dispose([tokens, final]);
    rows.forEach((i, r) => {
      const l = logits[r];
      diff[i] = l[answer[i]] - l[wrong[i]];
      let best = 0;
      for (let v = 1; v < l.length; v++) if (l[v] > l[best]) best = v;
      top[i] = best === answer[i] ? 1 : 0;
      prob[i] = Math.exp(l[answer[i]] - lse[r]);
    });
  }
  return { diff, top, prob };
}

function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

export async function scorePairs(model: HookedModel, pairs: PromptPair[]): Promise<TaskScore> {
  const id = (s: string) => {
    const t = model.tokenizer.tokenId(s);
    if (t === undefined) throw new Error(`${JSON.stringify(s)} is not a single token`);
    return t;
  };
  const answer = pairs.map((p) => id(p.answer));
  const wrong = pairs.map((p) => id(p.wrong));
  const clean = await score(model, pairs.map((p) => p.clean), answer, wrong);
  const corrupted = await score(model, pairs.map((p) => p.corrupted), answer, wrong);
  return {
    n: pairs.length,
    accuracy: mean(Array.from(clean.diff, (d) => (d > 0 ? 1 : 0))),
    meanLogitDiff: mean(clean.diff),
    top1: mean(clean.top),
    meanProb: mean(clean.prob),
    corruptedMeanLogitDiff: mean(corrupted.diff),
  };
}

/** Scores `n` pairs of every template and length (not only the most common length, as patching needs). */
export async function scoreTask(model: HookedModel, task: TaskName, o: { n: number; seed: number }): Promise<TaskScore> {
  return scorePairs(model, generatePairs(task, { n: o.n, seed: o.seed, tokenizer: model.tokenizer, uniformLength: false }));
}
