/**
 * The bundled demo model (resources/models/demo, made by `npm run train:demo`) solves the task
 * library's tasks on held-out pairs and has a circuit that activation patching finds. Seeds here
 * are used neither in training (taskText seeds ≥ 1e6) nor in the model card (9001–9103).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HookedModel } from '../main/engine/model.ts';
import { openSafetensors } from '../main/engine/safetensors.ts';
import { runPatching } from '../main/engine/patching/index.ts';
import { tokenizePairs } from '../main/engine/patching/pairs.ts';
import { generatePairs, taskTokens } from '../main/engine/tasks/index.ts';
import { scoreTask } from '../main/engine/train/evaluate.ts';

const DIR = fileURLToPath(new URL('../resources/models/demo', import.meta.url));
const model = await HookedModel.load(DIR);
/** pairs per task, of every template and length */
const N = 200;

test('the folder is a standard Hugging Face GPT-2 checkpoint', () => {
  const config = JSON.parse(readFileSync(join(DIR, 'config.json'), 'utf8'));
  const vocab = JSON.parse(readFileSync(join(DIR, 'vocab.json'), 'utf8')) as Record<string, number>;
  const eot = vocab['<|endoftext|>'];
  assert.equal(eot, Object.keys(vocab).length - 1, '<|endoftext|> is the last id');
  assert.equal(config.model_type, 'gpt2');
  assert.deepEqual(config.architectures, ['GPT2LMHeadModel']);
  assert.equal(config.vocab_size, Object.keys(vocab).length);
  assert.equal(config.bos_token_id, eot);
  assert.equal(config.eos_token_id, eot);
  assert.equal(config.tie_word_embeddings, true);
  assert.equal(config.n_inner, null);
  assert.equal(config.activation_function, 'gelu_new');
  assert.equal(config.layer_norm_epsilon, 1e-5);
  assert.ok(config.n_layer >= 2 && config.n_head >= 2, 'several layers and heads');
  for (const f of ['tokenizer_config.json', 'special_tokens_map.json']) {
    const j = JSON.parse(readFileSync(join(DIR, f), 'utf8'));
    for (const k of ['bos_token', 'eos_token', 'unk_token']) assert.equal(j[k], '<|endoftext|>', `${f} ${k}`);
  }
  const st = openSafetensors(join(DIR, 'model.safetensors'));
  try {
    const D = config.n_embd;
    assert.deepEqual(st.entries.get('transformer.wte.weight')?.shape, [config.vocab_size, D]);
    assert.deepEqual(st.entries.get('transformer.wpe.weight')?.shape, [config.n_positions, D]);
    assert.deepEqual(st.entries.get('transformer.h.0.attn.c_attn.weight')?.shape, [D, 3 * D]);
    assert.deepEqual(st.entries.get('transformer.h.0.mlp.c_proj.weight')?.shape, [4 * D, D]);
    assert.equal(st.entries.has('lm_head.weight'), false, 'the unembedding is tied to wte');
    assert.equal(st.entries.size, 2 + 12 * config.n_layer + 2);
  } finally {
    st.close();
  }
  assert.ok(statSync(join(DIR, 'model.safetensors')).size < 10e6, 'small enough to ship in git');
  for (const t of taskTokens()) assert.notEqual(model.tokenizer.tokenId(t), undefined, `${JSON.stringify(t)} is one token`);
});

test('IOI: the indirect object beats the subject on held-out prompts', async (t) => {
  const s = await scoreTask(model, 'ioi', { n: N, seed: 31337 });
  t.diagnostic(`ioi: ${(100 * s.accuracy).toFixed(1)}% beat wrong, mean logit diff ${s.meanLogitDiff.toFixed(2)}, top-1 ${(100 * s.top1).toFixed(1)}%`);
  assert.ok(s.accuracy >= 0.95, `accuracy ${s.accuracy}`);
  assert.ok(s.meanLogitDiff >= 2, `mean logit diff ${s.meanLogitDiff}`);
});

test('induction: the repeated sequence is continued on held-out prompts', async (t) => {
  const s = await scoreTask(model, 'induction', { n: N, seed: 31338 });
  t.diagnostic(`induction: ${(100 * s.accuracy).toFixed(1)}% beat wrong, mean logit diff ${s.meanLogitDiff.toFixed(2)}, top-1 ${(100 * s.top1).toFixed(1)}%`);
  assert.ok(s.accuracy >= 0.95, `accuracy ${s.accuracy}`);
  assert.ok(s.meanLogitDiff >= 2, `mean logit diff ${s.meanLogitDiff}`);
});

test('pronoun: the pronoun matches the name on held-out prompts', async (t) => {
  const s = await scoreTask(model, 'pronoun', { n: N, seed: 31339 });
  t.diagnostic(`pronoun: ${(100 * s.accuracy).toFixed(1)}% beat wrong, mean logit diff ${s.meanLogitDiff.toFixed(2)}, top-1 ${(100 * s.top1).toFixed(1)}%`);
  assert.ok(s.accuracy >= 0.9, `accuracy ${s.accuracy}`);
  assert.ok(s.meanLogitDiff > 1, `mean logit diff ${s.meanLogitDiff}`);
});

test('activation patching of head_z on IOI finds heads that restore ≥ 30% of the logit difference', async (t) => {
  // one token length (generatePairs keeps the most common), as patching needs
  const pairs = generatePairs('ioi', { n: 48, seed: 31340, tokenizer: model.tokenizer });
  const r = await runPatching(model, tokenizePairs(model, pairs), { direction: 'denoising', metric: 'logit-diff', kinds: ['head_z'], method: 'both' });
  const hz = r.kinds[0];
  const H = model.config.nHeads;
  const ranked = Array.from(hz.activation!, (v, i) => ({ head: `L${Math.floor(i / H)}H${i % H}`, v, a: hz.attribution![i] })).sort((a, b) => b.v - a.v);
  t.diagnostic(
    `${pairs.length} pairs; clean ${r.metric.clean.toFixed(2)}, corrupted ${r.metric.corrupted.toFixed(2)}; top heads ` +
      ranked.slice(0, 4).map((x) => `${x.head} ${x.v.toFixed(2)} (attr ${x.a.toFixed(2)})`).join(', '),
  );
  assert.ok(r.metric.clean - r.metric.corrupted >= 2, 'the subject swap flips the answer');
  assert.ok(ranked[0].v >= 0.3, `best single head restores ${ranked[0].v}`);
  // attribution patching ranks that head among its top 3
  const byAttr = ranked.slice().sort((a, b) => Math.abs(b.a) - Math.abs(a.a));
  assert.ok(byAttr.slice(0, 3).some((x) => x.head === ranked[0].head), 'attribution finds the top head');
});
