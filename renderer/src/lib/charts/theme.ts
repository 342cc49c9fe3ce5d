/**
 * Colours of the charts in the light and the dark theme, and the diverging scale of the heatmaps
 * and the token view: ColorBrewer's RdBu (colour-blind safe), blue for negative, red for positive,
 * white at zero, always symmetric around zero.
 */
export type ThemeName = 'light' | 'dark';

export interface ChartTheme {
  name: ThemeName;
  background: string;
  text: string;
  muted: string;
  axis: string;
  split: string;
  diagonal: string;
  focus: string;
  /** one colour per component kind (Okabe–Ito, colour-blind safe) */
  series: string[];
  /** the scale's colours from most negative to most positive */
  diverging: string[];
  /**
   * The same scale for shading text in the page (the token chips): the panel's own colour at zero,
   * so that a token with no effect looks like any other chip of the theme, not a white patch.
   */
  tokenScale: string[];
  /** cells with no value (activation not computed) */
  empty: string;
}

/** ColorBrewer RdBu, 11 classes, reversed so that blue is negative; the middle class is pure white. */
export const RDBU = ['#053061', '#2166ac', '#4393c3', '#92c5de', '#d1e5f0', '#ffffff', '#fddbc7', '#f4a582', '#d6604d', '#b2182b', '#67001f'];

/**
 * RdBu for a dark page: its blue and red classes 3 (#4393c3) and 9 (#d6604d) at the ends, blended
 * linearly in RGB to the dark theme's chip colour (#22272d) at zero.
 */
export const RDBU_DARK = ['#4393c3', '#3c7da5', '#366887', '#2f5269', '#293d4b', '#22272d', '#463233', '#6a3e3a', '#8e4940', '#b25547', '#d6604d'];

const OKABE_ITO = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#8C7A00', '#7F7F7F'];

export const THEMES: Record<ThemeName, ChartTheme> = {
  light: {
    name: 'light',
    background: '#ffffff',
    text: '#1d2329',
    muted: '#5f6b78',
    axis: '#9aa4ae',
    split: '#eef0f3',
    diagonal: '#5f6b78',
    focus: '#111111',
    series: OKABE_ITO,
    diverging: RDBU,
    tokenScale: RDBU,
    empty: '#eceff3',
  },
  dark: {
    name: 'dark',
    background: '#1b1f24',
    text: '#e4e8ec',
    muted: '#a3adb8',
    axis: '#6b7682',
    split: '#2b3138',
    diagonal: '#a3adb8',
    focus: '#ffffff',
    series: ['#56B4E9', '#E69F00', '#2DC08F', '#FF7F3F', '#E08CC0', '#9AD0F5', '#F0E442', '#BBBBBB'],
    diverging: RDBU,
    tokenScale: RDBU_DARK,
    empty: '#2b3138',
  },
};

const hex = (c: string) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));

/**
 * The colour of `value` on a scale symmetric around zero reaching ±`max`: exactly white at zero,
 * the scale's ends at ±max and beyond, linear between classes. NaN (not computed) has no colour.
 */
export function divergingColor(value: number, max: number, scale: readonly string[] = RDBU): string | null {
  if (!Number.isFinite(value)) return null;
  const m = max > 0 && Number.isFinite(max) ? max : 1;
  const t = Math.max(-1, Math.min(1, value / m)); // −1 … 1
  const f = ((t + 1) / 2) * (scale.length - 1);
  const i = Math.min(scale.length - 2, Math.floor(f));
  const a = hex(scale[i]);
  const b = hex(scale[i + 1]);
  const w = f - i;
  const rgb = a.map((x, j) => Math.round(x + (b[j] - x) * w));
  return `#${rgb.map((x) => x.toString(16).padStart(2, '0')).join('')}`;
}

/** Black or white, whichever reads better on `bg` (a #rrggbb colour). */
export function inkOn(bg: string): string {
  const [r, g, b] = hex(bg).map((x) => x / 255);
  const lum = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return lum > 0.5 ? '#111111' : '#ffffff';
}

/** The largest |value| of the finite values of some arrays (the scale's ±max); 0 when there are none. */
export function maxAbs(...arrays: (ArrayLike<number> | undefined)[]): number {
  let m = 0;
  for (const a of arrays) {
    if (!a) continue;
    for (let i = 0; i < a.length; i++) {
      const v = Math.abs(a[i]);
      if (v > m && Number.isFinite(v)) m = v;
    }
  }
  return m;
}

/** Numbers in chart labels: 4 significant digits, no exponent for ordinary sizes. */
export function fmt(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e-3 && a < 1e5) return x.toFixed(Math.max(0, digits - Math.max(0, Math.floor(Math.log10(a)))));
  return x.toExponential(2);
}

/** The tooltip look every chart shares: plain text on the theme's background. */
export function tooltipStyle(theme: ChartTheme) {
  return {
    trigger: 'item' as const,
    renderMode: 'richText' as const,
    backgroundColor: theme.background,
    borderColor: theme.axis,
    textStyle: { color: theme.text, fontSize: 11 },
  };
}

/** The axis lines, ticks, labels and grid of a plain value/log axis in the theme's colours. */
export function axisStyle(theme: ChartTheme) {
  return {
    axisLine: { lineStyle: { color: theme.axis } },
    axisTick: { lineStyle: { color: theme.axis } },
    axisLabel: { color: theme.muted, fontSize: 10 },
    splitLine: { lineStyle: { color: theme.split } },
    nameTextStyle: { color: theme.muted, fontSize: 11 },
  };
}
