/**
 * The GPT-2 forward pass as plain functions over tfjs-core ops, with a TransformerLens hook at every
 * site. A hook sees each activation and returns the value to continue with: it may keep it (a
 * cache), return it unchanged, or return a patched one — including one with a larger batch, which
 * is how activation patching runs many patched variants of the same prompts in one pass.
 *
 * Shapes: batch N (pairs × variants), positions P, d_model D, heads H, d_head dh, d_mlp M.
 * A block may compute only positions ≥ p0 (earlier positions are unchanged by a patch at p0, by the
 * causal mask), reading their keys and values from `prefix`; and in the final layer only the last
 * position, the one the metric reads.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../config.ts';
import type { BlockOptions, HookFn, KeyValues, Tape } from '../architecture.ts';
import { sliceAxis, tileTo } from '../ops.ts';
import { ACTIVATIONS } from './activations.ts';
import type { Gpt2Weights, InputGradFold, LayerWeights } from './weights.ts';
import { headCopies, perHeadIn, perHeadOut } from '../heads.ts';

export interface LnTape { xhat: tf.Tensor; inv: tf.Tensor }
/** What the backward pass needs from one block of a full forward pass. */
export interface LayerTape {
  ln1: LnTape; // xhat [N, P, D], inv [N, P, 1]
  qT: tf.Tensor4D; // [N, H, P, dh]
  kT: tf.Tensor4D; // [N, H, P, dh]
  vDP: tf.Tensor4D; // [N, H, dh, P]
  pattern: tf.Tensor4D; // [N, H, P, P]
  ln2: LnTape;
  pre: tf.Tensor3D; // [N, P, M]
}

export class Gpt2Tape implements Tape {
  layers: LayerTape[] = [];
  lnF?: LnTape;
  constructor(readonly positions: number) {}
  dispose(): void {
    for (const l of this.layers) tf.dispose([l.ln1.xhat, l.ln1.inv, l.qT, l.kT, l.vDP, l.pattern, l.ln2.xhat, l.ln2.inv, l.pre]);
    if (this.lnF) tf.dispose([this.lnF.xhat, this.lnF.inv]);
    this.layers = [];
    this.lnF = undefined;
  }
}

function asGpt2Tape(t: Tape): Gpt2Tape {
  if (!(t instanceof Gpt2Tape)) throw new Error('a GPT-2 block needs a GPT-2 tape');
  return t;
}

/** Additive causal masks [Q, P] (0 where key ≤ query, −1e30 elsewhere), cached per shape. */
export class MaskCache {
  private masks = new Map<string, tf.Tensor2D>();
  get(qStart: number, q: number, p: number): tf.Tensor2D {
    const key = `${qStart}:${q}:${p}`;
    let m = this.masks.get(key);
    if (!m) {
      const data = new Float32Array(q * p);
      for (let i = 0; i < q; i++) for (let j = qStart + i + 1; j < p; j++) data[i * p + j] = -1e30;
      m = tf.keep(tf.tensor2d(data, [q, p]));
      if (this.masks.size > 256) this.dispose();
      this.masks.set(key, m);
    }
    return m;
  }
  dispose(): void {
    for (const m of this.masks.values()) m.dispose();
    this.masks.clear();
  }
}

/** x [N, P, in] @ w [in, out] + b → [N, P, out], as one plain 2-D matmul with the bias fused in. */
export function linear(x: tf.Tensor, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor3D {
  const [n, p, d] = x.shape;
  return tf.reshape(tf.fused.matMul({ a: tf.reshape(x, [n * p, d]) as tf.Tensor2D, b: w, bias: b }), [n, p, w.shape[1]]);
}

export function layerNorm(x: tf.Tensor, ln: { w: tf.Tensor1D; b: tf.Tensor1D }, eps: number, tape?: (t: LnTape) => void): tf.Tensor {
  const xc = tf.sub(x, tf.mean(x, -1, true));
  const inv = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), eps));
  const xhat = tf.mul(xc, inv);
  tape?.({ xhat, inv });
  return tf.add(tf.mul(xhat, ln.w), ln.b);
}

type Expand = (t: tf.Tensor, rows: number) => tf.Tensor;
/** Brings two tensors to the same batch: after a patching hook a block has variants × pairs rows. */
function align<A extends tf.Tensor, B extends tf.Tensor>(a: A, b: B, expand: Expand = tileTo): [A, B] {
  const n = Math.max(a.shape[0], b.shape[0]);
  return [(a.shape[0] === n ? a : expand(a, n)) as A, (b.shape[0] === n ? b : expand(b, n)) as B];
}

