/**
 * Learns a small GPT-2-style byte-level BPE vocabulary from text, for the demo model, and writes
 * it in both formats `loadTokenizer` reads. Pre-tokenisation and the byte alphabet are GPT-2's,
 * so the result is an ordinary GPT-2 tokenizer that just has fewer merges.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { badInput } from './errors.ts';
import { BYTE_TO_UNICODE, GPT2_EOS, GPT2_SPLIT_PATTERN, byteLevelTokenizerJson } from './tokenizer.ts';

export interface TrainedBpe {
  /** Token string (byte-level symbols) → id: the 256 byte symbols, learned tokens, then "<|endoftext|>". */
  vocab: Record<string, number>;
  /** In rank order: the first applies first. */
  merges: [string, string][];
}

const encoder = new TextEncoder();
const toSymbols = (text: string): string[] => Array.from(encoder.encode(text), (b) => BYTE_TO_UNICODE[b]);

/**
 * Greedy BPE: repeatedly merges the most frequent adjacent pair (ties: the pair whose symbols
 * sort first), until the vocab holds vocabSize - 1 tokens; "<|endoftext|>" takes the last id.
 * Stops early, with a smaller vocab, if every word has become one token.
 *
 * Each of `requiredTokens` (e.g. " Mary") is made a single token before any learned merge, by
 * chaining its pieces left to right; because those merges rank first, encoding the token
 * always reaches them before anything learned later can interfere. The result is checked.
 */
export function trainByteLevelBpe(texts: string[], opts: { vocabSize: number; requiredTokens?: string[] }): TrainedBpe {
  const { vocabSize } = opts;
  if (!Number.isInteger(vocabSize) || vocabSize < 257) {
    throw badInput(`vocabSize must be an integer of at least 257 (256 byte symbols and <|endoftext|>), got ${vocabSize}`);
  }
  if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) throw badInput('texts must be a list of strings');
  const required = [...new Set(opts.requiredTokens ?? [])];
  for (const t of required) {
    const pieces = typeof t === 'string' ? t.match(GPT2_SPLIT_PATTERN) : null;
    if (pieces?.length !== 1) {
      throw badInput(`requiredTokens: ${JSON.stringify(t)} cannot be one token, since GPT-2's pre-tokenisation splits it into ${JSON.stringify(pieces ?? [])}`);
    }
  }

  // GPT-2's vocab lists the byte symbols in code point order ("!" is 0, "Ā" for byte 0 is 188).
  const strings: string[] = [...BYTE_TO_UNICODE].sort();
  const ids = new Map(strings.map((s, i) => [s, i]));
  const merges: [string, string][] = [];
  const rank = new Map<string, number>();
  const corpus = new Corpus(countWords(texts), ids, vocabSize);

  const addMerge = (a: string, b: string) => {
    rank.set(`${a} ${b}`, merges.length);
    merges.push([a, b]);
    const joined = a + b;
    // A token reachable by two different merges keeps its first id, as in HF's trainer.
    if (!ids.has(joined)) {
      ids.set(joined, strings.length);
      strings.push(joined);
    }
    corpus.merge(ids.get(a)!, ids.get(b)!, ids.get(joined)!);
  };

  for (const token of required) {
    const pieces = bpe(toSymbols(token), rank);
    for (let j = 1; j < pieces.length; j++) {
      const left = pieces.slice(0, j).join('');
      if (rank.has(`${left} ${pieces[j]}`)) continue;
      if (strings.length >= vocabSize - 1) {
        throw badInput(`vocabSize ${vocabSize} is too small to make all ${required.length} required tokens single tokens`);
      }
      addMerge(left, pieces[j]);
    }
  }

  while (strings.length < vocabSize - 1) {
    const best = corpus.bestPair(strings);
    if (best === undefined) break;
    addMerge(strings[best[0]], strings[best[1]]);
  }

  for (const token of required) {
    const pieces = bpe(toSymbols(token), rank);
    if (pieces.length !== 1) throw badInput(`requiredTokens: ${JSON.stringify(token)} still encodes as ${JSON.stringify(pieces)}`);
  }
  const vocab: Record<string, number> = {};
  strings.forEach((s, i) => (vocab[s] = i));
  vocab[GPT2_EOS] = strings.length;
  return { vocab, merges };
}

/** Distinct pre-tokens (as byte symbols) with their counts. */
function countWords(texts: string[]): Map<string, number> {
  const raw = new Map<string, number>();
  for (const text of texts) {
    for (const word of text.match(GPT2_SPLIT_PATTERN) ?? []) raw.set(word, (raw.get(word) ?? 0) + 1);
  }
  return raw;
}

/**
 * The words being merged, with pair counts kept up to date incrementally: a merge only
 * revisits the words that contain its pair, which keeps ~1 MB of text well under a second.
 */
