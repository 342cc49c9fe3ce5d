/**
 * One patching job: attribution for all requested kinds, activation patching (exhaustive, or of
 * the top-K components by |attribution|), normalisation, and the agreement summary. The work runs
 * through a PartRunner: in this thread, or split over worker threads by pairs (parallel/).
 */
import { releaseJobMemory } from '../backend.ts';
import { badInput, EngineFailure, firstLine, isEngineFailure, isOutOfMemory } from '../errors.ts';
import type { MetricName } from '../metrics.ts';
import type { HookedModel } from '../model.ts';
import { indexShape, type Kind } from './components.ts';
import { planBatchPairs } from './batches.ts';
import { PairAccumulator, runPart, type PartOptions, type PartRequest, type PartResult, type PartRunner } from './part.ts';
import type { Direction, TokenizedPairs } from './runs.ts';
import { pearson, summarize, topK, type AgreementSummary } from './summary.ts';

export type Method = 'attribution' | 'activation' | 'both';

export interface PatchRequest {
  direction: Direction;
  metric: MetricName;
  kinds: Kind[];
  method: Method;
  /** also run activation patching on the K components with the largest |attribution| per kind */
  verifyTop?: number;
}

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
  /** NaN where not computed */
  activation?: Float32Array;
  summary?: AgreementSummary;
  verification?: Verification;
}

export interface Verification {
  k: number;
  /** components checked (flat indices), by |attribution| descending */
  checked: number[];
  /** Pearson correlation of attribution and activation over the checked components */
  pearson: number | null;
  /** how many of the true top-K (by |activation|, exhaustive) the attribution top-K contains; null unless activation was exhaustive */
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
  const runner: PartRunner = o.runner ?? ((p, r, opts) => runPart(model, p, r, opts));
  const B = pairs.clean.length;
  const P = pairs.clean[0].length;
  const exhaustive = req.method !== 'attribution';
  const base = { direction: req.direction, metric: req.metric, kinds: req.kinds };
  const all = Object.fromEntries(req.kinds.map((k) => [k, null]));
  // Exhaustive runs share one pair of forward passes between both methods; verification needs the
  // attribution first, to know which components to patch.
  const first: PartRequest = { ...base, attribution: req.method !== 'activation' || !!req.verifyTop, activation: exhaustive ? all : undefined };
  const batch = Math.min(
    B,
    o.batchPairs ??
      (o.threads ?? 1) *
        planBatchPairs({ config: model.config, paramCount: model.info.paramCount, positions: P, kinds: req.kinds, attribution: first.attribution, activation: exhaustive || !!req.verifyTop }),
  );
  try {
    return await patchInBatches(model, pairs, req, o, runner, first, batch, t0);
  } catch (e) {
    if (!isEngineFailure(e) || e instanceof EngineFailure) throw e;
    const what = isOutOfMemory(e) ? 'ran out of memory' : 'failed';
    throw new EngineFailure(`the engine ${what} at ${B} pairs, in batches of ${batch} (${firstLine(e)}); try fewer pairs or a smaller batch`);
  }
}

async function patchInBatches(model: HookedModel, pairs: TokenizedPairs, req: PatchRequest, o: JobOptions, runner: PartRunner, first: PartRequest, batch: number, t0: number): Promise<PatchingResult> {
  const P = pairs.clean[0].length;
  const exhaustive = req.method !== 'attribution';
  const base = { direction: req.direction, metric: req.metric, kinds: req.kinds };
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
    const v = main.activation[r.kind];
    if (v) r.activation = v.map((x) => x / scale);
  }
  if (req.verifyTop && !exhaustive) {
    const chosen = Object.fromEntries(results.map((r) => [r.kind, topK(r.attribution!, req.verifyTop!)])) as Record<Kind, number[]>;
    const check: PartResult = await overBatches(runner, pairs, { ...base, attribution: false, activation: chosen }, batch, o, firstTotal);
    for (const r of results) {
      r.activation = new Float32Array(r.attribution!.length).fill(NaN);
      chosen[r.kind].forEach((id, i) => (r.activation![id] = check.activation[r.kind]![i] / scale));
    }
  }
  for (const r of results) {
    if (r.attribution && r.activation) r.summary = summarize(r.attribution, r.activation);
    if (req.verifyTop && r.attribution && r.activation) {
      const checked = topK(r.attribution, req.verifyTop);
      const trueTop = exhaustive ? new Set(topK(r.activation, req.verifyTop)) : undefined;
      r.verification = {
        k: req.verifyTop,
        checked,
        pearson: pearson(checked.map((i) => r.attribution![i]), checked.map((i) => r.activation![i])),
        recovered: trueTop ? checked.filter((i) => trueTop.has(i)).length : null,
      };
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
