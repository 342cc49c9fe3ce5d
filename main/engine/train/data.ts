/**
 * Training data for the demo model: the task library's sentences (taskText), tokenized with a BOS
 * token in front (prompts are BOS-prefixed at inference), scored at every position with next-token
 * cross-entropy, and the task's answer token weighted up. Each step draws fresh sentences from its
 * own seed, so the model never sees the same batch twice and every run is reproducible.
 */
import type { Tokenizer } from '../tokenizer.ts';
import { taskText, type TaskName } from '../tasks/index.ts';
import { NAMES, PRONOUNS } from '../tasks/words.ts';
import type { Batch } from './grad.ts';

export interface Example {
  task: TaskName;
  /** BOS followed by the sentence's tokens */
  ids: number[];
  /** index in `ids` of the answer token: the IOI indirect object, the pronoun, the last induction word */
  answer: number;
  /** induction: the first index whose token can be copied from the earlier occurrence (the second word of the repeat) */
  copyFrom?: number;
}

export class ExampleMaker {
  private readonly names: Set<number>;
  private readonly pronouns: Set<number>;

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly bos: number,
  ) {
    const id = (s: string) => {
      const t = tokenizer.tokenId(s);
      if (t === undefined) throw new Error(`${JSON.stringify(s)} is not a single token`);
      return t;
    };
    this.names = new Set(NAMES.map((n) => id(` ${n.name}`)));
    this.pronouns = new Set(Object.values(PRONOUNS).map(id));
  }

  example(task: TaskName, sentence: string): Example {
    const ids = [this.bos, ...this.tokenizer.encode(sentence)];
    let answer = -1;
    if (task === 'ioi') {
      // "…, S gave a drink to IO." — the last name is the answer
      for (let i = ids.length - 1; i > 0 && answer < 0; i--) if (this.names.has(ids[i])) answer = i;
    } else if (task === 'pronoun') {
      answer = ids.findIndex((t) => this.pronouns.has(t));
    } else {
      answer = ids.length - 1;
      // " A B C D A B C": the words of the first half are distinct, so the repeat starts where the first word recurs
      const repeat = ids.indexOf(ids[1], 2);
      if (repeat < 0) throw new Error(`induction: no repeat in ${JSON.stringify(sentence)}`);
      if (answer < 2) throw new Error(`${task}: no answer token found in ${JSON.stringify(sentence)}`);
      return { task, ids, answer, copyFrom: repeat + 1 };
    }
    if (answer < 2) throw new Error(`${task}: no answer token found in ${JSON.stringify(sentence)}`);
    return { task, ids, answer };
  }

  /** `counts[task]` fresh sentences per task; deterministic per seed. */
  draw(counts: Partial<Record<TaskName, number>>, seedOf: (task: TaskName) => number): Example[] {
    const out: Example[] = [];
    for (const [task, n] of Object.entries(counts) as [TaskName, number][]) {
      if (n > 0) for (const s of taskText(task, { n, seed: seedOf(task) })) out.push(this.example(task, s));
    }
    return out;
  }
}

/**
 * Packs examples into a right-padded batch. Every next-token prediction has weight 1, the one
 * predicting the answer `answerWeight`, and in induction sequences those of the other words that
 * can be copied from the first occurrence `copyWeight`; padding has weight 0.
 */
export function toBatch(examples: Example[], answerWeight: number, pad: number, copyWeight = 1): Batch {
  const n = examples.length;
  const p = Math.max(...examples.map((e) => e.ids.length));
  const tokens = new Int32Array(n * p).fill(pad);
  const targets = new Int32Array(n * p).fill(pad);
  const weights = new Float32Array(n * p);
  examples.forEach((e, i) => {
    const row = i * p;
    for (let j = 0; j < e.ids.length; j++) tokens[row + j] = e.ids[j];
    for (let j = 0; j + 1 < e.ids.length; j++) {
      targets[row + j] = e.ids[j + 1];
      weights[row + j] = j + 1 === e.answer ? answerWeight : e.copyFrom !== undefined && j + 1 >= e.copyFrom ? copyWeight : 1;
    }
  });
  return { n, p, tokens, targets, weights };
}

/**
 * Splits a step's examples between `shards` threads with similar work, and each shard into
 * `chunks` batches of similar length (sorted by length, dealt out in a snake so every shard gets
 * long and short ones), which keeps padding small.
 */
export function shardExamples(examples: Example[], shards: number, chunks: number): Example[][][] {
  const sorted = examples.slice().sort((a, b) => b.ids.length - a.ids.length);
  const perShard: Example[][] = Array.from({ length: shards }, () => []);
  sorted.forEach((e, i) => {
    const round = Math.floor(i / shards);
    const k = i % shards;
    perShard[round % 2 === 0 ? k : shards - 1 - k].push(e);
  });
  return perShard.map((list) => {
    const size = Math.ceil(list.length / chunks);
    const out: Example[][] = [];
    for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
    return out;
  });
}
