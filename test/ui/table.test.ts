// The renderer's pure modules: token display, the ranking table's rows, labels, sorting, filtering,
// windowing, and CSV that agrees with the engine's own report.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { PatchingResult } from '../../shared/contract.ts';
import { HookedModel } from '../../main/engine/model.ts';
import { runPatching, type PatchingResult as EngineResult } from '../../main/engine/patching/index.ts';
import { tokenizePairs } from '../../main/engine/patching/pairs.ts';
import { toCsv } from '../../main/engine/patching/report.ts';
import { generatePairs } from '../../main/engine/tasks/index.ts';
import { toWire } from '../../main/host/result-wire.ts';
import { naturalOrder, tableCsv } from '../../renderer/src/lib/csv.ts';
import { buildTable, queryRows, rowLabel, scoreColumns, type Table } from '../../renderer/src/lib/rows.ts';
import { differingPositions, showToken } from '../../renderer/src/lib/tokens.ts';
import { visibleWindow } from '../../renderer/src/lib/virtual.ts';
import { sessionFromJson, sessionToJson } from '../../renderer/src/lib/session-file.ts';

const MODEL = new URL('../fixtures/gpt2-tiny-random', import.meta.url).pathname;
let model: HookedModel;
let engineResult: EngineResult;
let result: PatchingResult;
let table: Table;

before(async () => {
  model = await HookedModel.load(MODEL);
  const pairs = generatePairs('ioi', { n: 1, seed: 1, tokenizer: model.tokenizer });
  const t = tokenizePairs(model, pairs);
  engineResult = await runPatching(model, t, { direction: 'denoising', metric: 'logit-diff', kinds: ['resid_pre', 'mlp_out', 'head_z', 'head_q', 'head_z_pos', 'neuron'], method: 'attribution', verifyTop: 5 });
  result = toWire(engineResult, model.tokenizer);
  table = buildTable(result);
});

test('tokens show their whitespace, and differing positions are found', () => {
  assert.equal(showToken(' Mary'), '␣Mary');
  assert.equal(showToken('\n\t'), '↵⇥');
  assert.equal(showToken('\u0000'), '\\u0000');
  assert.equal(showToken(''), '∅');
  assert.deepEqual(differingPositions([1, 2, 3], [1, 5, 3, 4]), [false, true, false, true]);
});

test('every component of every kind becomes one row, with its index decomposed', () => {
  const L = model.config.nLayers, H = model.config.nHeads, P = result.positions.clean.length, N = model.config.dMlp;
  assert.equal(table.size, 2 * L * P + 2 * L * H + L * H * P + L * N);
  // head_z_pos [L, H, P]: component i is (l, h, p) row-major.
  const zpos = result.kinds.findIndex((k) => k.kind === 'head_z_pos');
  const first = Array.from(table.kindOf).indexOf(zpos);
  const r = first + 1 * H * P + 2 * P + 3;
  assert.deepEqual([table.layer[r], table.head[r], table.pos[r], table.neuron[r]], [1, 2, 3, -1]);
  assert.equal(table.attribution[r], result.kinds[zpos].attribution![1 * H * P + 2 * P + 3]);
});

test('labels are readable and unique', () => {
  const labels = Array.from({ length: table.size }, (_, r) => rowLabel(table, r));
  assert.equal(new Set(labels).size, labels.length);
  assert.ok(labels.includes('L1H2'));
  assert.ok(labels.includes('L1H2.q'));
  assert.ok(labels.includes('L0N37'));
  assert.ok(labels.some((l) => /^MLP1 @\d+ ␣\S+/.test(l)), 'mlp_out labels carry position and token');
  assert.ok(labels.some((l) => /^resid_pre L0 @\d+ ␣\S+→␣\S+$/.test(l)), 'a differing position shows clean→corrupted');
});

test('rows sort by |attribution| with NaN last, and filter by kind, layer, position and search', () => {
  const rows = queryRows(table, { sort: { key: 'attribution', desc: true, abs: true } });
  assert.equal(rows.length, table.size);
  for (let i = 1; i < rows.length; i++) assert.ok(Math.abs(table.attribution[rows[i - 1]]) >= Math.abs(table.attribution[rows[i]]));
  const act = queryRows(table, { sort: { key: 'activation', desc: true, abs: true } });
  const computed = Array.from(act).filter((r) => Number.isFinite(table.activation[r])).length;
  assert.equal(computed, 6 * 5, 'verify top-5 per kind');
  assert.ok(Number.isFinite(table.activation[act[computed - 1]]) && Number.isNaN(table.activation[act[computed]]));
  const heads = queryRows(table, { kind: 'head_z', layer: 1, sort: { key: 'head', desc: false, abs: false } });
  assert.deepEqual(Array.from(heads, (r) => rowLabel(table, r)), ['L1H0', 'L1H1', 'L1H2', 'L1H3']);
  const atPos = queryRows(table, { pos: 2, sort: { key: 'label', desc: false, abs: false } });
  assert.ok(atPos.length > 0 && Array.from(atPos).every((r) => table.pos[r] === 2));
  const found = queryRows(table, { search: 'l0n3', sort: { key: 'label', desc: false, abs: false } });
  assert.equal(found.length, 11, 'L0N3 and L0N30–L0N39 (d_mlp is 256, so no L0N300+)');
});

