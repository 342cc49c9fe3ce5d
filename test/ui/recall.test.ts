// End to end: AtP* in the app. Run with the QK fix and GradDrop, then the Recall view, the scatter's
// QK facets and the ranking table's score column, in both themes. Screenshots go to test-artifacts/.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PatchingResult } from '../../shared/contract.ts';
import { noChromium } from './support/chromium.ts';
import { browserSession } from './support/session.ts';

const session = browserSession({ ready: (s) => void ({ host, page, pageErrors } = s) });
const { shot, setTheme } = session;
let { host, page, pageErrors } = session;

/** The app's current result, typed arrays as plain arrays. */
const appResult = async () =>
  (await page.evaluate('JSON.parse(JSON.stringify(window.patchbench_app.result, (k, v) => (v instanceof Float32Array ? Array.from(v) : v)))')) as PatchingResult & {
    kinds: { scores: Record<string, number[]> }[];
  };

describe('AtP* in the workbench', { skip: noChromium }, () => {
  test('the Recall view shows, per kind, the verifications each ranking needs', async () => {
    await page.goto(host.url);
    await page.getByTestId('model-info').getByText('gpt2-tiny-random').waitFor();
    await page.locator('[data-testid="run"]:not([disabled])').waitFor();
    // Before a run with exhaustive activation patching the view says what it needs.
    await page.getByTestId('tab-recall').click();
    await page.getByTestId('recall-view').getByText('Run a job').waitFor();
    for (const k of ['head_q', 'head_k']) await page.getByRole('checkbox', { name: k, exact: true }).check();
    await page.getByLabel('both').check();
    await page.getByTestId('qk-fix').check();
    await page.getByTestId('graddrop').check();
    await page.getByTestId('recall-k').fill('3');
    await setTheme('light');
    await shot('atp-01-run-options-light.png');
    await page.getByTestId('run').click();
    await page.getByTestId('last-run').waitFor({ timeout: 120_000 });
    await page.getByTestId('tab-recall').click();
    await page.getByTestId('recall-chart').locator('canvas').first().waitFor();
    const result = await appResult();
    const rows = page.getByTestId('recall-table').locator('tbody tr');
    assert.equal(await rows.count(), result.kinds.length, 'a row per kind');
    assert.deepEqual(await page.getByTestId('recall-table').locator('thead th').allTextContents(), ['kind', 'AtP', 'AtP + QK fix', 'AtP + GradDrop', 'AtP*']);
    for (const [i, k] of result.kinds.entries()) {
      const cells = await rows.nth(i).locator('td').allTextContents();
      const want = (['atp', 'atp_qk', 'graddrop', 'atp_star'] as const).map((n) => `${k.recall![n]!.verifications_to_all} / ${k.recall![n]!.curve.length}`);
      assert.deepEqual(cells, want, `${k.kind}: the table shows the engine's verifications`);
      assert.equal(k.recall!.atp!.k, 3);
    }
    assert.match((await page.getByTestId('recall-chart').getAttribute('aria-label')) ?? (await page.getByTestId('recall-chart').textContent()) ?? '', /recall/i);
    await shot('atp-02-recall-light.png');
    // Another kind from the table.
    await rows.filter({ hasText: 'head_k' }).click();
    assert.equal(await page.getByLabel('Recall kind').inputValue(), 'head_k');
    await setTheme('dark');
    await shot('atp-03-recall-dark.png');
  });

  test('the scatter shows the plain and the QK-fixed estimate with r for each', async () => {
    await page.getByTestId('tab-scatter').click();
    await page.getByTestId('scatter-qk').waitFor();
    const stats = await page.getByTestId('scatter-stats').locator('li[data-kind="head_k"]').textContent();
    assert.match(stats ?? '', /Pearson .*; with the QK fix: .*Pearson/);
    await shot('atp-04-scatter-qk-dark.png');
    await setTheme('light');
    await shot('atp-05-scatter-qk-light.png');
  });

  test('the ranking table sorts by any score', async () => {
    const column = page.getByTestId('score-column');
    assert.deepEqual(await column.locator('option').allTextContents(), ['QK-fixed', 'AtP', 'AtP+QK', 'GradDrop', 'AtP*']);
    await column.selectOption('score_graddrop');
    const result = await appResult();
    // the top row is the component with the largest GradDrop score of all kinds
    let best = { v: -1, kind: '', i: -1 };
    for (const k of result.kinds) k.scores.graddrop!.forEach((v, i) => v > best.v && (best = { v, kind: k.kind, i }));
    const first = page.getByTestId('result-row').first();
    assert.equal(await first.locator('.c-kind').textContent(), best.kind);
    assert.equal(Number(await first.locator('.c-score').textContent()), Number(best.v.toFixed(4)));
    await shot('atp-06-table-score-light.png');
    await setTheme('dark');
    await shot('atp-07-table-score-dark.png');
    assert.deepEqual(pageErrors, []);
  });
});
