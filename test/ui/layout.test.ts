// The layout on real screen sizes, with results of every kind loaded: on every tab (read from the
// page, so that new views are held to it too) and in both themes, the page never scrolls sideways,
// no chart is squashed below 200 px (its view scrolls instead), and from a 1280×720 laptop screen
// up the ranking table shows at least 8 whole rows.
// Screenshots at 1280×720 go to test-artifacts/ (look at them).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { KIND_NAMES } from '../../shared/contract.ts';
import { MIN_WINDOW, SCREEN_SIZES, TABLE_MIN_ROWS } from '../../shared/window-size.ts';
import { noChromium, SHOTS } from './support/chromium.ts';
import { makeExampleProject } from './support/example-project.ts';
import { browserSession } from './support/session.ts';
import { FIXTURE_MODEL } from './support/web-host.ts';

const session = browserSession({
  ready: (s) => void ({ host, page, pageErrors } = s),
  setUp: async () => {
    const work = mkdtempSync(join(tmpdir(), 'patchbench-layout-'));
    const examples = join(work, 'examples');
    mkdirSync(examples);
    // Every kind, so that the scatter has as many facets and the table as many rows as it can get,
    // and a circuit, so that the Circuit view is measured with its graph, curve and edge table.
    await makeExampleProject({ modelDir: FIXTURE_MODEL, file: join(examples, 'every-kind.patchbench'), kinds: [...KIND_NAMES], circuit: true });
    return { home: join(work, 'home'), examples };
  },
});
const { setTheme } = session;
let { host, page, pageErrors } = session;

interface Measure {
  scrollWidth: number;
  scrollHeight: number;
  innerWidth: number;
  innerHeight: number;
  /** ranking rows wholly inside both the rows box and the window */
  visibleRows: number;
  /** the height of the view's shortest chart (Infinity: none) */
  lowestChart: number;
}

/** What the issue measures (a string: the page's CSP refuses functions passed to evaluate). */
const measure = () =>
  page.evaluate(`(() => {
    const box = document.querySelector('[data-testid="rows"]')?.getBoundingClientRect();
    const rows = box ? [...document.querySelectorAll('[data-testid="result-row"]')].filter((r) => {
      const b = r.getBoundingClientRect();
      return b.height > 0 && b.top >= box.top - 0.5 && b.bottom <= box.bottom + 0.5 && b.bottom <= innerHeight;
    }) : [];
    const d = document.documentElement;
    const charts = [...document.querySelectorAll('[role="tabpanel"] [data-chart]')].map((c) => c.getBoundingClientRect().height);
    return { scrollWidth: d.scrollWidth, scrollHeight: d.scrollHeight, innerWidth, innerHeight, visibleRows: rows.length, lowestChart: Math.min(...charts) };
  })()`) as Promise<Measure>;