/** The last position of x [N, P, …] → [N, 1, …]. */
const lastPosition = <T extends tf.Tensor>(x: T): T => sliceAxis(x, 1, x.shape[1]! - 1, 1) as T;

/** One transformer block. x: resid_pre at positions [p0, P) [N, P - p0, D] → resid_post [N', Q, D]. */
export function block(
  cfg: ModelConfig,
  w: LayerWeights,
  fold: () => InputGradFold,
  masks: MaskCache,
  l: number,
  x0: tf.Tensor3D,
  o: BlockOptions,
): { out: tf.Tensor3D; kv: KeyValues } {
  if (o.splitInputs && o.tape) throw new Error('a taped run cannot split the inputs (the backward pass reads one shared norm)');
  const n = `blocks.${l}.`;
  const { nHeads: H, dHead: dh, dModel: D, eps } = cfg;
  const hook = o.hook;
  const x = hook(n + 'hook_resid_pre', x0, o.p0) as tf.Tensor3D;
  const [N, Pn] = x.shape;
  const P = o.p0 + Pn;
  const qStart = o.lastOnly ? P - 1 : o.p0;
  const Q = P - qStart;
  const taped: Partial<LayerTape> = {};
  let qPre: tf.Tensor, kPre: tf.Tensor, vPre: tf.Tensor; // [N, Q|P', H, dh]
  if (o.headMajorInputs) {
    if (o.lastOnly || o.p0 > 0 || o.tape) throw new Error('head-major inputs need a full, untaped run');
    // Each input's own norm, folded into its projection (weights.ts InputGradFold):
    // LN(x_r) @ W_r + bias_r = inv_r·(x_r @ W̃_rᵀ) + c_r, W̃_r's rows centred over d_model. The
    // statistics are products too (wasm's reductions over the last axis of a large tensor are
    // slow): the mean against a column of 1/D, the mean square as each row's dot product with itself.
    const xs = o.headMajorInputs.qkv(l, x); // [3H, N·P, D]
    const f = fold();
    const [R, NP] = xs.shape;
    const mean = tf.reshape(tf.matMul(tf.reshape(xs, [R * NP, D]), tf.fill([D, 1], 1 / D)), [R, NP, 1]);
    const meanSq = tf.reshape(tf.div(tf.matMul(tf.reshape(xs, [R * NP, 1, D]), tf.reshape(xs, [R * NP, D, 1])), D), [R, NP, 1]);
    const inv = tf.rsqrt(tf.add(tf.sub(meanSq, tf.square(mean)), eps)); // [3H, N·P, 1]
    const proj = tf.add(tf.mul(tf.matMul(xs, f.wt, false, true), inv), f.c); // [3H, N·P, dh]
    const part = (i: number) => tf.transpose(tf.reshape(tf.slice(proj, [i * H, 0, 0], [H, -1, -1]), [H, N, Pn, dh]), [1, 2, 0, 3]);
    [qPre, kPre, vPre] = [part(0), part(1), part(2)]; // [N, P, H, dh]
  } else if (o.splitInputs) {
    const xq = hook(n + 'hook_q_input', headCopies(o.lastOnly ? lastPosition(x) : x, H), qStart); // [N, Q, H, D]
    const xk = hook(n + 'hook_k_input', headCopies(x, H), o.p0); // [N, P', H, D]
    const xv = hook(n + 'hook_v_input', headCopies(x, H), o.p0);
    qPre = perHeadIn(layerNorm(xq, w.ln1, eps), w.wq, w.bq, H);
    kPre = perHeadIn(layerNorm(xk, w.ln1, eps), w.wk, w.bk, H);
    vPre = perHeadIn(layerNorm(xv, w.ln1, eps), w.wv, w.bv, H);
  } else {
    const h = layerNorm(x, w.ln1, eps, o.tape && ((t) => (taped.ln1 = t)));
    const hq = o.lastOnly ? lastPosition(h) : h;
    qPre = tf.reshape(linear(hq, w.wq, w.bq), [N, Q, H, dh]);
    kPre = tf.reshape(linear(h, w.wk, w.bk), [N, Pn, H, dh]);
    vPre = tf.reshape(linear(h, w.wv, w.bv), [N, Pn, H, dh]);
  }
  const q = hook(n + 'attn.hook_q', qPre, qStart); // [N, Q, H, dh]
  const k = hook(n + 'attn.hook_k', kPre, o.p0); // [N, P', H, dh]
  const v = hook(n + 'attn.hook_v', vPre, o.p0);
  const qT = tf.transpose(q, [0, 2, 1, 3]) as tf.Tensor4D; // [N, H, Q, dh]
  const kT = tf.transpose(k, [0, 2, 3, 1]) as tf.Tensor4D; // [N, H, dh, P']
  const vT = tf.transpose(v, [0, 2, 1, 3]) as tf.Tensor4D; // [N, H, P', dh]
  let kAll = kT;
  let vAll = vT;
  if (o.prefix && o.p0 > 0) {
    kAll = tf.concat([tileTo(o.prefix.kT, kT.shape[0]), kT], 3); // [N, H, dh, P]
    vAll = tf.concat([tileTo(o.prefix.v, vT.shape[0]), vT], 2); // [N, H, P, dh]
  }
  const [qa, ka] = align(qT, kAll, o.expand);
  const scores = tf.add(tf.mul(tf.matMul(qa, ka), cfg.attnScale[l]), masks.get(qStart, Q, P)); // [N, H, Q, P]
  const pattern = hook(n + 'attn.hook_pattern', tf.softmax(scores), qStart) as tf.Tensor4D;
  const [pa, va] = align(pattern, vAll, o.expand);
  const z = hook(n + 'attn.hook_z', tf.transpose(tf.matMul(pa, va), [0, 2, 1, 3]), qStart); // [N, Q, H, dh]
  const attnOut = hook(
    n + 'hook_attn_out',
    o.attnResult || o.splitInputs
      ? tf.add(tf.sum(hook(n + 'attn.hook_result', perHeadOut(z, w.wo), qStart), 2), w.bo) // Σ_h [N, Q, H, D] + b_O
      : linear(tf.reshape(z, [z.shape[0], Q, D]), w.wo, w.bo),
    qStart,
  );
  const [xa, aa] = align(o.lastOnly ? lastPosition(x) : x, attnOut, o.expand);
  const mid = hook(n + 'hook_resid_mid', tf.add(xa, aa), qStart); // [N, Q, D]
  const mlpIn = o.headMajorInputs ? o.headMajorInputs.mlp(l, mid as tf.Tensor3D) : o.splitInputs ? hook(n + 'hook_mlp_in', mid, qStart) : mid; // [N, Q, D]
  const h2 = layerNorm(mlpIn, w.ln2, eps, o.tape && ((t) => (taped.ln2 = t)));
  const pre = hook(n + 'mlp.hook_pre', linear(h2, w.wfc, w.bfc), qStart); // [N, Q, M]
  const post = hook(n + 'mlp.hook_post', ACTIVATIONS[cfg.activation].f(pre), qStart);
  const mlpOut = hook(n + 'hook_mlp_out', linear(post, w.wproj, w.bproj), qStart);
  const [ma, mo] = align(mid, mlpOut, o.expand);
  const out = hook(n + 'hook_resid_post', tf.add(ma, mo), qStart) as tf.Tensor3D;
  if (o.tape) {
    asGpt2Tape(o.tape).layers.push(
      keepAll({
        ln1: taped.ln1!,
        qT,
        kT: tf.transpose(k, [0, 2, 1, 3]) as tf.Tensor4D,
        vDP: tf.transpose(v, [0, 2, 3, 1]) as tf.Tensor4D,
        pattern,
        ln2: taped.ln2!,
        pre: pre as tf.Tensor3D,
      }),
    );
  }
  return { out, kv: { kT, v: vT } };
}

