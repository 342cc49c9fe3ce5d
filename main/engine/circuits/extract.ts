/**
 * Circuits as edge sets (a 0/1 mask in the graph's edge order), extracted from edge scores as in
 * EAP-IG's `apply_topn` / `apply_greedy` / `prune_dead_nodes`:
 *  - top-n: the n edges of largest |S| (ties keep the edge order), then pruning;
 *  - greedy: grow from the logits, always adding the highest-|S| edge whose child is already in
 *    the circuit, then pruning;
 *  - random: n edges drawn uniformly (the baseline), then pruning.
 * Ranking, top-n and pruning live in shared/circuit-extract.ts, so that the app extracts the same
 * circuits for its n slider.
 */
import { readersOf, type EdgeGraph } from './graph.ts';
import { prune, type Circuit } from '../../../shared/circuit-extract.ts';
import type { Rng } from '../tasks/random.ts';

export { circuitNodes, edgesIn, prune, rankEdges, topN, type Circuit } from '../../../shared/circuit-extract.ts';

/** A binary min-heap of edge indices keyed by their place in the ranking. */
class RankHeap {
  private items: number[] = [];
  constructor(private readonly place: Int32Array) {}
  get size() {
    return this.items.length;
  }
  push(e: number) {
    const a = this.items;
    a.push(e);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (this.place[a[p]] <= this.place[a[i]]) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }
  pop(): number {
    const a = this.items;
    const top = a[0];
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.place[a[l]] < this.place[a[m]]) m = l;
        if (r < a.length && this.place[a[r]] < this.place[a[m]]) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}

/** Greedy growth from the logits to n edges, by the ranking, then pruned. */
export function greedy(g: EdgeGraph, ranking: Int32Array, n: number): Circuit {
  const place = new Int32Array(ranking.length);
  ranking.forEach((e, i) => (place[e] = i));
  // The destinations each node reads, so that a node joining opens its incoming edges.
  const nSrc = g.sources.length;
  const reads: number[][] = Array.from({ length: nSrc + 1 }, () => []);
  g.destinations.forEach((_, j) => {
    for (const r of readersOf(g, j)) reads[r < 0 ? nSrc : r].push(j);
  });
  const inCircuit = new Uint8Array(nSrc + 1);
  const opened = new Uint8Array(g.destinations.length);
  const heap = new RankHeap(place);
  const join = (nodeId: number) => {
    if (inCircuit[nodeId]) return;
    inCircuit[nodeId] = 1;
    for (const j of reads[nodeId]) {
      if (opened[j]) continue;
      opened[j] = 1;
      for (let e = g.dstStart[j]; e < g.dstStart[j + 1]; e++) heap.push(e);
    }
  };
  join(nSrc);
  const c = new Uint8Array(g.src.length);
  for (let added = 0; added < n && heap.size; added++) {
    const e = heap.pop();
    c[e] = 1;
    join(g.src[e]);
  }
  return prune(g, c);
}

/** n edges drawn uniformly without replacement, pruned. */
export function randomCircuit(g: EdgeGraph, n: number, rng: Rng): Circuit {
  const E = g.src.length;
  const idx = Int32Array.from({ length: E }, (_, i) => i);
  const c = new Uint8Array(E);
  for (let i = 0; i < Math.min(n, E); i++) {
    const j = i + Math.floor(rng() * (E - i));
    [idx[i], idx[j]] = [idx[j], idx[i]];
    c[idx[i]] = 1;
  }
  return prune(g, c);
}

