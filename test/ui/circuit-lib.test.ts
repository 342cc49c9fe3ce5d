// The Circuit view's pure modules: the n slider's circuits are the engine's (the example project's
// stored circuit, and an independent top-n + pruning written here), the edge table's order and
// filters, its CSV against the engine's report, the layout's geometry, the link to the ranking
// table, and the faithfulness chart's marker.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildGraph, headSource, mlpSource, type EdgeGraph, type GraphShape } from '../../shared/circuit-graph.ts';
import type { CircuitResult, KindName, PatchingResult } from '../../shared/contract.ts';
import { circuitNodes } from '../../main/engine/circuits/extract.ts';
import { toCircuitCsv } from '../../main/engine/circuits/report.ts';
import { loadProject } from '../../main/engine/project/index.ts';
import { circuitToWire } from '../../main/host/circuits.ts';
import { mulberry32 } from '../../main/engine/tasks/random.ts';
import { circuitAt, circuitModel, circuitNodeMask, countEdges, defaultN, defaultScore, drawnEdges, nSteps, scoreNames, stepOf } from '../../renderer/src/lib/circuit-model.ts';
import { edgeOrder, edgesCsv, queryEdges, type EdgeQuery } from '../../renderer/src/lib/circuit-edges.ts';
import { edgePath, edgeWidth, inPort, layoutGraph, outPort } from '../../renderer/src/lib/circuit-layout.ts';
import { linkable, nodesOfRef, refOfNode } from '../../renderer/src/lib/circuit-link.ts';
import { curves, faithfulnessOption, valuesAt } from '../../renderer/src/lib/charts/faithfulness-option.ts';
import { THEMES } from '../../renderer/src/lib/charts/theme.ts';
import { readView } from '../../renderer/src/lib/project-view.ts';

const EXAMPLE = new URL('../../resources/examples/ioi-demo.patchbench', import.meta.url).pathname;
const GPT2_SMALL: GraphShape = { nLayers: 12, nHeads: 12, nKvHeads: 12, parallelAttnMlp: false };

/**
 * Top-n and pruning by their definitions, written apart from the shared module: sort by |S| with
 * the edge index breaking ties, then keep an edge exactly when its source is reachable from the
 * input and its reader reaches the logits, both through the chosen edges (fixed points by
 * repeated sweeps rather than one forward and one backward pass).
 */
function referenceTopN(g: EdgeGraph, scores: ArrayLike<number>, n: number): Uint8Array {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => Math.abs(scores[b]) - Math.abs(scores[a]) || a - b);
  const chosen = order.slice(0, n);
  const nodes = g.sources.length + 1;
  // the nodes reading an edge's destination: under grouped-query attention every query head of the KV head's group
  const s = g.shape;
  const readers = (e: number): number[] => {
    const d = g.destinations[g.dst[e]];
    if (d.kind === 'logits') return [nodes - 1];
    if (d.kind === 'mlp') return [mlpSource(s, d.layer)];
    if (d.kind === 'q') return [headSource(s, d.layer, d.head!)];
    const group = s.nHeads / s.nKvHeads;
    return Array.from({ length: group }, (_, i) => headSource(s, d.layer, d.head! * group + i));
  };
  const fromInput = new Set<number>([0]);
  for (let changed = true; changed; ) {
    changed = false;
    for (const e of chosen) if (fromInput.has(g.src[e])) for (const r of readers(e)) if (!fromInput.has(r)) (fromInput.add(r), (changed = true));
  }
  const toLogits = new Set<number>([nodes - 1]);
  for (let changed = true; changed; ) {
    changed = false;
    for (const e of chosen) if (readers(e).some((r) => toLogits.has(r) && fromInput.has(r)) && !toLogits.has(g.src[e])) (toLogits.add(g.src[e]), (changed = true));
  }
  const live = (v: number) => fromInput.has(v) && toLogits.has(v);
  const out = new Uint8Array(scores.length);
  for (const e of chosen) if (live(g.src[e]) && readers(e).some(live)) out[e] = 1;
  return out;
}

/** Deterministic pseudo-random scores, a few of them tied and a few zero. */
function randomScores(E: number, seed: number): Float32Array {
  const rng = mulberry32(seed);
  const s = new Float32Array(E);
  for (let e = 0; e < E; e++) s[e] = (rng() - 0.5) * Math.exp(-4 * rng());
  for (let e = 0; e < E; e += 37) s[e] = s[0]; // ties
  for (let e = 5; e < E; e += 101) s[e] = 0;
  return s;
}

