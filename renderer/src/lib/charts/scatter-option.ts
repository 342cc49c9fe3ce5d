/**
 * The approximation-error scatter plots as an ECharts option: one facet (grid) per component kind,
 * x = activation patching (the truth), y = attribution patching (the estimate), the y = x line,
 * and each facet's agreement (Pearson, Spearman, RMSE) in its title. Built for 36,864 points
 * (GPT-2 small's neurons): one `large` series per kind whose data is a flat Float32Array
 * [x, y, index, x, y, index, …], no animation. Pure: the same inputs give the same option.
 */
import type { EChartsOption, ScatterSeriesOption, LineSeriesOption, TitleComponentOption } from 'echarts';
import type { KindName, KindResult, PatchingResult } from '../../../../shared/contract.ts';
import { componentLabel } from '../rows.ts';
import { coordsOf, type ComponentRef } from '../selection.ts';
import { fmt, tooltipStyle, type ChartTheme } from './theme.ts';

/** One facet's data: the components with both an activation and an attribution value. */
export interface Facet {
  kind: KindName;
  /** flat [activation, attribution, component index] triples */
  data: Float32Array;
  n: number;
  /** the shared range of both axes, so that y = x is the diagonal */
  lo: number;
  hi: number;
  stats: FacetStats;
  /** head_q/head_k with the QK fix: the fixed estimate against activation, [activation, attribution_qk, index] triples */
  qk?: { data: Float32Array; n: number; stats: FacetStats };
}

export interface FacetStats {
  n: number;
  pearson: number | null;
  spearman: number | null;
  rmse: number | null;
  /** 'summary' (exhaustive activation patching), or 'verified' (top-K by |attribution| only) */
  basis: 'summary' | 'verified' | 'none';
  /** K, when only the top K by |attribution| were activation-patched */
  verifiedTop?: number;
  outliers: { index: number; attribution: number; activation: number }[];
}

export function facetPoints(k: Pick<KindResult, 'attribution' | 'activation'>): Float32Array {
  const a = k.attribution;
  const x = k.activation;
  if (!a || !x) return new Float32Array(0);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i]) && Number.isFinite(x[i])) n++;
  const out = new Float32Array(n * 3);
  let j = 0;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]) || !Number.isFinite(x[i])) continue;
    out[j++] = x[i];
    out[j++] = a[i];
    out[j++] = i;
  }
  return out;
}

/** A range containing 0 and every point on both axes, padded by 6 %. */
export function sharedRange(data: Float32Array): [number, number] {
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < data.length; i++) {
    if (i % 3 === 2) continue;
    if (data[i] < lo) lo = data[i];
    if (data[i] > hi) hi = data[i];
  }
  if (hi - lo < 1e-9) return [-1, 1];
  const pad = (hi - lo) * 0.06;
  return [lo - pad, hi + pad];
}

function statsOf(k: KindResult, n: number): FacetStats {
  if (k.summary) {
    const outliers = k.summary.outliers.map((o) => ({ index: o.component, attribution: o.attribution, activation: o.activation }));
    const top = k.verification ? { verifiedTop: k.verification.k } : {};
    return { n: k.summary.n, pearson: k.summary.pearson, spearman: k.summary.spearman, rmse: k.summary.rmse, basis: 'summary', outliers, ...top };
  }
  if (k.verification) {
    return { n, pearson: k.verification.pearson, spearman: null, rmse: null, basis: 'verified', outliers: [] };
  }
  return { n, pearson: null, spearman: null, rmse: null, basis: 'none', outliers: [] };
}

/** The kinds that can be plotted (both methods computed for at least one component). */
export function scatterFacets(result: PatchingResult): Facet[] {
  const out: Facet[] = [];
  for (const k of result.kinds) {
    const data = facetPoints(k);
    if (data.length === 0) continue;
    const qkData = k.attributionQk ? facetPoints({ attribution: k.attributionQk, activation: k.activation }) : null;
    // one range for both estimates, so the plain and the fixed points share the diagonal
    const [lo, hi] = sharedRange(qkData ? Float32Array.of(...data, ...qkData) : data);
    const facet: Facet = { kind: k.kind, data, n: data.length / 3, lo, hi, stats: statsOf(k, data.length / 3) };
    if (qkData) facet.qk = { data: qkData, n: qkData.length / 3, stats: statsOf({ ...k, summary: k.summaryQk, verification: undefined }, qkData.length / 3) };
    out.push(facet);
  }
  return out;
}

/** Room around each facet's square plot, in pixels: the title and its stats line above, axis labels and names left and below. */
export const FACET_PAD = { top: 40, left: 48, right: 12, bottom: 34 };
/** The smallest square that still reads (ticks, the diagonal, a few points apart). */
export const FACET_MIN_SIDE = 110;

