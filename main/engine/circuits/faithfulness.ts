/**
 * Faithfulness of a circuit C (EAP-IG paper's definition, the same in both directions): run the
 * clean prompts, and give every input x_v, for each edge u → v outside C, u's output from the plain
 * corrupted run instead of u's output in this run. Edges inside C carry this run's own values.
 *
 *     F(C) = (m_C − m_corrupted) / (m_clean − m_corrupted)
 *
 * with m the metric's mean over pairs: the full graph gives 1, the empty circuit 0.
 *
 * Every input reads (everything upstream) + constants, and the corrupted run's input is
 * (corrupted upstream) + the same constants, so
 *
 *     x_v = x_v^corrupted + Σ_{u → v in C} (z_u^this run − z_u^corrupted),
 *
 * one matmul per group of inputs and circuit, reading only the sources it needs (see
 * patchedRunHeadMajor). This is a real patched forward pass, one row block per circuit, so circuits
 * are evaluated in batches: with every input given head-major where the family takes them so
 * (BlockOptions.headMajorInputs: GPT-2), else through the split-input hooks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { throwIfAborted } from '../errors.ts';
import { meanPerVariant, metricPerRow, type MetricName, type Targets } from '../metrics.ts';
import type { HookedModel } from '../model.ts';
import { tileTo } from '../ops.ts';
import { meanMetric, type TokenizedPairs } from '../patching/runs.ts';
import type { Circuit } from './extract.ts';
import type { EdgeGraph } from './graph.ts';
import { captureInto, isUpstreamHook, upstreamHooks } from './scores.ts';

export interface FaithfulnessContext {
  model: HookedModel;
  graph: EdgeGraph;
  metric: MetricName;
  targets: Targets;
  B: number;
  P: number;
  clean: number;
  corrupted: number;
  cleanTokens: number[][];
  /** the plain corrupted run: upstream writes, and each layer's inputs before the split */
  corr: Map<string, tf.Tensor>;
  dispose(): void;
}

const isInputHook = (name: string) => /\.hook_resid_pre$|\.hook_mlp_in$/.test(name);

export async function prepareFaithfulness(model: HookedModel, graph: EdgeGraph, pairs: TokenizedPairs, metric: MetricName): Promise<FaithfulnessContext> {
  const targets = { answer: pairs.answer, wrong: pairs.wrong };
  const L = model.config.nLayers;
  const logitsIn = `blocks.${L - 1}.hook_resid_post`;
  const corr = new Map<string, tf.Tensor>();
  const cleanT = model.tokensTensor(pairs.clean);
  const corrT = model.tokensTensor(pairs.corrupted);
  try {
    const c = model.run(cleanT);
    const clean = await meanMetric(model, metric, c.final, targets);
    c.final.dispose();
    const fast = headMajor(model);
    // The fast path reads each head's z and the inputs as a plain run has them (resid_mid is the MLP's input there).
    const wanted = fast
      ? (n: string) => upstreamHooks(model)(n) || /\.hook_resid_(pre|mid)$/.test(n) || n === logitsIn
      : (n: string) => isUpstreamHook(n) || isInputHook(n) || n === logitsIn;
    const r = model.run(corrT, { hook: captureInto(corr, wanted), splitInputs: !fast });
    const corrupted = await meanMetric(model, metric, r.final, targets);
    r.final.dispose();
    return {
      model, graph, metric, targets, B: pairs.clean.length, P: pairs.clean[0].length, clean, corrupted, cleanTokens: pairs.clean, corr,
      dispose: () => {
        tf.dispose([...corr.values()]);
        corr.clear();
      },
    };
  } catch (e) {
    tf.dispose([...corr.values()]);
    throw e;
  } finally {
    tf.dispose([cleanT, corrT]);
  }
}

/** The 0/1 matrix [C, inputs j0 … j1−1, sources 0 … rows−1] of a batch of circuits. */
function adjacency(g: EdgeGraph, circuits: Circuit[], j0: number, j1: number, rows: number): tf.Tensor3D {
  const C = circuits.length;
  const nj = j1 - j0;
  const a = new Float32Array(C * nj * rows);
  circuits.forEach((c, ci) => {
    for (let j = j0; j < j1; j++) {
      const start = g.dstStart[j];
      for (let u = 0; u < g.destinations[j].sources; u++) if (c[start + u]) a[(ci * nj + (j - j0)) * rows + u] = 1;
    }
  });
  return tf.tensor3d(a, [C, nj, rows]);
}

