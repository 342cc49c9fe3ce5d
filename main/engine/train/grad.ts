/**
 * Training forward and backward pass of GPT-2 with WEIGHT gradients, written out by hand.
 *
 * tfjs-core's CommonJS bundle registers no gradient kernels, so tf.grads / optimizer.minimize are
 * unavailable in Node; this mirrors gpt2/backward.ts (activation gradients) and adds, for every
 * linear layer y = x·W + b, dW = xᵀ·g and db = Σ_rows g, and for every layer norm dγ = Σ g·x̂,
 * dβ = Σ g. The tied embedding collects the unembedding's gradient (hᵀ·g_logits)ᵀ and the input
 * embedding's (a scatter-add of the rows' gradients, done in JS: tf.gather has no gradient kernel on
 * wasm). Every matmul is a plain one after an explicit tf.transpose (transposeA/B matmuls are
 * 10–30× slower on wasm), and column sums are a matmul with a row of ones (tf.sum over axis 0 is
 * slow there). The math is GPT-2's exactly (same gelu_new, pre-LN, tied unembedding), so weights
 * trained here are read by gpt2/forward.ts and by Hugging Face unchanged; test/train.test.ts checks
 * every gradient against finite differences.
 *
 * Activations are 2-D [R, D] with R = N·P rows (sequence-major), reshaped to [N, H, P, dh] for
 * attention. Right padding needs no attention mask beyond the causal one: padded positions come
 * after every real token, and their loss weight is 0.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ACTIVATIONS } from '../gpt2/activations.ts';
import { layerPrefix, type ArchConfig, type ParamLayout } from './params.ts';

/** N sequences of P tokens; targets[i] is the token after tokens[i]; weights 0 where not scored. */
export interface Batch {
  n: number;
  p: number;
  tokens: Int32Array;
  targets: Int32Array;
  weights: Float32Array;
}

interface LayerW {
  ln1w: tf.Tensor1D; ln1b: tf.Tensor1D;
  wa: tf.Tensor2D; waT: tf.Tensor2D; ba: tf.Tensor1D; // c_attn [D, 3D] = [q | k | v]
  wo: tf.Tensor2D; woT: tf.Tensor2D; bo: tf.Tensor1D;
  ln2w: tf.Tensor1D; ln2b: tf.Tensor1D;
  wfc: tf.Tensor2D; wfcT: tf.Tensor2D; bfc: tf.Tensor1D;
  wproj: tf.Tensor2D; wprojT: tf.Tensor2D; bproj: tf.Tensor1D;
}

/** The parameters on the tfjs backend, with the transposed copies the backward pass multiplies by. */
export interface WeightTensors {
  wte: tf.Tensor2D; wteT: tf.Tensor2D; wpe: tf.Tensor2D;
  layers: LayerW[];
  lnfw: tf.Tensor1D; lnfb: tf.Tensor1D;
  all: tf.Tensor[];
}

export function uploadWeights(cfg: ArchConfig, layout: ParamLayout, flat: Float32Array): WeightTensors {
  const all: tf.Tensor[] = [];
  const get = <T extends tf.Tensor>(name: string): T => {
    const s = layout.byName.get(name);
    if (!s) throw new Error(`no parameter ${name}`);
    const t = tf.tensor(flat.slice(s.offset, s.offset + s.size), s.shape) as T;
    all.push(t);
    return t;
  };
  const T = (x: tf.Tensor2D): tf.Tensor2D => {
    const t = tf.transpose(x) as tf.Tensor2D;
    all.push(t);
    return t;
  };
  const wte = get<tf.Tensor2D>('transformer.wte.weight');
  const layers: LayerW[] = [];
  for (let l = 0; l < cfg.nLayers; l++) {
    const p = layerPrefix(l);
    const wa = get<tf.Tensor2D>(p + 'attn.c_attn.weight');
    const wo = get<tf.Tensor2D>(p + 'attn.c_proj.weight');
    const wfc = get<tf.Tensor2D>(p + 'mlp.c_fc.weight');
    const wproj = get<tf.Tensor2D>(p + 'mlp.c_proj.weight');
    layers.push({
      ln1w: get(p + 'ln_1.weight'), ln1b: get(p + 'ln_1.bias'),
      wa, waT: T(wa), ba: get(p + 'attn.c_attn.bias'),
      wo, woT: T(wo), bo: get(p + 'attn.c_proj.bias'),
      ln2w: get(p + 'ln_2.weight'), ln2b: get(p + 'ln_2.bias'),
      wfc, wfcT: T(wfc), bfc: get(p + 'mlp.c_fc.bias'),
      wproj, wprojT: T(wproj), bproj: get(p + 'mlp.c_proj.bias'),
    });
  }
  return {
    wte, wteT: T(wte), wpe: get('transformer.wpe.weight'), layers,
    lnfw: get('transformer.ln_f.weight'), lnfb: get('transformer.ln_f.bias'), all,
  };
}

