import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../main/engine/backend.ts';
import { trainByteLevelBpe, writeTokenizerFiles } from '../main/engine/bpe-train.ts';
import { HookedModel } from '../main/engine/model.ts';
import { taskText, taskTokens } from '../main/engine/tasks/index.ts';
import { mulberry32 } from '../main/engine/tasks/random.ts';
import { loadTokenizer } from '../main/engine/tokenizer.ts';
import { writeModelFolder } from '../main/engine/train/checkpoint.ts';
import { ExampleMaker, toBatch } from '../main/engine/train/data.ts';
import { disposeWeights, lossAndGrads, uploadWeights, type Batch } from '../main/engine/train/grad.ts';
import { AdamW } from '../main/engine/train/optim.ts';
import { gaussian, initParams, paramLayout, paramView, type ArchConfig } from '../main/engine/train/params.ts';

await initBackend();

const bpe = trainByteLevelBpe(['the cat sat on the mat and the dog sat on the log'], { vocabSize: 270 });
const V = Object.keys(bpe.vocab).length;
const cfg: ArchConfig = { nLayers: 2, nHeads: 2, dModel: 8, dMlp: 16, nCtx: 8, vocabSize: V, eps: 1e-5 };
const layout = paramLayout(cfg);

function randomBatch(seed: number, n: number, p: number, pad = 0): Batch {
  const rng = mulberry32(seed);
  const tokens = new Int32Array(n * p);
  const targets = new Int32Array(n * p);
  const weights = new Float32Array(n * p);
  for (let i = 0; i < n * p; i++) {
    tokens[i] = Math.floor(rng() * V);
    targets[i] = Math.floor(rng() * V);
    weights[i] = i % p >= p - pad ? 0 : 0.5 + rng();
  }
  return { n, p, tokens, targets, weights };
}

function loss(flat: Float32Array, batch: Batch, grads?: Float32Array) {
  const w = uploadWeights(cfg, layout, flat);
  try {
    return lossAndGrads(cfg, layout, w, batch, grads);
  } finally {
    disposeWeights(w);
  }
}

/** Larger-than-GPT-2 init so every path (attention, gelu curvature, layer norms) carries gradient. */
function params(seed: number): Float32Array {
  const flat = initParams(cfg, layout, seed, 0.5);
  const randn = gaussian(mulberry32(seed + 1));
  // non-trivial layer-norm gains and biases, so their gradients are checked away from 1 and 0
  for (const s of layout.specs) if (s.init === 'ones' || s.init === 'zeros') for (let i = 0; i < s.size; i++) flat[s.offset + i] += 0.3 * randn();
  return flat;
}

test('hand-written weight gradients match central finite differences, tensor by tensor', () => {
  const flat = params(1);
  const batch = randomBatch(2, 3, 6, 2);
  const grads = new Float32Array(layout.total);
  const base = loss(flat, batch, grads);
  assert.ok(Number.isFinite(base.loss) && base.loss > 0);
  const randn = gaussian(mulberry32(3));
  const eps = 1e-2;
  const failures: string[] = [];
  for (const s of layout.specs) {
    // a random unit direction within this tensor (wpe: only the rows the batch uses have gradient)
    const d = new Float64Array(s.size).map(() => randn());
    const norm = Math.hypot(...d);
    let analytic = 0;
    const plus = flat.slice();
    const minus = flat.slice();
    for (let i = 0; i < s.size; i++) {
      const di = d[i] / norm;
      analytic += grads[s.offset + i] * di;
      plus[s.offset + i] += eps * di;
      minus[s.offset + i] -= eps * di;
    }
    const numeric = (loss(plus, batch).loss - loss(minus, batch).loss) / (2 * eps);
    const err = Math.abs(numeric - analytic);
    if (err > 5e-4 + 2e-3 * Math.abs(numeric)) failures.push(`${s.name}: analytic ${analytic.toFixed(5)} numeric ${numeric.toFixed(5)}`);
  }
  assert.deepEqual(failures, []);
});