const wire = (shape: GraphShape, eap: Float32Array, eapIg?: Float32Array): CircuitResult => ({
  graph: shape,
  eap,
  ...(eapIg ? { eapIg } : {}),
  circuit: new Float32Array(eap.length),
  faithfulness: [],
});

describe('the n slider extracts the engine’s circuits', () => {
  test('the example project: n = 50 by EAP-IG is exactly its stored circuit', () => {
    const c = circuitToWire(loadProject(EXAMPLE).circuit!);
    assert.equal(defaultScore(c), 'eap_ig');
    assert.equal(defaultN(c), 50);
    assert.deepEqual(scoreNames(c), ['eap_ig', 'eap']);
    const m = circuitModel(c, 'eap_ig');
    const mask = circuitAt(m, 50);
    assert.deepEqual(Array.from(mask), Array.from(c.circuit));
    assert.equal(countEdges(mask), 48);
    // its nodes are the engine's circuitNodes
    const nodes = circuitNodeMask(m.graph, mask);
    const names = [...m.graph.sources, 'logits'].filter((_, i) => nodes[i]);
    assert.deepEqual(names, circuitNodes(m.graph, mask));
  });

  for (const shape of [
    { nLayers: 4, nHeads: 4, nKvHeads: 4, parallelAttnMlp: false },
    { nLayers: 3, nHeads: 4, nKvHeads: 2, parallelAttnMlp: false },
    { nLayers: 3, nHeads: 2, nKvHeads: 2, parallelAttnMlp: true },
  ] satisfies GraphShape[]) {
    test(`top-n and pruning agree with their definitions (${JSON.stringify(shape)})`, () => {
      const g = buildGraph(shape);
      const E = g.src.length;
      for (const seed of [1, 2, 3]) {
        const scores = randomScores(E, seed);
        const m = circuitModel(wire(shape, scores), 'eap', g);
        for (const n of [0, 1, 3, 10, 25, Math.floor(E / 3), E - 1, E, E + 5]) {
          assert.deepEqual(Array.from(circuitAt(m, n)), Array.from(referenceTopN(g, scores, n)), `seed ${seed}, n ${n}`);
        }
      }
    });
  }

  test('ties keep the edge order (destinations, then sources)', () => {
    const g = buildGraph({ nLayers: 2, nHeads: 2, nKvHeads: 2, parallelAttnMlp: false });
    const scores = new Float32Array(g.src.length).fill(0.5);
    const m = circuitModel(wire(g.shape, scores), 'eap', g);
    assert.deepEqual(Array.from(m.ranking), Array.from(edgeOrder(g)));
  });

  test('the slider’s steps: every n to 20, log-spaced after, all edges last', () => {
    const s = nSteps(32491);
    assert.deepEqual(s.slice(0, 20), Array.from({ length: 20 }, (_, i) => i + 1));
    assert.equal(s.at(-1), 32491);
    for (let i = 1; i < s.length; i++) assert.ok(s[i] > s[i - 1]);
    assert.ok(s.length > 150 && s.length < 300, `${s.length} steps`);
    for (const n of [50, 100, 200, 500, 1000]) assert.ok(Math.abs(s[stepOf(s, n)] - n) / n < 0.04, `a step near ${n}`);
    assert.equal(stepOf(s, 1), 0);
    assert.equal(stepOf(s, 32491), s.length - 1);
    assert.equal(s[stepOf(s, 23)], s.filter((x) => x <= 23).at(-1));
    assert.deepEqual(nSteps(7), [1, 2, 3, 4, 5, 6, 7]);
  });

  test('drawn edges: the circuit’s strongest, in rank order, at most the cap', () => {
    const g = buildGraph(GPT2_SMALL);
    assert.equal(g.src.length, 32491);
    const scores = randomScores(g.src.length, 7);
    const m = circuitModel(wire(GPT2_SMALL, scores), 'eap', g);
    const all = circuitAt(m, g.src.length);
    const drawn = drawnEdges(m.ranking, all, 2000);
    assert.equal(drawn.length, 2000);
    assert.deepEqual(Array.from(drawn), Array.from(m.ranking.subarray(0, 2000)).filter((e) => all[e]).slice(0, 2000));
    const small = circuitAt(m, 30);
    const d30 = drawnEdges(m.ranking, small, 2000);
    assert.equal(d30.length, countEdges(small));
    for (let i = 1; i < d30.length; i++) assert.ok(m.rank[d30[i]] > m.rank[d30[i - 1]]);
  });
});

