/**
 * The rotary families (Llama, Qwen2, Mistral, GPT-NeoX) against the float64 reference, on random
 * checkpoints the test writes (test/fixtures/generate-decoder.ts): every hook's activation, the
 * logits to 1e-4, and attribution and activation patching of every kind the family has, in both
 * directions, to 2e-3. The reference takes attribution as a central difference, so this checks the
 * hand-written backward pass (GQA sums, rotary, RMSNorm, SwiGLU, parallel residual) independently.
 */
import * as tf from '@tensorflow/tfjs-core';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HookedModel } from '../../main/engine/model.ts';
import { runPatching } from '../../main/engine/patching/index.ts';
import { DECODER_FIXTURES, writeDecoderFixture } from '../fixtures/generate-decoder.ts';
import { assertClose, TEST_BACKENDS, useBackend } from '../helpers.ts';
import { loadRefModel, type RefModel } from '../reference/model.ts';
import { patchAll, type Pairs } from '../reference/patching.ts';

const tmp = mkdtempSync(join(tmpdir(), 'patchbench-decoders-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

// Byte-level ids (BOS 256); the corrupted prompts differ at two positions, the answers are bytes.
const PAIRS: Pairs = {
  clean: [
    [256, 84, 104, 101, 32, 99, 97, 116],
    [256, 65, 32, 98, 105, 114, 100, 32],
  ],
  corrupted: [
    [256, 84, 104, 101, 32, 100, 111, 116],
    [256, 65, 32, 99, 105, 114, 101, 32],
  ],
  answer: [115, 115],
  wrong: [32, 33],
};

/** Largest |x| of a list, to scale tolerances of big activations. */
const maxAbs = (x: ArrayLike<number>) => Array.from(x).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

for (const backend of TEST_BACKENDS) {
  describe(`rotary families against the float64 reference on ${backend}`, () => {
    before(() => useBackend(backend));
    for (const [name, opts] of Object.entries(DECODER_FIXTURES)) {
      test(name, async () => {
        const dir = writeDecoderFixture(join(tmp, `${backend}-${name}`), opts);
        const ref: RefModel = loadRefModel(dir);
        const model = await HookedModel.load(dir);
        try {
          const kinds = model.info.kinds;
          assert.equal(kinds.includes('resid_mid'), !(opts.family === 'gpt_neox' && opts.parallel !== false), 'resid_mid only without parallel attention');
          // Every hook the engine calls, against the reference's value under the same name and shape.
          const refActs = new Map<string, Float64Array>();
          const refLogits = ref.forward(PAIRS.clean, (n, x) => void refActs.set(n, x.data));
          const tokens = model.tokensTensor(PAIRS.clean);
          const seen: string[] = [];
          const { final } = model.run(tokens, {
            hook: (n, x) => {
              seen.push(n);
              const want = refActs.get(n);
              assert.ok(want, `the reference has hook ${n}`);
              const got = x.dataSync();
              assertClose(got, want, 1e-4 * Math.max(1, maxAbs(want)), n);
              return x;
            },
          });
          assert.deepEqual(seen, model.hookNames(), 'hooks in forward order');
          const V = ref.config.dVocab;
          const P = PAIRS.clean[0].length;
          const logits = (await model.logits(final).array()) as number[][];
          logits.forEach((row, b) => assertClose(row, refLogits.data.subarray(((b + 1) * P - 1) * V, (b + 1) * P * V), 1e-4, `logits of prompt ${b}`));
          tf.dispose([tokens, final]);

          for (const direction of ['denoising', 'noising'] as const) {
            const want = patchAll(ref, PAIRS, { direction, metric: 'logit-diff', kinds });
            const got = await runPatching(model, PAIRS, { direction, metric: 'logit-diff', kinds, method: 'both' });
            for (const k of got.kinds) {
              const rows = want.kinds[k.kind]!;
              assert.deepEqual(k.shape.reduce((a, b) => a * b, 1), rows.length, `${k.kind} component count`);
              assertClose(k.activation!, rows.map((r) => r.activation), 2e-3, `${name} ${direction} ${k.kind} activation`);
              assertClose(k.attribution!, rows.map((r) => r.attribution), 2e-3, `${name} ${direction} ${k.kind} attribution`);
            }
          }
        } finally {
          model.dispose();
        }
      });
    }
  });
}
