/**
 * The component ranking as columns. One table row per component of every kind in a result,
 * stored in typed arrays (a result can have 50,000+ components); sorting and filtering produce an
 * Int32Array of row numbers, and labels are made only for rows that are shown or searched.
 */
import type { KindName, PatchingResult } from '../../../shared/contract.ts';
import type { ScoreColumn } from './project-view.ts';
import { showToken } from './tokens.ts';

export interface Table {
  result: PatchingResult;
  size: number;
  kindOf: Uint8Array; // index into result.kinds
  flat: Int32Array; // component index within its kind
  layer: Int32Array;
  head: Int32Array; // -1 where the kind has no head
  pos: Int32Array; // -1 where the kind has no position
  neuron: Int32Array; // -1 where the kind has no neuron
  attribution: Float32Array; // NaN where not computed
  activation: Float32Array; // NaN where not computed
  /** the QK-fixed estimate (the plain one outside head_q/head_k) and the AtP* scores, those the result has */
  scores: Partial<Record<ScoreColumn, Float32Array>>;
}

/** A kind's values in a score column, if it has them. attribution_qk is the plain estimate outside head_q/head_k. */
function scoreValues(k: PatchingResult['kinds'][number], c: ScoreColumn): Float32Array | undefined {
  if (c === 'attribution_qk') return k.attributionQk ?? (k.scores ? k.attribution : undefined);
  return k.scores?.[c.slice('score_'.length) as keyof NonNullable<typeof k.scores>];
}

/** The score columns a result has (for any kind). */
export function scoreColumns(result: PatchingResult): ScoreColumn[] {
  const all: ScoreColumn[] = ['attribution_qk', 'score_atp', 'score_atp_qk', 'score_graddrop', 'score_atp_star'];
  return all.filter((c) => (c === 'attribution_qk' ? result.kinds.some((k) => k.attributionQk) : result.kinds.some((k) => scoreValues(k, c))));
}

export function buildTable(result: PatchingResult): Table {
  const size = result.kinds.reduce((s, k) => s + k.shape.reduce((a, b) => a * b, 1), 0);
  const t: Table = {
    result,
    size,
    kindOf: new Uint8Array(size),
    flat: new Int32Array(size),
    layer: new Int32Array(size),
    head: new Int32Array(size).fill(-1),
    pos: new Int32Array(size).fill(-1),
    neuron: new Int32Array(size).fill(-1),
    attribution: new Float32Array(size).fill(NaN),
    activation: new Float32Array(size).fill(NaN),
    scores: Object.fromEntries(scoreColumns(result).map((c) => [c, new Float32Array(size).fill(NaN)])),
  };
  const columns = Object.entries(t.scores) as [ScoreColumn, Float32Array][];
  let r = 0;
  result.kinds.forEach((k, ki) => {
    const n = k.shape.reduce((a, b) => a * b, 1);
    const cols = k.dims.map((d) => (d === 'layer' ? t.layer : d === 'head' ? t.head : d === 'pos' ? t.pos : t.neuron));
    for (let i = 0; i < n; i++, r++) {
      t.kindOf[r] = ki;
      t.flat[r] = i;
      // Row-major over shape, layer first (as the engine lays components out).
      let rest = i;
      for (let d = k.shape.length - 1; d >= 0; d--) {
        cols[d][r] = rest % k.shape[d];
        rest = Math.floor(rest / k.shape[d]);
      }
      if (k.attribution) t.attribution[r] = k.attribution[i];
      if (k.activation) t.activation[r] = k.activation[i];
    }
    for (const [c, col] of columns) {
      const v = scoreValues(k, c);
      if (v) col.set(v, r - n);
    }
  });
  return t;
}

export const kindOfRow = (t: Table, r: number): KindName => t.result.kinds[t.kindOf[r]].kind;

/** The token at a position of the first pair: "␣Mary", or "␣Mary→␣John" where clean and corrupted differ. */
export function positionToken(t: Pick<Table, 'result'>, pos: number): string {
  const c = t.result.positions.clean[pos] ?? '';
  const x = t.result.positions.corrupted[pos] ?? '';
  return c === x ? showToken(c) : `${showToken(c)}→${showToken(x)}`;
}

