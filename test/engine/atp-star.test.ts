/**
 * AtP* (QK fix, GradDrop, the scores and the cost of verified recall) against the float64
 * reference, which computes each by its definition with no backward pass (test/reference/atp-star.ts);
 * and on a model whose attention is saturated by construction, where plain attribution of keys is
 * blind and the QK fix is not.
 */
import * as tf from '@tensorflow/tfjs-core';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HookedModel } from '../../main/engine/model.ts';
import { KINDS } from '../../main/engine/patching/components.ts';
import { runPatching, type KindResult, type PatchRequest } from '../../main/engine/patching/index.ts';
import { combineParts, type PartResult } from '../../main/engine/patching/part.ts';
import { tokenizePairs } from '../../main/engine/patching/pairs.ts';
import { rankingOrder, verifiedRecall } from '../../main/engine/patching/recall.ts';
import { writeFixture } from '../fixtures/generate.ts';
import { DECODER_FIXTURES, writeDecoderFixture } from '../fixtures/generate-decoder.ts';
import { assertClose, readJson, TINY, useBackend } from '../helpers.ts';
import { atpStar, type AtpStarReference } from '../reference/atp-star.ts';
import { loadRefModel } from '../reference/model.ts';
import { PatchingRun } from '../reference/patching.ts';

/** At most `n` components spread over the kind (the reference takes ~0.1 s per component). */
const spread = (total: number, n: number) => Array.from({ length: Math.min(total, n) }, (_, i) => Math.floor((i * total) / Math.min(total, n)));

describe('AtP* against the float64 reference', () => {
  let model: HookedModel;
  before(async () => {
    await useBackend('wasm');
    model = await HookedModel.load(TINY);
  });
  after(() => model.dispose());

  for (const direction of ['denoising', 'noising'] as const) {
    test(`${direction}: attribution_qk and every score of every kind match to 2e-3`, async () => {
      const spec = readJson(`${TINY}/expected/ioi-${direction}.spec.json`);
      const pairs = tokenizePairs(model, spec.pairs.slice(0, 2), true); // two: per-pair magnitudes differ from |mean|
      const result = await runPatching(model, pairs, { direction, metric: 'logit-diff', kinds: [...KINDS], method: 'attribution', qkFix: true, gradDrop: true });
      const run = new PatchingRun(loadRefModel(TINY), pairs, direction, 'logit-diff');
      let moved = 0;
      for (const k of result.kinds) {
        const pick = spread(k.attribution!.length, k.kind.startsWith('head_') && k.kind !== 'head_z_pos' ? 64 : 10);
        const ref: AtpStarReference = atpStar(run, k.kind, pick);
        const at = (a: Float32Array | undefined) => pick.map((i) => a![i]);
        const qk = k.kind === 'head_q' || k.kind === 'head_k';
        assertClose(at(k.scores!.atp), ref.score_atp, 2e-3, `${direction} ${k.kind} score_atp`);
        assertClose(at(k.scores!.graddrop), ref.score_graddrop, 2e-3, `${direction} ${k.kind} score_graddrop`);
        // away from head_q/head_k the QK fix changes nothing: atp_qk is atp, atp_star is GradDrop
        assertClose(at(k.scores!.atp_qk), qk ? ref.score_atp_qk! : ref.score_atp, 2e-3, `${direction} ${k.kind} score_atp_qk`);
        assertClose(at(k.scores!.atp_star), qk ? ref.score_atp_star! : ref.score_graddrop, 2e-3, `${direction} ${k.kind} score_atp_star`);
        if (qk) assertClose(at(k.attributionQk), ref.attribution_qk!, 2e-3, `${direction} ${k.kind} attribution_qk`);
        else assert.equal(k.attributionQk, undefined, `${k.kind} has no attribution_qk`);
        ref.score_graddrop.forEach((g, i) => (moved = Math.max(moved, Math.abs(g - ref.score_atp[i]))));
      }
      // GradDrop really differs from plain AtP somewhere, or the checks above would prove little
      assert.ok(moved > 0.05, `GradDrop moves some score (by ${moved})`);
    });
  }

  test('no tensors leak across an AtP* run', async () => {
    const spec = readJson(`${TINY}/expected/ioi-denoising.spec.json`);
    const pairs = tokenizePairs(model, spec.pairs, true);
    const req: PatchRequest = { direction: 'denoising', metric: 'logit-diff', kinds: [...KINDS], method: 'attribution', qkFix: true, gradDrop: true };
    const verified: PatchRequest = { ...req, method: 'both', verifyTop: 3, gradDrop: false };
    // warms per-model caches (masks of every shape, transposed weights)
    await runPatching(model, pairs, req);
    await runPatching(model, pairs, verified);
    const before = tf.memory().numTensors;
    await runPatching(model, pairs, req);
    await runPatching(model, pairs, verified);
    assert.equal(tf.memory().numTensors, before);
  });

  test('GradDrop reports a pass at a time and can be cancelled between passes', async () => {
    const spec = readJson(`${TINY}/expected/ioi-denoising.spec.json`);
    const pairs = tokenizePairs(model, spec.pairs, true);
    const ac = new AbortController();
    const phases: string[] = [];
    const before = tf.memory().numTensors;
    await assert.rejects(
      runPatching(model, pairs, { direction: 'denoising', metric: 'logit-diff', kinds: ['head_z'], method: 'attribution', gradDrop: true }, {
        signal: ac.signal,
        onProgress: (p) => {
          phases.push(p.phase);
          if (p.phase.startsWith('GradDrop') && p.done > 3) ac.abort();
        },
      }),
      /cancelled/,
    );
    assert.ok(phases.includes('GradDrop (backward passes)'));
    assert.equal(tf.memory().numTensors, before, 'a cancelled run frees its tensors');
  });
});

