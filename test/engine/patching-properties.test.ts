/**
 * Properties of the patching engine that hold on any model, checked on models the tests make:
 * attribution is the small-patch limit of activation patching; patching the whole residual stream
 * reproduces the source run; on an exactly linear toy attribution equals activation and noising
 * mirrors denoising; the batched, layer- and position-skipping path equals one forward per patch;
 * cancellation is prompt and clean.
 */
import * as tf from '@tensorflow/tfjs-core';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PatchbenchError } from '../../main/engine/errors.ts';
import type { MetricName } from '../../main/engine/metrics.ts';
import { HookedModel } from '../../main/engine/model.ts';
import { activationPatch, activationPatchOneByOne } from '../../main/engine/patching/activation.ts';
import { attributionPatch } from '../../main/engine/patching/attribution.ts';
import { componentCount, KINDS, type Kind } from '../../main/engine/patching/components.ts';
import { runPatching } from '../../main/engine/patching/index.ts';
import { meanMetric, prepareRuns, type Direction, type TokenizedPairs } from '../../main/engine/patching/runs.ts';
import { encodeSafetensors } from '../../main/engine/safetensors.ts';
import { mulberry32 } from '../../main/engine/tasks/random.ts';
import { fixtureTensors, FIXTURE_VOCAB, writeFixture } from '../fixtures/generate.ts';
import { assertClose } from '../helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'patchbench-props-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function randomPairs(seed: number, B: number, P: number, changed: number[]): TokenizedPairs {
  const rng = mulberry32(seed);
  const tok = () => Math.floor(rng() * (FIXTURE_VOCAB - 1));
  const clean = Array.from({ length: B }, () => [FIXTURE_VOCAB - 1, ...Array.from({ length: P - 1 }, tok)]);
  const corrupted = clean.map((c) => c.map((t, i) => (changed.includes(i) ? tok() : t)));
  return { clean, corrupted, answer: clean.map(tok), wrong: clean.map(tok) };
}

