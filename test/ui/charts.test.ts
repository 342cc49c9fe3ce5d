// The views' pure parts: scatter and heatmap option builders, the diverging scale, the token view's
// content, the linked selection, and the project's view state. ECharts itself checks the options
// by drawing them (server-side, to SVG, as the SVG export does).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { init, use } from 'echarts/core';
import { HeatmapChart, LineChart, ScatterChart } from 'echarts/charts';
import { AriaComponent, GridComponent, TitleComponent, TooltipComponent, VisualMapContinuousComponent } from 'echarts/components';
import { SVGRenderer } from 'echarts/renderers';
import type { KindName, KindResult, PatchingResult } from '../../shared/contract.ts';
import { cellRef, heatmapAxes, heatmapFocusPatch, heatmapKinds, heatmapOption, panelValues } from '../../renderer/src/lib/charts/heatmap-option.ts';
import { errorOrder, FACET_MIN_SIDE, FACET_PAD, facetGrid, facetPoints, pointIndex, pointRef, stepPoint, scatterFacets, scatterFocusPatch, scatterOption, sharedRange, tick } from '../../renderer/src/lib/charts/scatter-option.ts';
import { divergingColor, fmt, inkOn, maxAbs, RDBU, RDBU_DARK, THEMES } from '../../renderer/src/lib/charts/theme.ts';
import { recallKinds, recallOption } from '../../renderer/src/lib/charts/recall-option.ts';
import { readView, runMethodOf, settingsOf } from '../../renderer/src/lib/project-view.ts';
import {
  coordsOf,
  EMPTY_SELECTION,
  focusOf,
  hover,
  indexOf,
  lock,
  refOfRow,
  restrictTo,
  rowOfRef,
  selectionFromView,
  selectionToView,
  stepLock,
  toggleLock,
} from '../../renderer/src/lib/selection.ts';
import { tokenEffects } from '../../renderer/src/lib/token-effects.ts';

use([ScatterChart, HeatmapChart, LineChart, GridComponent, TitleComponent, TooltipComponent, VisualMapContinuousComponent, AriaComponent, SVGRenderer]);

const DIMS: Record<string, KindResult['dims']> = {
  resid_pre: ['layer', 'pos'],
  attn_out: ['layer', 'pos'],
  head_z: ['layer', 'head'],
  head_z_pos: ['layer', 'head', 'pos'],
  neuron: ['layer', 'neuron'],
};

/** A deterministic result: attribution = activation + small error, with a few outliers. */
function kind(name: KindName, shape: number[], o: { activation?: 'all' | 'none' | number[] } = {}): KindResult {
  const n = shape.reduce((a, b) => a * b, 1);
  const attribution = new Float32Array(n);
  const activation = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x = Math.sin(i * 12.9898) * 2;
    activation[i] = x;
    attribution[i] = x + (i % 7 === 0 ? 0.8 : 0.05) * Math.cos(i);
  }
  const act = o.activation ?? 'all';
  if (act === 'none') return { kind: name, dims: DIMS[name], shape, attribution };
  if (Array.isArray(act)) for (let i = 0; i < n; i++) if (!act.includes(i)) activation[i] = NaN;
  const k: KindResult = { kind: name, dims: DIMS[name], shape, attribution, activation };
  if (act === 'all') k.summary = { n, pearson: 0.98, spearman: 0.97, rmse: 0.12, outliers: [{ component: 7, attribution: attribution[7], activation: activation[7] }] };
  else k.verification = { k: act.length, checked: act, pearson: 0.9, recovered: null };
  return k;
}

