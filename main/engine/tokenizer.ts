/**
 * Tokenizers for every model family. A model folder holds `tokenizer.json` (Hugging Face format,
 * preferred), GPT-2's original `vocab.json` + `merges.txt`, or SentencePiece's `tokenizer.model`;
 * each is read into one tokenizer.json object (tokenizer/files.ts), so all run through one code
 * path: `@huggingface/tokenizers`. Supported there and tested here: byte-level BPE (GPT-2, Llama
 * 3, Qwen2, Pythia, SmolLM), SentencePiece-style BPE with byte fallback (Llama 2, TinyLlama,
 * Mistral), and word- or character-level vocabularies (`WordLevel`, or BPE without merges).
 *
 * The library silently drops text its vocabulary cannot spell (a byte-level vocabulary that lacks
 * some byte symbols, a character-level one without "A"); `encode` refuses such text instead,
 * naming the character, its position and the model. No special tokens are added here: the model
 * decides about BOS (tokenizer/bos.ts), so a tokenizer's own template never adds a second one.
 */
import { stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { badInput, badTokenizer } from './errors.ts';
import { readTokenizerSource, type TokenizerJson, type TokenizerSource } from './tokenizer/files.ts';

export { GPT2_EOS, byteLevelTokenizerJson } from './tokenizer/files.ts';

export interface Tokenizer {
  /** the model folder's name, for messages */
  readonly name: string;
  readonly vocabSize: number;
  /**
   * Token ids of `text`; no BOS is added here, the caller adds it. Text the vocabulary cannot
   * spell is refused with an error naming `what` ("prompt"), the character and its position.
   */
  encode(text: string, what?: string): number[];
  decode(ids: number[]): string;
  /** The text of one token as it reads inside a text, e.g. " Mary" (leading space kept). */
  tokenString(id: number): string;
  /**
   * Token ids of `text` where it continues a prompt (an answer such as " Mary"). For a
   * SentencePiece tokenizer that is "▁Mary", not the "▁" + "▁Mary" that encoding " Mary" on its
   * own gives, since its dummy prefix goes only in front of a whole text. Refuses what `encode` does.
   */
  encodeContinuation(text: string, what?: string): number[];
  /** The id if `text` is exactly one token where it continues a prompt, else undefined. */
  tokenId(text: string): number | undefined;
  /** The id of a vocabulary entry given as the token itself (e.g. "<s>"), or undefined. */
  idOf(token: string): number | undefined;
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

export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  const abs = resolve(dir);
  const info = await stat(abs).catch(() => undefined);
  if (!info) throw badTokenizer(`${abs}: tokenizer folder not found`);
  if (!info.isDirectory()) throw badTokenizer(`${abs}: not a folder`);
  return wrap(basename(abs), await readTokenizerSource(abs));
}

/** The library's view of a model, as far as this module needs it. */
interface HfModel {
  tokens_to_ids: Map<string, number>;
  unk_token?: string | null;
  byte_fallback?: boolean;
  bpe?: (word: string) => string[];
  encode(tokens: string[]): string[];
}

function wrap(name: string, source: TokenizerSource): Tokenizer {
  const { json, maxId } = source;
  // The library requires these keys to exist (null is fine) and iterates added_tokens.
  const full: TokenizerJson = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...json };
  full.added_tokens ??= [];
  const isWordLevel = full.model.type === 'WordLevel';
  if (isWordLevel) {
    // The library has no WordLevel class; a model without merges or subword prefix is its
    // "Legacy" model, which maps each pre-token to its id or the unk token, exactly WordLevel.
    full.model = { type: 'WordLevel', vocab: full.model.vocab, unk_token: full.model.unk_token ?? null };
  }
  let hf: HfTokenizer;
  try {
    hf = new HfTokenizer(full, isWordLevel ? { unk_token: full.model.unk_token ?? undefined } : {});
  } catch (e) {
    throw badTokenizer(`${source.path}: ${(e as Error).message}`);
  }
  const vocabSize = maxId + 1;
  const model = hf.model as unknown as HfModel;
  const lost = watchLostPieces(model, isWordLevel);
  const prepare = source.prepare ?? ((t: string) => t);
  const isByteLevel = JSON.stringify(full.pre_tokenizer ?? null).includes('"ByteLevel"');

  /** ids, and the pieces the library dropped or could not map (empty when all is well) */
  const encodeRaw = (text: string): { ids: (number | undefined)[]; lost: string[] } => {
    lost.length = 0;
    const ids = hf.encode(prepare(text), { add_special_tokens: false }).ids as (number | undefined)[];
    const missing = [...lost];
    if (ids.some((id) => id === undefined)) missing.push('(unknown)');
    return { ids, lost: missing };
  };
  const encode = (text: string, what = 'text'): number[] => {
    if (typeof text !== 'string') throw badInput(`${what} to tokenize must be a string, got ${typeof text}`);
    const r = encodeRaw(text);
    if (r.lost.length > 0) throw unencodable(text, what, r.lost[0]);
    return r.ids as number[];
  };

  /**
   * Names what cannot be encoded: a word that a word-level vocabulary lacks, else the first
   * character that cannot be encoded even on its own (byte- and character-level vocabularies).
   */
  const unencodable = (text: string, what: string, piece: string) => {
    const refuse = (thing: string, at: number) =>
      badInput(`${what} ${JSON.stringify(text)}: ${thing} at position ${at} cannot be encoded by the tokenizer of model ${name} (no token spells it)`);
    const word = isByteLevel ? undefined : piece;
    if (word !== undefined && [...word].length > 1 && text.includes(word)) {
      return refuse(`the word ${JSON.stringify(word)}`, [...text.slice(0, text.indexOf(word))].length + 1);
    }
    let position = 0;
    for (const c of text) {
      position++;
      if (encodeRaw(c).lost.length > 0) {
        const code = `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
        return refuse(`the character ${JSON.stringify(c)} (${code})`, position);
      }
    }
    return refuse(`the piece ${JSON.stringify(piece)}`, 1 + Math.max(0, [...text.slice(0, Math.max(0, text.indexOf(piece)))].length));
  };

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

  // Where the tokenizer puts a prefix in front of a whole text, a word's continuation ids are
  // those it gets after an anchor: encode(anchor + text) minus encode(anchor).
  // A text that merges into the anchor has no continuation of its own; it is then encoded alone.
  const anchor = source.prefixesText || addsPrefix(full) ? '.' : '';
  const anchorIds = anchor ? encodeRaw(anchor) : undefined;
  const encodeContinuation = (text: string, what = 'text'): number[] => {
    const alone = encode(text, what);
    if (!anchorIds || anchorIds.lost.length > 0 || text === '') return alone;
    const r = encodeRaw(anchor + text);
    const n = anchorIds.ids.length;
    if (r.lost.length > 0 || r.ids.length <= n || anchorIds.ids.some((id, i) => r.ids[i] !== id)) return alone;
    return r.ids.slice(n) as number[];
  };

  return {
    name,
    vocabSize,
    encode,
    decode,
    tokenString(id) {
      // After the anchor the decoder keeps the token's leading space ("▁Mary" reads " Mary"),
      // which it strips at the start of a whole text.
      if (!anchorIds || anchorIds.lost.length > 0) return decode([id]);
      const a = anchorIds.ids as number[];
      return decode([...a, id]).slice(decode(a).length);
    },
    encodeContinuation,
    tokenId(text) {
      if (typeof text !== 'string' || text === '' || encodeRaw(text).lost.length > 0) return undefined;
      const ids = encodeContinuation(text);
      return ids.length === 1 ? ids[0] : undefined;
    },
    idOf: (token) => hf.token_to_id(token),
  };
}

/**
 * Wraps the library's model so every piece it cannot map to a token is recorded in the returned
 * list, which the caller empties before each encode. The library itself would drop such a piece
 * (BPE with no unk token or byte fallback for it) or give it no id (WordLevel without unk).
 */
function watchLostPieces(model: HfModel, isWordLevel: boolean): string[] {
  const lost: string[] = [];
  const vocab = model.tokens_to_ids;
  const hasUnk = model.unk_token != null && vocab.has(model.unk_token);
  const utf8 = new TextEncoder();
  const byteToken = (b: number) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
  const spelled = (piece: string) =>
    vocab.has(piece) || hasUnk || (!!model.byte_fallback && Array.from(utf8.encode(piece)).every((b) => vocab.has(byteToken(b))));
  const encode = model.encode.bind(model);
  model.encode = (tokens: string[]) => {
    for (const token of tokens) {
      if (vocab.has(token)) continue;
      const pieces = isWordLevel || !model.bpe ? [token] : model.bpe(token);
      for (const p of pieces) if (!spelled(p)) lost.push(p);
    }
    return encode(tokens);
  };
  return lost;
}

/** Whether the tokenizer puts something ("▁", " ") in front of a whole text. */
function addsPrefix(json: TokenizerJson): boolean {
  const steps = (x: any, key: string): any[] => (x?.type === 'Sequence' ? (x[key] ?? []).flatMap((y: any) => steps(y, key)) : x ? [x] : []);
  const normalizers = steps(json.normalizer, 'normalizers');
  const preTokenizers = steps(json.pre_tokenizer, 'pretokenizers');
  return (
    normalizers.some((n) => n.type === 'Prepend') ||
    preTokenizers.some(
      (p) =>
        (p.type === 'Metaspace' && (p.prepend_scheme ?? (p.add_prefix_space === false ? 'never' : 'always')) !== 'never') ||
        (p.type === 'ByteLevel' && p.add_prefix_space === true),
    )
  );
}
