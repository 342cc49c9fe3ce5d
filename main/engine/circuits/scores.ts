/**
 * Edge attribution patching (EAP; Syed, Rager and Conmy 2023, arXiv 2310.10348) and its
 * integrated-gradients variant on the inputs (EAP-IG; Hanna, Pezzelle and Belinkov 2024, arXiv
 * 2403.17806): a first-order score for every edge u → v of the graph (graph.ts) at once,
 *
 *     S(u → v) = Σ_{pairs, positions, d_model} (z_u^src − z_u^base) · ∂M/∂x_v
 *
 * where z_u is what u writes to the residual stream and x_v is v's own copy of the residual stream
 * it reads (before its norm). Patching one edge changes x_v alone by Δz_u, so this is attribution
 * patching of that change. The gradient is taken on the base run (denoising: source = clean,
 * base = corrupted). EAP-IG averages the gradient over m runs whose input embeddings go from the
 * base run's towards the source run's, x_k = x_base + (k/m)(x_src − x_base), k = 0 … m − 1; step 0
 * is the base run itself, so plain EAP comes for free.
 *
 * The cost is two forward passes (source and base, which give every Δz_u) and one backward pass
 * that emits ∂M/∂x_v at every split input (BackwardOptions.inputGrads), plus m − 1 taped forward and
 * backward passes for EAP-IG. All edges into one layer's inputs come from one matmul,
 * Δ [sources, B·P·D] @ G [B·P·D, inputs of the layer]; the per-head split of the residual stream
 * is never materialised on the forward pass.
 */
import * as tf from '@tensorflow/tfjs-core';
import { throwIfAborted } from '../errors.ts';
import { metricGradient, type MetricName } from '../metrics.ts';
import type { HookedModel } from '../model.ts';
import type { Direction, TokenizedPairs } from '../patching/runs.ts';
import { meanMetric } from '../patching/runs.ts';
import { buildGraph, graphShape, type EdgeGraph } from './graph.ts';

export interface ScoreOptions {
  direction: Direction;
  metric: MetricName;
  /** m: 1 is plain EAP; more is EAP-IG with m steps (and EAP from its first step) */
  steps: number;
  signal?: AbortSignal;
  /** units: 2 forward passes, then a forward + backward per step */
  onProgress?: (done: number, total: number, phase: string) => void;
}

export interface EdgeScores {
  graph: EdgeGraph;
  /** change in the normalised metric per edge, in the graph's edge order */
  eap: Float32Array;
  /** EAP-IG with `steps` steps; absent when steps = 1 */
  eapIg?: Float32Array;
  steps: number;
  /** raw metric (mean over pairs) of the clean and the corrupted run */
  clean: number;
  corrupted: number;
}

/** What one layer's split inputs contribute to G: columns q (H), k (H_kv), v (H_kv), mlp. */
const INPUT_SITES = ['hook_q_input', 'hook_k_input', 'hook_v_input', 'hook_mlp_in'] as const;

/** [N, P, H, D] or [N, P, D] → [N·P·D, H] (or [N·P·D, 1]), flattened like a row of Δ. */
function asColumns(g: tf.Tensor): tf.Tensor2D {
  if (g.rank === 3) return tf.reshape(g, [-1, 1]);
  const [n, p, h, d] = g.shape;
  return tf.reshape(tf.transpose(g, [0, 1, 3, 2]), [n * p * d, h]);
}

/**
 * Δ [sources, B·P·D]: one row per upstream node, in source order, of (source − base) writes.
 * `src` and `base` hold blocks.0.hook_resid_pre (the input), attn.hook_result and hook_mlp_out.
 */