export function disposeWeights(w: WeightTensors): void {
  tf.dispose(w.all);
}

const masks = new Map<number, tf.Tensor2D>();
/** Additive causal mask [P, P]: 0 where key ≤ query, −1e9 elsewhere. */
function causalMask(p: number): tf.Tensor2D {
  let m = masks.get(p);
  if (!m) {
    const d = new Float32Array(p * p);
    for (let i = 0; i < p; i++) for (let j = i + 1; j < p; j++) d[i * p + j] = -1e9;
    m = tf.keep(tf.tensor2d(d, [p, p]));
    masks.set(p, m);
  }
  return m;
}

interface LnOut { y: tf.Tensor2D; xhat: tf.Tensor2D; inv: tf.Tensor2D }
function lnForward(x: tf.Tensor2D, w: tf.Tensor1D, b: tf.Tensor1D, eps: number): LnOut {
  const xc = tf.sub(x, tf.mean(x, -1, true));
  const inv = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), eps)) as tf.Tensor2D;
  const xhat = tf.mul(xc, inv) as tf.Tensor2D;
  return { y: tf.add(tf.mul(xhat, w), b) as tf.Tensor2D, xhat, inv };
}

/** Column sums of a [R, C] matrix as a matmul with a row of ones: → [C]. */
function colSum(ones: tf.Tensor2D, g: tf.Tensor2D): tf.Tensor1D {
  return tf.reshape(tf.matMul(ones, g), [g.shape[1]]) as tf.Tensor1D;
}

/** Through y = x̂·γ + β: returns ∂x, ∂γ, ∂β. */
function lnBackward(gy: tf.Tensor2D, w: tf.Tensor1D, t: LnOut, ones: tf.Tensor2D) {
  const dw = colSum(ones, tf.mul(gy, t.xhat) as tf.Tensor2D);
  const db = colSum(ones, gy);
  const gxhat = tf.mul(gy, w);
  const m1 = tf.mean(gxhat, -1, true);
  const m2 = tf.mean(tf.mul(gxhat, t.xhat), -1, true);
  const gx = tf.mul(t.inv, tf.sub(tf.sub(gxhat, m1), tf.mul(t.xhat, m2))) as tf.Tensor2D;
  return { gx, dw, db };
}

/** The demo model is written with activation_function gelu_new, so it trains with the engine's. */
const GELU = ACTIVATIONS.gelu_new;

const T2 = (x: tf.Tensor2D) => tf.transpose(x) as tf.Tensor2D;
const mm = (a: tf.Tensor2D, b: tf.Tensor2D) => tf.matMul(a, b) as tf.Tensor2D;

export interface PassResult {
  /** Σ weight · (−log p(target)) over the batch */
  loss: number;
  /** Σ weight */
  weight: number;
}

/**
 * Runs the batch forward and, when `grads` is given, backward, ADDING the gradient of the summed
 * weighted loss (not the mean) into `grads` (laid out as `layout`). `nll`, if given, receives
 * −log p(target) at every position [N·P].
 */
