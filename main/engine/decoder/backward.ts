/**
 * The backward pass of the rotary decoders with respect to activations only, written out by hand
 * as gpt2/backward.ts is (and for the same reasons: no weight gradients, each hook's gradient
 * handed to `onGrad` as soon as it is known). Products with a weight's transpose go through
 * TransposedProducts: no transposed copy of any weight where the native kernel does `a · bᵀ`.
 *
 * Under grouped-query attention a key/value head's gradient is the sum over the query heads that
 * read it; viewing [N, H, P, x] as [N, K, G·P, x] makes that sum part of one matmul.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../config.ts';
import type { BackwardOptions, GradFn } from '../architecture.ts';
import { runBackward } from '../backward-loop.ts';
import { ACTIVATIONS } from '../gpt2/activations.ts';
import { byKvHead, type DecoderLayerTape, type DecoderTape, type NormTape } from './forward.ts';
import { perHeadInBackward, perHeadInBackwardHeadMajor } from '../heads.ts';
import type { Rotary } from './rotary.ts';
import type { TransposedProducts } from '../transposed.ts';
import type { DecoderWeights, Norm } from './weights.ts';

/** Through y = xhat·w (+ b): gy [.., D] → gx [.., D]; LayerNorm also removes the mean. */
function normBackward(cfg: ModelConfig, gy: tf.Tensor, n: Norm, t: NormTape): tf.Tensor {
  const gxhat = tf.mul(gy, n.w);
  const proj = tf.mul(t.xhat, tf.mean(tf.mul(gxhat, t.xhat), -1, true));
  const centred = cfg.norm === 'layer' ? tf.sub(gxhat, tf.mean(gxhat, -1, true)) : gxhat;
  return tf.mul(t.inv, tf.sub(centred, proj));
}

const T = (t: tf.Tensor, perm: number[]) => tf.transpose(t, perm);

/**
 * gFinal: ∂metric/∂(final-normed residual at the last position) [N, D]. Calls onGrad for every
 * hook, from the top of the model down, with ∂metric/∂activation in the hook's own shape. With
 * `inputGrads`, also at each query head's q input and each KV head's k and v inputs (before the
 * norm, through rotary) and at the MLP's input (see BackwardOptions); the residual gradient
 * through attention is then the sum over those copies, so the pass costs about what it does
 * without them.
 */
