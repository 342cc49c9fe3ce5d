import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { encode as gpt3Encode, decode as gpt3Decode } from 'gpt-3-encoder';
import { BYTE_TO_UNICODE, byteLevelTokenizerJson, loadTokenizer } from '../main/engine/tokenizer.ts';
import { PatchbenchError } from '../main/engine/errors.ts';
import { TINY } from './helpers.ts';

const BOS = 50256;

const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'patchbench-tok-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function rejectsWith(p: Promise<unknown>, code: string, ...fragments: string[]) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof PatchbenchError, `expected a PatchbenchError, got ${e}`);
    assert.equal(e.code, code);
    for (const f of fragments) assert.ok(e.message.includes(f), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

function throwsWith(fn: () => unknown, code: string, ...fragments: string[]) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof PatchbenchError, `expected a PatchbenchError, got ${e}`);
    assert.equal(e.code, code);
    for (const f of fragments) assert.ok(e.message.includes(f), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

// Strings chosen to exercise every branch of GPT-2's split pattern and multi-byte BPE.
const VARIED = [
  'Hello world',
  'When John and Mary went to the store, John gave a drink to',
  "I'm sure they'll say it's what we've done, isn't it? You'd think so; we're OK.",
  "DON'T SHOUT 'quoted' words",
  'The year 2024 had 365 days, π≈3.14159, and 1,000,000 people.',
  'multiple   spaces    here  ',
  '  leading and trailing  ',
  'line one\nline two\n\nline four\r\n\ttabbed',
  'café naïve 東京 Zürich Ελληνικά русский',
  'emoji 🙂👍🏽 and combining e\u0301 letters',
  'punctuation!!! ??? ... --- (brackets) [x] {y} <z> @#$%^&*',
  'code: const x = a->b; if (x == 0) { return; }',
  'https://example.com/path?query=1&b=2#frag',
  '\u00a0non-breaking\u3000ideographic space',
  ' ',
  '',
  '\n\n\n',
  "'s 's's'",
];

test('ids of the fixture IOI prompts equal the reference GPT-2 ids', async () => {
  const tok = await loadTokenizer(TINY);
  const spec = readJson(join(TINY, 'expected/ioi-denoising.spec.json'));
  const expected = readJson(join(TINY, 'expected/ioi-denoising.expected.json'));
  assert.equal(tok.vocabSize, 50257);
  spec.pairs.forEach((pair: { clean: string; corrupted: string; answer: string; wrong: string }, i: number) => {
    assert.deepEqual([BOS, ...tok.encode(pair.clean)], expected.tokens.clean[i]);
    assert.deepEqual([BOS, ...tok.encode(pair.corrupted)], expected.tokens.corrupted[i]);
    assert.equal(tok.tokenId(pair.answer), expected.tokens.answer[i]);
    assert.equal(tok.tokenId(pair.wrong), expected.tokens.wrong[i]);
    assert.equal(tok.tokenString(expected.tokens.answer[i]), pair.answer);
  });
});

test('encode and decode agree with the gpt-3-encoder package on varied text', async () => {
  const tok = await loadTokenizer(TINY);
  for (const text of VARIED) {
    const ids = tok.encode(text);
    assert.deepEqual(ids, gpt3Encode(text), `ids of ${JSON.stringify(text)}`);
    assert.equal(tok.decode(ids), text, `round trip of ${JSON.stringify(text)}`);
    assert.equal(tok.decode(ids), gpt3Decode(ids));
  }
});

test('tokenString keeps the leading space; tokenId needs exactly one token', async () => {
  const tok = await loadTokenizer(TINY);
  assert.equal(tok.tokenString(5335), ' Mary');
  assert.equal(tok.tokenString(BOS), '<|endoftext|>');
  assert.equal(tok.tokenId(' Mary'), 5335);
  assert.equal(tok.tokenId('Mary'), gpt3Encode('Mary')[0]);
  assert.equal(tok.tokenId(' Mary John'), undefined);
  assert.equal(tok.tokenId(''), undefined);
  // As in Hugging Face's GPT-2 tokenizer, the special token's text is recognised as the token.
  assert.equal(tok.tokenId('<|endoftext|>'), BOS);
  assert.deepEqual(tok.decode([]), '');
});

test('decode and tokenString reject ids outside the vocabulary', async () => {
  const tok = await loadTokenizer(TINY);
  throwsWith(() => tok.decode([50257]), 'bad-input', '50257');
  throwsWith(() => tok.tokenString(-1), 'bad-input', '-1');
  throwsWith(() => tok.decode([1.5]), 'bad-input', '1.5');
});

test('tokenizer.json gives the same ids as vocab.json + merges.txt, with either merge format', async (t) => {
  const vocab = readJson(join(TINY, 'vocab.json'));
  const merges = readFileSync(join(TINY, 'merges.txt'), 'utf8')
    .split('\n')
    .slice(1)
    .filter((l) => l !== '')
    .map((l) => l.split(' ') as [string, string]);
  const fromFiles = await loadTokenizer(TINY);

  const withStrings = tempDir(t);
  writeFileSync(join(withStrings, 'tokenizer.json'), JSON.stringify(byteLevelTokenizerJson(vocab, merges)));
  // tokenizer.json is preferred, so a broken vocab.json beside it is never read.
  writeFileSync(join(withStrings, 'vocab.json'), '{ broken');
  const withPairs = tempDir(t);
  const json = byteLevelTokenizerJson(vocab, merges) as { model: { merges: unknown } };
  json.model.merges = merges;
  writeFileSync(join(withPairs, 'tokenizer.json'), JSON.stringify(json));

  for (const dir of [withPairs, withStrings]) {
    const tok = await loadTokenizer(dir);
    assert.equal(tok.vocabSize, 50257);
    for (const text of VARIED) assert.deepEqual(tok.encode(text), fromFiles.encode(text), JSON.stringify(text));
  }
});

/** A minimal valid byte-level BPE: the 256 byte symbols, one merge "Ġ"+"a", and the EOS. */
function tinyVocab(): Record<string, number> {
  const vocab: Record<string, number> = {};
  BYTE_TO_UNICODE.forEach((c, i) => (vocab[c] = i));
  vocab['Ġa'] = 256;
  vocab['<|endoftext|>'] = 257;
  return vocab;
}

test('a small hand-made vocabulary loads and uses its merge', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'vocab.json'), JSON.stringify(tinyVocab()));
  writeFileSync(join(dir, 'merges.txt'), '#version: 0.2\nĠ a\n');
  const tok = await loadTokenizer(dir);
  assert.equal(tok.vocabSize, 258);
  // tinyVocab gives each byte symbol its byte value as id; " a" is the one merge (256).
  assert.deepEqual(tok.encode('b aa'), [0x62, 256, 0x61]);
  assert.equal(tok.decode(tok.encode('b aa')), 'b aa');
});