/** Whether the model's family takes every input head-major (the fast path), with heads' writes from z. */
const headMajor = (model: HookedModel) => !!(model.arch.headMajorInputs && model.arch.headResults);

/** The patched metric (raw, mean over pairs) of each circuit of one batch. */
function patchedRun(ctx: FaithfulnessContext, circuits: Circuit[]): tf.Tensor1D {
  return headMajor(ctx.model) ? patchedRunHeadMajor(ctx, circuits) : patchedRunHooked(ctx, circuits);
}

/**
 * The fast path: every input is formed head-major and handed to the blocks directly
 * (BlockOptions.headMajorInputs), reading only the upstream writes its circuit uses: per group of
 * inputs (a layer's q/k/v inputs, an MLP's, the logits'), either
 *
 *     x_v = x_v^corrupted + Σ_{u → v in C} D_u     or     x_v = x_v^this run − Σ_{u → v not in C} D_u,
 *
 * whichever reads fewer edges, so that small circuits and nearly full ones cost little more than a
 * forward pass. D_u (this run's write minus the corrupted run's) is kept per layer for all circuits
 * of the batch, a head's from its z (Architecture.headResults).
 */
function patchedRunHeadMajor(ctx: FaithfulnessContext, circuits: Circuit[]): tf.Tensor1D {
  const { model, graph: g, B, P } = ctx;
  const arch = model.arch;
  const L = model.config.nLayers;
  const C = circuits.length;
  const D = model.config.dModel;
  const H = g.shape.nHeads;
  const BPD = B * P * D;
  const kept: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(t: T): T => (kept.push(tf.keep(t)), t);
  // Upstream differences, each [k·C, B·P·D] with row r·C + c for node r of the block and circuit c.
  let input: tf.Tensor2D | undefined;
  const heads: tf.Tensor2D[] = [];
  const mlps: tf.Tensor2D[] = [];
  const diffOf = (c: number, u: number): tf.Tensor2D => {
    if (u === 0) return tf.slice(input!, [c, 0], [1, -1]);
    const l = Math.floor((u - 1) / (H + 1));
    const h = (u - 1) % (H + 1);
    return h === H ? tf.slice(mlps[l], [c, 0], [1, -1]) : tf.slice(heads[l], [h * C + c, 0], [1, -1]);
  };
  const corr = (name: string) => ctx.corr.get(name)!;
  /** Inputs j0 … j1 − 1 of every circuit: [j1 − j0, C·B·P·D], from the corrupted and this run's value [C·B, P, D]. */
  const mix = (j0: number, j1: number, corrupted: tf.Tensor, thisRun: tf.Tensor): tf.Tensor2D => {
    const n = j1 - j0;
    const perCircuit = circuits.map((circuit, c) => {
      let inside = 0;
      let all = 0;
      for (let j = j0; j < j1; j++) {
        all += g.destinations[j].sources;
        for (let u = 0; u < g.destinations[j].sources; u++) inside += circuit[g.dstStart[j] + u];
      }
      const additive = inside <= all - inside;
      const base = additive ? tf.reshape(corrupted, [1, BPD]) : tf.reshape(tf.slice(thisRun, [c * B, 0, 0], [B, -1, -1]), [1, BPD]);
      // The sources this group reads (additive) or drops (complement), and the 0/1 matrix over them.
      const used: number[] = [];
      const column = new Map<number, number>();
      for (let j = j0; j < j1; j++) {
        for (let u = 0; u < g.destinations[j].sources; u++) {
          if (!!circuit[g.dstStart[j] + u] === additive && !column.has(u)) {
            column.set(u, used.length);
            used.push(u);
          }
        }
      }
      if (used.length === 0) return tileTo(base, n);
      const a = new Float32Array(n * used.length);
      for (let j = j0; j < j1; j++) {
        for (let u = 0; u < g.destinations[j].sources; u++) if (!!circuit[g.dstStart[j] + u] === additive) a[(j - j0) * used.length + column.get(u)!] = 1;
      }
      const rows = used.length === 1 ? diffOf(c, used[0]) : tf.concat(used.map((u) => diffOf(c, u)), 0);
      const moved = tf.matMul(tf.tensor2d(a, [n, used.length]), rows); // [n, B·P·D]
      return additive ? tf.add(base, moved) : tf.sub(base, moved);
    });
    return (C === 1 ? perCircuit[0] : tf.concat(perCircuit, 1)) as tf.Tensor2D;
  };
  const firstOf = (l: number, kind: string) => g.destinations.findIndex((d) => d.layer === l && d.kind === kind);
  const logitsIn = `blocks.${L - 1}.hook_resid_post`;
  const hook = (name: string, x: tf.Tensor) => {
    const m = /^blocks\.(\d+)\.(.+)$/.exec(name);
    if (!m) return x;
    const l = Number(m[1]);
    const site = m[2];
    const diff = (rows: number) => tf.reshape(tf.sub(x, tileTo(corr(name), C * B)), [rows, -1]) as tf.Tensor2D;
    if (l === 0 && site === 'hook_resid_pre') input = keep(diff(C));
    else if (site === 'attn.hook_z') heads[l] = keep(tf.reshape(arch.headResults!(l, tf.sub(x, tileTo(corr(name), C * B)) as tf.Tensor4D), [H * C, -1]) as tf.Tensor2D);
    else if (site === 'hook_mlp_out') mlps[l] = keep(diff(C));
    else if (name === logitsIn) {
      const j = g.destinations.length - 1;
      return tf.reshape(mix(j, j + 1, corr(name), x), [C * B, P, D]);
    }
    return x;
  };
  const inputs = {
    qkv: (l: number, x: tf.Tensor3D) => {
      const j0 = firstOf(l, 'q');
      const j1 = firstOf(l, 'mlp');
      return tf.reshape(mix(j0, j1, corr(`blocks.${l}.hook_resid_pre`), x), [j1 - j0, C * B * P, D]) as tf.Tensor3D;
    },
    mlp: (l: number, mid: tf.Tensor3D) => {
      const j = firstOf(l, 'mlp');
      return tf.reshape(mix(j, j + 1, corr(`blocks.${l}.hook_resid_mid`), mid), [C * B, P, D]) as tf.Tensor3D;
    },
  };
  const tokens = model.tokensTensor(Array.from({ length: C }, () => ctx.cleanTokens).flat());
  try {
    const r = model.run(tokens, { hook, headMajorInputs: inputs });
    return tf.tidy(() => {
      const v = meanPerVariant(metricPerRow(model, ctx.metric, r.final, ctx.targets), B);
      r.final.dispose();
      return v;
    });
  } finally {
    tf.dispose([tokens, ...kept]);
  }
}