describe('the layout on laptop and desktop screens', { skip: noChromium }, () => {
  test('opens the example with every kind', async () => {
    await page.setViewportSize({ width: 1280, height: 720 });
    await page.goto(host.url);
    await page.getByTestId('result-row').first().waitFor({ timeout: 30_000 });
    await page.getByTestId('scatter-chart').waitFor();
  });

  test(`no sideways scrolling on any tab in either theme, from ${MIN_WINDOW.width}×${MIN_WINDOW.height} to full HD; ≥ ${TABLE_MIN_ROWS} table rows from 1280×720 up`, async () => {
    const tabs = await page.getByRole('tab').evaluateAll((els) => els.map((e) => e.getAttribute('data-testid')!));
    assert.ok(tabs.length >= 3, `tabs found: ${tabs.join(', ')}`);
    const problems: string[] = [];
    for (const size of [MIN_WINDOW, ...SCREEN_SIZES]) {
      await page.setViewportSize(size);
      for (const theme of ['light', 'dark'] as const) {
        await setTheme(theme);
        for (const tab of tabs) {
          await page.getByTestId(tab).click();
          await page.waitForTimeout(150); // the charts lay out again after a resize
          const m = await measure();
          const at = `${size.width}×${size.height} ${theme} ${tab}`;
          if (m.scrollWidth > m.innerWidth) problems.push(`${at}: the page is ${m.scrollWidth} px wide in a ${m.innerWidth} px window`);
          if (m.scrollHeight > m.innerHeight) problems.push(`${at}: the page is ${m.scrollHeight} px high in a ${m.innerHeight} px window`);
          if (size !== MIN_WINDOW && m.visibleRows < TABLE_MIN_ROWS) problems.push(`${at}: ${m.visibleRows} table rows visible`);
          if (m.lowestChart < 200) problems.push(`${at}: a chart squashed to ${m.lowestChart} px high`);
          if (size.width === 1280 && size.height === 720) await page.screenshot({ path: join(SHOTS, `layout-1280x720-${theme}-${tab.replace(/^tab-/, '')}.png`) });
        }
      }
    }
    assert.deepEqual(problems, []);
  });

  test('the scatter facets reflow: never wider than their box, taller ones scroll inside the view', async () => {
    await page.setViewportSize({ width: 1280, height: 720 });
    await page.getByTestId('tab-scatter').click();
    await page.waitForTimeout(150);
    const box = await page.getByTestId('scatter-box').evaluate((e) => ({ client: e.clientWidth, scroll: e.scrollWidth, h: e.clientHeight, sh: e.scrollHeight }));
    assert.ok(box.scroll <= box.client, `facets ${box.scroll} px wide in a ${box.client} px box`);
    assert.ok(box.sh > box.h, `12 facets at 1280×720 scroll inside the view (${box.sh} px in ${box.h})`);
    await page.setViewportSize({ width: 1920, height: 1080 });
    await page.waitForTimeout(150);
    const big = await page.getByTestId('scatter-box').evaluate((e) => ({ client: e.clientWidth, scroll: e.scrollWidth }));
    assert.ok(big.scroll <= big.client);
  });

  test('the table summary is one line; opened, it lists every kind’s agreement, and the rows keep their room', async () => {
    await page.setViewportSize({ width: 1280, height: 720 });
    const summary = page.getByTestId('summary');
    const closed = (await summary.boundingBox())!.height;
    assert.ok(closed <= 20, `one line, ${closed} px`);
    assert.match((await summary.locator('summary').textContent()) ?? '', /Agreement per kind: resid_pre r = -?\d\.\d{3} · /);
    await summary.locator('summary').click();
    const kinds = await summary.locator('.kstat').count();
    assert.equal(kinds, KIND_NAMES.length, 'every kind was activation-patched');
    assert.ok((await summary.locator('.kstats').isVisible()) && (await summary.boundingBox())!.height > closed);
    assert.ok((await measure()).visibleRows >= TABLE_MIN_ROWS);
    await page.screenshot({ path: join(SHOTS, 'layout-1280x720-summary-open.png') });
    await summary.locator('summary').click();
  });

  test('hiding the model and run panel gives the views its width, and the choice is remembered', async () => {
    await page.setViewportSize({ width: 1280, height: 720 });
    await page.getByTestId('tab-scatter').click();
    const before = (await page.getByTestId('scatter-chart').boundingBox())!.width;
    const toggle = page.getByTestId('side-panel-toggle');
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
    await toggle.click();
    assert.equal(await page.locator('#side-panel').isVisible(), false);
    await page.waitForTimeout(150);
    const wider = (await page.getByTestId('scatter-chart').boundingBox())!.width;
    assert.ok(wider >= before + 300, `the scatter grew from ${before} to ${wider} px`);
    const m = await measure();
    assert.ok(m.scrollWidth <= m.innerWidth && m.visibleRows >= TABLE_MIN_ROWS, JSON.stringify(m));
    await page.screenshot({ path: join(SHOTS, 'layout-1280x720-panel-hidden.png') });
    await page.reload();
    await page.getByTestId('engine-status').waitFor();
    assert.equal(await page.getByTestId('side-panel-toggle').getAttribute('aria-expanded'), 'false', 'remembered after a reload');
    await page.getByTestId('side-panel-toggle').click();
    assert.equal(await page.locator('#side-panel').isVisible(), true);
  });

  test('no page errors', () => {
    assert.deepEqual(pageErrors, []);
  });
});
