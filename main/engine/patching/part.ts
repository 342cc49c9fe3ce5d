/**
 * The unit of patching work that can run anywhere: one thread, on a subset of the pairs. Every
 * value is a change in the raw metric averaged over those pairs, so parts on disjoint subsets
 * combine by a pair-weighted mean, and only the combined result is normalised.
 */
import * as tf from '@tensorflow/tfjs-core';
import { throwIfAborted } from '../errors.ts';
import type { MetricName } from '../metrics.ts';
import type { HookedModel } from '../model.ts';
import { activationPatch } from './activation.ts';
import { attributionPatch, isQkKind, PatternShifts, type BaseGradients, type ScoreName } from './attribution.ts';
import { gradDrop } from './graddrop.ts';
import { componentCount, type Kind } from './components.ts';
import { prepareRuns, type Direction, type TokenizedPairs } from './runs.ts';

export interface PartRequest {
  direction: Direction;
  metric: MetricName;
  kinds: Kind[];
  attribution: boolean;
  /** with attribution: the AtP* QK fix for head_q/head_k */
  qkFix?: boolean;
  /** with attribution: GradDrop scores (L extra backward passes) */
  gradDrop?: boolean;
  /** components to patch per kind (flat indices), or null for all of them */
  activation?: Partial<Record<Kind, number[] | null>>;
}

export interface PartResult {
  /** number of pairs this part covered */
  pairs: number;
  /** raw metric of the clean and corrupted runs, mean over the part's pairs */
  clean: number;
  corrupted: number;
  /** per kind, change in the raw metric per component (first order) */
  attribution: Partial<Record<Kind, Float32Array>>;
  /** head_q/head_k with the QK fix: change in the raw metric per component (first order from the pattern on) */
  attributionQk: Partial<Record<Kind, Float32Array>>;
  /** ranking scores in raw metric units (mean over the part's pairs of a magnitude), per score and kind */
  scores: Partial<Record<ScoreName, Partial<Record<Kind, Float32Array>>>>;
  /** per kind, change in the raw metric per requested component (in the order requested) */
  activation: Partial<Record<Kind, Float32Array>>;
}

export interface PartProgress {
  phase: string;
  done: number;
  total: number;
}

export interface PartOptions {
  signal?: AbortSignal;
  onProgress?: (p: PartProgress) => void;
}

export type PartRunner = (pairs: TokenizedPairs, req: PartRequest, o: PartOptions) => Promise<PartResult>;

/** Units of work a part reports: two forward passes, a backward pass (L more for GradDrop), and one per patched component. */
function partTotal(model: HookedModel, positions: number, req: PartRequest): number {
  let total = 2 + (req.attribution ? 1 + (req.gradDrop ? model.config.nLayers : 0) : 0);
  for (const [kind, ids] of Object.entries(req.activation ?? {}) as [Kind, number[] | null][]) {
    total += ids ? ids.length : componentCount(kind, model.config, positions);
  }
  return total;
}