describe('the edge table', () => {
  const g = buildGraph({ nLayers: 3, nHeads: 3, nKvHeads: 3, parallelAttnMlp: false });
  const scores = randomScores(g.src.length, 11);
  const m = circuitModel(wire(g.shape, scores), 'eap', g);
  const mask = circuitAt(m, 20);
  const q = (o: Partial<EdgeQuery>) => queryEdges(g, { scores, ranking: m.ranking, circuit: mask, text: '', inCircuitOnly: false, sort: { key: 'abs', desc: true }, ...o });
  const name = (e: number) => `${g.sources[g.src[e]]}->${g.destinations[g.dst[e]].name}`;

  test('sorts by |S| (both ways, ties in edge order), S, source and destination', () => {
    assert.deepEqual(Array.from(q({})), Array.from(m.ranking));
    const asc = Array.from(q({ sort: { key: 'abs', desc: false } }));
    const want = Array.from(edgeOrder(g)).sort((a, b) => Math.abs(scores[a]) - Math.abs(scores[b]) || a - b);
    assert.deepEqual(asc, want);
    const byS = Array.from(q({ sort: { key: 'score', desc: true } }));
    for (let i = 1; i < byS.length; i++) assert.ok(scores[byS[i]] <= scores[byS[i - 1]]);
    const bySrc = Array.from(q({ sort: { key: 'src', desc: false } }));
    for (let i = 1; i < bySrc.length; i++) assert.ok(g.src[bySrc[i]] > g.src[bySrc[i - 1]] || (g.src[bySrc[i]] === g.src[bySrc[i - 1]] && g.dst[bySrc[i]] > g.dst[bySrc[i - 1]]));
    const byDst = Array.from(q({ sort: { key: 'dst', desc: true } }));
    for (let i = 1; i < byDst.length; i++) assert.ok(g.dst[byDst[i]] <= g.dst[byDst[i - 1]]);
  });

  test('filters by node names and to the circuit', () => {
    const inC = Array.from(q({ inCircuitOnly: true }));
    assert.equal(inC.length, countEdges(mask));
    assert.ok(inC.every((e) => mask[e]));
    const a1 = Array.from(q({ text: 'a1.h2' }));
    assert.ok(a1.length > 0);
    assert.deepEqual(a1, Array.from(m.ranking).filter((e) => name(e).includes('a1.h2')));
    // words narrow: both must appear; the arrow form names one edge
    assert.deepEqual(Array.from(q({ text: 'input logits' })), Array.from(m.ranking).filter((e) => name(e) === 'input->logits'));
    assert.deepEqual(Array.from(q({ text: 'M0->A2.H1Q' })).map(name), ['m0->a2.h1q']);
    assert.equal(q({ text: 'nothing-like-this' }).length, 0);
  });

  test('CSV: every edge in graph order is byte for byte the engine’s `patchbench circuit --csv`', () => {
    const c = circuitToWire(loadProject(EXAMPLE).circuit!);
    const eg = buildGraph(c.graph);
    const engine = toCircuitCsv({ graph: eg, eap: c.eap, eapIg: c.eapIg, circuit: Uint8Array.from(c.circuit) });
    assert.equal(edgesCsv(eg, c, c.circuit, edgeOrder(eg)), engine);
    const noIg = toCircuitCsv({ graph: eg, eap: c.eap, circuit: Uint8Array.from(c.circuit) });
    assert.equal(edgesCsv(eg, { eap: c.eap }, c.circuit, edgeOrder(eg)), noIg);
    const some = edgesCsv(eg, c, c.circuit, [3, 1]).split('\n');
    assert.deepEqual(some.slice(0, 1), ['src,dst,eap,eap_ig,in_circuit']);
    assert.equal(some[1], engine.split('\n')[4]);
    assert.equal(some[2], engine.split('\n')[2]);
  });
});