const P = 6;
function result(kinds: KindResult[]): PatchingResult {
  return {
    direction: 'denoising',
    metric: { name: 'logit-diff', clean: 3, corrupted: 1 },
    positions: { clean: ['<|endoftext|>', 'When', ' John', ' and', ' Mary', ' went'], corrupted: ['<|endoftext|>', 'When', ' Mary', ' and', ' Mary', ' went'] },
    pairCount: 4,
    kinds,
    backend: 'cpu',
    seconds: 1,
  };
}
const R = result([kind('resid_pre', [2, P]), kind('head_z', [2, 4]), kind('head_z_pos', [2, 4, P], { activation: [0, 5, 9] }), kind('attn_out', [2, P], { activation: 'none' })]);
const theme = THEMES.light;

test('scatter facets: one per kind with activation, points as flat [x, y, index] triples, NaN left out', () => {
  const facets = scatterFacets(R);
  assert.deepEqual(facets.map((f) => f.kind), ['resid_pre', 'head_z', 'head_z_pos'], 'attn_out has no activation: no facet');
  const hz = facets[1];
  assert.equal(hz.n, 8);
  assert.ok(hz.data instanceof Float32Array);
  assert.equal(hz.data.length, 24);
  const k = R.kinds[1];
  assert.deepEqual([hz.data[9], hz.data[10], hz.data[11]], [k.activation![3], k.attribution![3], 3]);
  const partial = facets[2];
  assert.deepEqual(Array.from({ length: partial.n }, (_, i) => partial.data[i * 3 + 2]), [0, 5, 9]);
  assert.equal(partial.stats.basis, 'verified');
  assert.equal(facets[0].stats.basis, 'summary');
  assert.equal(pointRef(hz, 3).index, 3);
  assert.equal(pointIndex(partial, 9), 2);
  assert.equal(pointIndex(partial, 4), -1);
  // The range covers every point and 0 on both axes, so y = x is the diagonal.
  const [lo, hi] = sharedRange(hz.data);
  for (let i = 0; i < hz.data.length; i++) if (i % 3 !== 2) assert.ok(hz.data[i] >= lo && hz.data[i] <= hi);
  assert.ok(lo <= 0 && hi >= 0);
});

test('the scatter option: large series, no animation, y = x per facet, square facets, stats in titles, aria description', () => {
  const size = { width: 1000, height: 420 };
  const o = scatterOption({ result: R, theme, size }) as Record<string, any>;
  assert.equal(o.animation, false);
  const series = o.series as any[];
  assert.equal(series.length, 9, 'diagonal, points, focus ring per facet');
  const points = series.filter((s) => s.id.startsWith('points:'));
  assert.deepEqual(points.map((s) => s.id), ['points:resid_pre', 'points:head_z', 'points:head_z_pos']);
  for (const s of points) {
    assert.equal(s.large, true);
    assert.ok(s.data instanceof Float32Array);
    assert.deepEqual(s.dimensions, ['activation', 'attribution', 'index']);
  }
  const diag = series.find((s) => s.id === 'diag:head_z');
  assert.deepEqual(diag.data[0][0], diag.data[0][1]);
  assert.deepEqual(diag.data[1][0], diag.data[1][1]);
  o.xAxis.forEach((x: any, i: number) => {
    assert.equal(x.min, o.yAxis[i].min);
    assert.equal(x.max, o.yAxis[i].max);
  });
  for (const g of o.grid) assert.equal(g.width, g.height, 'square plots keep y = x at 45°');
  assert.match(o.title[0].subtext, /^r 0\.98 · ρ 0\.97 · RMSE 0\.12 · n 12$/);
  assert.match(o.title[2].subtext, /top 3 verified/);
  // Each title and its stats line have explicit line heights (the canvas otherwise draws the stats
  // into the title), and both fit in the room above the plot.
  for (const [i, t] of (o.title as any[]).entries()) {
    assert.ok(t.textStyle.lineHeight >= t.textStyle.fontSize && t.subtextStyle.lineHeight >= t.subtextStyle.fontSize);
    const bottom = t.top + 5 + t.textStyle.lineHeight + t.itemGap + t.subtextStyle.lineHeight; // ECharts' title padding is 5
    assert.ok(bottom <= o.grid[i].top, `facet ${i}: the title block ends at ${bottom}, the plot starts at ${o.grid[i].top}`);
  }
  assert.equal(o.aria.enabled, true);
  assert.match(o.aria.label.description, /resid_pre: n 12 · Pearson 0\.980 · Spearman 0\.970 · RMSE 0\.120; worst outliers resid_pre L1 @1 When/);
  // The tooltip names the component under the pointer.
  assert.match(o.tooltip.formatter({ seriesId: 'points:head_z', dataIndex: 3 }), /^L0H3\nattribution/);
});

