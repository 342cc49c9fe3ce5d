/** The rotary decoders (Llama, Mistral, Qwen2, GPT-NeoX) behind the Architecture interface. */
import * as tf from '@tensorflow/tfjs-core';
import type { Architecture, BackwardOptions, BlockOptions, GradFn, HookFn, Tape } from '../architecture.ts';
import { attentionPatternFrom } from '../ops.ts';
import type { ModelConfig } from '../config.ts';
import { MaskCache } from '../gpt2/forward.ts';
import { backward } from './backward.ts';
import { asDecoderTape, block, decoderBlockHooks, DecoderTape, embed, finalNorm } from './forward.ts';
import { headResults } from '../heads.ts';
import { Rotary } from './rotary.ts';
import { disposeDecoderWeights, type DecoderWeights } from './weights.ts';
import { TransposedProducts } from '../transposed.ts';

const FAMILY_NAMES: Record<string, string> = { llama: 'Llama', mistral: 'Mistral', qwen2: 'Qwen2', gpt_neox: 'GPT-NeoX' };

export class Decoder implements Architecture {
  readonly family: string;
  readonly embedHooks = ['hook_embed'];
  readonly blockHooks: readonly string[];
  private readonly masks = new MaskCache();
  private readonly rotary: Rotary;
  /** the backward pass's g @ wᵀ (copies only where the native kernel is missing) */
  private readonly transposes = new TransposedProducts();

  constructor(
    readonly config: ModelConfig,
    readonly weights: DecoderWeights,
  ) {
    if (!config.rotary) throw new Error('the decoder needs a rotary configuration');
    this.family = FAMILY_NAMES[config.modelType] ?? config.modelType;
    this.blockHooks = decoderBlockHooks(config);
    this.rotary = new Rotary(config.rotary, config.dHead);
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
    return block({ cfg: this.config, w: this.weights.layers[layer], masks: this.masks, rotary: this.rotary }, layer, x, o);
  }
  finalNorm(x: tf.Tensor3D, tape?: Tape): tf.Tensor2D {
    return finalNorm(this.config, this.weights, x, tape);
  }
  newTape(positions: number): Tape {
    return new DecoderTape(positions);
  }
  backward(tape: Tape, gFinal: tf.Tensor2D, onGrad: GradFn, o: BackwardOptions = {}): void {
    backward(this.config, this.weights, this.rotary, this.transposes, asDecoderTape(tape), gFinal, onGrad, o);
  }
  /** The pattern is formed from q and k after rotary. */
  readonly qkSites = { q: 'attn.hook_rot_q', k: 'attn.hook_rot_k' };
  attentionPattern(layer: number, q: tf.Tensor4D, k: tf.Tensor4D): tf.Tensor4D {
    return attentionPatternFrom(q, k, this.config.attnScale[layer], this.masks.get(0, q.shape[1], k.shape[1]));
  }
  /** Each head's write to the residual stream from its z, head-major [H, N·Q, D] (without b_O). */
  headResults(layer: number, z: tf.Tensor4D): tf.Tensor3D {
    return headResults(z, this.weights.layers[layer].wo);
  }
  dispose(): void {
    disposeDecoderWeights(this.weights);
    this.transposes.dispose();
    this.masks.dispose();
    this.rotary.dispose();
  }
}
