/**
 * Heatmaps of one component kind as an ECharts option: layer × position (resid_*, attn_out,
 * mlp_out), layer × head (head_z, head_q/k/v, head_pattern) or layer·head × position (head_z_pos),
 * side by side for attribution, activation and their difference (attribution − activation, the
 * approximation's error), on one diverging scale symmetric around zero with white at zero. Pure.
 */
import type { EChartsOption, HeatmapSeriesOption } from 'echarts';
import type { KindName, KindResult, PatchingResult } from '../../../../shared/contract.ts';
import { componentLabel } from '../rows.ts';
import { coordsOf, type ComponentRef } from '../selection.ts';
import { showToken } from '../tokens.ts';
import { fmt, maxAbs, tooltipStyle, type ChartTheme } from './theme.ts';

export type PanelName = 'attribution' | 'activation' | 'difference';
export const PANEL_TITLES: Record<PanelName, string> = {
  attribution: 'attribution',
  activation: 'activation',
  difference: 'attribution − activation',
};

/** Kinds a heatmap can show (neurons have too many components per layer for one). */
export function heatmapKinds(result: PatchingResult): KindName[] {
  return result.kinds.filter((k) => k.kind !== 'neuron' && k.dims.length >= 2).map((k) => k.kind);
}

export interface HeatmapAxes {
  /** x labels (positions with their tokens, or heads) */
  x: string[];
  /** y labels, top to bottom (layers, or layer·head) */
  y: string[];
  xName: string;
  yName: string;
  /** the (x, y) cell of a flat component index */
  cell(index: number): [number, number];
}

function positionLabel(result: PatchingResult, p: number): string {
  const c = result.positions.clean[p] ?? '';
  const x = result.positions.corrupted[p] ?? '';
  return c === x ? `${p} ${showToken(c)}` : `${p} ${showToken(c)}/${showToken(x)}`;
}

export function heatmapAxes(result: PatchingResult, k: KindResult): HeatmapAxes {
  const [L] = k.shape;
  const layers = Array.from({ length: L }, (_, l) => `L${l}`);
  if (k.dims.length === 3) {
    // head_z_pos: rows are layer·head, columns positions.
    const [, H, P] = k.shape;
    return {
      x: Array.from({ length: P }, (_, p) => positionLabel(result, p)),
      y: Array.from({ length: L * H }, (_, r) => `L${Math.floor(r / H)}H${r % H}`),
      xName: 'position',
      yName: 'layer · head',
      cell: (i) => [i % P, Math.floor(i / P)],
    };
  }
  const [, N] = k.shape;
  const isPos = k.dims[1] === 'pos';
  return {
    x: Array.from({ length: N }, (_, j) => (isPos ? positionLabel(result, j) : `H${j}`)),
    y: layers,
    xName: isPos ? 'position' : 'head',
    yName: 'layer',
    cell: (i) => [i % N, Math.floor(i / N)],
  };
}

/** The values of each panel that the kind has: difference only where both methods ran. */
export function panelValues(k: KindResult): Partial<Record<PanelName, Float32Array>> {
  const out: Partial<Record<PanelName, Float32Array>> = {};
  if (k.attribution) out.attribution = k.attribution;
  if (k.activation && Array.from(k.activation).some(Number.isFinite)) {
    out.activation = k.activation;
    if (k.attribution) {
      const d = new Float32Array(k.activation.length);
      for (let i = 0; i < d.length; i++) d[i] = k.attribution[i] - k.activation[i];
      out.difference = d;
    }
  }
  return out;
}

export function heatmapDescription(result: PatchingResult, k: KindResult, panels: Partial<Record<PanelName, Float32Array>>): string {
  const parts = (Object.keys(panels) as PanelName[]).map((p) => {
    const v = panels[p]!;
    let best = -1;
    for (let i = 0; i < v.length; i++) if (Number.isFinite(v[i]) && (best < 0 || Math.abs(v[i]) > Math.abs(v[best]))) best = i;
    return best < 0 ? `${PANEL_TITLES[p]}: no values` : `${PANEL_TITLES[p]}: largest magnitude ${fmt(v[best])} at ${componentLabel(result, k.kind, coordsOf(k, best))}`;
  });
  const axes = heatmapAxes(result, k);
  return `Heatmaps of ${k.kind}, ${axes.yName} by ${axes.xName}, on a blue–white–red scale symmetric around zero (blue negative, red positive). ${parts.join('; ')}.`;
}

export interface HeatmapOptionInput {
  result: PatchingResult;
  kind: KindName;
  theme: ChartTheme;
  size?: { width: number; height: number };
}