test('the scatter focus patch rings the component in its facet only', () => {
  const facets = scatterFacets(R);
  const p = scatterFocusPatch(facets, { kind: 'head_z', index: 5 }) as { series: { id: string; data: number[][] }[] };
  assert.deepEqual(p.series.map((s) => s.id), ['focus:resid_pre', 'focus:head_z', 'focus:head_z_pos']);
  assert.deepEqual(p.series[1].data, [[facets[1].data[15], facets[1].data[16]]]);
  assert.deepEqual(p.series[0].data, []);
  const none = scatterFocusPatch(facets, { kind: 'head_z_pos', index: 4 }) as { series: { data: unknown[] }[] };
  assert.ok(none.series.every((s) => s.data.length === 0), 'a component without activation has no point');
});

test('the keyboard steps through a facet from the worst approximated point, and between facets', () => {
  const facets = scatterFacets(R);
  const hz = facets[1];
  const order = Array.from(errorOrder(hz));
  const errs = order.map((i) => Math.abs(hz.data[i * 3 + 1] - hz.data[i * 3]));
  for (let i = 1; i < errs.length; i++) assert.ok(errs[i - 1] >= errs[i]);
  const worst = stepPoint(facets, null, 'ArrowDown');
  assert.deepEqual(worst, pointRef(facets[0], errorOrder(facets[0])[0]));
  const first = stepPoint(facets, worst, 'ArrowDown')!;
  assert.equal(first.kind, 'head_z');
  assert.equal(first.index, pointRef(hz, order[0]).index);
  const second = stepPoint(facets, first, 'ArrowRight')!;
  assert.equal(second.index, pointRef(hz, order[1]).index);
  assert.deepEqual(stepPoint(facets, second, 'ArrowLeft'), first);
  assert.deepEqual(stepPoint(facets, first, 'ArrowLeft'), first, 'stops at the worst');
  assert.equal(stepPoint(facets, first, 'ArrowUp')!.kind, 'resid_pre');
  assert.equal(stepPoint([], null, 'ArrowRight'), null);
});

test('facets are laid out for the largest squares that fit, else reflow to fewer columns and scroll', () => {
  const padX = FACET_PAD.left + FACET_PAD.right;
  const padY = FACET_PAD.top + FACET_PAD.bottom;
  assert.deepEqual(facetGrid(4, 1200, 400), { cols: 4, rows: 1, side: 240, height: 400 });
  assert.equal(facetGrid(4, 600, 600).cols, 2);
  assert.equal(facetGrid(12, 1560, 500).rows, 2);
  assert.equal(facetGrid(1, 300, 900).side, 300 - padX);
  // 12 facets in a laptop's short view: as many columns as fit at the minimum side, rows below scroll.
  const short = facetGrid(12, 880, 170);
  assert.equal(short.cols, Math.floor(880 / (FACET_MIN_SIDE + padX)));
  assert.ok(short.side >= FACET_MIN_SIDE);
  assert.ok(short.cols * (short.side + padX) <= 880, 'never wider than the box');
  assert.equal(short.rows, Math.ceil(12 / short.cols));
  assert.equal(short.height, short.rows * (short.side + padY));
  // A narrow box: one column, squares no larger than one row of the box.
  const narrow = facetGrid(3, 900, 250, 90);
  assert.equal(narrow.side, Math.max(90, Math.min(Math.floor(900 / narrow.cols) - padX, 250 - padY)));
  assert.equal(tick(0.30000000000000004), '0.3');
  assert.equal(tick(-2.5e-5), '-0.000025');
});