describe('the layered layout', () => {
  for (const [shape, w, h] of [
    [{ nLayers: 4, nHeads: 4, nKvHeads: 4, parallelAttnMlp: false }, 560, 300],
    [GPT2_SMALL, 700, 420],
    [GPT2_SMALL, 360, 200],
  ] as const) {
    test(`${shape.nLayers} layers × ${shape.nHeads} heads in ${w}×${h}: inside the box, no overlaps, input at the bottom`, () => {
      const L = layoutGraph(shape, w, h);
      assert.equal(L.nodes.length, 1 + shape.nLayers * (shape.nHeads + 1) + 1);
      const g = buildGraph(shape);
      assert.deepEqual(L.nodes.map((b) => b.name), [...g.sources, 'logits']);
      for (const b of L.nodes) assert.ok(b.x >= 0 && b.y >= 0 && b.x + b.w <= w && b.y + b.h <= h, `${b.name} inside`);
      for (let i = 0; i < L.nodes.length; i++)
        for (let j = i + 1; j < L.nodes.length; j++) {
          const a = L.nodes[i];
          const b = L.nodes[j];
          const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
          assert.ok(!overlap, `${a.name} and ${b.name} overlap`);
        }
      const y = (name: string) => L.nodes.find((b) => b.name === name)!.y;
      assert.ok(y('input') > y('a0.h0') && y('a0.h0') > y('m0') && y('m0') > y('a1.h0') && y(`a${shape.nLayers - 1}.h0`) > y('logits'));
      // q, k, v ports left to right on the head's lower edge; edges leave the source's top
      const q = g.destinations.findIndex((d) => d.name === 'a1.h0q');
      const k = g.destinations.findIndex((d) => d.name === 'a1.h0k');
      const v = g.destinations.findIndex((d) => d.name === 'a1.h0v');
      const head = L.nodes[headSource(shape, 1, 0)];
      const [qx, qy] = inPort(L, g, q);
      assert.ok(qx < inPort(L, g, k)[0] && inPort(L, g, k)[0] < inPort(L, g, v)[0]);
      assert.equal(qy, head.y + head.h);
      assert.deepEqual(outPort(L, mlpSource(shape, 0)), [L.nodes[mlpSource(shape, 0)].x + L.nodes[mlpSource(shape, 0)].w / 2, L.nodes[mlpSource(shape, 0)].y]);
      assert.match(edgePath(L, g, 0), /^M[\d.]+,[\d.]+C[\d.]+,[\d.]+ [\d.]+,[\d.]+ [\d.]+,[\d.]+$/);
    });
  }

  test('edge width grows with |S| (square root), whatever the sign', () => {
    assert.equal(edgeWidth(0, 2), 0.6);
    assert.equal(edgeWidth(2, 2), 4);
    assert.equal(edgeWidth(-2, 2), 4);
    assert.ok(Math.abs(edgeWidth(0.5, 2) - (0.6 + 3.4 * 0.5)) < 1e-12);
    assert.equal(edgeWidth(1, 0), 0.6);
  });
});

describe('the link with the ranking table', () => {
  const shape: GraphShape = { nLayers: 2, nHeads: 4, nKvHeads: 2, parallelAttnMlp: false };
  const kind = (k: KindName, dims: ('layer' | 'head' | 'pos' | 'neuron')[], shape: number[], attribution?: number[]) => ({
    kind: k,
    dims,
    shape,
    attribution: Float32Array.from(attribution ?? Array(shape.reduce((a, b) => a * b, 1)).fill(0)),
  });
  // mlp_out [2 layers, 3 positions]: layer 0 strongest at pos 1, layer 1 at pos 2
  const result = {
    kinds: [kind('head_z', ['layer', 'head'], [2, 4]), kind('head_k', ['layer', 'head'], [2, 2]), kind('mlp_out', ['layer', 'pos'], [2, 3], [0.1, -0.9, 0.2, 0, 0.3, -0.4]), kind('neuron', ['layer', 'neuron'], [2, 8])],
  } as unknown as PatchingResult;

  test('a head node is head_z [l, h]; an MLP node mlp_out at its strongest position', () => {
    assert.ok(linkable(result, shape));
    assert.deepEqual(refOfNode('a1.h3', result, shape), { kind: 'head_z', index: 7 });
    assert.deepEqual(refOfNode('a0.h0', result, shape), { kind: 'head_z', index: 0 });
    assert.deepEqual(refOfNode('m0', result, shape), { kind: 'mlp_out', index: 1 });
    assert.deepEqual(refOfNode('m1', result, shape), { kind: 'mlp_out', index: 5 });
    assert.equal(refOfNode('input', result, shape), null);
    assert.equal(refOfNode('logits', result, shape), null);
  });

  test('without head_z a head links to the next head kind (k by its KV head)', () => {
    const noZ = { kinds: result.kinds.filter((k) => k.kind !== 'head_z') } as PatchingResult;
    assert.deepEqual(refOfNode('a1.h3', noZ, shape), { kind: 'head_k', index: 1 * 2 + 1 });
    assert.deepEqual(refOfNode('a0.h1', noZ, shape), { kind: 'head_k', index: 0 });
  });

  test('components back to nodes: heads, a KV head’s query heads, mlp_out and neurons to their MLP', () => {
    assert.deepEqual(nodesOfRef({ kind: 'head_z', index: 6 }, result, shape), ['a1.h2']);
    assert.deepEqual(nodesOfRef({ kind: 'head_k', index: 3 }, result, shape), ['a1.h2', 'a1.h3']);
    assert.deepEqual(nodesOfRef({ kind: 'mlp_out', index: 4 }, result, shape), ['m1']);
    assert.deepEqual(nodesOfRef({ kind: 'neuron', index: 9 }, result, shape), ['m1']);
    assert.deepEqual(nodesOfRef(null, result, shape), []);
    for (const name of ['a0.h0', 'a1.h3', 'm0', 'm1']) assert.deepEqual(nodesOfRef(refOfNode(name, result, shape), result, shape), [name]);
  });

  test('a result of another model links nothing', () => {
    const other: GraphShape = { ...shape, nLayers: 3 };
    assert.equal(linkable(result, other), false);
    assert.equal(refOfNode('a0.h0', result, other), null);
    assert.deepEqual(nodesOfRef({ kind: 'head_z', index: 0 }, result, other), []);
    assert.equal(linkable(null, shape), false);
  });
});

