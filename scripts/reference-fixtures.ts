/**
 * Regenerates test/fixtures/expected/NAME.{spec,expected}.json for the generated checkpoints of
 * test/fixtures/generate.ts with the project's float64 reference (test/reference): writes each
 * checkpoint, draws token-id prompt pairs from the fixture's seed, and records the reference's
 * logits, hook statistics and attribution and activation patching of every kind.
 *
 *   npm run fixtures:reference [-- NAME ...]      (default: every fixture)
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mulberry32 } from '../main/engine/tasks/random.ts';
import { FIXTURE_VOCAB, FIXTURES, writeFixture } from '../test/fixtures/generate.ts';
import { loadRefModel } from '../test/reference/model.ts';
import { patchAll, PatchingRun, type Direction, type Pairs } from '../test/reference/patching.ts';

const root = new URL('..', import.meta.url).pathname;
const out = join(root, 'test/fixtures/expected');
const tmp = join(root, '.cache/reference-fixtures');
const DIRECTION: Record<string, Direction> = { 'f16-noprefix-attnbias': 'noising' };

const names = process.argv.slice(2);
for (const n of names) if (!(n in FIXTURES)) throw new Error(`no fixture "${n}" (have: ${Object.keys(FIXTURES).join(', ')})`);
mkdirSync(out, { recursive: true });

for (const name of names.length ? names : Object.keys(FIXTURES)) {
  const o = FIXTURES[name];
  const t0 = performance.now();
  const model = loadRefModel(writeFixture(join(tmp, name), o));
  // Three pairs of 7 tokens (BOS first) that differ at positions 2 and 4, from the fixture's seed.
  const rng = mulberry32(o.seed + 1000);
  const tok = () => Math.floor(rng() * (FIXTURE_VOCAB - 1));
  const P = 7;
  const raw = Array.from({ length: 3 }, () => {
    const clean = [FIXTURE_VOCAB - 1, ...Array.from({ length: P - 1 }, tok)];
    const corrupted = [...clean];
    corrupted[2] = tok();
    corrupted[4] = tok();
    return { clean, corrupted, answer: tok(), wrong: tok() };
  });
  const pairs: Pairs = { clean: raw.map((p) => p.clean), corrupted: raw.map((p) => p.corrupted), answer: raw.map((p) => p.answer), wrong: raw.map((p) => p.wrong) };
  const direction = DIRECTION[name] ?? 'denoising';

  const clean = new PatchingRun(model, pairs, 'noising', 'logit-diff'); // noising's base run is the clean one
  const final = clean.baseCache.get('ln_final.hook_normalized')!;
  const last = pairs.clean.map((_, b) => model.logits(final.data, (b * P + P - 1) * model.config.dModel));
  const stats = Object.fromEntries(
    [...clean.baseCache].map(([hook, x]) => [hook, [x.data.reduce((a, v) => a + v, 0), x.data.reduce((a, v) => a + v * v, 0)]]),
  );
  const result = patchAll(model, pairs, { direction, metric: 'logit-diff' });
  const expected = {
    direction,
    metric: { clean_logit_diff: result.metric.clean, corrupted_logit_diff: result.metric.corrupted },
    tokens: pairs,
    clean_last_logits_first16: last.map((l) => [...l.subarray(0, 16)]),
    clean_top5: last.map((l) => [...l.keys()].sort((a, b) => l[b] - l[a]).slice(0, 5)),
    clean_cache_stats: stats,
    kinds: result.kinds,
  };
  writeFileSync(join(out, `${name}.expected.json`), JSON.stringify(expected));
  writeFileSync(join(out, `${name}.spec.json`), JSON.stringify({ direction, pairs: raw }, null, 1));
  console.log(`${name}: ${Object.values(result.kinds).reduce((a, k) => a + k!.length, 0)} components in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
rmSync(tmp, { recursive: true, force: true });