test('36,864 points (GPT-2 small’s neurons) build an option', (t) => {
  const big = result([kind('neuron', [12, 3072])]);
  const t0 = performance.now();
  const facets = scatterFacets(big);
  const o = scatterOption({ result: big, theme, facets }) as Record<string, any>;
  const ms = performance.now() - t0;
  assert.equal(facets[0].n, 36_864);
  assert.equal(o.series[1].data.length, 36_864 * 3);
  t.diagnostic(`built in ${ms.toFixed(0)} ms`); // speed is for benchmarks, not a threshold on a loaded machine
  assert.equal(o.series[1].symbolSize, 3);
});

test('heatmaps: kinds with two index dimensions, token labels, symmetric diverging scale with white at zero', () => {
  const all = result([...R.kinds, kind('neuron', [2, 16])]);
  assert.deepEqual(heatmapKinds(all), ['resid_pre', 'head_z', 'head_z_pos', 'attn_out']);
  const axes = heatmapAxes(R, R.kinds[0]);
  assert.deepEqual(axes.x.slice(0, 3), ['0 <|endoftext|>', '1 When', '2 ␣John/␣Mary']);
  assert.deepEqual(axes.y, ['L0', 'L1']);
  assert.deepEqual(axes.cell(7), [1, 1]);
  const hzp = heatmapAxes(R, R.kinds[2]);
  assert.equal(hzp.y.length, 8);
  assert.equal(hzp.y[5], 'L1H1');
  const o = heatmapOption({ result: R, kind: 'resid_pre', theme }) as Record<string, any>;
  assert.equal(o.animation, false);
  const cells = o.series.filter((s: any) => s.id.startsWith('cells:'));
  assert.deepEqual(cells.map((s: any) => s.name), ['attribution', 'activation', 'attribution − activation']);
  const vm = o.visualMap[0];
  assert.equal(o.visualMap[1].show, false);
  assert.equal(vm.min, -vm.max, 'symmetric around zero');
  assert.equal(vm.dimension, 2, 'coloured by the value, not the index');
  assert.equal(vm.inRange.color[(vm.inRange.color.length - 1) / 2], '#ffffff', 'white at zero');
  assert.deepEqual(vm.seriesIndex, [0, 1, 2], 'focus rings are not coloured by the scale');
  const max = maxAbs(...Object.values(panelValues(R.kinds[0])));
  assert.equal(vm.max, max);
  const diff = cells[2].data[3];
  assert.ok(Math.abs(diff[2] - (R.kinds[0].attribution![3] - R.kinds[0].activation![3])) < 1e-6);
  assert.equal(diff[3], 3);
  assert.match(o.aria.label.description, /Heatmaps of resid_pre, layer by position, on a blue–white–red scale/);
  // Partial activation: blank (not zero) where not computed; attribution only: one panel.
  const partial = heatmapOption({ result: R, kind: 'head_z_pos', theme }) as Record<string, any>;
  assert.equal(partial.series[1].data[1][2], '-');
  const attrOnly = heatmapOption({ result: R, kind: 'attn_out', theme }) as Record<string, any>;
  assert.deepEqual(attrOnly.series.filter((s: any) => s.id.startsWith('cells:')).map((s: any) => s.id), ['cells:attribution']);
  const patch = heatmapFocusPatch(R, 'resid_pre', { kind: 'resid_pre', index: 8 }) as { series: { id: string; data: number[][] }[] };
  assert.deepEqual(patch.series.map((s) => [s.id, s.data]), [['focus:attribution', [[2, 1, 0]]], ['focus:activation', [[2, 1, 0]]], ['focus:difference', [[2, 1, 0]]]]);
  const other = heatmapFocusPatch(R, 'resid_pre', { kind: 'head_z', index: 1 }) as { series: { data: unknown[] }[] };
  assert.ok(other.series.every((s) => s.data.length === 0));
  assert.deepEqual(cellRef('resid_pre', [2, 1, 0.5, 8]), { kind: 'resid_pre', index: 8 });
  assert.equal(cellRef('resid_pre', undefined), null);
});

