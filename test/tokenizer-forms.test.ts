/**
 * Character- and word-level vocabularies (test/fixtures/tokenizers): a byte-level GPT-2 vocabulary
 * with only some byte symbols (makemore / nanoGPT style), a BPE without merges and a WordLevel
 * model, both with a Split pre-tokenizer and a Fuse decoder. Ids are checked against the plain
 * lookup such a vocabulary means; text it cannot spell is refused by character, position and model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTokenizer } from '../main/engine/tokenizer.ts';
import { FIXTURES, throwsBadInput } from './helpers.ts';

const DIR = join(FIXTURES, 'tokenizers');
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'patchbench-tokforms-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a byte-level vocabulary of 27 symbols (makemore) loads and encodes the text it can spell', async () => {
  const tok = await loadTokenizer(join(DIR, 'gpt2-chars'));
  const stoi: Record<string, number> = readJson(join(DIR, 'gpt2-chars/vocab.json'));
  assert.equal(tok.vocabSize, 27);
  for (const name of ['emma', 'olivia.', 'xavier.zoe', '.']) {
    const ids = tok.encode(name);
    assert.deepEqual(ids, [...name].map((c) => stoi[c]), name);
    assert.equal(tok.decode(ids), name);
  }
  assert.equal(tok.tokenId('q'), stoi.q);
  assert.equal(tok.tokenId('qu'), undefined);
  assert.equal(tok.tokenId(' q'), undefined, 'no space symbol, so not a token');
  assert.equal(tok.tokenString(0), '.');
});

test('text a vocabulary cannot spell is refused, naming the character, its position and the model', async () => {
  const chars = await loadTokenizer(join(DIR, 'gpt2-chars'));
  throwsBadInput(() => chars.encode('emma Rose', 'prompt'), 'prompt "emma Rose"', 'the character " " (U+0020) at position 5', 'model gpt2-chars');
  throwsBadInput(() => chars.encode('zoë'), 'the character "ë" (U+00EB) at position 3', 'gpt2-chars');
  throwsBadInput(() => chars.encode('ab🙂'), 'the character "🙂" (U+1F642) at position 3');
  assert.equal(chars.tokenId('E'), undefined);

  const shakespeare = await loadTokenizer(join(DIR, 'chars-split'));
  throwsBadInput(() => shakespeare.encode('First: naïve', 'prompt'), 'the character "ï" (U+00EF) at position 10', 'model chars-split');
  throwsBadInput(() => shakespeare.encode('tab\there'), 'the character "\\t" (U+0009) at position 4');

  const words = await loadTokenizer(join(DIR, 'words-split'));
  throwsBadInput(() => words.encode('When Bob went', 'clean prompt'), 'clean prompt "When Bob went"', 'the word "Bob" at position 6', 'model words-split');
});

test('a BPE without merges, Split into characters and Fused back, is a character-level tokenizer', async () => {
  const tok = await loadTokenizer(join(DIR, 'chars-split'));
  const vocab: Record<string, number> = readJson(join(DIR, 'chars-split/tokenizer.json')).model.vocab;
  assert.equal(tok.vocabSize, 65);
  for (const text of ['First Citizen:\nBefore we proceed any further, hear me speak.', "ROMEO:\nIs the day so young?", '  ', '3 $&!']) {
    const ids = tok.encode(text);
    assert.deepEqual(ids, [...text].map((c) => vocab[c]), JSON.stringify(text));
    assert.equal(tok.decode(ids), text);
  }
  assert.equal(tok.tokenString(vocab['\n']), '\n');
  assert.equal(tok.tokenId(' '), vocab[' ']);
});

test('a WordLevel model with a Split pre-tokenizer maps each word and separator to its id', async (t) => {
  const tok = await loadTokenizer(join(DIR, 'words-split'));
  const vocab: Record<string, number> = readJson(join(DIR, 'words-split/tokenizer.json')).model.vocab;
  const text = 'When John and Mary went to the store, John gave a drink to';
  const ids = tok.encode(text);
  assert.deepEqual(ids, text.match(/[A-Za-z]+|[^A-Za-z]/g)!.map((w) => vocab[w]));
  assert.equal(tok.decode(ids), text);
  assert.equal(tok.tokenId('Mary'), vocab.Mary);
  assert.equal(tok.tokenId(' Mary'), undefined, 'a space and a word: two tokens');
  assert.equal(tok.tokenString(vocab.store), 'store');
  // The special token in text is the token, as in Hugging Face.
  assert.deepEqual(tok.encode('Mary<eos>'), [vocab.Mary, 0]);

  // With an unk token, unknown words become it (as transformers does) instead of being refused.
  const withUnk = tempDir(t);
  const json = readJson(join(DIR, 'words-split/tokenizer.json'));
  json.model.vocab['<unk>'] = 27;
  json.model.unk_token = '<unk>';
  writeFileSync(join(withUnk, 'tokenizer.json'), JSON.stringify(json));
  const unk = await loadTokenizer(withUnk);
  assert.deepEqual(unk.encode('When Bob went'), [vocab.When, vocab[' '], 27, vocab[' '], vocab.went]);
});

test('tokenizer.json forms that are not supported are refused by name', async (t) => {
  const base = readJson(join(DIR, 'words-split/tokenizer.json'));
  const write = (mutate: (j: any) => void) => {
    const dir = tempDir(t);
    const j = structuredClone(base);
    mutate(j);
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(j));
    return dir;
  };
  const reject = (dir: string, ...fragments: string[]) =>
    assert.rejects(loadTokenizer(dir), (e: Error) => fragments.every((f) => e.message.includes(f)) || assert.fail(e.message));
  await reject(write((j) => (j.model.type = 'Unigram')), 'model type "Unigram" is not supported', 'BPE, WordLevel');
  await reject(write((j) => (j.pre_tokenizer.behavior = 'MergedWithPrevious')), 'pre_tokenizer is a Split with behavior "MergedWithPrevious"');
  await reject(write((j) => (j.model.unk_token = '[UNK]')), 'model.unk_token "[UNK]" is not in the vocab');
  const copied = tempDir(t);
  cpSync(join(DIR, 'chars-split'), copied, { recursive: true });
  assert.equal((await loadTokenizer(copied)).vocabSize, 65);
});
