/**
 * The unit of patching work that can run anywhere: one thread, on a subset of the pairs. Every
 * value is a change in the raw metric averaged over those pairs, so parts on disjoint subsets
 * combine by a pair-weighted mean, and only the combined result is normalised.
 */
import { throwIfAborted } from '../errors.ts';
import type { MetricName } from '../metrics.ts';
import type { HookedModel } from '../model.ts';
import { activationPatch } from './activation.ts';
import { attributionPatch } from './attribution.ts';
import { componentCount, type Kind } from './components.ts';
import { prepareRuns, type Direction, type TokenizedPairs } from './runs.ts';

export interface PartRequest {
  direction: Direction;
  metric: MetricName;
  kinds: Kind[];
  attribution: boolean;
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

/** Units of work a part reports: two forward passes, a backward pass, and one per patched component. */
function partTotal(model: HookedModel, positions: number, req: PartRequest): number {
  let total = 2 + (req.attribution ? 1 : 0);
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
  report('forward passes');
  throwIfAborted(o.signal);
  const ctx = await prepareRuns(model, pairs, {
    direction: req.direction,
    metric: req.metric,
    kinds: [...new Set([...(req.attribution ? req.kinds : []), ...actKinds])],
    forAttribution: req.attribution,
    forActivation: actKinds.length > 0,
  });
  try {
    done += 2;
    const out: PartResult = { pairs: pairs.clean.length, clean: ctx.clean, corrupted: ctx.corrupted, attribution: {}, activation: {} };
    if (req.attribution) {
      report('attribution (backward pass)');
      throwIfAborted(o.signal);
      const attr = await attributionPatch(ctx, req.kinds);
      for (const [k, v] of attr) out.attribution[k] = v;
      done += 1;
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
  private sums: Record<'attribution' | 'activation', Partial<Record<Kind, Float64Array>>> = { attribution: {}, activation: {} };

  add(p: PartResult): void {
    this.n += p.pairs;
    this.clean += p.clean * p.pairs;
    this.corrupted += p.corrupted * p.pairs;
    for (const field of ['attribution', 'activation'] as const) {
      for (const [kind, values] of Object.entries(p[field]) as [Kind, Float32Array][]) {
        const acc = (this.sums[field][kind] ??= new Float64Array(values.length));
        for (let i = 0; i < values.length; i++) acc[i] += values[i] * p.pairs;
      }
    }
  }

  result(): PartResult {
    const n = this.n;
    const means = (field: 'attribution' | 'activation') =>
      Object.fromEntries(Object.entries(this.sums[field]).map(([k, acc]) => [k, Float32Array.from(acc!, (v) => v / n)])) as Partial<Record<Kind, Float32Array>>;
    return { pairs: n, clean: this.clean / n, corrupted: this.corrupted / n, attribution: means('attribution'), activation: means('activation') };
  }
}

/** Combines parts over disjoint subsets of pairs: pair-weighted means of every value. */
export function combineParts(parts: PartResult[]): PartResult {
  if (parts.length === 1) return parts[0];
  const acc = new PairAccumulator();
  for (const p of parts) acc.add(p);
  return acc.result();
}