test('ECharts draws both options (as the SVG export does)', () => {
  const cases = [
    [scatterOption({ result: R, theme: THEMES.dark }), scatterFocusPatch(scatterFacets(R), { kind: 'head_z', index: 2 })],
    [heatmapOption({ result: R, kind: 'resid_pre', theme }), heatmapFocusPatch(R, 'resid_pre', { kind: 'resid_pre', index: 2 })],
  ];
  for (const [option, patch] of cases) {
    const chart = init(null as unknown as Parameters<typeof init>[0], null, { renderer: 'svg', ssr: true, width: 900, height: 420 });
    let svg: string;
    try {
      chart.setOption(option);
      chart.setOption(patch);
      svg = chart.renderToSVGString();
    } finally {
      chart.dispose();
    }
    assert.match(svg, /^<svg/);
    assert.ok(svg.length > 5000);
  }
});

test('the diverging scale: white at zero, RdBu ends at ±max, blue negative, red positive', () => {
  assert.equal(divergingColor(0, 2), '#ffffff');
  assert.equal(divergingColor(2, 2), RDBU[RDBU.length - 1]);
  assert.equal(divergingColor(-5, 2), RDBU[0]);
  assert.equal(divergingColor(NaN, 2), null);
  const red = divergingColor(1, 2)!;
  const blue = divergingColor(-1, 2)!;
  assert.ok(parseInt(red.slice(1, 3), 16) > parseInt(red.slice(5, 7), 16));
  assert.ok(parseInt(blue.slice(5, 7), 16) > parseInt(blue.slice(1, 3), 16));
  assert.equal(inkOn('#ffffff'), '#111111');
  assert.equal(inkOn(RDBU[0]), '#ffffff');
  assert.equal(fmt(0.0123), '0.012');
  assert.equal(fmt(null), '—');
});

test('token chips in the dark theme: no effect is the dark chip colour, not white; the ends stay blue and red', () => {
  assert.equal(THEMES.light.tokenScale, RDBU);
  const dark = THEMES.dark.tokenScale;
  assert.equal(divergingColor(0, 1, dark), '#22272d');
  assert.equal(inkOn(divergingColor(0, 1, dark)!), '#ffffff', 'light text on an unaffected dark chip');
  assert.equal(divergingColor(-1, 1, dark), RDBU[2]);
  assert.equal(divergingColor(1, 1, dark), RDBU[8]);
  const lum = (c: string) => [1, 3, 5].reduce((s, i) => s + parseInt(c.slice(i, i + 2), 16), 0);
  for (let i = 0; i < 5; i++) {
    assert.ok(lum(dark[i]) > lum(dark[i + 1]), 'brighter towards the negative end');
    assert.ok(lum(dark[10 - i]) > lum(dark[9 - i]), 'brighter towards the positive end');
  }
  assert.deepEqual(RDBU_DARK, dark);
});

test('the token view shades the focused kind and layer at every position', () => {
  const none = tokenEffects(R, null);
  assert.equal(none.tokens.length, P);
  assert.match(none.note!, /Select a component/);
  assert.equal(none.tokens[2].differs, true);
  assert.equal(none.tokens[2].clean, '␣John');
  const fx = tokenEffects(R, { kind: 'resid_pre', index: P + 2 });
  assert.equal(fx.title, 'resid_pre at layer 1, per position');
  assert.equal(fx.focusPos, 2);
  assert.deepEqual(fx.tokens.map((t) => t.ref?.index), [6, 7, 8, 9, 10, 11]);
  assert.equal(fx.tokens[4].attribution, R.kinds[0].attribution![10]);
  assert.ok(fx.max >= Math.abs(fx.tokens[4].attribution!));
  const head = tokenEffects(R, { kind: 'head_z_pos', index: 1 * 4 * P + 2 * P + 3 });
  assert.equal(head.title, 'head_z_pos at L1H2, per position');
  assert.deepEqual(head.tokens.map((t) => t.ref?.index), [36, 37, 38, 39, 40, 41]);
  const nopos = tokenEffects(R, { kind: 'head_z', index: 2 });
  assert.match(nopos.note!, /L0H2 \(head_z\) acts on all positions/);
});

