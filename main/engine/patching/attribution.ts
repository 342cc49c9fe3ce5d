/**
 * Attribution patching (Nanda 2023): a first-order estimate of every activation patch at once,
 * and the AtP* corrections of Kramár, Lieberum, Shah and Nanda (2024, arXiv 2403.00745).
 *
 * Patching component c replaces its activation a_base (from the base run) with a_src (from the
 * source run). To first order in the change, the metric moves by
 *
 *     Î(c) = Σ_elements (a_src − a_base) · ∂M/∂a |_base
 *
 * and one backward pass on the base run gives ∂M/∂a for every hook at once: two forward passes and
 * one backward pass, whatever the number of components. Values here are changes in the raw metric
 * (its mean over the pairs given); the caller normalises them by clean − corrupted.
 *
 * The estimate is good where the model is close to linear in the patched activation: small
 * activations such as one head's output. It is poor where it is not: large residual-stream patches
 * (the whole stream at a position is replaced), MLP0 (which acts as an extended embedding),
 * and saturated attention, where the softmax's local slope says little about a large move.
 *
 * Both AtP* corrections target false negatives:
 *  - QK fix (head_q, head_k): the pattern A′ a query or key patch produces is recomputed exactly
 *    (softmax of the patched scores), and only the rest of the model is linearised:
 *    Î_QK(c) = Σ_ts (A′ − A_base)_ts · ∂M/∂A_ts, with ∂M/∂A from the same backward pass.
 *  - GradDrop (graddrop.ts): extra backward passes that each skip one layer's write to the
 *    residual stream, so a direct and an indirect effect that cancel in the gradient show up.
 * Rankings compare per-pair magnitudes: score_atp(c) = mean over pairs p of |Î(c, p)|, where Î(c, p)
 * is pair p's own estimate. The metric's gradient is that of the mean over the B pairs, so row p of
 * the batched backward pass holds Î(c, p)/B, and mean_p |Î(c, p)| = Σ_p |row p|.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { SCORE_NAMES } from '../../../shared/contract.ts';
import { metricGradient } from '../metrics.ts';
import { parseHookName } from '../hooks.ts';
import { KIND_SPECS, type Kind } from './components.ts';
import type { PatchContext } from './runs.ts';

/** The ranking scores, as named in the JSON (`score_atp`, …); declared once in the shared contract. */
export { SCORE_NAMES } from '../../../shared/contract.ts';
export type ScoreName = (typeof SCORE_NAMES)[number];

export const QK_KINDS = ['head_q', 'head_k'] as const satisfies readonly Kind[];
export type QkKind = (typeof QK_KINDS)[number];
export const isQkKind = (k: Kind): k is QkKind => k === 'head_q' || k === 'head_k';

export interface AttributionOptions {
  /** compute attribution_qk (and score_atp_qk) for head_q and head_k */
  qkFix?: boolean;
}

/** Raw (unnormalised) values per component, in each kind's index order (layer-major). */
export interface AttributionResult {
  /** Î(c): mean over pairs */
  attribution: Map<Kind, Float32Array>;
  /** Î_QK(c) for head_q/head_k, when the QK fix was asked for */
  attributionQk: Map<Kind, Float32Array>;
  /** mean over pairs of |Î(c, p)|, and of |Î_QK(c, p)| for head_q/head_k */
  scoreAtp: Map<Kind, Float32Array>;
  scoreAtpQk: Map<Kind, Float32Array>;
}

/**
 * Per-pair sums of a hook's (source − base)·grad over each component's elements: [B, components of
 * one layer], in the kind's index order after the layer.
 */
export function perPairComponents(kind: Kind, contrib: tf.Tensor): tf.Tensor2D {
  const B = contrib.shape[0];
  switch (kind) {
    case 'head_z':
    case 'head_q':
    case 'head_k':
    case 'head_v':
      return tf.sum(contrib, [1, 3]) as tf.Tensor2D; // [B, P, H, dh] → [B, H]
    case 'head_z_pos':
      return tf.reshape(tf.transpose(tf.sum(contrib, 3), [0, 2, 1]), [B, -1]); // [B, P, H, dh] → [B, H·P]
    case 'head_pattern':
      return tf.sum(contrib, [2, 3]) as tf.Tensor2D; // [B, H, Q, K] → [B, H]
    case 'neuron':
      return tf.sum(contrib, 1) as tf.Tensor2D; // [B, P, M] → [B, M]
    default:
      return tf.sum(contrib, 2) as tf.Tensor2D; // [B, P, D] → [B, P]
  }
}