test('single entries of the tied embedding and of c_attn match finite differences', () => {
  const flat = params(4);
  const batch = randomBatch(5, 2, 5);
  const grads = new Float32Array(layout.total);
  loss(flat, batch, grads);
  const wte = layout.byName.get('transformer.wte.weight')!;
  const attn = layout.byName.get('transformer.h.1.attn.c_attn.weight')!;
  // wte rows used as inputs and as targets (two gradient paths), and one row of each third of c_attn (q, k, v)
  const D = cfg.dModel;
  const idx = [batch.tokens[0] * D, batch.tokens[3] * D + 5, batch.targets[1] * D + 2, attn.offset + 3, attn.offset + D + 4 + 3 * D, attn.offset + 2 * D + 1 + 6 * D]
    .map((i, k) => (k < 3 ? wte.offset + i : i));
  for (const i of idx) {
    const eps = 1e-2;
    const plus = flat.slice();
    const minus = flat.slice();
    plus[i] += eps;
    minus[i] -= eps;
    const numeric = (loss(plus, batch).loss - loss(minus, batch).loss) / (2 * eps);
    assert.ok(Math.abs(numeric - grads[i]) < 5e-4 + 2e-3 * Math.abs(numeric), `param ${i}: analytic ${grads[i]} numeric ${numeric}`);
  }
});

test('gradients add up over batches, and right padding changes nothing', () => {
  const flat = params(6);
  const a = randomBatch(7, 2, 6, 1);
  const b = randomBatch(8, 1, 6, 3);
  const ga = new Float32Array(layout.total);
  const ra = loss(flat, a, ga);
  const rb = loss(flat, b, ga);
  const both: Batch = {
    n: 3, p: 6,
    tokens: Int32Array.from([...a.tokens, ...b.tokens]),
    targets: Int32Array.from([...a.targets, ...b.targets]),
    weights: Float32Array.from([...a.weights, ...b.weights]),
  };
  const g = new Float32Array(layout.total);
  const r = loss(flat, both, g);
  assert.ok(Math.abs(r.loss - (ra.loss + rb.loss)) < 1e-4 * r.loss);
  assert.equal(r.weight.toFixed(4), (ra.weight + rb.weight).toFixed(4));
  let maxDiff = 0;
  for (let i = 0; i < g.length; i++) maxDiff = Math.max(maxDiff, Math.abs(g[i] - ga[i]));
  assert.ok(maxDiff < 1e-4, `max |Δgrad| ${maxDiff}`);
  // the same first 3 positions, padded to 6 with junk (weight 0) or not padded at all
  const short: Batch = { n: 1, p: 3, tokens: b.tokens.slice(0, 3), targets: b.targets.slice(0, 3), weights: b.weights.slice(0, 3) };
  const gs = new Float32Array(layout.total);
  const gb = new Float32Array(layout.total);
  const rs = loss(flat, short, gs);
  assert.ok(Math.abs(rs.loss - rb.loss) < 1e-5 * rb.loss);
  loss(flat, b, gb);
  maxDiff = 0;
  for (let i = 0; i < g.length; i++) maxDiff = Math.max(maxDiff, Math.abs(gs[i] - gb[i]));
  assert.ok(maxDiff < 1e-5, `padding changed the gradient by ${maxDiff}`);
});

