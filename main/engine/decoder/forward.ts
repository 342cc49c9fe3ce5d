/**
 * The forward pass of a pre-norm rotary decoder — Llama, Mistral, Qwen2 (RMSNorm, SwiGLU, grouped-
 * query attention) and GPT-NeoX (LayerNorm, GELU, partial rotary, parallel attention and MLP) —
 * with a TransformerLens hook at every site, in the same conventions as gpt2/forward.ts: a hook may
 * return a patched value with a larger batch, and a block computes only positions ≥ p0 (and, in the
 * final layer, only the last one).
 *
 * Shapes: batch N, positions P, d_model D, query heads H, key/value heads K (H = K·G), d_head dh,
 * d_mlp M. Query heads that share a key/value head are adjacent, so [N, H, Q, x] is also
 * [N, K, G·Q, x]: attention runs as one batched matmul per KV head, without copying keys or values.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../config.ts';
import type { BlockOptions, HookFn, KeyValues, Tape } from '../architecture.ts';
import { badInput } from '../errors.ts';
import { ACTIVATIONS } from '../gpt2/activations.ts';
import type { MaskCache } from '../gpt2/forward.ts';
import { tileTo } from '../ops.ts';
import { headCopies, perHeadIn, perHeadOut } from '../heads.ts';
import type { Rotary } from './rotary.ts';
import type { DecoderLayer, DecoderWeights, Norm } from './weights.ts';

export interface NormTape { xhat: tf.Tensor; inv: tf.Tensor }

/** What the backward pass needs from one block of a full forward pass. */
export interface DecoderLayerTape {
  ln1: NormTape; // xhat [N, P, D], inv [N, P, 1]
  ln2: NormTape;
  qT: tf.Tensor4D; // rotated queries [N, H, P, dh]
  kT: tf.Tensor4D; // rotated keys [N, K, P, dh]
  vDP: tf.Tensor4D; // values [N, K, dh, P]
  pattern: tf.Tensor4D; // [N, H, P, P]
  pre: tf.Tensor3D; // mlp.hook_pre [N, P, M]
  up?: tf.Tensor3D; // SwiGLU's mlp.hook_pre_linear [N, P, M]
}

export class DecoderTape implements Tape {
  layers: DecoderLayerTape[] = [];
  lnF?: NormTape;
  constructor(readonly positions: number) {}
  dispose(): void {
    for (const l of this.layers) tf.dispose([l.ln1.xhat, l.ln1.inv, l.ln2.xhat, l.ln2.inv, l.qT, l.kT, l.vDP, l.pattern, l.pre, ...(l.up ? [l.up] : [])]);
    if (this.lnF) tf.dispose([this.lnF.xhat, this.lnF.inv]);
    this.layers = [];
    this.lnF = undefined;
  }
}

export function asDecoderTape(t: Tape): DecoderTape {
  if (!(t instanceof DecoderTape)) throw new Error('a decoder block needs a decoder tape');
  return t;
}

/** x [N, P, in] @ w [in, out] (+ b) → [N, P, out], as one plain 2-D matmul */
export function linear(x: tf.Tensor, w: tf.Tensor2D, b?: tf.Tensor1D): tf.Tensor3D {
  const [n, p, d] = x.shape;
  return tf.reshape(tf.fused.matMul({ a: tf.reshape(x, [n * p, d]) as tf.Tensor2D, b: w, bias: b }), [n, p, w.shape[1]]);
}

/** LayerNorm (with bias) or RMSNorm over the last axis; xhat is the normalised x before the weight. */
export function norm(cfg: ModelConfig, x: tf.Tensor, n: Norm, tape?: (t: NormTape) => void): tf.Tensor {
  const xc = cfg.norm === 'layer' ? tf.sub(x, tf.mean(x, -1, true)) : x;
  const inv = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), cfg.eps));
  const xhat = tf.mul(xc, inv);
  tape?.({ xhat, inv });
  const y = tf.mul(xhat, n.w);
  return n.b ? tf.add(y, n.b) : y;
}

const activation = (cfg: ModelConfig, x: tf.Tensor): tf.Tensor => ACTIVATIONS[cfg.activation].f(x);

type Expand = (t: tf.Tensor, rows: number) => tf.Tensor;
/** Brings tensors to one batch: after a patching hook a block has variants × pairs rows. */
function align<T extends tf.Tensor[]>(ts: T, expand: Expand = tileTo): T {
  const n = Math.max(...ts.map((t) => t.shape[0]));
  return ts.map((t) => (t.shape[0] === n ? t : expand(t, n))) as T;
}

const lastPosition = (x: tf.Tensor): tf.Tensor3D => {
  const [n, p, d] = x.shape;
  return tf.slice(x, [0, p - 1, 0], [n, 1, d]) as tf.Tensor3D;
};

/** [N, H, Q, x] → [N, K, G·Q, x]: the query heads of each KV head as one matrix */
export function byKvHead(t: tf.Tensor, K: number): tf.Tensor4D {
  const [n, h, q, x] = t.shape;
  return tf.reshape(t, [n, K, (h / K) * q, x]);
}

