/**
 * GradDrop (AtP*, Kramár et al. 2024, §3.2): a ranking score that catches components whose direct
 * and indirect effects cancel in the gradient.
 *
 * For each layer l, M^l has M's forward pass but a backward pass that skips layer l's write to the
 * residual stream: resid_post_l = resid_pre_l + stopgrad(resid_post_l − resid_pre_l). Per pair p,
 *
 *     Î_l(c, p) = Δc_p · ∂M^l_p/∂c_p,       c_GD(c) = mean_p (1/(L−1)) Σ_l |Î_l(c, p)|
 *
 * and for head_q/head_k under AtP* the QK-fixed estimate replaces Δc·∂M^l/∂c:
 * Σ_ts (A′ − A)_ts · ∂M^l_p/∂A_ts. It is a non-negative score, not a signed estimate.
 *
 * Cost: L extra backward passes over the one forward tape. A drop at layer l leaves every gradient
 * above l as the plain pass had it, so pass l starts at resid_post_l with the plain gradient and
 * only walks layers l … 0; components above l take their plain per-pair value, components inside
 * layer l (not reached: their gradient is zero) take 0. All L passes together cost about L/2 plain
 * backward passes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { badInput, throwIfAborted } from '../errors.ts';
import { metricGradient } from '../metrics.ts';
import { parseHookName } from '../hooks.ts';
import type { Kind } from './components.ts';
import { isQkKind, kindsBySite, LayerSlots, perPairComponents, qkPerPair, type BaseGradients, type PatternShifts } from './attribution.ts';
import type { PatchContext } from './runs.ts';

export interface GradDropOptions {
  /** with the QK fix: also the AtP* score of head_q/head_k */
  shifts?: PatternShifts;
  signal?: AbortSignal;
  /** after each of the L passes */
  onPass?: (done: number) => void;
}

export interface GradDropResult {
  /** c_GD per component (raw metric units, unnormalised), every kind */
  scoreGradDrop: Map<Kind, Float32Array>;
  /** GradDrop over the QK-fixed estimate, head_q/head_k only (with shifts) */
  scoreAtpStarQk: Map<Kind, Float32Array>;
}

/**
 * `plain` holds the plain pass's per-pair magnitudes Σ_p|Î(c, p)| per kind (score_atp, and
 * score_atp_qk for head_q/head_k), flat in index order; `base` its residual gradients.
 */
export async function gradDrop(
  ctx: PatchContext,
  kinds: Kind[],
  base: BaseGradients,
  plain: { atp: Map<Kind, Float32Array>; atpQk: Map<Kind, Float32Array> },
  o: GradDropOptions = {},
): Promise<GradDropResult> {
  const { model, tape } = ctx;
  if (!tape) throw new Error('gradDrop needs a context prepared for attribution');
  const L = model.config.nLayers;
  if (L < 2) throw badInput('GradDrop needs a model of at least 2 layers (its score divides by L − 1)');
  const bySite = kindsBySite(kinds);
  const qkKinds = o.shifts ? kinds.filter(isQkKind) : [];
  const gd = new LayerSlots(L), star = new LayerSlots(L);
  // gFinal is not read when a pass starts mid-model, but the interface takes one
  const gFinal = metricGradient(model, ctx.metric, ctx.baseFinal, ctx.targets);
  try {
    for (let l = 0; l < L; l++) {
      throwIfAborted(o.signal);
      model.backward(
        tape,
        gFinal,
        (name, grad) => {
          const parsed = parseHookName(name);
          if (!parsed) return;
          const { layer, site } = parsed;
          if (site === 'attn.hook_pattern') {
            for (const k of qkKinds) star.add(k, layer, tf.sum(tf.abs(qkPerPair(k, o.shifts!.of(k, layer), grad, o.shifts!.kvHeads)), 0));
          }
          const ks = bySite.get(site);
          if (!ks) return;
          const contrib = tf.mul(tf.sub(ctx.src.get(name)!, ctx.base.get(name)!), grad);
          for (const k of ks) gd.add(k, layer, tf.sum(tf.abs(perPairComponents(k, contrib)), 0));
        },
        { dropWrite: l, start: { layer: l, grad: base.residPost[l] } },
      );
      o.onPass?.(l + 1);
      await new Promise((r) => setImmediate(r)); // lets a cancel request in
    }
    // components inside a dropped layer are never reached in that pass: zero
    const perLayer = (k: Kind) => plain.atp.get(k)!.length / L;
    const [gdArrays, starArrays] = [await gd.toArrays(perLayer), await star.toArrays(perLayer)];
    return {
      scoreGradDrop: finish(kinds, gdArrays, plain.atp, L),
      scoreAtpStarQk: finish(qkKinds, starArrays, plain.atpQk, L),
    };
  } finally {
    gFinal.dispose();
    gd.dispose();
    star.dispose();
  }
}

/**
 * Adds what the passes did not reach and divides by L − 1: a component of layer j takes its plain
 * value in the j passes that dropped a layer below it; in the pass that dropped its own layer it was
 * either reached (resid_pre, resid_post) or its gradient is zero.
 */
function finish(kinds: Kind[], reached: Map<Kind, Float32Array>, plain: Map<Kind, Float32Array>, L: number): Map<Kind, Float32Array> {
  const out = new Map<Kind, Float32Array>();
  for (const k of kinds) {
    const r = reached.get(k);
    const p = plain.get(k)!;
    const perLayer = p.length / L;
    const score = new Float32Array(p.length);
    for (let i = 0; i < p.length; i++) {
      const j = Math.floor(i / perLayer);
      score[i] = ((r ? r[i] : 0) + j * p[i]) / (L - 1);
    }
    out.set(k, score);
  }
  return out;
}