test('a written checkpoint loads in the engine and its forward pass agrees with the trainer', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'patchbench-train-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const flat = params(9);
  writeModelFolder(dir, cfg, layout, flat, bpe);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  assert.equal(config.model_type, 'gpt2');
  assert.equal(config.vocab_size, V);
  assert.equal(config.bos_token_id, V - 1);
  assert.equal(config.eos_token_id, V - 1);
  assert.equal(config.tie_word_embeddings, true);
  assert.equal(config.n_inner, 16, 'd_mlp 16 is not 4·d_model, so n_inner is written');
  for (const f of ['tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json', 'vocab.json', 'merges.txt', 'tokenizer.json']) {
    assert.ok(JSON.stringify(readFileSync(join(dir, f), 'utf8')).length > 2, f);
  }
  const model = await HookedModel.load(dir);
  t.after(() => model.dispose());
  const batch = randomBatch(10, 2, 7);
  // score only the last position of each sequence, the one the engine's forward returns
  batch.weights.fill(0);
  batch.weights[6] = 1;
  batch.weights[13] = 1;
  const ours = loss(flat, batch).loss;
  const tokens = model.tokensTensor([Array.from(batch.tokens.slice(0, 7)), Array.from(batch.tokens.slice(7))]);
  const { final } = model.run(tokens);
  const lp = tf.tidy(() => tf.logSoftmax(model.logits(final)).arraySync() as number[][]);
  tf.dispose([tokens, final]);
  const engine = -lp[0][batch.targets[6]] - lp[1][batch.targets[13]];
  assert.ok(Math.abs(ours - engine) < 1e-4 * Math.abs(engine), `trainer ${ours} vs engine ${engine}`);
});

test('AdamW reduces the loss of a tiny model on a fixed batch', () => {
  const flat = initParams(cfg, layout, 11);
  const batch = randomBatch(12, 4, 8);
  const opt = new AdamW(layout, { lr: 1e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.01 });
  const first = loss(flat, batch).loss;
  for (let step = 0; step < 30; step++) {
    const g = new Float32Array(layout.total);
    const r = loss(flat, batch, g);
    for (let i = 0; i < g.length; i++) g[i] /= r.weight;
    opt.step(flat, g, 1e-2);
  }
  const last = loss(flat, batch).loss;
  assert.ok(last < 0.7 * first, `loss ${first} → ${last}`);
  // decay applies to matrices, never to layer-norm gains
  const ln = paramView(flat, layout.byName.get('transformer.ln_f.weight')!);
  assert.ok(ln.some((x) => x !== 1));
});

test('training examples: BOS first, the answer found per task, copyable induction words weighted', async () => {
  const texts = (['ioi', 'induction', 'pronoun'] as const).flatMap((t) => taskText(t, { n: 200, seed: 1 }));
  const trained = trainByteLevelBpe(texts, { vocabSize: 900, requiredTokens: taskTokens() });
  const dir = mkdtempSync(join(tmpdir(), 'patchbench-data-'));
  try {
    writeTokenizerFiles(dir, trained);
    const tok = await loadTokenizer(dir);
    const bos = trained.vocab['<|endoftext|>'];
    const maker = new ExampleMaker(tok, bos);
    const str = (ids: number[]) => ids.map((i) => tok.tokenString(i));
    const ioi = maker.example('ioi', 'When Mary and John went to the store, John gave a drink to Mary.');
    assert.equal(ioi.ids[0], bos);
    assert.equal(str([ioi.ids[ioi.answer]])[0], ' Mary');
    assert.equal(ioi.answer, ioi.ids.length - 2);
    const pro = maker.example('pronoun', 'Yesterday Lisa said that she was tired.');
    assert.equal(str([pro.ids[pro.answer]])[0], ' she');
    const ind = maker.example('induction', ' apple river stone cloud apple river stone');
    assert.equal(ind.answer, 7);
    assert.equal(ind.copyFrom, 6, 'the second word of the repeat is the first one that can be copied');
    const b = toBatch([ind, pro], 4, bos, 3);
    assert.equal(b.p, Math.max(ind.ids.length, pro.ids.length));
    // position j predicts token j + 1
    assert.deepEqual(Array.from(b.weights.slice(0, b.p)), [1, 1, 1, 1, 1, 3, 4, ...new Array(b.p - 7).fill(0)]);
    assert.equal(b.targets[6], ind.ids[7]);
    const row = Array.from(b.weights.slice(b.p, 2 * b.p));
    assert.equal(row[pro.answer - 1], 4);
    assert.equal(row.filter((w) => w > 0).length, pro.ids.length - 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
