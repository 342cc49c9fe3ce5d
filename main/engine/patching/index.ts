/**
 * One patching job: attribution for all requested kinds, activation patching (exhaustive, or of
 * the top-K components by |attribution|), normalisation, and the agreement summary. The work runs
 * through a PartRunner: in this thread, or split over worker threads by pairs (parallel/).
 */
import { releaseJobMemory } from '../backend.ts';
import { badInput, engineFailureInWords } from '../errors.ts';
import type { MetricName } from '../metrics.ts';
import type { HookedModel } from '../model.ts';
import { checkKindsAvailable, indexShape, type Kind } from './components.ts';
import type { RANKINGS } from '../../../shared/contract.ts';
import { SCORE_NAMES, type ScoreName } from './attribution.ts';
import { planBatchPairs } from './batches.ts';
import { memoryNeed } from '../memory.ts';
import { PairAccumulator, runPart, type PartOptions, type PartRequest, type PartResult, type PartRunner } from './part.ts';
import { rankingOrder, verifiedRecall, type RecallCurve } from './recall.ts';
import type { Direction, TokenizedPairs } from './runs.ts';
import { pearson, summarize, topK, type AgreementSummary } from './summary.ts';

export type Method = 'attribution' | 'activation' | 'both';

export interface PatchRequest {
  direction: Direction;
  metric: MetricName;
  kinds: Kind[];
  method: Method;
  /** also run activation patching on the first K components per kind in the order of `rankBy` */
  verifyTop?: number;
  /** AtP* QK fix for head_q/head_k (attribution_qk, score_atp_qk) */
  qkFix?: boolean;
  /** GradDrop scores (score_graddrop; with qkFix also score_atp_star) */
  gradDrop?: boolean;
  /** the ranking "Verify top K" follows (default: the most complete one computed, see defaultRanking) */
  rankBy?: Ranking;
  /** K of the cost-of-verified-recall curves (default 10, capped at each kind's size) */
  recallK?: number;
}

/**
 * Orders components can be verified in: `attribution` is |the signed estimate| (attribution_qk for
 * head_q/head_k when the QK fix ran); the others are the per-pair magnitude scores score_*.
 */
export { RANKINGS } from '../../../shared/contract.ts';
export type Ranking = (typeof RANKINGS)[number];

/** AtP* when both corrections ran, GradDrop alone when only it did, else the estimate itself. */
export function defaultRanking(req: Pick<PatchRequest, 'qkFix' | 'gradDrop'>): Ranking {
  return req.gradDrop ? (req.qkFix ? 'atp_star' : 'graddrop') : 'attribution';
}

/** Which options a ranking needs, for a clear error when it was not computed. */
export function rankingAvailable(r: Ranking, req: Pick<PatchRequest, 'qkFix' | 'gradDrop'>): boolean {
  return r === 'attribution' || r === 'atp' || (r === 'atp_qk' && !!req.qkFix) || (r === 'graddrop' && !!req.gradDrop) || (r === 'atp_star' && !!req.qkFix && !!req.gradDrop);
}

export const DEFAULT_RECALL_K = 10;

export type { PartProgress as Progress } from './part.ts';

export interface JobOptions extends PartOptions {
  /** where the work runs (default: this thread) */
  runner?: PartRunner;
  /** threads the runner splits each batch over (each gets a share of it) */
  threads?: number;
  /** pairs per batch (default: planned from the model's size and the heap's headroom, batches.ts) */
  batchPairs?: number;
}

/** Pairs [a, b) of a set. */
export function slicePairs(p: TokenizedPairs, a: number, b: number): TokenizedPairs {
  return { clean: p.clean.slice(a, b), corrupted: p.corrupted.slice(a, b), answer: p.answer.slice(a, b), wrong: p.wrong.slice(a, b) };
}

/**
 * Runs one part request over every pair, a batch at a time, and combines the batches' values by a
 * pair-weighted mean (in float64), so the result does not depend on how the pairs were split.
 * Progress counts every batch's units; `offset` continues a count started by an earlier phase.
 */
