/**
 * SentencePiece-style BPE (Llama 2, TinyLlama, Mistral): stories260K's `tokenizer.model` read
 * directly, and the two tokenizer.json forms these models ship (Prepend + Replace normalisers;
 * a Metaspace pre-tokenizer), against the ids SentencePiece itself gives
 * (test/fixtures/tokenizers/stories260K-ids.json, made with python3-sentencepiece).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTokenizer } from '../main/engine/tokenizer.ts';
import { resolveBos } from '../main/engine/tokenizer/bos.ts';
import { PatchbenchError } from '../main/engine/errors.ts';
import { FIXTURES, readJson } from './helpers.ts';

const STORIES = join(FIXTURES, 'stories260K');
const IDS: { cases: { text: string; ids: number[]; pieces: string[]; decoded: string }[]; pieces: Record<string, string> } = readJson(
  join(FIXTURES, 'tokenizers/stories260K-ids.json'),
);

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'patchbench-spm-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

type Ids = typeof IDS;

test('tokenizer.model alone: ids and decoded text equal SentencePiece’s on every case', async () => {
  const tok = await loadTokenizer(STORIES);
  assert.equal(tok.vocabSize, 512);
  assert.ok(IDS.cases.length >= 20);
  for (const c of IDS.cases) {
    assert.deepEqual(tok.encode(c.text), c.ids, JSON.stringify(c.text));
    assert.equal(tok.decode(c.ids), c.decoded, `decode of ${JSON.stringify(c.text)}`);
  }
  // byte fallback really was exercised: 東京 and the emoji are spelled in <0xNN> pieces
  assert.ok(IDS.cases.some((c) => c.pieces.includes('<0xE6>')));
});

/**
 * Two small models trained with other flags (sentencepiece_ids.py says how): Llama 2's own
 * (extra spaces kept, whitespace-only pieces) with a user-defined symbol, and one without the
 * dummy prefix or byte fallback, whose unknown characters become <unk>.
 */
for (const name of ['spm-llama2-flags', 'spm-noprefix-unk']) {
  test(`tokenizer.model trained with other flags (${name}): ids and decoded text equal SentencePiece’s`, async (t) => {
    const ids: Ids = readJson(join(FIXTURES, `tokenizers/${name}-ids.json`));
    const dir = tempDir(t);
    copyFileSync(join(FIXTURES, `tokenizers/${name}.model`), join(dir, 'tokenizer.model'));
    const tok = await loadTokenizer(dir);
    const unk = 0;
    for (const c of ids.cases) {
      assert.deepEqual(tok.encode(c.text), c.ids, JSON.stringify(c.text));
      // SentencePiece decodes <unk> as " ⁇ ", Hugging Face as the token itself
      if (!c.ids.includes(unk)) assert.equal(tok.decode(c.ids), c.decoded, `decode of ${JSON.stringify(c.text)}`);
    }
  });
}

test('the flags were really exercised: kept spaces, a user-defined symbol, <unk>', () => {
  const flags: Ids = readJson(join(FIXTURES, 'tokenizers/spm-llama2-flags-ids.json'));
  const unk: Ids = readJson(join(FIXTURES, 'tokenizers/spm-noprefix-unk-ids.json'));
  const piecesOf = (ids: Ids, text: string) => ids.cases.find((c) => c.text === text)!.pieces;
  assert.ok(piecesOf(flags, '   three  <tool>  spaces   ').includes('<tool>'));
  assert.ok(piecesOf(flags, '  leading and trailing  ').filter((p) => /^▁+$/.test(p)).length >= 2, 'runs of spaces are kept');
  // a run of unknown characters is one <unk> (id 0), as SentencePiece fuses them
  assert.deepEqual(unk.cases.find((c) => c.text === '東京 and русский and Ελληνικά')!.ids.filter((id) => id === 0).length, 3);
  assert.ok(!piecesOf(unk, 'Hello world')[0].startsWith('▁'), 'no dummy prefix');
});