describe('patching properties on a random model', () => {
  let model: HookedModel;
  const pairs = randomPairs(5, 3, 6, [2, 4]);
  before(async () => {
    model = await HookedModel.load(writeFixture(join(tmp, 'random'), { layers: 3, heads: 2, dModel: 16, seed: 21, std: 0.15 }));
  });
  after(() => model.dispose());

  for (const metric of ['logit-diff', 'prob-diff', 'logprob'] as MetricName[]) {
    test(`${metric}: attribution is the small-patch limit of activation patching`, async () => {
      const ctx = await prepareRuns(model, pairs, { direction: 'denoising', metric, kinds: [...KINDS], forAttribution: true, forActivation: true });
      try {
        const { attribution } = await attributionPatch(ctx, [...KINDS]);
        // Move every source activation to within ε of the base: source' = base + ε(source − base).
        const eps = 1e-2;
        // (hook_resid_post of one layer and hook_resid_pre of the next are the same tensor)
        const old = new Set(ctx.src.values());
        for (const [name, src] of ctx.src) {
          const base = ctx.base.get(name)!;
          ctx.src.set(name, tf.keep(tf.tidy(() => tf.add(base, tf.mul(tf.sub(src, base), eps)))));
        }
        tf.dispose([...old]);
        for (const kind of ['head_z', 'head_v', 'head_z_pos', 'head_pattern', 'neuron', 'resid_mid', 'mlp_out'] as Kind[]) {
          const act = await activationPatch(ctx, kind, undefined);
          const attr = attribution.get(kind)!;
          const big = Math.max(...Array.from(attr, Math.abs));
          // first order: act/ε = attr + O(ε)
          assertClose(Array.from(act, (v) => v / eps), attr, 0.05 * big + 1e-4, `${metric} ${kind}`);
        }
      } finally {
        ctx.dispose();
      }
    });
  }

  test('each metric is what it says, computed from the full logits', async () => {
    const tokens = model.tokensTensor(pairs.clean);
    const { final } = model.run(tokens);
    const logits = (await model.logits(final).array()) as number[][];
    const ref = { 'logit-diff': 0, 'prob-diff': 0, logprob: 0 };
    logits.forEach((row, b) => {
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
      const [a, w] = [pairs.answer[b], pairs.wrong[b]];
      ref['logit-diff'] += (row[a] - row[w]) / logits.length;
      ref['prob-diff'] += (Math.exp(row[a] - lse) - Math.exp(row[w] - lse)) / logits.length;
      ref.logprob += (row[a] - lse) / logits.length;
    });
    for (const m of Object.keys(ref) as MetricName[]) {
      const v = await meanMetric(model, m, final, { answer: pairs.answer, wrong: pairs.wrong });
      assert.ok(Math.abs(v - ref[m]) < 1e-4 * Math.max(1, Math.abs(ref[m])), `${m}: ${v} vs ${ref[m]}`);
    }
    tf.dispose([tokens, final]);
  });

  test('patching resid_pre of layer 0 at every position reproduces the source run', async () => {
    for (const direction of ['denoising', 'noising'] as Direction[]) {
      const ctx = await prepareRuns(model, pairs, { direction, metric: 'logit-diff', kinds: ['resid_pre'], forAttribution: false, forActivation: true });
      const src = ctx.src.get('blocks.0.hook_resid_pre')!;
      const { final } = model.run(ctx.baseTokens, { hook: (n, x) => (n === 'blocks.0.hook_resid_pre' ? src : x) });
      const v = await meanMetric(model, 'logit-diff', final, ctx.targets);
      const expected = direction === 'denoising' ? ctx.clean : ctx.corrupted;
      assert.ok(Math.abs(v - expected) < 1e-5, `${direction}: ${v} vs ${expected}`);
      final.dispose();
      ctx.dispose();
    }
  });

  test('batched, layer- and position-skipping activation patching equals one forward per patch', async () => {
    for (const direction of ['denoising', 'noising'] as Direction[]) {
      const ctx = await prepareRuns(model, pairs, { direction, metric: 'logit-diff', kinds: [...KINDS], forAttribution: false, forActivation: true });
      try {
        for (const kind of KINDS) {
          const n = componentCount(kind, model.config, ctx.P);
          const ids = Array.from({ length: n }, (_, i) => i).filter((i) => kind !== 'neuron' || i % 7 === 0);
          // a small row budget forces many groups of several variants each
          const fast = await activationPatch(ctx, kind, ids, { budgetRows: 60 });
          const slow = await activationPatchOneByOne(ctx, kind, ids);
          assertClose(fast, slow, 2e-5, `${direction} ${kind}`);
        }
      } finally {
        ctx.dispose();
      }
    }
  });

  test('refuses to normalise when clean and corrupted score the same', async () => {
    const same = { ...pairs, corrupted: pairs.clean };
    await assert.rejects(
      runPatching(model, same, { direction: 'denoising', metric: 'logit-diff', kinds: ['head_z'], method: 'attribution' }),
      /score the same on logit-diff .* cannot be normalised/,
    );
  });

  test('cancellation stops promptly and leaves no tensors behind', async () => {
    // head_z_pos runs as one group per position, so there are several points to stop at
    const req = { direction: 'denoising' as const, metric: 'logit-diff' as const, kinds: ['head_z_pos', 'neuron'] as Kind[], method: 'activation' as const };
    await runPatching(model, pairs, { ...req, kinds: ['head_z'] }); // warm caches
    const before = tf.memory().numTensors;
    const ac = new AbortController();
    let progressCalls = 0;
    let afterAbort = 0;
    await assert.rejects(
      runPatching(model, pairs, req, {
        signal: ac.signal,
        onProgress: (p) => {
          if (ac.signal.aborted) afterAbort++;
          if (p.phase.startsWith('activation') && p.done > 2 && ++progressCalls === 1) ac.abort();
        },
      }),
      (e: unknown) => e instanceof PatchbenchError && e.code === 'cancelled',
    );
    // Promptly: counted in work done after the abort, not in seconds (which a loaded machine stretches).
    assert.ok(afterAbort <= 1, `${afterAbort} progress steps after the abort`);
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('an exactly linear toy', () => {
  let model: HookedModel;
  before(async () => {
    // LayerNorm with a huge epsilon is linear (the variance vanishes next to it); zero query/key
    // weights make attention uniform; a zero MLP input makes the MLP a constant. What is left is
    // affine in every activation, so first-order attribution is exact.
    const dir = join(tmp, 'linear');
    writeFixture(dir, { layers: 2, heads: 2, dModel: 8, seed: 3 });
    const t = fixtureTensors({ layers: 2, heads: 2, dModel: 8, seed: 3 });
    const D = 8;
    const scale = 1e5; // √eps keeps activations of order one
    for (const [name, v] of Object.entries(t)) {
      if (/ln_[12f]\.weight$/.test(name)) v.data = v.data.map((x) => x * scale);
      if (name.endsWith('mlp.c_fc.weight')) v.data.fill(0);
      if (name.endsWith('attn.c_attn.weight')) for (let r = 0; r < D; r++) v.data.fill(0, r * 3 * D, r * 3 * D + 2 * D);
    }
    writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(t));
    const cfgPath = join(dir, 'config.json');
    const cfg = JSON.parse((await import('node:fs')).readFileSync(cfgPath, 'utf8'));
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, layer_norm_epsilon: 1e10 }));
    model = await HookedModel.load(dir);
  });
  after(() => model.dispose());

  test('attribution equals activation, and noising mirrors denoising', async () => {
    const pairs = randomPairs(9, 2, 5, [1, 3]);
    const kinds: Kind[] = ['resid_pre', 'resid_mid', 'attn_out', 'mlp_out', 'head_z', 'head_v', 'head_z_pos', 'neuron'];
    const den = await runPatching(model, pairs, { direction: 'denoising', metric: 'logit-diff', kinds, method: 'both' });
    const noi = await runPatching(model, pairs, { direction: 'noising', metric: 'logit-diff', kinds, method: 'both' });
    for (let i = 0; i < kinds.length; i++) {
      const d = den.kinds[i];
      const n = noi.kinds[i];
      assertClose(d.attribution!, d.activation!, 1e-4, `denoising ${d.kind}`);
      assertClose(n.attribution!, n.activation!, 1e-4, `noising ${d.kind}`);
      assertClose(n.activation!, Array.from(d.activation!, (v) => -v), 1e-4, `noising = −denoising ${d.kind}`);
      // the MLP is a constant here, so only the other kinds move the metric
      if (d.kind !== 'mlp_out' && d.kind !== 'neuron') assert.ok(Math.max(...Array.from(d.activation!, Math.abs)) > 1e-2, `${d.kind} has non-trivial effects`);
    }
  });
});
