// The engine worker through its client: real model, real cancellation, and recovery from a crash.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EngineClient, type EngineStatus } from '../../main/host/engine-client.ts';
import { HostError } from '../../main/host/errors.ts';

const MODEL = new URL('../fixtures/gpt2-tiny-random', import.meta.url).pathname;
let engine: EngineClient;
const statuses: EngineStatus['state'][] = [];

before(async () => {
  engine = new EngineClient();
  engine.on('status', (s) => statuses.push(s.state));
  await engine.start();
  await engine.call('load', { dir: MODEL }).result;
});
after(() => engine.stop());

test('a broken model folder is an error in words, and the loaded model stays', async () => {
  await assert.rejects(engine.call('load', { dir: '/nonexistent/model' }).result, (e: HostError) => e.code === 'bad-model' && /model folder not found/.test(e.message));
  assert.equal((await engine.call('current', undefined).result)?.name, 'gpt2-tiny-random');
});

test('a running patching job stops promptly when cancelled', async () => {
  const pairs = await engine.call('generate', { task: 'induction', n: 64, seed: 3 }).result;
  let progressed = 0;
  const h = engine.call('patch', { pairs, request: { direction: 'denoising', metric: 'logit-diff', kinds: ['resid_pre', 'head_z_pos', 'neuron'], method: 'activation' } }, () => progressed++);
  while (progressed < 3) await new Promise((r) => setTimeout(r, 10));
  const before = progressed;
  engine.cancel(h.id);
  await assert.rejects(h.result, (e: HostError) => e.code === 'cancelled');
  // Promptly: counted in progress steps after the cancel, not seconds (a loaded machine stretches those).
  assert.ok(progressed - before <= 2, `${progressed - before} progress steps after the cancel`);
});

test('when the worker dies, pending calls fail in words, a new worker starts and the model is reloaded', async () => {
  statuses.length = 0;
  const pending = engine.call('predict', { prompt: 'When Mary and John went to the store, John gave a drink to' });
  const crash = engine.call('crash', { exitCode: 3 });
  await assert.rejects(crash.result, (e: HostError) => e.code === 'engine-crashed' && /stopped unexpectedly \(exit code 3\)/.test(e.message));
  await pending.result.catch((e: HostError) => assert.equal(e.code, 'engine-crashed'));
  const info = await engine.call('current', undefined).result;
  assert.equal(info?.name, 'gpt2-tiny-random', 'the model was loaded again');
  assert.deepEqual(statuses.slice(0, 3), ['crashed', 'starting', 'ready']);
  const p = await engine.call('predict', { prompt: 'Hello world', top: 3 }).result;
  assert.equal(p.top.length, 3);
});