function keepAll(t: LayerTape): LayerTape {
  for (const v of [t.ln1.xhat, t.ln1.inv, t.qT, t.kT, t.vDP, t.pattern, t.ln2.xhat, t.ln2.inv, t.pre]) tf.keep(v);
  return t;
}

/** Token and position embeddings: tokens [N, P] → resid_pre of layer 0 [N, P, D]. */
export function embed(w: Gpt2Weights, tokens: tf.Tensor2D, hook: HookFn): tf.Tensor3D {
  const [N, P] = tokens.shape;
  const D = w.wte.shape[1];
  const e = hook('hook_embed', tf.reshape(tf.gather(w.wte, tf.reshape(tokens, [N * P])), [N, P, D]), 0);
  const pos = hook('hook_pos_embed', tileTo(tf.reshape(tf.slice(w.wpe, [0, 0], [P, D]), [1, P, D]), N), 0);
  return tf.add(e, pos) as tf.Tensor3D;
}

/** Final layer norm of the last position: x [N, Q, D] → [N, D]. */
export function finalNorm(cfg: ModelConfig, w: Gpt2Weights, x: tf.Tensor3D, tape?: Tape): tf.Tensor2D {
  const last = tf.reshape(lastPosition(x), [x.shape[0], x.shape[2]]);
  const t = tape && asGpt2Tape(tape);
  return layerNorm(last, w.lnF, cfg.eps, t && ((ln) => (t.lnF = { xhat: tf.keep(ln.xhat), inv: tf.keep(ln.inv) }))) as tf.Tensor2D;
}