describe('the faithfulness chart', () => {
  const f: CircuitResult['faithfulness'] = [
    { n: 50, ranking: 'eap', faithfulness: 0.9 },
    { n: 10, ranking: 'eap', faithfulness: 0.2 },
    { n: 10, ranking: 'random', faithfulness: 0.01 },
    { n: 10, ranking: 'eap_ig', faithfulness: 0.3 },
    { n: 50, ranking: 'eap_ig', faithfulness: 0.97 },
  ];

  test('one line per ranking, sorted by n; the values at n only where n is a point', () => {
    assert.deepEqual(curves(f), [
      ['eap', [[10, 0.2], [50, 0.9]]],
      ['eap_ig', [[10, 0.3], [50, 0.97]]],
      ['random', [[10, 0.01]]],
    ]);
    assert.deepEqual(valuesAt(f, 50), [['eap', 0.9], ['eap_ig', 0.97]]);
    assert.deepEqual(valuesAt(f, 20), []);
  });

  test('the marker is at n, on a log axis up to all edges', () => {
    const o = faithfulnessOption({ faithfulness: f, n: 50, edges: 479, theme: THEMES.light }) as { series: { id: string; markLine?: { data: { xAxis: number }[] }; data: unknown[] }[]; xAxis: { type: string; max: number } };
    assert.equal(o.xAxis.type, 'log');
    assert.equal(o.xAxis.max, 479);
    assert.equal(o.series.find((s) => s.id === 'marker')!.markLine!.data[0].xAxis, 50);
    assert.deepEqual(
      o.series.find((s) => s.id === 'at-n')!.data.map((d) => (d as { value: number[] }).value),
      [[50, 0.9], [50, 0.97]],
    );
    const legend = (o as unknown as { legend: { formatter: (name: string) => string } }).legend;
    assert.equal(legend.formatter('EAP-IG'), 'EAP-IG  0.970');
    assert.equal(legend.formatter('random'), 'random');
    const o20 = faithfulnessOption({ faithfulness: f, n: 20, edges: 479, theme: THEMES.dark }) as typeof o;
    assert.equal(o20.series.find((s) => s.id === 'marker')!.markLine!.data[0].xAxis, 20);
    assert.equal(o20.series.find((s) => s.id === 'at-n')!.data.length, 0);
  });
});

test('the Circuit view’s n and score are read back from a project’s view state, and nonsense is dropped', () => {
  assert.deepEqual(readView({ tab: 'circuit', circuit: { n: 120, score: 'eap' } }), { tab: 'circuit', circuit: { n: 120, score: 'eap' } });
  assert.deepEqual(readView({ circuit: { n: 0, score: 'eap' } }), {});
  assert.deepEqual(readView({ circuit: { n: 5, score: 'magic' } }), {});
});
