/**
 * The app's view state as a project stores it (free-form JSON, kept apart from the results), and
 * the run panel's settings in the project's terms. Reading is defensive: a view state written by
 * another version, or edited by hand, loses only the fields that do not make sense.
 */
import { DIRECTIONS, KIND_NAMES, METRIC_NAMES, projectPairs, RANKINGS, type KindName, type MetricName, type PromptPair, type ProjectSettings } from '../../../shared/contract.ts';
import type { Schema } from '../../../shared/schema.ts';
import type { ThemeName } from './charts/theme.ts';
import type { SortKey } from './rows.ts';
import { RUN_METHODS, type RunMethod } from './session-file.ts';

export const VIEW_TAB_NAMES = ['pairs', 'scatter', 'heatmap', 'recall', 'circuit'] as const;
/** Extra columns the ranking table can show and sort by: the QK-fixed estimate and the AtP* scores. */
export const SCORE_COLUMNS = ['attribution_qk', 'score_atp', 'score_atp_qk', 'score_graddrop', 'score_atp_star'] as const;
export type ScoreColumn = (typeof SCORE_COLUMNS)[number];

export interface ViewState {
  theme?: ThemeName;
  tab?: (typeof VIEW_TAB_NAMES)[number];
  heatmapKind?: KindName | null;
  /** the locked component */
  selected?: { kind: KindName; index: number } | null;
  /** the run panel as it was (it may differ from the settings that produced the results) */
  run?: RunPanel & { kinds: KindName[] };
  selectedPair?: number;
  /** pairs edited after the run (the project's pairs are those the results came from) */
  draftPairs?: PromptPair[];
  /** the views' share of the height above the ranking table */
  viewsShare?: number;
  /** the ranking table's order and filters */
  table?: { sort: { key: SortKey; desc: boolean; abs: boolean }; kind: KindName | ''; layer: string; pos: string; search: string; score?: ScoreColumn };
  /** the scatter's head_q/head_k facets show the QK-fixed estimate next to the plain one */
  scatterQk?: boolean;
  /** the Circuit view: its n (top edges before pruning) and the score it ranks by */
  circuit?: CircuitView;
}

export interface CircuitView {
  n: number;
  score: 'eap' | 'eap_ig';
}

const SORT_KEYS: readonly SortKey[] = ['label', 'kind', 'layer', 'head', 'pos', 'attribution', 'score', 'activation', 'error'];

/** The run panel's choices ('verify' is attribution, then activation patching of the top verifyK). */
export interface RunPanel {
  direction: (typeof DIRECTIONS)[number];
  metric: MetricName;
  kinds: readonly KindName[];
  method: RunMethod;
  verifyK: number;
  prependBos: boolean;
  /** AtP*: the QK fix, GradDrop, the order "verify top K" follows ('' = the default: the most complete computed), recall K */
  qkFix?: boolean;
  gradDrop?: boolean;
  rankBy?: (typeof RANKINGS)[number] | '';
  recallK?: number;
}

/** The run panel's choices as project settings ('verify' is attribution with verifyTop). */
export function settingsOf(r: RunPanel): ProjectSettings {
  return {
    direction: r.direction,
    metric: r.metric,
    kinds: [...r.kinds],
    method: r.method === 'verify' ? 'attribution' : r.method,
    ...(r.method === 'verify' ? { verifyTop: r.verifyK } : {}),
    ...(r.qkFix ? { qkFix: true } : {}),
    ...(r.gradDrop ? { gradDrop: true } : {}),
    ...(r.method === 'verify' && r.rankBy ? { rankBy: r.rankBy } : {}),
    ...(r.method === 'both' && r.recallK ? { recallK: r.recallK } : {}),
    prependBos: r.prependBos,
  };
}

/** The run panel's method for project settings. */
export function runMethodOf(s: ProjectSettings): RunMethod {
  return s.method === 'attribution' && s.verifyTop ? 'verify' : s.method;
}

