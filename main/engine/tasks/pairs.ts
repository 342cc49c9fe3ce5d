import { badInput } from '../errors.ts';
import type { Tokenizer } from '../tokenizer.ts';

/** A clean/corrupted prompt pair; `answer` and `wrong` are single tokens such as " Mary". */
export interface PromptPair {
  clean: string;
  corrupted: string;
  answer: string;
  wrong: string;
}

export function checkCount(n: unknown): asserts n is number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n <= 0) {
    throw badInput(`n (number of pairs) must be a positive integer, got ${JSON.stringify(n)}`);
  }
}

export function checkSeed(seed: unknown): asserts seed is number {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
    throw badInput(`seed must be an integer, got ${JSON.stringify(seed)}`);
  }
}

/** The items whose text (as given, leading space included) is exactly one token. */
export function singleTokens<T>(tokenizer: Tokenizer, items: readonly T[], text: (item: T) => string): T[] {
  return items.filter((item) => tokenizer.tokenId(text(item)) !== undefined);
}

/** Token count of `text`, or undefined where the vocabulary cannot spell it (a character-level model). */
export function tokenLength(tokenizer: Tokenizer, text: string): number | undefined {
  try {
    return tokenizer.encode(text).length;
  } catch {
    return undefined;
  }
}

/** Pairs drawn for a request, and why there are fewer than asked for, if there are. */
export interface PairSet {
  pairs: PromptPair[];
  requested: number;
  /** says how many pairs remain of those asked for, and why (absent when all were made) */
  shortfall?: string;
}

/**
 * Draws pairs from `make` until there are `n` whose prompts have equal token length and whose
 * answers are distinct single tokens. With the word lists filtered to single tokens this holds
 * for byte-level BPE on the first draw; the check guards tokenizers that split differently, and
 * where too few draws pass, the set holds what passed and says so.
 */
export function collectPairs(task: string, n: number, tokenizer: Tokenizer, make: () => PromptPair): PairSet {
  const pairs: PromptPair[] = [];
  const maxDraws = 20 * n + 100;
  for (let draws = 0; pairs.length < n && draws < maxDraws; draws++) {
    const p = make();
    const ok =
      p.answer !== p.wrong &&
      tokenizer.tokenId(p.answer) !== undefined &&
      tokenizer.tokenId(p.wrong) !== undefined &&
      tokenLength(tokenizer, p.clean) === tokenLength(tokenizer, p.corrupted) &&
      tokenLength(tokenizer, p.clean) !== undefined;
    if (ok) pairs.push(p);
  }
  if (pairs.length === 0) {
    throw badInput(`${task}: no pair could be made: this tokenizer cannot spell the prompts, or splits clean and corrupted to different lengths`);
  }
  if (pairs.length < n) {
    return {
      pairs,
      requested: n,
      shortfall: `${task}: only ${pairs.length} of ${n} pairs could be made: in ${maxDraws} draws this tokenizer could not spell the other prompts or split clean and corrupted to different lengths`,
    };
  }
  return { pairs, requested: n };
}
