/**
 * Activation and attribution patching in float64, written to be obviously right rather than fast:
 * the reference that the engine's patching is checked against.
 *
 * A pair is a *clean* prompt and a *corrupted* one of equal length. The metric M is read at the
 * last position and averaged over pairs (logit-diff: logit(answer) − logit(wrong); prob-diff:
 * p(answer) − p(wrong); logprob: log p(answer)), and every effect is reported as a change in the
 * normalised metric, (M − M_corrupted) / (M_clean − M_corrupted), so corrupted = 0 and clean = 1.
 *
 * The *base* run is the one being patched, the *source* run the one values come from:
 * denoising patches clean values into the corrupted run (base = corrupted), noising patches
 * corrupted values into the clean run (base = clean).
 *
 * - Activation patching of component c: the base forward pass with c's elements replaced by the
 *   source's, (M(patched) − M(base)) / scale.
 * - Attribution patching of c: the directional derivative of M at the base run along
 *   Δ_c = (source − base) restricted to c's elements, by a central difference in float64,
 *   (M(base + εΔ_c) − M(base − εΔ_c)) / 2ε / scale. The perturbation is added at the hook, as the
 *   engine's gradient is taken with respect to an added zero there. It needs no backward pass, so
 *   it checks the engine's hand-written one independently. At ε = 1e−6 the truncation error O(ε²)
 *   and the rounding error O(1e−16/ε) are both near 1e−9 on the fixtures.
 */
import type { RefHook, RefModel, RunOptions, Tensor64 } from './model.ts';

export type MetricName = 'logit-diff' | 'prob-diff' | 'logprob';
export type Direction = 'denoising' | 'noising';

export interface Pairs {
  clean: number[][]; // [pair][pos] token ids
  corrupted: number[][];
  answer: number[]; // [pair]
  wrong: number[];
}

/** Component kinds: the hook each reads and the axes of the hook's tensor its index fixes (after the layer). */
export const KIND_SITES = {
  resid_pre: { site: 'hook_resid_pre', axes: ['pos'] }, // [batch, pos, d_model]
  resid_mid: { site: 'hook_resid_mid', axes: ['pos'] },
  resid_post: { site: 'hook_resid_post', axes: ['pos'] },
  attn_out: { site: 'hook_attn_out', axes: ['pos'] },
  mlp_out: { site: 'hook_mlp_out', axes: ['pos'] },
  head_z: { site: 'attn.hook_z', axes: ['head'] }, // [batch, pos, head, d_head]
  head_q: { site: 'attn.hook_q', axes: ['head'] },
  head_k: { site: 'attn.hook_k', axes: ['head'] },
  head_v: { site: 'attn.hook_v', axes: ['head'] },
  head_z_pos: { site: 'attn.hook_z', axes: ['head', 'pos'] },
  head_pattern: { site: 'attn.hook_pattern', axes: ['head'] }, // [batch, head, q_pos, k_pos]
  neuron: { site: 'mlp.hook_post', axes: ['neuron'] }, // [batch, pos, d_mlp]
} as const;
export type Kind = keyof typeof KIND_SITES;
export const KINDS = Object.keys(KIND_SITES) as Kind[];

/** Where each index axis sits in a hook's tensor. */
function axisOf(site: string, axis: 'pos' | 'head' | 'neuron'): number {
  if (site === 'attn.hook_pattern') return 1; // [batch, head, q_pos, k_pos]: only heads are indexed
  return axis === 'head' ? 2 : axis === 'pos' ? 1 : 2;
}

/** A set of elements of hook tensors: hook name → flat offsets. */
export type Elements = Map<string, number[]>;

/** The flat offsets of every element of `shape` whose axes in `fixed` have the given values. */
export function offsetsWhere(shape: number[], fixed: Map<number, number>): number[] {
  const out: number[] = [];
  const walk = (axis: number, base: number) => {
    if (axis === shape.length) return void out.push(base);
    const f = fixed.get(axis);
    for (let i = f ?? 0; i < (f === undefined ? shape[axis] : f + 1); i++) walk(axis + 1, base * shape[axis] + i);
  };
  walk(0, 0);
  return out;
}

/** The components of a kind, row-major over their index [layer, …] as the engine orders them. */
export function components(model: RefModel, kind: Kind, positions: number): { index: number[]; hook: string; fixed: Map<number, number> }[] {
  const { nLayers, nHeads, nKvHeads, dMlp } = model.config;
  const { site, axes } = KIND_SITES[kind];
  // hook_k and hook_v have one head per key/value head under grouped-query attention
  const size = { pos: positions, head: site === 'attn.hook_k' || site === 'attn.hook_v' ? nKvHeads : nHeads, neuron: dMlp };
  const out: { index: number[]; hook: string; fixed: Map<number, number> }[] = [];
  const walk = (index: number[]) => {
    if (index.length === axes.length + 1) {
      const fixed = new Map(axes.map((a, i) => [axisOf(site, a), index[i + 1]] as [number, number]));
      return void out.push({ index, hook: `blocks.${index[0]}.${site}`, fixed });
    }
    const n = index.length === 0 ? nLayers : size[axes[index.length - 1]];
    for (let i = 0; i < n; i++) walk([...index, i]);
  };
  walk([]);
  return out;
}

