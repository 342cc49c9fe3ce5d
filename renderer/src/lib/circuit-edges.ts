/**
 * The Circuit view's edge table: which edges to list, in which order, and their CSV, in the names
 * and columns of `patchbench circuit --csv` (src,dst,eap,eap_ig,in_circuit; checked against the
 * engine's report in test/ui/circuit-lib.test.ts). Pure.
 */
import type { EdgeGraph } from '../../../shared/circuit-graph.ts';

export type EdgeSortKey = 'abs' | 'score' | 'src' | 'dst';
export interface EdgeSort {
  key: EdgeSortKey;
  desc: boolean;
}

export interface EdgeQuery {
  /** the score shown and sorted by */
  scores: Float32Array;
  /** its ranking (edge indices by |S| descending, ties in edge order): the |S| order, ready made */
  ranking: Int32Array;
  /** the circuit at the current n (1 in, 0 out) */
  circuit: ArrayLike<number>;
  /** a node-name filter: an edge is kept when its source or destination contains every word */
  text: string;
  inCircuitOnly: boolean;
  sort: EdgeSort;
}

export const srcName = (g: EdgeGraph, e: number) => g.sources[g.src[e]];
export const dstName = (g: EdgeGraph, e: number) => g.destinations[g.dst[e]].name;

/** The rows of the table: edge indices, filtered and sorted; ties keep the edge order. */
export function queryEdges(g: EdgeGraph, q: EdgeQuery): Int32Array {
  const words = q.text.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const keep = (e: number) => {
    if (q.inCircuitOnly && !q.circuit[e]) return false;
    if (!words.length) return true;
    const s = srcName(g, e).toLowerCase();
    const d = dstName(g, e).toLowerCase();
    return words.every((w) => s.includes(w) || d.includes(w) || `${s}->${d}`.includes(w));
  };
  const { key, desc } = q.sort;
  if (key === 'abs') {
    // The ranking is already |S| descending with ties in edge order: filter it, or walk it backwards.
    const out: number[] = [];
    if (desc) for (let i = 0; i < q.ranking.length; i++) keep(q.ranking[i]) && out.push(q.ranking[i]);
    else {
      // Ascending |S|, ties still in edge order: reverse the ranking by groups of equal |S|.
      const r = q.ranking;
      for (let end = r.length; end > 0; ) {
        let start = end - 1;
        const a = Math.abs(q.scores[r[start]]);
        while (start > 0 && Math.abs(q.scores[r[start - 1]]) === a) start--;
        for (let i = start; i < end; i++) keep(r[i]) && out.push(r[i]);
        end = start;
      }
    }
    return Int32Array.from(out);
  }
  const rows: number[] = [];
  for (let e = 0; e < g.src.length; e++) if (keep(e)) rows.push(e);
  const sign = desc ? -1 : 1;
  const cmp =
    key === 'score'
      ? (a: number, b: number) => sign * (q.scores[a] - q.scores[b]) || a - b
      : key === 'src'
        ? (a: number, b: number) => sign * (g.src[a] - g.src[b]) || sign * (g.dst[a] - g.dst[b]) || a - b
        : (a: number, b: number) => sign * (g.dst[a] - g.dst[b]) || sign * (g.src[a] - g.src[b]) || a - b;
  rows.sort(cmp);
  return Int32Array.from(rows);
}

const num = (x: number | undefined) => (x === undefined ? '' : String(x));

/**
 * CSV of some edges in the given order, as `patchbench circuit --csv` writes every edge:
 * src,dst,eap,eap_ig,in_circuit (eap_ig empty without EAP-IG scores).
 */
export function edgesCsv(g: EdgeGraph, c: { eap: Float32Array; eapIg?: Float32Array }, circuit: ArrayLike<number>, rows: ArrayLike<number>): string {
  const lines = ['src,dst,eap,eap_ig,in_circuit'];
  for (let i = 0; i < rows.length; i++) {
    const e = rows[i];
    lines.push(`${srcName(g, e)},${dstName(g, e)},${num(c.eap[e])},${num(c.eapIg?.[e])},${circuit[e] ? 1 : 0}`);
  }
  return lines.join('\n') + '\n';
}

/** Every edge in the graph's order (the CLI's CSV order). */
export const edgeOrder = (g: EdgeGraph) => Int32Array.from({ length: g.src.length }, (_, i) => i);
