/**
 * The backward pass of GPT-2 with respect to activations only, written out by hand.
 *
 * Attribution patching needs ∂metric/∂activation at every hook, never ∂metric/∂weight. tfjs's own
 * gradients would compute the weight gradients too; here only activation gradients are formed, the
 * products with transposed weights read the weights as stored where the native kernel allows
 * (transposed.ts), and the backward costs about as much as the forward. The gradient at each hook
 * is handed to `onGrad` as soon as it is known, so callers reduce it and nothing but the running
 * residual gradient stays alive.
 *
 * GradDrop (AtP*) is one skipped term: at the dropped layer the residual gradient passes straight
 * from resid_post to resid_pre, and the block's own branch is not taken (see BackwardOptions).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from '../config.ts';
import type { BackwardOptions, GradFn } from '../architecture.ts';
import { runBackward } from '../backward-loop.ts';
import { ACTIVATIONS } from './activations.ts';
import { sliceAxis } from '../ops.ts';
import { perHeadInBackward } from '../heads.ts';
import type { TransposedProducts } from '../transposed.ts';
import type { Gpt2Tape, LnTape } from './forward.ts';
import { inputGradFold, type Gpt2Weights } from './weights.ts';

/** Through y = xhat·w + b, xhat = (x − mean)·inv: gy [.., D] → gx [.., D]. */
function layerNormBackward(gy: tf.Tensor, w: tf.Tensor1D, t: LnTape): tf.Tensor {
  const gxhat = tf.mul(gy, w);
  const mean1 = tf.mean(gxhat, -1, true);
  const mean2 = tf.mean(tf.mul(gxhat, t.xhat), -1, true);
  return tf.mul(t.inv, tf.sub(tf.sub(gxhat, mean1), tf.mul(t.xhat, mean2)));
}

/**
 * gFinal: ∂metric/∂(final-layer-normed residual at the last position) [N, D]. Calls onGrad for every
 * hook, from the top of the model down, with ∂metric/∂activation in the hook's own shape. With
 * `inputGrads`, also at each head's q/k/v input copy and the MLP's input (see BackwardOptions): the
 * residual gradient through attention is then the sum of the heads' input gradients, so the pass
 * costs about what it does without them.
 */
