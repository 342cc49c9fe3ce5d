/**
 * Memory-bounded jobs: pairs go through batches planned from the model's size and the heap's
 * headroom, and attribution and activation patching accumulate over the batches, so a job's
 * numbers do not depend on how its pairs were split (to float32 rounding).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isEngineFailure } from '../../main/engine/errors.ts';
import { HookedModel } from '../../main/engine/model.ts';
import { bytesPerPair, planBatchPairs, planGroupRows } from '../../main/engine/patching/batches.ts';
import { KINDS } from '../../main/engine/patching/components.ts';
import { runPatching, type PatchingResult, type PatchRequest } from '../../main/engine/patching/index.ts';
import { tokenizePairs } from '../../main/engine/patching/pairs.ts';
import { generatePairs } from '../../main/engine/tasks/index.ts';
import { TINY } from '../helpers.ts';

/**
 * Every value of b within 1e-5 of a, relative to the larger of the kind's largest |value| and the
 * raw metric's size in normalised units, max(|clean|, |corrupted|)/|clean − corrupted|: float32
 * rounding of the raw metric is magnified that much by the normalisation. (The native matmul picks
 * its kernel by row count, so batches of other sizes round differently.)
 */
const REL = 1e-5;
function assertSame(a: PatchingResult, b: PatchingResult, what: string) {
  assert.ok(Math.abs(a.metric.clean - b.metric.clean) <= REL * Math.abs(a.metric.clean), `${what}: clean metric`);
  assert.ok(Math.abs(a.metric.corrupted - b.metric.corrupted) <= REL * Math.abs(a.metric.corrupted), `${what}: corrupted metric`);
  a.kinds.forEach((k, i) => {
    for (const field of ['attribution', 'activation'] as const) {
      const x = k[field];
      const y = b.kinds[i][field];
      assert.equal(!!x, !!y, `${what}: ${k.kind} ${field} present in both`);
      if (!x || !y) continue;
      const { clean, corrupted } = a.metric;
      const magnified = Math.max(Math.abs(clean), Math.abs(corrupted)) / Math.abs(clean - corrupted);
      const scale = Math.max(magnified, ...Array.from(x, (v) => (Number.isNaN(v) ? 0 : Math.abs(v))));
      for (let j = 0; j < x.length; j++) {
        if (Number.isNaN(x[j])) assert.ok(Number.isNaN(y[j]), `${what}: ${k.kind} ${field}[${j}] NaN in one only`);
        else assert.ok(Math.abs(x[j] - y[j]) <= REL * scale, `${what}: ${k.kind} ${field}[${j}] ${y[j]} vs ${x[j]} (scale ${scale})`);
      }
    }
  });
}