/** The general path, through the split-input hooks ([N, P, H, D] copies of the residual). */
function patchedRunHooked(ctx: FaithfulnessContext, circuits: Circuit[]): tf.Tensor1D {
  const { model, graph: g, B, P } = ctx;
  const L = model.config.nLayers;
  const C = circuits.length;
  const D = model.config.dModel;
  // D_u = z_u(this run) − z_u(corrupted), per circuit, in source blocks: [C, k, B·P·D] with k rows.
  const diffs: { start: number; d: tf.Tensor3D }[] = [];
  let nextSource = 0;
  const addDiff = (x: tf.Tensor, name: string) => {
    const c = ctx.corr.get(name)!;
    let d: tf.Tensor;
    if (x.rank === 4) {
      const H = x.shape[2]!;
      d = tf.reshape(tf.transpose(tf.reshape(tf.sub(x, tileTo(c, C * B)), [C, B * P, H, D]), [0, 2, 1, 3]), [C, H, B * P * D]);
    } else d = tf.reshape(tf.sub(x, tileTo(c, C * B)), [C, 1, B * P * D]);
    diffs.push({ start: nextSource, d: tf.keep(d) as tf.Tensor3D });
    nextSource += d.shape[1]!;
  };
  /** x_v for inputs j0 … j1 − 1: [C, j1 − j0, B·P·D], from the corrupted input `base` [B, P, D]. */
  const inputs = (j0: number, j1: number, base: tf.Tensor): tf.Tensor3D => {
    const rows = Math.max(...g.destinations.slice(j0, j1).map((d) => d.sources));
    const A = adjacency(g, circuits, j0, j1, rows);
    // Source blocks arrive in forward order, so the ones these inputs read are exactly a prefix.
    const terms = diffs.filter((b) => b.start + b.d.shape[1]! <= rows).map((b) => tf.matMul(tf.slice(A, [0, 0, b.start], [C, j1 - j0, b.d.shape[1]!]), b.d));
    return tf.add(tf.reshape(base, [1, 1, B * P * D]), terms.length > 1 ? tf.addN(terms) : terms[0]) as tf.Tensor3D;
  };
  /** [C, n, B·P·D] → the hook's [C·B, P, n, D] (or [C·B, P, D] for n = 1 when `flat`). */
  const toHook = (x: tf.Tensor, n: number, flat: boolean) =>
    flat ? tf.reshape(x, [C * B, P, D]) : tf.reshape(tf.transpose(tf.reshape(x, [C, n, B * P, D]), [0, 2, 1, 3]), [C * B, P, n, D]);
  const firstOf = (l: number, kind: string) => g.destinations.findIndex((d) => d.layer === l && d.kind === kind);
  let qkv: tf.Tensor[] = [];
  const hook = (name: string, x: tf.Tensor) => {
    const m = /^blocks\.(\d+)\.(.+)$/.exec(name);
    if (!m) return x;
    const l = Number(m[1]);
    const site = m[2];
    if (l === 0 && site === 'hook_resid_pre') addDiff(x, name);
    else if (site === 'attn.hook_result' || site === 'hook_mlp_out') addDiff(x, name);
    else if (site === 'hook_q_input') {
      const jq = firstOf(l, 'q');
      const jm = firstOf(l, 'mlp');
      const all = inputs(jq, jm, ctx.corr.get(`blocks.${l}.hook_resid_pre`)!);
      const H = g.shape.nHeads;
      const Hkv = g.shape.nKvHeads;
      qkv = [
        toHook(tf.slice(all, [0, 0, 0], [C, H, -1]), H, false),
        toHook(tf.slice(all, [0, H, 0], [C, Hkv, -1]), Hkv, false),
        toHook(tf.slice(all, [0, H + Hkv, 0], [C, Hkv, -1]), Hkv, false),
      ];
      return qkv[0];
    } else if (site === 'hook_k_input') return qkv[1];
    else if (site === 'hook_v_input') return qkv[2];
    else if (site === 'hook_mlp_in') {
      const jm = firstOf(l, 'mlp');
      return toHook(inputs(jm, jm + 1, ctx.corr.get(name)!), 1, true);
    } else if (site === 'hook_resid_post' && l === L - 1) {
      const j = g.destinations.length - 1;
      return toHook(inputs(j, j + 1, ctx.corr.get(name)!), 1, true);
    }
    return x;
  };
  const tokens = model.tokensTensor(Array.from({ length: C }, () => ctx.cleanTokens).flat());
  try {
    const r = model.run(tokens, { hook, splitInputs: true });
    return tf.tidy(() => {
      const v = meanPerVariant(metricPerRow(model, ctx.metric, r.final, ctx.targets), B);
      r.final.dispose();
      return v;
    });
  } finally {
    tf.dispose([tokens, ...diffs.map((b) => b.d)]);
  }
}