export function viewOf(v: ViewState): Record<string, unknown> {
  return JSON.parse(JSON.stringify(v)) as Record<string, unknown>;
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const oneOf = <T extends string>(x: unknown, values: readonly T[]): T | undefined => (typeof x === 'string' && (values as readonly string[]).includes(x) ? (x as T) : undefined);
const isPair = (x: unknown): x is PromptPair =>
  isObj(x) && ['clean', 'corrupted', 'answer', 'wrong'].every((k) => typeof x[k] === 'string') && Object.keys(x).length === 4;

const fits = (schema: Schema<unknown>, x: unknown): boolean => {
  try {
    schema.parse(x);
    return true;
  } catch {
    return false;
  }
};

export function readView(raw: unknown): ViewState {
  const v = isObj(raw) ? raw : {};
  const out: ViewState = {};
  const theme = oneOf(v.theme, ['light', 'dark'] as const);
  if (theme) out.theme = theme;
  const tab = oneOf(v.tab, VIEW_TAB_NAMES);
  if (tab) out.tab = tab;
  const hk = oneOf(v.heatmapKind, KIND_NAMES);
  if (hk) out.heatmapKind = hk;
  if (isObj(v.selected) && oneOf(v.selected.kind, KIND_NAMES) && Number.isInteger(v.selected.index)) {
    out.selected = { kind: v.selected.kind as KindName, index: v.selected.index as number };
  }
  if (isObj(v.run)) {
    const r = v.run;
    const direction = oneOf(r.direction, DIRECTIONS);
    const metric = oneOf(r.metric, METRIC_NAMES);
    const method = oneOf(r.method, RUN_METHODS);
    const kinds = Array.isArray(r.kinds) ? r.kinds.filter((k): k is KindName => !!oneOf(k, KIND_NAMES)) : null;
    const verifyK = Number.isInteger(r.verifyK) && (r.verifyK as number) >= 1 ? (r.verifyK as number) : 20;
    if (direction && metric && method && kinds && typeof r.prependBos === 'boolean') {
      out.run = { direction, metric, method, kinds, verifyK, prependBos: r.prependBos };
      if (r.qkFix === true) out.run.qkFix = true;
      if (r.gradDrop === true) out.run.gradDrop = true;
      const rankBy = oneOf(r.rankBy, RANKINGS);
      if (rankBy) out.run.rankBy = rankBy;
      if (Number.isInteger(r.recallK) && (r.recallK as number) >= 1) out.run.recallK = r.recallK as number;
    }
  }
  if (Number.isInteger(v.selectedPair) && (v.selectedPair as number) >= 0) out.selectedPair = v.selectedPair as number;
  // Draft pairs become the project's pairs when it has no results: only as many, and as long, as it can save.
  if (Array.isArray(v.draftPairs) && v.draftPairs.length > 0 && v.draftPairs.every(isPair) && fits(projectPairs, v.draftPairs)) out.draftPairs = v.draftPairs.map((p) => ({ ...p }));
  if (typeof v.viewsShare === 'number' && v.viewsShare >= 0.2 && v.viewsShare <= 0.85) out.viewsShare = v.viewsShare;
  if (isObj(v.table) && isObj(v.table.sort)) {
    const t = v.table;
    const sort = t.sort as Record<string, unknown>;
    const key = oneOf(sort.key, SORT_KEYS);
    const str = (x: unknown) => (typeof x === 'string' && x.length < 200 ? x : '');
    if (key) {
      out.table = {
        sort: { key, desc: sort.desc === true, abs: sort.abs === true },
        kind: oneOf(t.kind, KIND_NAMES) ?? '',
        layer: /^\d*$/.test(str(t.layer)) ? str(t.layer) : '',
        pos: /^\d*$/.test(str(t.pos)) ? str(t.pos) : '',
        search: str(t.search),
      };
      const score = oneOf(t.score, SCORE_COLUMNS);
      if (score) out.table.score = score;
    }
  }
  if (typeof v.scatterQk === 'boolean') out.scatterQk = v.scatterQk;
  if (isObj(v.circuit) && Number.isInteger(v.circuit.n) && (v.circuit.n as number) >= 1) {
    const score = oneOf(v.circuit.score, ['eap', 'eap_ig'] as const);
    if (score) out.circuit = { n: v.circuit.n as number, score };
  }
  return out;
}