async function overBatches(runner: PartRunner, pairs: TokenizedPairs, req: PartRequest, batch: number, o: PartOptions, offset: number): Promise<PartResult> {
  const B = pairs.clean.length;
  const batches = Math.ceil(B / batch);
  const acc = new PairAccumulator();
  for (let i = 0; i < batches; i++) {
    const part = await runner(slicePairs(pairs, i * batch, Math.min(B, (i + 1) * batch)), req, {
      signal: o.signal,
      onProgress:
        o.onProgress &&
        ((p) => {
          const phase = batches > 1 ? `${p.phase} (pairs ${i * batch + 1}–${Math.min(B, (i + 1) * batch)} of ${B})` : p.phase;
          o.onProgress!({ phase, done: offset + i * p.total + p.done, total: offset + batches * p.total });
        }),
    });
    acc.add(part);
  }
  return acc.result();
}

export interface KindResult {
  kind: Kind;
  /** index dimensions, layer first (e.g. [L, H] for head_z) */
  shape: number[];
  /** change in the normalised metric per component (row-major over shape); absent if not computed */
  attribution?: Float32Array;
  /** head_q/head_k with the QK fix: the QK-fixed estimate, normalised like attribution */
  attributionQk?: Float32Array;
  /** ranking scores (non-negative, normalised like attribution), those the options computed */
  scores?: Partial<Record<ScoreName, Float32Array>>;
  /** NaN where not computed */
  activation?: Float32Array;
  summary?: AgreementSummary;
  /** head_q/head_k with the QK fix: agreement of attribution_qk with activation patching */
  summaryQk?: AgreementSummary;
  verification?: Verification;
  /** cost of verified recall per ranking score, when activation patching was exhaustive */
  recall?: Partial<Record<ScoreName, RecallCurve>>;
}

/** The values a ranking orders a kind's components by (undefined when they were not computed). */
export function rankingValues(r: KindResult, ranking: Ranking): Float32Array | undefined {
  return ranking === 'attribution' ? (r.attributionQk ?? r.attribution) : r.scores?.[ranking];
}

export interface Verification {
  k: number;
  /** the ranking whose order was verified (absent in results saved before rankings existed: attribution) */
  ranking?: Ranking;
  /** components checked (flat indices), in that ranking's order */
  checked: number[];
  /** Pearson correlation of the estimate (attribution_qk where computed) and activation over the checked components */
  pearson: number | null;
  /** how many of the true top-K (by |activation|, exhaustive) the ranking's top-K contains; null unless activation was exhaustive */
  recovered: number | null;
}

export interface PatchingResult {
  direction: Direction;
  metric: { name: MetricName; clean: number; corrupted: number };
  tokens: TokenizedPairs;
  kinds: KindResult[];
  backend: string;
  seconds: number;
}

export async function runPatching(model: HookedModel, pairs: TokenizedPairs, req: PatchRequest, o: JobOptions = {}): Promise<PatchingResult> {
  try {
    return await patch(model, pairs, req, o);
  } finally {
    releaseJobMemory();
  }
}

async function patch(model: HookedModel, pairs: TokenizedPairs, req: PatchRequest, o: JobOptions): Promise<PatchingResult> {
  const t0 = performance.now();
  checkKindsAvailable(req.kinds, model.info.kinds, model.info.architecture);
  const runner: PartRunner = o.runner ?? ((p, r, opts) => runPart(model, p, r, opts));
  const B = pairs.clean.length;
  const P = pairs.clean[0].length;
  const exhaustive = req.method !== 'attribution';
  const base = { direction: req.direction, metric: req.metric, kinds: req.kinds };
  const all = Object.fromEntries(req.kinds.map((k) => [k, null]));
  // Exhaustive runs share one pair of forward passes between both methods; verification needs the
  // attribution first, to know which components to patch.
  const withAttribution = req.method !== 'activation' || !!req.verifyTop;
  const rankBy = req.rankBy ?? defaultRanking(req);
  if (!rankingAvailable(rankBy, req)) throw badInput(`ranking "${rankBy}" needs ${rankBy === 'atp_star' ? 'the QK fix and GradDrop' : rankBy === 'graddrop' ? 'GradDrop' : 'the QK fix'}`);
  const recallK = req.recallK ?? DEFAULT_RECALL_K;
  if (!(Number.isInteger(recallK) && recallK >= 1)) throw badInput(`the recall K must be a positive integer, got ${recallK}`);
  const first: PartRequest = {
    ...base,
    attribution: withAttribution,
    qkFix: withAttribution && !!req.qkFix,
    gradDrop: withAttribution && !!req.gradDrop,
    activation: exhaustive ? all : undefined,
  };
  const batch = Math.min(
    B,
    o.batchPairs ??
      (o.threads ?? 1) *
        planBatchPairs({ config: model.config, copyBytes: memoryNeed(model.config).copyBytes, positions: P, kinds: req.kinds, attribution: first.attribution, activation: exhaustive || !!req.verifyTop }),
  );
  try {
    return await patchInBatches(model, pairs, req, o, runner, first, batch, t0);
  } catch (e) {
    throw engineFailureInWords(e, `at ${B} pairs, in batches of ${batch}`, 'try fewer pairs or a smaller batch');
  }
}