function deltaRows(L: number, src: Map<string, tf.Tensor>, base: Map<string, tf.Tensor>): tf.Tensor2D {
  return tf.tidy(() => {
    const d = (name: string) => tf.sub(src.get(name)!, base.get(name)!);
    const rows: tf.Tensor[] = [tf.reshape(d('blocks.0.hook_resid_pre'), [1, -1])];
    for (let l = 0; l < L; l++) {
      const r = d(`blocks.${l}.attn.hook_result`); // [B, P, H, D]
      rows.push(tf.reshape(tf.transpose(r, [2, 0, 1, 3]), [r.shape[2]!, -1]));
      rows.push(tf.reshape(d(`blocks.${l}.hook_mlp_out`), [1, -1]));
    }
    return tf.concat(rows, 0) as tf.Tensor2D;
  });
}

/** Captures the named activations of a run (kept; the caller disposes them). */
export function captureInto(into: Map<string, tf.Tensor>, wanted: (name: string) => boolean) {
  return (name: string, x: tf.Tensor) => {
    if (wanted(name)) into.set(name, tf.keep(x));
    return x;
  };
}

/** The upstream writes a graph needs: the input, every head's result, every MLP's output. */
export const isUpstreamHook = (name: string) =>
  name === 'blocks.0.hook_resid_pre' || name.endsWith('.attn.hook_result') || name.endsWith('.hook_mlp_out');

/**
 * Scores of every edge of one gradient: Δ @ G per layer, read into `acc` (float64, raw metric),
 * weighted by `weight`. Runs the backward pass of `tape`.
 */
function accumulateStep(
  model: HookedModel,
  graph: EdgeGraph,
  delta: tf.Tensor2D,
  tape: Parameters<HookedModel['backward']>[0],
  gFinal: tf.Tensor2D,
  acc: Float64Array,
  weight: number,
): Promise<void> {
  const L = model.config.nLayers;
  const pending = new Map<number, Map<string, tf.Tensor2D>>();
  const blocks: { layer: number; s: tf.Tensor2D }[] = [];
  const logitsName = `blocks.${L - 1}.hook_resid_post`;
  model.backward(
    tape,
    gFinal,
    (name, grad) => {
      if (name === logitsName) {
        blocks.push({ layer: L, s: tf.keep(tf.matMul(delta, asColumns(grad))) }); // [sources, 1]
        return;
      }
      const m = /^blocks\.(\d+)\.(hook_[qkv]_input|hook_mlp_in)$/.exec(name);
      if (!m) return;
      const l = Number(m[1]);
      const got = pending.get(l) ?? new Map<string, tf.Tensor2D>();
      pending.set(l, got);
      got.set(m[2], tf.keep(asColumns(grad)));
      if (got.size < INPUT_SITES.length) return;
      // Every input of layer l reads a prefix of the sources; the MLP's is the longest.
      const rows = graph.destinations.find((d) => d.layer === l && d.kind === 'mlp')!.sources;
      const s = tf.tidy(() => tf.matMul(tf.slice(delta, [0, 0], [rows, -1]), tf.concat(INPUT_SITES.map((k) => got.get(k)!), 1)) as tf.Tensor2D);
      blocks.push({ layer: l, s: tf.keep(s) }); // [rows, q H + k H_kv + v H_kv + 1]
      tf.dispose([...got.values()]);
      pending.delete(l);
    },
    { inputGrads: true },
  );
  for (const got of pending.values()) tf.dispose([...got.values()]);
  if (blocks.length !== L + 1) {
    tf.dispose(blocks.map((b) => b.s));
    throw new Error(`the backward pass emitted split-input gradients for ${blocks.length - 1} of ${L} layers`);
  }
  return readBlocks(graph, blocks, acc, weight);
}

/** Scatters each layer's [rows, inputs] block into the edge order. */
async function readBlocks(graph: EdgeGraph, blocks: { layer: number; s: tf.Tensor2D }[], acc: Float64Array, weight: number): Promise<void> {
  const firstOfLayer = new Map<number, number>();
  graph.destinations.forEach((d, j) => {
    if (!firstOfLayer.has(d.layer)) firstOfLayer.set(d.layer, j);
  });
  try {
    for (const { layer, s } of blocks) {
      const values = (await s.data()) as Float32Array;
      const [, cols] = s.shape;
      for (let c = 0; c < cols; c++) {
        const j = firstOfLayer.get(layer)! + c;
        const start = graph.dstStart[j];
        for (let u = 0; u < graph.destinations[j].sources; u++) acc[start + u] += weight * values[u * cols + c];
      }
    }
  } finally {
    tf.dispose(blocks.map((b) => b.s));
  }
}

