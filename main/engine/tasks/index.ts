/**
 * The task library: seeded, reproducible generators of clean/corrupted prompt pairs for
 * patching experiments, and the plain sentences the demo model is trained on.
 */
import { badInput } from '../errors.ts';
import type { Tokenizer } from '../tokenizer.ts';
import { inductionPairs, inductionText } from './induction.ts';
import { ioiPairs, ioiText, type IoiCorruption } from './ioi.ts';
import { checkCount, checkSeed, type PairSet, type PromptPair } from './pairs.ts';
import { pronounPairs, pronounText } from './pronoun.ts';
import { mulberry32 } from './random.ts';
import { INDUCTION_WORDS, NAMES, PRONOUNS } from './words.ts';

export type { PairSet, PromptPair } from './pairs.ts';
export type { IoiCorruption } from './ioi.ts';
export { IOI_CORRUPTIONS } from './ioi.ts';

export type TaskName = 'ioi' | 'induction' | 'pronoun';

export const TASKS: Record<TaskName, { title: string; description: string }> = {
  ioi: {
    title: 'Indirect object identification',
    description:
      'Two people are introduced and one is named again; the answer is the other one ("When John and Mary went to the store, John gave a drink to" → " Mary"). ' +
      'Corruptions: subject-swap (the repeated name becomes the other one, flipping the answer) or three-names (three unrelated names).',
  },
  induction: {
    title: 'Induction',
    description:
      'A sequence of random words repeats; the answer is the word that followed the current one earlier (" A B C D A B C" → " D"). ' +
      'The corrupted prompt continues with fresh words instead, so nothing can be copied.',
  },
  pronoun: {
    title: 'Pronoun resolution',
    description:
      'After a name the answer is the matching pronoun ("Yesterday John said that" → " he"); the corrupted prompt uses a name of the other gender.',
  },
};

const TASK_NAMES = Object.keys(TASKS) as TaskName[];

function checkTask(task: unknown): asserts task is TaskName {
  if (typeof task !== 'string' || !Object.hasOwn(TASKS, task)) {
    throw badInput(`unknown task ${JSON.stringify(task)}; known tasks: ${TASK_NAMES.join(', ')}`);
  }
}

export interface GenerateOptions {
  n: number;
  seed: number;
  tokenizer: Tokenizer;
  /** IOI only; default 'subject-swap'. */
  corruption?: IoiCorruption;
  /**
   * All pairs of one token length (default true), so the set can be patched as one batch: templates
   * differ in length, so more pairs are drawn and the most common length is kept.
   */
  uniformLength?: boolean;
}

/**
 * Exactly `n` pairs; the same seed and tokenizer always give the same pairs. In every pair
 * clean and corrupted have the same token length and answer/wrong are distinct single tokens.
 * Refuses, saying why, where the tokenizer leaves fewer (see generatePairSet).
 */
export function generatePairs(task: string, opts: GenerateOptions): PromptPair[] {
  const set = generatePairSet(task, opts);
  if (set.shortfall) throw badInput(`${set.shortfall}; ask for fewer pairs`);
  return set.pairs;
}

/**
 * Up to `n` pairs, as generatePairs draws them; where the model's tokenizer leaves fewer (too few
 * of the names or words are single tokens for it, or it splits clean and corrupted prompts to
 * different lengths), the pairs that remain and `shortfall`, which gives their count and why.
 */
export function generatePairSet(task: string, opts: GenerateOptions): PairSet {
  checkTask(task);
  checkCount(opts.n);
  checkSeed(opts.seed);
  if (opts.corruption !== undefined && task !== 'ioi') {
    throw badInput(`corruption ${JSON.stringify(opts.corruption)} applies only to the ioi task, not ${task}`);
  }
  if (opts.uniformLength === false) return draw(task, opts);
  let best: PromptPair[] = [];
  let why: string | undefined;
  for (let factor = 4; factor <= 64; factor *= 4) {
    const drawn = draw(task, { ...opts, n: opts.n * factor });
    const byLength = new Map<number, PromptPair[]>();
    for (const p of drawn.pairs) {
      const len = opts.tokenizer.encode(p.clean).length; // collectPairs kept only prompts it can spell
      byLength.set(len, [...(byLength.get(len) ?? []), p]);
    }
    // the most common length, the shorter on ties, so the choice does not depend on map order
    best = [...byLength].sort((a, b) => b[1].length - a[1].length || a[0] - b[0])[0][1];
    if (best.length >= opts.n) return { pairs: best.slice(0, opts.n), requested: opts.n };
    why = drawn.shortfall;
  }
  return {
    pairs: best,
    requested: opts.n,
    shortfall: `${task}: only ${best.length} of ${opts.n} pairs of one token length could be made with this tokenizer` + (why ? ` (${why})` : ''),
  };
}

function draw(task: TaskName, opts: GenerateOptions): PairSet {
  switch (task) {
    case 'ioi':
      return ioiPairs(opts);
    case 'induction':
      return inductionPairs(opts);
    case 'pronoun':
      return pronounPairs(opts);
  }
}

/** `n` training sentences (prompt followed by its answer) for `task`; deterministic per seed. */
export function taskText(task: TaskName, opts: { n: number; seed: number }): string[] {
  checkTask(task);
  checkCount(opts.n);
  checkSeed(opts.seed);
  const rng = mulberry32(opts.seed);
  switch (task) {
    case 'ioi':
      return ioiText(opts.n, rng);
    case 'induction':
      return inductionText(opts.n, rng);
    case 'pronoun':
      return pronounText(opts.n, rng);
  }
}

/**
 * Every name, pronoun and induction word as a token string (" Mary", " he", " apple"): a
 * tokenizer trained for the demo model must keep each one a single token for all tasks to work.
 */
export function taskTokens(): string[] {
  return [...NAMES.map((n) => ` ${n.name}`), ...Object.values(PRONOUNS), ...INDUCTION_WORDS.map((w) => ` ${w}`)];
}
