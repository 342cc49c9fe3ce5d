// The IPC contract: its validator, its agreement with the engine, and the host's handling of bad requests.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHANNELS, CHANNEL_NAMES, EVENT_NAMES, IOI_CORRUPTION_NAMES, KIND_NAMES, METRIC_NAMES, TASK_NAMES } from '../../shared/contract.ts';
import { s, SchemaError } from '../../shared/schema.ts';
import { decodeFrame, encodeFrame } from '../../shared/wire.ts';
import { KINDS } from '../../main/engine/patching/components.ts';
import { METRICS } from '../../main/engine/metrics.ts';
import { IOI_CORRUPTIONS, TASKS } from '../../main/engine/tasks/index.ts';
import { Host } from '../../main/host/host.ts';

test('contract names of kinds, metrics, tasks and corruptions equal the engine’s', () => {
  assert.deepEqual([...KIND_NAMES], [...KINDS]);
  assert.deepEqual([...METRIC_NAMES], Object.keys(METRICS));
  assert.deepEqual([...TASK_NAMES], Object.keys(TASKS));
  assert.deepEqual([...IOI_CORRUPTION_NAMES].sort(), [...IOI_CORRUPTIONS].sort());
});

test('every channel is named domain:verb and has request and response schemas', () => {
  for (const c of [...CHANNEL_NAMES, ...EVENT_NAMES]) assert.match(c, /^[a-z]+:[a-zA-Z]+$/);
  for (const c of CHANNEL_NAMES) {
    assert.equal(typeof CHANNELS[c].request.parse, 'function');
    assert.equal(typeof CHANNELS[c].response.parse, 'function');
  }
  for (const c of ['models:list', 'model:load', 'model:predict', 'pairs:generate', 'pairs:tokenize', 'job:start', 'job:cancel']) assert.ok(CHANNEL_NAMES.includes(c as never), c);
  for (const e of ['job:progress', 'job:done']) assert.ok(EVENT_NAMES.includes(e as never), e);
});

test('schemas accept valid values and name the path of what is wrong', () => {
  const req = CHANNELS['job:start'].request;
  const ok = { pairs: [{ clean: 'a b', corrupted: 'a c', answer: ' x', wrong: ' y' }], request: { direction: 'denoising', metric: 'logit-diff', kinds: ['head_z'], method: 'attribution', verifyTop: 5 } };
  assert.deepEqual(req.parse(ok), ok);
  const bad = (v: unknown, re: RegExp) => assert.throws(() => req.parse(v, 'request'), (e: Error) => e instanceof SchemaError && re.test(e.message));
  bad({ ...ok, pairs: [{ ...ok.pairs[0], clean: 3 }] }, /request\.pairs\[0\]\.clean must be a string, but is number 3/);
  bad({ ...ok, request: { ...ok.request, kinds: ['head_x'] } }, /request\.request\.kinds\[0\] must be one of 'resid_pre'/);
  bad({ ...ok, request: { ...ok.request, verifyTop: 0.5 } }, /verifyTop must be an integer/);
  bad({ ...ok, request: { ...ok.request, kinds: [] } }, /needs at least 1 item/);
  bad({ ...ok, extra: 1 }, /extra is not a known field/);
  bad({ ...ok, pairs: [] }, /needs at least 1 item/);
  bad(null, /request must be an object, but is null/);
  assert.equal(CHANNELS['models:list'].request.parse(undefined), undefined);
  assert.throws(() => CHANNELS['models:list'].request.parse({ x: 1 }), SchemaError);
  assert.throws(() => s.number().parse(NaN, 'n'), /n must be a finite number, but is NaN/);
  assert.equal(Number.isNaN(s.anyNumber().parse(NaN)), true);
});

test('the host answers a malformed request with bad-request, without touching the engine', async () => {
  const host = new Host({ kind: 'web' });
  const r1 = await host.invoke('model:load', { dir: 42 });
  assert.deepEqual(r1, { ok: false, error: { code: 'bad-request', message: 'model:load: request.dir must be a non-empty string, but is number 42' } });
  const r2 = await host.invoke('fs:readEverything', {});
  assert.equal(r2.ok, false);
  assert.equal(!r2.ok && r2.error.code, 'bad-request');
  const r3 = await host.invoke('job:cancel', { jobId: 'job-99' });
  assert.deepEqual(r3, { ok: false, error: { code: 'bad-input', message: 'there is no active job job-99 (it may have finished already)' } });
  const r4 = await host.invoke('file:save', { title: 't', suggestedName: 'a.csv', text: 'x', filters: [] });
  assert.equal(!r4.ok && r4.error.code, 'unsupported');
  const r5 = await host.invoke('job:list', undefined);
  assert.deepEqual(r5, { ok: true, value: [] });
  await host.stop();
});

test('wire frames keep typed arrays, NaN and nesting', () => {
  const a = new Float32Array([1.5, NaN, -Infinity, 3e-8]);
  const msg = { type: 'answer', id: 7, answer: { ok: true, value: { kinds: [{ attribution: a, activation: new Float32Array(0) }, { ids: new Int32Array([1, -2]) }], x: NaN, y: [Infinity], s: 'é␣' } } };
  const back = decodeFrame(encodeFrame(msg)) as typeof msg;
  const kinds = back.answer.value.kinds as { attribution?: Float32Array; activation?: Float32Array; ids?: Int32Array }[];
  assert.ok(kinds[0].attribution instanceof Float32Array);
  assert.deepEqual([...kinds[0].attribution!].map(String), ['1.5', 'NaN', '-Infinity', String(Math.fround(3e-8))]);
  assert.equal(kinds[0].activation!.length, 0);
  assert.deepEqual([...kinds[1].ids!], [1, -2]);
  assert.ok(Number.isNaN(back.answer.value.x));
  assert.deepEqual(back.answer.value.y, [Infinity]);
  assert.equal(back.answer.value.s, 'é␣');
  // An odd-length header and an unaligned view still decode.
  const big = new Float32Array(10).map((_, i) => i);
  const v = decodeFrame(encodeFrame({ z: 'abc', t: big.subarray(3, 7) })) as { t: Float32Array };
  assert.deepEqual([...v.t], [3, 4, 5, 6]);
  assert.throws(() => decodeFrame(new Uint8Array([255, 255, 0, 0, 1])), /exceeds/);
});
