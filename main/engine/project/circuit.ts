/**
 * A project's circuit (optional, added within schemaVersion 2: files without it open as before, and
 * older apps ignore the field). In the header:
 *
 *   circuit  {request: {direction, metric, method, steps, extraction, n, curve},
 *             graph: {nLayers, nHeads, nKvHeads, parallelAttnMlp},
 *             metric: {clean, corrupted}, provenance: {appVersion, backend, date, seconds},
 *             eap: ARRAY, eapIg?: ARRAY, circuit: ARRAY (1 for an edge in the circuit, else 0),
 *             faithfulness: [{n, ranking, faithfulness}]}
 *
 * Arrays hold one value per edge in the graph's edge order (circuits/graph.ts).
 */
import { buildGraph, type GraphShape } from '../circuits/graph.ts';
import { RANKINGS, type CircuitRequest, type CircuitResult, type CurvePoint } from '../circuits/index.ts';
import { METRICS, type MetricName } from '../metrics.ts';
import type { Fields } from './check.ts';
import { appVersion } from './io.ts';
import type { Provenance } from './types.ts';

export interface ProjectCircuit {
  request: CircuitRequest;
  graph: GraphShape;
  metric: { clean: number; corrupted: number };
  provenance: Provenance;
  eap: Float32Array;
  eapIg?: Float32Array;
  circuit: Uint8Array;
  faithfulness: CurvePoint[];
}

type Take = (entry: unknown, at: string, expected: number) => Float32Array;
type Entry = (a: Float32Array) => unknown;

export function circuitFromResult(r: CircuitResult, date = new Date()): ProjectCircuit {
  return {
    request: { ...r.request },
    graph: { ...r.graph.shape },
    metric: { clean: r.metric.clean, corrupted: r.metric.corrupted },
    provenance: { appVersion: appVersion(), backend: r.backend, date: date.toISOString(), seconds: r.seconds },
    eap: r.eap,
    eapIg: r.eapIg,
    circuit: r.circuit,
    faithfulness: r.faithfulness.map((p) => ({ ...p })),
  };
}

export function readCircuit(f: Fields, v: unknown, take: Take): ProjectCircuit {
  const at = 'circuit';
  const o = f.obj(v, at);
  const rq = f.obj(f.get(o, at, 'request'), `${at}.request`);
  const w = `${at}.request`;
  const request: CircuitRequest = {
    direction: f.oneOf(f.get(rq, w, 'direction'), `${w}.direction`, ['denoising', 'noising'] as const),
    metric: f.oneOf(f.get(rq, w, 'metric'), `${w}.metric`, Object.keys(METRICS) as MetricName[]),
    method: f.oneOf(f.get(rq, w, 'method'), `${w}.method`, ['eap', 'eap-ig'] as const),
    steps: f.int(f.get(rq, w, 'steps'), `${w}.steps`, 1, 100),
    extraction: f.oneOf(f.get(rq, w, 'extraction'), `${w}.extraction`, ['top-n', 'greedy'] as const),
    n: f.int(f.get(rq, w, 'n'), `${w}.n`),
    curve: f.bool(f.get(rq, w, 'curve'), `${w}.curve`),
  };
  const go = f.obj(f.get(o, at, 'graph'), `${at}.graph`);
  const gi = (k: string) => f.int(f.get(go, `${at}.graph`, k), `${at}.graph.${k}`, 1);
  const graph: GraphShape = { nLayers: gi('nLayers'), nHeads: gi('nHeads'), nKvHeads: gi('nKvHeads'), parallelAttnMlp: f.bool(f.get(go, `${at}.graph`, 'parallelAttnMlp'), `${at}.graph.parallelAttnMlp`) };
  if (graph.nHeads % graph.nKvHeads !== 0) f.fail(`${at}.graph.nKvHeads ${graph.nKvHeads} does not divide nHeads ${graph.nHeads}`);
  const E = buildGraph(graph).src.length;
  const m = f.obj(f.get(o, at, 'metric'), `${at}.metric`);
  const metric = { clean: f.num(f.get(m, `${at}.metric`, 'clean'), `${at}.metric.clean`), corrupted: f.num(f.get(m, `${at}.metric`, 'corrupted'), `${at}.metric.corrupted`) };
  const p = f.obj(f.get(o, at, 'provenance'), `${at}.provenance`);
  const pw = `${at}.provenance`;
  const provenance: Provenance = {
    appVersion: f.strOrNull(f.get(p, pw, 'appVersion'), `${pw}.appVersion`),
    backend: f.str(f.get(p, pw, 'backend'), `${pw}.backend`),
    date: f.date(f.get(p, pw, 'date'), `${pw}.date`),
    seconds: f.num(f.get(p, pw, 'seconds'), `${pw}.seconds`),
  };
  const eap = take(f.get(o, at, 'eap'), `${at}.eap`, E);
  const igRaw = f.opt(o, 'eapIg');
  const eapIg = igRaw === undefined || igRaw === null ? undefined : take(igRaw, `${at}.eapIg`, E);
  if (request.method === 'eap-ig' && !eapIg) f.fail(`missing field ${at}.eapIg (${at}.request.method is eap-ig)`);
  const mask = take(f.get(o, at, 'circuit'), `${at}.circuit`, E);
  const circuit = new Uint8Array(E);
  mask.forEach((x, i) => {
    if (x !== 0 && x !== 1) f.fail(`${at}.circuit[${i}] is ${x}; the circuit holds 1 (in) or 0 (out) per edge`);
    circuit[i] = x;
  });
  const faithfulness = f.arr(f.get(o, at, 'faithfulness'), `${at}.faithfulness`).map((x, i) => {
    const q = f.obj(x, `${at}.faithfulness[${i}]`);
    const qa = `${at}.faithfulness[${i}]`;
    return {
      n: f.int(f.get(q, qa, 'n'), `${qa}.n`, 0, E),
      ranking: f.oneOf(f.get(q, qa, 'ranking'), `${qa}.ranking`, RANKINGS),
      faithfulness: f.num(f.get(q, qa, 'faithfulness'), `${qa}.faithfulness`),
    };
  });
  return { request, graph, metric, provenance, eap, eapIg, circuit, faithfulness };
}

export function encodeCircuit(c: ProjectCircuit, entry: Entry): Record<string, unknown> {
  const out: Record<string, unknown> = {
    request: { ...c.request },
    graph: { ...c.graph },
    metric: { ...c.metric },
    provenance: { ...c.provenance },
    eap: entry(c.eap),
  };
  if (c.eapIg) out.eapIg = entry(c.eapIg);
  out.circuit = entry(Float32Array.from(c.circuit));
  out.faithfulness = c.faithfulness.map((p) => ({ n: p.n, ranking: p.ranking, faithfulness: p.faithfulness }));
  return out;
}
