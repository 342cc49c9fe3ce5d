/**
 * Parity on checkpoints the tests write themselves (test/fixtures/generate.ts) in every layout the
 * loader reads — F16, no key prefix, attn.bias buffers, shards, an untied lm_head, n_inner — against
 * float64 reference outputs committed in test/fixtures/expected.
 */
import * as tf from '@tensorflow/tfjs-core';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { HookedModel } from '../../main/engine/model.ts';
import { KINDS } from '../../main/engine/patching/components.ts';
import { runPatching } from '../../main/engine/patching/index.ts';
import { FIXTURES, writeFixture } from '../fixtures/generate.ts';
import { assertClose, readJson, ROOT } from '../helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'patchbench-fixtures-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('generated checkpoints against the float64 reference', () => {
  for (const [name, opts] of Object.entries(FIXTURES)) {
    test(name, async () => {
      const spec = readJson(join(ROOT, `test/fixtures/expected/${name}.spec.json`));
      const expected = readJson(join(ROOT, `test/fixtures/expected/${name}.expected.json`));
      const model = await HookedModel.load(writeFixture(join(tmp, name), opts));
      try {
        assert.equal(model.info.dtypes.join(), opts.f16 ? 'F16' : 'F32');
        assert.equal(model.config.dMlp, opts.dMlp ?? 4 * opts.dModel);
        const pairs = {
          clean: spec.pairs.map((p: any) => p.clean),
          corrupted: spec.pairs.map((p: any) => p.corrupted),
          answer: spec.pairs.map((p: any) => p.answer),
          wrong: spec.pairs.map((p: any) => p.wrong),
        };
        const tokens = model.tokensTensor(pairs.clean);
        const { final } = model.run(tokens);
        const logits = (await model.logits(final).array()) as number[][];
        logits.forEach((row, b) => assertClose(row.slice(0, 16), expected.clean_last_logits_first16[b], 2e-4 * 10, `logits ${b}`));
        tf.dispose([tokens, final]);
        const result = await runPatching(model, pairs, { direction: spec.direction, metric: 'logit-diff', kinds: [...KINDS], method: 'both' });
        for (const k of result.kinds) {
          const rows = expected.kinds[k.kind] as { attribution: number; activation: number }[];
          assertClose(k.attribution!, rows.map((r) => r.attribution), 1e-3, `${name} ${k.kind} attribution`);
          assertClose(k.activation!, rows.map((r) => r.activation), 1e-3, `${name} ${k.kind} activation`);
        }
      } finally {
        model.dispose();
      }
    });
  }
});
