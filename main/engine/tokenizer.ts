/**
 * Tokenizers for GPT-2-family models. A model folder holds either `tokenizer.json` (Hugging Face
 * format, preferred) or GPT-2's original `vocab.json` + `merges.txt`. The second form is turned
 * into the equivalent tokenizer.json object in memory, so both go through one code path:
 * `@huggingface/tokenizers`, whose ByteLevel pre-tokenizer and BPE give GPT-2's ids exactly
 * (checked in test/tokenizer.test.ts against the fixtures and the `gpt-3-encoder` package).
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { badInput, badTokenizer } from './errors.ts';

export interface Tokenizer {
  readonly vocabSize: number;
  /** Token ids of `text`; no BOS is added here, the caller adds it. */
  encode(text: string): number[];
  decode(ids: number[]): string;
  /** The decoded text of one token, e.g. " Mary" (leading space kept). */
  tokenString(id: number): string;
  /** The id if `text` encodes to exactly one token, else undefined. */
  tokenId(text: string): number | undefined;
}

/** GPT-2's pre-tokenisation pattern (the one in OpenAI's encoder.py and HF's ByteLevel). */
export const GPT2_SPLIT_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/**
 * GPT-2's bytes_to_unicode: every byte gets a printable character, so BPE symbols are strings
 * without whitespace or control characters (a space becomes "Ġ").
 */
export const BYTE_TO_UNICODE: readonly string[] = (() => {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const table: string[] = new Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    table[b] = String.fromCodePoint(printable.includes(b) ? b : next++);
  }
  return table;
})();

export const GPT2_EOS = '<|endoftext|>';

/**
 * The tokenizer.json object of GPT-2 on the Hugging Face hub, for this vocab and merges. Merges
 * are "a b" strings, which every version of HF tokenizers reads (byte-level symbols have no spaces).
 */
export function byteLevelTokenizerJson(
  vocab: Record<string, number>,
  merges: [string, string][],
  specialTokens: string[] = [GPT2_EOS],
): Record<string, unknown> {
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specialTokens
      .filter((t) => Object.hasOwn(vocab, t))
      .map((t) => ({
        id: vocab[t],
        content: t,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: true,
        special: true,
      })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  const info = await stat(dir).catch(() => undefined);
  if (!info) throw badTokenizer(`${dir}: tokenizer folder not found`);
  if (!info.isDirectory()) throw badTokenizer(`${dir}: not a folder`);

  const tokenizerJsonPath = join(dir, 'tokenizer.json');
  const tokenizerJsonText = await readOptional(tokenizerJsonPath);
  if (tokenizerJsonText !== undefined) {
    const json = parseJson(tokenizerJsonPath, tokenizerJsonText);
    const maxId = checkTokenizerJson(tokenizerJsonPath, json);
    return wrap(tokenizerJsonPath, json, maxId);
  }

  const vocabPath = join(dir, 'vocab.json');
  const mergesPath = join(dir, 'merges.txt');
  const [vocabText, mergesText] = await Promise.all([readOptional(vocabPath), readOptional(mergesPath)]);
  if (vocabText === undefined && mergesText === undefined) {
    throw badTokenizer(`${dir}: no tokenizer files (expected tokenizer.json, or vocab.json and merges.txt)`);
  }
  if (vocabText === undefined) throw badTokenizer(`${vocabPath}: missing (merges.txt needs it)`);
  if (mergesText === undefined) throw badTokenizer(`${mergesPath}: missing (vocab.json needs it)`);
  const vocab = parseJson(vocabPath, vocabText);
  const { tokens, maxId } = checkVocab(vocabPath, vocab);
  const merges = parseMergesTxt(mergesPath, mergesText, tokens);
  const json = byteLevelTokenizerJson(vocab, merges);
  // In memory the library takes [a, b] pairs as they are, sparing it 50k string splits.
  (json.model as { merges: unknown }).merges = merges;
  return wrap(`${vocabPath} + merges.txt`, json, maxId);
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw badTokenizer(`${path}: cannot be read (${(e as Error).message})`);
  }
}

function parseJson(path: string, text: string): any {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw badTokenizer(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Checks every id is a non-negative integer; returns the token set and the largest id. */
function checkVocab(path: string, vocab: unknown): { tokens: Set<string>; maxId: number } {
  if (!isPlainObject(vocab)) throw badTokenizer(`${path}: vocab must be an object mapping token strings to ids`);
  const tokens = new Set<string>();
  let maxId = -1;
  for (const token in vocab) {
    const id = vocab[token];
    if (!Number.isInteger(id) || (id as number) < 0) {
      throw badTokenizer(`${path}: token ${JSON.stringify(token)} has id ${JSON.stringify(id)}, not a non-negative integer`);
    }
    tokens.add(token);
    maxId = Math.max(maxId, id as number);
  }
  if (tokens.size === 0) throw badTokenizer(`${path}: vocab is empty`);
  return { tokens, maxId };
}

/**
 * Follows HF's reader: a first line starting with "#version" is a header; every other non-empty
 * line is exactly two symbols, each (and their concatenation) in the vocab, as HF's BPE builder
 * demands, since a merge producing an unknown token would silently drop text.
 */
function parseMergesTxt(path: string, text: string, tokens: Set<string>): [string, string][] {
  const lines = text.split('\n');
  const merges: [string, string][] = [];
  const lineOf: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
    if (i === 0 && line.startsWith('#version')) continue;
    if (line === '') {
      if (lines.slice(i + 1).every((l) => l.trim() === '')) break;
      throw badTokenizer(`${path}: line ${i + 1} is empty`);
    }
    const parts = line.split(' ');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      throw badTokenizer(`${path}: line ${i + 1} ${JSON.stringify(line)} is not two symbols separated by one space`);
    }
    merges.push(parts as [string, string]);
    lineOf.push(i + 1);
  }
  checkMerges(path, merges, tokens, (k) => `line ${lineOf[k]}`);
  return merges;
}

