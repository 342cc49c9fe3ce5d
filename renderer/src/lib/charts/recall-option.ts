/**
 * The cost of verified recall (AtP*, Kramár et al. 2024) as an ECharts option: for one component
 * kind, the fraction of the true top-K (by |activation patching|) found after verifying the first k
 * components of each ranking, k = 1..N, with the best possible curve (min(k/K, 1)) for reference.
 * A curve that reaches 1 sooner costs the researcher fewer forward passes. Pure: the same inputs
 * give the same option.
 */
import type { EChartsOption, LineSeriesOption } from 'echarts';
import { SCORE_NAMES, type KindName, type KindResult, type PatchingResult, type RecallCurve } from '../../../../shared/contract.ts';
import { axisStyle, fmt, tooltipStyle, type ChartTheme } from './theme.ts';

export type RankingName = (typeof SCORE_NAMES)[number];

/** How each ranking is named to a user. */
export const RANKING_TITLES: Record<RankingName, string> = {
  atp: 'AtP',
  atp_qk: 'AtP + QK fix',
  graddrop: 'AtP + GradDrop',
  atp_star: 'AtP*',
};

/** The kinds of a result that have recall curves, in the result's order. */
export function recallKinds(result: PatchingResult): KindName[] {
  return result.kinds.filter((k) => k.recall && Object.keys(k.recall).length).map((k) => k.kind);
}

/** One kind's curves, in the rankings' fixed order. */
export function curvesOf(k: KindResult): [RankingName, RecallCurve][] {
  return SCORE_NAMES.flatMap((n) => (k.recall?.[n] ? [[n, k.recall[n]!] as [RankingName, RecallCurve]] : []));
}

/** The ideal ranking: the true top K first. */
export function idealCurve(k: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.min(1, (i + 1) / k));
}

/** The chart's accessible description: per ranking, the verifications needed and the area under the curve. */
export function recallDescription(kind: KindName, curves: [RankingName, RecallCurve][]): string {
  if (!curves.length) return `No recall curves for ${kind}: they need exhaustive activation patching and attribution.`;
  const { k, curve } = curves[0][1];
  const parts = curves.map(([n, c]) => `${RANKING_TITLES[n]} finds all of them after ${c.verifications_to_all} verifications (area under the curve ${fmt(c.auc, 3)})`);
  return `Cost of verified recall for ${kind}: the fraction of the true top ${k} of ${curve.length} components found after verifying the first k of each ranking. ${parts.join('; ')}.`;
}

export interface RecallOptionInput {
  result: PatchingResult;
  kind: KindName;
  theme: ChartTheme;
}

export function recallOption({ result, kind, theme }: RecallOptionInput): EChartsOption {
  const k = result.kinds.find((x) => x.kind === kind);
  const curves = k ? curvesOf(k) : [];
  const N = curves[0]?.[1].curve.length ?? 1;
  const K = curves[0]?.[1].k ?? 1;
  const axis = axisStyle(theme);
  const points = (ys: number[]) => ys.map((y, i) => [i + 1, y]);
  const series: LineSeriesOption[] = [
    {
      id: 'ideal',
      name: `best possible (top ${K} first)`,
      type: 'line',
      data: points(idealCurve(K, N)),
      symbol: 'none',
      lineStyle: { color: theme.diagonal, width: 1, type: 'dashed' },
      z: 1,
    },
    ...curves.map(
      ([n, c], i): LineSeriesOption => ({
        id: `recall:${n}`,
        name: `${RANKING_TITLES[n]} · ${c.verifications_to_all} to all · AUC ${fmt(c.auc, 3)}`,
        type: 'line',
        step: 'end',
        data: points(c.curve),
        symbol: 'none',
        // dashes as well as colours, so the rankings stay apart without colour
        lineStyle: { color: theme.series[i % theme.series.length], width: 2, type: (['solid', 'dashed', 'dotted', 'solid'] as const)[i % 4] },
        itemStyle: { color: theme.series[i % theme.series.length] },
        endLabel: { show: false },
        z: 2 + i,
      }),
    ),
  ];
  return {
    backgroundColor: theme.background,
    animation: false,
    aria: { enabled: true, label: { description: recallDescription(kind, curves) } },
    textStyle: { color: theme.text },
    title: {
      text: `${kind}: recall of the true top ${K} (of ${N})`,
      left: 8,
      top: 4,
      textStyle: { color: theme.text, fontSize: 12, fontWeight: 600 },
    },
    legend: { top: 26, left: 8, right: 8, textStyle: { color: theme.text, fontSize: 11 }, itemWidth: 22, itemHeight: 8 },
    grid: { left: 54, right: 20, top: 84, bottom: 42 },
    xAxis: { ...axis, type: 'value', min: 1, max: N, name: 'components verified (forward passes)', nameLocation: 'middle', nameGap: 26 },
    yAxis: { ...axis, type: 'value', min: 0, max: 1, name: 'fraction found', nameLocation: 'middle', nameGap: 36 },
    tooltip: { ...tooltipStyle(theme), trigger: 'axis', formatter: (p: unknown) => recallTooltip(p as { seriesName: string; value: number[] }[]) },
    series,
  };
}

function recallTooltip(items: { seriesName: string; value: number[] }[]): string {
  if (!items.length) return '';
  const k = items[0].value[0];
  return [`after ${k} verification${k === 1 ? '' : 's'}`, ...items.map((it) => `${it.seriesName.split(' · ')[0]}: ${fmt(it.value[1], 3)}`)].join('\n');
}