describe('the QK fix on saturated attention', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'patchbench-saturated-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('head_k: the fixed estimate follows activation patching where the plain one is near zero', async () => {
    await useBackend('wasm');
    // Large q/k weights saturate every softmax; a small output projection keeps what follows the
    // pattern close to linear, so the pattern's own move is the whole story.
    const model = await HookedModel.load(writeFixture(join(tmp, 'saturated'), { layers: 1, heads: 4, dModel: 32, seed: 5, std: 3, attnOutScale: 5e-4 }));
    try {
      const clean = [[256, 10, 20, 30, 40, 50, 60, 70], [256, 11, 21, 31, 41, 51, 61, 71]];
      const corrupted = clean.map((r) => r.map((t, i) => (i === 3 ? t + 100 : t)));
      const r = await runPatching(model, { clean, corrupted, answer: [65, 66], wrong: [97, 98] }, { direction: 'denoising', metric: 'logit-diff', kinds: ['head_k'], method: 'both', qkFix: true });
      const k = r.kinds[0];
      const big = [...k.activation!.keys()].filter((i) => Math.abs(k.activation![i]) > 0.1);
      assert.ok(big.length >= 2, `some keys matter (${Array.from(k.activation!)})`);
      for (const i of big) {
        const act = k.activation![i];
        assert.ok(Math.abs(k.attribution![i]) < 0.01 * Math.abs(act), `plain estimate of head ${i} is near zero: ${k.attribution![i]} vs ${act}`);
        assert.ok(Math.abs(k.attributionQk![i] - act) < 0.1 * Math.abs(act), `QK-fixed estimate of head ${i} is close: ${k.attributionQk![i]} vs ${act}`);
      }
      assert.ok(k.summaryQk!.pearson! > 0.99, `r with the fix ${k.summaryQk!.pearson}`);
    } finally {
      model.dispose();
    }
  });
});