/**
 * Columns × rows for `count` facets in a box of `width` × `height` pixels, the side of each facet's
 * square plot (a square keeps y = x at 45°), and the height the facets take. The layout with the
 * largest squares that fits the box; when those would be smaller than `minSide`, as many columns as
 * the width takes at `minSide` or more, each row at most the box's height, and the facets are then
 * taller than the box (the view scrolls).
 */
export function facetGrid(count: number, width: number, height: number, minSide = FACET_MIN_SIDE): { cols: number; rows: number; side: number; height: number } {
  const n = Math.max(1, count);
  const padX = FACET_PAD.left + FACET_PAD.right;
  const padY = FACET_PAD.top + FACET_PAD.bottom;
  let best = { cols: n, rows: 1, side: -Infinity };
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const side = Math.min(width / cols - padX, height / rows - padY);
    if (side > best.side + 1e-9) best = { cols, rows, side };
  }
  if (best.side >= minSide) return { cols: best.cols, rows: best.rows, side: Math.floor(best.side), height };
  const cols = Math.max(1, Math.min(n, Math.floor(width / (minSide + padX))));
  const rows = Math.ceil(n / cols);
  const side = Math.floor(Math.max(minSide, Math.min(width / cols - padX, height - padY)));
  return { cols, rows, side, height: Math.max(height, rows * (side + padY)) };
}

export function statsLine(s: FacetStats): string {
  const top = s.verifiedTop ? `verified top ${s.verifiedTop} · ` : '';
  if (s.basis === 'summary') return `${top}n ${s.n.toLocaleString('en')} · Pearson ${fmt(s.pearson)} · Spearman ${fmt(s.spearman)} · RMSE ${fmt(s.rmse)}`;
  if (s.basis === 'verified') return `top ${s.n} verified · Pearson ${fmt(s.pearson)}`;
  return `n ${s.n}`;
}

/** The same, short enough for a facet's title: r (Pearson), ρ (Spearman), RMSE, n. */
export function statsShort(s: FacetStats): string {
  if (s.basis === 'summary') return `r ${fmt(s.pearson, 2)} · ρ ${fmt(s.spearman, 2)} · RMSE ${fmt(s.rmse, 2)} · n ${s.n.toLocaleString('en')}${s.verifiedTop ? ` (top ${s.verifiedTop})` : ''}`;
  if (s.basis === 'verified') return `r ${fmt(s.pearson, 2)} · top ${s.n} verified`;
  return `n ${s.n}`;
}

/** The shortest: Pearson and Spearman only, for small facets. */
export function statsTiny(s: FacetStats): string {
  return s.basis === 'none' ? `n ${s.n}` : `r ${fmt(s.pearson, 2)} · ρ ${fmt(s.spearman, 2)}`;
}

/** Axis ticks: at most 3 significant digits, no trailing zeros. */
export const tick = (v: number): string => (v === 0 ? '0' : String(Number(v.toPrecision(3))));

/** The chart's accessible description: what it shows, each facet's agreement and worst outliers. */
export function scatterDescription(result: PatchingResult, facets: Facet[]): string {
  if (facets.length === 0) return 'No scatter plot: activation patching has not been run for any kind.';
  const parts = facets.map((f) => {
    const k = result.kinds.find((x) => x.kind === f.kind)!;
    const worst = f.stats.outliers
      .slice(0, 3)
      .map((o) => `${componentLabel(result, f.kind, coordsOf(k, o.index))} (attribution ${fmt(o.attribution)}, activation ${fmt(o.activation)})`);
    return `${f.kind}: ${statsLine(f.stats)}${worst.length ? `; worst outliers ${worst.join(', ')}` : ''}.`;
  });
  return `Scatter plots of attribution patching (y) against activation patching (x), one per component kind, with the line y = x. ${parts.join(' ')}`;
}

export interface ScatterOptionInput {
  result: PatchingResult;
  theme: ChartTheme;
  /** the chart box in pixels, to lay the facets out (titles and axis names get fixed room) */
  size?: { width: number; height: number };
  /** precomputed facets (scatterFacets(result)) */
  facets?: Facet[];
  /** show the QK-fixed estimate in the head_q/head_k facets that have one (default true) */
  qkFix?: boolean;
}

/** A facet's title line when it shows both estimates: r of each against activation patching. */
export function qkStatsShort(f: Facet): string {
  return `plain r ${fmt(f.stats.pearson, 2)} · QK fix r ${fmt(f.qk!.stats.pearson, 2)}`;
}


