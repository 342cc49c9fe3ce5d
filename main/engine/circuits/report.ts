/**
 * Circuit results as files. JSON: `edges` (every edge's score), `circuit` (`nodes`, `edges`) and
 * `faithfulness` (the curve, or the circuit's own point), with EAP-IG's names (`a3.h1`,
 * `a5.h2q`, `m4`, `logits`) used unchanged in the CSV and the app. Reading it back (the app
 * opens these files) checks every field and names the one that is wrong.
 */
import { badInput } from '../errors.ts';
import { circuitNodes, type Circuit } from './extract.ts';
import { buildGraph, type EdgeGraph, type GraphShape } from './graph.ts';
import type { CircuitResult, CurvePoint, Ranking } from './index.ts';
import { RANKING_NAMES as RANKINGS } from '../../../shared/contract.ts';

export interface EdgeRow {
  src: string;
  dst: string;
  eap: number;
  eap_ig?: number;
}

export interface CircuitJson {
  edges: EdgeRow[];
  circuit: { nodes: string[]; edges: EdgeRow[] };
  faithfulness: CurvePoint[];
}

function edgeRow(g: EdgeGraph, e: number, eap: Float32Array, eapIg?: Float32Array): EdgeRow {
  const row: EdgeRow = { src: g.sources[g.src[e]], dst: g.destinations[g.dst[e]].name, eap: eap[e] };
  if (eapIg) row.eap_ig = eapIg[e];
  return row;
}

export function toCircuitJson(r: Pick<CircuitResult, 'graph' | 'eap' | 'eapIg' | 'circuit' | 'faithfulness'>): CircuitJson {
  const g = r.graph;
  const edges = Array.from(g.src, (_, e) => edgeRow(g, e, r.eap, r.eapIg));
  return {
    edges,
    circuit: { nodes: circuitNodes(g, r.circuit), edges: edges.filter((_, e) => r.circuit[e]) },
    faithfulness: r.faithfulness,
  };
}

const csvNumber = (x: number | undefined) => (x === undefined ? '' : String(x));

/** One row per edge, in the graph's order: src, dst, eap, eap_ig, in_circuit (1/0). */
export function toCircuitCsv(r: Pick<CircuitResult, 'graph' | 'eap' | 'eapIg' | 'circuit'>): string {
  const g = r.graph;
  const lines = ['src,dst,eap,eap_ig,in_circuit'];
  for (let e = 0; e < g.src.length; e++) {
    lines.push(`${g.sources[g.src[e]]},${g.destinations[g.dst[e]].name},${csvNumber(r.eap[e])},${csvNumber(r.eapIg?.[e])},${r.circuit[e]}`);
  }
  return lines.join('\n') + '\n';
}

/** What a circuit file holds, checked: the graph it implies, scores in edge order, the circuit mask. */
export interface LoadedCircuit {
  graph: EdgeGraph;
  eap: Float32Array;
  eapIg?: Float32Array;
  circuit: Circuit;
  faithfulness: CurvePoint[];
}

/** Recovers the graph's shape from its source names (`a{l}.h{h}`, `m{l}`) and destinations (k/v heads). */
function shapeFromNames(rows: EdgeRow[], where: string): GraphShape {
  let L = 0, H = 0, Hkv = 0;
  let headToOwnMlp = false;
  for (const r of rows) {
    const a = /^a(\d+)\.h(\d+)$/.exec(r.src);
    if (a) {
      L = Math.max(L, +a[1] + 1);
      H = Math.max(H, +a[2] + 1);
      if (r.dst === `m${a[1]}`) headToOwnMlp = true;
    }
    const m = /^m(\d+)$/.exec(r.src);
    if (m) L = Math.max(L, +m[1] + 1);
    const kv = /^a(\d+)\.h(\d+)[kv]$/.exec(r.dst);
    if (kv) Hkv = Math.max(Hkv, +kv[2] + 1);
  }
  if (!L || !H) throw badInput(`${where}: "edges" names no heads (sources like "a0.h0")`);
  return { nLayers: L, nHeads: H, nKvHeads: Hkv || H, parallelAttnMlp: !headToOwnMlp };
}

