/**
 * One circuit job: edge scores (EAP, or EAP-IG with plain EAP from its first step), a circuit
 * extracted from them (top-n + pruning, or greedy), its faithfulness, and optionally the
 * faithfulness curve against the number of edges for each score and for random circuits.
 */
import { RANKING_NAMES, type RankingName } from '../../../shared/contract.ts';
import { badInput, engineFailureInWords, throwIfAborted } from '../errors.ts';
import type { MetricName } from '../metrics.ts';
import type { HookedModel } from '../model.ts';
import type { Direction, TokenizedPairs } from '../patching/runs.ts';
import { mulberry32 } from '../tasks/random.ts';
import { greedy, randomCircuit, rankEdges, topN, type Circuit } from './extract.ts';
import { faithfulness, prepareFaithfulness } from './faithfulness.ts';
import type { EdgeGraph } from './graph.ts';
import { edgeScores } from './scores.ts';

export type CircuitMethod = 'eap' | 'eap-ig';
/** Names of the rankings in the curve, declared once in the shared contract (the app shows them). */
export const RANKINGS = RANKING_NAMES;
export type Ranking = RankingName;

export interface CircuitRequest {
  direction: Direction;
  metric: MetricName;
  method: CircuitMethod;
  /** EAP-IG steps m (ignored for EAP) */
  steps: number;
  extraction: 'top-n' | 'greedy';
  /** edges taken (before pruning) */
  n: number;
  curve: boolean;
}

export interface CurvePoint {
  n: number;
  ranking: Ranking;
  faithfulness: number;
}

export interface CircuitResult {
  graph: EdgeGraph;
  /** per edge, in the graph's edge order: change in the normalised metric */
  eap: Float32Array;
  eapIg?: Float32Array;
  /** the extracted circuit (0/1 per edge) and the ranking it came from */
  circuit: Circuit;
  ranking: Exclude<Ranking, 'random'>;
  /** the circuit's faithfulness and, with `curve`, every point of the curve (random: mean of 5) */
  faithfulness: CurvePoint[];
  metric: { name: MetricName; clean: number; corrupted: number };
  request: CircuitRequest;
  backend: string;
  seconds: number;
}

export const CURVE_SIZES = [5, 10, 20, 50, 100, 200, 500, 1000];
export const RANDOM_SAMPLES = 5;
export const RANDOM_SEED = 0;

export interface CircuitProgress {
  phase: string;
  done: number;
  total: number;
}

export function checkRequest(req: CircuitRequest): void {
  if (!Number.isInteger(req.steps) || req.steps < 1 || req.steps > 100) throw badInput(`--steps must be an integer from 1 to 100, got ${req.steps}`);
  if (!Number.isInteger(req.n) || req.n < 0) throw badInput(`the number of edges must be a non-negative integer, got ${req.n}`);
}

export async function runCircuit(
  model: HookedModel,
  pairs: TokenizedPairs,
  req: CircuitRequest,
  o: { signal?: AbortSignal; onProgress?: (p: CircuitProgress) => void } = {},
): Promise<CircuitResult> {
  checkRequest(req);
  try {
    return await circuit(model, pairs, req, o);
  } catch (e) {
    // EAP holds every upstream difference of every pair at once (scores.ts): a big model with many
    // pairs can exhaust the wasm heap. Said in words, as patching does (the host restarts the engine).
    throw engineFailureInWords(e, `computing the circuit of ${pairs.clean.length} pairs`, 'try fewer pairs');
  }
}

async function circuit(
  model: HookedModel,
  pairs: TokenizedPairs,
  req: CircuitRequest,
  o: { signal?: AbortSignal; onProgress?: (p: CircuitProgress) => void },
): Promise<CircuitResult> {
  const t0 = performance.now();
  const m = req.method === 'eap-ig' ? req.steps : 1;
  // Units: 2 + m passes for the scores, 2 for faithfulness's plain runs, one per circuit.
  let total = 2 + m + 2 + 1;
  let done = 0;
  const report = (phase: string) => o.onProgress?.({ phase, done, total });
  const scores = await edgeScores(model, pairs, {
    direction: req.direction,
    metric: req.metric,
    steps: m,
    signal: o.signal,
    onProgress: (d, _t, phase) => {
      done = d;
      report(phase);
    },
  });
  const scale = scores.clean - scores.corrupted;
  if (!(Math.abs(scale) > 1e-6 * Math.max(Math.abs(scores.clean), Math.abs(scores.corrupted)))) {
    throw badInput(
      `the clean and corrupted prompts score the same on ${req.metric} (${scores.clean.toPrecision(6)} vs ${scores.corrupted.toPrecision(6)}), so the metric cannot be normalised; choose pairs whose answers differ`,
    );
  }
  const g = scores.graph;
  const E = g.src.length;
  const ranking: Exclude<Ranking, 'random'> = req.method === 'eap-ig' ? 'eap_ig' : 'eap';
  const ranked = { eap: rankEdges(scores.eap), eap_ig: scores.eapIg && rankEdges(scores.eapIg) };
  const extract = (r: Int32Array, n: number) => (req.extraction === 'greedy' ? greedy(g, r, n) : topN(g, r, n));
  const circuit = extract(ranked[ranking]!, req.n);

  // Every circuit to evaluate, with where its faithfulness goes.
  const jobs: { circuit: Circuit; point: CurvePoint; weight: number }[] = [];
  const points: CurvePoint[] = [];
  const add = (c: Circuit, point: CurvePoint, weight = 1) => jobs.push({ circuit: c, point, weight });
  const own: CurvePoint = { n: Math.min(req.n, E), ranking, faithfulness: 0 };
  if (!req.curve) {
    points.push(own);
    add(circuit, own);
  } else {
    const sizes = [...new Set([...CURVE_SIZES.filter((n) => n < E), Math.min(req.n, E), E])].sort((a, b) => a - b);
    const rankings = (['eap', 'eap_ig'] as const).filter((r) => ranked[r]);
    for (const r of rankings) {
      for (const n of sizes) {
        const p: CurvePoint = { n, ranking: r, faithfulness: 0 };
        points.push(p);
        add(r === ranking && n === own.n ? circuit : extract(ranked[r]!, n), p);
      }
    }
    const rng = mulberry32(RANDOM_SEED);
    for (const n of sizes) {
      const p: CurvePoint = { n, ranking: 'random', faithfulness: 0 };
      points.push(p);
      for (let s = 0; s < RANDOM_SAMPLES; s++) add(randomCircuit(g, n, rng), p, 1 / RANDOM_SAMPLES);
    }
  }
  total = 2 + m + 2 + jobs.length;
  done = 2 + m;
  report('faithfulness: plain runs');
  throwIfAborted(o.signal);
  const fctx = await prepareFaithfulness(model, g, pairs, req.metric);
  try {
    done += 2;
    report('faithfulness: patched runs');
    const f = await faithfulness(
      fctx,
      jobs.map((j) => j.circuit),
      {
        signal: o.signal,
        onBatch: (d) => {
          done = 2 + m + 2 + d;
          report('faithfulness: patched runs');
        },
      },
    );
    jobs.forEach((j, i) => (j.point.faithfulness += j.weight * f[i]));
  } finally {
    fctx.dispose();
  }
  return {
    graph: g,
    eap: scores.eap,
    eapIg: scores.eapIg,
    circuit,
    ranking,
    faithfulness: points,
    metric: { name: req.metric, clean: scores.clean, corrupted: scores.corrupted },
    request: req,
    backend: model.info.backend,
    seconds: (performance.now() - t0) / 1000,
  };
}