export function lossAndGrads(
  cfg: ArchConfig,
  layout: ParamLayout,
  w: WeightTensors,
  batch: Batch,
  grads?: Float32Array,
  nll?: Float32Array,
): PassResult {
  const { n: N, p: P } = batch;
  const { nHeads: H, dModel: D, vocabSize: V, eps } = cfg;
  const dh = D / H;
  const R = N * P;
  const scale = 1 / Math.sqrt(dh);
  if (P > cfg.nCtx) throw new Error(`batch of ${P} positions exceeds n_ctx ${cfg.nCtx}`);
  let weight = 0;
  for (const x of batch.weights) weight += x;
  let loss = 0;
  tf.tidy(() => {
    const tokens = tf.tensor1d(batch.tokens, 'int32');
    const targets = tf.tensor1d(batch.targets, 'int32');
    const wcol = tf.tensor2d(batch.weights, [R, 1]);
    const ones = tf.ones([1, R]) as tf.Tensor2D;
    const mask = causalMask(P);
    // ---- forward, keeping what the backward pass needs
    const pos = tf.slice(w.wpe, [0, 0], [P, D]);
    let x = tf.reshape(tf.add(tf.reshape(tf.gather(w.wte, tokens), [N, P, D]), pos), [R, D]) as tf.Tensor2D;
    const tape: {
      ln1: LnOut; q: tf.Tensor4D; k: tf.Tensor4D; kT: tf.Tensor4D; vT: tf.Tensor4D; pattern: tf.Tensor4D; z: tf.Tensor2D;
      ln2: LnOut; pre: tf.Tensor2D; post: tf.Tensor2D;
    }[] = [];
    const heads = (t: tf.Tensor, perm: number[]) => tf.transpose(tf.reshape(t, [N, P, H, dh]), perm) as tf.Tensor4D;
    for (const lw of w.layers) {
      const ln1 = lnForward(x, lw.ln1w, lw.ln1b, eps);
      const qkv = tf.add(mm(ln1.y, lw.wa), lw.ba) as tf.Tensor2D; // [R, 3D]
      const [q2, k2, v2] = tf.split(qkv, 3, 1);
      const q = heads(q2, [0, 2, 1, 3]); // [N, H, P, dh]
      const k = heads(k2, [0, 2, 1, 3]);
      const kT = heads(k2, [0, 2, 3, 1]); // [N, H, dh, P]
      const v = heads(v2, [0, 2, 1, 3]);
      const vT = heads(v2, [0, 2, 3, 1]);
      const pattern = tf.softmax(tf.add(tf.mul(tf.matMul(q, kT), scale), mask)) as tf.Tensor4D; // [N, H, P, P]
      const z = tf.reshape(tf.transpose(tf.matMul(pattern, v), [0, 2, 1, 3]), [R, D]) as tf.Tensor2D;
      const mid = tf.add(x, tf.add(mm(z, lw.wo), lw.bo)) as tf.Tensor2D;
      const ln2 = lnForward(mid, lw.ln2w, lw.ln2b, eps);
      const pre = tf.add(mm(ln2.y, lw.wfc), lw.bfc) as tf.Tensor2D;
      const post = GELU.f(pre) as tf.Tensor2D;
      x = tf.add(mid, tf.add(mm(post, lw.wproj), lw.bproj)) as tf.Tensor2D;
      tape.push({ ln1, q, k, kT, vT, pattern, z, ln2, pre, post });
    }
    const lnf = lnForward(x, w.lnfw, w.lnfb, eps);
    const logits = mm(lnf.y, w.wteT); // [R, V]
    const prob = tf.softmax(logits) as tf.Tensor2D;
    const at = new Int32Array(R);
    for (let i = 0; i < R; i++) at[i] = i * V + batch.targets[i];
    const pTarget = tf.gather(tf.reshape(prob, [R * V]), tf.tensor1d(at, 'int32')).dataSync();
    for (let i = 0; i < R; i++) {
      const l = -Math.log(Math.max(pTarget[i], 1e-30));
      if (nll) nll[i] = l;
      if (batch.weights[i] > 0) loss += batch.weights[i] * l;
    }
    if (!grads) return;

    // ---- backward
    const out = new Map<string, tf.Tensor>();
    const gLogits = tf.mul(tf.sub(prob, tf.oneHot(targets, V)), wcol) as tf.Tensor2D; // [R, V]
    const dWteUnembed = T2(mm(T2(lnf.y), gLogits)); // [V, D]
    const gf = lnBackward(mm(gLogits, w.wte), w.lnfw, lnf, ones);
    out.set('transformer.ln_f.weight', gf.dw);
    out.set('transformer.ln_f.bias', gf.db);
    let g = gf.gx; // ∂loss/∂resid [R, D]
    const flat = (t: tf.Tensor) => tf.reshape(tf.transpose(t, [0, 2, 1, 3]), [R, D]) as tf.Tensor2D;
    for (let l = cfg.nLayers - 1; l >= 0; l--) {
      const p = layerPrefix(l);
      const lw = w.layers[l];
      const t = tape[l];
      // MLP
      out.set(p + 'mlp.c_proj.weight', mm(T2(t.post), g));
      out.set(p + 'mlp.c_proj.bias', colSum(ones, g));
      const gPre = tf.mul(mm(g, lw.wprojT), GELU.grad(t.pre)) as tf.Tensor2D;
      out.set(p + 'mlp.c_fc.weight', mm(T2(t.ln2.y), gPre));
      out.set(p + 'mlp.c_fc.bias', colSum(ones, gPre));
      const b2 = lnBackward(mm(gPre, lw.wfcT), lw.ln2w, t.ln2, ones);
      out.set(p + 'ln_2.weight', b2.dw);
      out.set(p + 'ln_2.bias', b2.db);
      const gMid = tf.add(g, b2.gx) as tf.Tensor2D;
      // attention
      out.set(p + 'attn.c_proj.weight', mm(T2(t.z), gMid));
      out.set(p + 'attn.c_proj.bias', colSum(ones, gMid));
      const gz = tf.transpose(tf.reshape(mm(gMid, lw.woT), [N, P, H, dh]), [0, 2, 1, 3]) as tf.Tensor4D; // [N, H, P, dh]
      const gPattern = tf.matMul(gz, t.vT); // [N, H, P, P]
      const gv = tf.matMul(tf.transpose(t.pattern, [0, 1, 3, 2]), gz); // [N, H, P, dh]
      const gScores = tf.mul(tf.mul(t.pattern, tf.sub(gPattern, tf.sum(tf.mul(gPattern, t.pattern), -1, true))), scale) as tf.Tensor4D;
      const gq = tf.matMul(gScores, t.k);
      const gk = tf.matMul(tf.transpose(gScores, [0, 1, 3, 2]), t.q);
      const gQkv = tf.concat([flat(gq), flat(gk), flat(gv)], 1) as tf.Tensor2D; // [R, 3D]
      out.set(p + 'attn.c_attn.weight', mm(T2(t.ln1.y), gQkv));
      out.set(p + 'attn.c_attn.bias', colSum(ones, gQkv));
      const b1 = lnBackward(mm(gQkv, lw.waT), lw.ln1w, t.ln1, ones);
      out.set(p + 'ln_1.weight', b1.dw);
      out.set(p + 'ln_1.bias', b1.db);
      g = tf.add(gMid, b1.gx) as tf.Tensor2D;
    }
    // embeddings: positions sum over sequences; tokens are scattered into wte rows in JS below
    const C = cfg.nCtx;
    const gPos = tf.reshape(mm(tf.ones([1, N]) as tf.Tensor2D, tf.reshape(g, [N, P * D]) as tf.Tensor2D), [P, D]);
    out.set('transformer.wpe.weight', P < C ? tf.concat([gPos, tf.zeros([C - P, D])], 0) : gPos);
    out.set('transformer.wte.weight', dWteUnembed);
    const pieces = layout.specs.map((s) => {
      const t = out.get(s.name);
      if (!t) throw new Error(`no gradient for ${s.name}`);
      return tf.reshape(t, [s.size]);
    });
    const all = tf.concat(pieces).dataSync() as Float32Array;
    for (let i = 0; i < all.length; i++) grads[i] += all[i];
    const gEmb = g.dataSync() as Float32Array;
    const wte = layout.byName.get('transformer.wte.weight')!.offset;
    for (let r = 0; r < R; r++) {
      const row = wte + batch.tokens[r] * D;
      for (let d = 0; d < D; d++) grads[row + d] += gEmb[r * D + d];
    }
  });
  return { loss, weight };
}
