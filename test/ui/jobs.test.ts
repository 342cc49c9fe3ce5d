// One job per intent, and the Jobs list, in the real renderer through the browser host: a double
// click on Run is one job; a circuit job started from the page's state becomes the project's
// circuit and is saved with it; two windows (browser contexts) see each other's jobs in their Jobs
// lists, and one cancels the other's. Screenshots (light and dark) go to test-artifacts/jobs-*.png.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { JobInfo } from '../../shared/contract.ts';
import { noChromium, openPage, SHOTS, until } from './support/chromium.ts';
import { ensureRendererBuilt, startWebHost, type RunningHost } from './support/web-host.ts';

let host: RunningHost;
let browser: Browser | undefined;
let first: Page;
let other: BrowserContext | undefined;
let second: Page;
let pageErrors: string[] = [];
const work = mkdtempSync(join(tmpdir(), 'patchbench-jobs-ui-'));

before(async () => {
  ensureRendererBuilt();
  host = await startWebHost({ home: join(work, 'home') });
  if (noChromium) return;
  ({ browser, page: first, pageErrors } = await openPage());
  await first.setViewportSize({ width: 1280, height: 720 });
  // A second window: its own browser context, so its own page state and storage.
  other = await browser!.newContext({ viewport: { width: 1280, height: 720 } });
  second = await other.newPage();
  second.on('pageerror', (e) => pageErrors.push(e.message));
});

after(async () => {
  await other?.close();
  await browser?.close();
  await host?.stop();
});

/** Reads the page's state (a string: the page's CSP refuses functions passed to evaluate). */
const state = <T>(page: Page, expr: string) => page.evaluate(`(async () => { const app = window.patchbench_app; return ${expr}; })()`) as Promise<T>;
const activeJobs = async (page: Page) => (await state<JobInfo[]>(page, "app.call('job:list', undefined)")).filter((j) => j.state === 'queued' || j.state === 'running');
const ready = async (page: Page) => {
  await page.goto(host.url);
  await page.locator('[data-testid="run"]:not([disabled])').waitFor({ timeout: 60_000 });
};
/** A job long enough to watch: both methods, every kind, on many pairs. */
const bigJob = async (page: Page) => {
  await state(page, "app.generate('induction', 1000, 3)");
  await page.locator('[data-testid="run"]:not([disabled])').waitFor({ timeout: 60_000 });
  await page.getByLabel('both').check();
  for (const k of ['head_z_pos', 'neuron', 'resid_mid', 'head_pattern']) await page.getByRole('checkbox', { name: k, exact: true }).check();
};
const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, name) });
const theme = async (page: Page, t: 'light' | 'dark') => state(page, `app.setTheme('${t}')`);

