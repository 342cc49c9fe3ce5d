/**
 * Regenerates test/fixtures/expected/*.json: writes each generated fixture model, a spec of
 * token-id prompt pairs, and runs the team's independent float64 reference on it
 * (the team's gpt2_ref.py, given as --reference PATH; needs Debian's python3-torch).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mulberry32 } from '../main/engine/tasks/random.ts';
import { FIXTURE_VOCAB, FIXTURES, writeFixture } from '../test/fixtures/generate.ts';

const root = new URL('..', import.meta.url).pathname;
const out = join(root, 'test/fixtures/expected');
const tmp = join(root, '.cache/reference-fixtures');
const refArg = process.argv.indexOf('--reference');
const reference = refArg > 0 ? process.argv[refArg + 1] : undefined;
if (!reference) throw new Error('usage: npm run fixtures:reference -- --reference PATH/gpt2_ref.py');
mkdirSync(out, { recursive: true });
const DIRECTION: Record<string, string> = { 'f16-noprefix-attnbias': 'noising' };

for (const [name, o] of Object.entries(FIXTURES)) {
  // The reference reads one file; sharding changes only the layout, so it gets the unsharded twin.
  const dir = writeFixture(join(tmp, name), { ...o, shards: 1 });
  const rng = mulberry32(o.seed + 1000);
  const tok = () => Math.floor(rng() * (FIXTURE_VOCAB - 1));
  const P = 7;
  const pairs = Array.from({ length: 3 }, () => {
    const clean = [FIXTURE_VOCAB - 1, ...Array.from({ length: P - 1 }, tok)];
    const corrupted = [...clean];
    corrupted[2] = tok();
    corrupted[4] = tok();
    return { clean, corrupted, answer: tok(), wrong: tok() };
  });
  const spec = { model: dir, direction: DIRECTION[name] ?? 'denoising', pairs };
  const specPath = join(tmp, `${name}.spec.json`);
  writeFileSync(specPath, JSON.stringify(spec));
  const expectedPath = join(out, `${name}.expected.json`);
  execFileSync('/usr/bin/python3', [reference, specPath, expectedPath], { stdio: 'inherit' });
  writeFileSync(join(out, `${name}.spec.json`), JSON.stringify({ ...spec, model: undefined }, null, 1));
}
rmSync(tmp, { recursive: true, force: true });
