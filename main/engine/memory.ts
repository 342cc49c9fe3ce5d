/**
 * Whether a model fits the wasm backend's heap, decided from config.json before any weight is read.
 * WebAssembly memory is 32-bit: at most 4 GiB per thread for every tensor, weights included. The
 * weights are float32 whatever the stored dtype; the backward pass adds transposed copies of the
 * weight matrices unless the native matmul multiplies by them as stored; activations need room too.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from './config.ts';
import { badModel } from './errors.ts';
import { fastTransposedMatMul } from './native-matmul.ts';

export const WASM_HEAP_BYTES = 2 ** 32;
/** room kept for activations, caches and patched batches (8 pairs × 16 tokens of a 1B model fit) */
const ACTIVATION_BYTES = 0.5 * 2 ** 30;

export interface MemoryNeed {
  parameters: number;
  /** float32 weights */
  weightBytes: number;
  /** transposed copies the forward and backward passes keep (unembedding, layer weights) */
  copyBytes: number;
}

/** Parameters and bytes of a model of this configuration, from its shapes alone. */
export function memoryNeed(cfg: ModelConfig, fastTransposed = fastTransposedMatMul()): MemoryNeed {
  const { nLayers: L, nHeads: H, nKvHeads: K, dHead: dh, dModel: D, dMlp: M, dVocab: V } = cfg;
  const attnMatrices = D * (H + 2 * K) * dh + H * dh * D;
  const mlpMatrices = (cfg.gatedMlp ? 3 : 2) * D * M;
  const vectors = (cfg.qkvBias ? (H + 2 * K) * dh : 0) + (cfg.outBias ? D : 0) + (cfg.mlpBias ? M + D : 0) + (cfg.norm === 'layer' ? 4 : 2) * D;
  const embeddings = V * D * (cfg.tiedEmbeddings ? 1 : 2) + (cfg.rotary ? 0 : cfg.nCtx * D);
  const parameters = embeddings + L * (attnMatrices + mlpMatrices + vectors) + (cfg.norm === 'layer' ? 2 : 1) * D;
  // Every family reads its weights as stored where the native kernel computes a · bᵀ; without it,
  // the unembedding and the block matrices get transposed copies (transposed.ts).
  const copies = fastTransposed ? 0 : V * D + L * (attnMatrices + mlpMatrices);
  return { parameters, weightBytes: 4 * parameters, copyBytes: 4 * copies };
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/** Refuses, before loading, a model that cannot run on the wasm backend (other backends have no such cap). */
export function checkFitsBackend(cfg: ModelConfig, dir: string): void {
  if (tf.getBackend() !== 'wasm') return;
  const need = memoryNeed(cfg);
  const total = need.weightBytes + need.copyBytes + ACTIVATION_BYTES;
  if (total <= WASM_HEAP_BYTES) return;
  const copies = need.copyBytes ? ` and ${gib(need.copyBytes)} of transposed copies for the backward pass` : '';
  throw badModel(
    `${dir}: ${(need.parameters / 1e6).toFixed(0)}M parameters need ${gib(need.weightBytes)} of float32 weights${copies}, ` +
      `plus room for activations: more than the wasm backend's 4 GiB heap. Run it on TensorFlow's native backend ` +
      `(npm install @tensorflow/tfjs-node, then PATCHBENCH_BACKEND=node) or its GPU backend (@tensorflow/tfjs-node-gpu).`,
  );
}
