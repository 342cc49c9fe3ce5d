/** GPT-2 behind the Architecture interface: weights, masks, forward pieces and backward pass. */
import * as tf from '@tensorflow/tfjs-core';
import type { Architecture, BackwardOptions, BlockOptions, GradFn, HookFn, Tape } from '../architecture.ts';
import { attentionPatternFrom } from '../ops.ts';
import type { ModelConfig } from '../config.ts';
import { BLOCK_HOOKS } from '../hooks.ts';
import { backward } from './backward.ts';
import { block, embed, finalNorm, Gpt2Tape, MaskCache } from './forward.ts';
import { TransposedProducts } from '../transposed.ts';
import { headResults } from '../heads.ts';
import { disposeGpt2Weights, inputGradFold, loadGpt2Weights, type CheckpointInfo, type Gpt2Weights } from './weights.ts';

export class Gpt2 implements Architecture {
  readonly family = 'GPT-2';
  readonly embedHooks = ['hook_embed', 'hook_pos_embed'];
  readonly blockHooks = BLOCK_HOOKS;
  readonly headMajorInputs = true;
  get pendingCircuitBytes(): number {
    const { nLayers: L, dModel: D } = this.config;
    return this.weights.inputGradFold ? 0 : 4 * L * 3 * D * (D + 1); // [3H, d_head, D] and [3H, 1, d_head] per layer
  }
  private readonly masks = new MaskCache();
  /** the backward pass's g @ wᵀ (copies only where the native kernel is missing) */
  private readonly transposes = new TransposedProducts();
  private constructor(
    readonly config: ModelConfig,
    readonly weights: Gpt2Weights,
  ) {}

  static load(dir: string, config: ModelConfig): { arch: Gpt2; checkpoint: CheckpointInfo } {
    const { weights, info } = loadGpt2Weights(dir, config);
    return { arch: new Gpt2(config, weights), checkpoint: info };
  }

  get unembedRows(): tf.Tensor2D {
    return this.weights.unembedRows;
  }
  get unembed(): tf.Tensor2D {
    return this.transposes.copyOf(this.weights.unembedRows);
  }
  embed(tokens: tf.Tensor2D, hook: HookFn): tf.Tensor3D {
    return embed(this.weights, tokens, hook);
  }
  block(layer: number, x: tf.Tensor3D, o: BlockOptions) {
    return block(this.config, this.weights.layers[layer], () => inputGradFold(this.weights, this.config.nHeads)[layer], this.masks, layer, x, o);
  }
  finalNorm(x: tf.Tensor3D, tape?: Tape): tf.Tensor2D {
    return finalNorm(this.config, this.weights, x, tape);
  }
  newTape(positions: number): Tape {
    return new Gpt2Tape(positions);
  }
  backward(tape: Tape, gFinal: tf.Tensor2D, onGrad: GradFn, o?: BackwardOptions): void {
    if (!(tape instanceof Gpt2Tape)) throw new Error('GPT-2 backward needs a GPT-2 tape');
    backward(this.config, this.weights, this.transposes, tape, gFinal, onGrad, o);
  }
  readonly qkSites = { q: 'attn.hook_q', k: 'attn.hook_k' };
  attentionPattern(_layer: number, q: tf.Tensor4D, k: tf.Tensor4D): tf.Tensor4D {
    const P = k.shape[1];
    return attentionPatternFrom(q, k, 1 / Math.sqrt(this.config.dHead), this.masks.get(0, q.shape[1], P));
  }
  /** Each head's write to the residual stream from its z, head-major [H, N·Q, D] (without b_O). */
  headResults(layer: number, z: tf.Tensor4D): tf.Tensor3D {
    return headResults(z, this.weights.layers[layer].wo);
  }
  dispose(): void {
    disposeGpt2Weights(this.weights);
    this.transposes.dispose();
    this.masks.dispose();
  }
}