export function backward(cfg: ModelConfig, w: Gpt2Weights, transposes: TransposedProducts, tape: Gpt2Tape, gFinal: tf.Tensor2D, onGrad: GradFn, o: BackwardOptions = {}): void {
  const { nHeads: H, dHead: dh, dModel: D } = cfg;
  const P = tape.positions;
  // through y = x @ w: g [.., out] → g @ wᵀ [.., in]
  const back = (g: tf.Tensor, m: tf.Tensor2D) => transposes.times(g, m);
  const split = !!o.inputGrads;
  const block = (l: number, gIn: tf.Tensor): tf.Tensor => {
    const N = gIn.shape[0]!;
    const n = `blocks.${l}.`;
    const t = tape.layers[l];
    const lw = w.layers[l];
    onGrad(n + 'hook_mlp_out', gIn);
    const gPost = back(gIn, lw.wproj); // [N, P, M]
    onGrad(n + 'mlp.hook_post', gPost);
    const gPre = tf.mul(gPost, ACTIVATIONS[cfg.activation].grad(t.pre));
    onGrad(n + 'mlp.hook_pre', gPre);
    const gMlpIn = layerNormBackward(back(gPre, lw.wfc), lw.ln2.w, t.ln2); // [N, P, D]
    if (split && !o.onInputGrads) onGrad(n + 'hook_mlp_in', gMlpIn);
    const gMid = tf.add(gIn, gMlpIn);
    onGrad(n + 'hook_resid_mid', gMid);
    onGrad(n + 'hook_attn_out', gMid);
    const gZ = tf.reshape(back(gMid, lw.wo), [N, P, H, dh]);
    onGrad(n + 'attn.hook_z', gZ);
    const gZT = tf.transpose(gZ, [0, 2, 1, 3]) as tf.Tensor4D; // [N, H, P, dh]
    const gPattern = tf.matMul(gZT, t.vDP); // [N, H, Pq, Pk]
    onGrad(n + 'attn.hook_pattern', gPattern);
    const gVT = tf.matMul(tf.transpose(t.pattern, [0, 1, 3, 2]) as tf.Tensor4D, gZT); // [N, H, P, dh]
    // softmax: gScores = pattern ⊙ (gPattern − Σ_k gPattern·pattern); masked entries have pattern 0.
    const gScores = tf.mul(
      tf.mul(t.pattern, tf.sub(gPattern, tf.sum(tf.mul(gPattern, t.pattern), -1, true))),
      cfg.attnScale[l],
    ) as tf.Tensor4D;
    const gQT = tf.matMul(gScores, t.kT); // [N, H, Pq, dh]
    const gKT = tf.matMul(tf.transpose(gScores, [0, 1, 3, 2]) as tf.Tensor4D, t.qT); // [N, H, Pk, dh]
    const gV = tf.transpose(gVT, [0, 2, 1, 3]); // [N, P, H, dh]
    const gQ = tf.transpose(gQT, [0, 2, 1, 3]);
    const gK = tf.transpose(gKT, [0, 2, 1, 3]);
    onGrad(n + 'attn.hook_v', gV);
    onGrad(n + 'attn.hook_k', gK);
    onGrad(n + 'attn.hook_q', gQ);
    let gAttnIn: tf.Tensor | undefined; // [N, P, D]
    if (o.onInputGrads) {
      // Head-major, from the factored form (weights.ts InputGradFold): one batched matmul and a
      // rank-one correction, no per-head copy of the norm's backward; from inputGradsFrom on.
      const f = inputGradFold(w, H)[l];
      const p0 = o.inputGradsFrom ?? 0;
      const Pc = P - p0;
      const NPc = N * Pc;
      // [N, K, P, dh]-like (perm to [K, N, P, dh]) → [K, N·(P − p0), dh]
      const headMajor = (t: tf.Tensor, perm: number[]) => tf.reshape(sliceAxis(tf.transpose(t, perm), 2, p0, Pc), [-1, NPc, dh]);
      const invAll = tf.reshape(t.ln1.inv, [N, P, 1]);
      const inv = tf.reshape(sliceAxis(invAll, 1, p0, Pc), [1, NPc, 1]);
      const gHat = tf.mul(tf.concat([headMajor(gQT, [1, 0, 2, 3]), headMajor(gKT, [1, 0, 2, 3]), headMajor(gVT, [1, 0, 2, 3])], 0), inv); // [3H, N·P', dh]
      const a = tf.concat([headMajor(t.qT, [1, 0, 2, 3]), headMajor(t.kT, [1, 0, 2, 3]), headMajor(t.vDP, [1, 0, 3, 2])], 0); // the forward's q, k, v
      const e = tf.div(tf.sum(tf.mul(gHat, tf.sub(a, f.c)), -1, true), D); // [3H, N·P', 1]
      const xhat = tf.reshape(sliceAxis(t.ln1.xhat, 1, p0, Pc), [1, NPc, D]);
      const qkv = tf.sub(tf.matMul(gHat, f.wt), tf.mul(e, xhat)) as tf.Tensor3D; // [3H, N·P', D]
      o.onInputGrads(l, qkv, tf.reshape(sliceAxis(gMlpIn, 1, p0, Pc), [NPc, D]) as tf.Tensor2D);
      // The residual reads every copy, at every position: Σ_r of the same form, as one product
      // [N·P, 3H·dh] @ [3H·dh, D] (gQ, gK, gV side by side are the heads' ĝ position-major).
      const gFlat = tf.mul(tf.reshape(tf.concat([gQ, gK, gV], 2), [N * P, 3 * H * dh]), tf.reshape(invAll, [N * P, 1]));
      const aFlat = tf.reshape(tf.concat([tf.reshape(tf.transpose(t.qT, [0, 2, 1, 3]), [N, P, H, dh]), tf.reshape(tf.transpose(t.kT, [0, 2, 1, 3]), [N, P, H, dh]), tf.reshape(tf.transpose(t.vDP, [0, 3, 1, 2]), [N, P, H, dh])], 2), [N * P, 3 * H * dh]);
      const eSum = tf.div(tf.sum(tf.mul(gFlat, tf.sub(aFlat, tf.reshape(f.c, [1, 3 * H * dh]))), -1, true), D); // [N·P, 1]
      const sum = tf.sub(tf.matMul(gFlat, tf.reshape(f.wt, [3 * H * dh, D]) as tf.Tensor2D), tf.mul(eSum, tf.reshape(t.ln1.xhat, [N * P, D])));
      gAttnIn = tf.reshape(sum, [N, P, D]);
    } else if (split) {
      // The norm acts on each head's copy alone: broadcast its saved statistics over the head axis.
      const ln1 = { xhat: tf.expandDims(t.ln1.xhat, 2), inv: tf.expandDims(t.ln1.inv, 2) };
      const perHead = (g: tf.Tensor, m: tf.Tensor2D) => layerNormBackward(perHeadInBackward(g, m), lw.ln1.w, ln1);
      const gQin = perHead(gQ, lw.wq); // [N, P, H, D]
      const gKin = perHead(gK, lw.wk);
      const gVin = perHead(gV, lw.wv);
      onGrad(n + 'hook_v_input', gVin);
      onGrad(n + 'hook_k_input', gKin);
      onGrad(n + 'hook_q_input', gQin);
      gAttnIn = tf.sum(tf.addN([gQin, gKin, gVin]), 2);
    }
    if (!gAttnIn) {
      const gH = tf.addN([back(tf.reshape(gQ, [N, P, D]), lw.wq), back(tf.reshape(gK, [N, P, D]), lw.wk), back(tf.reshape(gV, [N, P, D]), lw.wv)]);
      gAttnIn = layerNormBackward(gH, lw.ln1.w, t.ln1);
    }
    return tf.add(gMid, gAttnIn); // resid_pre
  };
  runBackward({ nLayers: cfg.nLayers, positions: P, finalNorm: (g) => layerNormBackward(g, w.lnF.w, tape.lnF!), block, embedHooks: ['hook_embed', 'hook_pos_embed'] }, gFinal, onGrad, o);
}
