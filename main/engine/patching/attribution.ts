/**
 * Attribution patching (Nanda 2023): a first-order estimate of every activation patch at once.
 *
 * Patching component c replaces its activation a_base (from the base run) with a_src (from the
 * source run). To first order in the change, the metric moves by
 *
 *     Δm(c) ≈ Σ_elements (a_src − a_base) · ∂m/∂a |_base
 *
 * and one backward pass on the base run gives ∂m/∂a for every hook at once: two forward passes and
 * one backward pass, whatever the number of components. Values here are changes in the raw metric
 * (its mean over the pairs given); the caller normalises them by clean − corrupted.
 *
 * The estimate is good where the model is close to linear in the patched activation: small
 * activations such as one head's output. It is poor where it is not: large residual-stream patches
 * (the whole stream at a position is replaced), MLP0 (which acts as an extended embedding),
 * and saturated attention, where the softmax's local slope says little about a large move. The
 * scatter of attribution against activation patching shows where it holds.
 */
import * as tf from '@tensorflow/tfjs-core';
import { metricGradient } from '../metrics.ts';
import { parseHookName } from '../hooks.ts';
import { KIND_SPECS, type Kind } from './components.ts';
import type { PatchContext } from './runs.ts';

/** Σ over a component's elements of (source − base)·grad, for every component of a layer. */
function reduceToComponents(kind: Kind, contrib: tf.Tensor): tf.Tensor {
  switch (kind) {
    case 'head_z':
    case 'head_q':
    case 'head_k':
    case 'head_v':
      return tf.sum(contrib, [0, 1, 3]); // [B, P, H, dh] → [H]
    case 'head_z_pos':
      return tf.transpose(tf.sum(contrib, [0, 3])); // [B, P, H, dh] → [P, H] → [H, P]
    case 'head_pattern':
      return tf.sum(contrib, [0, 2, 3]); // [B, H, Q, K] → [H]
    case 'neuron':
      return tf.sum(contrib, [0, 1]); // [B, P, M] → [M]
    default:
      return tf.sum(contrib, [0, 2]); // [B, P, D] → [P]
  }
}

/**
 * Attribution for every component of `kinds`, in each kind's index order (layer-major).
 * Needs a context prepared with `forAttribution`.
 */
export async function attributionPatch(ctx: PatchContext, kinds: Kind[]): Promise<Map<Kind, Float32Array>> {
  const { model, tape } = ctx;
  if (!tape) throw new Error('attributionPatch needs a context prepared for attribution');
  const bySite = new Map<string, Kind[]>();
  for (const k of kinds) bySite.set(KIND_SPECS[k].site, [...(bySite.get(KIND_SPECS[k].site) ?? []), k]);
  const perLayer = new Map<Kind, tf.Tensor[]>(kinds.map((k) => [k, new Array<tf.Tensor>(model.config.nLayers)]));
  const gFinal = metricGradient(model, ctx.metric, ctx.baseFinal, ctx.targets);
  try {
    model.backward(tape, gFinal, (name, grad) => {
      const parsed = parseHookName(name);
      const ks = parsed && bySite.get(parsed.site);
      if (!ks) return;
      const contrib = tf.mul(tf.sub(ctx.src.get(name)!, ctx.base.get(name)!), grad);
      for (const k of ks) perLayer.get(k)![parsed.layer] = tf.keep(reduceToComponents(k, contrib));
    });
    const out = new Map<Kind, Float32Array>();
    for (const k of kinds) {
      const all = tf.tidy(() => tf.concat(perLayer.get(k)!.map((t) => tf.reshape(t, [-1]))));
      out.set(k, (await all.data()) as Float32Array);
      all.dispose();
    }
    return out;
  } finally {
    gFinal.dispose();
    for (const ts of perLayer.values()) tf.dispose(ts.filter(Boolean));
  }
}
