// The job manager, with runners made of promises: states, queueing, cancellation, throttled progress.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JobInfo } from '../../shared/contract.ts';
import { HostError } from '../../main/host/errors.ts';
import { JobManager, type JobDone, type Progress } from '../../main/host/jobs.ts';
import { jobDescription } from '../../main/host/job-label.ts';

/** A runner whose jobs finish when the test says so. */
function controllable() {
  const jobs: { params: string; progress: (p: Progress) => void; resolve: (v: string) => void; reject: (e: unknown) => void; cancelled: boolean }[] = [];
  const runner = (params: string, progress: (p: Progress) => void) => {
    let resolve!: (v: string) => void, reject!: (e: unknown) => void;
    const result = new Promise<string>((res, rej) => ((resolve = res), (reject = rej)));
    const j = { params, progress, resolve, reject, cancelled: false };
    jobs.push(j);
    return {
      result,
      cancel: () => {
        j.cancelled = true;
        reject(new HostError('cancelled', 'cancelled'));
      },
    };
  };
  return { jobs, runner };
}

function record(m: JobManager<string, string>) {
  const progress: JobInfo[] = [];
  const done: JobDone<string>[] = [];
  m.on('progress', (p) => progress.push(p));
  m.on('done', (d) => done.push(d));
  return { progress, done };
}
const tick = () => new Promise((r) => setImmediate(r));

const active = (m: JobManager<string, string>) => m.list().filter((j) => j.state === 'queued' || j.state === 'running');

test('jobs run one at a time, in order, and leave the active ones when they finish', async () => {
  const { jobs, runner } = controllable();
  const m = new JobManager(runner, { throttleMs: 0 });
  const { done } = record(m);
  const a = m.start('a');
  const b = m.start('b');
  assert.deepEqual(active(m).map((j) => [j.jobId, j.state]), [[a, 'running'], [b, 'queued']]);
  assert.equal(jobs.length, 1);
  jobs[0].resolve('A');
  await tick();
  assert.deepEqual(done[0], { jobId: a, state: 'succeeded', elapsed: done[0].elapsed, result: 'A' });
  assert.deepEqual(active(m).map((j) => [j.jobId, j.state]), [[b, 'running']]);
  jobs[1].reject(new HostError('bad-input', 'pair 2: lengths differ'));
  await tick();
  assert.deepEqual(done[1].error, { code: 'bad-input', message: 'pair 2: lengths differ' });
  assert.equal(done[1].state, 'failed');
  assert.deepEqual(active(m), []);
  assert.deepEqual(m.list().map((j) => [j.jobId, j.state]), [[a, 'succeeded'], [b, 'failed']], 'finished jobs stay listed, with how they ended');
});

test('cancelling a queued job never starts it; cancelling a running one stops it', async () => {
  const { jobs, runner } = controllable();
  const m = new JobManager(runner, { throttleMs: 0 });
  const { done } = record(m);
  const a = m.start('a');
  const b = m.start('b');
  assert.equal(m.cancel(b), 'cancelled');
  assert.equal(done[0].jobId, b);
  assert.equal(done[0].state, 'cancelled');
  assert.equal(m.cancel(a), 'running');
  await tick();
  assert.equal(jobs[0].cancelled, true);
  assert.equal(done[1].state, 'cancelled');
  assert.equal(jobs.length, 1, 'b never ran');
  assert.deepEqual(active(m), []);
  assert.throws(() => m.cancel(a), /no active job/);
});

test('an unexpected error becomes an internal failure with its message', async () => {
  const m = new JobManager<string, string>(() => ({ result: Promise.reject(new TypeError('boom')), cancel() {} }), { throttleMs: 0 });
  const { done } = record(m);
  m.start('x');
  await tick();
  assert.deepEqual(done[0].error, { code: 'internal', message: 'boom' });
});

test('progress is throttled, but state changes and the last report always get through', async () => {
  const { jobs, runner } = controllable();
  let now = 0;
  const m = new JobManager(runner, { throttleMs: 100, now: () => now });
  const { progress } = record(m);
  m.start('a');
  const before = progress.length; // queued + running, sent at once
  assert.deepEqual(progress.map((p) => p.state), ['queued', 'running']);
  for (let i = 1; i <= 50; i++) {
    now += 1;
    jobs[0].progress({ phase: 'attribution', done: i, total: 50 });
  }
  assert.equal(progress.length, before, 'within 100 ms of the last report nothing more is sent');
  now += 100;
  jobs[0].progress({ phase: 'attribution', done: 50, total: 50 });
  assert.equal(progress.length, before + 1);
  assert.equal(progress.at(-1)!.done, 50);
  assert.equal(progress.at(-1)!.elapsed, 0.15);
  // A trailing report follows a burst, so the final step is not lost.
  now += 10;
  jobs[0].progress({ phase: 'activation', done: 51, total: 60 });
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(progress.at(-1)!.phase, 'activation');
  jobs[0].resolve('done');
});

