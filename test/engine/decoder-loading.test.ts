/**
 * Loading the rotary families: config.json errors name the field, checkpoint errors name the
 * tensor, kinds a family lacks are not offered and are refused by name, and Mistral's sliding
 * window is enforced on prompts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseConfig } from '../../main/engine/config.ts';
import { PatchbenchError } from '../../main/engine/errors.ts';
import { memoryNeed } from '../../main/engine/memory.ts';
import { HookedModel } from '../../main/engine/model.ts';
import { runPatching } from '../../main/engine/patching/index.ts';
import { writeDecoderFixture, type DecoderFixtureOptions } from '../fixtures/generate-decoder.ts';
import { runCli, throwsBadInput, useBackend } from '../helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'patchbench-decoder-loading-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const LLAMA: DecoderFixtureOptions = { family: 'llama', layers: 1, heads: 4, kvHeads: 2, dModel: 16, dMlp: 24, seed: 1 };
const NEOX: DecoderFixtureOptions = { family: 'gpt_neox', layers: 1, heads: 2, dModel: 16, dMlp: 32, seed: 2 };
let n = 0;
const fixture = (o: DecoderFixtureOptions, change?: (dir: string) => void) => {
  const dir = writeDecoderFixture(join(tmp, `m${n++}`), o);
  change?.(dir);
  return dir;
};
const editConfig = (o: DecoderFixtureOptions, f: (c: any) => void) =>
  fixture(o, (d) => {
    const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
    f(c);
    writeFileSync(join(d, 'config.json'), JSON.stringify(c));
  });

async function rejects(dir: string, ...patterns: RegExp[]) {
  await assert.rejects(HookedModel.load(dir), (e: unknown) => {
    assert.ok(e instanceof PatchbenchError, `expected a PatchbenchError, got ${e}`);
    assert.equal(e.code, 'bad-model');
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

describe('config.json of the rotary families', () => {
  test('fields are checked by name', async () => {
    await rejects(editConfig(LLAMA, (c) => delete c.num_hidden_layers), /config\.json: field "num_hidden_layers" must be a positive integer/);
    await rejects(editConfig(LLAMA, (c) => (c.num_key_value_heads = 3)), /num_attention_heads 4 is not divisible by num_key_value_heads 3/);
    await rejects(editConfig(LLAMA, (c) => (c.hidden_act = 'gelu')), /hidden_act "gelu" is not supported \(supported: silu, swish\)/);
    await rejects(editConfig(LLAMA, (c) => (c.rope_scaling = { rope_type: 'yarn', factor: 4 })), /rope_scaling type "yarn" is not supported \(supported: default, linear, llama3\)/);
    await rejects(editConfig(LLAMA, (c) => (c.rope_scaling = { rope_type: 'llama3' })), /rope_scaling\.factor must be a positive number/);
    await rejects(editConfig(NEOX, (c) => (c.rotary_pct = 0.1)), /rotary_pct 0\.1 of head size 8 gives 0 rotary dimensions/);
    await rejects(editConfig(NEOX, (c) => (c.use_parallel_residual = 'yes')), /field "use_parallel_residual" must be true or false/);
  });
  test('llama3 rope scaling keeps short wavelengths and divides long ones', () => {
    const cfg = parseConfig({
      model_type: 'llama', num_hidden_layers: 1, num_attention_heads: 1, hidden_size: 64, intermediate_size: 8, vocab_size: 10, rope_theta: 500000,
      rope_scaling: { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
    });
    const inv = cfg.rotary!.invFreq;
    assert.equal(inv[0], 1); // wavelength 2π < 8192/4: unchanged
    assert.ok(Math.abs(inv[31] - 500000 ** (-62 / 64) / 32) < 1e-18, 'longest wavelength divided by the factor');
    assert.equal(cfg.nKvHeads, 1);
  });
});

describe('checkpoints of the rotary families', () => {
  test('a missing or misshapen tensor is named', async () => {
    const untied = fixture(LLAMA, (d) => {
      const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
      c.tie_word_embeddings = false;
      writeFileSync(join(d, 'config.json'), JSON.stringify(c));
    });
    // config says untied, so lm_head.weight must be there; the file has it: loads
    (await HookedModel.load(untied)).dispose();
    await rejects(editConfig({ ...LLAMA, tied: true }, (c) => (c.tie_word_embeddings = false)), /no tensor "lm_head\.weight"/);
    await rejects(editConfig(LLAMA, (c) => (c.num_key_value_heads = 4)), /k_proj\.weight" has shape \[8,16\] but config\.json implies \[16,16\]/);
    await rejects(fixture(NEOX, (d) => unlinkSync(join(d, 'model.safetensors'))), /no model\.safetensors/);
  });
});

describe('kinds and windows', () => {
  test('parallel attention has no resid_mid: not offered, refused by name', async () => {
    const m = await HookedModel.load(fixture(NEOX));
    try {
      assert.equal(m.info.architecture, 'GPT-NeoX');
      assert.ok(!m.info.kinds.includes('resid_mid'));
      assert.ok(!m.hookNames().some((h) => h.endsWith('hook_resid_mid')));
      assert.ok(m.hookNames().includes('blocks.0.attn.hook_rot_q'));
      const pairs = { clean: [[256, 65, 66]], corrupted: [[256, 67, 66]], answer: [65], wrong: [66] };
      await assert.rejects(runPatching(m, pairs, { direction: 'denoising', metric: 'logit-diff', kinds: ['head_z', 'resid_mid'], method: 'attribution' }), (e: unknown) => {
        assert.ok(e instanceof PatchbenchError && e.code === 'bad-input');
        assert.match(e.message, /GPT-NeoX has no resid_mid \(attention and MLP run in parallel/);
        return true;
      });
    } finally {
      m.dispose();
    }
  });
  test('grouped-query attention: head_k and head_v are indexed by key/value head', async () => {
    const m = await HookedModel.load(fixture(LLAMA));
    try {
      const pairs = { clean: [[256, 65, 66]], corrupted: [[256, 67, 66]], answer: [65], wrong: [66] };
      const r = await runPatching(m, pairs, { direction: 'denoising', metric: 'logit-diff', kinds: ['head_q', 'head_k', 'head_v'], method: 'attribution' });
      assert.deepEqual(r.kinds.map((k) => k.shape), [[1, 4], [1, 2], [1, 2]]);
      assert.equal(m.info.nKvHeads, 2);
      assert.equal(m.info.kinds.length, 12);
    } finally {
      m.dispose();
    }
  });
  test("prompts longer than Mistral's sliding window are refused", async () => {
    const m = await HookedModel.load(fixture({ ...LLAMA, family: 'mistral', slidingWindow: 6 }));
    try {
      assert.equal(m.encodePrompt('abcde').length, 6);
      throwsBadInput(() => m.encodePrompt('abcdef'), "prompt is 7 tokens, longer than mistral's sliding attention window of 6");
    } finally {
      m.dispose();
    }
  });
  test('patchbench info lists the family and its kinds', () => {
    const r = runCli(['info', '--model', fixture(NEOX), '--json']);
    assert.equal(r.code, 0, r.err);
    const info = JSON.parse(r.out);
    assert.equal(info.architecture, 'GPT-NeoX');
    assert.deepEqual(info.kinds, ['resid_pre', 'resid_post', 'attn_out', 'mlp_out', 'head_z', 'head_q', 'head_k', 'head_v', 'head_z_pos', 'head_pattern', 'neuron']);
    const text = runCli(['info', '--model', fixture(LLAMA)]);
    assert.match(text.out, /architecture Llama: 1 layers, 4 heads \(2 key\/value heads\)/);
    assert.match(text.out, /kinds {8}resid_pre, resid_mid, resid_post/);
  });
});

describe('memory', () => {
  test('the parameter count from config.json is what the checkpoint holds, in every family', async () => {
    for (const o of [LLAMA, NEOX, { ...LLAMA, family: 'qwen2' as const, tied: true }, { ...LLAMA, attnBias: true }]) {
      const m = await HookedModel.load(fixture(o));
      try {
        assert.equal(memoryNeed(m.config).parameters, m.info.paramCount, `${o.family}${o.attnBias ? ' with biases' : ''}`);
      } finally {
        m.dispose();
      }
    }
  });
  test('a model too large for the wasm heap is refused before loading, saying what would run it', async () => {
    await useBackend('wasm');
    // Llama 3.2 1B's config.json alone: the refusal comes before any weight or tokenizer file is read.
    const dir = join(tmp, 'llama-3.2-1b-config-only');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({
      model_type: 'llama', hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8,
      head_dim: 64, vocab_size: 128256, max_position_embeddings: 131072, rope_theta: 500000, tie_word_embeddings: true, bos_token_id: 128000,
      rope_scaling: { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
    }));
    await rejects(dir, /1236M parameters need 4\.60 GiB of float32 weights/, /wasm backend's 4 GiB heap/, /tfjs-node/, /tfjs-node-gpu/);
  });
});
