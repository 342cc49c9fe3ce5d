/**
 * The edge graph of a transformer, as in EAP-IG's `graph.py` (Hanna, Pezzelle and Belinkov 2024).
 *
 * Upstream nodes write to the residual stream: the input (the embeddings), each head's result
 * `a{l}.h{h}` (TransformerLens hook_result) and each MLP's output `m{l}`. Downstream inputs read it:
 * each head's q, k and v inputs `a{l}.h{h}q|k|v` (k and v per KV head under grouped-query
 * attention), each MLP's input `m{l}` and the `logits`. An input reads the sum of everything
 * upstream of it, so an edge u → v exists wherever u writes before v reads: every node feeds every
 * later input, a head feeds its own layer's MLP unless attention and MLP run in parallel (NeoX),
 * and the logits read everything. GPT-2 small has 32,491 edges.
 *
 * Order, used for every array of edges: destinations in forward order (per layer the q inputs of
 * every head, then k, then v, then the MLP; the logits last), then sources in forward order
 * (input, then per layer the heads, then the MLP). Ties in a ranking keep this order.
 *
 * Pure and dependency-free: the engine scores and patches edges in this order, and the app draws
 * and lists them from it.
 */
export interface GraphShape {
  nLayers: number;
  nHeads: number;
  /** key/value heads (= nHeads without grouped-query attention) */
  nKvHeads: number;
  /** attention and MLP read the same residual (NeoX, GPT-J): no head → same-layer MLP edges */
  parallelAttnMlp: boolean;
}

export type Qkv = 'q' | 'k' | 'v';

export interface Destination {
  name: string;
  /** layer it reads at (nLayers for the logits) */
  layer: number;
  kind: Qkv | 'mlp' | 'logits';
  /** head (q) or KV head (k, v) */
  head?: number;
  /** number of sources (a prefix of the source order) */
  sources: number;
}

export interface EdgeGraph {
  shape: GraphShape;
  /** upstream nodes in forward order */
  sources: string[];
  /** downstream inputs in forward order */
  destinations: Destination[];
  /** edge i: sources[src[i]] → destinations[dst[i]] */
  src: Int32Array;
  dst: Int32Array;
  /** first edge of each destination (length destinations + 1) */
  dstStart: Int32Array;
}

/** Index of `a{l}.h{h}` in the source order; the input is 0, `m{l}` follows layer l's heads. */
export const headSource = (s: GraphShape, l: number, h: number) => 1 + l * (s.nHeads + 1) + h;
export const mlpSource = (s: GraphShape, l: number) => 1 + l * (s.nHeads + 1) + s.nHeads;

export function buildGraph(s: GraphShape): EdgeGraph {
  const sources = ['input'];
  for (let l = 0; l < s.nLayers; l++) {
    for (let h = 0; h < s.nHeads; h++) sources.push(`a${l}.h${h}`);
    sources.push(`m${l}`);
  }
  const destinations: Destination[] = [];
  for (let l = 0; l < s.nLayers; l++) {
    const before = 1 + l * (s.nHeads + 1);
    for (const kind of ['q', 'k', 'v'] as Qkv[]) {
      const n = kind === 'q' ? s.nHeads : s.nKvHeads;
      for (let h = 0; h < n; h++) destinations.push({ name: `a${l}.h${h}${kind}`, layer: l, kind, head: h, sources: before });
    }
    destinations.push({ name: `m${l}`, layer: l, kind: 'mlp', sources: before + (s.parallelAttnMlp ? 0 : s.nHeads) });
  }
  destinations.push({ name: 'logits', layer: s.nLayers, kind: 'logits', sources: sources.length });
  const total = destinations.reduce((a, d) => a + d.sources, 0);
  const src = new Int32Array(total);
  const dst = new Int32Array(total);
  const dstStart = new Int32Array(destinations.length + 1);
  let e = 0;
  destinations.forEach((d, j) => {
    dstStart[j] = e;
    for (let u = 0; u < d.sources; u++, e++) {
      src[e] = u;
      dst[e] = j;
    }
  });
  dstStart[destinations.length] = e;
  return { shape: s, sources, destinations, src, dst, dstStart };
}

export const edgeCount = (g: EdgeGraph) => g.src.length;

/** `a3.h1 -> a5.h2q`: an edge's name as EAP-IG writes it. */
export const edgeName = (g: EdgeGraph, e: number) => `${g.sources[g.src[e]]}->${g.destinations[g.dst[e]].name}`;

/**
 * The nodes (as source indices, or −1 for the logits) that read a destination input: a head reads
 * its q, k, v inputs, an MLP its input; under GQA a KV head's k/v input feeds every query head of
 * its group.
 */
export function readersOf(g: EdgeGraph, j: number): number[] {
  const d = g.destinations[j];
  const s = g.shape;
  if (d.kind === 'logits') return [-1];
  if (d.kind === 'mlp') return [mlpSource(s, d.layer)];
  if (d.kind === 'q') return [headSource(s, d.layer, d.head!)];
  const group = s.nHeads / s.nKvHeads;
  return Array.from({ length: group }, (_, i) => headSource(s, d.layer, d.head! * group + i));
}
