// The real desktop app (run by `npm run test:electron`, not by `npm test`): Electron opens on the
// demo model, runs a short job, fits a 1280×720 window, saves the project through its (stubbed)
// native dialog, opens it again in a new app process, and shows the same results, which are those
// `patchbench run` computes from the saved file. Screenshots go to test-artifacts/electron-*.png.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { _electron, type ElectronApplication, type Page } from 'playwright-core';
import { electronBinary } from '../../main/app/launch.ts';
import { MIN_WINDOW, TABLE_MIN_ROWS } from '../../shared/window-size.ts';
import { ROOT, runCli } from '../helpers.ts';
import { SHOTS, until } from '../ui/support/chromium.ts';
import { electronSkipReason } from './support.ts';

const skip = electronSkipReason();

let work: string;
let app: ElectronApplication | undefined;
let page: Page;
let pageErrors: string[] = [];

async function launch(args: string[] = []): Promise<void> {
  app = await _electron.launch({
    executablePath: electronBinary()!,
    // Chromium refuses to run as root with its sandbox (containers and CI often are root).
    args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), ROOT, ...args],
    cwd: ROOT,
    timeout: 60_000,
    env: {
      ...process.env,
      PATCHBENCH_HOME: join(work, 'home'),
      // No examples: the first start opens an untitled project on the demo model.
      PATCHBENCH_EXAMPLES: join(work, 'no-examples'),
      PATCHBENCH_PROJECTS: join(work, 'projects'),
      HF_HUB_CACHE: join(work, 'hf-empty'),
    },
  });
  page = await app.firstWindow();
  pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(m.text());
  });
}

/** Quits the app (with no unsaved changes, else the window would ask first). */
async function quit(): Promise<void> {
  const a = app;
  app = undefined;
  await a?.close();
}

/** After a failure there may be unsaved changes and no one to answer the question: the windows go without asking. */
async function forceQuit(): Promise<void> {
  const a = app;
  app = undefined;
  await a?.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows().forEach((w) => w.destroy())).catch(() => undefined);
  await a?.close().catch(() => undefined);
}

/** Every value of the result shown, as text (NaN and -0 survive). */
const digest = () =>
  page.evaluate(`(() => {
    const r = window.patchbench_app.result;
    return r && JSON.stringify({ d: r.direction, m: r.metric, n: r.pairCount, k: r.kinds.map((k) => ({ kind: k.kind, shape: k.shape, a: Array.from(k.attribution ?? [], String), x: Array.from(k.activation ?? [], String) })) });
  })()`) as Promise<string | null>;
const text = async (id: string) => (await page.getByTestId(id).textContent()) ?? '';

describe('the desktop app, in Electron', { skip }, () => {
  let saved = '';
  let shown: string | null = null;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'patchbench-electron-'));
    mkdirSync(SHOTS, { recursive: true });
    const { buildAll } = await import('../../main/app/build.ts'); // Vite and esbuild: loaded only when the test runs
    await buildAll();
    await launch();
  });
  after(forceQuit);

  test('opens on the bundled demo model, in a window no smaller than the layout is tested at', async () => {
    await page.getByTestId('model-info').getByText('demo').first().waitFor({ timeout: 60_000 });
    assert.match(await text('backend'), /wasm|cpu|tensorflow/);
    const [w, h] = (await app!.evaluate(({ BrowserWindow }) => {
      const win = BrowserWindow.getAllWindows()[0];
      win.setContentSize(640, 400);
      return win.getContentSize();
    })) as [number, number];
    assert.ok(w >= MIN_WINDOW.width && h >= MIN_WINDOW.height, `the window shrank to ${w}×${h}`);
  });

  test('runs a short job: attribution patching of the default kinds', async () => {
    await page.getByLabel('attribution', { exact: true }).check();
    await page.locator('[data-testid="run"]:not([disabled])').click();
    await page.getByTestId('result-row').first().waitFor({ timeout: 120_000 });
    shown = await digest();
    assert.ok(shown);
    await page.screenshot({ path: join(SHOTS, 'electron-01-run.png') });
  });

  test(`at 1280×720, no tab scrolls the window sideways and the table shows ${TABLE_MIN_ROWS} rows`, async () => {
    await app!.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows()[0].setContentSize(1280, 720));
    await until('the page is 1280 px wide', async () => (await page.evaluate('innerWidth')) === 1280);
    for (const tab of await page.getByRole('tab').evaluateAll((els) => els.map((e) => e.getAttribute('data-testid')!))) {
      await page.getByTestId(tab).click();
      await page.waitForTimeout(150);
      const m = (await page.evaluate(`(() => {
        const box = document.querySelector('[data-testid="rows"]').getBoundingClientRect();
        const rows = [...document.querySelectorAll('[data-testid="result-row"]')].filter((r) => { const b = r.getBoundingClientRect(); return b.top >= box.top - 0.5 && b.bottom <= box.bottom + 0.5; });
        return { scrollWidth: document.documentElement.scrollWidth, innerWidth, rows: rows.length };
      })()`)) as { scrollWidth: number; innerWidth: number; rows: number };
      assert.ok(m.scrollWidth <= m.innerWidth && m.rows >= TABLE_MIN_ROWS, `${tab}: ${JSON.stringify(m)}`);
    }
  });

  test('saves the project through the native Save dialog', async () => {
    saved = join(work, 'projects', 'electron-run.patchbench');
    // The native dialog cannot be clicked: the main process's dialog answers with the path.
    await app!.evaluate(({ dialog }, filePath) => {
      dialog.showSaveDialog = (async () => ({ canceled: false, filePath })) as typeof dialog.showSaveDialog;
    }, saved);
    await page.getByTestId('save-project').click();
    await until('the project is saved', async () => existsSync(saved) && /electron-run/.test(await text('project-name')));
    assert.equal(readFileSync(saved).subarray(0, 11).toString('latin1'), 'PATCHBENCH\0');
    assert.doesNotMatch(await page.title(), /•/, 'no unsaved changes are left');
  });

  test('a new app process opens the saved project with the same results', async () => {
    assert.doesNotMatch(await page.title(), /•/);
    await quit();
    await launch([saved]);
    await page.getByTestId('result-row').first().waitFor({ timeout: 60_000 });
    assert.match(await text('project-name'), /electron-run/);
    assert.equal(await digest(), shown, 'every value as it was before saving');
    await page.screenshot({ path: join(SHOTS, 'electron-02-reopened.png') });
  });

  test('the results are what `patchbench run` computes from the saved project', () => {
    const out = join(work, 'rerun.json');
    const r = runCli(['run', saved, '--out', out]);
    assert.equal(r.code, 0, r.err);
    // The report lists every component in flat (row-major) order, with its [layer, …] coordinates.
    const cli = JSON.parse(readFileSync(out, 'utf8')) as { kinds: Record<string, { index: number[]; attribution?: number }[]> };
    const inApp = JSON.parse(shown!) as { k: { kind: string; a: string[] }[] };
    for (const k of inApp.k) {
      const rows = cli.kinds[k.kind];
      assert.equal(rows?.length, k.a.length, `patchbench run computed every ${k.kind} component`);
      rows.forEach((row, i) => {
        const got = Number(k.a[i]);
        assert.ok(row.attribution !== undefined && Math.abs(got - row.attribution) <= 1e-4 + 1e-3 * Math.abs(row.attribution), `${k.kind} [${row.index}]: app ${got}, CLI ${row.attribution}`);
      });
    }
  });

  test('the page logged no errors', () => {
    assert.deepEqual(pageErrors, []);
  });
});