export interface BlockContext {
  cfg: ModelConfig;
  w: DecoderLayer;
  masks: MaskCache;
  rotary: Rotary;
}

/** One block: resid_pre at positions [p0, P) [N, P − p0, D] → resid_post [N', Q, D], and its keys/values. */
export function block(c: BlockContext, l: number, x0: tf.Tensor3D, o: BlockOptions): { out: tf.Tensor3D; kv: KeyValues } {
  const { cfg, w } = c;
  const n = `blocks.${l}.`;
  const { nHeads: H, nKvHeads: K, dHead: dh } = cfg;
  const hook = o.hook;
  const x = hook(n + 'hook_resid_pre', x0, o.p0) as tf.Tensor3D;
  const [N, Pn] = x.shape;
  const P = o.p0 + Pn;
  if (cfg.slidingWindow !== null && P > cfg.slidingWindow) {
    throw badInput(`the prompt is ${P} tokens, longer than ${cfg.modelType}'s sliding attention window of ${cfg.slidingWindow} tokens (windowed attention is not implemented; use shorter prompts)`);
  }
  const qStart = o.lastOnly ? P - 1 : o.p0;
  const Q = P - qStart;
  const taped: Partial<DecoderLayerTape> = {};
  let qPre: tf.Tensor, kPre: tf.Tensor, vPre: tf.Tensor; // [N, Q|P', H|K, dh]
  if (o.splitInputs) {
    if (o.tape) throw new Error('a taped run cannot split the inputs (the backward pass reads one shared norm)');
    // Each query head reads its own copy of resid_pre, each KV head one for k and one for v.
    const xq = hook(n + 'hook_q_input', headCopies(o.lastOnly ? lastPosition(x) : x, H), qStart); // [N, Q, H, D]
    const xk = hook(n + 'hook_k_input', headCopies(x, K), o.p0); // [N, P', K, D]
    const xv = hook(n + 'hook_v_input', headCopies(x, K), o.p0);
    qPre = perHeadIn(norm(cfg, xq, w.ln1), w.wq, w.bq, H);
    kPre = perHeadIn(norm(cfg, xk, w.ln1), w.wk, w.bk, K);
    vPre = perHeadIn(norm(cfg, xv, w.ln1), w.wv, w.bv, K);
  } else {
    const h = norm(cfg, x, w.ln1, o.tape && ((t) => (taped.ln1 = t)));
    const hq = o.lastOnly ? lastPosition(h) : h;
    qPre = tf.reshape(linear(hq, w.wq, w.bq), [N, Q, H, dh]);
    kPre = tf.reshape(linear(h, w.wk, w.bk), [N, Pn, K, dh]);
    vPre = tf.reshape(linear(h, w.wv, w.bv), [N, Pn, K, dh]);
  }
  const q = hook(n + 'attn.hook_q', qPre, qStart); // [N, Q, H, dh]
  const k = hook(n + 'attn.hook_k', kPre, o.p0); // [N, P', K, dh]
  const v = hook(n + 'attn.hook_v', vPre, o.p0);
  const rq = hook(n + 'attn.hook_rot_q', c.rotary.apply(q, qStart), qStart);
  const rk = hook(n + 'attn.hook_rot_k', c.rotary.apply(k, o.p0), o.p0);
  const qT = tf.transpose(rq, [0, 2, 1, 3]) as tf.Tensor4D; // [N, H, Q, dh]
  const kT = tf.transpose(rk, [0, 2, 3, 1]) as tf.Tensor4D; // [N, K, dh, P']
  const vT = tf.transpose(v, [0, 2, 1, 3]) as tf.Tensor4D; // [N, K, P', dh]
  let kAll = kT;
  let vAll = vT;
  if (o.prefix && o.p0 > 0) {
    kAll = tf.concat([tileTo(o.prefix.kT, kT.shape[0]), kT], 3); // [N, K, dh, P]
    vAll = tf.concat([tileTo(o.prefix.v, vT.shape[0]), vT], 2); // [N, K, P, dh]
  }
  const [qa, ka] = align([qT, kAll], o.expand);
  const Na = qa.shape[0];
  const raw = tf.reshape(tf.matMul(byKvHead(qa, K), ka), [Na, H, Q, P]);
  const scores = hook(n + 'attn.hook_attn_scores', tf.add(tf.mul(raw, cfg.attnScale[l]), c.masks.get(qStart, Q, P)), qStart); // [N, H, Q, P]
  const pattern = hook(n + 'attn.hook_pattern', tf.softmax(scores), qStart) as tf.Tensor4D;
  const [pa, va] = align([pattern, vAll], o.expand);
  const zT = tf.reshape(tf.matMul(byKvHead(pa, K), va), [pa.shape[0], H, Q, dh]);
  const z = hook(n + 'attn.hook_z', tf.transpose(zT, [0, 2, 1, 3]), qStart); // [N, Q, H, dh]
  let attnOutRaw: tf.Tensor;
  if (o.attnResult || o.splitInputs) {
    const result = hook(n + 'attn.hook_result', perHeadOut(z, w.wo), qStart); // [N, Q, H, D]
    attnOutRaw = w.bo ? tf.add(tf.sum(result, 2), w.bo) : tf.sum(result, 2);
  } else attnOutRaw = linear(tf.reshape(z, [z.shape[0], Q, H * dh]), w.wo, w.bo);
  const attnOut = hook(n + 'hook_attn_out', attnOutRaw, qStart);
  const xq = o.lastOnly ? lastPosition(x) : x;
  let mlpIn: tf.Tensor;
  let mid: tf.Tensor | undefined;
  if (cfg.parallelAttnMlp) mlpIn = xq;
  else {
    const [xa, aa] = align([xq, attnOut], o.expand);
    mlpIn = mid = hook(n + 'hook_resid_mid', tf.add(xa, aa), qStart); // [N, Q, D]
  }
  // The MLP's own copy of what it reads (resid_mid, or resid_pre under parallel attention).
  if (o.splitInputs) mlpIn = hook(n + 'hook_mlp_in', mlpIn, qStart);
  const h2 = norm(cfg, mlpIn, w.ln2, o.tape && ((t) => (taped.ln2 = t)));
  const pre = hook(n + 'mlp.hook_pre', linear(h2, w.wIn, w.bIn), qStart) as tf.Tensor3D; // [N, Q, M]
  let post: tf.Tensor;
  if (w.wUp) {
    const up = hook(n + 'mlp.hook_pre_linear', linear(h2, w.wUp, w.bUp), qStart) as tf.Tensor3D;
    const [ga, ua] = align([activation(cfg, pre), up], o.expand);
    post = hook(n + 'mlp.hook_post', tf.mul(ga, ua), qStart);
    taped.up = up;
  } else post = hook(n + 'mlp.hook_post', activation(cfg, pre), qStart);
  const mlpOut = hook(n + 'hook_mlp_out', linear(post, w.wOut, w.bOut), qStart);
  const parts = align(mid ? [mid, mlpOut] : [xq, attnOut, mlpOut], o.expand);
  const out = hook(n + 'hook_resid_post', tf.addN(parts), qStart) as tf.Tensor3D;
  if (o.tape) {
    const t: DecoderLayerTape = {
      ln1: taped.ln1!,
      ln2: taped.ln2!,
      qT,
      kT: tf.transpose(rk, [0, 2, 1, 3]) as tf.Tensor4D,
      vDP: tf.transpose(v, [0, 2, 3, 1]) as tf.Tensor4D,
      pattern,
      pre,
      up: taped.up,
    };
    for (const x of [t.ln1.xhat, t.ln1.inv, t.ln2.xhat, t.ln2.inv, t.qT, t.kT, t.vDP, t.pattern, t.pre, t.up]) if (x) tf.keep(x);
    asDecoderTape(o.tape).layers.push(t);
  }
  return { out, kv: { kT, v: vT } };
}