test('the linked selection: hover wins over the lock; a click toggles the lock', () => {
  const a = { kind: 'head_z' as const, index: 1 };
  const b = { kind: 'resid_pre' as const, index: 4 };
  let s = toggleLock(EMPTY_SELECTION, a);
  assert.deepEqual(focusOf(s), a);
  s = hover(s, b);
  assert.deepEqual(focusOf(s), b, 'every view follows hovered ?? locked');
  assert.equal(hover(s, { ...b }), s, 'the same hover changes nothing');
  s = hover(s, null);
  assert.deepEqual(focusOf(s), a);
  s = toggleLock(s, { ...a });
  assert.equal(s.locked, null, 'clicking the locked component unlocks it');
  assert.equal(lock(s, null), s);
  // Rows of the table: kinds in result order, then flat index.
  assert.equal(rowOfRef(R, b), 4);
  assert.equal(rowOfRef(R, a), 2 * P + 1);
  assert.deepEqual(refOfRow(R, 2 * P + 1), a);
  assert.equal(rowOfRef(R, { kind: 'neuron', index: 0 }), -1);
  assert.equal(refOfRow(R, 10_000), null);
  // The keyboard moves the lock through the rows as shown.
  const rows = Int32Array.from([5, 2 * P + 1, 3]);
  let k = stepLock(EMPTY_SELECTION, R, rows, 1);
  assert.deepEqual(k.locked, { kind: 'resid_pre', index: 5 });
  k = stepLock(k, R, rows, 1);
  assert.deepEqual(k.locked, a);
  k = stepLock(k, R, rows, 10);
  assert.deepEqual(k.locked, { kind: 'resid_pre', index: 3 });
  assert.deepEqual(stepLock(EMPTY_SELECTION, R, rows, -1).locked, { kind: 'resid_pre', index: 3 });
  // A new result keeps only what exists in it.
  const small = result([kind('head_z', [2, 4])]);
  const kept = restrictTo({ hovered: b, locked: a }, small);
  assert.deepEqual(kept, { hovered: null, locked: a });
  assert.deepEqual(restrictTo(kept, null), EMPTY_SELECTION);
  // Saved as view state (the lock only) and read back defensively.
  assert.deepEqual(selectionToView({ hovered: b, locked: a }), a);
  assert.deepEqual(selectionFromView(a, small), { hovered: null, locked: a });
  assert.deepEqual(selectionFromView({ kind: 'head_z', index: 99 }, small), EMPTY_SELECTION);
  assert.deepEqual(selectionFromView('nonsense', small), EMPTY_SELECTION);
});

test('coordinates and flat indices agree with the engine’s row-major layout', () => {
  const k = R.kinds[2]; // head_z_pos [2, 4, P]
  assert.deepEqual(coordsOf(k, 1 * 4 * P + 2 * P + 3), { layer: 1, head: 2, pos: 3 });
  for (let i = 0; i < 2 * 4 * P; i += 7) assert.equal(indexOf(k, coordsOf(k, i)), i);
  assert.equal(indexOf(k, { layer: 2, head: 0, pos: 0 }), -1);
});