/**
 * Per-pair QK-fixed estimates of one layer from the pattern's gradient G [B, Hq, P, P] and the
 * pattern shift ΔA = A′ − A_base [B, Hq, P, P]: [B, Hq] for head_q; for head_k, [B, Hkv], summed
 * over the query heads that read each KV head (a key patch moves all their patterns).
 */
export function qkPerPair(kind: QkKind, shift: tf.Tensor4D, gPattern: tf.Tensor, kvHeads: number): tf.Tensor2D {
  const perQueryHead = tf.sum(tf.mul(shift, gPattern), [2, 3]) as tf.Tensor2D; // [B, Hq]
  if (kind === 'head_q') return perQueryHead;
  const [B, hq] = perQueryHead.shape;
  return tf.sum(tf.reshape(perQueryHead, [B, kvHeads, hq / kvHeads]), 2) as tf.Tensor2D; // [B, Hkv]
}

/** One tensor per (kind, layer), kept outside tidy scopes and gathered into flat arrays at the end. */
export class LayerSlots {
  private readonly slots = new Map<Kind, (tf.Tensor | undefined)[]>();
  constructor(private readonly layers: number) {}
  /** replaces the slot (the tensor is kept) */
  set(kind: Kind, layer: number, t: tf.Tensor): void {
    const row = this.slots.get(kind) ?? new Array<tf.Tensor | undefined>(this.layers);
    this.slots.set(kind, row);
    row[layer]?.dispose();
    row[layer] = tf.keep(t);
  }
  /** adds to the slot (starting from zero) */
  add(kind: Kind, layer: number, t: tf.Tensor): void {
    const old = this.slots.get(kind)?.[layer];
    this.set(kind, layer, old ? tf.add(old, t) : tf.clone(t));
  }
  get(kind: Kind, layer: number): tf.Tensor | undefined {
    return this.slots.get(kind)?.[layer];
  }
  kinds(): Kind[] {
    return [...this.slots.keys()];
  }
  /** Flat arrays per kind; a layer never set is an error, or zeros of `zeroFill(kind)` values. */
  async toArrays(zeroFill?: (kind: Kind) => number): Promise<Map<Kind, Float32Array>> {
    const out = new Map<Kind, Float32Array>();
    for (const [kind, row] of this.slots) {
      if (!zeroFill && row.some((t) => !t)) throw new Error(`no ${kind} values for some layer`);
      const all = tf.tidy(() => tf.concat(Array.from(row, (t) => (t ? tf.reshape(t, [-1]) : tf.zeros([zeroFill!(kind)])))));
      out.set(kind, (await all.data()) as Float32Array);
      all.dispose();
    }
    return out;
  }
  dispose(): void {
    for (const row of this.slots.values()) tf.dispose(row.filter((t): t is tf.Tensor => !!t));
    this.slots.clear();
  }
}

/**
 * A′ − A_base for a query patch and for a key patch, at every layer: [B, Hq, P, P] each. A is
 * recomputed from the base run's queries and keys (as A′ is) so an unchanged head gives exactly 0.
 */
