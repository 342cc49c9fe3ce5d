import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainByteLevelBpe, writeTokenizerFiles } from '../main/engine/bpe-train.ts';
import { loadTokenizer } from '../main/engine/tokenizer.ts';
import { generatePairs, taskText, taskTokens, TASKS, type TaskName } from '../main/engine/tasks/index.ts';
import { throwsBadInput, TINY } from './helpers.ts';


function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'patchbench-bpe-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('greedy merges on a hand-worked example', () => {
  // Pre-tokens: "ab", " ab" twice, " cd" (a space is the byte symbol "Ġ").
  // Pair counts: (a,b)=3, (Ġ,a)=2, (Ġ,c)=1, (c,d)=1 → merge a+b; then (Ġ,ab)=2; then the tie
  // (Ġ,c)=(c,d)=1 goes to (c,d) because "c" < "Ġ"; then (Ġ,cd). Nothing is left to merge.
  const trained = trainByteLevelBpe(['ab ab ab cd'], { vocabSize: 300 });
  assert.deepEqual(trained.merges, [
    ['a', 'b'],
    ['Ġ', 'ab'],
    ['c', 'd'],
    ['Ġ', 'cd'],
  ]);
  assert.equal(trained.vocab['ab'], 256);
  assert.equal(trained.vocab['Ġcd'], 259);
  assert.equal(trained.vocab['<|endoftext|>'], 260, 'stops early, the special token last');
  // With room for only two merges, the first two are kept.
  const small = trainByteLevelBpe(['ab ab ab cd'], { vocabSize: 259 });
  assert.deepEqual(small.merges, [['a', 'b'], ['Ġ', 'ab']]);
  assert.equal(small.vocab['<|endoftext|>'], 258);
});

test('the 256 byte symbols come first, in the same order as in GPT-2', () => {
  const gpt2 = JSON.parse(readFileSync(join(TINY, 'vocab.json'), 'utf8')) as Record<string, number>;
  const trained = trainByteLevelBpe(['hello'], { vocabSize: 260 });
  for (const [token, id] of Object.entries(gpt2)) if (id < 256) assert.equal(trained.vocab[token], id, token);
});

test('required tokens become single tokens even when absent from the text', () => {
  const trained = trainByteLevelBpe(['the cat sat on the mat'], { vocabSize: 400, requiredTokens: [' Zebra', 'ñ', ' he'] });
  const tokens = new Set(Object.keys(trained.vocab));
  for (const t of ['ĠZebra', 'Ã±', 'Ġhe']) assert.ok(tokens.has(t), t);
  throwsBadInput(() => trainByteLevelBpe(['x'], { vocabSize: 260, requiredTokens: [' Zebra'] }), 'vocabSize 260 is too small');
  throwsBadInput(() => trainByteLevelBpe(['x'], { vocabSize: 400, requiredTokens: [' he said'] }), '" he said"', '[" he"," said"]');
  throwsBadInput(() => trainByteLevelBpe(['x'], { vocabSize: 256 }), 'at least 257');
  throwsBadInput(() => trainByteLevelBpe(['x'], { vocabSize: 300.5 }), 'vocabSize');
});

test('a vocabulary trained on the task text serves every task', async (t) => {
  const tasks = Object.keys(TASKS) as TaskName[];
  const texts = tasks.flatMap((task, i) => taskText(task, { n: 3000, seed: i + 1 }));
  const start = performance.now();
  const trained = trainByteLevelBpe(texts, { vocabSize: 1000, requiredTokens: taskTokens() });
  t.diagnostic(`trained on ${(texts.join('\n').length / 1e6).toFixed(2)} MB in ${(performance.now() - start).toFixed(0)} ms`);
  const size = Object.keys(trained.vocab).length;
  assert.ok(size > 600 && size <= 1000, `vocab size ${size}`);
  assert.equal(trained.vocab['<|endoftext|>'], size - 1);

  const full = tempDir(t);
  writeTokenizerFiles(full, trained);
  assert.match(readFileSync(join(full, 'merges.txt'), 'utf8'), /^#version: 0\.2\nĠ \S+\n/);
  const legacy = tempDir(t);
  writeTokenizerFiles(legacy, trained);
  unlinkSync(join(legacy, 'tokenizer.json'));
  const viaJson = await loadTokenizer(full);
  const viaFiles = await loadTokenizer(legacy);
  assert.equal(viaJson.vocabSize, size);
  assert.equal(viaFiles.vocabSize, size);

  const samples = [...texts.slice(0, 200), 'Unseen words: café naïve 東京 🙂, numbers 12345 and\n\nnewlines.'];
  for (const text of samples) {
    const ids = viaJson.encode(text);
    assert.deepEqual(viaFiles.encode(text), ids);
    assert.equal(viaJson.decode(ids), text);
  }
  // Task text should compress well: each IOI sentence is mostly whole-word tokens.
  const ioi = taskText('ioi', { n: 1, seed: 99 })[0];
  assert.ok(viaJson.encode(ioi).length <= ioi.split(' ').length + 3, ioi);

  for (const token of taskTokens()) assert.notEqual(viaJson.tokenId(token), undefined, `${JSON.stringify(token)} is one token`);
  assert.equal(viaJson.tokenId('<|endoftext|>'), size - 1);

  for (const task of tasks) {
    const pairs = generatePairs(task, { n: 30, seed: 7, tokenizer: viaJson });
    assert.equal(pairs.length, 30);
    for (const p of pairs) assert.equal(viaJson.encode(p.clean).length, viaJson.encode(p.corrupted).length);
  }
  generatePairs('ioi', { n: 30, seed: 7, tokenizer: viaJson, corruption: 'three-names' });
});

test('writeTokenizerFiles checks the BOS token', (t) => {
  const trained = trainByteLevelBpe(['hello hello'], { vocabSize: 270 });
  throwsBadInput(() => writeTokenizerFiles(tempDir(t), trained, { bosToken: '<s>' }), '"<s>"');
  const dir = tempDir(t);
  writeTokenizerFiles(dir, trained, { bosToken: '<|endoftext|>' });
  const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  assert.deepEqual(json.added_tokens.map((a: { content: string; id: number; special: boolean }) => [a.content, a.id, a.special]), [
    ['<|endoftext|>', trained.vocab['<|endoftext|>'], true],
  ]);
  assert.equal(json.pre_tokenizer.type, 'ByteLevel');
  assert.equal(json.model.type, 'BPE');
});