class Corpus {
  private readonly words: number[][] = [];
  private readonly freq: number[] = [];
  private readonly pairCount = new Map<number, number>();
  /** Words that contain (or once contained) each pair; stale entries are skipped on use. */
  private readonly pairWords = new Map<number, Set<number>>();

  constructor(
    counts: Map<string, number>,
    byteIds: Map<string, number>,
    private readonly base: number,
  ) {
    for (const [word, count] of counts) {
      const w = this.words.length;
      this.words.push(toSymbols(word).map((s) => byteIds.get(s)!));
      this.freq.push(count);
      this.count(w, +1);
    }
  }

  private key(a: number, b: number): number {
    return a * this.base + b;
  }

  private count(w: number, sign: 1 | -1): void {
    const symbols = this.words[w];
    for (let i = 0; i + 1 < symbols.length; i++) {
      const k = this.key(symbols[i], symbols[i + 1]);
      const c = (this.pairCount.get(k) ?? 0) + sign * this.freq[w];
      if (c > 0) this.pairCount.set(k, c);
      else this.pairCount.delete(k);
      if (sign > 0) {
        let set = this.pairWords.get(k);
        if (!set) this.pairWords.set(k, (set = new Set()));
        set.add(w);
      }
    }
  }

  /** The most frequent pair; ties go to the pair whose first, then second, symbol sorts first. */
  bestPair(strings: string[]): [number, number] | undefined {
    let bestKey = -1;
    let bestCount = 0;
    for (const [k, c] of this.pairCount) {
      if (c > bestCount || (c === bestCount && this.before(k, bestKey, strings))) {
        bestKey = k;
        bestCount = c;
      }
    }
    return bestKey < 0 ? undefined : [Math.floor(bestKey / this.base), bestKey % this.base];
  }

  private before(k: number, other: number, strings: string[]): boolean {
    const [a, b] = [strings[Math.floor(k / this.base)], strings[k % this.base]];
    const [c, d] = [strings[Math.floor(other / this.base)], strings[other % this.base]];
    return a !== c ? a < c : b < d;
  }

  /** Replaces every (a, b), left to right without overlap, by `joined` in the words holding it. */
  merge(a: number, b: number, joined: number): void {
    const k = this.key(a, b);
    const holders = this.pairWords.get(k);
    this.pairWords.delete(k);
    for (const w of holders ?? []) {
      const symbols = this.words[w];
      this.count(w, -1);
      const out: number[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i + 1 < symbols.length && symbols[i] === a && symbols[i + 1] === b) {
          out.push(joined);
          i++;
        } else {
          out.push(symbols[i]);
        }
      }
      this.words[w] = out;
      this.count(w, +1);
    }
  }
}

/** GPT-2's encoding of one pre-token: apply the lowest-ranked pair present until none applies. */
function bpe(symbols: string[], rank: Map<string, number>): string[] {
  let word = symbols;
  for (;;) {
    let best = Infinity;
    for (let i = 0; i + 1 < word.length; i++) best = Math.min(best, rank.get(`${word[i]} ${word[i + 1]}`) ?? Infinity);
    if (best === Infinity) return word;
    const out: string[] = [];
    for (let i = 0; i < word.length; i++) {
      if (i + 1 < word.length && rank.get(`${word[i]} ${word[i + 1]}`) === best) {
        out.push(word[i] + word[i + 1]);
        i++;
      } else {
        out.push(word[i]);
      }
    }
    word = out;
  }
}

/**
 * Writes vocab.json, merges.txt (with GPT-2's "#version: 0.2" header) and tokenizer.json (laid
 * out like GPT-2's on the Hugging Face hub, `bosToken` as its special token) into `dir`.
 */
export function writeTokenizerFiles(dir: string, trained: TrainedBpe, opts: { bosToken?: string } = {}): void {
  const bos = opts.bosToken ?? GPT2_EOS;
  if (!Object.hasOwn(trained.vocab, bos)) throw badInput(`bosToken ${JSON.stringify(bos)} is not in the trained vocab`);
  const files: [string, string][] = [
    ['vocab.json', JSON.stringify(trained.vocab)],
    ['merges.txt', ['#version: 0.2', ...trained.merges.map(([a, b]) => `${a} ${b}`)].join('\n') + '\n'],
    ['tokenizer.json', JSON.stringify(byteLevelTokenizerJson(trained.vocab, trained.merges, [bos]), null, 2)],
  ];
  try {
    mkdirSync(dir, { recursive: true });
    for (const [name, text] of files) writeFileSync(join(dir, name), text);
  } catch (e) {
    throw badInput(`${dir}: cannot write tokenizer files (${(e as Error).message})`);
  }
}
