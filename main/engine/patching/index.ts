/**
 * One patching job: source and base runs, attribution for all requested kinds, activation patching
 * (exhaustive, or of the top-K components by |attribution|), and the agreement summary.
 */
import { throwIfAborted } from '../errors.ts';
import type { MetricName } from '../metrics.ts';
import type { HookedModel } from '../model.ts';
import { activationPatch } from './activation.ts';
import { attributionPatch } from './attribution.ts';
import { componentCount, indexShape, type Kind } from './components.ts';
import { prepareRuns, type Direction, type TokenizedPairs } from './runs.ts';
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

export interface Progress {
  phase: string;
  done: number;
  total: number;
}

export interface JobOptions {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
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
  const t0 = performance.now();
  const wantAttr = req.method !== 'activation' || !!req.verifyTop;
  const wantAct = req.method !== 'attribution' || !!req.verifyTop;
  const P = pairs.clean[0].length;
  const exhaustive = req.method !== 'attribution';
  const activationTotal = exhaustive
    ? req.kinds.reduce((s, k) => s + componentCount(k, model.config, P), 0)
    : req.kinds.reduce((s, k) => s + Math.min(req.verifyTop ?? 0, componentCount(k, model.config, P)), 0);
  const total = 2 + (wantAttr ? 1 : 0) + activationTotal;
  let done = 0;
  const report = (phase: string) => o.onProgress?.({ phase, done, total });
  report('forward passes');
  throwIfAborted(o.signal);
  const ctx = await prepareRuns(model, pairs, { direction: req.direction, metric: req.metric, kinds: req.kinds, forAttribution: wantAttr, forActivation: wantAct });
  try {
    done += 2;
    const results: KindResult[] = req.kinds.map((kind) => ({ kind, shape: indexShape(kind, model.config, P) }));
    if (wantAttr) {
      report('attribution (backward pass)');
      throwIfAborted(o.signal);
      const attr = await attributionPatch(ctx, req.kinds);
      for (const r of results) r.attribution = attr.get(r.kind);
      done += 1;
    }
    if (wantAct) {
      for (const r of results) {
        const n = componentCount(r.kind, model.config, P);
        const ids = exhaustive ? undefined : topK(r.attribution!, req.verifyTop!);
        const before = done;
        const phase = `activation patching ${r.kind}`;
        report(phase);
        const values = await activationPatch(ctx, r.kind, ids, {
          signal: o.signal,
          onProgress: (d) => {
            done = before + d;
            report(phase);
          },
        });
        r.activation = new Float32Array(n).fill(NaN);
        (ids ?? values.map((_, i) => i)).forEach((id, i) => (r.activation![id] = values[i]));
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
      metric: { name: req.metric, clean: ctx.clean, corrupted: ctx.corrupted },
      tokens: pairs,
      kinds: results,
      backend: model.info.backend,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    ctx.dispose();
  }
}