export function scatterOption({ result, theme, size = { width: 840, height: 420 }, facets = scatterFacets(result), qkFix = true }: ScatterOptionInput): EChartsOption {
  const { cols, rows, side, height } = facetGrid(facets.length, size.width, size.height);
  const cellW = size.width / cols;
  const cellH = height / rows;
  const grids: NonNullable<EChartsOption['grid']> = [];
  const xAxes: NonNullable<EChartsOption['xAxis']> = [];
  const yAxes: NonNullable<EChartsOption['yAxis']> = [];
  const titles: TitleComponentOption[] = [];
  const series: (ScatterSeriesOption | LineSeriesOption)[] = [];
  const axisCommon = {
    type: 'value' as const,
    scale: false,
    axisLine: { onZero: false, lineStyle: { color: theme.axis } },
    axisTick: { lineStyle: { color: theme.axis } },
    axisLabel: { color: theme.muted, fontSize: 10, hideOverlap: true, showMinLabel: false, showMaxLabel: false, formatter: tick },
    splitLine: { lineStyle: { color: theme.split } },
    nameTextStyle: { color: theme.muted, fontSize: 10 },
  };
  facets.forEach((f, i) => {
    const col = i % cols;
    const row = Math.floor(i / cols);
    // The square plot, centred in its cell.
    const left = Math.round(col * cellW + FACET_PAD.left + Math.max(0, (cellW - FACET_PAD.left - FACET_PAD.right - side) / 2));
    const top = Math.round(row * cellH + FACET_PAD.top + Math.max(0, (cellH - FACET_PAD.top - FACET_PAD.bottom - side) / 2));
    grids.push({ id: f.kind, left, top, width: side, height: side });
    xAxes.push({ ...axisCommon, gridIndex: i, min: f.lo, max: f.hi, name: 'activation', nameLocation: 'middle', nameGap: 20 });
    yAxes.push({ ...axisCommon, gridIndex: i, min: f.lo, max: f.hi, name: 'attribution', nameLocation: 'middle', nameGap: 34 });
    // Explicit line heights: without them the canvas measures the title's box short and the stats
    // line is drawn into the title's descenders.
    titles.push({
      id: f.kind,
      text: f.kind,
      subtext: qkFix && f.qk ? qkStatsShort(f) : side < 170 ? statsTiny(f.stats) : statsShort(f.stats),
      left: left - 8,
      top: top - FACET_PAD.top,
      textStyle: { color: theme.text, fontSize: 12, lineHeight: 16, fontWeight: 600, fontFamily: 'ui-monospace, Menlo, Consolas, monospace', width: Math.max(40, cellW - 16), overflow: 'truncate' },
      subtextStyle: { color: theme.muted, fontSize: 10, lineHeight: 13, width: Math.max(40, cellW - 16), overflow: 'truncate' },
      itemGap: 2,
    });
    series.push({
      id: `diag:${f.kind}`,
      type: 'line',
      xAxisIndex: i,
      yAxisIndex: i,
      data: [
        [f.lo, f.lo],
        [f.hi, f.hi],
      ],
      silent: true,
      symbol: 'none',
      lineStyle: { color: theme.diagonal, width: 1, type: 'dashed' },
      z: 1,
      tooltip: { show: false },
    });
    series.push({
      id: `points:${f.kind}`,
      name: f.kind,
      type: 'scatter',
      xAxisIndex: i,
      yAxisIndex: i,
      dimensions: ['activation', 'attribution', 'index'],
      encode: { x: 'activation', y: 'attribution', tooltip: ['activation', 'attribution'] },
      data: f.data as unknown as number[],
      large: true,
      largeThreshold: 2000,
      progressive: 0,
      symbolSize: f.n > 5000 ? 3 : f.n > 500 ? 5 : 8,
      itemStyle: { color: theme.series[i % theme.series.length], opacity: f.n > 5000 ? 0.55 : 0.8 },
      emphasis: { scale: 1.6, itemStyle: { borderColor: theme.focus, borderWidth: 1 } },
      z: 2,
    });
    if (qkFix && f.qk) {
      series.push({
        id: `qk:${f.kind}`,
        name: `${f.kind} (QK fix)`,
        type: 'scatter',
        xAxisIndex: i,
        yAxisIndex: i,
        dimensions: ['activation', 'attribution_qk', 'index'],
        encode: { x: 'activation', y: 'attribution_qk', tooltip: ['activation', 'attribution_qk'] },
        data: f.qk.data as unknown as number[],
        // a different shape as well as a different colour: the pairs stay apart without colour
        symbol: 'diamond',
        symbolSize: 9,
        itemStyle: { color: 'rgba(0,0,0,0)', borderColor: theme.text, borderWidth: 1.2 },
        z: 2,
      });
    }
    series.push({
      id: `focus:${f.kind}`,
      type: 'scatter',
      xAxisIndex: i,
      yAxisIndex: i,
      data: [],
      silent: true,
      symbolSize: 13,
      itemStyle: { color: 'rgba(0,0,0,0)', borderColor: theme.focus, borderWidth: 2 },
      z: 3,
      tooltip: { show: false },
    });
  });
  const byId = new Map(facets.map((f) => [f.kind, f]));
  return {
    backgroundColor: theme.background,
    animation: false,
    aria: { enabled: true, label: { description: scatterDescription(result, facets) } },
    textStyle: { color: theme.text },
    title: titles,
    grid: grids,
    xAxis: xAxes,
    yAxis: yAxes,
    tooltip: {
      ...tooltipStyle(theme),
      formatter: (p: unknown) => {
        const q = p as { seriesId?: string; dataIndex: number };
        if (q.seriesId?.startsWith('qk:')) {
          const f = byId.get(q.seriesId.slice(3) as KindName);
          if (!f?.qk) return '';
          const k = result.kinds.find((x) => x.kind === f.kind)!;
          const index = Math.round(f.qk.data[q.dataIndex * 3 + 2]);
          return `${componentLabel(result, f.kind, coordsOf(k, index))}\nattribution with the QK fix ${fmt(f.qk.data[q.dataIndex * 3 + 1], 4)}\nplain attribution ${fmt(k.attribution![index], 4)}\nactivation ${fmt(f.qk.data[q.dataIndex * 3], 4)}`;
        }
        const kind = q.seriesId?.startsWith('points:') ? (q.seriesId.slice(7) as KindName) : null;
        const f = kind ? byId.get(kind) : undefined;
        if (!f) return '';
        const ref = pointRef(f, q.dataIndex);
        const k = result.kinds.find((x) => x.kind === f.kind)!;
        return `${componentLabel(result, f.kind, coordsOf(k, ref.index))}\nattribution ${fmt(f.data[q.dataIndex * 3 + 1], 4)}\nactivation ${fmt(f.data[q.dataIndex * 3], 4)}`;
      },
    },
    series,
  };
}

