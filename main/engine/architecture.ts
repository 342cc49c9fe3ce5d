/**
 * What the patching code needs from a transformer architecture: embed, blocks with hooks, a final
 * norm, an unembedding and a backward pass w.r.t. activations. GPT-2 implements it (gpt2/), and the
 * rotary decoders (decoder/, loaded by llama/ and neox/) do, so patching is written once for all.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from './config.ts';

/** `posStart` is the absolute position of index 0 along the activation's position (query) axis. */
export type HookFn = (name: string, x: tf.Tensor, posStart: number) => tf.Tensor;
export const passThrough: HookFn = (_name, x) => x;

/** Called with ∂metric/∂activation for each hook, in the hook's own shape. */
export type GradFn = (name: string, grad: tf.Tensor) => void;

/** One layer's keys and values, per key/value head (K = H without grouped-query attention). */
export interface KeyValues {
  kT: tf.Tensor4D; // [N, K, dh, P'] keys (after rotary, where the family has it), laid out for q @ kT
  v: tf.Tensor4D; // [N, K, P', dh]
}

/** What a forward pass records for the backward pass; its content is the architecture's own. */
export interface Tape {
  readonly positions: number;
  dispose(): void;
}

export interface BlockOptions {
  /** absolute position of the first row of x */
  p0: number;
  /** compute attention outputs and the MLP only at the last position (the final layer) */
  lastOnly: boolean;
  /** keys and values of positions < p0, unchanged from the run they were taken from: [Nb, K, dh, p0], [Nb, K, p0, dh] */
  prefix?: KeyValues;
  hook: HookFn;
  /** record what the backward pass needs (full runs only) */
  tape?: Tape;
  /**
   * Brings a tensor from before a batch-expanding hook to the expanded batch. Default: repeat the
   * whole batch (variant-major); patched runs that carry already-running variants pass their own.
   */
  expand?: (t: tf.Tensor, rows: number) => tf.Tensor;
  /**
   * TransformerLens's use_attn_result: each head's write to the residual stream (its z times its
   * rows of W_O) is computed separately and passed through `attn.hook_result` [N, Q, H, d_model];
   * the attention output is their sum plus the bias. Circuits read and patch edges there.
   */
  attnResult?: boolean;
  /**
   * TransformerLens's use_split_qkv_input and use_hook_mlp_in: each head reads its own copy of the
   * residual stream before the norm, through `hook_q_input` [N, Q, H, d_model] and `hook_k_input`,
   * `hook_v_input` [N, P', H_kv, d_model], and the MLP reads its input through `hook_mlp_in`
   * [N, Q, d_model]. A hook may then give every downstream input a different value (edge patching).
   */
  splitInputs?: boolean;
  /**
   * Edge patching's fast path, in place of `splitInputs`' hooks, for families that say so
   * (Architecture.headMajorInputs): the caller gives every q/k/v and MLP input its value directly,
   * head-major (see HeadMajorInputs). Full runs only (p0 = 0, not lastOnly, untaped).
   */
  headMajorInputs?: HeadMajorInputs;
}

/**
 * The inputs of a layer's heads and MLP, given by the caller (edge patching: each input reads its
 * own mix of upstream writes). `qkv` gets the residual the attention would read [N, P, D] and
 * returns every q/k/v input [R, N·P, D], R = H + 2·H_kv (the q input of every head, then k and v
 * per KV head); `mlp` gets resid_mid [N, P, D] and returns the MLP's input [N, P, D].
 */
export interface HeadMajorInputs {
  qkv(layer: number, x: tf.Tensor3D): tf.Tensor3D;
  mlp(layer: number, mid: tf.Tensor3D): tf.Tensor3D;
}

