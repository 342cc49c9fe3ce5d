// The job manager, with runners made of promises: states, queueing, cancellation, throttled progress.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JobInfo } from '../../shared/contract.ts';
import { HostError } from '../../main/host/errors.ts';
import { JobManager, type JobDone, type Progress } from '../../main/host/jobs.ts';

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

test('jobs run one at a time, in order, and leave the table when they finish', async () => {
  const { jobs, runner } = controllable();
  const m = new JobManager(runner, { throttleMs: 0 });
  const { done } = record(m);
  const a = m.start('a');
  const b = m.start('b');
  assert.deepEqual(m.list().map((j) => [j.jobId, j.state]), [[a, 'running'], [b, 'queued']]);
  assert.equal(jobs.length, 1);
  jobs[0].resolve('A');
  await tick();
  assert.deepEqual(done[0], { jobId: a, state: 'succeeded', elapsed: done[0].elapsed, result: 'A' });
  assert.deepEqual(m.list().map((j) => [j.jobId, j.state]), [[b, 'running']]);
  jobs[1].reject(new HostError('bad-input', 'pair 2: lengths differ'));
  await tick();
  assert.deepEqual(done[1].error, { code: 'bad-input', message: 'pair 2: lengths differ' });
  assert.equal(done[1].state, 'failed');
  assert.deepEqual(m.list(), []);
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
  assert.deepEqual(m.list(), []);
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
