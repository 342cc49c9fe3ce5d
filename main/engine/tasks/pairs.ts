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

/**
 * Draws pairs from `make` until there are `n` whose prompts have equal token length and whose
 * answers are distinct single tokens. With the word lists filtered to single tokens this holds
 * for byte-level BPE on the first draw; the check guards tokenizers that split differently.
 */
export function collectPairs(task: string, n: number, tokenizer: Tokenizer, make: () => PromptPair): PromptPair[] {
  const pairs: PromptPair[] = [];
  const maxDraws = 20 * n + 100;
  for (let draws = 0; pairs.length < n && draws < maxDraws; draws++) {
    const p = make();
    const ok =
      p.answer !== p.wrong &&
      tokenizer.tokenId(p.answer) !== undefined &&
      tokenizer.tokenId(p.wrong) !== undefined &&
      tokenizer.encode(p.clean).length === tokenizer.encode(p.corrupted).length;
    if (ok) pairs.push(p);
  }
  if (pairs.length < n) {
    throw badInput(`${task}: this tokenizer splits the prompts so that clean and corrupted differ in length; only ${pairs.length} of ${n} pairs could be made`);
  }
  return pairs;
}
