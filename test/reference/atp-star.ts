/**
 * The AtP* corrections (Kramár, Lieberum, Shah and Nanda 2024, arXiv 2403.00745) in float64, each by
 * its definition and with no backward pass, to check the engine's hand-written ones.
 *
 * - QK fix of a query (key) patch: the attention pattern A′ is recomputed from the source's queries
 *   (keys) and the base's keys (queries), with the layer's scale and causal mask, and the metric's
 *   directional derivative at hook_pattern along A′ − A_base is taken by a central difference.
 * - GradDrop: M^l is M with layer l's write to the residual stream (resid_post − resid_pre) frozen
 *   at its base-run value, so the gradient cannot pass through it. M^l's forward pass equals M's, so
 *   plain finite differences of M would give the plain gradient; here the freeze is a hook, and a
 *   central difference of M^l along a component's Δ gives Î_l.
 * Every estimate is taken per pair: pair p's own metric M_p, normalised with the means of the clean
 *   and corrupted runs (so M is the mean of M_p), and pairs are perturbed together since they do
 *   not interact.
 */
import type { RefHook, Tensor64 } from './model.ts';
import { components, metricOf, type Elements, type Kind, type PatchingRun } from './patching.ts';

/** Per-pair normalised metric changes [pair] of a central difference along a hook-added direction. */
function perPairDerivative(run: PatchingRun, shifted: (sign: number) => RefHook, from: number, eps: number): number[] {
  const { model, pairs } = run;
  const residPre = run.baseCache.get(`blocks.${from}.hook_resid_pre`)!;
  const perPair = (sign: number) => {
    const r = model.residual(run.base, shifted(sign), { from: { layer: from, residPre }, lastOnly: true });
    const [B, P, D] = r.shape;
    return Array.from({ length: B }, (_, b) => {
      const row: Tensor64 = { data: r.data.subarray(b * P * D, (b + 1) * P * D), shape: [1, P, D] };
      return metricOf(model, row, [pairs.answer[b]], [pairs.wrong[b]], run.metric);
    });
  };
  const [plus, minus] = [perPair(1), perPair(-1)];
  return plus.map((v, b) => (v - minus[b]) / (2 * eps) / (run.clean - run.corrupted));
}

/** Adds ±ε·direction at the hooks of `direction`; with `freeze`, layer `freeze`'s write stays at its base value. */
function shiftedHook(run: PatchingRun, direction: Map<string, Float64Array>, eps: number, freeze?: number): (sign: number) => RefHook {
  return (sign) => {
    let preNow: Float64Array | undefined;
    const pre = `blocks.${freeze}.hook_resid_pre`;
    const post = `blocks.${freeze}.hook_resid_post`;
    return (name, x) => {
      let data = x.data;
      if (freeze !== undefined && name === post) {
        const [bPre, bPost] = [run.baseCache.get(pre)!.data, run.baseCache.get(post)!.data];
        data = data.map((_, i) => preNow![i] + (bPost[i] - bPre[i]));
      }
      const d = direction.get(name);
      if (d) data = data.map((v, i) => v + sign * eps * d[i]);
      if (name === pre) preNow = data;
      return data === x.data ? undefined : { data, shape: x.shape };
    };
  };
}

const layerOf = (hook: string) => Number(/^blocks\.(\d+)\./.exec(hook)![1]);

/** (source − base) on a component's elements, zero elsewhere. */
function delta(run: PatchingRun, el: Elements): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  for (const [hook, offsets] of el) {
    const src = run.sourceCache.get(hook)!.data;
    const base = run.baseCache.get(hook)!.data;
    const d = new Float64Array(base.length);
    for (const o of offsets) d[o] = src[o] - base[o];
    out.set(hook, d);
  }
  return out;
}

/**
 * softmax(q kᵀ·scale + causal mask) [B, Hq, P, P] from q [B, P, Hq, dh] and k [B, P, Hkv, dh]; query
 * head h reads KV head ⌊h / (Hq/Hkv)⌋.
 */
