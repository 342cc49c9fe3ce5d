/**
 * The skeleton every family's hand-written backward pass shares: the start gradient (through the
 * final norm at the last position, or given at a layer's resid_post), the walk down the layers
 * with the residual stream's gradient, GradDrop's skipped write (BackwardOptions.dropWrite), and
 * the embedding hooks at the bottom. A family supplies the final norm's backward and one block's.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackwardOptions, GradFn } from './architecture.ts';

export interface FamilyBackward {
  nLayers: number;
  /** positions of the taped run */
  positions: number;
  /** ∂metric/∂(final-normed residual) [N, D] → ∂metric/∂(last block's resid_post at the last position) [N, D] */
  finalNorm(gFinal: tf.Tensor2D): tf.Tensor;
  /**
   * One block's branch: ∂metric/∂resid_post [N, P, D] → ∂metric/∂resid_pre [N, P, D], handing
   * every hook inside the block (not resid_post or resid_pre, which the loop emits) to onGrad.
   * Runs inside a tidy.
   */
  block(layer: number, gPost: tf.Tensor): tf.Tensor;
  /** the hooks before the first block; each receives blocks.0.hook_resid_pre's gradient */
  embedHooks: readonly string[];
}

export function runBackward(f: FamilyBackward, gFinal: tf.Tensor2D, onGrad: GradFn, o: BackwardOptions = {}): void {
  const P = f.positions;
  let g = o.start
    ? tf.clone(o.start.grad)
    : tf.tidy(() => {
        const gLast = f.finalNorm(gFinal);
        const [N, D] = gLast.shape;
        const gAt = tf.reshape(gLast, [N, 1, D]);
        return P > 1 ? tf.concat([tf.zeros([N, P - 1, D]), gAt], 1) : gAt; // [N, P, D]
      });
  for (let l = o.start ? o.start.layer : f.nLayers - 1; l >= 0; l--) {
    const n = `blocks.${l}.`;
    const gIn = g;
    g = tf.tidy(() => {
      onGrad(n + 'hook_resid_post', gIn);
      // GradDrop: stopgrad on the block's write, so only the residual's identity path carries the gradient
      const gPre = l === o.dropWrite ? tf.clone(gIn) : f.block(l, gIn);
      onGrad(n + 'hook_resid_pre', gPre);
      return gPre;
    });
    gIn.dispose();
  }
  tf.tidy(() => {
    for (const h of f.embedHooks) onGrad(h, g);
  });
  g.dispose();
}
