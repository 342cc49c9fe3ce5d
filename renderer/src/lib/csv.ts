/**
 * The ranking table as CSV, with the columns of the engine's report (main/engine/patching/report.ts
 * toCsv, checked in test/ui/csv.test.ts) so files from the app and the command line read alike;
 * the label is the app's.
 */
import { SCORE_NAMES, type KindResult } from '../../../shared/contract.ts';
import { rowLabel, type Table } from './rows.ts';

/** The AtP* columns, as the engine's CSV names them, and where a kind keeps each. */
const EXTRA: [string, (k: KindResult) => Float32Array | undefined][] = [
  ['attribution_qk', (k) => k.attributionQk],
  ...SCORE_NAMES.map((n): [string, (k: KindResult) => Float32Array | undefined] => [`score_${n}`, (k) => k.scores?.[n]]),
];

const field = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
const num = (x: number) => (Number.isFinite(x) ? String(x) : '');
const idx = (x: number) => (x >= 0 ? String(x) : '');

export function tableCsv(t: Table, rows: ArrayLike<number>): string {
  // as in the engine's CSV: an AtP* column appears when some kind has it, empty where a kind has not
  const extra = EXTRA.filter(([, get]) => t.result.kinds.some((k) => get(k)));
  const lines = [['label,kind,layer,head,pos,token,neuron,attribution', ...extra.map(([name]) => name), 'activation,error'].join(',')];
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    const a = t.attribution[r];
    const v = t.activation[r];
    const k = t.result.kinds[t.kindOf[r]];
    lines.push(
      [
        field(rowLabel(t, r)),
        t.result.kinds[t.kindOf[r]].kind,
        t.layer[r],
        idx(t.head[r]),
        idx(t.pos[r]),
        t.pos[r] >= 0 ? field(t.result.positions.clean[t.pos[r]] ?? '') : '',
        idx(t.neuron[r]),
        num(a),
        ...extra.map(([, get]) => num(get(k)?.[t.flat[r]] ?? NaN)),
        num(v),
        Number.isFinite(a) && Number.isFinite(v) ? String(a - v) : '',
      ].join(','),
    );
  }
  return lines.join('\n') + '\n';
}

/** Every row in the engine's order (kind by kind, components in index order). */
export const naturalOrder = (t: Table) => Int32Array.from({ length: t.size }, (_, i) => i);
