/** Patching split over worker threads gives the single-thread result, and cancels cleanly. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PatchbenchError } from '../../main/engine/errors.ts';
import { HookedModel } from '../../main/engine/model.ts';
import { PartPool } from '../../main/engine/parallel/pool.ts';
import { KINDS } from '../../main/engine/patching/components.ts';
import { runPatching, type PatchRequest } from '../../main/engine/patching/index.ts';
import { tokenizePairs } from '../../main/engine/patching/pairs.ts';
import { assertClose, readJson, TINY } from '../helpers.ts';

describe('worker threads', () => {
  let model: HookedModel;
  let pool: PartPool;
  before(async () => {
    model = await HookedModel.load(TINY);
    pool = await PartPool.start(model, 3);
  });
  after(async () => {
    await pool.dispose();
    model.dispose();
  });

  test('three threads agree with one, for both methods and with verification', async () => {
    const spec = readJson(`${TINY}/expected/ioi-denoising.spec.json`);
    const pairs = tokenizePairs(model, spec.pairs);
    for (const req of [
      { direction: 'denoising', metric: 'logit-diff', kinds: [...KINDS], method: 'both' },
      { direction: 'noising', metric: 'prob-diff', kinds: ['head_z', 'resid_pre'], method: 'attribution', verifyTop: 3 },
    ] as PatchRequest[]) {
      const one = await runPatching(model, pairs, req);
      const progress: number[] = [];
      const three = await runPatching(model, pairs, req, { runner: pool.runner, onProgress: (p) => progress.push(p.done / p.total) });
      assert.ok(Math.abs(one.metric.clean - three.metric.clean) < 1e-5);
      for (let i = 0; i < one.kinds.length; i++) {
        assertClose(three.kinds[i].attribution ?? [], one.kinds[i].attribution ?? [], 1e-5, `${one.kinds[i].kind} attribution`);
        const nan = (a?: Float32Array) => Array.from(a ?? [], (x) => (Number.isNaN(x) ? 1e9 : x));
        assertClose(nan(three.kinds[i].activation), nan(one.kinds[i].activation), 1e-5, `${one.kinds[i].kind} activation`);
      }
      assert.ok(progress.length > 0 && progress.every((f) => f >= 0 && f <= 1));
    }
  });

  test('cancelling stops every thread', async () => {
    const spec = readJson(`${TINY}/expected/ioi-denoising.spec.json`);
    const pairs = tokenizePairs(model, spec.pairs);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(
      runPatching(model, pairs, { direction: 'denoising', metric: 'logit-diff', kinds: ['neuron', 'head_z_pos'], method: 'activation' }, { runner: pool.runner, signal: ac.signal }),
      (e: unknown) => e instanceof PatchbenchError && e.code === 'cancelled',
    );
    // the pool still works afterwards
    const r = await runPatching(model, pairs, { direction: 'denoising', metric: 'logit-diff', kinds: ['head_z'], method: 'attribution' }, { runner: pool.runner });
    assert.equal(r.kinds[0].attribution!.length, 8);
  });
});