async function patchInBatches(model: HookedModel, pairs: TokenizedPairs, req: PatchRequest, o: JobOptions, runner: PartRunner, first: PartRequest, batch: number, t0: number): Promise<PatchingResult> {
  const P = pairs.clean[0].length;
  const exhaustive = req.method !== 'attribution';
  const base = { direction: req.direction, metric: req.metric, kinds: req.kinds };
  const rankBy = req.rankBy ?? defaultRanking(req);
  const recallK = req.recallK ?? DEFAULT_RECALL_K;
  // Progress of a second (verification) run continues where the first one ended.
  let firstTotal = 0;
  const main = await overBatches(runner, pairs, first, batch, { signal: o.signal, onProgress: o.onProgress && ((p) => ((firstTotal = p.total), o.onProgress!(p))) }, 0);
  const scale = main.clean - main.corrupted;
  // Relative: probabilities can be tiny yet differ; float32 noise between identical prompts is ~1e-7.
  if (!(Math.abs(scale) > 1e-6 * Math.max(Math.abs(main.clean), Math.abs(main.corrupted)))) {
    throw badInput(
      `the clean and corrupted prompts score the same on ${req.metric} (${main.clean.toPrecision(6)} vs ${main.corrupted.toPrecision(6)}), so the metric cannot be normalised; choose pairs whose answers differ`,
    );
  }
  const results: KindResult[] = req.kinds.map((kind) => ({ kind, shape: indexShape(kind, model.config, P) }));
  for (const r of results) {
    const a = main.attribution[r.kind];
    if (a) r.attribution = a.map((v) => v / scale);
    const q = main.attributionQk[r.kind];
    if (q) r.attributionQk = q.map((v) => v / scale);
    for (const s of SCORE_NAMES) {
      const sc = main.scores[s]?.[r.kind];
      if (sc) (r.scores ??= {})[s] = sc.map((v) => v / Math.abs(scale));
    }
    const v = main.activation[r.kind];
    if (v) r.activation = v.map((x) => x / scale);
  }
  const verifyOrder = (r: KindResult) => rankingOrder(rankingValues(r, rankBy)!).slice(0, req.verifyTop);
  if (req.verifyTop && !exhaustive) {
    const chosen = Object.fromEntries(results.map((r) => [r.kind, verifyOrder(r)])) as Record<Kind, number[]>;
    const check: PartResult = await overBatches(runner, pairs, { ...base, attribution: false, activation: chosen }, batch, o, firstTotal);
    for (const r of results) {
      r.activation = new Float32Array(r.attribution!.length).fill(NaN);
      chosen[r.kind].forEach((id, i) => (r.activation![id] = check.activation[r.kind]![i] / scale));
    }
  }
  for (const r of results) {
    if (r.attribution && r.activation) r.summary = summarize(r.attribution, r.activation);
    if (r.attributionQk && r.activation) r.summaryQk = summarize(r.attributionQk, r.activation);
    if (req.verifyTop && r.attribution && r.activation) {
      const checked = verifyOrder(r);
      const estimate = r.attributionQk ?? r.attribution;
      const trueTop = exhaustive ? new Set(topK(r.activation, req.verifyTop)) : undefined;
      r.verification = {
        k: req.verifyTop,
        checked,
        pearson: pearson(checked.map((i) => estimate[i]), checked.map((i) => r.activation![i])),
        recovered: trueTop ? checked.filter((i) => trueTop.has(i)).length : null,
        ranking: rankBy,
      };
    }
    if (exhaustive && r.activation && r.scores) {
      r.recall = {};
      for (const s of SCORE_NAMES) if (r.scores[s]) r.recall[s] = verifiedRecall(r.scores[s]!, r.activation, recallK);
    }
  }
  return {
    direction: req.direction,
    metric: { name: req.metric, clean: main.clean, corrupted: main.corrupted },
    tokens: pairs,
    kinds: results,
    backend: model.info.backend,
    seconds: (performance.now() - t0) / 1000,
  };
}
