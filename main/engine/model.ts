/**
 * A loaded model: configuration, tokenizer, weights on the active backend, and the hooked forward
 * and backward passes. The patching code talks to this interface only; each family (gpt2/, and the
 * rotary decoders of llama/ and neox/) sits behind it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { backendLabel, initBackend } from './backend.ts';
import { Checkpoint } from './checkpoint.ts';
import { readConfig, type ModelConfig } from './config.ts';
import { badInput, badModel } from './errors.ts';
import { passThrough, type Architecture, type BackwardOptions, type BlockOptions, type GradFn, type HeadMajorInputs, type HookFn, type KeyValues, type Tape } from './architecture.ts';
import type { CheckpointInfo } from './weight-reader.ts';
import { Gpt2 } from './gpt2/index.ts';
import { hookNames } from './hooks.ts';
import { checkFitsBackend } from './memory.ts';
import { fastTransposedMatMul } from './native-matmul.ts';
import { loadLlama } from './llama/index.ts';
import { loadNeox } from './neox/index.ts';
import { availableKinds, type Kind } from './patching/components.ts';
import { loadTokenizer, type Tokenizer } from './tokenizer.ts';
import { resolveBos, type BosToken } from './tokenizer/bos.ts';
import { checkFitsAdapter, checkGpuErrors, webgpuAdapter } from './webgpu.ts';

/** What a user is shown about a model: its shape (from config.json) and where and how it runs. */
export interface ModelInfo extends Pick<ModelConfig, 'nLayers' | 'nHeads' | 'nKvHeads' | 'dModel' | 'dHead' | 'dMlp' | 'dVocab' | 'nCtx'> {
  dir: string;
  name: string;
  /** the family: GPT-2, Llama, Mistral, Qwen2, GPT-NeoX */
  architecture: string;
  /** component kinds this model has, in output order */
  kinds: Kind[];
  paramCount: number;
  /** dtypes stored in the checkpoint; weights are computed in float32 */
  dtypes: string[];
  backend: string;
  /** the token put in front of prompts (unless --no-bos); null: the model has none, prompts are not prefixed */
  bos: BosToken | null;
}

export interface RunOptions {
  hook?: HookFn;
  /** record what `backward` needs */
  tape?: Tape;
  /** keep every layer's keys and values (for patched runs that resume mid-sequence) */
  keepKV?: boolean;
  /** compute the final layer at the last position only (when no hook needs its other positions) */
  lastOnlyFinal?: boolean;
  /** per-head results and split inputs at their hooks (see BlockOptions) */
  attnResult?: boolean;
  splitInputs?: boolean;
  /** every head's and MLP's input from the caller (BlockOptions.headMajorInputs) */
  headMajorInputs?: HeadMajorInputs;
}

export interface RunResult {
  /** final-layer-normed residual at the last position [N, D] */
  final: tf.Tensor2D;
  kv?: KeyValues[];
}

/** The family module for a parsed config. */
function loadArchitecture(dir: string, config: ModelConfig): { arch: Architecture; checkpoint: CheckpointInfo } {
  switch (config.architecture) {
    case 'gpt2':
      return Gpt2.load(dir, config);
    case 'llama':
      return loadLlama(dir, config);
    case 'gpt_neox':
      return loadNeox(dir, config);
  }
}

/** On the GPU, refuses a checkpoint with a tensor larger than one buffer may be, before any weight is read. */
function checkFitsGpu(dir: string): void {
  const gpu = tf.getBackend() === 'webgpu' ? webgpuAdapter() : undefined;
  if (!gpu) return;
  const checkpoint = Checkpoint.open(dir);
  try {
    checkFitsAdapter(gpu, checkpoint.entries(), dir);
  } finally {
    checkpoint.close();
  }
}

export class HookedModel {
  private constructor(
    readonly config: ModelConfig,
    readonly tokenizer: Tokenizer,
    readonly arch: Architecture,
    readonly info: ModelInfo,
  ) {}

  static async load(dir: string): Promise<HookedModel> {
    const abs = resolve(dir);
    if (!existsSync(abs) || !statSync(abs).isDirectory()) throw badModel(`${abs}: model folder not found`);
    await initBackend();
    const config = readConfig(abs);
    checkFitsBackend(config, abs); // before anything is read: a model too large says so at once
    const tokenizer = await loadTokenizer(abs);
    if (tokenizer.vocabSize > config.dVocab) {
      throw badModel(`${abs}: tokenizer has ${tokenizer.vocabSize} tokens but config.json vocab_size is ${config.dVocab}`);
    }
    const bos = resolveBos(abs, tokenizer);
    checkFitsGpu(abs);
    const { arch, checkpoint: info } = loadArchitecture(abs, config);
    const model = new HookedModel(config, tokenizer, arch, {
      dir: abs,
      name: basename(abs),
      architecture: arch.family,
      kinds: availableKinds(arch.blockHooks),
      nLayers: config.nLayers,
      nHeads: config.nHeads,
      nKvHeads: config.nKvHeads,
      dModel: config.dModel,
      dHead: config.dHead,
      dMlp: config.dMlp,
      dVocab: config.dVocab,
      nCtx: config.nCtx,
      paramCount: info.paramCount,
      dtypes: info.dtypes,
      backend: backendLabel(),
      bos,
    });
    if (tf.getBackend() === 'webgpu') {
      try {
        await checkGpuErrors(`${abs}: loading the weights onto the GPU`, () => model.touchWeights());
      } catch (e) {
        model.dispose();
        throw e;
      }
    }
    return model;
  }