describe('cost of verified recall', () => {
  test('a curve by hand', () => {
    // true top-2 by |activation|: components 3 and 0
    const activation = Float32Array.from([0.5, 0.1, 0, -0.9, 0.2]);
    const scores = [0.3, 0.9, 0, 0.8, 0.1]; // order 1, 3, 0, 4, 2
    const c = verifiedRecall(scores, activation, 2);
    assert.deepEqual(c.curve, [0, 0.5, 1, 1, 1]);
    assert.equal(c.verifications_to_all, 3);
    assert.equal(c.auc, 3.5 / 5);
    assert.equal(c.k, 2);
    // K is capped at the kind's size; a perfect ranking needs exactly K verifications
    const perfect = verifiedRecall(Array.from(activation, Math.abs), activation, 50);
    assert.equal(perfect.k, 5);
    assert.equal(perfect.verifications_to_all, 5);
    assert.equal(verifiedRecall(Array.from(activation, Math.abs), activation, 2).verifications_to_all, 2);
  });

  test('ranking order: largest magnitude first, ties by index, non-finite last', () => {
    assert.deepEqual(rankingOrder([0.1, -0.5, NaN, 0.5, 0.2]), [1, 3, 4, 0, 2]);
  });

  test('the run reports a curve per ranking and verifies in the chosen ranking order', async () => {
    await useBackend('wasm');
    const model = await HookedModel.load(TINY);
    try {
      const spec = readJson(`${TINY}/expected/ioi-denoising.spec.json`);
      const pairs = tokenizePairs(model, spec.pairs, true);
      const base: PatchRequest = { direction: 'denoising', metric: 'logit-diff', kinds: ['head_k', 'resid_pre'], method: 'both', qkFix: true, gradDrop: true, recallK: 3 };
      const r = await runPatching(model, pairs, { ...base, verifyTop: 4, rankBy: 'graddrop' });
      for (const k of r.kinds) {
        assert.deepEqual(Object.keys(k.recall!).sort(), ['atp', 'atp_qk', 'atp_star', 'graddrop']);
        for (const [name, c] of Object.entries(k.recall!)) {
          assert.deepEqual(c, verifiedRecall(k.scores![name as keyof KindResult['scores']]!, k.activation!, 3), `${k.kind} ${name}`);
        }
        assert.equal(k.verification!.ranking, 'graddrop');
        assert.deepEqual(k.verification!.checked, rankingOrder(k.scores!.graddrop!).slice(0, 4));
      }
      const attributionOnly = await runPatching(model, pairs, { ...base, method: 'attribution', verifyTop: 4 });
      for (const k of attributionOnly.kinds) {
        assert.equal(k.recall, undefined, 'no recall without exhaustive activation patching');
        assert.equal(k.verification!.ranking, 'atp_star', 'AtP* is the default ranking when both corrections ran');
        assert.deepEqual(k.verification!.checked, rankingOrder(k.scores!.atp_star!).slice(0, 4));
      }
      await assert.rejects(runPatching(model, pairs, { ...base, gradDrop: false, rankBy: 'graddrop', verifyTop: 2 }), /ranking "graddrop" needs GradDrop/);
    } finally {
      model.dispose();
    }
  });

  test('parts combine their scores like their estimates (pair-weighted means)', () => {
    const part = (pairs: number, v: number): PartResult => ({
      pairs,
      clean: 1,
      corrupted: 0,
      attribution: { head_z: Float32Array.of(v) },
      attributionQk: {},
      scores: { atp: { head_z: Float32Array.of(2 * v) }, graddrop: { head_z: Float32Array.of(3 * v) } },
      activation: {},
    });
    const c = combineParts([part(1, 1), part(3, 2)]);
    assert.deepEqual(Array.from(c.scores.atp!.head_z!), [(2 + 3 * 4) / 4]);
    assert.deepEqual(Array.from(c.scores.graddrop!.head_z!), [(3 + 3 * 6) / 4]);
  });
});

// The rotary decoders' backward pass honours GradDrop's skipped write and its start layer, and the
// QK fix reads q and k after rotary (grouped-query attention: head_k per KV head).
describe('AtP* on the rotary families against the float64 reference', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'patchbench-atp-star-decoders-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));
  for (const name of ['llama-gqa-bf16', 'neox-parallel']) {
    test(`${name}: attribution_qk and every score match to 2e-3`, async () => {
      await useBackend('wasm');
      const dir = writeDecoderFixture(join(tmp, name), DECODER_FIXTURES[name]);
      const model = await HookedModel.load(dir);
      try {
        const pairs = { clean: [[256, 72, 101, 108, 108, 111], [256, 87, 111, 114, 108, 100]], corrupted: [[256, 72, 97, 108, 108, 111], [256, 87, 111, 114, 116, 100]], answer: [33, 46], wrong: [63, 44] };
        const kinds = model.info.kinds.filter((k) => k !== 'neuron');
        const result = await runPatching(model, pairs, { direction: 'denoising', metric: 'logit-diff', kinds, method: 'attribution', qkFix: true, gradDrop: true });
        const run = new PatchingRun(loadRefModel(dir), pairs, 'denoising', 'logit-diff');
        let moved = 0;
        for (const k of result.kinds) {
          const pick = spread(k.attribution!.length, 6);
          const ref = atpStar(run, k.kind, pick);
          const at = (a: Float32Array | undefined) => pick.map((i) => a![i]);
          const qk = k.kind === 'head_q' || k.kind === 'head_k';
          assertClose(at(k.scores!.atp), ref.score_atp, 2e-3, `${name} ${k.kind} score_atp`);
          assertClose(at(k.scores!.graddrop), ref.score_graddrop, 2e-3, `${name} ${k.kind} score_graddrop`);
          if (qk) {
            assertClose(at(k.attributionQk), ref.attribution_qk!, 2e-3, `${name} ${k.kind} attribution_qk`);
            assertClose(at(k.scores!.atp_star), ref.score_atp_star!, 2e-3, `${name} ${k.kind} score_atp_star`);
          }
          ref.score_graddrop.forEach((g, i) => (moved = Math.max(moved, Math.abs(g - ref.score_atp[i]))));
        }
        assert.ok(moved > 0.05, `GradDrop moves some score (by ${moved})`);
      } finally {
        model.dispose();
      }
    });
  }
});