export function backward(cfg: ModelConfig, w: DecoderWeights, rotary: Rotary, transposes: TransposedProducts, tape: DecoderTape, gFinal: tf.Tensor2D, onGrad: GradFn, o: BackwardOptions = {}): void {
  const split = !!o.inputGrads;
  const block = (l: number, gIn: tf.Tensor): tf.Tensor => {
    const { nHeads: H, nKvHeads: K, dHead: dh } = cfg;
    const [N, P] = gIn.shape;
    const n = `blocks.${l}.`;
    const t: DecoderLayerTape = tape.layers[l];
    const lw = w.layers[l];
    // through y = x @ w: g [N, P, out] → g @ wᵀ [N, P, in]
    const back = (g: tf.Tensor, m: tf.Tensor2D) => transposes.times(g, m);
    onGrad(n + 'hook_mlp_out', gIn);
    const gPost = back(gIn, lw.wOut); // [N, P, M]
    onGrad(n + 'mlp.hook_post', gPost);
    let gH2: tf.Tensor;
    if (t.up) {
      const gPre = tf.mul(tf.mul(gPost, t.up), ACTIVATIONS[cfg.activation].grad(t.pre));
      const gUp = tf.mul(gPost, ACTIVATIONS[cfg.activation].f(t.pre));
      onGrad(n + 'mlp.hook_pre', gPre);
      onGrad(n + 'mlp.hook_pre_linear', gUp);
      gH2 = tf.add(back(gPre, lw.wIn), back(gUp, lw.wUp!));
    } else {
      const gPre = tf.mul(gPost, ACTIVATIONS[cfg.activation].grad(t.pre));
      onGrad(n + 'mlp.hook_pre', gPre);
      gH2 = back(gPre, lw.wIn);
    }
    const gMlpIn = normBackward(cfg, gH2, lw.ln2, t.ln2);
    if (split && !o.onInputGrads) onGrad(n + 'hook_mlp_in', gMlpIn);
    // Sequential: the attention writes to resid_mid, which the MLP reads. Parallel: both read resid_pre.
    const gAttnOut = cfg.parallelAttnMlp ? gIn : tf.add(gIn, gMlpIn);
    if (!cfg.parallelAttnMlp) onGrad(n + 'hook_resid_mid', gAttnOut);
    onGrad(n + 'hook_attn_out', gAttnOut);
    const gZ = tf.reshape(back(gAttnOut, lw.wo), [N, P, H, dh]);
    onGrad(n + 'attn.hook_z', gZ);
    const gZT = T(gZ, [0, 2, 1, 3]); // [N, H, P, dh]
    const gPattern = tf.reshape(tf.matMul(byKvHead(gZT, K), t.vDP), [N, H, P, P]);
    onGrad(n + 'attn.hook_pattern', gPattern);
    // Σ over a KV head's query heads of patternᵀ·gZ: [N, K, P, G·P] @ [N, K, G·P, dh]
    const gVT = tf.matMul(T(byKvHead(t.pattern, K), [0, 1, 3, 2]) as tf.Tensor4D, byKvHead(gZT, K)); // [N, K, P, dh]
    // softmax: gScores = pattern ⊙ (gPattern − Σ_k gPattern·pattern); masked entries have pattern 0.
    const gScores = tf.mul(t.pattern, tf.sub(gPattern, tf.sum(tf.mul(gPattern, t.pattern), -1, true)));
    onGrad(n + 'attn.hook_attn_scores', gScores);
    const gRaw = byKvHead(tf.mul(gScores, cfg.attnScale[l]), K); // [N, K, G·P, P]
    const gRotQT = tf.reshape(tf.matMul(gRaw, t.kT), [N, H, P, dh]);
    const gRotKT = tf.matMul(T(gRaw, [0, 1, 3, 2]) as tf.Tensor4D, byKvHead(t.qT, K)); // [N, K, P, dh]
    const gV = T(gVT, [0, 2, 1, 3]); // [N, P, K, dh]
    const gRotQ = T(gRotQT, [0, 2, 1, 3]); // [N, P, H, dh]
    const gRotK = T(gRotKT, [0, 2, 1, 3]); // [N, P, K, dh]
    onGrad(n + 'attn.hook_v', gV);
    onGrad(n + 'attn.hook_rot_k', gRotK);
    onGrad(n + 'attn.hook_rot_q', gRotQ);
    const gK = rotary.backward(gRotK, 0);
    const gQ = rotary.backward(gRotQ, 0);
    onGrad(n + 'attn.hook_k', gK);
    onGrad(n + 'attn.hook_q', gQ);
    let gAttnIn: tf.Tensor; // [N, P, D]
    if (o.onInputGrads) {
      // Head-major [R, N·P, D] (q of every head, then k and v per KV head): the norm's statistics broadcast over R.
      const NP = N * P;
      const ln1 = { xhat: tf.reshape(t.ln1.xhat, [1, NP, -1]), inv: tf.reshape(t.ln1.inv, [1, NP, 1]) };
      const perHead = (g: tf.Tensor, w: tf.Tensor2D) => normBackward(cfg, perHeadInBackwardHeadMajor(g, w), lw.ln1, ln1);
      const qkv = tf.concat([perHead(gQ, lw.wq), perHead(gK, lw.wk), perHead(gV, lw.wv)], 0) as tf.Tensor3D;
      o.onInputGrads(l, qkv, tf.reshape(gMlpIn, [NP, -1]) as tf.Tensor2D);
      // The residual reads every copy; a sum over the leading axis is a slow reduction on wasm, a product is not.
      const R = qkv.shape[0];
      gAttnIn = tf.reshape(tf.matMul(tf.ones([1, R]), tf.reshape(qkv, [R, -1])), [N, P, -1]);
    } else if (split) {
      // The norm acts on each head's copy alone: its saved statistics broadcast over the head axis.
      const ln1 = { xhat: tf.expandDims(t.ln1.xhat, 2), inv: tf.expandDims(t.ln1.inv, 2) };
      const perHead = (g: tf.Tensor, w: tf.Tensor2D) => normBackward(cfg, perHeadInBackward(g, w), lw.ln1, ln1);
      const gQin = perHead(gQ, lw.wq); // [N, P, H, D]
      const gKin = perHead(gK, lw.wk); // [N, P, K, D]
      const gVin = perHead(gV, lw.wv);
      onGrad(n + 'hook_v_input', gVin);
      onGrad(n + 'hook_k_input', gKin);
      onGrad(n + 'hook_q_input', gQin);
      gAttnIn = tf.addN([tf.sum(gQin, 2), tf.sum(gKin, 2), tf.sum(gVin, 2)]);
    } else {
      const gH = tf.addN([back(tf.reshape(gQ, [N, P, H * dh]), lw.wq), back(tf.reshape(gK, [N, P, K * dh]), lw.wk), back(tf.reshape(gV, [N, P, K * dh]), lw.wv)]);
      gAttnIn = normBackward(cfg, gH, lw.ln1, t.ln1);
    }
    return cfg.parallelAttnMlp ? tf.addN([gIn, gMlpIn, gAttnIn]) : tf.add(gAttnOut, gAttnIn); // resid_pre
  };
  runBackward({ nLayers: cfg.nLayers, positions: tape.positions, finalNorm: (g) => normBackward(cfg, g, w.lnF, tape.lnF!), block, embedHooks: ['hook_embed'] }, gFinal, onGrad, o);
}
