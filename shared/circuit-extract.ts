/**
 * Top-n circuits as edge sets (a 0/1 mask in the graph's edge order of circuit-graph.ts), as in
 * EAP-IG's `apply_topn` / `prune_dead_nodes`: the n edges of largest |S| (ties keep the edge
 * order), then pruning of the nodes without a path from the input and to the logits, with their
 * edges. Shared, so that the app's n slider extracts exactly the circuit the engine would; the
 * engine's greedy and random extraction (main/engine/circuits/extract.ts) prune with it too.
 * Pruning does not change faithfulness: a node cut off from the input sees only corrupted inputs
 * and so writes its corrupted output, and a node with no path to the logits is never read.
 */
import { readersOf, type EdgeGraph } from './circuit-graph.ts';

export type Circuit = Uint8Array;

/** Edge indices by |S| descending; a stable sort, so ties keep the graph's edge order. */
export function rankEdges(scores: ArrayLike<number>): Int32Array {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  idx.sort((a, b) => Math.abs(scores[b]) - Math.abs(scores[a]));
  return Int32Array.from(idx);
}

/** Removes nodes with no path from the input or none to the logits, and their edges. */
export function prune(g: EdgeGraph, c: Circuit): Circuit {
  const nSrc = g.sources.length;
  const D = g.destinations.length;
  // Node ids: sources 0 … nSrc − 1, the logits nSrc.
  const node = (r: number) => (r < 0 ? nSrc : r);
  const fromInput = new Uint8Array(nSrc + 1);
  fromInput[0] = 1;
  for (let j = 0; j < D; j++) {
    let fed = false;
    for (let e = g.dstStart[j]; e < g.dstStart[j + 1] && !fed; e++) fed = c[e] === 1 && fromInput[g.src[e]] === 1;
    if (fed) for (const r of readersOf(g, j)) fromInput[node(r)] = 1;
  }
  const toLogits = new Uint8Array(nSrc + 1);
  toLogits[nSrc] = 1;
  const live = (r: number) => fromInput[node(r)] === 1 && toLogits[node(r)] === 1;
  for (let j = D - 1; j >= 0; j--) {
    if (!readersOf(g, j).some(live)) continue;
    for (let e = g.dstStart[j]; e < g.dstStart[j + 1]; e++) if (c[e] && fromInput[g.src[e]]) toLogits[g.src[e]] = 1;
  }
  const out = new Uint8Array(c.length);
  for (let j = 0; j < D; j++) {
    if (!readersOf(g, j).some(live)) continue;
    for (let e = g.dstStart[j]; e < g.dstStart[j + 1]; e++) if (c[e] && live(g.src[e])) out[e] = 1;
  }
  return out;
}

/** The top n edges of a ranking, pruned. */
export function topN(g: EdgeGraph, ranking: Int32Array, n: number): Circuit {
  const c = new Uint8Array(g.src.length);
  for (let i = 0; i < Math.min(n, ranking.length); i++) c[ranking[i]] = 1;
  return prune(g, c);
}

/** The nodes a circuit touches, in source order, with the logits last (if reached). */
export function circuitNodes(g: EdgeGraph, c: Circuit): string[] {
  const used = new Uint8Array(g.sources.length);
  let logits = false;
  for (let e = 0; e < c.length; e++) {
    if (!c[e]) continue;
    used[g.src[e]] = 1;
    if (g.destinations[g.dst[e]].kind === 'logits') logits = true;
  }
  const out = g.sources.filter((_, u) => used[u]);
  return logits ? [...out, 'logits'] : out;
}

export const edgesIn = (c: Circuit) => c.reduce((a, v) => a + v, 0);