/** Token embeddings: tokens [N, P] → resid_pre of layer 0 [N, P, D] (positions enter through rotary). */
export function embed(w: DecoderWeights, tokens: tf.Tensor2D, hook: HookFn): tf.Tensor3D {
  const [N, P] = tokens.shape;
  const D = w.embed.shape[1];
  return hook('hook_embed', tf.reshape(tf.gather(w.embed, tf.reshape(tokens, [N * P])), [N, P, D]), 0) as tf.Tensor3D;
}

/** Final norm of the last position: x [N, Q, D] → [N, D]. */
export function finalNorm(cfg: ModelConfig, w: DecoderWeights, x: tf.Tensor3D, tape?: Tape): tf.Tensor2D {
  const last = tf.reshape(lastPosition(x), [x.shape[0], x.shape[2]]);
  const t = tape && asDecoderTape(tape);
  return norm(cfg, last, w.lnF, t && ((n) => (t.lnF = { xhat: tf.keep(n.xhat), inv: tf.keep(n.inv) }))) as tf.Tensor2D;
}

/** Hook sites of one block, in forward order (TransformerLens names). */
export function decoderBlockHooks(cfg: ModelConfig): string[] {
  return [
    'hook_resid_pre',
    'attn.hook_q',
    'attn.hook_k',
    'attn.hook_v',
    'attn.hook_rot_q',
    'attn.hook_rot_k',
    'attn.hook_attn_scores',
    'attn.hook_pattern',
    'attn.hook_z',
    'hook_attn_out',
    ...(cfg.parallelAttnMlp ? [] : ['hook_resid_mid']),
    'mlp.hook_pre',
    ...(cfg.gatedMlp ? ['mlp.hook_pre_linear'] : []),
    'mlp.hook_post',
    'hook_mlp_out',
    'hook_resid_post',
  ];
}
