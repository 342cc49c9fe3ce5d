/**
 * Whether a model fits the wasm heap, from config.json alone (main/engine/memory.ts). GPT-2 large is
 * the case where the backward pass's transposed weight copies decide it: 2.88 GiB of float32
 * weights fit beside the 0.5 GiB kept for activations, weights plus copies would not.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../main/engine/config.ts';
import { checkFitsBackend, memoryNeed } from '../../main/engine/memory.ts';
import { fastTransposedMatMul } from '../../main/engine/native-matmul.ts';
import { useBackend } from '../helpers.ts';

// openai-community/gpt2-large's config.json (the fields Patchbench reads)
const GPT2_LARGE = parseConfig({ model_type: 'gpt2', n_layer: 36, n_head: 20, n_embd: 1280, vocab_size: 50257, n_positions: 1024, n_ctx: 1024 });

test('GPT-2 large: 774,030,080 parameters, and transposed copies only without the native a·bᵀ', () => {
  const [V, D, L] = [50257, 1280, 36];
  // the parameter count Hugging Face reports for gpt2-large
  assert.equal(memoryNeed(GPT2_LARGE, true).parameters, 774_030_080);
  assert.equal(memoryNeed(GPT2_LARGE, true).weightBytes, 4 * 774_030_080);
  assert.equal(memoryNeed(GPT2_LARGE, true).copyBytes, 0);
  // without it: the unembedding and every block matrix (q, k, v, o: 4·D², MLP: 8·D²), transposed
  assert.equal(memoryNeed(GPT2_LARGE, false).copyBytes, 4 * (V * D + L * 12 * D * D));
});

test('GPT-2 large fits the wasm heap where the native kernel reads weights as stored, and is refused by size where it does not', async () => {
  await useBackend('wasm');
  if (fastTransposedMatMul()) {
    assert.doesNotThrow(() => checkFitsBackend(GPT2_LARGE, 'gpt2-large'));
  } else {
    assert.throws(() => checkFitsBackend(GPT2_LARGE, 'gpt2-large'), /774M parameters need 2\.88 GiB of float32 weights and 2\.88 GiB of transposed copies/);
  }
});
