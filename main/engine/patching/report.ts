/**
 * Patching results as files: JSON in the schema of test/fixtures/gpt2-tiny-random/expected (so results and reference
 * outputs compare directly) and CSV with one readable row per component.
 */
import type { Tokenizer } from '../tokenizer.ts';
import { componentIndex, componentLabel, KIND_SPECS } from './components.ts';
import { SCORE_NAMES } from './attribution.ts';
import type { KindResult, PatchingResult } from './index.ts';
import { topK } from './summary.ts';

export interface JsonRow {
  index: number[];
  attribution?: number;
  attribution_qk?: number;
  score_atp?: number;
  score_atp_qk?: number;
  score_graddrop?: number;
  score_atp_star?: number;
  activation?: number;
}

/** The per-component value columns a kind has, in output order: [JSON/CSV name, values]. */
function valueColumns(k: KindResult): [string, Float32Array | undefined][] {
  return [
    ['attribution', k.attribution],
    ['attribution_qk', k.attributionQk],
    ...SCORE_NAMES.map((s): [string, Float32Array | undefined] => [`score_${s}`, k.scores?.[s]]),
    ['activation', k.activation],
  ];
}

const finite = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : undefined);

export function toJsonReport(r: PatchingResult) {
  const kinds: Record<string, JsonRow[]> = {};
  const summary: Record<string, unknown> = {};
  const recall: Record<string, unknown> = {};
  for (const k of r.kinds) {
    const n = k.shape.reduce((a, b) => a * b, 1);
    const columns = valueColumns(k).filter(([, v]) => v);
    kinds[k.kind] = Array.from({ length: n }, (_, i) => {
      const row: Record<string, unknown> = { index: componentIndex(k.shape, i) };
      for (const [name, values] of columns) {
        const x = finite(values![i]);
        if (x !== undefined) row[name] = x;
      }
      return row as unknown as JsonRow;
    });
    const withLabels = (s: NonNullable<KindResult['summary']>) => ({
      ...s,
      outliers: s.outliers.map((o) => ({ ...o, index: componentIndex(k.shape, o.component), label: componentLabel(k.kind, componentIndex(k.shape, o.component)) })),
    });
    summary[k.kind] = {
      ...(k.summary ? withLabels(k.summary) : {}),
      ...(k.summaryQk ? { qk_fix: withLabels(k.summaryQk) } : {}),
      ...(k.verification ? { verification: { ...k.verification, checked: k.verification.checked.map((c) => componentIndex(k.shape, c)) } } : {}),
    };
    if (k.recall) recall[k.kind] = k.recall;
  }
  return {
    direction: r.direction,
    metric: { name: r.metric.name, clean_logit_diff: r.metric.clean, corrupted_logit_diff: r.metric.corrupted },
    tokens: r.tokens,
    kinds,
    summary,
    ...(Object.keys(recall).length ? { recall } : {}),
    backend: r.backend,
    seconds: r.seconds,
  };
}

const csvField = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** One row per component: label, kind, layer, head, position (with its token in the first clean prompt), neuron, values. */
export function toCsv(r: PatchingResult, tokenizer: Tokenizer): string {
  // the AtP* columns appear when some kind has them (empty where a kind has not)
  const extra = ['attribution_qk', ...SCORE_NAMES.map((s) => `score_${s}`)].filter((c) => r.kinds.some((k) => valueColumns(k).some(([n, v]) => n === c && v)));
  const lines = [['label,kind,layer,head,pos,token,neuron,attribution', ...extra, 'activation,error'].join(',')];
  const first = r.tokens.clean[0];
  for (const k of r.kinds) {
    const columns = new Map(valueColumns(k));
    const dims = KIND_SPECS[k.kind].dims;
    const n = k.shape.reduce((a, b) => a * b, 1);
    for (let i = 0; i < n; i++) {
      const idx = componentIndex(k.shape, i);
      const get = (d: string) => (dims.indexOf(d as never) >= 0 ? idx[1 + dims.indexOf(d as never)] : undefined);
      const pos = get('pos');
      const a = finite(k.attribution?.[i]);
      const v = finite(k.activation?.[i]);
      lines.push(
        [
          csvField(componentLabel(k.kind, idx)),
          k.kind,
          idx[0],
          get('head') ?? '',
          pos ?? '',
          pos === undefined ? '' : csvField(tokenizer.tokenString(first[pos])),
          get('neuron') ?? '',
          a ?? '',
          ...extra.map((c) => finite(columns.get(c)?.[i]) ?? ''),
          v ?? '',
          a !== undefined && v !== undefined ? a - v : '',
        ].join(','),
      );
    }
  }
  return lines.join('\n') + '\n';
}

/** The components with the largest effects, as a plain-text table (the command line without --out). */
export function topComponentsTable(r: PatchingResult, perKind = 5): string {
  const fmt = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '' : x.toFixed(3)).padStart(11);
  const lines = [`${'component'.padEnd(24)}${'attribution'.padStart(11)}${'activation'.padStart(11)}`];
  for (const k of r.kinds) {
    // rank by the exact effect where it was computed, else by the estimate
    const rankBy = k.activation && k.activation.some(Number.isFinite) ? k.activation : k.attribution!;
    for (const i of topK(rankBy, perKind)) {
      const label = componentLabel(k.kind, componentIndex(k.shape, i));
      lines.push(`${label.padEnd(24)}${fmt(k.attribution?.[i])}${fmt(k.activation?.[i])}`);
    }
  }
  return lines.join('\n') + '\n';
}