/** A readable, unique label: L5H3, L5H3.q, L5H3 pattern, L5H3 @4 ␣Mary, MLP2 @4 ␣Mary, resid_pre L1 @4 ␣Mary, L1N37. */
export function componentLabel(result: PatchingResult, kind: KindName, c: { layer: number; head?: number; pos?: number; neuron?: number }): string {
  const l = c.layer;
  const at = c.pos !== undefined && c.pos >= 0 ? ` @${c.pos} ${positionToken({ result }, c.pos)}` : '';
  const head = `L${l}H${c.head}`;
  switch (kind) {
    case 'head_z':
      return head;
    case 'head_q':
    case 'head_k':
    case 'head_v':
      return `${head}.${kind.slice(5)}`;
    case 'head_pattern':
      return `${head} pattern`;
    case 'head_z_pos':
      return `${head}${at}`;
    case 'neuron':
      return `L${l}N${c.neuron}`;
    case 'attn_out':
      return `ATTN${l}${at}`;
    case 'mlp_out':
      return `MLP${l}${at}`;
    default:
      return `${kind} L${l}${at}`;
  }
}

export function rowLabel(t: Table, r: number): string {
  return componentLabel(t.result, kindOfRow(t, r), { layer: t.layer[r], head: t.head[r], pos: t.pos[r], neuron: t.neuron[r] });
}

export const error = (t: Table, r: number) => t.attribution[r] - t.activation[r];

/** `score` sorts by the table's chosen score column (Query.score) */
export type SortKey = 'label' | 'kind' | 'layer' | 'head' | 'pos' | 'attribution' | 'score' | 'activation' | 'error';
export interface Sort {
  key: SortKey;
  desc: boolean;
  /** numeric columns: sort by magnitude */
  abs: boolean;
}

export interface Query {
  kind?: KindName;
  layer?: number;
  pos?: number;
  search?: string;
  sort: Sort;
  /** the column `score` sorts by */
  score?: ScoreColumn;
}

/** The rows to show, in order. NaN values (not computed) always sort last. */
export function queryRows(t: Table, q: Query): Int32Array {
  const needle = q.search?.trim().toLowerCase();
  const kindIndex = q.kind === undefined ? -1 : t.result.kinds.findIndex((k) => k.kind === q.kind);
  if (q.kind !== undefined && kindIndex < 0) return new Int32Array(0);
  const keep: number[] = [];
  for (let r = 0; r < t.size; r++) {
    if (kindIndex >= 0 && t.kindOf[r] !== kindIndex) continue;
    if (q.layer !== undefined && t.layer[r] !== q.layer) continue;
    if (q.pos !== undefined && t.pos[r] !== q.pos) continue;
    if (needle && !`${rowLabel(t, r)} ${kindOfRow(t, r)}`.toLowerCase().includes(needle)) continue;
    keep.push(r);
  }
  const rows = Int32Array.from(keep);
  const { key, desc, abs } = q.sort;
  const sign = desc ? -1 : 1;
  if (key === 'label' || key === 'kind') {
    const text = new Map<number, string>();
    for (const r of rows) text.set(r, key === 'label' ? rowLabel(t, r) : kindOfRow(t, r));
    const coll = new Intl.Collator('en', { numeric: true });
    return rows.sort((a, b) => sign * coll.compare(text.get(a)!, text.get(b)!) || a - b);
  }
  const none = () => new Float32Array(t.size).fill(NaN);
  const col: ArrayLike<number> =
    key === 'layer' ? t.layer : key === 'head' ? t.head : key === 'pos' ? t.pos : key === 'attribution' ? t.attribution : key === 'activation' ? t.activation : key === 'score' ? ((q.score && t.scores[q.score]) ?? none()) : errorColumn(t);
  const value = abs && (key === 'attribution' || key === 'score' || key === 'activation' || key === 'error') ? (r: number) => Math.abs(col[r]) : (r: number) => col[r];
  const keys = new Float64Array(t.size);
  for (const r of rows) keys[r] = value(r);
  return rows.sort((a, b) => {
    const x = keys[a];
    const y = keys[b];
    const xn = Number.isNaN(x);
    const yn = Number.isNaN(y);
    if (xn || yn) return xn && yn ? a - b : xn ? 1 : -1;
    return sign * (x - y) || a - b;
  });
}

function errorColumn(t: Table): Float32Array {
  const out = new Float32Array(t.size);
  for (let r = 0; r < t.size; r++) out[r] = t.attribution[r] - t.activation[r];
  return out;
}

/** The best default order: by |attribution| when there is one, else by |activation|. */
export function defaultSort(result: PatchingResult): Sort {
  const hasAttr = result.kinds.some((k) => k.attribution);
  return { key: hasAttr ? 'attribution' : 'activation', desc: true, abs: true };
}