describe('batched jobs', () => {
  let model: HookedModel;
  before(async () => {
    model = await HookedModel.load(TINY);
  });
  after(() => model.dispose());

  for (const req of [
    { direction: 'denoising', metric: 'logit-diff', kinds: [...KINDS], method: 'both' },
    { direction: 'noising', metric: 'prob-diff', kinds: ['head_z', 'neuron', 'resid_pre'], method: 'attribution', verifyTop: 4 },
  ] as PatchRequest[]) {
    test(`${req.method}${req.verifyTop ? ' with verification' : ''}: the same numbers however the pairs are split`, async () => {
      const pairs = tokenizePairs(model, generatePairs('ioi', { n: 7, seed: 11, tokenizer: model.tokenizer }));
      const whole = await runPatching(model, pairs, req, { batchPairs: 7 });
      for (const batch of [1, 3]) {
        const phases: string[] = [];
        const fractions: number[] = [];
        const split = await runPatching(model, pairs, req, { batchPairs: batch, onProgress: (p) => (phases.push(p.phase), fractions.push(p.done / p.total)) });
        assertSame(whole, split, `batches of ${batch}`);
        assert.ok(phases.some((p) => p.includes(`pairs 7–7 of 7`)), `the last batch is reported: ${phases.at(-1)}`);
        assert.ok(fractions.every((f) => f >= 0 && f <= 1) && fractions.at(-1) === 1, 'progress runs from 0 to 1');
      }
    });
  }

  test('activation patching groups: all 4,096 rows where the heap has room, fewer beside GPT-2 large, never less than one prompt', () => {
    const small = { nLayers: 12, nHeads: 12, dModel: 768, dMlp: 3072, dVocab: 50257 };
    const large = { nLayers: 36, nHeads: 20, dModel: 1280, dMlp: 5120, dVocab: 50257 };
    assert.equal(planGroupRows({ config: small, positions: 16, usedBytes: 0.5 * 2 ** 30, heapBytes: 4 * 2 ** 30 }), 4096);
    // GPT-2 large's weights leave 1.1 GiB: a quarter of it over 4·(16·1280 + 8·5120 + 4·20·16) bytes a row
    assert.equal(planGroupRows({ config: large, positions: 16, usedBytes: 2.9 * 2 ** 30, heapBytes: 4 * 2 ** 30 }), Math.floor((1.1 * 2 ** 30) / 4 / (4 * 62720)));
    assert.equal(planGroupRows({ config: large, positions: 16, usedBytes: 4 * 2 ** 30, heapBytes: 4 * 2 ** 30 }), 16);
  });

  test('the plan: more pairs per batch for smaller prompts and more headroom, never zero', () => {
    const small = { config: { nLayers: 12, nHeads: 12, dModel: 768, dMlp: 3072, dVocab: 50257 }, copyBytes: 0.46 * 2 ** 30, kinds: [...KINDS], attribution: true, activation: true };
    const at16 = planBatchPairs({ ...small, positions: 16, usedBytes: 0.6 * 2 ** 30 });
    const at64 = planBatchPairs({ ...small, positions: 64, usedBytes: 0.6 * 2 ** 30 });
    assert.ok(at16 > at64 && at64 >= 1, `${at16} pairs of 16 tokens, ${at64} of 64`);
    // A batch's estimate stays within the 512 MiB a batch may plan for.
    assert.ok(at16 * bytesPerPair({ ...small, positions: 16 }) <= 2 ** 29);
    assert.ok(planBatchPairs({ ...small, positions: 16, usedBytes: 3.9 * 2 ** 30 }) < at16, 'a fuller heap gives smaller batches');
    assert.equal(planBatchPairs({ ...small, positions: 1024, usedBytes: 4 * 2 ** 30 }), 1, 'a full heap still goes one pair at a time');
    // Transposed copies the backward pass will make take their room first; without them (the native
    // kernel reads weights as stored) a nearly full heap still plans bigger batches.
    const tight = { ...small, positions: 16, usedBytes: 3 * 2 ** 30 };
    assert.ok(planBatchPairs({ ...tight, copyBytes: 0.8 * 2 ** 30 }) < planBatchPairs({ ...tight, copyBytes: 0 }), 'pending copies shrink the batch');
    // Attribution alone needs the tape but not the keys and values.
    assert.ok(bytesPerPair({ ...small, positions: 16, activation: false }) < bytesPerPair({ ...small, positions: 16 }));
  });
});

test('a failure of the backend during a job is said in words, with the pairs and the batch', async () => {
  const model = await HookedModel.load(TINY);
  try {
    const pairs = tokenizePairs(model, generatePairs('ioi', { n: 5, seed: 1, tokenizer: model.tokenizer }));
    const runner = async () => {
      throw new (globalThis as unknown as { WebAssembly: { RuntimeError: ErrorConstructor } }).WebAssembly.RuntimeError('Aborted()');
    };
    await assert.rejects(runPatching(model, pairs, { direction: 'denoising', metric: 'logit-diff', kinds: ['head_z'], method: 'attribution' }, { runner, batchPairs: 2 }), (e: unknown) => {
      assert.ok(isEngineFailure(e));
      assert.match((e as Error).message, /^the engine ran out of memory at 5 pairs, in batches of 2 \(Aborted\(\)\); try fewer pairs or a smaller batch$/);
      return true;
    });
  } finally {
    model.dispose();
  }
});