function checkRows(x: unknown, where: string): EdgeRow[] {
  if (!Array.isArray(x)) throw badInput(`${where} must be an array of edges`);
  return x.map((r, i) => {
    const w = `${where}[${i}]`;
    if (typeof r !== 'object' || r === null) throw badInput(`${w} must be an object {"src", "dst", "eap"}`);
    const o = r as Record<string, unknown>;
    if (typeof o.src !== 'string' || typeof o.dst !== 'string') throw badInput(`${w}: "src" and "dst" must be strings`);
    if (typeof o.eap !== 'number') throw badInput(`${w}.eap must be a number`);
    if (o.eap_ig !== undefined && typeof o.eap_ig !== 'number') throw badInput(`${w}.eap_ig must be a number`);
    return o as unknown as EdgeRow;
  });
}

/** Parses a `patchbench circuit --out` file; `source` names it in errors. */
export function parseCircuitJson(text: string, source: string): LoadedCircuit {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw badInput(`${source}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw badInput(`${source}: expected an object with "edges", "circuit" and "faithfulness"`);
  const o = raw as Record<string, unknown>;
  const rows = checkRows(o.edges, `${source}: edges`);
  const graph = buildGraph(shapeFromNames(rows, source));
  const index = new Map<string, number>();
  for (let e = 0; e < graph.src.length; e++) index.set(`${graph.sources[graph.src[e]]}->${graph.destinations[graph.dst[e]].name}`, e);
  if (rows.length !== graph.src.length) throw badInput(`${source}: edges has ${rows.length} entries, but a graph with these nodes has ${graph.src.length}`);
  const eap = new Float32Array(rows.length);
  const withIg = rows.some((r) => r.eap_ig !== undefined);
  const eapIg = withIg ? new Float32Array(rows.length) : undefined;
  rows.forEach((r, i) => {
    const e = index.get(`${r.src}->${r.dst}`);
    if (e === undefined) throw badInput(`${source}: edges[${i}] ${r.src} -> ${r.dst} is not an edge of the graph`);
    eap[e] = r.eap;
    if (eapIg) {
      if (r.eap_ig === undefined) throw badInput(`${source}: edges[${i}] has no eap_ig while other edges do`);
      eapIg[e] = r.eap_ig;
    }
  });
  const c = o.circuit as Record<string, unknown> | undefined;
  if (typeof c !== 'object' || c === null) throw badInput(`${source}: "circuit" must be an object {"nodes", "edges"}`);
  const circuit = new Uint8Array(rows.length);
  checkRows(c.edges, `${source}: circuit.edges`).forEach((r, i) => {
    const e = index.get(`${r.src}->${r.dst}`);
    if (e === undefined) throw badInput(`${source}: circuit.edges[${i}] ${r.src} -> ${r.dst} is not an edge of the graph`);
    circuit[e] = 1;
  });
  if (!Array.isArray(o.faithfulness)) throw badInput(`${source}: "faithfulness" must be an array of {"n", "ranking", "faithfulness"}`);
  const faithfulness = o.faithfulness.map((p, i) => {
    const q = p as Record<string, unknown>;
    if (typeof q !== 'object' || q === null || !Number.isInteger(q.n) || typeof q.faithfulness !== 'number' || !RANKINGS.includes(q.ranking as Ranking)) {
      throw badInput(`${source}: faithfulness[${i}] must be {"n": integer, "ranking": ${RANKINGS.map((r) => `"${r}"`).join('|')}, "faithfulness": number}`);
    }
    return { n: q.n as number, ranking: q.ranking as Ranking, faithfulness: q.faithfulness };
  });
  return { graph, eap, eapIg, circuit, faithfulness };
}