export async function runPart(model: HookedModel, pairs: TokenizedPairs, req: PartRequest, o: PartOptions = {}): Promise<PartResult> {
  const total = partTotal(model, pairs.clean[0].length, req);
  let done = 0;
  const report = (phase: string) => o.onProgress?.({ phase, done, total });
  const actKinds = Object.keys(req.activation ?? {}) as Kind[];
  const qkFix = !!req.qkFix && req.kinds.some(isQkKind);
  report('forward passes');
  throwIfAborted(o.signal);
  const ctx = await prepareRuns(model, pairs, {
    direction: req.direction,
    metric: req.metric,
    kinds: [...new Set([...(req.attribution ? req.kinds : []), ...actKinds])],
    forAttribution: req.attribution,
    forActivation: actKinds.length > 0,
    extraSites: req.attribution && qkFix ? [model.arch.qkSites.q, model.arch.qkSites.k] : [],
  });
  const shifts = req.attribution && qkFix ? new PatternShifts(ctx) : undefined;
  const kept: BaseGradients = { residPost: [] };
  try {
    done += 2;
    const out: PartResult = { pairs: pairs.clean.length, clean: ctx.clean, corrupted: ctx.corrupted, attribution: {}, attributionQk: {}, scores: {}, activation: {} };
    if (req.attribution) {
      report('attribution (backward pass)');
      throwIfAborted(o.signal);
      const attr = await attributionPatch(ctx, req.kinds, { qkFix, shifts, keep: req.gradDrop ? kept : undefined });
      out.attribution = Object.fromEntries(attr.attribution);
      out.attributionQk = Object.fromEntries(attr.attributionQk);
      out.scores.atp = Object.fromEntries(attr.scoreAtp);
      if (qkFix) out.scores.atp_qk = Object.fromEntries(req.kinds.map((k) => [k, attr.scoreAtpQk.get(k) ?? attr.scoreAtp.get(k)!]));
      done += 1;
      if (req.gradDrop) {
        const before = done;
        const phase = 'GradDrop (backward passes)';
        report(phase);
        const gd = await gradDrop(ctx, req.kinds, kept, { atp: attr.scoreAtp, atpQk: attr.scoreAtpQk }, {
          shifts,
          signal: o.signal,
          onPass: (d) => {
            done = before + d;
            report(phase);
          },
        });
        out.scores.graddrop = Object.fromEntries(gd.scoreGradDrop);
        if (qkFix) out.scores.atp_star = Object.fromEntries(req.kinds.map((k) => [k, (isQkKind(k) && gd.scoreAtpStarQk.get(k)) || gd.scoreGradDrop.get(k)!]));
      }
    }
    for (const kind of actKinds) {
      const before = done;
      const phase = `activation patching ${kind}`;
      report(phase);
      out.activation[kind] = await activationPatch(ctx, kind, req.activation![kind] ?? undefined, {
        signal: o.signal,
        onProgress: (d) => {
          done = before + d;
          report(phase);
        },
      });
    }
    return out;
  } finally {
    shifts?.dispose();
    tf.dispose(kept.residPost);
    ctx.dispose();
  }
}

/**
 * Combines parts over disjoint subsets of pairs as they arrive: pair-weighted sums in float64, so
 * only the running totals are held, and the order and sizes of the parts do not matter beyond
 * float32 rounding inside each part.
 */
export class PairAccumulator {
  private n = 0;
  private clean = 0;
  private corrupted = 0;
  /** running pair-weighted sums by field ('attribution', 'attributionQk', 'activation', 'score:NAME') and kind */
  private sums = new Map<string, Partial<Record<Kind, Float64Array>>>();

  /** every per-component field of a part: the estimates, the activation effects and the scores are all means over pairs */
  private static fields(p: PartResult): [string, Partial<Record<Kind, Float32Array>>][] {
    return [
      ['attribution', p.attribution],
      ['attributionQk', p.attributionQk],
      ['activation', p.activation],
      ...Object.entries(p.scores).map(([name, byKind]): [string, Partial<Record<Kind, Float32Array>>] => [`score:${name}`, byKind!]),
    ];
  }

  add(p: PartResult): void {
    this.n += p.pairs;
    this.clean += p.clean * p.pairs;
    this.corrupted += p.corrupted * p.pairs;
    for (const [field, byKind] of PairAccumulator.fields(p)) {
      const sums = this.sums.get(field) ?? {};
      this.sums.set(field, sums);
      for (const [kind, values] of Object.entries(byKind) as [Kind, Float32Array][]) {
        const acc = (sums[kind] ??= new Float64Array(values.length));
        for (let i = 0; i < values.length; i++) acc[i] += values[i] * p.pairs;
      }
    }
  }

  result(): PartResult {
    const n = this.n;
    const means = (field: string) =>
      Object.fromEntries(Object.entries(this.sums.get(field) ?? {}).map(([k, acc]) => [k, Float32Array.from(acc!, (v) => v / n)])) as Partial<Record<Kind, Float32Array>>;
    const scores: PartResult['scores'] = {};
    for (const field of this.sums.keys()) if (field.startsWith('score:')) scores[field.slice(6) as ScoreName] = means(field);
    return {
      pairs: n,
      clean: this.clean / n,
      corrupted: this.corrupted / n,
      attribution: means('attribution'),
      attributionQk: means('attributionQk'),
      scores,
      activation: means('activation'),
    };
  }
}

/** Combines parts over disjoint subsets of pairs: pair-weighted means of every value. */
export function combineParts(parts: PartResult[]): PartResult {
  if (parts.length === 1) return parts[0];
  const acc = new PairAccumulator();
  for (const p of parts) acc.add(p);
  return acc.result();
}
