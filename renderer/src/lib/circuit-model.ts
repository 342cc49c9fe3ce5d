/**
 * What the Circuit view computes from a circuit result: the edge graph, the chosen score, its
 * ranking, the circuit of the top n edges (the engine's own top-n and pruning, shared/), the
 * nodes it keeps, and which of its edges are drawn (the strongest, up to a cap, so that GPT-2
 * small's 32,491 edges never all reach the page). Pure: unit-tested without a page.
 */
import { buildGraph, type EdgeGraph } from '../../../shared/circuit-graph.ts';
import { rankEdges, topN, type Circuit } from '../../../shared/circuit-extract.ts';
import type { CircuitResult } from '../../../shared/contract.ts';

export type ScoreName = 'eap' | 'eap_ig';
export const SCORE_TITLES: Record<ScoreName, string> = { eap: 'EAP', eap_ig: 'EAP-IG' };

/** At most this many edges are drawn (the strongest of the circuit); the table lists them all. */
export const DRAW_CAP = 2000;

/** The scores a result has, EAP-IG first when present (the better estimate). */
export function scoreNames(c: Pick<CircuitResult, 'eapIg'>): ScoreName[] {
  return c.eapIg ? ['eap_ig', 'eap'] : ['eap'];
}

export function scoresOf(c: Pick<CircuitResult, 'eap' | 'eapIg'>, name: ScoreName): Float32Array {
  return name === 'eap_ig' && c.eapIg ? c.eapIg : c.eap;
}

/** The score a result's circuit was extracted by (EAP-IG for an EAP-IG run, else the best there is). */
export function defaultScore(c: Pick<CircuitResult, 'eapIg' | 'request'>): ScoreName {
  if (c.request) return c.request.method === 'eap-ig' && c.eapIg ? 'eap_ig' : 'eap';
  return scoreNames(c)[0];
}

/** The n the view opens at: the request's top-n, else the stored circuit's size. */
export function defaultN(c: Pick<CircuitResult, 'request' | 'circuit'>): number {
  if (c.request?.extraction === 'top-n') return c.request.n;
  let n = 0;
  for (let e = 0; e < c.circuit.length; e++) n += c.circuit[e] ? 1 : 0;
  return Math.max(1, n);
}

/**
 * The n the slider stops at, for E edges: every n up to 20, then about 60 log-spaced values per
 * decade, E last; so a slider of a few hundred steps reaches both 5 edges and all 32,491.
 */
export function nSteps(E: number): number[] {
  const out: number[] = [];
  for (let n = 1; n <= Math.min(E, 20); n++) out.push(n);
  if (E <= 20) return out;
  const perDecade = 60;
  const steps = Math.ceil(Math.log10(E / 20) * perDecade);
  for (let i = 1; i <= steps; i++) {
    const n = Math.min(E, Math.round(20 * 10 ** (i / perDecade)));
    if (n > out[out.length - 1]) out.push(n);
  }
  if (out[out.length - 1] !== E) out.push(E);
  return out;
}

/** The slider position of n: the last step not above it (n between steps keeps its exact value elsewhere). */
export function stepOf(steps: readonly number[], n: number): number {
  let lo = 0;
  let hi = steps.length - 1;
  if (n <= steps[0]) return 0;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (steps[mid] <= n) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Node ids of the view: the graph's sources 0 … S − 1 (input, heads, MLPs), then the logits S. */
export const logitsNode = (g: EdgeGraph) => g.sources.length;

/**
 * The nodes a circuit keeps (1), as the engine's circuitNodes names them: the sources of its
 * edges, and the logits when they are read. After pruning every node whose input is fed also
 * writes onwards, so this is every node the circuit touches.
 */
export function circuitNodeMask(g: EdgeGraph, c: Circuit): Uint8Array {
  const m = new Uint8Array(g.sources.length + 1);
  for (let e = 0; e < c.length; e++) {
    if (!c[e]) continue;
    m[g.src[e]] = 1;
    if (g.destinations[g.dst[e]].kind === 'logits') m[g.sources.length] = 1;
  }
  return m;
}

/** The node that reads destination j (under grouped-query attention, a KV head's first query head). */
export function readerNode(g: EdgeGraph, j: number): number {
  const d = g.destinations[j];
  const s = g.shape;
  if (d.kind === 'logits') return g.sources.length;
  const base = 1 + d.layer * (s.nHeads + 1);
  if (d.kind === 'mlp') return base + s.nHeads;
  if (d.kind === 'q') return base + d.head!;
  return base + d.head! * (s.nHeads / s.nKvHeads);
}

/** The circuit's edges to draw: in rank order (strongest first), at most `cap`. */
export function drawnEdges(ranking: Int32Array, c: Circuit, cap = DRAW_CAP): Int32Array {
  const out: number[] = [];
  for (let i = 0; i < ranking.length && out.length < cap; i++) if (c[ranking[i]]) out.push(ranking[i]);
  return Int32Array.from(out);
}

/** Everything the view shows for one score; the ranking is the costly part, made once per score. */
export interface CircuitModel {
  graph: EdgeGraph;
  score: ScoreName;
  scores: Float32Array;
  /** edge indices by |S| descending, ties in edge order */
  ranking: Int32Array;
  /** each edge's place in the ranking (0 = strongest) */
  rank: Int32Array;
  /** the largest |S|: edge widths are relative to it, so they keep their size as n moves */
  maxAbs: number;
}

export function circuitModel(c: CircuitResult, score: ScoreName, graph: EdgeGraph = buildGraph(c.graph)): CircuitModel {
  const scores = scoresOf(c, score);
  const ranking = rankEdges(scores);
  const rank = new Int32Array(ranking.length);
  ranking.forEach((e, i) => (rank[e] = i));
  const top = ranking.length ? Math.abs(scores[ranking[0]]) : 0;
  return { graph, score, scores, ranking, rank, maxAbs: Number.isFinite(top) ? top : 0 };
}

/** The circuit for n: the top n edges by |S|, pruned, as `patchbench circuit --top-n n` extracts it. */
export const circuitAt = (m: CircuitModel, n: number): Circuit => topN(m.graph, m.ranking, n);

export const countEdges = (c: ArrayLike<number>) => {
  let n = 0;
  for (let e = 0; e < c.length; e++) n += c[e] ? 1 : 0;
  return n;
};