test('bad tokenizer folders and files are reported with the file and the problem', async (t) => {
  await rejectsWith(loadTokenizer('/nonexistent/patchbench-model'), 'bad-tokenizer', '/nonexistent/patchbench-model', 'not found');

  const empty = tempDir(t);
  await rejectsWith(loadTokenizer(empty), 'bad-tokenizer', empty, 'no tokenizer files');

  const onlyVocab = tempDir(t);
  writeFileSync(join(onlyVocab, 'vocab.json'), JSON.stringify(tinyVocab()));
  await rejectsWith(loadTokenizer(onlyVocab), 'bad-tokenizer', join(onlyVocab, 'merges.txt'), 'missing');

  const badVocab = tempDir(t);
  writeFileSync(join(badVocab, 'vocab.json'), '{"a": 1,');
  writeFileSync(join(badVocab, 'merges.txt'), '#version: 0.2\n');
  await rejectsWith(loadTokenizer(badVocab), 'bad-tokenizer', join(badVocab, 'vocab.json'), 'not valid JSON');

  const vocabNotMap = tempDir(t);
  writeFileSync(join(vocabNotMap, 'vocab.json'), '{"a": "one"}');
  writeFileSync(join(vocabNotMap, 'merges.txt'), '#version: 0.2\n');
  await rejectsWith(loadTokenizer(vocabNotMap), 'bad-tokenizer', join(vocabNotMap, 'vocab.json'), '"a"', 'not a non-negative integer');

  const badTokJson = tempDir(t);
  writeFileSync(join(badTokJson, 'tokenizer.json'), '{"model": {"type": "BPE", ');
  await rejectsWith(loadTokenizer(badTokJson), 'bad-tokenizer', join(badTokJson, 'tokenizer.json'), 'not valid JSON');

  const noModel = tempDir(t);
  writeFileSync(join(noModel, 'tokenizer.json'), '{"version": "1.0"}');
  await rejectsWith(loadTokenizer(noModel), 'bad-tokenizer', join(noModel, 'tokenizer.json'), '"model"');

  const badPair = tempDir(t);
  const json = byteLevelTokenizerJson(tinyVocab(), []) as { model: { merges: unknown } };
  json.model.merges = ['Ġ a b'];
  writeFileSync(join(badPair, 'tokenizer.json'), JSON.stringify(json));
  await rejectsWith(loadTokenizer(badPair), 'bad-tokenizer', 'model.merges[0]', 'not a pair');

  const threeParts = tempDir(t);
  writeFileSync(join(threeParts, 'vocab.json'), JSON.stringify(tinyVocab()));
  writeFileSync(join(threeParts, 'merges.txt'), '#version: 0.2\nĠ a\nĠ a b\n');
  await rejectsWith(loadTokenizer(threeParts), 'bad-tokenizer', join(threeParts, 'merges.txt'), 'line 3', 'not two symbols');

  const blankLine = tempDir(t);
  writeFileSync(join(blankLine, 'vocab.json'), JSON.stringify(tinyVocab()));
  writeFileSync(join(blankLine, 'merges.txt'), '#version: 0.2\n\nĠ a\n');
  await rejectsWith(loadTokenizer(blankLine), 'bad-tokenizer', join(blankLine, 'merges.txt'), 'line 2', 'empty');

  const unknownSymbol = tempDir(t);
  writeFileSync(join(unknownSymbol, 'vocab.json'), JSON.stringify(tinyVocab()));
  writeFileSync(join(unknownSymbol, 'merges.txt'), '#version: 0.2\nĠ b\n');
  await rejectsWith(loadTokenizer(unknownSymbol), 'bad-tokenizer', join(unknownSymbol, 'merges.txt'), 'line 2', '"Ġb" is not in the vocab');

});

test('a byte-level vocabulary that lacks byte symbols loads; only text it cannot spell is refused', async (t) => {
  const missingBytes = tempDir(t);
  writeFileSync(join(missingBytes, 'vocab.json'), JSON.stringify({ a: 0, b: 1, '<|endoftext|>': 2 }));
  writeFileSync(join(missingBytes, 'merges.txt'), '#version: 0.2\n');
  const tok = await loadTokenizer(missingBytes);
  assert.deepEqual(tok.encode('abba'), [0, 1, 1, 0]);
  throwsWith(() => tok.encode('abc', 'prompt'), 'bad-input', 'prompt "abc"', 'the character "c" (U+0063) at position 3', `model ${basename(missingBytes)}`);
});