  /**
   * A forward pass of one token and the unembedding: every weight is used once, so on the GPU
   * every weight is uploaded here, once (and the kernels are compiled), not in the first job.
   */
  private async touchWeights(): Promise<void> {
    const tokens = this.tokensTensor([[0]]);
    const { final } = this.run(tokens, { lastOnlyFinal: true });
    const touched = tf.tidy(() => tf.add(tf.sum(this.logits(final)), tf.sum(this.arch.unembedRows)));
    await touched.data();
    tf.dispose([tokens, final, touched]);
  }

  hookNames(): string[] {
    return hookNames(this.config.nLayers, this.arch.blockHooks, this.arch.embedHooks);
  }

  /** The BOS token, or null where the model has none (see tokenizer/bos.ts). */
  get bos(): BosToken | null {
    return this.info.bos;
  }

  /**
   * Token ids of a prompt, with the model's BOS token in front unless `prependBos` is false (a
   * model without one gets none either way).
   */
  encodePrompt(text: string, prependBos = true, what = 'prompt'): number[] {
    if (text.length === 0) throw badInput(`${what} is empty`);
    const bos = prependBos && this.bos ? [this.bos.id] : [];
    const ids = [...bos, ...this.tokenizer.encode(text, what)];
    if (ids.length === 0) throw badInput(`${what} is empty`);
    if (ids.length > this.config.nCtx) {
      throw badInput(`${what} is ${ids.length} tokens, longer than the model's context of ${this.config.nCtx}`);
    }
    const window = this.config.slidingWindow;
    if (window !== null && ids.length > window) {
      throw badInput(`${what} is ${ids.length} tokens, longer than ${this.config.modelType}'s sliding attention window of ${window} (windowed attention is not implemented; shorten the prompt)`);
    }
    return ids;
  }

  /** A batch of equal-length token lists as an int32 tensor [N, P]. */
  tokensTensor(tokens: number[][]): tf.Tensor2D {
    const P = tokens[0].length;
    if (tokens.some((t) => t.length !== P)) throw badInput('all prompts in a batch must have the same number of tokens');
    return tf.tensor2d(tokens.flat(), [tokens.length, P], 'int32');
  }

  embed(tokens: tf.Tensor2D, hook: HookFn = passThrough): tf.Tensor3D {
    return this.arch.embed(tokens, hook);
  }

  block(l: number, x: tf.Tensor3D, o: BlockOptions) {
    return this.arch.block(l, x, o);
  }

  finalNorm(x: tf.Tensor3D, tape?: Tape): tf.Tensor2D {
    return this.arch.finalNorm(x, tape);
  }

  newTape(positions: number): Tape {
    return this.arch.newTape(positions);
  }

  /** A full forward pass. Tensors in the result (and in the tape) are the caller's to dispose. */
  run(tokens: tf.Tensor2D, o: RunOptions = {}): RunResult {
    const hook = o.hook ?? passThrough;
    const kv: KeyValues[] = [];
    const L = this.config.nLayers;
    // One scope per layer: only the residual stream (and what hooks and the tape keep) outlives it.
    let x = tf.tidy(() => this.embed(tokens, hook));
    for (let l = 0; l < L; l++) {
      const xIn = x;
      x = tf.tidy(() => {
        const r = this.block(l, xIn, { p0: 0, lastOnly: !!o.lastOnlyFinal && l === L - 1, hook, tape: o.tape, attnResult: o.attnResult, splitInputs: o.splitInputs, headMajorInputs: o.headMajorInputs });
        if (o.keepKV) kv.push({ kT: tf.keep(r.kv.kT), v: tf.keep(r.kv.v) });
        return r.out;
      });
      if (!xIn.kept) xIn.dispose(); // a hook may have kept it (a cache owns it then)
    }
    const final = tf.tidy(() => this.finalNorm(x, o.tape));
    if (!x.kept) x.dispose();
    const result: RunResult = o.keepKV ? { final, kv } : { final };
    return result!;
  }

  /** Logits over the vocabulary from the final residual: [N, D] → [N, d_vocab]. */
  logits(final: tf.Tensor2D): tf.Tensor2D {
    // The unembedding's rows as stored where a transposed product is fast: no [D, V] copy is made.
    return fastTransposedMatMul() ? tf.matMul(final, this.arch.unembedRows, false, true) : tf.matMul(final, this.arch.unembed);
  }

  /** ∂metric/∂activation for every hook, from one backward pass over a taped run (see gpt2/backward.ts). */
  backward(tape: Tape, gFinal: tf.Tensor2D, onGrad: GradFn, o?: BackwardOptions): void {
    this.arch.backward(tape, gFinal, onGrad, o);
  }

  dispose(): void {
    this.arch.dispose();
  }
}
