/**
 * EAP, EAP-IG and faithfulness against the float64 reference (test/reference/circuits.ts), which
 * computes each edge's score by its definition (the derivative along Δz_u added to v's own input
 * copy, by central differences) and faithfulness by the patched clean run. Engine and reference
 * agree to 2e-3 in the normalised metric, in both directions; EAP-IG with m = 3. Σ_u S(u → v) is
 * the attribution estimate of patching all of x_v.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { randomCircuit, rankEdges, topN } from '../../main/engine/circuits/extract.ts';
import { faithfulness, prepareFaithfulness } from '../../main/engine/circuits/faithfulness.ts';
import { edgeName } from '../../main/engine/circuits/graph.ts';
import { edgeScores, type EdgeScores } from '../../main/engine/circuits/scores.ts';
import { HookedModel } from '../../main/engine/model.ts';
import { tokenizePairs } from '../../main/engine/patching/pairs.ts';
import type { Direction, TokenizedPairs } from '../../main/engine/patching/runs.ts';
import { mulberry32 } from '../../main/engine/tasks/random.ts';
import { FIXTURE_VOCAB, writeFixture } from '../fixtures/generate.ts';
import { DECODER_FIXTURES, writeDecoderFixture } from '../fixtures/generate-decoder.ts';
import { FIXTURES, readJson, TINY } from '../helpers.ts';
import { RefEdgeAttribution, refEdges, refFaithfulness, type RefEdge } from '../reference/circuits.ts';
import { loadRefModel, type RefModel } from '../reference/model.ts';

const TOL = 2e-3;
const tmp = mkdtempSync(join(tmpdir(), 'patchbench-circuits-ref-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function randomPairs(seed: number, B: number, P: number, changed: number[], vocab = FIXTURE_VOCAB): TokenizedPairs {
  const rng = mulberry32(seed);
  const tok = () => Math.floor(rng() * (vocab - 1));
  const clean = Array.from({ length: B }, () => [vocab - 1, ...Array.from({ length: P - 1 }, tok)]);
  const corrupted = clean.map((c) => c.map((t, i) => (changed.includes(i) ? tok() : t)));
  return { clean, corrupted, answer: clean.map(tok), wrong: clean.map(tok) };
}

function edgeIndex(s: EdgeScores): Map<string, number> {
  return new Map(Array.from(s.graph.src, (_, e) => [edgeName(s.graph, e), e]));
}

/** Every destination's first, middle and last source: each input and each kind of source, at a fraction of the cost. */
function someSourcesOfEach(edges: RefEdge[]): RefEdge[] {
  const byDst = new Map<string, RefEdge[]>();
  for (const e of edges) byDst.set(e.dst, [...(byDst.get(e.dst) ?? []), e]);
  return [...byDst.values()].flatMap((es) => [...new Set([0, es.length >> 1, es.length - 1])].map((i) => es[i]));
}

/** "Once upon a time, there was a little" → " girl" rather than " dog"; the corruptions change "little" (and "time"). */
const STORY_PREFIX = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376];
const changed = (at: Record<number, number>) => STORY_PREFIX.map((t, i) => at[i] ?? t);
const storyPairs = (): TokenizedPairs => ({
  clean: [STORY_PREFIX, STORY_PREFIX],
  corrupted: [changed({ 9: 370 }), changed({ 4: 366, 9: 264 })],
  answer: [298, 298],
  wrong: [400, 400],
});

const decoder = (name: string) => () => writeDecoderFixture(join(tmp, name), DECODER_FIXTURES[name]);

interface Case {
  name: string;
  dir: () => string;
  pairs: (m: HookedModel) => TokenizedPairs;
  /** the edges compared one by one with the reference (default: all) */
  compared?: (edges: RefEdge[]) => RefEdge[];
}

const cases: Case[] = [
  { name: 'gpt2-tiny-random, IOI pairs', dir: () => TINY, pairs: (m) => tokenizePairs(m, readJson(`${TINY}/expected/ioi-denoising.spec.json`).pairs) },
  {
    name: 'a 3-layer random model with large weights',
    dir: () => writeFixture(join(tmp, 'r3'), { layers: 3, heads: 2, dModel: 16, seed: 41, std: 0.2 }),
    pairs: () => randomPairs(11, 3, 7, [1, 3, 5]),
  },
  // Qwen2: grouped-query attention (4 query heads on 1 KV head), q/k/v biases, head_dim, RMSNorm, SwiGLU.
  { name: 'Qwen2 (GQA, q/k/v biases)', dir: decoder('qwen2-bias-tied'), pairs: () => randomPairs(12, 3, 6, [1, 4]) },
  // Llama 3 style: 4 query heads on 2 KV heads, llama3 rope scaling, BF16.
  { name: 'Llama (GQA, llama3 rope scaling)', dir: decoder('llama-gqa-bf16'), pairs: () => randomPairs(13, 2, 6, [2, 3]) },
  // Pythia: parallel attention and MLP (no head → own-layer MLP edges), LayerNorm with bias, partial rotary.
  { name: 'GPT-NeoX (parallel attention and MLP, partial rotary)', dir: decoder('neox-parallel'), pairs: () => randomPairs(14, 3, 6, [1, 3]) },
  { name: 'GPT-NeoX (sequential)', dir: decoder('neox-sequential'), pairs: () => randomPairs(15, 2, 5, [2]) },
  // A trained Llama 2 (5 layers, 8 query heads on 4 KV heads): 1,696 edges, so a third of them one by one.
  { name: 'stories260K (trained Llama)', dir: () => FIXTURES + 'stories260K', pairs: storyPairs, compared: someSourcesOfEach },
];

