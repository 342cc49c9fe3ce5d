/**
 * Indirect object identification (Wang et al. 2022, "Interpretability in the Wild"): two people
 * are introduced, one of them (the subject S) is named again, and the model should complete with
 * the other (the indirect object IO): "When John and Mary went to the store, John gave a drink
 * to" → " Mary".
 */
import { badInput } from '../errors.ts';
import type { Tokenizer } from '../tokenizer.ts';
import { collectPairs, singleTokens, type PairSet, type PromptPair } from './pairs.ts';
import { mulberry32, pick, sample, type Rng } from './random.ts';
import { NAMES, OBJECTS, PLACES, withArticle } from './words.ts';

export type IoiCorruption = 'subject-swap' | 'three-names';
export const IOI_CORRUPTIONS: readonly IoiCorruption[] = ['subject-swap', 'three-names'];

/**
 * {1} and {2} are the names as introduced, {3} the repeated subject; {place}, {obj} (bare noun)
 * and {a_obj} (with article) are filled from the word lists. Names always follow a space, so
 * each is the same " Name" token wherever it stands. Adapted from the paper's templates.
 */
const TEMPLATES: readonly string[] = [
  'When {1} and {2} went to the {place}, {3} gave {a_obj} to',
  'After {1} and {2} went to the {place}, {3} handed {a_obj} to',
  'Then, {1} and {2} had a lot of fun at the {place}. {3} gave {a_obj} to',
  'While {1} and {2} were working at the {place}, {3} gave {a_obj} to',
  'When {1} and {2} got {a_obj} at the {place}, {3} decided to give it to',
  'Friends {1} and {2} found {a_obj} at the {place}. {3} gave the {obj} to',
  'Then, {1} and {2} were thinking about going to the {place}. {3} wanted to give {a_obj} to',
  'Afterwards, {1} and {2} went to the {place}. {3} gave {a_obj} to',
  'Then, {1} and {2} had a long argument, and afterwards {3} said to',
  'While {1} and {2} were commuting to the {place}, {3} gave {a_obj} to',
];

interface Scene {
  template: string;
  place: string;
  obj: string;
}

function fill(scene: Scene, first: string, second: string, subject: string): string {
  return scene.template
    .replace('{1}', first)
    .replace('{2}', second)
    .replace('{3}', subject)
    .replace('{place}', scene.place)
    .replace('{a_obj}', withArticle(scene.obj))
    .replace('{obj}', scene.obj);
}

function drawScene(rng: Rng): Scene {
  return { template: pick(rng, TEMPLATES), place: pick(rng, PLACES), obj: pick(rng, OBJECTS) };
}

/**
 * Half the pairs are ABBA (IO named first: "When Mary and John ..., John gave ... to"), half BABA
 * (S first), so position alone never gives the answer away.
 */
export function ioiPairs(opts: { n: number; seed: number; tokenizer: Tokenizer; corruption?: IoiCorruption }): PairSet {
  const corruption = opts.corruption ?? 'subject-swap';
  if (!IOI_CORRUPTIONS.includes(corruption)) {
    throw badInput(`ioi: unknown corruption ${JSON.stringify(corruption)}; known: ${IOI_CORRUPTIONS.join(', ')}`);
  }
  const names = singleTokens(opts.tokenizer, NAMES, (n) => ` ${n.name}`).map((n) => n.name);
  const needed = corruption === 'three-names' ? 5 : 3;
  if (names.length < needed) {
    throw badInput(
      `ioi: only ${names.length} of the ${NAMES.length} names are single tokens for this tokenizer ` +
        `(${names.join(', ') || 'none'}); the ${corruption} corruption needs at least ${needed}`,
    );
  }
  const rng = mulberry32(opts.seed);
  let index = 0;
  return collectPairs('ioi', opts.n, opts.tokenizer, () => {
    const scene = drawScene(rng);
    const abba = index++ % 2 === 0;
    const [io, s, ...others] = sample(rng, names, needed);
    const [first, second] = abba ? [io, s] : [s, io];
    const clean = fill(scene, first, second, s);
    // subject-swap: the second mention of S becomes IO, so IO is now the repeated name and the
    // expected answer flips to S. three-names: three fresh names, so no name is repeated at all.
    const corrupted = corruption === 'subject-swap' ? fill(scene, first, second, io) : fill(scene, others[0], others[1], others[2]);
    return { clean, corrupted, answer: ` ${io}`, wrong: ` ${s}` };
  });
}

/** Full sentences ending in the right name, for training the demo model. */
export function ioiText(n: number, rng: Rng): string[] {
  const names = NAMES.map((x) => x.name);
  return Array.from({ length: n }, (_, i) => {
    const scene = drawScene(rng);
    const [io, s] = sample(rng, names, 2);
    const [first, second] = i % 2 === 0 ? [io, s] : [s, io];
    return `${fill(scene, first, second, s)} ${io}.`;
  });
}