export function patternOf(q: Tensor64, k: Tensor64, scale: number): Float64Array {
  const [B, P, H, dh] = q.shape;
  const Hkv = k.shape[2];
  const out = new Float64Array(B * H * P * P);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / Hkv));
      for (let t = 0; t < P; t++) {
        const row = ((b * H + h) * P + t) * P;
        let max = -Infinity;
        for (let s = 0; s <= t; s++) {
          let dotp = 0;
          for (let d = 0; d < dh; d++) dotp += q.data[((b * P + t) * H + h) * dh + d] * k.data[((b * P + s) * Hkv + g) * dh + d];
          out[row + s] = dotp * scale;
          max = Math.max(max, out[row + s]);
        }
        let z = 0;
        for (let s = 0; s <= t; s++) z += out[row + s] = Math.exp(out[row + s] - max);
        for (let s = 0; s <= t; s++) out[row + s] /= z;
      }
    }
  return out;
}

/** A′ − A_base at hook_pattern of `layer` for a patch of query head / KV head `head`, zero at every other head. */
function patternShift(run: PatchingRun, kind: 'head_q' | 'head_k', layer: number, head: number): Map<string, Float64Array> {
  const n = `blocks.${layer}.attn.`;
  const get = (cache: Map<string, Tensor64>, which: 'q' | 'k') => cache.get(n + `hook_rot_${which}`) ?? cache.get(n + `hook_${which}`)!;
  const scale = run.model.config.attnScale[layer];
  const [qb, kb] = [get(run.baseCache, 'q'), get(run.baseCache, 'k')];
  const patched = kind === 'head_q' ? patternOf(get(run.sourceCache, 'q'), kb, scale) : patternOf(qb, get(run.sourceCache, 'k'), scale);
  const base = patternOf(qb, kb, scale);
  const [B, P, H] = qb.shape;
  const group = H / kb.shape[2];
  const moved = (h: number) => (kind === 'head_q' ? h === head : Math.floor(h / group) === head);
  const d = new Float64Array(base.length);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      if (!moved(h)) continue;
      for (let i = (b * H + h) * P * P, e = i + P * P; i < e; i++) d[i] = patched[i] - base[i];
    }
  return new Map([[n + 'hook_pattern', d]]);
}

export interface AtpStarReference {
  /** per component, in the engine's order */
  attribution_qk?: number[]; // head_q, head_k
  score_atp: number[];
  score_atp_qk?: number[];
  score_graddrop: number[];
  score_atp_star?: number[];
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const meanAbs = (xs: number[]) => mean(xs.map(Math.abs));

/**
 * Every AtP* quantity of one kind, by definition (see the module comment), for the components at
 * positions `pick` of the engine's order (default: all), in that order.
 */
export function atpStar(run: PatchingRun, kind: Kind, pick?: number[], eps = 1e-5): AtpStarReference {
  const L = run.model.config.nLayers;
  const P = run.base[0].length;
  const qk = kind === 'head_q' || kind === 'head_k';
  const out: AtpStarReference = { score_atp: [], score_graddrop: [], ...(qk ? { attribution_qk: [], score_atp_qk: [], score_atp_star: [] } : {}) };
  const all = components(run.model, kind, P);
  for (const { index, hook, fixed } of pick ? pick.map((i) => all[i]) : all) {
    const layer = layerOf(hook);
    const d = delta(run, run.elementsOf(hook, fixed));
    // a freeze above the component's layer still needs the pass to start below it
    const plain = perPairDerivative(run, shiftedHook(run, d, eps), layer, eps);
    out.score_atp.push(meanAbs(plain));
    const gd = Array.from({ length: L }, (_, l) => perPairDerivative(run, shiftedHook(run, d, eps, l), Math.min(layer, l), eps));
    out.score_graddrop.push(mean(run.pairs.answer.map((_, p) => gd.reduce((s, per) => s + Math.abs(per[p]), 0) / (L - 1))));
    if (qk) {
      const shift = patternShift(run, kind, layer, index[1]);
      const fixedPlain = perPairDerivative(run, shiftedHook(run, shift, eps), layer, eps);
      out.attribution_qk!.push(mean(fixedPlain));
      out.score_atp_qk!.push(meanAbs(fixedPlain));
      const fixedGd = Array.from({ length: L }, (_, l) => perPairDerivative(run, shiftedHook(run, shift, eps, l), Math.min(layer, l), eps));
      out.score_atp_star!.push(mean(run.pairs.answer.map((_, p) => fixedGd.reduce((s, per) => s + Math.abs(per[p]), 0) / (L - 1))));
    }
  }
  return out;
}
