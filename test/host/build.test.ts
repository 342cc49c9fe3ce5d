// The desktop app's build: the bundled engine worker runs, and patches on the bundled thread-pool
// worker (out/app/worker-entry.mjs, started beside it) with the same results as the source tree.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import { buildMain } from '../../main/app/build.ts';
import { EngineClient } from '../../main/host/engine-client.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUT = `${ROOT}out/test-app`;
const MODEL = new URL('../fixtures/gpt2-tiny-random', import.meta.url).pathname;
const clients: EngineClient[] = [];
after(async () => {
  await Promise.all(clients.map((c) => c.stop()));
  rmSync(OUT, { recursive: true, force: true });
});

test('the bundled engine worker patches on two bundled pool threads, as the source tree does on one', async () => {
  await buildMain(OUT);
  for (const f of ['main.js', 'engine-worker.js', 'worker-entry.mjs', 'preload.cjs']) assert.ok(existsSync(`${OUT}/${f}`), f);
  assert.match(readFileSync(`${OUT}/engine-worker.js`, 'utf8'), /new URL\("\.\/worker-entry\.mjs", import\.meta\.url\)/);
  const env = { PATCHBENCH_POOL_MIN_PARAMS: process.env.PATCHBENCH_POOL_MIN_PARAMS, PATCHBENCH_THREADS: process.env.PATCHBENCH_THREADS };
  process.env.PATCHBENCH_POOL_MIN_PARAMS = '0';
  process.env.PATCHBENCH_THREADS = '2';
  const built = new EngineClient({ workerUrl: pathToFileURL(`${OUT}/engine-worker.js`) });
  clients.push(built);
  let builtBackend: string;
  try {
    builtBackend = await built.start();
  } finally {
    for (const [k, v] of Object.entries(env)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  }
  const source = new EngineClient();
  clients.push(source);
  // The bundle finds the native matmul where the source tree does (two levels up), if it was built.
  assert.equal(builtBackend, await source.start());
  for (const c of [built, source]) await c.call('load', { dir: MODEL }).result;
  const pairs = await source.call('generate', { task: 'ioi', n: 6, seed: 4 }).result;
  const request = { direction: 'denoising' as const, metric: 'logit-diff' as const, kinds: ['head_z' as const, 'mlp_out' as const], method: 'both' as const };
  const [a, b] = await Promise.all([built.call('patch', { pairs, request }).result, source.call('patch', { pairs, request }).result]);
  assert.equal(a.threads, 2, 'split over two threads');
  assert.equal(b.threads, 1);
  for (let i = 0; i < a.kinds.length; i++) {
    for (const m of ['attribution', 'activation'] as const) {
      const x = a.kinds[i][m]!;
      const y = b.kinds[i][m]!;
      for (let j = 0; j < x.length; j++) assert.ok(Math.abs(x[j] - y[j]) < 1e-3 * Math.max(1, Math.abs(y[j])), `${a.kinds[i].kind} ${m}[${j}]: ${x[j]} vs ${y[j]}`);
    }
  }
});