/**
 * Circuits per patched run, so that the per-circuit differences D stay within `budgetFloats`. The
 * budget is small on purpose: a batch is the unit of progress and of cancellation (a synchronous
 * run cannot hear a Cancel), and larger batches bought no measurable speed (on the demo model
 * with 64 pairs, 16 circuits in batches of 4 or 16 took the same time within the noise:
 * `npm run bench:faithfulness-batches`, BENCHMARKS.md).
 */
export function circuitsPerBatch(ctx: FaithfulnessContext, budgetFloats = 2 ** 25): number {
  const perCircuit = ctx.graph.sources.length * ctx.B * ctx.P * ctx.model.config.dModel * 3;
  return Math.max(1, Math.floor(budgetFloats / perCircuit));
}

/** F(C) for each circuit, in batches; `onBatch` gets the number done so far. */
export async function faithfulness(
  ctx: FaithfulnessContext,
  circuits: Circuit[],
  o: { signal?: AbortSignal; onBatch?: (done: number) => void; batch?: number } = {},
): Promise<Float64Array> {
  const out = new Float64Array(circuits.length);
  const per = o.batch ?? circuitsPerBatch(ctx);
  const scale = ctx.clean - ctx.corrupted;
  for (let i = 0; i < circuits.length; i += per) {
    throwIfAborted(o.signal);
    const batch = circuits.slice(i, i + per);
    const v = patchedRun(ctx, batch);
    const raw = (await v.data()) as Float32Array;
    v.dispose();
    raw.forEach((m, k) => (out[i + k] = (m - ctx.corrupted) / scale));
    o.onBatch?.(Math.min(i + per, circuits.length));
    await new Promise((r) => setImmediate(r));
  }
  return out;
}