/** The raw metric from ln_final.hook_normalized [batch, pos, d_model], mean over pairs at the last position. */
export function metricOf(model: RefModel, residual: Tensor64, answer: number[], wrong: number[], metric: MetricName): number {
  const [B, P, D] = residual.shape;
  let sum = 0;
  for (let b = 0; b < B; b++) {
    const at = (b * P + P - 1) * D;
    if (metric === 'logit-diff') {
      const [a, w] = model.logits(residual.data, at, [answer[b], wrong[b]]);
      sum += a - w;
      continue;
    }
    const logits = model.logits(residual.data, at);
    let max = -Infinity;
    for (const v of logits) max = Math.max(max, v);
    let z = 0;
    for (const v of logits) z += Math.exp(v - max);
    const logp = (t: number) => logits[t] - max - Math.log(z);
    sum += metric === 'logprob' ? logp(answer[b]) : Math.exp(logp(answer[b])) - Math.exp(logp(wrong[b]));
  }
  return sum / B;
}

/** Both runs of a patching experiment with every activation cached. */
export class PatchingRun {
  readonly base: number[][];
  readonly source: number[][];
  readonly baseCache = new Map<string, Tensor64>();
  readonly sourceCache = new Map<string, Tensor64>();
  /** raw metric of the clean and corrupted runs */
  readonly clean: number;
  readonly corrupted: number;
  private readonly baseMetric: number;

  constructor(
    readonly model: RefModel,
    readonly pairs: Pairs,
    readonly direction: Direction,
    readonly metric: MetricName,
  ) {
    [this.base, this.source] = direction === 'denoising' ? [pairs.corrupted, pairs.clean] : [pairs.clean, pairs.corrupted];
    const mSource = this.score(this.source, (n, x) => void this.sourceCache.set(n, x));
    this.baseMetric = this.score(this.base, (n, x) => void this.baseCache.set(n, x));
    [this.clean, this.corrupted] = direction === 'denoising' ? [mSource, this.baseMetric] : [this.baseMetric, mSource];
    if (this.clean === this.corrupted) throw new Error(`clean and corrupted runs score the same on ${metric}: cannot normalise`);
  }

  /** The raw metric of a forward pass over `tokens`. */
  score(tokens: number[][], hook?: RefHook, options?: RunOptions): number {
    return metricOf(this.model, this.model.residual(tokens, hook, options), this.pairs.answer, this.pairs.wrong, this.metric);
  }

  /**
   * The metric of the base run with a hook that changes only `elements`. Only the last position of
   * the final block reaches the metric, and blocks before the first patched one are the base run's,
   * so the pass starts there from the cached residual.
   */
  private patchedBase(elements: Elements, hook: RefHook): number {
    const layers = [...elements.keys()].map((n) => /^blocks\.(\d+)\./.exec(n)?.[1]);
    if (layers.some((l) => l === undefined)) return this.score(this.base, hook, { lastOnly: true });
    const layer = Math.min(...layers.map(Number));
    return this.score(this.base, hook, { lastOnly: true, from: { layer, residPre: this.baseCache.get(`blocks.${layer}.hook_resid_pre`)! } });
  }

  /** A base run with `elements` set to the source's values: the change in the normalised metric. */
  activation(elements: Elements): number {
    const hook: RefHook = (name, x) => {
      const at = elements.get(name);
      if (!at) return undefined;
      const src = this.sourceCache.get(name)!.data;
      const data = x.data.slice();
      for (const o of at) data[o] = src[o];
      return { data, shape: x.shape };
    };
    return (this.patchedBase(elements, hook) - this.baseMetric) / (this.clean - this.corrupted);
  }

  /** The directional derivative along (source − base) on `elements`: the change attribution estimates. */
  attribution(elements: Elements, eps = 1e-6): number {
    const shifted = (sign: number): RefHook => (name, x) => {
      const at = elements.get(name);
      if (!at) return undefined;
      const src = this.sourceCache.get(name)!.data;
      const base = this.baseCache.get(name)!.data;
      const data = x.data.slice();
      for (const o of at) data[o] += sign * eps * (src[o] - base[o]);
      return { data, shape: x.shape };
    };
    return (this.patchedBase(elements, shifted(1)) - this.patchedBase(elements, shifted(-1))) / (2 * eps) / (this.clean - this.corrupted);
  }

  /** The elements of one component, in its hook's tensor. */
  elementsOf(hook: string, fixed: Map<number, number>): Elements {
    return new Map([[hook, offsetsWhere(this.baseCache.get(hook)!.shape, fixed)]]);
  }
}

export interface RefPatchingResult {
  direction: Direction;
  metric: { name: MetricName; clean: number; corrupted: number };
  kinds: Partial<Record<Kind, { index: number[]; attribution: number; activation: number }[]>>;
}

/** Attribution and activation patching of every component of the given kinds. */
export function patchAll(model: RefModel, pairs: Pairs, o: { direction: Direction; metric: MetricName; kinds?: Kind[] }): RefPatchingResult {
  const run = new PatchingRun(model, pairs, o.direction, o.metric);
  const P = pairs.clean[0].length;
  const kinds: RefPatchingResult['kinds'] = {};
  for (const kind of o.kinds ?? KINDS) {
    kinds[kind] = components(model, kind, P).map(({ index, hook, fixed }) => {
      const el = run.elementsOf(hook, fixed);
      return { index, attribution: run.attribution(el), activation: run.activation(el) };
    });
  }
  return { direction: o.direction, metric: { name: o.metric, clean: run.clean, corrupted: run.corrupted }, kinds };
}
