/**
 * The ranking table as CSV, with the columns of the engine's report (main/engine/patching/report.ts
 * toCsv, checked in test/ui/csv.test.ts) so files from the app and the command line read alike;
 * the label is the app's.
 */
import { rowLabel, type Table } from './rows.ts';

const field = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
const num = (x: number) => (Number.isFinite(x) ? String(x) : '');
const idx = (x: number) => (x >= 0 ? String(x) : '');

export function tableCsv(t: Table, rows: ArrayLike<number>): string {
  const lines = ['label,kind,layer,head,pos,token,neuron,attribution,activation,error'];
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    const a = t.attribution[r];
    const v = t.activation[r];
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
        num(v),
        Number.isFinite(a) && Number.isFinite(v) ? String(a - v) : '',
      ].join(','),
    );
  }
  return lines.join('\n') + '\n';
}

/** Every row in the engine's order (kind by kind, components in index order). */
export const naturalOrder = (t: Table) => Int32Array.from({ length: t.size }, (_, i) => i);
