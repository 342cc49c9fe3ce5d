/**
 * Activation patching: the true effect of each patch, from a patched forward pass.
 *
 * Done naively this is one full forward pass per component. Three facts make it much cheaper here:
 *  - A patch at layer L leaves layers below L untouched, so a patched run resumes from the base
 *    run's residual stream at layer L.
 *  - A patch at position p leaves positions < p untouched (causal mask), so only positions ≥ p are
 *    recomputed, reading earlier keys and values from the base run.
 *  - The metric reads the last position only, so the final layer computes attention and MLP there
 *    alone.
 * Variants are batched: a group shares its first position; each variant joins the batch at its own
 * layer and rides along to the top, so the batch grows as layers go up (variants × pairs rows).
 */
import * as tf from '@tensorflow/tfjs-core';
import { throwIfAborted } from '../errors.ts';
import { passThrough, type HookFn } from '../architecture.ts';
import { sliceAxis, tileTo } from '../ops.ts';
import { meanPerVariant, metricPerRow } from '../metrics.ts';
import { componentIndex, indexShape, KIND_SPECS, type Kind } from './components.ts';
import type { PatchContext } from './runs.ts';
import { planGroupRows } from './batches.ts';

export interface ActivationOptions {
  signal?: AbortSignal;
  /** called after each group with the number of components done so far */
  onProgress?: (done: number) => void;
  /** most rows (variants × pairs × positions) a batch may hold; bounds memory (default: planned from the heap's headroom) */
  budgetRows?: number;
}

interface Variant {
  /** position in the caller's list */
  slot: number;
  layer: number;
  /** first position the patch changes */
  p0: number;
  index: number[];
}

/** Axis of an activation that runs over (query) positions. */
const posAxis = (kind: Kind) => (kind === 'head_pattern' ? 2 : 1);

/**
 * Masks [V, 1, …] selecting each variant's elements of the hook activation [B, …]: 1 where the
 * source value goes in. Axes a variant does not select have size 1 and broadcast.
 */
function masks(ctx: PatchContext, kind: Kind, vs: Variant[]): { mask: tf.Tensor; hasPos: boolean } {
  const { dMlp: M } = ctx.model.config;
  const H = KIND_SPECS[kind].kvHeads ? ctx.model.config.nKvHeads : ctx.model.config.nHeads;
  const P = ctx.P;
  const V = vs.length;
  let shape: number[];
  let at: (v: Variant) => number;
  switch (kind) {
    case 'head_z':
    case 'head_q':
    case 'head_k':
    case 'head_v':
      shape = [V, 1, 1, H, 1];
      at = (v) => v.index[1];
      break;
    case 'head_z_pos':
      shape = [V, 1, P, H, 1];
      at = (v) => v.index[2] * H + v.index[1];
      break;
    case 'head_pattern':
      shape = [V, 1, H, 1, 1];
      at = (v) => v.index[1];
      break;
    case 'neuron':
      shape = [V, 1, 1, M];
      at = (v) => v.index[1];
      break;
    default:
      shape = [V, 1, P, 1];
      at = (v) => v.index[1];
  }
  const per = shape.slice(1).reduce((a, b) => a * b, 1);
  const data = new Float32Array(V * per);
  vs.forEach((v, i) => (data[i * per + at(v)] = 1));
  return { mask: tf.tensor(data, shape), hasPos: kind === 'head_z_pos' || KIND_SPECS[kind].dims[0] === 'pos' };
}

/**
 * A hook that expands `name`'s activation into patched variants: rows [0, keep) are passed through
 * (variants already running from lower layers), the B rows after them are the base run, which
 * becomes V patched copies [V·B, …] (variant-major).
 */
function patchHook(name: string, src: tf.Tensor, mask: tf.Tensor, axis: number, hasPos: boolean, keep = 0): HookFn {
  return (n, x, posStart) => {
    if (n !== name) return x;
    const len = x.shape[axis];
    const s = sliceAxis(src, axis, posStart, len);
    const m = hasPos ? sliceAxis(mask, axis + 1, posStart, len) : mask;
    const base = keep ? sliceAxis(x, 0, keep, x.shape[0] - keep) : x;
    const x1 = tf.reshape(base, [1, ...base.shape]);
    const out = tf.add(x1, tf.mul(m, tf.sub(tf.reshape(s, [1, ...s.shape]), x1))); // [V, B, …]
    const patched = tf.reshape(out, [mask.shape[0] * base.shape[0], ...base.shape.slice(1)]);
    return keep ? tf.concat([sliceAxis(x, 0, 0, keep), patched], 0) : patched;
  };
}

/** The matching expansion for tensors computed before the hook: [keep + B, …] → [keep + V·B, …]. */
function expandAfter(keep: number): (t: tf.Tensor, rows: number) => tf.Tensor {
  return (t, rows) => {
    if (!keep) return tileTo(t, rows);
    const base = sliceAxis(t, 0, keep, t.shape[0] - keep);
    return tf.concat([sliceAxis(t, 0, 0, keep), tileTo(base, rows - keep)], 0);
  };
}

/**
 * Each variant's change of the raw metric (mean over pairs) for one group (sorted by layer, one p0),
 * via one streaming pass. The change is taken per row, against the base run's row, before the
 * mean: two nearby float32 values subtract exactly, their means would not.
 */
