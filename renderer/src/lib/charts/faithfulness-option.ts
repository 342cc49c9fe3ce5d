/**
 * The faithfulness curve as an ECharts option: faithfulness F(n) of the top-n circuit against the
 * number of edges n (log axis), one line per ranking the result has (EAP, EAP-IG, and random
 * circuits of the same size as the baseline), with the view's current n marked by a vertical line.
 * Where n is one of the curve's points, those points are ringed and their values named in the
 * legend; between points nothing is interpolated (each point is a real patched run). Pure.
 */
import type { EChartsOption, LineSeriesOption, ScatterSeriesOption } from 'echarts';
import { RANKING_NAMES, type CircuitResult, type RankingName } from '../../../../shared/contract.ts';
import { axisStyle, fmt, tooltipStyle, type ChartTheme } from './theme.ts';

export const CURVE_TITLES: Record<RankingName, string> = { eap: 'EAP', eap_ig: 'EAP-IG', random: 'random' };

/** The curve's points per ranking, in the rankings' fixed order, each sorted by n. */
export function curves(f: CircuitResult['faithfulness']): [RankingName, [number, number][]][] {
  return RANKING_NAMES.flatMap((r) => {
    const pts = f.filter((p) => p.ranking === r && p.n > 0).map((p): [number, number] => [p.n, p.faithfulness]);
    return pts.length ? [[r, pts.sort((a, b) => a[0] - b[0])] as [RankingName, [number, number][]]] : [];
  });
}

/** The curves' values at exactly n, if n is one of their points. */
export function valuesAt(f: CircuitResult['faithfulness'], n: number): [RankingName, number][] {
  return curves(f).flatMap(([r, pts]) => pts.filter((p) => p[0] === n).map((p): [RankingName, number] => [r, p[1]]));
}

export function faithfulnessDescription(f: CircuitResult['faithfulness'], n: number): string {
  const cs = curves(f);
  if (!cs.length) return 'No faithfulness values: run with the curve on.';
  const parts = cs.map(([r, pts]) => `${CURVE_TITLES[r]}: ${pts.map(([x, y]) => `${x} edges ${fmt(y, 3)}`).join(', ')}`);
  return `Faithfulness of the top-n circuit against n (1 = the full model, 0 = the corrupted run). ${parts.join('; ')}. Marked: n = ${n}.`;
}

export interface FaithfulnessOptionInput {
  faithfulness: CircuitResult['faithfulness'];
  /** the view's current n */
  n: number;
  /** all edges: the axis ends there */
  edges: number;
  theme: ChartTheme;
}

export function faithfulnessOption({ faithfulness, n, edges, theme }: FaithfulnessOptionInput): EChartsOption {
  const cs = curves(faithfulness);
  const axis = axisStyle(theme);
  const ys = cs.flatMap(([, pts]) => pts.map((p) => p[1]));
  const lo = Math.min(0, ...ys);
  const hi = Math.max(1, ...ys);
  const at = valuesAt(faithfulness, n);
  const colour = (r: RankingName) => (r === 'random' ? theme.muted : r === 'eap_ig' ? theme.series[0] : theme.series[1]);
  const series: (LineSeriesOption | ScatterSeriesOption)[] = cs.map(
    ([r, pts]): LineSeriesOption => ({
      id: `curve:${r}`,
      name: CURVE_TITLES[r],
      type: 'line',
      data: pts,
      symbol: 'circle',
      symbolSize: 5,
      clip: false,
      lineStyle: { color: colour(r), width: 2, type: r === 'random' ? 'dashed' : 'solid' },
      itemStyle: { color: colour(r) },
      z: 2,
    }),
  );
  // The current n: a vertical line, and the curves' own points where n is one of them.
  series.push({
    id: 'marker',
    name: 'current n',
    type: 'line',
    data: [],
    silent: true,
    markLine: {
      silent: true,
      symbol: 'none',
      animation: false,
      lineStyle: { color: theme.focus, width: 1.5, type: 'solid' },
      label: { formatter: `n = ${n.toLocaleString('en')}`, color: theme.text, fontSize: 10, position: 'end', distance: 2 },
      data: [{ xAxis: Math.max(1, n) }],
    },
  });
  series.push({
    id: 'at-n',
    name: 'at n',
    type: 'scatter',
    silent: true,
    z: 4,
    data: at.map(([r, v]) => ({
      value: [n, v],
      itemStyle: { color: colour(r), borderColor: theme.focus, borderWidth: 1.5 },
    })),
    symbolSize: 9,
  });
  return {
    backgroundColor: theme.background,
    animation: false,
    aria: { enabled: true, label: { description: faithfulnessDescription(faithfulness, n) } },
    textStyle: { color: theme.text },
    title: { text: 'Faithfulness of the top-n circuit', left: 8, top: 4, textStyle: { color: theme.text, fontSize: 12, fontWeight: 600 } },
    // the values at n (where n is a point of the curve) are named in the legend, where they never overlap the lines
    legend: {
      top: 24,
      left: 8,
      textStyle: { color: theme.text, fontSize: 11 },
      itemWidth: 22,
      itemHeight: 8,
      data: cs.map(([r]) => CURVE_TITLES[r]),
      formatter: (name: string) => {
        const v = at.find(([r]) => CURVE_TITLES[r] === name);
        return v ? `${name}  ${fmt(v[1], 3)}` : name;
      },
    },
    grid: { left: 46, right: 34, top: 60, bottom: 40 },
    xAxis: { ...axis, type: 'log', logBase: 10, min: 1, max: Math.max(10, edges), name: 'edges n (log)', nameLocation: 'middle', nameGap: 24 },
    // 0 … 1 (the empty circuit … the full model) unless a value lies well outside: then ECharts' own round ends
    yAxis: { ...axis, type: 'value', min: lo < -0.02 ? undefined : 0, max: hi > 1.02 ? undefined : 1, name: 'faithfulness', nameLocation: 'middle', nameGap: 32 },
    tooltip: { ...tooltipStyle(theme), trigger: 'item', formatter: (p: unknown) => faithTooltip(p as { seriesName: string; value: number[] }) },
    series,
  };
}

function faithTooltip(p: { seriesName: string; value: number[] }): string {
  if (!Array.isArray(p.value)) return '';
  return `${p.seriesName}: top ${p.value[0]} edges, faithfulness ${fmt(p.value[1], 3)}`;
}
