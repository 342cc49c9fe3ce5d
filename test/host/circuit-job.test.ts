/**
 * A circuit job from the app, end to end through the browser host (a WebSocket speaking the
 * contract, as the renderer does): on the bundled demo model with IOI pairs from `pairs:generate`,
 * it reports progress, succeeds with the edge scores `runCircuit` gives for the same pairs, can be
 * cancelled mid-job (the next job then runs), and a project saved with its circuit reopens with it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import type { Answer, CircuitRequest, CircuitResult, EventPayload, JobInfo, PromptPair } from '../../shared/contract.ts';
import { decodeFrame, encodeFrame } from '../../shared/wire.ts';
import { runCircuit } from '../../main/engine/circuits/index.ts';
import { bundledModelDir } from '../../main/engine/discovery.ts';
import { HookedModel } from '../../main/engine/model.ts';
import { tokenizePairs } from '../../main/engine/patching/pairs.ts';
import { Host } from '../../main/host/host.ts';
import { startWebHost, type WebHost } from '../../main/host/web/server.ts';

const tmp = mkdtempSync(join(tmpdir(), 'patchbench-circuit-job-'));
const DEMO = bundledModelDir();
let host: Host;
let web: WebHost;
let page: Page;
let pairs: PromptPair[];

/** What the renderer's transport does: invoke by id, answers and events as binary frames. */
class Page {
  private nextId = 1;
  private answers = new Map<number, (a: Answer<unknown>) => void>();
  readonly events: { event: string; payload: unknown }[] = [];
  private listeners = new Set<(event: string, payload: unknown) => void>();
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = decodeFrame(new Uint8Array(data as Buffer)) as { type: string; id?: number; answer?: Answer<unknown>; event?: string; payload?: unknown };
      if (msg.type === 'answer') this.answers.get(msg.id!)?.(msg.answer!);
      else if (msg.type === 'event') {
        this.events.push({ event: msg.event!, payload: msg.payload });
        for (const l of this.listeners) l(msg.event!, msg.payload);
      }
    });
  }
  static open(web: WebHost): Promise<Page> {
    const ws = new WebSocket(`ws://127.0.0.1:${web.port}/${web.token}/ws`);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new Page(ws)));
      ws.once('error', reject);
    });
  }
  async call<T>(channel: string, request: unknown): Promise<T> {
    const id = this.nextId++;
    const answer = await new Promise<Answer<unknown>>((resolve) => {
      this.answers.set(id, resolve);
      this.ws.send(encodeFrame({ type: 'invoke', id, channel, request }));
    });
    if (!answer.ok) throw Object.assign(new Error(answer.error.message), { code: answer.error.code });
    return answer.value as T;
  }
  on(l: (event: string, payload: unknown) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  /** Starts a job on `channel` and resolves with its progress reports and its 'done' event. */
  async job(channel: 'circuit:start' | 'job:start', request: unknown, onProgress?: (p: JobInfo, jobId: string) => void) {
    const progress: JobInfo[] = [];
    let jobId = '';
    const early: JobInfo[] = [];
    let resolveDone!: (d: EventPayload<'job:done'>) => void;
    const done = new Promise<EventPayload<'job:done'>>((r) => (resolveDone = r));
    const off = this.on((event, payload) => {
      if (event === 'job:progress') {
        const p = payload as JobInfo;
        if (!jobId) early.push(p);
        else if (p.jobId === jobId) {
          progress.push(p);
          onProgress?.(p, jobId);
        }
      } else if (event === 'job:done' && (payload as { jobId: string }).jobId === jobId) resolveDone(payload as EventPayload<'job:done'>);
    });
    ({ jobId } = await this.call<{ jobId: string }>(channel, request));
    progress.unshift(...early.filter((p) => p.jobId === jobId));
    const d = await done;
    off();
    return { jobId, progress, done: d };
  }
  close() {
    this.ws.close();
  }
}

const request = (o: Partial<CircuitRequest> = {}): CircuitRequest => ({
  direction: 'denoising',
  metric: 'logit-diff',
  method: 'eap-ig',
  steps: 3,
  extraction: 'top-n',
  n: 30,
  curve: false,
  ...o,
});