export class PatternShifts {
  readonly q: tf.Tensor4D[] = [];
  readonly k: tf.Tensor4D[] = [];
  readonly kvHeads: number;
  constructor(ctx: PatchContext) {
    const { arch } = ctx.model;
    const at = (run: Map<string, tf.Tensor>, l: number, site: string) => {
      const t = run.get(`blocks.${l}.${site}`);
      if (!t) throw new Error(`the QK fix needs blocks.${l}.${site} of both runs (prepare the runs with qkFix)`);
      return t as tf.Tensor4D;
    };
    this.kvHeads = at(ctx.base, 0, arch.qkSites.k).shape[2];
    for (let l = 0; l < ctx.model.config.nLayers; l++) {
      const [qb, kb] = [at(ctx.base, l, arch.qkSites.q), at(ctx.base, l, arch.qkSites.k)];
      const [qs, ks] = [at(ctx.src, l, arch.qkSites.q), at(ctx.src, l, arch.qkSites.k)];
      const [dq, dk] = tf.tidy(() => {
        const a = arch.attentionPattern(l, qb, kb);
        return [tf.sub(arch.attentionPattern(l, qs, kb), a), tf.sub(arch.attentionPattern(l, qb, ks), a)];
      });
      this.q.push(tf.keep(dq) as tf.Tensor4D);
      this.k.push(tf.keep(dk) as tf.Tensor4D);
    }
  }
  of(kind: QkKind, layer: number): tf.Tensor4D {
    return (kind === 'head_q' ? this.q : this.k)[layer];
  }
  dispose(): void {
    tf.dispose([...this.q, ...this.k]);
  }
}

/** Kinds grouped by the hook site they read. */
export function kindsBySite(kinds: Kind[]): Map<string, Kind[]> {
  const bySite = new Map<string, Kind[]>();
  for (const k of kinds) bySite.set(KIND_SPECS[k].site, [...(bySite.get(KIND_SPECS[k].site) ?? []), k]);
  return bySite;
}

/** What the plain backward pass leaves for GradDrop: the residual gradient after each layer. */
export interface BaseGradients {
  /** ∂M/∂resid_post of each layer [B, P, D] (kept; the caller disposes) */
  residPost: tf.Tensor3D[];
}

/**
 * Attribution for every component of `kinds`, in each kind's index order (layer-major), from one
 * backward pass. Needs a context prepared with `forAttribution` (and `qkFix` for the QK fix).
 * With `keep`, the residual gradients GradDrop starts from are returned too.
 */
export async function attributionPatch(
  ctx: PatchContext,
  kinds: Kind[],
  o: AttributionOptions & { shifts?: PatternShifts; keep?: BaseGradients } = {},
): Promise<AttributionResult> {
  const { model, tape } = ctx;
  if (!tape) throw new Error('attributionPatch needs a context prepared for attribution');
  const bySite = kindsBySite(kinds);
  const L = model.config.nLayers;
  const attr = new LayerSlots(L), atp = new LayerSlots(L), attrQk = new LayerSlots(L), atpQk = new LayerSlots(L);
  const qkKinds = o.qkFix ? kinds.filter(isQkKind) : [];
  const ownShifts = qkKinds.length && !o.shifts ? new PatternShifts(ctx) : undefined;
  const shifts = o.shifts ?? ownShifts;
  const gFinal = metricGradient(model, ctx.metric, ctx.baseFinal, ctx.targets);
  try {
    model.backward(tape, gFinal, (name, grad) => {
      const parsed = parseHookName(name);
      if (!parsed) return;
      const { layer, site } = parsed;
      if (o.keep && site === 'hook_resid_post') o.keep.residPost[layer] = tf.keep(tf.clone(grad)) as tf.Tensor3D;
      if (site === 'attn.hook_pattern') {
        for (const k of qkKinds) {
          const x = qkPerPair(k, shifts!.of(k, layer), grad, shifts!.kvHeads);
          attrQk.set(k, layer, tf.sum(x, 0));
          atpQk.set(k, layer, tf.sum(tf.abs(x), 0));
        }
      }
      const ks = bySite.get(site);
      if (!ks) return;
      const contrib = tf.mul(tf.sub(ctx.src.get(name)!, ctx.base.get(name)!), grad);
      for (const k of ks) {
        const x = perPairComponents(k, contrib);
        attr.set(k, layer, tf.sum(x, 0));
        atp.set(k, layer, tf.sum(tf.abs(x), 0));
      }
    });
    return { attribution: await attr.toArrays(), attributionQk: await attrQk.toArrays(), scoreAtp: await atp.toArrays(), scoreAtpQk: await atpQk.toArrays() };
  } finally {
    gFinal.dispose();
    ownShifts?.dispose();
    for (const s of [attr, atp, attrQk, atpQk]) s.dispose();
  }
}
