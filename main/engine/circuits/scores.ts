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
 * The cost is two plain forward passes (source and base, which give every Δz_u; a head's from its
 * z difference through its rows of W_O, Architecture.headResults) and one backward pass that
 * hands over ∂M/∂x_v of every split input, head-major (BackwardOptions.onInputGrads: GPT-2 forms
 * them from one batched product with the norm folded into the weights, never a per-head copy of
 * the norm's backward), plus m − 1 taped forward and backward passes for EAP-IG. All edges into
 * one layer's inputs come from one matmul, Δ [sources read, B·P'·D] @ G [inputs of the layer,
 * B·P'·D]ᵀ, over the positions P' from the first at which the two prompts of any pair differ
 * (before it both runs agree, so every Δz_u is zero there).
 */
import * as tf from '@tensorflow/tfjs-core';
import { throwIfAborted } from '../errors.ts';
import { metricGradient, type MetricName } from '../metrics.ts';
import type { HookedModel } from '../model.ts';
import type { Direction, TokenizedPairs } from '../patching/runs.ts';
import { meanMetric } from '../patching/runs.ts';
import { slicePairs } from '../patching/index.ts';
import { heapFree } from '../patching/batches.ts';
import { sliceAxis } from '../ops.ts';
import type { HookFn, KeyValues } from '../architecture.ts';
import { buildGraph, graphShape, type EdgeGraph } from './graph.ts';

export interface ScoreOptions {
  direction: Direction;
  metric: MetricName;
  /** m: 1 is plain EAP; more is EAP-IG with m steps (and EAP from its first step) */
  steps: number;
  signal?: AbortSignal;
  /** units: 2 forward passes, then a forward + backward per step (whole units, shared by the batches of pairs) */
  onProgress?: (done: number, total: number, phase: string) => void;
  /** pairs per batch (default: planned from the heap's headroom, planEapPairs) */
  batchPairs?: number;
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

/** What one layer's split inputs contribute to G, in column order: q (H), k (H_kv), v (H_kv), mlp. */
const INPUT_SITES = ['hook_q_input', 'hook_k_input', 'hook_v_input', 'hook_mlp_in'] as const;

/** A hook-shaped input gradient [N, P, H, D] (or [N, P, D]) as rows [H, N·P·D] (or [1, N·P·D]), flattened like a row of Δ. */
function asRows(g: tf.Tensor): tf.Tensor2D {
  if (g.rank === 3) return tf.reshape(g, [1, -1]);
  return tf.reshape(tf.transpose(g, [2, 0, 1, 3]), [g.shape[2]!, -1]);
}

/** The hooks an upstream difference is formed from: the input, each MLP's output and each head's z (or result). */
export function upstreamHooks(model: HookedModel): (name: string) => boolean {
  const head = model.arch.headResults ? '.attn.hook_z' : '.attn.hook_result';
  return (name) => name === 'blocks.0.hook_resid_pre' || name.endsWith(head) || name.endsWith('.hook_mlp_out');
}

/**
 * Δ [sources, B·P·D]: one row per upstream node, in source order, of (source − base) writes, from
 * runs captured with `upstreamHooks`. A head's row is its z difference through its rows of W_O
 * (the write is linear in z), so the runs need not split the attention output by head.
 */
function deltaRows(model: HookedModel, src: Map<string, tf.Tensor>, base: Map<string, tf.Tensor>, p0: number): tf.Tensor2D {
  const arch = model.arch;
  return tf.tidy(() => {
    // Positions from p0 on (the source run computed only those).
    const Pc = base.get('blocks.0.hook_resid_pre')!.shape[1]! - p0;
    const tail = (t: tf.Tensor) => sliceAxis(t, 1, t.shape[1]! - Pc, Pc);
    const d = (name: string) => tf.sub(tail(src.get(name)!), tail(base.get(name)!));
    const rows: tf.Tensor[] = [tf.reshape(d('blocks.0.hook_resid_pre'), [1, -1])];
    for (let l = 0; l < model.config.nLayers; l++) {
      if (arch.headResults) {
        const dz = d(`blocks.${l}.attn.hook_z`) as tf.Tensor4D; // [B, P', H, dh]
        rows.push(tf.reshape(arch.headResults(l, dz), [dz.shape[2], -1]));
      } else rows.push(asRows(d(`blocks.${l}.attn.hook_result`))); // [B, P', H, D]
      rows.push(tf.reshape(d(`blocks.${l}.hook_mlp_out`), [1, -1]));
    }
    return tf.concat(rows, 0) as tf.Tensor2D;
  });
}

/**
 * The first position at which any pair's two prompts differ: before it both runs are the same
 * (attention is causal), so every upstream difference vanishes there and no edge score reads it.
 */
export function firstDifference(a: number[][], b: number[][]): number {
  const P = a[0].length;
  let p0 = P;
  a.forEach((row, i) => {
    const j = row.findIndex((t, k) => t !== b[i][k]);
    if (j >= 0) p0 = Math.min(p0, j);
  });
  return Math.min(p0, P - 1); // identical prompts: keep one (zero) position
}

/** The upstream writes as the split-input runs of faithfulness capture them: the input, every head's result, every MLP's output. */
export const isUpstreamHook = (name: string) =>
  name === 'blocks.0.hook_resid_pre' || name.endsWith('.attn.hook_result') || name.endsWith('.hook_mlp_out');

/** Captures the named activations of a run (kept; the caller disposes them). */
export function captureInto(into: Map<string, tf.Tensor>, wanted: (name: string) => boolean) {
  return (name: string, x: tf.Tensor) => {
    if (wanted(name)) into.set(name, tf.keep(x));
    return x;
  };
}

/**
 * Scores of every edge of one gradient: per layer, Δ's rows that layer's inputs read @ Gᵀ, with G
 * [inputs, B·P·D] the inputs' gradients, read into `acc` (float64, raw metric) weighted by
 * `weight`. Runs the backward pass of `tape`.
 */
function accumulateStep(
  model: HookedModel,
  graph: EdgeGraph,
  delta: tf.Tensor2D,
  p0: number,
  tape: Parameters<HookedModel['backward']>[0],
  gFinal: tf.Tensor2D,
  acc: Float64Array,
  weight: number,
): Promise<void> {
  const L = model.config.nLayers;
  const P = tape.positions;
  const pending = new Map<number, Map<string, tf.Tensor2D>>();
  const blocks: { layer: number; s: tf.Tensor2D }[] = [];
  const logitsName = `blocks.${L - 1}.hook_resid_post`;
  // Every input of layer l reads a prefix of the sources; the MLP's is the longest.
  const rowsOf = (l: number) => graph.destinations.find((d) => d.layer === l && d.kind === 'mlp')!.sources;
  const score = (layer: number, rows: number, g: () => tf.Tensor2D) => {
    const s = tf.tidy(() => tf.matMul(rows === delta.shape[0] ? delta : tf.slice(delta, [0, 0], [rows, -1]), g(), false, true) as tf.Tensor2D);
    blocks.push({ layer, s: tf.keep(s) }); // [rows, inputs]
  };
  /** Rows [R, N·P·D] of gradients → their positions from p0 on, [R, N·(P − p0)·D], as Δ's rows are laid out. */
  const fromP0 = (g: tf.Tensor): tf.Tensor2D =>
    (p0 === 0 ? g : tf.reshape(sliceAxis(tf.reshape(g, [g.shape[0], -1, P, model.config.dModel]), 2, p0, P - p0), [g.shape[0], -1])) as tf.Tensor2D;
  model.backward(
    tape,
    gFinal,
    (name, grad) => {
      if (name === logitsName) {
        // The metric reads the final norm of the last position only (Architecture.finalNorm), so
        // the logits' input has a gradient there alone: contract that position, not all of them.
        const [n, , d] = grad.shape;
        const lastOf = (t: tf.Tensor, rows: number) => {
          const p = t.size / (rows * n * d);
          return tf.reshape(tf.slice(tf.reshape(t, [rows, n, p, d]), [0, 0, p - 1, 0], [rows, n, 1, d]), [rows, -1]);
        };
        const s = tf.tidy(() => tf.matMul(lastOf(delta, delta.shape[0]), lastOf(grad, 1), false, true) as tf.Tensor2D);
        blocks.push({ layer: L, s: tf.keep(s) });
        return;
      }
      const m = /^blocks\.(\d+)\.(hook_[qkv]_input|hook_mlp_in)$/.exec(name);
      if (!m) return;
      const l = Number(m[1]);
      const got = pending.get(l) ?? new Map<string, tf.Tensor2D>();
      pending.set(l, got);
      got.set(m[2], tf.keep(tf.tidy(() => fromP0(asRows(grad)))));
      if (got.size < INPUT_SITES.length) return;
      score(l, rowsOf(l), () => tf.concat(INPUT_SITES.map((k) => got.get(k)!), 0) as tf.Tensor2D);
      tf.dispose([...got.values()]);
      pending.delete(l);
    },
    {
      inputGrads: true,
      inputGradsFrom: p0,
      onInputGrads: (l, qkv, mlp) => {
        // A family that ignores inputGradsFrom hands over every position.
        const cut = (g: tf.Tensor2D) => (g.shape[1] === delta.shape[1] ? g : fromP0(g));
        score(l, rowsOf(l), () => tf.concat([cut(tf.reshape(qkv, [qkv.shape[0], -1]) as tf.Tensor2D), cut(tf.reshape(mlp, [1, -1]) as tf.Tensor2D)], 0) as tf.Tensor2D);
      },
    },
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

/**
 * The source run, from position p0 on: before p0 its tokens are the base run's, so are its
 * activations (attention is causal), and each layer reads those positions' keys and values from
 * the base run (`kv`). Returns the final-normed last position [N, D]; hooks see positions p0 … P − 1.
 */
function runFrom(model: HookedModel, tokens: tf.Tensor2D, p0: number, kv: KeyValues[] | undefined, hook: HookFn, attnResult: boolean): tf.Tensor2D {
  if (p0 === 0 || !kv) return model.run(tokens, { hook, attnResult }).final;
  const P = tokens.shape[1];
  let x = tf.tidy(() => sliceAxis(model.embed(tokens, hook), 1, p0, P - p0) as tf.Tensor3D);
  for (let l = 0; l < model.config.nLayers; l++) {
    const xIn = x;
    x = tf.tidy(() => {
      const prefix = { kT: sliceAxis(kv[l].kT, 3, 0, p0) as tf.Tensor4D, v: sliceAxis(kv[l].v, 2, 0, p0) as tf.Tensor4D };
      return model.block(l, xIn, { p0, lastOnly: false, prefix, hook, attnResult }).out;
    });
    if (!xIn.kept) xIn.dispose();
  }
  const final = tf.tidy(() => model.finalNorm(x));
  if (!x.kept) x.dispose();
  return final;
}

/**
 * Pairs per EAP batch: one pair holds a difference row per upstream node over the positions from
 * the first difference on (deltaRows), and the runs' captured writes and tape over all positions,
 * about d_model·(2·sources·P′ + 12·layers·P) floats; a batch may take a quarter of the heap the
 * model leaves free (after what the architecture caches on the first circuit job), at most 1 GiB.
 * GPT-2 small gets dozens of pairs, GPT-2 large one or two.
 */
export function planEapPairs(model: HookedModel, graph: EdgeGraph, positions: number, changed: number, usedBytes = tf.memory().numBytes): number {
  const { dModel: D, nLayers: L } = model.config;
  const sources = graph.sources.length;
  const perPair = 4 * D * (2 * sources * changed + 12 * L * positions);
  const free = Math.max(0, heapFree(usedBytes) - (model.arch.pendingCircuitBytes ?? 0));
  return Math.max(1, Math.floor(Math.min(2 ** 30, free / 4) / perPair));
}

/** Raw (unnormalised) sums of one batch of pairs: the metric's mean over these pairs. */
interface RawScores {
  eap: Float64Array;
  ig?: Float64Array;
  clean: number;
  corrupted: number;
}

/**
 * EAP (and EAP-IG) scores of every edge, normalised so that corrupted = 0 and clean = 1. The pairs go
 * through in batches (the metric is a mean over pairs, so each batch's raw sums weigh by its share
 * of the pairs), so memory stays within the heap however many pairs there are.
 */
export async function edgeScores(model: HookedModel, pairs: TokenizedPairs, o: ScoreOptions): Promise<EdgeScores> {
  const m = o.steps;
  if (!Number.isInteger(m) || m < 1) throw new Error(`steps must be a positive integer, got ${m}`);
  const graph = buildGraph(graphShape(model.config));
  const B = pairs.clean.length;
  const P = pairs.clean[0].length;
  const batch = Math.min(B, o.batchPairs ?? planEapPairs(model, graph, P, P - firstDifference(pairs.clean, pairs.corrupted)));
  const batches = Math.ceil(B / batch);
  const total = 2 + m;
  const E = graph.src.length;
  const eap = new Float64Array(E);
  const ig = m > 1 ? new Float64Array(E) : undefined;
  let clean = 0;
  let corrupted = 0;
  for (let i = 0; i < batches; i++) {
    const [a, b] = [i * batch, Math.min(B, (i + 1) * batch)];
    const part = slicePairs(pairs, a, b);
    const raw = await scoreBatch(model, graph, part, o, (done, phase) =>
      o.onProgress?.(Math.floor((i * total + done) / batches), total, batches > 1 ? `${phase} (pairs ${a + 1}–${b} of ${B})` : phase),
    );
    const w = (b - a) / B;
    for (let e = 0; e < E; e++) eap[e] += w * raw.eap[e];
    if (ig) for (let e = 0; e < E; e++) ig[e] += w * raw.ig![e];
    clean += w * raw.clean;
    corrupted += w * raw.corrupted;
  }
  o.onProgress?.(total, total, 'done');
  const scale = clean - corrupted;
  const normalised = (x: Float64Array) => Float32Array.from(x, (v) => v / scale);
  return { graph, eap: normalised(eap), eapIg: ig && normalised(ig), steps: m, clean, corrupted };
}

async function scoreBatch(model: HookedModel, graph: EdgeGraph, pairs: TokenizedPairs, o: ScoreOptions, report: (done: number, phase: string) => void): Promise<RawScores> {
  const m = o.steps;
  const targets = { answer: pairs.answer, wrong: pairs.wrong };
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
    const upstream = upstreamHooks(model);
    const attnResult = !model.arch.headResults;
    const p0 = firstDifference(srcTokens, baseTokens);
    const b = model.run(baseT, { hook: captureInto(base, upstream), attnResult, tape: tape0, keepKV: p0 > 0 });
    owned.push(b.final, ...(b.kv ?? []).flatMap((kv) => [kv.kT, kv.v]));
    const s = runFrom(model, srcT, p0, b.kv, captureInto(src, upstream), attnResult);
    owned.push(s);
    const srcValue = await meanMetric(model, o.metric, s, targets);
    const baseValue = await meanMetric(model, o.metric, b.final, targets);
    const [clean, corrupted] = o.direction === 'denoising' ? [srcValue, baseValue] : [baseValue, srcValue];
    const delta = deltaRows(model, src, base, p0);
    owned.push(delta);
    const E = graph.src.length;
    const eap = new Float64Array(E);
    const ig = m > 1 ? new Float64Array(E) : undefined;
    // The source run's input embedding at every position (it ran from p0 on; before p0 it is the base run's).
    const srcTail = src.get('blocks.0.hook_resid_pre')!;
    const embedSrc = p0 > 0 ? tf.tidy(() => tf.concat([sliceAxis(base.get('blocks.0.hook_resid_pre')!, 1, 0, p0), srcTail], 1)) : srcTail;
    if (embedSrc !== srcTail) owned.push(embedSrc);
    for (let k = 0; k < m; k++) {
      report(2 + k, m > 1 ? `EAP-IG step ${k + 1} of ${m}` : 'backward pass');
      throwIfAborted(o.signal);
      await new Promise((r) => setImmediate(r));
      if (k === 0) {
        const g = metricGradient(model, o.metric, b.final, targets);
        try {
          await accumulateStep(model, graph, delta, p0, tape0, g, eap, 1);
        } finally {
          g.dispose();
        }
        ig?.set(eap.map((v) => v / m));
        continue;
      }
      // x_k = x_base + (k/m)(x_src − x_base) at the input embeddings; the rest of the run follows.
      const tape = model.newTape(pairs.clean[0].length);
      try {
        const hook = (name: string, x: tf.Tensor) => (name === 'blocks.0.hook_resid_pre' ? tf.add(x, tf.mul(tf.sub(embedSrc, x), k / m)) : x);
        const r = model.run(baseT, { hook, tape });
        const g = metricGradient(model, o.metric, r.final, targets);
        r.final.dispose();
        try {
          await accumulateStep(model, graph, delta, p0, tape, g, ig!, 1 / m);
        } finally {
          g.dispose();
        }
      } finally {
        tape.dispose();
      }
    }
    return { eap, ig, clean, corrupted };
  } finally {
    tf.dispose([...src.values(), ...base.values(), ...owned]);
    tape0.dispose();
  }
}