/** Additive variations of the backward pass: extra gradients (EAP) and GradDrop (AtP*, Kramár et al. 2024). */
export interface BackwardOptions {
  /**
   * GradDrop: the gradient skips layer l's write to the residual stream, as if
   * resid_post_l = resid_pre_l + stopgrad(resid_post_l − resid_pre_l). The forward pass is unchanged;
   * the hooks inside layer l are not called (their gradient is zero), hook_resid_pre of layer l
   * receives hook_resid_post's gradient unchanged.
   */
  dropWrite?: number;
  /**
   * Begin at hook_resid_post of `layer` with `grad` [N, P, D] instead of at the final norm (gFinal is
   * then not used). A drop at layer l leaves every gradient above l as it was, so GradDrop starts
   * each pass there with the plain pass's gradient instead of recomputing the layers above.
   */
  start?: { layer: number; grad: tf.Tensor3D };
  /**
   * Also emit the gradient at each split input — `blocks.L.hook_q_input`, `hook_k_input`,
   * `hook_v_input` [N, P, H(kv), d_model] and `blocks.L.hook_mlp_in` [N, P, d_model] — as if the
   * forward pass had run with `splitInputs`. The logits' input is `blocks.{L−1}.hook_resid_post`.
   */
  inputGrads?: boolean;
  /**
   * EAP's fast path: a family that has it hands each layer's split-input gradients over here, once,
   * head-major — `qkv` [R, N·P, d_model] with R = H + 2·H_kv (the q input of every head, then k and
   * v per KV head) and `mlp` [N·P, d_model] — instead of through onGrad as `inputGrads` does (edge
   * scores contract each input's gradient with upstream writes laid out the same way, and the
   * hook-shaped [N, P, H, d_model] layout costs a transpose of each). A family without it ignores
   * this and emits the hook-shaped gradients when `inputGrads` is set. Valid during the call only.
   */
  onInputGrads?: (layer: number, qkv: tf.Tensor3D, mlp: tf.Tensor2D) => void;
  /**
   * With onInputGrads: positions before this one may be left out of the tensors it gets (then
   * [R, N·(P − from), d_model] and [N·(P − from), d_model]); EAP's upstream differences vanish
   * before the first position at which the prompts differ. A family may ignore it and hand over
   * every position: the caller checks the size.
   */
  inputGradsFrom?: number;
}

export interface Architecture {
  readonly config: ModelConfig;
  /** the family as people name it: GPT-2, Llama, Mistral, Qwen2, GPT-NeoX */
  readonly family: string;
  /** hooks before the first block, and the sites of one block (`blocks.L.` + site), in forward order */
  readonly embedHooks: readonly string[];
  readonly blockHooks: readonly string[];
  /** tokens [N, P] → resid_pre of layer 0 [N, P, D] */
  embed(tokens: tf.Tensor2D, hook: HookFn): tf.Tensor3D;
  /** one block: resid_pre at positions [p0, P) [N, P − p0, D] → resid_post [N', Q, D], and its keys/values */
  block(layer: number, x: tf.Tensor3D, o: BlockOptions): { out: tf.Tensor3D; kv: KeyValues };
  /** final norm of the last position: [N, Q, D] → [N, D] */
  finalNorm(x: tf.Tensor3D, tape?: Tape): tf.Tensor2D;
  /** [d_vocab, d_model]: one row per token */
  readonly unembedRows: tf.Tensor2D;
  /** [d_model, d_vocab]: the unembedding transposed, made on first use (model.logits needs it only without the native a·bᵀ) */
  readonly unembed: tf.Tensor2D;
  newTape(positions: number): Tape;
  /** ∂metric/∂activation at every hook, given ∂metric/∂(final-normed last residual) [N, D] */
  backward(tape: Tape, gFinal: tf.Tensor2D, onGrad: GradFn, o?: BackwardOptions): void;
  /**
   * Where the queries and keys that form the attention pattern are hooked: after rotary in rotary
   * families (`attn.hook_rot_q`), else `attn.hook_q`/`attn.hook_k`. Shapes [N, P, head, d_head] and
   * [N, P, kv_head, d_head].
   */
  readonly qkSites: { q: string; k: string };
  /**
   * The attention pattern of `layer` [N, head, P, P] from queries and keys as hooked at `qkSites`,
   * with the model's own scale and causal mask. The QK fix (AtP*) recomputes it with patched
   * queries or keys.
   */
  attentionPattern(layer: number, q: tf.Tensor4D, k: tf.Tensor4D): tf.Tensor4D;
  /**
   * Optional: each head's write to the residual stream (TransformerLens's hook_result, without
   * b_O), head-major, from its z: [N, Q, H, d_head] → [H, N·Q, d_model]. Linear in z, so EAP forms
   * the upstream differences from attn.hook_z alone; without it, from attn.hook_result.
   */
  headResults?(layer: number, z: tf.Tensor4D): tf.Tensor3D;
  /** Whether block() honours BlockOptions.headMajorInputs (otherwise edge patching uses `splitInputs`' hooks). */
  readonly headMajorInputs?: boolean;
  /** bytes the first circuit job will cache for good and has not yet (GPT-2's folded input weights), for memory plans */
  readonly pendingCircuitBytes?: number;
  dispose(): void;
}