for (const c of cases) {
  describe(c.name, () => {
    let model: HookedModel;
    let ref: RefModel;
    let pairs: TokenizedPairs;
    const compared = c.compared ?? ((edges: RefEdge[]) => edges);
    before(async () => {
      const dir = c.dir();
      model = await HookedModel.load(dir);
      ref = loadRefModel(dir);
      pairs = c.pairs(model);
    });
    after(() => model.dispose());

    test('the same edges, by name', async () => {
      const s = await edgeScores(model, pairs, { direction: 'denoising', metric: 'logit-diff', steps: 1 });
      const names = refEdges(ref).map((e) => `${e.src}->${e.dst}`);
      assert.deepEqual([...names].sort(), [...edgeIndex(s).keys()].sort());
    });

    for (const direction of ['denoising', 'noising'] as Direction[]) {
      test(`${direction}: every S(u → v) matches its definition; Σ_u S(u → v) is the attribution of x_v`, async () => {
        const s = await edgeScores(model, pairs, { direction, metric: 'logit-diff', steps: 1 });
        const r = new RefEdgeAttribution(ref, pairs, direction, 'logit-diff');
        const index = edgeIndex(s);
        const sums = new Map<string, number>();
        let worst = 0;
        for (const e of compared(refEdges(ref))) {
          const want = r.score(e.src, e.dst);
          const got = s.eap[index.get(`${e.src}->${e.dst}`)!];
          worst = Math.max(worst, Math.abs(got - want));
          assert.ok(Math.abs(got - want) <= TOL, `${e.src}->${e.dst}: engine ${got}, reference ${want}`);
        }
        // Σ_u over every edge into v, the engine's own scores (all of them, sampled or not)
        s.graph.dst.forEach((j, e) => sums.set(s.graph.destinations[j].name, (sums.get(s.graph.destinations[j].name) ?? 0) + s.eap[e]));
        for (const [v, sum] of sums) {
          const want = r.inputAttribution(v);
          assert.ok(Math.abs(sum - want) <= TOL, `Σ_u S(u → ${v}) = ${sum}, attribution of x_${v} ${want}`);
        }
        assert.ok(worst > 0, 'scores were compared');
      });
    }

    test('EAP-IG with m = 3 matches the mean of the derivatives along the input path', async () => {
      const s = await edgeScores(model, pairs, { direction: 'denoising', metric: 'logit-diff', steps: 3 });
      const r = new RefEdgeAttribution(ref, pairs, 'denoising', 'logit-diff');
      const index = edgeIndex(s);
      for (const e of compared(refEdges(ref))) {
        const want = r.score(e.src, e.dst, 3);
        const got = s.eapIg![index.get(`${e.src}->${e.dst}`)!];
        assert.ok(Math.abs(got - want) <= TOL, `${e.src}->${e.dst}: engine EAP-IG ${got}, reference ${want}`);
      }
    });

    test('faithfulness of circuits matches the patched clean run (full 1, empty 0)', async () => {
      const s = await edgeScores(model, pairs, { direction: 'denoising', metric: 'prob-diff', steps: 1 });
      const g = s.graph;
      const E = g.src.length;
      const ranked = rankEdges(s.eap);
      const circuits = [new Uint8Array(E).fill(1), new Uint8Array(E), topN(g, ranked, 10), topN(g, ranked, 40), randomCircuit(g, 50, mulberry32(0))];
      const f = await prepareFaithfulness(model, g, pairs, 'prob-diff');
      const got = await faithfulness(f, circuits).finally(() => f.dispose());
      circuits.forEach((circuit, i) => {
        const names = new Set(Array.from(circuit).flatMap((on, e) => (on ? [edgeName(g, e)] : [])));
        const want = refFaithfulness(ref, pairs, 'prob-diff', names);
        assert.ok(Math.abs(got[i] - want) <= TOL, `circuit ${i} (${names.size} edges): engine ${got[i]}, reference ${want}`);
      });
      assert.ok(Math.abs(got[0] - 1) < 1e-4 && Math.abs(got[1]) < 1e-4, `full ${got[0]}, empty ${got[1]}`);
    });
  });
}