function checkMerges(path: string, merges: [string, string][], tokens: Set<string>, where: (k: number) => string): void {
  merges.forEach(([a, b], k) => {
    for (const t of [a, b, a + b]) {
      if (!tokens.has(t)) {
        throw badTokenizer(`${path}: ${where(k)} merges ${JSON.stringify(a)} + ${JSON.stringify(b)} but ${JSON.stringify(t)} is not in the vocab`);
      }
    }
  });
}

/**
 * Checks what the library would otherwise accept and then mis-tokenise or crash on later.
 * Returns the largest token id, added tokens included.
 */
function checkTokenizerJson(path: string, json: any): number {
  if (!isPlainObject(json)) throw badTokenizer(`${path}: must be a JSON object`);
  const model = json.model;
  if (!isPlainObject(model)) throw badTokenizer(`${path}: "model" is missing or not an object`);
  if (model.type !== undefined && model.type !== 'BPE') {
    throw badTokenizer(`${path}: model type ${JSON.stringify(model.type)} is not supported (GPT-2-family models use BPE)`);
  }
  const { tokens, maxId } = checkVocab(`${path} (model.vocab)`, model.vocab);
  if (!Array.isArray(model.merges)) throw badTokenizer(`${path}: "model.merges" is missing or not a list`);
  const pairs = model.merges.map((m: unknown, i: number) => {
    let pair: unknown[] | undefined;
    if (typeof m === 'string') pair = m.split(' ');
    else if (Array.isArray(m)) pair = m;
    const ok = pair?.length === 2 && pair.every((s) => typeof s === 'string' && s !== '');
    if (!ok) throw badTokenizer(`${path}: model.merges[${i}] ${JSON.stringify(m)} is not a pair of symbols ("a b" or ["a", "b"])`);
    return pair as [string, string];
  });
  checkMerges(path, pairs, tokens, (k) => `model.merges[${k}]`);
  const added = json.added_tokens ?? [];
  if (!Array.isArray(added)) throw badTokenizer(`${path}: "added_tokens" is not a list`);
  added.forEach((t: any, i: number) => {
    if (!isPlainObject(t) || typeof t.content !== 'string' || !Number.isInteger(t.id) || (t.id as number) < 0) {
      throw badTokenizer(`${path}: added_tokens[${i}] needs a string "content" and a non-negative integer "id"`);
    }
  });
  for (const key of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) {
    if (json[key] !== undefined && json[key] !== null && !isPlainObject(json[key])) {
      throw badTokenizer(`${path}: "${key}" must be an object or null`);
    }
  }
  return Math.max(maxId, ...added.map((t: { id: number }) => t.id));
}

function wrap(source: string, json: any, maxId: number): Tokenizer {
  // The library requires these keys to exist (null is fine) and iterates added_tokens.
  const full = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...json };
  full.added_tokens ??= [];
  let hf: HfTokenizer;
  try {
    hf = new HfTokenizer(full, {});
  } catch (e) {
    throw badTokenizer(`${source}: ${(e as Error).message}`);
  }
  if (full.pre_tokenizer?.type === 'ByteLevel') {
    // Byte-level BPE can spell any text only if every byte symbol is a token; a missing one
    // would make the library drop that character without a word.
    const missing = BYTE_TO_UNICODE.filter((c) => hf.token_to_id(c) === undefined);
    if (missing.length > 0) {
      throw badTokenizer(`${source}: byte-level vocab lacks ${missing.length} of the 256 byte symbols (e.g. ${JSON.stringify(missing[0])})`);
    }
  }

  const vocabSize = maxId + 1;

  const checkIds = (ids: number[]) => {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize || hf.id_to_token(id) === undefined) {
        throw badInput(`token id ${id} is not in the tokenizer's vocabulary (ids 0..${vocabSize - 1})`);
      }
    }
  };
  const decode = (ids: number[]): string => {
    checkIds(ids);
    // The library rejects an empty list; and its default "clean up" would turn " ." into ".",
    // breaking decode(encode(text)) === text.
    return ids.length === 0 ? '' : hf.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  };
  const encode = (text: string): number[] => {
    if (typeof text !== 'string') throw badInput(`text to tokenize must be a string, got ${typeof text}`);
    return hf.encode(text, { add_special_tokens: false }).ids;
  };
  return {
    vocabSize,
    encode,
    decode,
    tokenString: (id) => decode([id]),
    tokenId(text) {
      const ids = encode(text);
      return ids.length === 1 ? ids[0] : undefined;
    },
  };
}
