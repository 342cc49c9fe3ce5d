/**
 * The engine against the team's independent float64 reference (test/fixtures): token ids,
 * logits, top-5, every hook's statistics, and attribution and activation patching for every kind,
 * both directions, with and without BOS — on every backend the engine must support.
 */
import * as tf from '@tensorflow/tfjs-core';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HookedModel } from '../../main/engine/model.ts';
import { KINDS, type Kind } from '../../main/engine/patching/components.ts';
import { runPatching, type PatchingResult } from '../../main/engine/patching/index.ts';
import { tokenizePairs } from '../../main/engine/patching/pairs.ts';
import { assertClose, readJson, TEST_BACKENDS, TINY, useBackend } from '../helpers.ts';

const SPECS = ['ioi-denoising', 'ioi-noising', 'ioi-nobos'];
const load = (name: string) => ({
  spec: readJson(`${TINY}/expected/${name}.spec.json`),
  expected: readJson(`${TINY}/expected/${name}.expected.json`),
});

for (const backend of TEST_BACKENDS) {
  describe(`reference parity on ${backend}`, () => {
    let model: HookedModel;
    before(async () => {
      await useBackend(backend);
      model = await HookedModel.load(TINY);
      assert.ok(model.info.backend.startsWith(backend), `${model.info.backend} runs on ${backend}`);
    });
    after(() => model.dispose());

    for (const name of SPECS) {
      test(`${name}: tokens, logits, top-5 and hook statistics`, async () => {
        const { spec, expected } = load(name);
        const bos = spec.prepend_bos ?? true;
        const pairs = tokenizePairs(model, spec.pairs, bos);
        assert.deepEqual(pairs.clean, expected.tokens.clean);
        assert.deepEqual(pairs.corrupted, expected.tokens.corrupted);
        assert.deepEqual(pairs.answer, expected.tokens.answer);
        assert.deepEqual(pairs.wrong, expected.tokens.wrong);

        const cache = new Map<string, tf.Tensor>();
        const tokens = model.tokensTensor(pairs.clean);
        const { final } = model.run(tokens, { hook: (n, x) => (cache.set(n, tf.keep(x)), x) });
        const logits = model.logits(final);
        const rows = (await logits.array()) as number[][];
        rows.forEach((row, b) => {
          assertClose(row.slice(0, 16), expected.clean_last_logits_first16[b], 1e-4 * 20, `logits of prompt ${b}`);
          const top5 = row.map((v, i) => [v, i]).sort((a, c) => c[0] - a[0]).slice(0, 5).map((x) => x[1]);
          assert.deepEqual(top5, expected.clean_top5[b], `top-5 of prompt ${b}`);
        });
        assert.deepEqual([...cache.keys()].sort(), Object.keys(expected.clean_cache_stats).sort(), 'hook names');
        for (const [hook, [sum, sumSq]] of Object.entries(expected.clean_cache_stats) as [string, [number, number]][]) {
          const x = cache.get(hook)!;
          const s = (await tf.sum(x).data())[0];
          const ss = (await tf.sum(tf.square(x)).data())[0];
          assert.ok(Math.abs(ss - sumSq) <= 1e-4 * sumSq, `${hook}: sum of squares ${ss} vs ${sumSq}`);
          assert.ok(Math.abs(s - sum) <= 1e-4 * Math.max(Math.abs(sum), Math.sqrt(sumSq)), `${hook}: sum ${s} vs ${sum}`);
        }
        tf.dispose([...cache.values(), tokens, final, logits]);
      });

      test(`${name}: attribution and activation patching of every kind match to 1e-3`, async () => {
        const { spec, expected } = load(name);
        const pairs = tokenizePairs(model, spec.pairs, spec.prepend_bos ?? true);
        const kinds = (spec.kinds ?? [...KINDS]) as Kind[];
        const result: PatchingResult = await runPatching(model, pairs, { direction: spec.direction, metric: 'logit-diff', kinds, method: 'both' });
        assert.ok(Math.abs(result.metric.clean - expected.metric.clean_logit_diff) < 1e-4);
        assert.ok(Math.abs(result.metric.corrupted - expected.metric.corrupted_logit_diff) < 1e-4);
        assert.deepEqual(result.kinds.map((k) => k.kind), Object.keys(expected.kinds));
        for (const k of result.kinds) {
          const rows = expected.kinds[k.kind] as { index: number[]; attribution: number; activation: number }[];
          assert.equal(k.attribution!.length, rows.length, `${k.kind}: component count`);
          assertClose(k.attribution!, rows.map((r) => r.attribution), 1e-3, `${k.kind} attribution`);
          assertClose(k.activation!, rows.map((r) => r.activation), 1e-3, `${k.kind} activation`);
        }
      });
    }

    test('no tensors leak across a patching run', async () => {
      const { spec } = load('ioi-denoising');
      const pairs = tokenizePairs(model, spec.pairs);
      const req = { direction: 'denoising' as const, metric: 'logit-diff' as const, kinds: [...KINDS], method: 'both' as const };
      await runPatching(model, pairs, req); // warms per-model caches (masks, transposed weights)
      const before = tf.memory().numTensors;
      await runPatching(model, pairs, req);
      await runPatching(model, pairs, { ...req, method: 'attribution', verifyTop: 3 });
      assert.equal(tf.memory().numTensors, before);
    });
  });
}
