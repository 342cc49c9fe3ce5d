/**
 * Character- and word-level tokenizers through the whole engine: a tiny random GPT-2 whose
 * vocabulary matches each fixture in test/fixtures/tokenizers, loaded and asked for a prediction.
 * The prompt's ids are the plain lookup the vocabulary means, with BOS as the model's files say;
 * the logits of every token match the float64 reference (test/reference) to 1e-4.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { HookedModel } from '../../main/engine/model.ts';
import { predictNext, type Prediction } from '../../main/engine/predict.ts';
import { writeFixture } from '../fixtures/generate.ts';
import { FIXTURES, throwsBadInput } from '../helpers.ts';
import { loadRefModel } from '../reference/model.ts';

const tmp = mkdtempSync(join(tmpdir(), 'patchbench-tokmodels-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const TOKENIZERS = join(FIXTURES, 'tokenizers');
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

/** A random GPT-2 with the fixture's tokenizer files and config.json's bos_token_id set to `bosId`. */
/** Every next-token logit of the prediction equals the float64 reference's on the same ids. */
function checkLogits(dir: string, p: Prediction, vocab: number): void {
  assert.equal(p.top.length, vocab, 'the whole vocabulary is compared');
  const logits = loadRefModel(dir).forward([p.tokens]);
  const last = (p.tokens.length - 1) * vocab;
  for (const t of p.top) {
    const d = Math.abs(t.logit - logits.data[last + t.id]);
    assert.ok(d <= 1e-4, `logit of ${t.id}: ${t.logit} vs reference ${logits.data[last + t.id]} (|diff| ${d.toExponential(2)})`);
  }
}

function modelWith(tokenizer: string, vocab: number, seed: number, bosId: number): string {
  const dir = writeFixture(join(tmp, tokenizer), { layers: 2, heads: 2, dModel: 16, seed, vocab, ctx: 32 });
  cpSync(join(TOKENIZERS, tokenizer), dir, { recursive: true });
  const config = readJson(join(dir, 'config.json'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, bos_token_id: bosId, eos_token_id: bosId }));
  return dir;
}

test('makemore-style GPT-2 (27 symbols, GPT2Config default BOS 50256 outside the vocabulary): no BOS, names predict', async () => {
  const dir = modelWith('gpt2-chars', 27, 21, 50256);
  const model = await HookedModel.load(dir);
  try {
    assert.equal(model.info.bos, null);
    const stoi = readJson(join(TOKENIZERS, 'gpt2-chars/vocab.json'));
    const p = await predictNext(model, 'emm', { top: 27 });
    assert.deepEqual(p.tokens, [stoi.e, stoi.m, stoi.m]);
    assert.deepEqual(p.tokenStrings, ['e', 'm', 'm']);
    assert.equal(p.top.length, 27);
    assert.ok(Math.abs(p.top.reduce((s, t) => s + t.prob, 0) - 1) < 1e-5, 'probabilities over the whole vocabulary sum to 1');
    checkLogits(dir, p, 27);
    throwsBadInput(() => model.encodePrompt('Emma'), 'prompt "Emma"', 'the character "E" (U+0045) at position 1', 'model gpt2-chars');
  } finally {
    model.dispose();
  }
});

test('character-level tokenizer.json (BPE without merges): BOS from config.json, prompt ids by lookup', async () => {
  const dir = modelWith('chars-split', 65, 22, 0);
  const model = await HookedModel.load(dir);
  try {
    assert.deepEqual(model.info.bos, { id: 0, token: '\n', from: 'config.json' });
    const vocab = readJson(join(TOKENIZERS, 'chars-split/tokenizer.json')).model.vocab;
    const prompt = 'ROMEO:\nIs the day';
    const p = await predictNext(model, prompt, { top: 65 });
    assert.deepEqual(p.tokens, [0, ...[...prompt].map((c) => vocab[c])]);
    checkLogits(dir, p, 65);
    const noBos = await predictNext(model, prompt, { top: 65, prependBos: false });
    assert.deepEqual(noBos.tokens, p.tokens.slice(1));
    checkLogits(dir, noBos, 65);
  } finally {
    model.dispose();
  }
});

test('word-level tokenizer.json: BOS named by tokenizer_config.json wins over config.json', async () => {
  const dir = modelWith('words-split', 27, 23, 5);
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<eos>', eos_token: '<eos>' }));
  const model = await HookedModel.load(dir);
  try {
    assert.deepEqual(model.info.bos, { id: 0, token: '<eos>', from: 'tokenizer_config.json' });
    const vocab = readJson(join(TOKENIZERS, 'words-split/tokenizer.json')).model.vocab;
    const p = await predictNext(model, 'When John and Mary went to the store, John gave a drink to', { top: 27 });
    assert.deepEqual(p.tokens, [0, ...'When John and Mary went to the store, John gave a drink to'.match(/[A-Za-z]+|[^A-Za-z]/g)!.map((w) => vocab[w])]);
    checkLogits(dir, p, 27);
  } finally {
    model.dispose();
  }
});