/** The component of a facet's point (its data index in the `points:` series). */
export function pointRef(f: Facet, dataIndex: number): ComponentRef {
  return { kind: f.kind, index: Math.round(f.data[dataIndex * 3 + 2]) };
}

/** A facet's points from the worst approximated (largest |attribution − activation|) to the best. */
export function errorOrder(f: Facet): Int32Array {
  const order = Int32Array.from({ length: f.n }, (_, i) => i);
  const err = (i: number) => Math.abs(f.data[i * 3 + 1] - f.data[i * 3]);
  return order.sort((a, b) => err(b) - err(a) || a - b);
}

/**
 * The keyboard in the scatter plots: ←/→ step through the focused facet's points from the worst
 * approximated, ↑/↓ move to the previous/next facet's worst point. Returns the component to lock.
 */
export function stepPoint(facets: Facet[], current: ComponentRef | null, key: string): ComponentRef | null {
  if (!facets.length) return null;
  let fi = current ? facets.findIndex((f) => f.kind === current.kind) : -1;
  if (key === 'ArrowUp' || key === 'ArrowDown') {
    fi = fi < 0 ? 0 : Math.max(0, Math.min(facets.length - 1, fi + (key === 'ArrowDown' ? 1 : -1)));
    const f = facets[fi];
    return pointRef(f, errorOrder(f)[0]);
  }
  if (key !== 'ArrowLeft' && key !== 'ArrowRight') return current;
  const f = facets[Math.max(0, fi)];
  const order = errorOrder(f);
  const at = current && current.kind === f.kind ? order.indexOf(pointIndex(f, current.index)) : -1;
  const next = at < 0 ? 0 : Math.max(0, Math.min(order.length - 1, at + (key === 'ArrowRight' ? 1 : -1)));
  return pointRef(f, order[next]);
}

/** The data index of a component in its facet, or -1 when it is not plotted. */
export function pointIndex(f: Facet, index: number): number {
  for (let i = 2; i < f.data.length; i += 3) if (f.data[i] === index) return (i - 2) / 3;
  return -1;
}

/**
 * A small update (merged, not replacing) that rings the focused component in its facet and clears
 * the ring elsewhere, so hovering never rebuilds the 36,864-point option.
 */
export function scatterFocusPatch(facets: Facet[], focus: ComponentRef | null): EChartsOption {
  return {
    series: facets.map((f) => {
      const at = focus && focus.kind === f.kind ? pointIndex(f, focus.index) : -1;
      return { id: `focus:${f.kind}`, data: at < 0 ? [] : [[f.data[at * 3], f.data[at * 3 + 1]]] };
    }),
  } as EChartsOption;
}