before(async () => {
  host = new Host({ kind: 'web', throttleMs: 0 });
  await host.start();
  web = await startWebHost({ host, rendererDir: tmp });
  page = await Page.open(web);
  await page.call('model:load', { dir: DEMO });
  pairs = await page.call<PromptPair[]>('pairs:generate', { task: 'ioi', n: 64, seed: 0 });
});
after(async () => {
  page?.close();
  await web?.close();
  await host?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

test('an EAP-IG circuit job on the demo model reports progress and gives runCircuit’s edge scores and faithfulness', async () => {
  assert.equal(pairs.length, 64);
  const req = request();
  const { jobId, progress, done } = await page.job('circuit:start', { pairs, request: req });
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  const c = done.circuit!;
  assert.ok(c, 'the result comes as job:done’s circuit');
  assert.equal(done.result, undefined);

  // Progress: queued, running, the score passes (2 forward, then a step per EAP-IG step), then the circuits.
  assert.deepEqual(progress.slice(0, 2).map((p) => p.state), ['queued', 'running']);
  for (const p of progress) assert.deepEqual([p.jobId, p.kind, p.label], [jobId, 'circuit', 'EAP-IG circuit · 64 pairs']);
  const phases = progress.map((p) => p.phase);
  for (const phase of ['forward passes', 'EAP-IG step 1 of 3', 'EAP-IG step 3 of 3', 'faithfulness: patched runs']) assert.ok(phases.includes(phase), `${phase} in ${phases.join(', ')}`);
  assert.ok(phases.indexOf('EAP-IG step 3 of 3') < phases.indexOf('faithfulness: patched runs'));
  const running = progress.filter((p) => p.total > 0);
  for (let i = 1; i < running.length; i++) assert.ok(running[i].done >= running[i - 1].done, 'done never goes back');
  assert.equal(running.at(-1)!.done, running.at(-1)!.total, 'the last report is the last circuit');

  // The same pairs through the engine directly (as `patchbench circuit` runs them).
  const model = await HookedModel.load(DEMO);
  try {
    const r = await runCircuit(model, tokenizePairs(model, pairs, true), req);
    assert.equal(c.eap.length, r.graph.src.length);
    assert.ok(maxDiff(c.eap, r.eap) <= 1e-6, `eap differs by ${maxDiff(c.eap, r.eap)}`);
    assert.ok(maxDiff(c.eapIg!, r.eapIg!) <= 1e-6, `eap_ig differs by ${maxDiff(c.eapIg!, r.eapIg!)}`);
    assert.deepEqual(Array.from(c.circuit), Array.from(r.circuit));
    assert.equal(c.faithfulness.length, 1);
    assert.equal(c.faithfulness[0].ranking, 'eap_ig');
    assert.ok(Math.abs(c.faithfulness[0].faithfulness - r.faithfulness[0].faithfulness) <= 1e-5);
    assert.ok(Math.abs(c.metric!.clean - r.metric.clean) <= 1e-5 && Math.abs(c.metric!.corrupted - r.metric.corrupted) <= 1e-5);
  } finally {
    model.dispose();
  }
  assert.deepEqual(c.request, req);
  assert.deepEqual(c.graph, { nLayers: 4, nHeads: 4, nKvHeads: 4, parallelAttnMlp: false });
  assert.match(c.provenance!.backend, /^(wasm|cpu|tensorflow|webgpu)/);
  assert.ok(c.provenance!.seconds > 0);
  assert.ok(Math.abs(Date.parse(c.provenance!.date) - Date.now()) < 600_000);
  assert.equal(c.provenance!.appVersion, JSON.parse(await import('node:fs').then((fs) => fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))).version);

  // The job list keeps how it ended.
  const listed = (await page.call<JobInfo[]>('job:list', undefined)).find((j) => j.jobId === jobId);
  assert.deepEqual([listed?.state, listed?.kind, listed?.label], ['succeeded', 'circuit', 'EAP-IG circuit · 64 pairs']);
});

test('a bad circuit request is refused in words; pairs that cannot be patched fail the job with bad-input', async () => {
  await assert.rejects(page.call('circuit:start', { pairs, request: { ...request(), method: 'acdc' } }), (e: Error & { code: string }) => e.code === 'bad-request' && /request\.method/.test(e.message));
  const bad = [{ ...pairs[0], corrupted: `${pairs[0].corrupted} and more` }];
  const { done } = await page.job('circuit:start', { pairs: bad, request: request({ method: 'eap' }) });
  assert.equal(done.state, 'failed');
  assert.equal(done.error?.code, 'bad-input');
  assert.match(done.error!.message, /pair 1/);
});

test('a circuit job cancelled mid-job ends cancelled within a step, and the next job runs', async () => {
  // The curve: dozens of circuits, in batches, after the EAP-IG steps.
  const req = request({ steps: 20, curve: true });
  let cancelled = false;
  const { progress, done } = await page.job('circuit:start', { pairs, request: req }, (p, jobId) => {
    if (!cancelled && p.phase === 'EAP-IG step 2 of 20') {
      cancelled = true;
      void page.call('job:cancel', { jobId });
    }
  });
  const cancelledAt = progress.findIndex((p) => p.phase === 'EAP-IG step 2 of 20');
  assert.ok(cancelledAt >= 0, 'the job was cancelled while running');
  assert.equal(done.state, 'cancelled');
  assert.equal(done.error?.code, 'cancelled');
  assert.equal(done.circuit, undefined);
  // Promptly: the engine checks before every step, so it stops at the first step after the cancel
  // reaches it; on the demo model a step takes milliseconds, about as long as the cancel's trip
  // from the page to the engine, so a few steps may start meanwhile, never most of them.
  const after = progress.slice(cancelledAt).filter((p) => p.state === 'running');
  assert.ok(after.length <= 8, `${after.length} progress reports after the cancel: ${after.map((p) => p.phase).join(', ')}`);
  assert.ok(!progress.some((p) => p.phase.startsWith('faithfulness')), 'it stopped before the circuits');

  const next = await page.job('circuit:start', { pairs: pairs.slice(0, 8), request: request({ method: 'eap', extraction: 'greedy', n: 10 }) });
  assert.equal(next.done.state, 'succeeded', JSON.stringify(next.done.error));
  assert.ok(next.done.circuit!.circuit.some((x) => x === 1));
  const patching = await page.job('job:start', { pairs: pairs.slice(0, 8), request: { direction: 'denoising', metric: 'logit-diff', kinds: ['head_z'], method: 'attribution' } });
  assert.equal(patching.done.state, 'succeeded', JSON.stringify(patching.done.error));
  assert.equal(patching.progress[0].label, 'attribution · head_z · 8 pairs');
});

test('a project saved with the job’s circuit reopens with it, request, metric and provenance included', async () => {
  const req = request({ method: 'eap', curve: true, n: 20 });
  const { done } = await page.job('circuit:start', { pairs: pairs.slice(0, 16), request: req });
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  const c = done.circuit!;
  const path = join(tmp, 'with-circuit.patchbench');
  // What the app's Save sends: the circuit as the job gave it, with no provenance kept from a file.
  const doc = {
    pairs: pairs.slice(0, 16),
    settings: { direction: 'denoising', metric: 'logit-diff', kinds: ['head_z'], method: 'attribution', prependBos: true },
    modelDir: DEMO,
    result: null,
    view: {},
    circuit: c,
    circuitProvenance: null,
  };
  await page.call('project:save', { path, doc });
  const opened = await page.call<{ circuit: CircuitResult | null; circuitProvenance: unknown }>('project:open', { path });
  const back = opened.circuit!;
  assert.ok(back, 'the circuit is saved');
  assert.deepEqual(back.request, req);
  assert.deepEqual(back.metric, c.metric);
  assert.deepEqual(back.graph, c.graph);
  assert.deepEqual(opened.circuitProvenance, c.provenance);
  assert.deepEqual(back.provenance, c.provenance);
  assert.equal(maxDiff(back.eap, c.eap), 0);
  assert.deepEqual(Array.from(back.circuit), Array.from(c.circuit));
  assert.deepEqual(back.faithfulness, c.faithfulness);
  assert.ok(c.faithfulness.some((p) => p.ranking === 'random'), 'the curve is kept');
});
