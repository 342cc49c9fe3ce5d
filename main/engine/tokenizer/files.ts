/**
 * The tokenizer files a model folder may hold, read and checked into one Hugging Face
 * `tokenizer.json` object: `tokenizer.json` itself (preferred), GPT-2's original `vocab.json` +
 * `merges.txt`, or SentencePiece's `tokenizer.model` (converted, see sentencepiece.ts). Checks here
 * catch what `@huggingface/tokenizers` would accept and then mis-tokenise or crash on later.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { badTokenizer } from '../errors.ts';
import { jsonProblem } from '../json.ts';
import { sentencePieceTokenizerJson, type TextPreparation } from './sentencepiece.ts';

export const GPT2_EOS = '<|endoftext|>';

/** What loadTokenizer builds a tokenizer from. */
export interface TokenizerSource {
  /** the file(s) read, for messages */
  path: string;
  /** a tokenizer.json object */
  json: TokenizerJson;
  /** largest token id, added tokens included */
  maxId: number;
  /** a step SentencePiece applies to the text before normalising (see sentencepiece.ts) */
  prepare?: TextPreparation;
  /** `prepare` puts a prefix in front of every text (SentencePiece's dummy prefix) */
  prefixesText?: boolean;
}

export type TokenizerJson = Record<string, any> & { model: Record<string, any> };

/** Token models we run; the library's Unigram and WordPiece are untested here and refused. */
const MODEL_TYPES = ['BPE', 'WordLevel'];

export async function readTokenizerSource(dir: string): Promise<TokenizerSource> {
  const tokenizerJsonPath = join(dir, 'tokenizer.json');
  const tokenizerJsonText = await readOptional(tokenizerJsonPath);
  if (tokenizerJsonText !== undefined) {
    const json = parseJson(tokenizerJsonPath, tokenizerJsonText);
    return { path: tokenizerJsonPath, json, maxId: checkTokenizerJson(tokenizerJsonPath, json) };
  }

  const vocabPath = join(dir, 'vocab.json');
  const mergesPath = join(dir, 'merges.txt');
  const [vocabText, mergesText] = await Promise.all([readOptional(vocabPath), readOptional(mergesPath)]);
  if (vocabText !== undefined || mergesText !== undefined) {
    if (vocabText === undefined) throw badTokenizer(`${vocabPath}: missing (merges.txt needs it)`);
    if (mergesText === undefined) throw badTokenizer(`${mergesPath}: missing (vocab.json needs it)`);
    const vocab = parseJson(vocabPath, vocabText);
    const { tokens, maxId } = checkVocab(vocabPath, vocab);
    const merges = parseMergesTxt(mergesPath, mergesText, tokens);
    const json = byteLevelTokenizerJson(vocab, merges);
    // In memory the library takes [a, b] pairs as they are, sparing it 50k string splits.
    json.model.merges = merges;
    return { path: `${vocabPath} + merges.txt`, json, maxId };
  }

  const spmPath = join(dir, 'tokenizer.model');
  const spm = await readFile(spmPath).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw badTokenizer(`${spmPath}: cannot be read (${e.message})`);
  });
  if (spm !== undefined) {
    const { json, prepare, prefixesText } = sentencePieceTokenizerJson(spmPath, spm);
    return { path: spmPath, json, prepare, prefixesText, maxId: checkTokenizerJson(spmPath, json) };
  }
  throw badTokenizer(`${dir}: no tokenizer files (expected tokenizer.json, vocab.json and merges.txt, or tokenizer.model)`);
}

/**
 * The tokenizer.json object of GPT-2 on the Hugging Face hub, for this vocab and merges. Merges
 * are "a b" strings, which every version of HF tokenizers reads (byte-level symbols have no spaces).
 */
export function byteLevelTokenizerJson(
  vocab: Record<string, number>,
  merges: [string, string][],
  specialTokens: string[] = [GPT2_EOS],
): TokenizerJson {
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specialTokens
      .filter((t) => Object.hasOwn(vocab, t))
      .map((t) => ({ id: vocab[t], content: t, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true })),
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

export async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw badTokenizer(`${path}: cannot be read (${(e as Error).message})`);
  }
}

export function parseJson(path: string, text: string): any {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw badTokenizer(`${path}: not valid JSON (${jsonProblem(e)})`);
  }
}

export function isPlainObject(x: unknown): x is Record<string, unknown> {
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

/** Returns the largest token id, added tokens included. */
function checkTokenizerJson(path: string, json: any): number {
  if (!isPlainObject(json)) throw badTokenizer(`${path}: must be a JSON object`);
  const model = json.model;
  if (!isPlainObject(model)) throw badTokenizer(`${path}: "model" is missing or not an object`);
  const type = model.type ?? 'BPE';
  if (!MODEL_TYPES.includes(type as string)) {
    throw badTokenizer(`${path}: model type ${JSON.stringify(model.type)} is not supported (supported: ${MODEL_TYPES.join(', ')})`);
  }
  const { tokens, maxId } = checkVocab(`${path} (model.vocab)`, model.vocab);
  if (model.unk_token != null && (typeof model.unk_token !== 'string' || !tokens.has(model.unk_token))) {
    throw badTokenizer(`${path}: model.unk_token ${JSON.stringify(model.unk_token)} is not in the vocab`);
  }
  if (type === 'BPE') {
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
  }
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
  checkSplits(path, json.pre_tokenizer, 'pre_tokenizer');
  return Math.max(maxId, ...added.map((t: { id: number }) => t.id));
}

/**
 * The library implements Split's "Isolated" and "Removed" behaviours only; the others would split
 * text differently from Hugging Face without a word, so they are refused.
 */
function checkSplits(path: string, p: any, where: string): void {
  if (!isPlainObject(p)) return;
  if (p.type === 'Sequence' && Array.isArray(p.pretokenizers)) {
    p.pretokenizers.forEach((q: unknown, i: number) => checkSplits(path, q, `${where}.pretokenizers[${i}]`));
  }
  if (p.type === 'Split') {
    const behavior = String(p.behavior ?? 'Isolated');
    if (!['isolated', 'removed'].includes(behavior.toLowerCase())) {
      throw badTokenizer(`${path}: ${where} is a Split with behavior ${JSON.stringify(behavior)}; only "Isolated" and "Removed" are supported`);
    }
  }
}
