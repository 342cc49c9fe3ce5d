/**
 * Which BOS token a model gets (main/engine/tokenizer/bos.ts): the tokenizer's bos_token where
 * special_tokens_map.json or tokenizer_config.json names one, else config.json's bos_token_id;
 * none where a tokenizer sets it to null (Qwen2) or nothing names one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTokenizer } from '../main/engine/tokenizer.ts';
import { resolveBos } from '../main/engine/tokenizer/bos.ts';
import { PatchbenchError } from '../main/engine/errors.ts';
import { FIXTURES } from './helpers.ts';

/** A folder with the word-level fixture tokenizer (ids: "<eos>" 0, "When" 5, "John" 7) and these files. */
function folder(t: { after(fn: () => void): void }, files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'patchbench-bos-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(FIXTURES, 'tokenizers/words-split'), dir, { recursive: true });
  for (const [name, json] of Object.entries(files)) writeFileSync(join(dir, name), JSON.stringify(json));
  return dir;
}

async function bosOf(dir: string) {
  return resolveBos(dir, await loadTokenizer(dir));
}

test('the tokenizer files name the BOS token; special_tokens_map.json wins over tokenizer_config.json', async (t) => {
  const config = { model_type: 'llama', bos_token_id: 7 };
  assert.deepEqual(await bosOf(folder(t, { 'config.json': config, 'tokenizer_config.json': { bos_token: '<eos>' } })), {
    id: 0,
    token: '<eos>',
    from: 'tokenizer_config.json',
  });
  // An AddedToken object, as Llama 2's tokenizer_config.json writes it.
  const both = folder(t, {
    'config.json': config,
    'tokenizer_config.json': { bos_token: { content: 'John', lstrip: false, __type: 'AddedToken' } },
    'special_tokens_map.json': { bos_token: 'When' },
  });
  assert.deepEqual(await bosOf(both), { id: 5, token: 'When', from: 'special_tokens_map.json' });
});

test('without a named token, config.json bos_token_id; GPT-2 configs default to 50256 as in transformers', async (t) => {
  assert.deepEqual(await bosOf(folder(t, { 'config.json': { model_type: 'llama', bos_token_id: 7 } })), { id: 7, token: 'John', from: 'config.json' });
  const gpt2 = await loadTokenizer(join(FIXTURES, 'gpt2-tiny-random'));
  assert.deepEqual(resolveBos(join(FIXTURES, 'gpt2-tiny-random'), gpt2), { id: 50256, token: '<|endoftext|>', from: 'config.json' });
  // the default does not reach into a 27-token vocabulary: no BOS
  assert.equal(await bosOf(folder(t, { 'config.json': { model_type: 'gpt2' } })), null);
});

test('bos_token null (Qwen2) means no BOS whatever config.json says; so does a model where nothing names one', async (t) => {
  const qwen = folder(t, { 'config.json': { model_type: 'qwen2', bos_token_id: 7 }, 'tokenizer_config.json': { bos_token: null, eos_token: '<eos>' } });
  assert.equal(await bosOf(qwen), null);
  assert.equal(await bosOf(folder(t, { 'config.json': { model_type: 'llama' } })), null);
  assert.equal(await bosOf(folder(t, { 'config.json': { model_type: 'llama', bos_token_id: null }, 'special_tokens_map.json': { eos_token: '<eos>' } })), null);
});

test('a BOS token the tokenizer does not have is an error naming the file', async (t) => {
  const bad = async (files: Record<string, unknown>, ...fragments: string[]) => {
    const dir = folder(t, files);
    await assert.rejects(bosOf(dir), (e: unknown) => {
      assert.ok(e instanceof PatchbenchError && e.code === 'bad-tokenizer', String(e));
      for (const f of fragments) assert.ok(e.message.includes(f), `${e.message} lacks ${f}`);
      return true;
    });
  };
  await bad({ 'tokenizer_config.json': { bos_token: '<s>' } }, 'tokenizer_config.json', 'bos_token "<s>" is not a token');
  await bad({ 'special_tokens_map.json': { bos_token: 3 } }, 'special_tokens_map.json', '"bos_token" must be a string');
  await bad({ 'config.json': { model_type: 'llama', bos_token_id: 99 } }, 'config.json', 'bos_token_id 99');
});