test('a second identical start while the first is queued or running is refused; a different one queues', async () => {
  const { jobs, runner } = controllable();
  const m = new JobManager(runner, { throttleMs: 0 });
  const a = m.start('a');
  assert.throws(() => m.start('a'), (e: HostError) => e.code === 'bad-input' && e.message === `the same job is already running (${a}); cancel it first to start it again`);
  const b = m.start('b');
  assert.throws(() => m.start('b'), /the same job is already queued/);
  assert.deepEqual(m.list().map((j) => j.jobId), [a, b]);
  jobs[0].resolve('done');
  await tick();
  assert.notEqual(m.start('a'), a, 'once finished it may run again');
});

test('the list names each job’s kind and label, and keeps the last five finished with how they ended', async () => {
  const { jobs, runner } = controllable();
  const m = new JobManager(runner, { throttleMs: 0, describe: (p: string) => ({ kind: p.startsWith('c') ? 'circuit' : 'patching', label: `job ${p}` }) });
  const ids = ['c1', 'p2', 'p3', 'p4', 'p5', 'p6', 'c7'].map((p) => m.start(p));
  assert.deepEqual(m.list().slice(0, 2).map((j) => [j.kind, j.label, j.state]), [['circuit', 'job c1', 'running'], ['patching', 'job p2', 'queued']]);
  jobs[0].reject(new HostError('bad-input', 'pair 1: lengths differ'));
  await tick();
  assert.equal(m.cancel(ids[2]), 'cancelled');
  for (let i = 1; i < 5; i++) {
    jobs[i].resolve(`r${i}`);
    await tick();
  }
  // c1 failed, p3 was cancelled while queued, four succeeded: c1 is the oldest of six finished and has left the list.
  const list = m.list();
  assert.deepEqual(list.map((j) => [j.label, j.state]), [['job c7', 'running'], ['job p3', 'cancelled'], ['job p2', 'succeeded'], ['job p4', 'succeeded'], ['job p5', 'succeeded'], ['job p6', 'succeeded']]);
  assert.deepEqual(list[1].error, { code: 'cancelled', message: 'cancelled before it started' });
  assert.equal(list[2].phase, 'succeeded');
  assert.equal(jobs.length, 6, 'c7 ran last');
  jobs[5].resolve('r7');
  await tick();
  assert.deepEqual(m.list().map((j) => j.label), ['job p2', 'job p4', 'job p5', 'job p6', 'job c7']);
  assert.throws(() => m.cancel(ids[1]), /no active job/, 'a finished job cannot be cancelled');
});

test('job labels say what a job computes in a few words', () => {
  const pairs = Array.from({ length: 64 }, () => ({ clean: 'a', corrupted: 'b', answer: ' c', wrong: ' d' }));
  const patching = (request: Record<string, unknown>) =>
    jobDescription({ kind: 'patching', params: { pairs, request: { direction: 'denoising', metric: 'logit-diff', kinds: ['head_z', 'resid_pre', 'mlp_out'], method: 'attribution', ...request } as never } });
  assert.deepEqual(patching({}), { kind: 'patching', label: 'attribution · 3 kinds · 64 pairs' });
  assert.equal(patching({ verifyTop: 20, kinds: ['head_z'] }).label, 'attribution, verify top 20 · head_z · 64 pairs');
  assert.equal(patching({ method: 'both', qkFix: true, gradDrop: true, direction: 'noising' }).label, 'attribution + activation, AtP* · 3 kinds · 64 pairs · noising');
  const circuit = (method: 'eap' | 'eap-ig') =>
    jobDescription({ kind: 'circuit', params: { pairs: pairs.slice(0, 1), request: { direction: 'denoising', metric: 'logit-diff', method, steps: 5, extraction: 'top-n', n: 200, curve: false } } });
  assert.deepEqual(circuit('eap-ig'), { kind: 'circuit', label: 'EAP-IG circuit · 1 pair' });
  assert.equal(circuit('eap').label, 'EAP circuit · 1 pair');
});