test('the CSV has the engine report’s columns and values', () => {
  const mine = tableCsv(table, naturalOrder(table)).trimEnd().split('\n');
  const engine = toCsv(engineResult, model.tokenizer).trimEnd().split('\n');
  assert.equal(mine[0], engine[0]);
  assert.equal(mine.length, engine.length);
  const rest = (line: string) => line.split(',').slice(-9).join(','); // all columns but the label
  for (let i = 1; i < mine.length; i++) assert.equal(rest(mine[i]), rest(engine[i]), `line ${i + 1}`);
});

test('only the rows in view are rendered', () => {
  assert.deepEqual(visibleWindow(0, 240, 24, 50_000, 8), { start: 0, end: 19, offset: 0 });
  assert.deepEqual(visibleWindow(24 * 1000, 240, 24, 50_000, 8), { start: 992, end: 1019, offset: 992 * 24 });
  assert.deepEqual(visibleWindow(1e9, 240, 24, 100, 8), { start: 91, end: 100, offset: 91 * 24 });
  assert.deepEqual(visibleWindow(0, 240, 24, 0), { start: 0, end: 0, offset: 0 });
});

test('session files round-trip and refuse what they cannot read', () => {
  const sess = { format: 'patchbench-session' as const, version: 1 as const, modelDir: null, pairs: [{ clean: 'a', corrupted: 'b', answer: ' x', wrong: ' y' }], settings: { prependBos: true, metric: 'logit-diff' as const, direction: 'noising' as const, kinds: ['head_z' as const], method: 'verify' as const, verifyK: 7 } };
  assert.deepEqual(sessionFromJson(sessionToJson(sess), 's.json'), sess);
  assert.throws(() => sessionFromJson('{', 's.json'), /s\.json is not valid JSON/);
  assert.throws(() => sessionFromJson(JSON.stringify({ ...sess, version: 2 }), 's.json'), /newer Patchbench/);
  assert.throws(() => sessionFromJson(JSON.stringify({ ...sess, pairs: 3 }), 's.json'), /s\.json\.pairs must be an array/);
});

test('AtP* columns: the table sorts by any score, and the CSV matches the engine’s', async () => {
  const pairs = tokenizePairs(model, generatePairs('ioi', { n: 2, seed: 1, tokenizer: model.tokenizer }));
  const star = await runPatching(model, pairs, { direction: 'denoising', metric: 'logit-diff', kinds: ['head_q', 'mlp_out'], method: 'both', qkFix: true, gradDrop: true });
  const wire = toWire(star, model.tokenizer);
  const t = buildTable(wire);
  assert.deepEqual(scoreColumns(wire), ['attribution_qk', 'score_atp', 'score_atp_qk', 'score_graddrop', 'score_atp_star']);
  // attribution_qk is the plain estimate outside head_q/head_k
  const mlp = wire.kinds.findIndex((k) => k.kind === 'mlp_out');
  for (let r = 0; r < t.size; r++) if (t.kindOf[r] === mlp) assert.equal(t.scores.attribution_qk![r], t.attribution[r]);
  const rows = queryRows(t, { sort: { key: 'score', desc: true, abs: true }, score: 'score_graddrop' });
  const gd = Array.from(rows, (r) => t.scores.score_graddrop![r]);
  assert.deepEqual(gd, [...gd].sort((a, b) => b - a));
  assert.equal(Math.max(...gd), gd[0]);
  const mine = tableCsv(t, naturalOrder(t)).trimEnd().split('\n');
  const engine = toCsv(star, model.tokenizer).trimEnd().split('\n');
  assert.equal(mine[0], engine[0]);
  const rest = (line: string) => line.split(',').slice(-14).join(','); // all columns but the label
  for (let i = 1; i < mine.length; i++) assert.equal(rest(mine[i]), rest(engine[i]), `line ${i + 1}`);
});
