// End to end: the Circuit view on the bundled example project (an EAP-IG circuit, top 50 edges, on
// the demo model) through the web host in Chromium: the drawn edges for the stored n, the slider
// moving the graph, the table and the curve's marker, sorting and filtering the edge table, the
// selection linked both ways with the ranking table, the empty state, and a GPT-2-small-shaped
// circuit (32,491 edges) opened from a `patchbench circuit` JSON file, of which only the capped
// number of edges is drawn. Screenshots go to test-artifacts/.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { buildGraph, type GraphShape } from '../../shared/circuit-graph.ts';
import { circuitNodes, edgesIn as countEdges, rankEdges, topN } from '../../shared/circuit-extract.ts';
import { toCircuitJson } from '../../main/engine/circuits/report.ts';
import { loadProject } from '../../main/engine/project/index.ts';
import { mulberry32 } from '../../main/engine/tasks/random.ts';
import { nSteps, readerNode, stepOf, DRAW_CAP } from '../../renderer/src/lib/circuit-model.ts';
import { noChromium, until } from './support/chromium.ts';
import { browserSession } from './support/session.ts';
import { ROOT } from './support/web-host.ts';

const EXAMPLES = join(ROOT, 'resources/examples');
const example = loadProject(join(EXAMPLES, 'ioi-demo.patchbench')).circuit!;
const graph = buildGraph(example.graph);
const ranking = rankEdges(example.eapIg!);
/** what the engine extracts for top-n by EAP-IG */
const edgesAt = (n: number) => countEdges(topN(graph, ranking, n));

const session = browserSession({ setUp: () => ({ examples: EXAMPLES }), ready: (s) => void ({ host, page, pageErrors } = s) });
const { shot, setTheme } = session;
let { host, page, pageErrors } = session;

const drawn = async () => Number(await page.getByTestId('circuit-graph').getAttribute('data-drawn'));
const markedN = async () => Number(await page.getByTestId('circuit-curve').getAttribute('data-marked-n'));
const edgeCount = async () => (await page.getByTestId('edge-count').textContent())!.trim();
const setN = async (n: number) => {
  await page.getByTestId('circuit-n-input').fill(String(n));
  await page.getByTestId('circuit-n-input').press('Enter');
};
const firstRowCells = async () => (await page.getByTestId('edge-row').first().locator('[role="cell"]').allTextContents()).map((s) => s.trim());