function runGroup(ctx: PatchContext, kind: Kind, vs: Variant[], baseRows: tf.Tensor1D): tf.Tensor1D {
  const { model, B, P } = ctx;
  const L = model.config.nLayers;
  const p0 = vs[0].p0;
  const site = KIND_SPECS[kind].site;
  let running: tf.Tensor3D | undefined; // [V_so_far · B, P − p0, D]
  try {
    for (let l = vs[0].layer; l < L; l++) {
      const prev = running;
      // One scope per layer, so a group's memory is one layer's activations, not all of them.
      running = tf.tidy(() => {
        const lastOnly = l === L - 1;
        const kv = ctx.baseKV![l];
        const prefix = p0 > 0 ? { kT: sliceAxis(kv.kT, 3, 0, p0) as tf.Tensor4D, v: sliceAxis(kv.v, 2, 0, p0) as tf.Tensor4D } : undefined;
        const joiners = vs.filter((v) => v.layer === l);
        if (!joiners.length) return model.block(l, prev!, { p0, lastOnly, prefix, hook: passThrough }).out;
        // Variants joining at this layer ride in the same batch as those already running: their
        // base rows are appended, and the hook turns them into patched copies.
        const name = `blocks.${l}.${site}`;
        const { mask, hasPos } = masks(ctx, kind, joiners);
        const start = sliceAxis(ctx.base.get(`blocks.${l}.hook_resid_pre`)!, 1, p0, P - p0) as tf.Tensor3D;
        const x = prev ? (tf.concat([prev, start], 0) as tf.Tensor3D) : start;
        const keep = prev?.shape[0] ?? 0;
        const hook = patchHook(name, ctx.src.get(name)!, mask, posAxis(kind), hasPos, keep);
        return model.block(l, x, { p0, lastOnly, prefix, hook, expand: expandAfter(keep) }).out;
      });
      prev?.dispose();
    }
    const last = running!;
    return tf.tidy(() => {
      const rows = metricPerRow(model, ctx.metric, model.finalNorm(last), ctx.targets); // [V·B], variant-major
      return meanPerVariant(tf.sub(rows, tileTo(baseRows, rows.shape[0])) as tf.Tensor1D, B);
    });
  } finally {
    running?.dispose();
  }
}

/** Splits variants into groups of one p0, in layer order, each within the row budget. */
function groupVariants(vs: Variant[], B: number, P: number, budgetRows: number): Variant[][] {
  const byP0 = new Map<number, Variant[]>();
  for (const v of vs) byP0.set(v.p0, [...(byP0.get(v.p0) ?? []), v]);
  const groups: Variant[][] = [];
  for (const [p0, list] of [...byP0].sort((a, b) => a[0] - b[0])) {
    list.sort((a, b) => a.layer - b.layer);
    const perVariant = B * (P - p0);
    const cap = Math.max(1, Math.floor(budgetRows / perVariant));
    for (let i = 0; i < list.length; i += cap) groups.push(list.slice(i, i + cap));
  }
  return groups;
}

/**
 * Activation patching of the given components of one kind (flat indices into its index shape, or
 * all). Returns the change each patch makes to the raw metric (mean over the pairs), in the order given.
 */
export async function activationPatch(
  ctx: PatchContext,
  kind: Kind,
  components: number[] | undefined,
  o: ActivationOptions = {},
): Promise<Float32Array> {
  const shape = indexShape(kind, ctx.model.config, ctx.P);
  const total = shape.reduce((a, b) => a * b, 1);
  const ids = components ?? Array.from({ length: total }, (_, i) => i);
  const hasPos = kind === 'head_z_pos' || KIND_SPECS[kind].dims[0] === 'pos';
  const vs: Variant[] = ids.map((id, slot) => {
    const index = componentIndex(shape, id);
    return { slot, layer: index[0], p0: hasPos ? index[index.length - 1] : 0, index };
  });
  const out = new Float32Array(ids.length);
  let done = 0;
  const baseRows = metricPerRow(ctx.model, ctx.metric, ctx.baseFinal, ctx.targets);
  try {
    const budgetRows = o.budgetRows ?? planGroupRows({ config: ctx.model.config, positions: ctx.P });
    for (const group of groupVariants(vs, ctx.B, ctx.P, budgetRows)) {
      throwIfAborted(o.signal);
      const values = runGroup(ctx, kind, group, baseRows);
      const change = (await values.data()) as Float32Array;
      values.dispose();
      group.forEach((v, i) => (out[v.slot] = change[i]));
      done += group.length;
      o.onProgress?.(done);
      // Yield so that an abort (or a progress message) can get through between groups.
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    baseRows.dispose();
  }
  return out;
}

/**
 * The reference loop: one full forward pass per component with the patch applied. Slow; used by
 * tests to check the batched, layer- and position-skipping path above.
 */
export async function activationPatchOneByOne(ctx: PatchContext, kind: Kind, components: number[]): Promise<Float32Array> {
  const { model } = ctx;
  const shape = indexShape(kind, model.config, ctx.P);
  const hasPos = kind === 'head_z_pos' || KIND_SPECS[kind].dims[0] === 'pos';
  const out = new Float32Array(components.length);
  const tokens = ctx.baseTokens;
  for (let i = 0; i < components.length; i++) {
    const index = componentIndex(shape, components[i]);
    const name = `blocks.${index[0]}.${KIND_SPECS[kind].site}`;
    const v: Variant = { slot: 0, layer: index[0], p0: hasPos ? index[index.length - 1] : 0, index };
    const value = tf.tidy(() => {
      const { mask, hasPos: hp } = masks(ctx, kind, [v]);
      const hook = patchHook(name, ctx.src.get(name)!, mask, posAxis(kind), hp);
      const r = model.run(tokens, { hook });
      return meanPerVariant(metricPerRow(model, ctx.metric, r.final, ctx.targets), ctx.B);
    });
    out[i] = ((await value.data()) as Float32Array)[0] - ctx.baseValue;
    value.dispose();
  }
  return out;
}