describe('one job per intent, and the Jobs list', { skip: noChromium }, () => {
  test('a double click on Run starts one job, and Run stays disabled until it ends', async () => {
    await ready(first);
    await bigJob(first);
    await first.getByTestId('run').dblclick();
    await first.getByTestId('job-phase').waitFor();
    assert.equal(await first.getByTestId('run-error').count(), 0, 'the second click did not try a second start');
    assert.equal(await first.getByTestId('run').count(), 0, 'no Run button while the job is queued or running');
    const jobs = await activeJobs(first);
    assert.equal(jobs.length, 1, JSON.stringify(jobs));
    assert.equal(await state(first, 'app.runBlocker'), jobs[0].state === 'queued' ? 'A job is queued.' : 'A job is running.');
    // A second start from the state is refused by the page itself, not by the host.
    await state(first, 'app.run()');
    assert.equal((await activeJobs(first)).length, 1);
    assert.equal(await first.getByTestId('run-error').count(), 0);
    await first.getByTestId('cancel').click();
    await first.getByText('The run was cancelled.').waitFor({ timeout: 20_000 });
    await first.locator('[data-testid="run"]:not([disabled])').waitFor();
  });

  test('startCircuit runs a circuit job; its circuit makes the project unsaved, and Save stores it', async () => {
    await state(first, "app.generate('ioi', 8, 1)");
    await first.locator('[data-testid="run"]:not([disabled])').waitFor({ timeout: 60_000 });
    await first.getByLabel('attribution', { exact: true }).check();
    const request = { direction: 'denoising', metric: 'logit-diff', method: 'eap-ig', steps: 2, extraction: 'top-n', n: 20, curve: true };
    // Two calls at once (a double click on the Circuit tab's Run) are one job.
    await state(first, `Promise.all([app.startCircuit(${JSON.stringify(request)}), app.startCircuit(${JSON.stringify(request)})])`);
    assert.equal((await activeJobs(first)).length, 1);
    assert.equal(await first.getByTestId('run').count(), 0, 'patching cannot start while the circuit job runs');
    await until('the circuit arrives', async () => (await state<boolean>(first, 'app.circuit !== null')) || (await state<string | null>(first, 'app.circuitError')) !== null, 60_000);
    assert.equal(await state(first, 'app.circuitError'), null);
    const c = await state<{ edges: number; request: unknown; backend: string; inCircuit: number }>(
      first,
      '({ edges: app.circuit.eap.length, request: app.circuit.request, backend: app.circuit.provenance.backend, inCircuit: [...app.circuit.circuit].filter((x) => x === 1).length })',
    );
    // 2 layers × 4 heads: 12 + 5 + 12·6 + 10 + 11 edges.
    assert.deepEqual(c.request, request);
    assert.equal(c.edges, 110);
    assert.ok(c.inCircuit > 0 && c.inCircuit <= 20);
    assert.match(c.backend, /^(wasm|cpu|tensorflow|webgpu)/);
    await until('the title marks unsaved changes', async () => (await first.title()).startsWith('• '));
    assert.equal(await state(first, 'app.circuitNotSaved'), null);

    const file = join(work, 'projects', 'circuit.patchbench');
    await first.getByTestId('save-project').click(); // untitled: Save asks where
    await first.getByTestId('dialog-saveAs').waitFor();
    await first.locator('#save-path').fill(file);
    await first.locator('#save-path').press('Enter');
    await first.getByTestId('dialog-saveAs').waitFor({ state: 'detached' });
    assert.ok(!(await first.title()).startsWith('• '));
    const before = await state<number[]>(first, 'Array.from(app.circuit.eapIg)');
    await state(first, 'app.setCircuit(null)');
    assert.ok((await first.title()).startsWith('• '));
    assert.equal(await state(first, `app.openPath(${JSON.stringify(file)})`), true);
    assert.deepEqual(await state(first, 'app.circuit.request'), request);
    assert.deepEqual(await state<number[]>(first, 'Array.from(app.circuit.eapIg)'), before);
    assert.ok(!(await first.title()).startsWith('• '), 'the reopened project has no unsaved changes');
  });

  test('two windows: each Jobs list shows both jobs, and one window cancels the other’s job', async () => {
    await ready(second);
    await bigJob(first);
    await first.getByTestId('run').click();
    await first.getByTestId('job-phase').waitFor();
    // The second window runs something else (the same request would be refused): attribution only.
    await second.getByLabel('attribution', { exact: true }).check();
    await second.getByTestId('run').click();
    await second.getByTestId('job-phase').waitFor();
    for (const page of [first, second]) {
      await page.getByTestId('jobs-button').click();
      await page.getByTestId('job-list').waitFor();
      await until('both jobs are listed', async () => (await page.locator('[data-testid="job-row"][data-state="running"], [data-testid="job-row"][data-state="queued"]').count()) === 2);
    }
    const rows = second.locator('[data-testid="job-row"]');
    assert.match((await rows.nth(0).textContent()) ?? '', /attribution \+ activation · \d+ kinds · 1,000 pairs/);
    assert.match((await rows.nth(1).textContent()) ?? '', /^attribution · \d+ kinds · 8 pairs\s*this window/);
    assert.match(await second.getByTestId('jobs-count').textContent() ?? '', /1 running, 1 queued/);
    for (const t of ['light', 'dark'] as const) {
      await theme(second, t);
      await shot(second, `jobs-list-active-${t}.png`);
    }
    // Layout: the list stays inside the window.
    const box = await second.getByTestId('job-list').boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 1280, JSON.stringify(box));
    assert.ok(await state<boolean>(second, 'document.documentElement.scrollWidth <= innerWidth'));

    // Cancel the first window's job from the second window's list.
    await rows.nth(0).getByTestId('job-cancel').click();
    await first.getByText('The run was cancelled.').waitFor({ timeout: 20_000 });
    await first.locator('[data-testid="run"]:not([disabled])').waitFor();
    // The second window's job ran next, and finished.
    await second.locator('[data-testid="run"]:not([disabled])').waitFor({ timeout: 60_000 });
    assert.equal(await second.getByTestId('run-error').count(), 0);
    await until('both lists show how the jobs ended', async () => {
      for (const page of [first, second]) {
        const rows = page.locator('[data-testid="job-row"]');
        if ((await rows.count()) < 2) return false;
        const states = [await rows.nth(0).getAttribute('data-state'), await rows.nth(1).getAttribute('data-state')];
        if (states.join() !== 'succeeded,cancelled') return false;
      }
      return true;
    });
    for (const t of ['light', 'dark'] as const) {
      await theme(first, t);
      await shot(first, `jobs-list-finished-${t}.png`);
    }
    await first.keyboard.press('Escape');
    await first.getByTestId('job-list').waitFor({ state: 'detached' });
    await theme(first, 'light');
    assert.deepEqual(pageErrors, []);
  });
});