export async function edgeScores(model: HookedModel, pairs: TokenizedPairs, o: ScoreOptions): Promise<EdgeScores> {
  const m = o.steps;
  if (!Number.isInteger(m) || m < 1) throw new Error(`steps must be a positive integer, got ${m}`);
  const graph = buildGraph(graphShape(model.config));
  const targets = { answer: pairs.answer, wrong: pairs.wrong };
  const total = 2 + m;
  const report = (done: number, phase: string) => o.onProgress?.(done, total, phase);
  const [srcTokens, baseTokens] = o.direction === 'denoising' ? [pairs.clean, pairs.corrupted] : [pairs.corrupted, pairs.clean];
  const src = new Map<string, tf.Tensor>();
  const base = new Map<string, tf.Tensor>();
  const owned: tf.Tensor[] = [];
  const tape0 = model.newTape(pairs.clean[0].length);
  try {
    report(0, 'forward passes');
    throwIfAborted(o.signal);
    const srcT = model.tokensTensor(srcTokens);
    const baseT = model.tokensTensor(baseTokens);
    owned.push(srcT, baseT);
    const s = model.run(srcT, { hook: captureInto(src, isUpstreamHook), attnResult: true });
    owned.push(s.final);
    const b = model.run(baseT, { hook: captureInto(base, isUpstreamHook), attnResult: true, tape: tape0 });
    owned.push(b.final);
    const srcValue = await meanMetric(model, o.metric, s.final, targets);
    const baseValue = await meanMetric(model, o.metric, b.final, targets);
    const [clean, corrupted] = o.direction === 'denoising' ? [srcValue, baseValue] : [baseValue, srcValue];
    const delta = deltaRows(model.config.nLayers, src, base);
    owned.push(delta);
    const E = graph.src.length;
    const eap = new Float64Array(E);
    const ig = m > 1 ? new Float64Array(E) : undefined;
    for (let k = 0; k < m; k++) {
      report(2 + k, m > 1 ? `EAP-IG step ${k + 1} of ${m}` : 'backward pass');
      throwIfAborted(o.signal);
      await new Promise((r) => setImmediate(r));
      if (k === 0) {
        const g = metricGradient(model, o.metric, b.final, targets);
        try {
          await accumulateStep(model, graph, delta, tape0, g, eap, 1);
        } finally {
          g.dispose();
        }
        ig?.set(eap.map((v) => v / m));
        continue;
      }
      // x_k = x_base + (k/m)(x_src − x_base) at the input embeddings; the rest of the run follows.
      const embedSrc = src.get('blocks.0.hook_resid_pre')!;
      const tape = model.newTape(pairs.clean[0].length);
      try {
        const hook = (name: string, x: tf.Tensor) => (name === 'blocks.0.hook_resid_pre' ? tf.add(x, tf.mul(tf.sub(embedSrc, x), k / m)) : x);
        const r = model.run(baseT, { hook, tape });
        const g = metricGradient(model, o.metric, r.final, targets);
        r.final.dispose();
        try {
          await accumulateStep(model, graph, delta, tape, g, ig!, 1 / m);
        } finally {
          g.dispose();
        }
      } finally {
        tape.dispose();
      }
    }
    report(total, 'done');
    const scale = clean - corrupted;
    const normalised = (a: Float64Array) => Float32Array.from(a, (v) => v / scale);
    return { graph, eap: normalised(eap), eapIg: ig && normalised(ig), steps: m, clean, corrupted };
  } finally {
    tf.dispose([...src.values(), ...base.values(), ...owned]);
    tape0.dispose();
  }
}