test('project view state and run settings', () => {
  const run = { direction: 'noising' as const, metric: 'prob-diff' as const, kinds: ['head_z' as const], method: 'verify' as const, verifyK: 7, prependBos: false };
  const s = settingsOf(run);
  assert.deepEqual(s, { direction: 'noising', metric: 'prob-diff', kinds: ['head_z'], method: 'attribution', verifyTop: 7, prependBos: false });
  assert.equal(runMethodOf(s), 'verify');
  assert.equal(runMethodOf({ ...s, method: 'both', verifyTop: undefined }), 'both');
  const v = readView({ theme: 'dark', tab: 'heatmap', heatmapKind: 'head_z', selected: { kind: 'head_z', index: 3 }, run, selectedPair: 2, draftPairs: [{ clean: 'a', corrupted: 'b', answer: ' c', wrong: ' d' }] });
  assert.deepEqual(v, { theme: 'dark', tab: 'heatmap', heatmapKind: 'head_z', selected: { kind: 'head_z', index: 3 }, run, selectedPair: 2, draftPairs: [{ clean: 'a', corrupted: 'b', answer: ' c', wrong: ' d' }] });
  const table = { sort: { key: 'error', desc: true, abs: true }, kind: 'head_z', layer: '1', pos: '', search: 'L1' };
  assert.deepEqual(readView({ table }).table, table);
  assert.equal(readView({ table: { ...table, sort: { key: 'bogus' } } }).table, undefined);
  assert.deepEqual(readView({ table: { ...table, layer: 'x; drop', kind: 'nope' } }).table, { ...table, layer: '', kind: '' });
  assert.deepEqual(readView({ theme: 'purple', tab: 7, selected: { kind: 'nope', index: 1 }, run: { direction: 'sideways' }, draftPairs: [{ clean: 1 }] }), {});
  assert.deepEqual(readView(null), {});
  // Draft pairs become the project's pairs when it has no results: only as many and as long as a project saves.
  const draft = { clean: 'a', corrupted: 'b', answer: ' c', wrong: ' d' };
  assert.equal(readView({ draftPairs: Array(10_000).fill(draft) }).draftPairs?.length, 10_000);
  assert.equal(readView({ draftPairs: Array(10_001).fill(draft) }).draftPairs, undefined);
  assert.equal(readView({ draftPairs: [{ ...draft, clean: 'x'.repeat(20_001) }] }).draftPairs, undefined);
});

test('the recall chart: a stepped curve per ranking, the best possible one, and a description in words', () => {
  const curve = (c: number[], to: number) => ({ k: 2, curve: c, verifications_to_all: to, auc: c.reduce((a, b) => a + b, 0) / c.length });
  const result = {
    direction: 'denoising',
    metric: { name: 'logit-diff', clean: 1, corrupted: 0 },
    positions: { clean: [], corrupted: [] },
    pairCount: 2,
    backend: 'cpu',
    seconds: 1,
    kinds: [
      { kind: 'head_k', dims: ['layer', 'head'], shape: [1, 4], recall: { atp: curve([0, 0.5, 0.5, 1], 4), atp_star: curve([0.5, 1, 1, 1], 2) } },
      { kind: 'head_z', dims: ['layer', 'head'], shape: [1, 4] },
    ],
  } as unknown as PatchingResult;
  assert.deepEqual(recallKinds(result), ['head_k']);
  const o = recallOption({ result, kind: 'head_k', theme: THEMES.dark }) as any;
  assert.deepEqual(o.series.map((s: any) => s.id), ['ideal', 'recall:atp', 'recall:atp_star']);
  assert.deepEqual(o.series[0].data, [[1, 0.5], [2, 1], [3, 1], [4, 1]]);
  assert.deepEqual(o.series[2].data, [[1, 0.5], [2, 1], [3, 1], [4, 1]]);
  assert.equal(o.series[1].step, 'end');
  assert.match(o.series[2].name, /^AtP\* · 2 to all · AUC 0\.875$/);
  assert.equal(o.xAxis.max, 4);
  assert.match(o.aria.label.description, /true top 2 of 4 components.*AtP finds all of them after 4 verifications.*AtP\* finds all of them after 2 verifications/);
  assert.equal(o.backgroundColor, THEMES.dark.background);
});
