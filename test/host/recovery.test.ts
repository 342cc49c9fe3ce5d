/**
 * An engine that always recovers, through the Host both the desktop app and the browser host use:
 * a job whose engine dies or whose wasm heap fails ends in words, a fresh engine with the model
 * reloaded answers the next request, and the next job succeeds.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { PromptPair } from '../../shared/contract.ts';
import { Host } from '../../main/host/host.ts';
import type { JobDone } from '../../main/host/jobs.ts';
import type { PatchingResult } from '../../shared/contract.ts';
import { HostError } from '../../main/host/errors.ts';

const MODEL = new URL('../fixtures/gpt2-tiny-random', import.meta.url).pathname;
let host: Host;
let pairs: PromptPair[];

before(async () => {
  host = new Host({ kind: 'web', throttleMs: 0 });
  await host.start();
  await host.engine.call('load', { dir: MODEL }).result;
  pairs = await host.engine.call('generate', { task: 'induction', n: 32, seed: 3 }).result;
});
after(() => host.stop());

/** Starts a job and resolves with its outcome. */
async function job(kinds: string[], method: string, onRunning?: () => void): Promise<JobDone<PatchingResult>> {
  const answer = await host.invoke('job:start', { pairs, request: { direction: 'denoising', metric: 'logit-diff', kinds, method } });
  assert.ok(answer.ok, JSON.stringify(answer));
  const { jobId } = answer.value as { jobId: string };
  return new Promise((resolve) => {
    let told = false;
    const progress = (p: { jobId: string; done: number }) => {
      if (p.jobId === jobId && p.done > 2 && !told) (told = true), onRunning?.();
    };
    const done = (d: JobDone<PatchingResult>) => {
      if (d.jobId !== jobId) return;
      host.off('job:progress', progress);
      host.off('job:done', done as never);
      resolve(d);
    };
    host.on('job:progress', progress);
    host.on('job:done', done as never);
  });
}

test('the engine killed mid-job: the job fails in words, and the next job succeeds on the reloaded model', async () => {
  const killed = await job(['head_z_pos', 'neuron'], 'activation', () => {
    void host.engine.call('crash', { exitCode: 9 }).result.catch(() => {});
  });
  assert.equal(killed.state, 'failed');
  assert.equal(killed.error?.code, 'engine-crashed');
  assert.match(killed.error!.message, /stopped unexpectedly \(exit code 9\).*restarted/);
  const next = await job(['head_z'], 'both');
  assert.equal(next.state, 'succeeded', JSON.stringify(next.error));
  assert.equal(next.result!.kinds[0].activation!.length, 8);
});

test('a failed wasm heap: the request fails in words, and the engine is replaced before the next one', async () => {
  await assert.rejects(host.engine.call('crash', { heap: true }).result, (e: HostError) => {
    assert.equal(e.code, 'engine-crashed');
    assert.match(e.message, /memory access out of bounds.*restarted and the model reloaded/);
    return true;
  });
  // Asked at once: answered by the new engine, after the model was loaded again.
  const current = await host.invoke('model:current', undefined);
  assert.ok(current.ok && (current.value as { name: string } | null)?.name === 'gpt2-tiny-random', JSON.stringify(current));
  const next = await job(['resid_pre'], 'attribution');
  assert.equal(next.state, 'succeeded', JSON.stringify(next.error));
  // Replacing an engine after a failed job is not a crash loop: it works every time.
  for (let i = 0; i < 4; i++) await host.engine.call('crash', { heap: true }).result.catch(() => {});
  assert.equal((await job(['head_z'], 'attribution')).state, 'succeeded');
});