export function heatmapOption({ result, kind, theme, size = { width: 900, height: 420 } }: HeatmapOptionInput): EChartsOption {
  const k = result.kinds.find((x) => x.kind === kind);
  if (!k) return { backgroundColor: theme.background, series: [] };
  const axes = heatmapAxes(result, k);
  const panels = panelValues(k);
  const names = Object.keys(panels) as PanelName[];
  const max = maxAbs(...names.map((n) => panels[n])) || 1;
  const W = Math.max(1, size.width);
  const H = Math.max(1, size.height);
  const px = (v: number, of: number) => (v / of) * 100;
  const longest = axes.x.reduce((m, s) => Math.max(m, s.length), 0);
  const bottom = Math.min(140, 26 + Math.min(longest, 16) * 5.2); // rotated token labels
  const left = 16 + Math.max(...axes.y.map((s) => s.length)) * 7 + 20;
  const right = 84; // the scale
  const gap = 18;
  const panelW = (W - left - right - gap * (names.length - 1)) / Math.max(1, names.length);
  const labelEvery = Math.max(0, Math.ceil((axes.x.length * 12) / Math.max(1, panelW)) - 1);
  const yEvery = Math.max(0, Math.ceil((axes.y.length * 12) / Math.max(1, H - 40 - bottom)) - 1);
  const series: HeatmapSeriesOption[] = [];
  const ids: number[] = [];
  const focusIds: number[] = [];
  names.forEach((name, i) => {
    const v = panels[name]!;
    const data: (number | string)[][] = [];
    for (let c = 0; c < v.length; c++) {
      const [x, y] = axes.cell(c);
      data.push([x, y, Number.isFinite(v[c]) ? v[c] : '-', c]);
    }
    ids.push(series.length);
    series.push({
      id: `cells:${name}`,
      name: PANEL_TITLES[name],
      type: 'heatmap',
      xAxisIndex: i,
      yAxisIndex: i,
      data,
      progressive: 0,
      itemStyle: { borderColor: theme.background, borderWidth: axes.x.length * axes.y.length > 600 ? 0 : 0.5 },
      emphasis: { itemStyle: { borderColor: theme.focus, borderWidth: 1.5 } },
    });
  });
  names.forEach((name, i) => {
    focusIds.push(series.length);
    series.push({
      id: `focus:${name}`,
      type: 'heatmap',
      xAxisIndex: i,
      yAxisIndex: i,
      data: [],
      silent: true,
      itemStyle: { color: 'rgba(0,0,0,0)', borderColor: theme.focus, borderWidth: 2.5 },
      z: 5,
      tooltip: { show: false },
    } as HeatmapSeriesOption);
  });
  const axis = (i: number) => ({
    axisLine: { show: false },
    axisTick: { show: false },
    splitArea: { show: false },
    gridIndex: i,
  });
  return {
    backgroundColor: theme.background,
    animation: false,
    aria: { enabled: true, label: { description: heatmapDescription(result, k, panels) } },
    textStyle: { color: theme.text },
    title: names.map((name, i) => ({
      id: name,
      text: PANEL_TITLES[name],
      left: `${px(left + i * (panelW + gap), W)}%`,
      top: 4,
      textStyle: { color: theme.text, fontSize: 12, fontWeight: 600 },
    })),
    grid: names.map((_, i) => ({
      left: `${px(left + i * (panelW + gap), W)}%`,
      width: `${px(panelW, W)}%`,
      top: 30,
      bottom,
    })),
    xAxis: names.map((_, i) => ({
      type: 'category',
      data: axes.x,
      ...axis(i),
      axisLabel: { color: theme.text, fontSize: 10, rotate: 90, interval: labelEvery, fontFamily: 'ui-monospace, Menlo, Consolas, monospace' },
    })),
    yAxis: names.map((_, i) => ({
      type: 'category',
      data: axes.y,
      inverse: true,
      ...axis(i),
      name: i === 0 ? axes.yName : '',
      nameLocation: 'start',
      nameGap: 6,
      nameTextStyle: { color: theme.muted, fontSize: 10, align: 'right' },
      axisLabel: { show: i === 0, color: theme.text, fontSize: 10, interval: yEvery, fontFamily: 'ui-monospace, Menlo, Consolas, monospace' },
    })),
    visualMap: [
      {
        type: 'continuous',
        seriesIndex: ids,
        // the data are [x, y, value, component index]: colour by the value
        dimension: 2,
        min: -max,
        max,
        calculable: false,
        precision: 3,
        orient: 'vertical',
        right: 8,
        top: 'middle',
        itemHeight: Math.max(80, Math.min(220, H - 120)),
        itemWidth: 12,
        text: [`+${fmt(max)}`, `−${fmt(max)}`],
        textStyle: { color: theme.muted, fontSize: 10 },
        inRange: { color: theme.diverging },
        outOfRange: { color: theme.empty },
      },
      // ECharts colours heatmaps only through a visual map: the focus rings' is transparent.
      { type: 'continuous', show: false, seriesIndex: focusIds, dimension: 2, min: -1, max: 1, inRange: { color: ['rgba(0,0,0,0)', 'rgba(0,0,0,0)'] } },
    ],
    tooltip: {
      ...tooltipStyle(theme),
      formatter: (p: unknown) => {
        const q = p as { value?: (number | string)[] };
        const index = Number(q.value?.[3]);
        if (!Number.isInteger(index)) return '';
        return cellText(result, k, panels, index);
      },
    },
    series,
  };
}

export function cellText(result: PatchingResult, k: KindResult, panels: Partial<Record<PanelName, Float32Array>>, index: number): string {
  const lines = [componentLabel(result, k.kind, coordsOf(k, index))];
  for (const name of Object.keys(panels) as PanelName[]) lines.push(`${PANEL_TITLES[name]} ${fmt(panels[name]![index], 4)}`);
  return lines.join('\n');
}

/** Rings the focused component's cell in every panel (a merged update, like scatterFocusPatch). */
export function heatmapFocusPatch(result: PatchingResult, kind: KindName, focus: ComponentRef | null): EChartsOption {
  const k = result.kinds.find((x) => x.kind === kind);
  if (!k) return {};
  const panels = Object.keys(panelValues(k)) as PanelName[];
  const on = focus && focus.kind === kind && focus.index >= 0 && focus.index < k.shape.reduce((a, b) => a * b, 1);
  const cell = on ? heatmapAxes(result, k).cell(focus.index) : null;
  return {
    series: panels.map((name) => ({ id: `focus:${name}`, data: cell ? [[cell[0], cell[1], 0]] : [] })),
  } as EChartsOption;
}

/** The component a heatmap cell's data shows (its 4th value is the flat index). */
export function cellRef(kind: KindName, value: unknown): ComponentRef | null {
  const index = Number((value as unknown[] | undefined)?.[3]);
  return Number.isInteger(index) && index >= 0 ? { kind, index } : null;
}
