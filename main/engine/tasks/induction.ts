/**
 * Induction: in a repeated sequence of random words, predict the next word by finding its
 * earlier occurrence ("A B C D E A B C" → " D"). The words carry no meaning, so only copying
 * from context can give the answer.
 */
import { badInput } from '../errors.ts';
import type { Tokenizer } from '../tokenizer.ts';
import { collectPairs, singleTokens, type PairSet, type PromptPair } from './pairs.ts';
import { mulberry32, randInt, sample, type Rng } from './random.ts';
import { INDUCTION_WORDS } from './words.ts';

const MIN_LEN = 4; // words in the first half
const MAX_LEN = 8;
/** A pair uses up to MAX_LEN words in the first half plus MAX_LEN - 1 + 1 fresh words. */
const WORDS_NEEDED = 2 * MAX_LEN;

/** Prompts start with a space so the first word is the same " word" token as its repeat. */
const join = (words: string[]) => words.map((w) => ` ${w}`).join('');

/**
 * clean = first half + its first m words, answer = its word m+1. corrupted = the same first half
 * followed by m fresh words (none from the first half), so nothing repeats and no induction is
 * possible; wrong = the fresh word that would come next, the corrupted prompt's counterpart of
 * the answer, which appears in neither prompt.
 */
export function inductionPairs(opts: { n: number; seed: number; tokenizer: Tokenizer }): PairSet {
  const words = singleTokens(opts.tokenizer, INDUCTION_WORDS, (w) => ` ${w}`);
  if (words.length < WORDS_NEEDED) {
    throw badInput(
      `induction: only ${words.length} of the ${INDUCTION_WORDS.length} words are single tokens for this tokenizer; at least ${WORDS_NEEDED} are needed`,
    );
  }
  const rng = mulberry32(opts.seed);
  return collectPairs('induction', opts.n, opts.tokenizer, () => {
    const k = randInt(rng, MIN_LEN, MAX_LEN);
    const m = randInt(rng, 2, k - 1);
    const drawn = sample(rng, words, k + m + 1);
    const first = drawn.slice(0, k);
    const fresh = drawn.slice(k);
    return {
      clean: join([...first, ...first.slice(0, m)]),
      corrupted: join([...first, ...fresh.slice(0, m)]),
      answer: ` ${first[m]}`,
      wrong: ` ${fresh[m]}`,
    };
  });
}

/** Repeated random word sequences for training: first half, then its first m+1 words again. */
export function inductionText(n: number, rng: Rng): string[] {
  return Array.from({ length: n }, () => {
    const k = randInt(rng, MIN_LEN, MAX_LEN);
    const m = randInt(rng, 2, k - 1);
    const first = sample(rng, INDUCTION_WORDS, k);
    return join([...first, ...first.slice(0, m + 1)]);
  });
}
