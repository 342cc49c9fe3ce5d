/**
 * Circuits: the edge graph's size and names, extraction (top-n, pruning, greedy), and properties
 * of EAP and faithfulness that hold on any model: the split-input forward pass is the plain one,
 * EAP is the small-move limit of patching one edge (finite differences through the split inputs),
 * the logits' edges sum to the attribution of their input, the full graph is faithful 1 and the
 * empty one 0, and a job cancels cleanly without leaking tensors. The float64 reference checks are
 * in circuits-reference.test.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { greedy, prune, rankEdges, topN } from '../../main/engine/circuits/extract.ts';
import { faithfulness, prepareFaithfulness } from '../../main/engine/circuits/faithfulness.ts';
import { buildGraph, edgeName, graphShape } from '../../main/engine/circuits/graph.ts';
import { runCircuit } from '../../main/engine/circuits/index.ts';
import { parseCircuitJson, toCircuitJson } from '../../main/engine/circuits/report.ts';
import { edgeScores } from '../../main/engine/circuits/scores.ts';
import { isEngineFailure, PatchbenchError } from '../../main/engine/errors.ts';
import { meanPerVariant, metricPerRow } from '../../main/engine/metrics.ts';
import { HookedModel } from '../../main/engine/model.ts';
import { attributionPatch } from '../../main/engine/patching/attribution.ts';
import { prepareRuns, type Direction, type TokenizedPairs } from '../../main/engine/patching/runs.ts';
import { mulberry32 } from '../../main/engine/tasks/random.ts';
import { FIXTURE_VOCAB, writeFixture } from '../fixtures/generate.ts';
import { DECODER_FIXTURES, writeDecoderFixture } from '../fixtures/generate-decoder.ts';
import { assertClose, throwsBadInput } from '../helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'patchbench-circuits-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function randomPairs(seed: number, B: number, P: number, changed: number[]): TokenizedPairs {
  const rng = mulberry32(seed);
  const tok = () => Math.floor(rng() * (FIXTURE_VOCAB - 1));
  const clean = Array.from({ length: B }, () => [FIXTURE_VOCAB - 1, ...Array.from({ length: P - 1 }, tok)]);
  const corrupted = clean.map((c) => c.map((t, i) => (changed.includes(i) ? tok() : t)));
  return { clean, corrupted, answer: clean.map(tok), wrong: clean.map(tok) };
}

describe('the edge graph', () => {
  test('GPT-2 small has 32,491 edges; parallel attention drops head → own-MLP edges', () => {
    const s = { nLayers: 12, nHeads: 12, nKvHeads: 12, parallelAttnMlp: false };
    assert.equal(buildGraph(s).src.length, 32491);
    assert.equal(buildGraph({ ...s, parallelAttnMlp: true }).src.length, 32491 - 12 * 12);
  });

  test('names are EAP-IG\'s, unique, in forward order; GQA names k/v by KV head', () => {
    const g = buildGraph({ nLayers: 2, nHeads: 4, nKvHeads: 2, parallelAttnMlp: false });
    assert.deepEqual(g.sources.slice(0, 7), ['input', 'a0.h0', 'a0.h1', 'a0.h2', 'a0.h3', 'm0', 'a1.h0']);
    assert.deepEqual(
      g.destinations.slice(0, 9).map((d) => d.name),
      ['a0.h0q', 'a0.h1q', 'a0.h2q', 'a0.h3q', 'a0.h0k', 'a0.h1k', 'a0.h0v', 'a0.h1v', 'm0'],
    );
    assert.equal(g.destinations.at(-1)!.name, 'logits');
    const names = Array.from(g.src, (_, e) => edgeName(g, e));
    assert.equal(new Set(names).size, names.length);
    assert.equal(names[0], 'input->a0.h0q');
    assert.equal(names.at(-1), 'm1->logits');
    // m0 reads the input and layer 0's heads; layer 1's inputs read everything before them.
    assert.equal(g.destinations.find((d) => d.name === 'm0')!.sources, 5);
    assert.equal(g.destinations.find((d) => d.name === 'a1.h1k')!.sources, 6);
  });
});

describe('extraction', () => {
  // input → a0.h0 (q, k, v), input/a0.h0 → m0, input/a0.h0/m0 → logits: 8 edges.
  const g = buildGraph({ nLayers: 1, nHeads: 1, nKvHeads: 1, parallelAttnMlp: false });
  const id = (name: string) => Array.from(g.src, (_, e) => edgeName(g, e)).indexOf(name);
  const mask = (...names: string[]) => {
    const c = new Uint8Array(g.src.length);
    for (const n of names) c[id(n)] = 1;
    return c;
  };
  const names = (c: Uint8Array) => Array.from(g.src, (_, e) => edgeName(g, e)).filter((_, e) => c[e]);

  test('pruning drops nodes with no path from the input or none to the logits', () => {
    assert.equal(g.src.length, 8);
    assert.deepEqual(names(prune(g, mask('a0.h0->logits'))), []);
    assert.deepEqual(names(prune(g, mask('input->a0.h0k', 'a0.h0->logits'))), ['input->a0.h0k', 'a0.h0->logits']);
    assert.deepEqual(names(prune(g, mask('input->a0.h0q', 'a0.h0->m0'))), []);
    assert.deepEqual(names(prune(g, mask('input->a0.h0q', 'a0.h0->m0', 'm0->logits', 'input->logits'))), ['input->a0.h0q', 'a0.h0->m0', 'input->logits', 'm0->logits']);
  });

  test('top-n ranks by |S| with ties in edge order; greedy grows from the logits', () => {
    const s = new Float32Array(8);
    s[id('a0.h0->logits')] = -5;
    s[id('input->a0.h0v')] = 3;
    s[id('input->a0.h0q')] = 3;
    s[id('input->m0')] = 4; // large, but m0 is not in the circuit when greedy looks
    s[id('m0->logits')] = 0.5;
    const r = rankEdges(s);
    assert.deepEqual([...r.slice(0, 4)].map((e) => edgeName(g, e)), ['a0.h0->logits', 'input->m0', 'input->a0.h0q', 'input->a0.h0v']);
    assert.deepEqual(names(topN(g, r, 2)), []); // input → m0 and a0.h0 → logits: neither node connects through
    assert.deepEqual(names(topN(g, r, 3)), ['input->a0.h0q', 'a0.h0->logits']);
    assert.deepEqual(names(greedy(g, r, 3)), ['input->a0.h0q', 'input->a0.h0v', 'a0.h0->logits']);
  });
});

describe('EAP and faithfulness on a random model', () => {
  let model: HookedModel;
  const pairs = randomPairs(7, 3, 6, [2, 4]);
  before(async () => {
    model = await HookedModel.load(writeFixture(join(tmp, 'random'), { layers: 3, heads: 2, dModel: 16, seed: 31, std: 0.15 }));
  });
  after(() => model.dispose());

  test('the split-input and per-head-result forward passes equal the plain one', async () => {
    const tokens = model.tokensTensor(pairs.clean);
    const plain = model.run(tokens);
    const split = model.run(tokens, { splitInputs: true });
    const result = model.run(tokens, { attnResult: true });
    assertClose(await split.final.data(), await plain.final.data(), 1e-5, 'split inputs');
    assertClose(await result.final.data(), await plain.final.data(), 1e-5, 'attn results');
    tf.dispose([tokens, plain.final, split.final, result.final]);
  });

  for (const direction of ['denoising', 'noising'] as Direction[]) {
    test(`${direction}: S(u → v) is the derivative of the metric along Δz_u added to x_v alone`, async () => {
      const s = await edgeScores(model, pairs, { direction, metric: 'logit-diff', steps: 1 });
      const g = s.graph;
      const [srcTok, baseTok] = direction === 'denoising' ? [pairs.clean, pairs.corrupted] : [pairs.corrupted, pairs.clean];
      // Δz_u from the plain runs, and the base tokens for the moved runs.
      const grab = async (tok: number[][]) => {
        const m = new Map<string, tf.Tensor>();
        const t = model.tokensTensor(tok);
        const r = model.run(t, { attnResult: true, hook: (n, x) => (m.set(n, tf.keep(x.clone())), x) });
        tf.dispose([t, r.final]);
        return m;
      };
      const srcActs = await grab(srcTok);
      const baseActs = await grab(baseTok);
      const dz = (u: string): tf.Tensor => {
        if (u === 'input') return tf.sub(srcActs.get('blocks.0.hook_resid_pre')!, baseActs.get('blocks.0.hook_resid_pre')!);
        const m = /^a(\d+)\.h(\d+)$/.exec(u);
        if (m) {
          const n = `blocks.${m[1]}.attn.hook_result`;
          const d = tf.sub(srcActs.get(n)!, baseActs.get(n)!);
          return tf.squeeze(tf.slice(d, [0, 0, +m[2], 0], [-1, -1, 1, -1]), [2]);
        }
        const n = `blocks.${u.slice(1)}.hook_mlp_out`;
        return tf.sub(srcActs.get(n)!, baseActs.get(n)!);
      };
      const metricWith = async (u: string, j: number, eps: number) => {
        const d = g.destinations[j];
        const L = model.config.nLayers;
        const site = d.kind === 'logits' ? `blocks.${L - 1}.hook_resid_post` : d.kind === 'mlp' ? `blocks.${d.layer}.hook_mlp_in` : `blocks.${d.layer}.hook_${d.kind}_input`;
        const t = model.tokensTensor(baseTok);
        const v = tf.tidy(() => {
          const move = tf.mul(dz(u), eps); // [B, P, D]
          const hook = (name: string, x: tf.Tensor) => {
            if (name !== site) return x;
            if (x.rank === 3) return tf.add(x, move);
            const onehot = tf.reshape(tf.oneHot(tf.tensor1d([d.head!], 'int32'), x.shape[2]!), [1, 1, x.shape[2]!, 1]);
            return tf.add(x, tf.mul(tf.expandDims(move, 2), onehot));
          };
          const r = model.run(t, { hook, splitInputs: true });
          return meanPerVariant(metricPerRow(model, 'logit-diff', r.final, pairs), pairs.clean.length);
        });
        const out = (await v.data())[0];
        tf.dispose([t, v]);
        return out;
      };
      const scale = s.clean - s.corrupted;
      const big = Math.max(...Array.from(s.eap, Math.abs));
      const rng = mulberry32(3);
      const picks = [0, g.src.length - 1, ...Array.from({ length: 10 }, () => Math.floor(rng() * g.src.length))];
      for (const e of picks) {
        const eps = 1e-2;
        const fd = ((await metricWith(g.sources[g.src[e]], g.dst[e], eps)) - (await metricWith(g.sources[g.src[e]], g.dst[e], -eps))) / (2 * eps) / scale;
        assert.ok(Math.abs(fd - s.eap[e]) <= 0.02 * big + 1e-4, `${edgeName(g, e)}: EAP ${s.eap[e]}, finite difference ${fd}`);
      }
      tf.dispose([...srcActs.values(), ...baseActs.values()]);
    });
  }

  test('the logits\' edges sum to the attribution of their input (resid_post of the last layer)', async () => {
    const s = await edgeScores(model, pairs, { direction: 'denoising', metric: 'prob-diff', steps: 1 });
    const ctx = await prepareRuns(model, pairs, { direction: 'denoising', metric: 'prob-diff', kinds: ['resid_post'], forAttribution: true, forActivation: false });
    const attr = (await attributionPatch(ctx, ['resid_post'])).attribution.get('resid_post')!;
    ctx.dispose();
    const L = model.config.nLayers;
    const P = pairs.clean[0].length;
    const expected = attr.slice((L - 1) * P, L * P).reduce((a, b) => a + b, 0) / (s.clean - s.corrupted);
    const j = s.graph.destinations.length - 1;
    const sum = s.eap.slice(s.graph.dstStart[j], s.graph.dstStart[j + 1]).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - expected) < 1e-4 * Math.max(1, Math.abs(expected)), `Σ_u S(u → logits) ${sum}, attribution ${expected}`);
  });

  test('the head-major input gradients (onInputGrads) equal the hook-shaped ones', async () => {
    const { nHeads: H, dModel: D } = model.config;
    const t = model.tokensTensor(pairs.corrupted);
    const tape = model.newTape(pairs.clean[0].length);
    const r = model.run(t, { tape });
    const g = tf.onesLike(r.final) as tf.Tensor2D;
    const hooked = new Map<string, Float32Array>();
    model.backward(tape, g, (name, grad) => void (/_input$|hook_mlp_in$/.test(name) && hooked.set(name, grad.dataSync() as Float32Array)), { inputGrads: true });
    const headMajor = new Map<number, { qkv: Float32Array; mlp: Float32Array }>();
    const rest: string[] = [];
    model.backward(tape, g, (name) => void (/_input$|hook_mlp_in$/.test(name) && rest.push(name)), {
      inputGrads: true,
      onInputGrads: (l, qkv, mlp) => void headMajor.set(l, { qkv: qkv.dataSync() as Float32Array, mlp: mlp.dataSync() as Float32Array }),
    });
    assert.deepEqual(rest, [], 'no hook-shaped input gradients alongside the head-major ones');
    const NP = pairs.clean.length * pairs.clean[0].length;
    for (let l = 0; l < model.config.nLayers; l++) {
      const got = headMajor.get(l)!;
      ['q', 'k', 'v'].forEach((site, s) => {
        const want = hooked.get(`blocks.${l}.hook_${site}_input`)!; // [N, P, H, D]
        const asHeadMajor = Float32Array.from({ length: H * NP * D }, (_, i) => {
          const [h, np, d] = [Math.floor(i / (NP * D)), Math.floor(i / D) % NP, i % D];
          return want[(np * H + h) * D + d];
        });
        assertClose(got.qkv.subarray(s * H * NP * D, (s + 1) * H * NP * D), asHeadMajor, 1e-5, `layer ${l} ${site}`);
      });
      assertClose(got.mlp, hooked.get(`blocks.${l}.hook_mlp_in`)!, 1e-6, `layer ${l} mlp`);
    }
    tf.dispose([t, r.final, g]);
    tape.dispose();
  });

  test('EAP scores are the same from head-major and hook-shaped gradients, heads\' writes from z or from hook_result', async () => {
    const fast = await edgeScores(model, pairs, { direction: 'noising', metric: 'logit-diff', steps: 2 });
    // A family without the fast paths: it ignores onInputGrads and has no headResults.
    const arch = model.arch as { backward: typeof model.arch.backward; headResults?: unknown };
    const backward = arch.backward;
    arch.backward = (tape, g, onGrad, o) => backward.call(model.arch, tape, g, onGrad, { ...o, onInputGrads: undefined });
    arch.headResults = undefined;
    try {
      const slow = await edgeScores(model, pairs, { direction: 'noising', metric: 'logit-diff', steps: 2 });
      assertClose(fast.eap, slow.eap, 1e-5, 'eap');
      assertClose(fast.eapIg!, slow.eapIg!, 1e-5, 'eap_ig');
    } finally {
      delete (arch as Record<string, unknown>).backward;
      delete (arch as Record<string, unknown>).headResults;
    }
    assert.ok(typeof model.arch.headResults === 'function' && model.arch.backward === Object.getPrototypeOf(model.arch).backward);
  });

  test('faithfulness is the same through head-major inputs and through the split-input hooks', async () => {
    const g = buildGraph(graphShape(model.config));
    const E = g.src.length;
    const rng = mulberry32(5);
    const circuits = [new Uint8Array(E).fill(1), new Uint8Array(E), ...[3, 20, 60, 90].map((n) => Uint8Array.from({ length: E }, () => (rng() < n / E ? 1 : 0)))];
    const f = await prepareFaithfulness(model, g, pairs, 'logit-diff');
    const fast = await faithfulness(f, circuits).finally(() => f.dispose());
    const arch = model.arch as { headMajorInputs?: boolean };
    arch.headMajorInputs = false;
    try {
      const h = await prepareFaithfulness(model, g, pairs, 'logit-diff');
      const hooked = await faithfulness(h, circuits).finally(() => h.dispose());
      assertClose(fast, hooked, 1e-4, 'faithfulness');
    } finally {
      arch.headMajorInputs = true;
    }
    assert.equal(model.arch.headMajorInputs, true);
  });

  test('EAP-IG with one step is EAP; its first step is reported as EAP', async () => {
    const one = await edgeScores(model, pairs, { direction: 'denoising', metric: 'logit-diff', steps: 1 });
    const ig = await edgeScores(model, pairs, { direction: 'denoising', metric: 'logit-diff', steps: 3 });
    assertClose(ig.eap, one.eap, 1e-6, 'eap from EAP-IG');
    assert.ok(ig.eapIg && ig.eapIg.some((v, i) => Math.abs(v - ig.eap[i]) > 1e-4), 'EAP-IG differs from EAP on a non-linear model');
  });

  test('faithfulness: the full graph 1, the empty circuit 0, in batches or one at a time', async () => {
    const g = buildGraph(graphShape(model.config));
    const f = await prepareFaithfulness(model, g, pairs, 'logit-diff');
    try {
      const full = new Uint8Array(g.src.length).fill(1);
      const empty = new Uint8Array(g.src.length);
      const half = full.map((_, e) => e % 2);
      const batched = await faithfulness(f, [full, empty, half]);
      const single = await faithfulness(f, [full, empty, half], { batch: 1 });
      assertClose(batched, [1, 0, batched[2]], 1e-4, 'full and empty');
      assertClose(single, batched, 1e-5, 'batch of one');
    } finally {
      f.dispose();
    }
  });

  test('a circuit job: curve points for eap, eap_ig and random; the JSON reads back', async () => {
    const r = await runCircuit(model, pairs, { direction: 'denoising', metric: 'logit-diff', method: 'eap-ig', steps: 2, extraction: 'top-n', n: 20, curve: true });
    const E = r.graph.src.length;
    for (const ranking of ['eap', 'eap_ig', 'random'] as const) {
      const pts = r.faithfulness.filter((p) => p.ranking === ranking);
      assert.deepEqual(pts.map((p) => p.n), [5, 10, 20, 50, E]); // E = 100 here
      assert.ok(Math.abs(pts.at(-1)!.faithfulness - 1) < 1e-4, `${ranking}: all edges give 1`);
    }
    const json = toCircuitJson(r);
    assert.deepEqual(Object.keys(json), ['edges', 'circuit', 'faithfulness']);
    assert.deepEqual(Object.keys(json.edges[0]), ['src', 'dst', 'eap', 'eap_ig']);
    const back = parseCircuitJson(JSON.stringify(json), 'c.json');
    assert.deepEqual(back.circuit, r.circuit);
    assertClose(back.eapIg!, r.eapIg!, 0, 'eap_ig read back');
    assertClose(back.eap, r.eap, 0, 'eap read back');
    assert.equal(back.graph.src.length, E);
    throwsBadInput(() => parseCircuitJson(JSON.stringify({ ...json, edges: json.edges.slice(1) }), 'c.json'), 'c.json', 'edges has');
    throwsBadInput(() => parseCircuitJson('{"edges": 3}', 'c.json'), 'c.json: edges must be an array');
  });

  test('cancelling stops the job with no tensors left behind', async () => {
    const req = { direction: 'denoising', metric: 'logit-diff', method: 'eap-ig', steps: 3, extraction: 'greedy', n: 10, curve: true } as const;
    await runCircuit(model, pairs, req); // warms caches (per-head weights, masks)
    const before = tf.memory().numTensors;
    await runCircuit(model, pairs, req);
    assert.equal(tf.memory().numTensors, before, 'a finished job leaks no tensors');
    for (const phase of ['EAP-IG step 2 of 3', 'faithfulness: patched runs']) {
      const ac = new AbortController();
      await assert.rejects(
        runCircuit(model, pairs, req, { signal: ac.signal, onProgress: (p) => p.phase === phase && ac.abort() }),
        (e: unknown) => e instanceof PatchbenchError && e.code === 'cancelled',
      );
      assert.equal(tf.memory().numTensors, before, `no tensors left after cancelling at "${phase}"`);
    }
  });

  test('EAP and EAP-IG in batches of pairs equal the scores of all pairs at once', async () => {
    // pairs that first differ at different positions, so each batch starts its runs elsewhere
    const mixed = randomPairs(9, 5, 6, [3]);
    const early = randomPairs(10, 5, 6, [1, 4]);
    const all: TokenizedPairs = {
      clean: [...mixed.clean.slice(0, 3), ...early.clean.slice(0, 2)],
      corrupted: [...mixed.corrupted.slice(0, 3), ...early.corrupted.slice(0, 2)],
      answer: [...mixed.answer.slice(0, 3), ...early.answer.slice(0, 2)],
      wrong: [...mixed.wrong.slice(0, 3), ...early.wrong.slice(0, 2)],
    };
    const o = { direction: 'denoising', metric: 'logit-diff', steps: 3 } as const;
    const whole = await edgeScores(model, all, { ...o, batchPairs: 5 });
    for (const batchPairs of [1, 2, 4]) {
      const phases: string[] = [];
      const split = await edgeScores(model, all, { ...o, batchPairs, onProgress: (_d, _t, phase) => phases.push(phase) });
      assertClose(split.eap, whole.eap, 1e-4, `eap in batches of ${batchPairs}`);
      assertClose(split.eapIg!, whole.eapIg!, 1e-4, `eap_ig in batches of ${batchPairs}`);
      assert.ok(Math.abs(split.clean - whole.clean) < 1e-5 && Math.abs(split.corrupted - whole.corrupted) < 1e-5);
      assert.ok(phases.some((p) => p.includes(`of 5)`)), `the batches are named: ${phases.join(' | ')}`);
    }
  });

  test('a failure of the backend during a circuit job is said in words, with the pairs', async () => {
    // what tfjs-wasm throws when its heap cannot grow (GPT-2 large's EAP on 8 pairs did)
    const arch = model.arch as { headResults?: unknown };
    const headResults = arch.headResults;
    arch.headResults = () => {
      throw new (globalThis as unknown as { WebAssembly: { RuntimeError: ErrorConstructor } }).WebAssembly.RuntimeError('Aborted()');
    };
    try {
      await assert.rejects(runCircuit(model, pairs, { direction: 'denoising', metric: 'logit-diff', method: 'eap', steps: 1, extraction: 'top-n', n: 5, curve: false }), (e: unknown) => {
        assert.ok(isEngineFailure(e));
        assert.equal((e as Error).message, 'the engine ran out of memory computing the circuit of 3 pairs (Aborted()); try fewer pairs');
        return true;
      });
    } finally {
      arch.headResults = headResults;
    }
  });
});

// The rotary families' fast paths (head-major input gradients, heads' writes from z) against their
// split-input hooks: GQA (k/v inputs per KV head) and parallel attention and MLP.
describe('EAP on the rotary families: the fast paths and the hooks agree', () => {
  for (const name of ['llama-gqa-bf16', 'neox-parallel']) {
    test(name, async () => {
      const model = await HookedModel.load(writeDecoderFixture(join(tmp, name), DECODER_FIXTURES[name]));
      const pairs = randomPairs(7, 2, 6, [2, 4]);
      try {
        const fast = await edgeScores(model, pairs, { direction: 'denoising', metric: 'logit-diff', steps: 2 });
        const arch = model.arch as { backward: typeof model.arch.backward; headResults?: unknown };
        const backward = arch.backward;
        arch.backward = (tape, g, onGrad, o) => backward.call(model.arch, tape, g, onGrad, { ...o, onInputGrads: undefined });
        arch.headResults = undefined;
        const slow = await edgeScores(model, pairs, { direction: 'denoising', metric: 'logit-diff', steps: 2 });
        assertClose(fast.eap, slow.eap, 1e-5, 'eap');
        assertClose(fast.eapIg!, slow.eapIg!, 1e-5, 'eap_ig');
        assert.ok(Math.max(...Array.from(fast.eap, Math.abs)) > 1e-3, 'scores were compared');
      } finally {
        model.dispose();
      }
    });
  }
});
