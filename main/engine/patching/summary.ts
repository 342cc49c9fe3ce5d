/** How well attribution approximates activation patching, per kind: what the scatter plots show. */

export interface Outlier {
  component: number; // flat index
  attribution: number;
  activation: number;
}

export interface AgreementSummary {
  n: number;
  pearson: number | null;
  spearman: number | null;
  rmse: number | null;
  /** largest |attribution − activation| first */
  outliers: Outlier[];
}

export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number | null {
  const n = x.length;
  if (n < 2) return null;
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) { mx += x[i]; my += y[i]; }
  mx /= n; my /= n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i] - mx, dy = y[i] - my;
    sxy += dx * dy; sxx += dx * dx; syy += dy * dy;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : null;
}

/** Ranks with ties sharing their mean rank. */
function ranks(x: ArrayLike<number>): Float64Array {
  const idx = Array.from({ length: x.length }, (_, i) => i).sort((a, b) => x[a] - x[b]);
  const r = new Float64Array(x.length);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && x[idx[j + 1]] === x[idx[i]]) j++;
    for (let k = i; k <= j; k++) r[idx[k]] = (i + j) / 2;
    i = j + 1;
  }
  return r;
}

export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number | null {
  return pearson(ranks(x), ranks(y));
}

/** Agreement over the components where both values are known (activation may be NaN where not run). */
export function summarize(attribution: Float32Array, activation: Float32Array, maxOutliers = 5): AgreementSummary {
  const ids: number[] = [];
  for (let i = 0; i < attribution.length; i++) if (Number.isFinite(attribution[i]) && Number.isFinite(activation[i])) ids.push(i);
  const x = ids.map((i) => attribution[i]);
  const y = ids.map((i) => activation[i]);
  const rmse = ids.length ? Math.sqrt(ids.reduce((s, _, k) => s + (x[k] - y[k]) ** 2, 0) / ids.length) : null;
  const outliers = ids
    .map((i) => ({ component: i, attribution: attribution[i], activation: activation[i] }))
    .sort((a, b) => Math.abs(b.attribution - b.activation) - Math.abs(a.attribution - a.activation))
    .slice(0, maxOutliers);
  return { n: ids.length, pearson: pearson(x, y), spearman: spearman(x, y), rmse, outliers };
}

/** The k components with the largest |value| (ties by index), largest first. */
export function topK(values: Float32Array, k: number): number[] {
  return Array.from({ length: values.length }, (_, i) => i)
    .filter((i) => Number.isFinite(values[i]))
    .sort((a, b) => Math.abs(values[b]) - Math.abs(values[a]) || a - b)
    .slice(0, k);
}
