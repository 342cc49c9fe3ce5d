/**
 * Pronoun resolution: after a gendered name the model should continue with the matching
 * pronoun ("Yesterday John said that" → " he"). The corrupted prompt names someone of the other
 * gender, flipping the expected pronoun.
 */
import { badInput } from '../errors.ts';
import type { Tokenizer } from '../tokenizer.ts';
import { collectPairs, singleTokens, type PairSet, type PromptPair } from './pairs.ts';
import { mulberry32, pick, type Rng } from './random.ts';
import { NAMES, PRONOUNS, type Gender } from './words.ts';

/** Openings put a word before the name so it is the same " Name" token in every template. */
const OPENINGS: readonly string[] = ['Yesterday', 'Then', 'At the party,', 'In the morning,', 'After dinner,', 'Last week,', 'Later'];
const VERBS: readonly string[] = ['said', 'thought', 'explained', 'decided', 'announced', 'believed', 'felt', 'claimed', 'remembered'];
/** {name} is the name; other templates are "{opening} {name} {verb} that". */
const OTHER_TEMPLATES: readonly string[] = [
  'When {name} woke up,',
  'Everyone knew that {name} was tired, so',
  'Because {name} missed the bus,',
  'The teacher asked {name} a question, and',
];
const ENDINGS: readonly string[] = ['was tired.', 'would be late.', 'liked the new book.', 'had won the game.', 'needed some help.', 'wanted to go home.'];

function drawTemplate(rng: Rng): string {
  // Two in three prompts use the "said that" family, which has the most variety.
  return rng() < 2 / 3 ? `${pick(rng, OPENINGS)} {name} ${pick(rng, VERBS)} that` : pick(rng, OTHER_TEMPLATES);
}

const other = (g: Gender): Gender => (g === 'male' ? 'female' : 'male');

export function pronounPairs(opts: { n: number; seed: number; tokenizer: Tokenizer }): PairSet {
  const { tokenizer } = opts;
  for (const p of Object.values(PRONOUNS)) {
    if (tokenizer.tokenId(p) === undefined) throw badInput(`pronoun: ${JSON.stringify(p)} is not a single token for this tokenizer`);
  }
  const names = singleTokens(tokenizer, NAMES, (n) => ` ${n.name}`);
  const byGender = { male: names.filter((n) => n.gender === 'male'), female: names.filter((n) => n.gender === 'female') };
  if (byGender.male.length === 0 || byGender.female.length === 0) {
    throw badInput(
      `pronoun: needs at least one male and one female name that is a single token for this tokenizer; found ${byGender.male.length} male and ${byGender.female.length} female`,
    );
  }
  const rng = mulberry32(opts.seed);
  let index = 0;
  return collectPairs('pronoun', opts.n, tokenizer, () => {
    // Alternate genders so the dataset is balanced between " he" and " she" answers.
    const gender: Gender = index++ % 2 === 0 ? 'male' : 'female';
    const template = drawTemplate(rng);
    const name = pick(rng, byGender[gender]).name;
    const swapped = pick(rng, byGender[other(gender)]).name;
    return {
      clean: template.replace('{name}', name),
      corrupted: template.replace('{name}', swapped),
      answer: PRONOUNS[gender],
      wrong: PRONOUNS[other(gender)],
    };
  });
}

/** Full sentences for training: the prompt, the right pronoun, and a short ending. */
export function pronounText(n: number, rng: Rng): string[] {
  return Array.from({ length: n }, () => {
    const person = pick(rng, NAMES);
    return `${drawTemplate(rng).replace('{name}', person.name)}${PRONOUNS[person.gender]} ${pick(rng, ENDINGS)}`;
  });
}