describe('the Circuit view', { skip: noChromium }, () => {
  test('the example project: its circuit drawn at the stored n, the curve marked there', async () => {
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.goto(host.url);
    await page.getByTestId('result-row').first().waitFor({ timeout: 60_000 });
    await page.getByTestId('tab-circuit').click();
    await page.getByTestId('circuit-graph').waitFor();
    assert.equal(example.request.n, 50);
    const want = edgesAt(50);
    assert.equal(want, countEdges(example.circuit), 'the stored circuit is top-50 by EAP-IG');
    assert.equal(await drawn(), want);
    assert.equal(await page.getByTestId('circuit-edge').count(), want, 'one path per drawn edge');
    const nodes = circuitNodes(graph, example.circuit);
    assert.match((await page.getByTestId('circuit-stats').textContent()) ?? '', new RegExp(`${want}\\s*edges, ${nodes.length}\\s*nodes`));
    // nodes outside the circuit are dimmed, those inside are not
    const outNames = await page.locator('[data-testid="circuit-node"].out').evaluateAll((els) => els.map((e) => e.getAttribute('data-node')));
    assert.deepEqual(outNames.sort(), [...graph.sources, 'logits'].filter((n) => !nodes.includes(n)).sort());
    assert.equal(await markedN(), 50);
    assert.equal(await page.getByLabel('Score to rank edges by').inputValue(), 'eap_ig');
    assert.equal(await edgeCount(), `${graph.src.length} of ${graph.src.length}`);
    await page.getByTestId('faithfulness-chart').locator('canvas').first().waitFor();
  });

  test('the slider moves the circuit, the table and the marker', async () => {
    await setN(100);
    await until('n = 100 is drawn', async () => (await markedN()) === 100);
    assert.equal(await drawn(), edgesAt(100));
    await page.getByTestId('edge-in-circuit').check();
    assert.equal(await edgeCount(), `${edgesAt(100)} of ${graph.src.length}`);
    // the range input steps through nSteps: one step left of 100
    const steps = nSteps(graph.src.length);
    await page.getByTestId('circuit-n').focus();
    await page.keyboard.press('ArrowLeft');
    const n = steps[stepOf(steps, 100) - 1];
    await until(`n = ${n}`, async () => (await markedN()) === n);
    assert.ok(n < 100);
    assert.equal(await drawn(), edgesAt(n));
    assert.equal(await edgeCount(), `${edgesAt(n)} of ${graph.src.length}`);
    assert.equal(await page.getByTestId('circuit-n-input').inputValue(), String(n));
    await page.getByTestId('edge-in-circuit').uncheck();
    // the score picker: EAP ranks differently
    await page.getByLabel('Score to rank edges by').selectOption('eap');
    await until('EAP drawn', async () => (await drawn()) === countEdges(topN(graph, rankEdges(example.eap), n)));
    await page.getByLabel('Score to rank edges by').selectOption('eap_ig');
    await setN(50);
    await until('back at 50', async () => (await markedN()) === 50);
  });

  test('Save As keeps the circuit, and reopening shows it at the saved n and score', async () => {
    const digest = () => page.evaluate('(() => { const c = window.patchbench_app.circuit; return JSON.stringify([Array.from(c.eap), Array.from(c.eapIg), Array.from(c.circuit), c.faithfulness, c.request]); })()');
    const before = await digest();
    await setN(100);
    await until('n = 100', async () => (await markedN()) === 100);
    await page.getByTestId('save-project').click(); // an example is untitled: Save asks where
    await page.getByTestId('dialog-saveAs').waitFor();
    await page.locator('#save-path').fill(join(host.home, 'saved', 'with-circuit.patchbench'));
    await page.locator('#save-path').press('Enter');
    await page.getByTestId('dialog-saveAs').waitFor({ state: 'detached' });
    await setN(7); // changed after saving: view state only, so no unsaved changes
    await page.getByTestId('open-project').click();
    await page.getByTestId('dialog-open').waitFor();
    await page.getByTestId('recent-projects').getByRole('button', { name: /with-circuit/ }).click();
    await page.getByTestId('dialog-open').waitFor({ state: 'detached' });
    await page.getByTestId('circuit-graph').waitFor(); // the view state: the Circuit tab
    assert.equal(await markedN(), 100);
    assert.equal(await drawn(), edgesAt(100));
    assert.equal(await digest(), before, 'scores, circuit, curve and request as they were');
    await setN(50);
    await until('back at 50', async () => (await markedN()) === 50);
  });

  test('the edge table sorts and filters', async () => {
    // |S| first: the top edge by EAP-IG
    const top = ranking[0];
    let cells = await firstRowCells();
    assert.deepEqual(cells.slice(0, 3), ['1', graph.sources[graph.src[top]], graph.destinations[graph.dst[top]].name]);
    await page.getByTestId('edge-sort-src').click();
    cells = await firstRowCells();
    assert.equal(cells[1], 'input');
    assert.equal(cells[2], graph.destinations[0].name, 'sources in forward order, then destinations');
    await page.getByTestId('edge-sort-dst').click();
    await page.getByTestId('edge-sort-dst').click(); // descending: the logits first
    assert.equal((await firstRowCells())[2], 'logits');
    await page.getByTestId('edge-sort-score').click(); // S, largest first
    const maxS = Math.max(...example.eapIg!);
    const e = example.eapIg!.indexOf(maxS);
    assert.deepEqual((await firstRowCells()).slice(1, 3), [graph.sources[graph.src[e]], graph.destinations[graph.dst[e]].name]);
    // filter by a node's name
    await page.getByTestId('edge-filter').fill('a2.h1');
    const named = Array.from(graph.src, (_, i) => `${graph.sources[graph.src[i]]}->${graph.destinations[graph.dst[i]].name}`).filter((x) => x.includes('a2.h1')).length;
    await until('the filter applies', async () => (await edgeCount()) === `${named} of ${graph.src.length}`);
    for (const row of await page.getByTestId('edge-row').all()) assert.match((await row.textContent()) ?? '', /a2\.h1/);
    await page.getByTestId('edge-in-circuit').check();
    const both = Array.from(graph.src, (_, i) => i).filter((i) => example.circuit[i] && `${graph.sources[graph.src[i]]}->${graph.destinations[graph.dst[i]].name}`.includes('a2.h1')).length;
    assert.equal(await edgeCount(), `${both} of ${graph.src.length}`);
    await page.getByTestId('edge-filter').fill('');
    await page.getByTestId('edge-in-circuit').uncheck();
    await page.getByTestId('edge-sort-abs').click();
  });

  test('a head node selects its head in the ranking table, and a ranking row lights its node', async () => {
    const head = circuitNodes(graph, example.circuit).find((n) => /^a\d+\.h\d+$/.test(n))!;
    const [, l, h] = /^a(\d+)\.h(\d+)$/.exec(head)!;
    await page.locator(`[data-testid="circuit-node"][data-node="${head}"]`).click();
    const locked = page.locator('[data-testid="result-row"][aria-selected="true"]');
    await locked.waitFor();
    assert.equal((await locked.locator('[role="cell"]').first().textContent())?.trim(), `L${l}H${h}`);
    assert.match((await locked.textContent()) ?? '', /head_z/);
    assert.match((await page.locator(`[data-node="${head}"]`).getAttribute('class')) ?? '', /\blit\b/);
    await shot('circuit-selected-head.png');
    // the reverse: another head's row in the ranking table
    await page.getByLabel('Search components').fill('L3H2');
    await page.getByLabel('Filter by kind').selectOption('head_z');
    await page.getByTestId('result-row').first().click();
    await until('a3.h2 is lit', async () => /\blit\b/.test((await page.locator('[data-node="a3.h2"]').getAttribute('class')) ?? ''));
    assert.doesNotMatch((await page.locator(`[data-node="${head}"]`).getAttribute('class')) ?? '', /\blit\b/);
    // an MLP row lights its layer's MLP
    await page.getByLabel('Search components').fill('');
    await page.getByLabel('Filter by kind').selectOption('mlp_out');
    await page.getByLabel('Filter by layer').selectOption('1');
    await page.getByTestId('result-row').first().click();
    await until('m1 is lit', async () => /\blit\b/.test((await page.locator('[data-node="m1"]').getAttribute('class')) ?? ''));
    await page.getByLabel('Filter by kind').selectOption('');
    await page.getByLabel('Filter by layer').selectOption('');
    // the keyboard: a focused node takes Enter (head_z [1, 0] of 4 heads: index 4)
    await page.locator('[data-node="a1.h0"]').focus();
    await page.keyboard.press('Enter');
    await until('L1H0 is locked', async () => (await page.evaluate('JSON.stringify(window.patchbench_app.selection.locked)')) === JSON.stringify({ kind: 'head_z', index: 4 }));
    await until('its row is selected', async () => (await locked.locator('[role="cell"]').first().textContent())?.trim() === 'L1H0');
    await page.getByTestId('rows').press('Escape');
  });

  test('screenshots, light and dark, at 1280×720 and 1920×1080', async () => {
    for (const size of [{ width: 1280, height: 720 }, { width: 1920, height: 1080 }]) {
      await page.setViewportSize(size);
      for (const theme of ['light', 'dark'] as const) {
        await setTheme(theme);
        await page.waitForTimeout(200);
        const m = (await page.evaluate('({ w: document.documentElement.scrollWidth, iw: innerWidth })')) as { w: number; iw: number };
        assert.ok(m.w <= m.iw, `${size.width}×${size.height} ${theme}: no sideways scrolling`);
        await shot(`circuit-${size.width}x${size.height}-${theme}.png`);
      }
    }
    await setTheme('light');
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  test('Maximise gives the view the whole height on a 1280×720 screen, and Restore brings the table back', async () => {
    await page.setViewportSize({ width: 1280, height: 720 });
    const graphHeight = async () => (await page.getByTestId('circuit-graph').boundingBox())!.height;
    const before = await graphHeight();
    const maximise = page.getByTestId('views-maximise');
    assert.equal(await maximise.getAttribute('aria-pressed'), 'false');
    await maximise.click();
    await until('the ranking table is hidden', async () => (await page.getByTestId('result-row').count()) === 0);
    const after = await graphHeight();
    assert.ok(after > before + 150, `the graph grows from ${before} px to ${after} px`);
    assert.equal(await maximise.getAttribute('aria-pressed'), 'true');
    const m = (await page.evaluate('({ h: document.documentElement.scrollHeight, ih: innerHeight })')) as { h: number; ih: number };
    assert.ok(m.h <= m.ih, 'the page itself does not scroll');
    for (const theme of ['light', 'dark'] as const) {
      await setTheme(theme);
      await page.waitForTimeout(200);
      await shot(`circuit-1280x720-maximised-${theme}.png`);
    }
    await setTheme('light');
    await maximise.click();
    await page.getByTestId('result-row').first().waitFor();
    assert.ok(Math.abs((await graphHeight()) - before) < 2, 'restored to the height it had');
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  test('the Run form computes a circuit (and Cancel stops one); it becomes the project’s circuit', async () => {
    const before = await page.evaluate('Array.from(window.patchbench_app.circuit.eapIg).join()');
    await page.getByTestId('circuit-run-toggle').click();
    await page.getByTestId('circuit-run-form').waitFor();
    // filled from the project's circuit request
    assert.equal(await page.getByTestId('circuit-run-n').inputValue(), '50');
    assert.ok(await page.getByTestId('circuit-method-eap-ig').isChecked());
    assert.equal(await page.getByTestId('circuit-steps').inputValue(), '5');
    // a long job, cancelled: the circuit stays as it was
    await page.getByTestId('circuit-steps').fill('60');
    await page.getByTestId('circuit-run').click();
    await page.getByTestId('circuit-progress').waitFor();
    await page.getByTestId('circuit-cancel').click();
    await until('the job is cancelled', async () => /cancelled/.test((await page.getByTestId('notice').textContent().catch(() => '')) ?? ''), 60_000);
    assert.equal(await page.evaluate('Array.from(window.patchbench_app.circuit.eapIg).join()'), before);
    // EAP, top 30, no curve (the form stays open)
    await page.getByTestId('circuit-method-eap').check();
    assert.ok(await page.getByTestId('circuit-steps').isDisabled());
    await page.getByTestId('circuit-run-n').fill('30');
    await page.getByTestId('circuit-curve-on').uncheck();
    await page.getByTestId('circuit-run').click();
    await until('the circuit arrives', async () => (await page.evaluate('window.patchbench_app.circuit?.request?.n')) === 30, 120_000);
    const got = (await page.evaluate('({ eap: Array.from(window.patchbench_app.circuit.eap), ig: window.patchbench_app.circuit.eapIg ?? null, circuit: Array.from(window.patchbench_app.circuit.circuit), request: window.patchbench_app.circuit.request })')) as {
      eap: number[];
      ig: null;
      circuit: number[];
      request: Record<string, unknown>;
    };
    assert.deepEqual(got.request, { direction: 'denoising', metric: 'logit-diff', method: 'eap', steps: 60, extraction: 'top-n', n: 30, curve: false });
    assert.equal(got.ig, null);
    const want = topN(graph, rankEdges(Float32Array.from(got.eap)), 30);
    assert.deepEqual(got.circuit, Array.from(want), 'the job’s circuit is the top 30 by its EAP scores');
    await until('the view shows it at n = 30', async () => (await markedN()) === 30);
    assert.equal(await drawn(), countEdges(want));
    assert.match((await page.getByTestId('circuit-caption').textContent()) ?? '', /EAP, denoising, logit-diff; stored circuit: top 30 edges/);
    assert.equal(await page.getByTestId('circuit-score').count(), 0, 'EAP alone: no score picker');
    assert.match(await page.title(), /^• /, 'the new circuit is an unsaved change');
    await shot('circuit-after-run.png');
  });

  test('without a circuit the view says how to get one; a GPT-2-small-shaped file opens with the drawing capped', async () => {
    await page.getByRole('button', { name: 'New', exact: true }).click();
    await page.getByTestId('dialog-unsaved').waitFor(); // the circuit computed above
    await page.getByRole('button', { name: 'Don’t save' }).click();
    await page.getByTestId('tab-circuit').click();
    await page.getByTestId('circuit-empty').waitFor();
    assert.match((await page.getByTestId('circuit-empty').textContent()) ?? '', /patchbench circuit/);
    assert.ok(await page.getByTestId('circuit-run').isDisabled(), 'the new project’s empty pair cannot run');
    await setTheme('dark');
    await shot('circuit-empty-dark.png');
    await setTheme('light');

    // 32,491 edges with deterministic pseudo-random scores, stronger between a fifth of the nodes
    // (so that the top edges form paths from the input to the logits), as `patchbench circuit --out` writes them
    const shape: GraphShape = { nLayers: 12, nHeads: 12, nKvHeads: 12, parallelAttnMlp: false };
    const g = buildGraph(shape);
    assert.equal(g.src.length, 32491);
    const rng = mulberry32(13);
    const hot = Uint8Array.from({ length: g.sources.length + 1 }, (_, i) => (i === 0 || i === g.sources.length || rng() < 0.2 ? 1 : 0));
    const eap = Float32Array.from(g.src, (_, e) => (rng() - 0.5) * Math.exp(-3 * rng()) * (hot[g.src[e]] && hot[readerNode(g, g.dst[e])] ? 10 : 1));
    const eapIg = Float32Array.from(eap, (x) => x * (0.8 + 0.4 * rng()));
    const rank = rankEdges(eapIg);
    const circuit = topN(g, rank, 1000);
    assert.ok(countEdges(circuit) > 500 && countEdges(circuit) < DRAW_CAP, `${countEdges(circuit)} edges in the file's circuit`);
    const faithfulness = [5, 10, 20, 50, 100, 200, 500, 1000, 32491].flatMap((n) =>
      (['eap', 'eap_ig', 'random'] as const).map((ranking) => ({ n, ranking, faithfulness: ranking === 'random' ? 0 : Math.min(1, Math.log10(n) / 4.5) })),
    );
    const text = JSON.stringify(toCircuitJson({ graph: g, eap, eapIg, circuit, faithfulness }));
    const chooser = page.waitForEvent('filechooser');
    await page.getByTestId('open-circuit').click();
    await (await chooser).setFiles({ name: 'gpt2-small-circuit.json', mimeType: 'application/json', buffer: Buffer.from(text) });
    await page.getByTestId('circuit-graph').waitFor({ timeout: 60_000 });
    const nodes = await page.getByTestId('circuit-node').count();
    assert.equal(nodes, 1 + 12 * 13 + 1);
    // a file without a request opens at its circuit's size, ranked by EAP-IG
    assert.equal(await markedN(), countEdges(circuit));
    assert.equal(await drawn(), countEdges(topN(g, rank, countEdges(circuit))));
    assert.equal(await edgeCount(), '32,491 of 32,491');
    assert.match((await page.getByTestId('circuit-caption').textContent()) ?? '', /gpt2-small-circuit\.json/);

    // every edge: only the cap is drawn, and the page still answers
    const t0 = Date.now();
    await setN(32491);
    await until('all edges chosen', async () => (await markedN()) === 32491, 60_000);
    assert.equal(await drawn(), DRAW_CAP);
    assert.equal(await page.getByTestId('circuit-edge').count(), DRAW_CAP);
    const all = countEdges(topN(g, rank, 32491));
    assert.match((await page.getByTestId('circuit-stats').textContent()) ?? '', new RegExp(`${all.toLocaleString('en')}\\s*edges.*strongest ${DRAW_CAP.toLocaleString('en')} drawn`));
    console.log(`# diagnostic: n = 32,491 on GPT-2 small's graph drawn (${DRAW_CAP} edges) in ${Date.now() - t0} ms (shared machine; not asserted)`);
    const t1 = Date.now();
    await page.getByTestId('edge-sort-src').click();
    assert.equal((await firstRowCells())[1], 'input');
    await page.getByTestId('edge-filter').fill('a11.h11');
    await until('the filter applies', async () => (await edgeCount()) !== '32,491 of 32,491');
    console.log(`# diagnostic: sorting and filtering 32,491 edges took ${Date.now() - t1} ms`);
    await page.getByTestId('theme-toggle').click(); // still responsive
    await page.getByTestId('theme-toggle').click();
    await shot('circuit-gpt2-small-all-edges.png');
    assert.deepEqual(pageErrors, []);
  });
});