test('tokens read as they do inside a text; answers are their continuation tokens', async () => {
  const tok = await loadTokenizer(STORIES);
  const lily = 317;
  assert.equal(IDS.pieces[String(lily)], '▁Lily');
  assert.equal(tok.tokenString(lily), ' Lily');
  assert.equal(tok.tokenString(1), '<s>');
  assert.equal(tok.tokenString(426), '.');
  // " Lily" after a prompt is the one token "▁Lily", though alone it would be "▁" + "▁Lily"'s text
  assert.equal(tok.tokenId(' Lily'), lily);
  assert.deepEqual(tok.encodeContinuation(' Lily and'), [lily, 269]);
  assert.equal(tok.tokenId(' Lily and'), undefined);
  assert.equal(tok.tokenId('.'), 426);
  // SentencePiece never reads control tokens from text
  assert.equal(tok.tokenId('<s>'), undefined);
});

test('the BOS token of stories260K is <s> (id 1), named by special_tokens_map.json', async () => {
  const tok = await loadTokenizer(STORIES);
  assert.deepEqual(resolveBos(STORIES, tok), { id: 1, token: '<s>', from: 'special_tokens_map.json' });
});

/** Texts on which Hugging Face's converted tokenizer.json and SentencePiece agree by design. */
function hfComparable(text: string): boolean {
  // HF's Llama converter ignores remove_extra_whitespaces (Llama 2's own model has it off), and
  // reads added tokens such as "<s>" from text, which SentencePiece never does.
  return text === text.replace(/^ +| +$/g, '').replace(/ {2,}/g, ' ') && !text.includes('<s>');
}

for (const form of ['llama2-legacy', 'llama2-metaspace']) {
  test(`tokenizer.json in the ${form} form gives SentencePiece's ids; its template adds no <s>`, async () => {
    const tok = await loadTokenizer(join(FIXTURES, 'tokenizers', form));
    const cases = IDS.cases.filter((c) => hfComparable(c.text));
    assert.ok(cases.length >= 15, `${cases.length} comparable cases`);
    for (const c of cases) {
      assert.deepEqual(tok.encode(c.text), c.ids, JSON.stringify(c.text));
      assert.equal(tok.decode(c.ids), c.decoded);
    }
    assert.equal(tok.tokenId(' Lily'), 317);
    assert.equal(tok.tokenString(317), ' Lily');
    // As in transformers, the special token's text in a prompt is the token.
    assert.deepEqual(tok.encode('<s>'), [1]);
  });
}

test('a tokenizer.json of the Llama 2 form next to tokenizer.model is preferred', async (t) => {
  const dir = tempDir(t);
  copyFileSync(join(FIXTURES, 'tokenizers/llama2-legacy/tokenizer.json'), join(dir, 'tokenizer.json'));
  writeFileSync(join(dir, 'tokenizer.model'), 'not protobuf');
  assert.deepEqual((await loadTokenizer(dir)).encode('Hello world'), [346, 306, 414, 263, 304, 341]);
});

test('a tokenizer.model that is not a SentencePiece BPE model is refused, naming the file', async (t) => {
  const reject = async (bytes: Uint8Array, ...fragments: string[]) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'tokenizer.model'), bytes);
    await assert.rejects(loadTokenizer(dir), (e: unknown) => {
      assert.ok(e instanceof PatchbenchError && e.code === 'bad-tokenizer', String(e));
      for (const f of [join(dir, 'tokenizer.model'), ...fragments]) assert.ok(e.message.includes(f), `${e.message} lacks ${f}`);
      return true;
    });
  };
  await reject(new TextEncoder().encode('{"not": "protobuf"}'), 'not a SentencePiece model');
  await reject(readFileSync(join(STORIES, 'tokenizer.model')).subarray(0, 100), 'not a SentencePiece model');
  // pieces [{piece: "a"}], trainer_spec {model_type: UNIGRAM}, written out field by field
  await reject(Uint8Array.from([0x0a, 0x03, 0x0a, 0x01, 0x61, 0x12, 0x02, 0x18, 0x01]), 'model type UNIGRAM is not supported', 'BPE');
});
