import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadTokenizer, type Tokenizer } from '../main/engine/tokenizer.ts';
import { generatePairs, generatePairSet, taskText, taskTokens, TASKS, type PromptPair, type TaskName } from '../main/engine/tasks/index.ts';
import { mulberry32, sample } from '../main/engine/tasks/random.ts';
import { collectPairs } from '../main/engine/tasks/pairs.ts';
import { FIXTURES, throwsBadInput, TINY } from './helpers.ts';

const TASK_NAMES = Object.keys(TASKS) as TaskName[];
const gpt2 = await loadTokenizer(TINY);

/** Positions where two equal-length token lists differ. */
function diffPositions(a: number[], b: number[]): number[] {
  assert.equal(a.length, b.length);
  return a.flatMap((x, i) => (x === b[i] ? [] : [i]));
}

const words = (s: string) => s.match(/[A-Z][a-z]+/g) ?? [];
const count = (s: string, name: string) => s.split(/\b/).filter((w) => w === name).length;

test('mulberry32 reproduces the reference implementation', () => {
  // The widely used reference version (bryc, "PRNGs in JavaScript"), copied verbatim.
  function reference(a: number) {
    return function () {
      let t = (a += 0x6d2b79f5);
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  for (const seed of [0, 1, 42, 123456789]) {
    const ours = mulberry32(seed);
    const theirs = reference(seed);
    for (let i = 0; i < 100; i++) assert.equal(ours(), theirs());
  }
  const rng = mulberry32(7);
  const picked = sample(rng, [1, 2, 3, 4, 5], 5);
  assert.deepEqual([...picked].sort(), [1, 2, 3, 4, 5]);
});

test('every task gives exactly n pairs, reproducibly per seed', () => {
  for (const task of TASK_NAMES) {
    for (const n of [1, 7, 40]) assert.equal(generatePairs(task, { n, seed: 3, tokenizer: gpt2 }).length, n);
    const a = generatePairs(task, { n: 20, seed: 11, tokenizer: gpt2 });
    const b = generatePairs(task, { n: 20, seed: 11, tokenizer: gpt2 });
    const c = generatePairs(task, { n: 20, seed: 12, tokenizer: gpt2 });
    assert.deepEqual(a, b, task);
    assert.notDeepEqual(a, c, task);
    // A longer run starts with the shorter one: n only decides where to stop.
    assert.deepEqual(generatePairs(task, { n: 5, seed: 11, tokenizer: gpt2 }), a.slice(0, 5));
  }
});

test('pairs have equal token lengths and distinct single-token answers under GPT-2', () => {
  const cases: [string, object][] = [
    ['ioi', {}],
    ['ioi', { corruption: 'three-names' }],
    ['induction', {}],
    ['pronoun', {}],
  ];
  for (const [task, extra] of cases) {
    for (const p of generatePairs(task, { n: 100, seed: 5, tokenizer: gpt2, ...extra })) {
      assert.equal(gpt2.encode(p.clean).length, gpt2.encode(p.corrupted).length, `${task}: ${JSON.stringify(p)}`);
      assert.notEqual(p.answer, p.wrong);
      for (const t of [p.answer, p.wrong]) {
        assert.match(t, /^ \S+$/);
        assert.notEqual(gpt2.tokenId(t), undefined, `${JSON.stringify(t)} is one token`);
      }
    }
  }
});

test('IOI subject-swap follows the convention of the reference fixture pairs', () => {
  // In the fixture, corrupted = clean with the last (second) mention of the subject replaced by
  // the indirect object; answer = IO, wrong = S.
  const swapLast = (p: PromptPair) => {
    const at = p.clean.lastIndexOf(p.wrong.trim());
    return p.clean.slice(0, at) + p.answer.trim() + p.clean.slice(at + p.wrong.length - 1);
  };
  const spec = JSON.parse(readFileSync(fileURLToPath(new URL('expected/ioi-denoising.spec.json', `file://${TINY}/`)), 'utf8'));
  for (const p of spec.pairs as PromptPair[]) assert.equal(swapLast(p), p.corrupted);

  const pairs = generatePairs('ioi', { n: 200, seed: 9, tokenizer: gpt2, uniformLength: false });
  let ioFirst = 0;
  const skeletons = new Set<string>();
  for (const p of pairs) {
    const io = p.answer.trim();
    const s = p.wrong.trim();
    assert.equal(swapLast(p), p.corrupted);
    assert.equal(count(p.clean, io), 1);
    assert.equal(count(p.clean, s), 2);
    assert.equal(count(p.corrupted, io), 2);
    assert.equal(count(p.corrupted, s), 1);
    // One token differs: the subject's second mention.
    const [c, k] = [gpt2.encode(p.clean), gpt2.encode(p.corrupted)];
    const diff = diffPositions(c, k);
    assert.equal(diff.length, 1);
    assert.equal(c[diff[0]], gpt2.tokenId(p.wrong));
    assert.equal(k[diff[0]], gpt2.tokenId(p.answer));
    if (words(p.clean).filter((w) => w === io || w === s)[0] === io) ioFirst++;
    skeletons.add(p.clean.replaceAll(io, 'IO').replaceAll(s, 'S').replace(/the \w+[,.]/, 'the PLACE').replace(/ an? \w+ /, ' OBJ '));
  }
  assert.equal(ioFirst, 100, 'half ABBA, half BABA');
  assert.ok(skeletons.size >= 6 * 2, `only ${skeletons.size} distinct templates`);
});

test('IOI three-names replaces all three name positions with unrelated names', () => {
  for (const p of generatePairs('ioi', { n: 100, seed: 2, tokenizer: gpt2, corruption: 'three-names' })) {
    const io = p.answer.trim();
    const s = p.wrong.trim();
    assert.equal(count(p.corrupted, io), 0);
    assert.equal(count(p.corrupted, s), 0);
    const diff = diffPositions(gpt2.encode(p.clean), gpt2.encode(p.corrupted));
    assert.equal(diff.length, 3);
    const fresh = diff.map((i) => gpt2.tokenString(gpt2.encode(p.corrupted)[i]));
    assert.equal(new Set(fresh).size, 3, `three different names: ${fresh}`);
  }
});

test('induction: clean repeats, so the answer follows the earlier copy; corrupted cannot', () => {
  for (const p of generatePairs('induction', { n: 100, seed: 4, tokenizer: gpt2 })) {
    const clean = gpt2.encode(p.clean);
    const corrupted = gpt2.encode(p.corrupted);
    const last = clean.length - 1;
    const earlier = clean.indexOf(clean[last]);
    assert.ok(earlier < last, 'the last clean token occurred before');
    assert.equal(clean[earlier + 1], gpt2.tokenId(p.answer));
    assert.equal(corrupted.indexOf(corrupted.at(-1)!), corrupted.length - 1, 'the last corrupted token is new');
    assert.ok(!clean.includes(gpt2.tokenId(p.wrong)!) && !corrupted.includes(gpt2.tokenId(p.wrong)!));
    // The first half (length last - earlier) is shared; every token of the repeat is replaced.
    const half = last - earlier;
    const repeat = Array.from({ length: clean.length - half }, (_, i) => half + i);
    assert.deepEqual(diffPositions(clean, corrupted), repeat);
    assert.ok(repeat.length >= 2);
  }
});

test('pronoun: the answer is the pronoun of the clean name; corrupted swaps gender', () => {
  const he = new Set(['John', 'James', 'Michael', 'David', 'Robert', 'Daniel', 'Thomas', 'Paul', 'Mark', 'Kevin']);
  const she = new Set(['Mary', 'Sarah', 'Lisa', 'Amy', 'Emily', 'Laura', 'Rachel', 'Anna', 'Kate', 'Emma']);
  const pairs = generatePairs('pronoun', { n: 200, seed: 6, tokenizer: gpt2, uniformLength: false });
  assert.equal(pairs.filter((p) => p.answer === ' he').length, 100);
  let checked = 0;
  for (const p of pairs) {
    assert.deepEqual([p.answer, p.wrong].sort(), [' he', ' she']);
    assert.equal(diffPositions(gpt2.encode(p.clean), gpt2.encode(p.corrupted)).length, 1);
    const name = words(p.clean).find((w) => he.has(w) || she.has(w));
    if (name) {
      assert.equal(p.answer, he.has(name) ? ' he' : ' she', p.clean);
      checked++;
    }
  }
  assert.ok(checked > 50);
});

test('bad requests are rejected with clear messages', () => {
  throwsBadInput(() => generatePairs('sentiment', { n: 3, seed: 1, tokenizer: gpt2 }), '"sentiment"', 'ioi, induction, pronoun');
  for (const n of [0, -2, 1.5, Number.NaN]) throwsBadInput(() => generatePairs('ioi', { n, seed: 1, tokenizer: gpt2 }), 'n ', 'positive integer');
  throwsBadInput(() => generatePairs('ioi', { n: 3, seed: 0.5, tokenizer: gpt2 }), 'seed');
  throwsBadInput(() => generatePairs('ioi', { n: 3, seed: 1, tokenizer: gpt2, corruption: 'shuffle' as never }), '"shuffle"', 'subject-swap, three-names');
  throwsBadInput(() => generatePairs('pronoun', { n: 3, seed: 1, tokenizer: gpt2, corruption: 'three-names' }), 'only to the ioi task');
  throwsBadInput(() => taskText('nope' as TaskName, { n: 3, seed: 1 }), 'unknown task');
  throwsBadInput(() => taskText('ioi', { n: 0, seed: 1 }), 'positive integer');
});

/** A character-level tokenizer in which only the listed strings are single tokens. */
function charTokenizer(singles: string[]): Tokenizer {
  const ids = new Map(singles.map((s, i) => [s, 1000 + i]));
  const encode = (text: string) => (ids.has(text) ? [ids.get(text)!] : [...text].map((c) => c.codePointAt(0)!));
  return {
    name: 'chars',
    vocabSize: 1000 + singles.length,
    encode,
    encodeContinuation: encode,
    idOf: (token) => ids.get(token),
    decode: (list) => list.map((id) => String.fromCodePoint(id)).join(''),
    tokenString: (id) => String.fromCodePoint(id),
    tokenId: (text) => ids.get(text) ?? ([...text].length === 1 ? text.codePointAt(0) : undefined),
  };
}

test('a tokenizer without enough single-token names or words is rejected', () => {
  const none = charTokenizer([]);
  throwsBadInput(() => generatePairs('ioi', { n: 2, seed: 1, tokenizer: none }), 'only 0 of the 40 names', 'at least 3');
  throwsBadInput(() => generatePairs('pronoun', { n: 2, seed: 1, tokenizer: none }), '" he"');
  throwsBadInput(() => generatePairs('induction', { n: 2, seed: 1, tokenizer: none }), 'only 0 of the', 'words');
  const few = charTokenizer([' John', ' Mary', ' Tom', ' he', ' she']);
  assert.equal(generatePairs('ioi', { n: 4, seed: 1, tokenizer: few }).length, 4);
  throwsBadInput(() => generatePairs('ioi', { n: 2, seed: 1, tokenizer: few, corruption: 'three-names' }), 'only 3', 'John, Tom, Mary', 'at least 5');
  const noWomen = charTokenizer([' John', ' Tom', ' he', ' she']);
  throwsBadInput(() => generatePairs('pronoun', { n: 2, seed: 1, tokenizer: noWomen }), '2 male and 0 female');
});

test('taskText gives n deterministic training sentences that end with the right answer', () => {
  for (const task of TASK_NAMES) {
    const a = taskText(task, { n: 50, seed: 1 });
    assert.equal(a.length, 50);
    assert.deepEqual(a, taskText(task, { n: 50, seed: 1 }));
    assert.notDeepEqual(a, taskText(task, { n: 50, seed: 2 }));
  }
  for (const line of taskText('ioi', { n: 100, seed: 3 })) {
    const m = /^(.*) (\w+)\.$/.exec(line);
    assert.ok(m, line);
    const [prompt, answer] = [m[1], m[2]];
    // The answer was named exactly once before; another name (the subject) twice.
    assert.equal(count(prompt, answer), 1, line);
    assert.ok(words(prompt).some((w) => w !== answer && count(prompt, w) === 2), line);
  }
  for (const line of taskText('pronoun', { n: 100, seed: 3 })) assert.match(line, /^[A-Z].* (he|she) [a-z ]+\.$/);
  for (const line of taskText('induction', { n: 100, seed: 3 })) {
    const w = line.trim().split(' ');
    const k = w.indexOf(w.at(-1)!);
    assert.ok(k < w.length - 1, 'the last word repeats an earlier one');
    assert.deepEqual(w.slice(w.length - k - 1), w.slice(0, k + 1), line);
  }
});

test('taskTokens lists every name, pronoun and induction word once', () => {
  const tokens = taskTokens();
  assert.equal(new Set(tokens).size, tokens.length);
  for (const t of [' Mary', ' John', ' he', ' she', ' apple']) assert.ok(tokens.includes(t), t);
  for (const t of tokens) assert.notEqual(gpt2.tokenId(t), undefined, `${JSON.stringify(t)} is a GPT-2 token`);
});

test('by default every pair of a set has one token length, so the set patches as one batch', () => {
  for (const task of ['ioi', 'induction', 'pronoun']) {
    const pairs = generatePairs(task, { n: 30, seed: 8, tokenizer: gpt2 });
    assert.equal(pairs.length, 30);
    const lengths = new Set(pairs.flatMap((p) => [gpt2.encode(p.clean).length, gpt2.encode(p.corrupted).length]));
    assert.equal(lengths.size, 1, `${task}: lengths ${[...lengths]}`);
  }
  const mixed = generatePairs('ioi', { n: 60, seed: 8, tokenizer: gpt2, uniformLength: false });
  assert.ok(new Set(mixed.map((p) => gpt2.encode(p.clean).length)).size > 1, 'templates of several lengths when asked');
});

test('where the tokenizer leaves fewer pairs than asked, the pairs that remain are kept and their count reported', () => {
  // One draw in 100 gives a pair whose answers are single tokens: 220 draws for 6 pairs leave 3.
  const tok = charTokenizer([' John', ' Mary']);
  let draw = 0;
  const make = () => (draw++ % 100 === 0 ? { clean: 'ab', corrupted: 'cd', answer: ' John', wrong: ' Mary' } : { clean: 'ab', corrupted: 'cd', answer: ' Jo', wrong: ' Ma' });
  const set = collectPairs('demo', 6, tok, make);
  assert.equal(set.pairs.length, 3);
  assert.equal(set.requested, 6);
  assert.match(set.shortfall!, /^demo: only 3 of 6 pairs could be made: in 220 draws/);
  throwsBadInput(() => collectPairs('demo', 1, tok, () => ({ clean: 'ab', corrupted: 'cd', answer: ' Jo', wrong: ' Ma' })), 'demo: no pair could be made');
  // generatePairs promises exactly n pairs, so a shortfall is an error there, with the count
  assert.equal(generatePairSet('ioi', { n: 8, seed: 1, tokenizer: gpt2 }).shortfall, undefined);
  assert.deepEqual(generatePairSet('ioi', { n: 8, seed: 1, tokenizer: gpt2 }).pairs, generatePairs('ioi', { n: 8, seed: 1, tokenizer: gpt2 }));
});

test('prompts a vocabulary cannot spell are skipped, not fatal; answers are continuation tokens (SentencePiece)', async () => {
  const stories = await loadTokenizer(FIXTURES + 'stories260K');
  // stories260K's 512 pieces hold no name of the list as one token: refused with the count
  throwsBadInput(() => generatePairs('ioi', { n: 4, seed: 1, tokenizer: stories }), 'only 0 of the 40 names are single tokens');
  // its pronouns are single continuation tokens ("▁he", "▁she"), though " he" alone is "▁" + "▁he"
  assert.notEqual(stories.tokenId(' he'), undefined);
  assert.notEqual(stories.tokenId(' she'), undefined);
  // a character-level model (makemore's 27 symbols) cannot spell the prompts: no pair, said so
  // (its answers are made single tokens here, so spelling is what fails)
  const chars = await loadTokenizer(FIXTURES + 'tokenizers/gpt2-chars');
  const anyAnswer: Tokenizer = { ...chars, tokenId: (t) => (t.startsWith(' ') ? 1 : undefined) };
  throwsBadInput(() => generatePairs('ioi', { n: 2, seed: 1, tokenizer: anyAnswer }), 'no pair could be made', 'cannot spell the prompts');
});
