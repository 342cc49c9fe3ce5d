/**
 * `npm run bench:pairs -- [--size demo|small] [--counts 1000,2500,…] [--threads 1] [--pos 16]`
 *
 * Peak memory against the number of pairs, for attribution patching of every kind: `demo` on the
 * bundled demo model with IOI pairs (default 1,000 to 10,000), `small` on a random checkpoint of
 * GPT-2 small's shape with random 16-token pairs (default 250 to 2,000). Each count runs in its own
 * process, so each peak RSS is that job's alone. Jobs plan their batches from the model's size and
 * the heap's headroom (engine/patching/batches.ts), so the peak should stay flat as pairs grow.
 * Prints one line per count, then one JSON object.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bundledModelDir } from '../engine/discovery.ts';
import { HookedModel } from '../engine/model.ts';
import { PartPool } from '../engine/parallel/pool.ts';
import { KINDS } from '../engine/patching/components.ts';
import { runPatching } from '../engine/patching/index.ts';
import { tokenizePairs } from '../engine/patching/pairs.ts';
import type { TokenizedPairs } from '../engine/patching/runs.ts';
import { generatePairs } from '../engine/tasks/index.ts';
import { randomGpt2, randomPairs } from './checkpoints.ts';

const DEFAULT_COUNTS = { demo: '1000,2500,5000,10000', small: '250,500,1000,2000' };

const { values: a } = parseArgs({
  options: {
    size: { type: 'string', default: 'demo' },
    counts: { type: 'string' },
    threads: { type: 'string', default: '1' },
    pos: { type: 'string', default: '16' },
    one: { type: 'string' },
  },
});
const size = a.size as keyof typeof DEFAULT_COUNTS;
if (!(size in DEFAULT_COUNTS)) throw new Error(`--size ${a.size}: use demo or small`);

/** One job in this process: prints {pairs, seconds, batches, peak_rss_bytes}. */
async function one(n: number) {
  const model = await HookedModel.load(size === 'demo' ? bundledModelDir() : randomGpt2('small'));
  const pairs: TokenizedPairs =
    size === 'demo' ? tokenizePairs(model, generatePairs('ioi', { n, seed: 0, tokenizer: model.tokenizer })) : randomPairs(model.config.dVocab, n, Number(a.pos));
  const threads = Number(a.threads);
  const pool = threads > 1 ? await PartPool.start(model, threads) : undefined;
  let batches = new Set<string>();
  const t0 = performance.now();
  await runPatching(model, pairs, { direction: 'denoising', metric: 'logit-diff', kinds: [...KINDS], method: 'attribution' }, {
    runner: pool?.runner,
    threads: pool?.threads,
    onProgress: (p) => batches.add(/pairs (\d+)/.exec(p.phase)?.[1] ?? '1'),
  });
  const seconds = (performance.now() - t0) / 1000;
  await pool?.dispose();
  // maxRSS is in KiB; it covers this thread and any worker threads.
  console.log(JSON.stringify({ pairs: n, seconds: +seconds.toFixed(2), batches: batches.size, peak_rss_bytes: process.resourceUsage().maxRSS * 1024 }));
  model.dispose();
}

if (a.one) await one(Number(a.one));
else {
  const rows: { pairs: number; seconds: number; batches: number; peak_rss_bytes: number }[] = [];
  if (size === 'small') randomGpt2('small'); // made once, outside the measured processes
  for (const n of (a.counts ?? DEFAULT_COUNTS[size]).split(',').map(Number)) {
    const args = ['--import', 'tsx', fileURLToPath(import.meta.url), '--size', size, '--threads', a.threads!, '--pos', a.pos!, '--one', String(n)];
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`${n} pairs: the job failed (exit ${r.status})`);
    const row = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    rows.push(row);
    console.error(`${String(n).padStart(6)} pairs  ${(row.peak_rss_bytes / 2 ** 30).toFixed(2)} GiB peak RSS  ${row.batches} batches  ${row.seconds} s`);
  }
  console.log(JSON.stringify({ model: size, threads: Number(a.threads), kinds: 'all', method: 'attribution', runs: rows }));
}
