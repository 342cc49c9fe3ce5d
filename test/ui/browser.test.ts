// End to end: the real renderer and the real engine, through the browser host, in Debian's Chromium.
// Screenshots go to test-artifacts/ (look at them: they are the test of how the UI looks).
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { noChromium, until } from './support/chromium.ts';
import WebSocket from 'ws';
import { browserSession } from './support/session.ts';

const session = browserSession({ ready: (s) => void ({ host, page, pageErrors } = s) });
const { shot, text } = session;
let { host, page, pageErrors } = session;

const runEnabled = () => page.locator('[data-testid="run"]:not([disabled])').waitFor();

describe('the workbench in a browser', { skip: noChromium }, () => {
  test('starts on the default model with sample pairs and their baseline', async () => {
    await page.goto(host.url);
    await page.getByTestId('model-info').getByText('gpt2-tiny-random').waitFor();
    assert.match(await text('model-info'), /Layers × heads\s*2 × 4/);
    assert.match(await text('backend'), /^(wasm( \+ native AVX2 matmul)?|cpu|tensorflow|tensorflow-gpu|webgpu \(.+\))$/);
    await page.getByTestId('baseline').locator('b').first().waitFor();
    assert.match(await text('baseline'), /clean -?\d+\.\d{4}\s+corrupted -?\d+\.\d{4}/);
    assert.equal(await page.locator('ol.list li').count(), 8);
    await page.locator('[data-testid="tokens-clean"] .chip.diff').first().waitFor();
    await shot('01-start.png');
  });

  test('editing a pair shows the token diff and blocks runs while lengths differ', async () => {
    const corrupted = page.locator('#corrupted-text');
    const original = await corrupted.inputValue();
    await corrupted.fill(`${original} and then some`);
    await page.getByTestId('length-warning').waitFor();
    assert.match(await text('length-warning'), /Lengths differ: \d+ clean tokens vs \d+ corrupted/);
    assert.ok((await page.locator('[data-testid="tokens-corrupted"] .chip.missing, [data-testid="tokens-clean"] .chip.missing').count()) > 0);
    assert.equal(await page.getByTestId('run').isDisabled(), true);
    assert.ok((await page.locator('.chip', { hasText: '␣then' }).count()) > 0, 'whitespace is visible as ␣');
    await shot('02-length-warning.png');
    await corrupted.fill(original);
    await page.getByTestId('length-warning').waitFor({ state: 'detached' });
    await runEnabled();
  });

  test('attribution with verification fills the ranking table, sorted by |attribution|', async () => {
    await page.getByLabel('attribution, verify top').check();
    await page.getByTestId('run').click();
    await page.getByTestId('result-row').first().waitFor({ timeout: 60_000 });
    assert.match(await text('summary'), /top-20 verified, r = /);
    const count = await text('row-count');
    const [shown, total] = count.match(/[\d,]+/g)!.map((x) => Number(x.replace(/,/g, '')));
    assert.equal(shown, total);
    const rendered = await page.getByTestId('result-row').count();
    assert.ok(rendered < total, `only visible rows are rendered (${rendered} of ${total})`);
    const attr = await page.locator('[data-testid="result-row"] .c-attribution').allTextContents();
    const values = attr.slice(0, 15).map(Number);
    for (let i = 1; i < values.length; i++) assert.ok(Math.abs(values[i - 1]) >= Math.abs(values[i]), `row ${i} sorted by |attribution|: ${values.join(', ')}`);
    assert.match(await text('last-run'), /Last run: [\d.]+ s on (wasm|cpu|tensorflow|webgpu \()/);
    // The run shows its scatter plots: the verified top 20 of each kind against their attribution.
    await page.getByTestId('scatter-chart').waitFor();
    assert.match(await page.getByTestId('scatter-stats').textContent() ?? '', /head_z: verified top 20 · n \d+ · Pearson/);
    await page.waitForTimeout(200);
    await shot('03-results.png');
    // Filtering by kind and searching narrow the table.
    await page.getByLabel('Filter by kind').selectOption('head_z');
    assert.match(await text('row-count'), /^8 of /);
    await page.getByLabel('Search components').fill('L1H');
    assert.match(await text('row-count'), /^4 of /);
    await page.getByLabel('Filter by kind').selectOption('');
    await page.getByLabel('Search components').fill('');
  });

  test('a long run can be cancelled, leaving the app idle with no job', async () => {
    await page.getByTestId('tab-pairs').click(); // a finished run shows its scatter plots
    await page.getByRole('button', { name: 'Generate…' }).click();
    await page.getByLabel('Task').selectOption('induction');
    await page.getByLabel('Number of pairs to generate').fill('200');
    await page.getByRole('button', { name: 'Replace pairs' }).click();
    await page.locator('ol.list li').nth(199).waitFor();
    await page.getByTestId('stale').waitFor(); // the table still shows the IOI run, and says so
    await runEnabled();
    await page.getByLabel('both').check();
    for (const k of ['head_z_pos', 'neuron', 'resid_mid']) await page.getByRole('checkbox', { name: k }).check();
    await page.getByTestId('run').click();
    await page.getByTestId('job-phase').getByText('activation patching').waitFor({ timeout: 60_000 });
    await shot('04-running.png');
    await page.getByTestId('cancel').click();
    await page.getByTestId('run').waitFor({ timeout: 10_000 });
    await page.getByText('The run was cancelled.').waitFor();
    // Asks the host itself, through the page's own transport.
    const jobs = (await page.evaluate("window.patchbench_app.call('job:list', undefined)")) as { state: string }[];
    assert.deepEqual(jobs.filter((j) => j.state === 'queued' || j.state === 'running'), [], 'no job is left running');
    assert.equal(jobs.at(-1)?.state, 'cancelled', 'the job list keeps how it ended');
    await shot('05-cancelled.png');
  });

  test('a new pair gets its answers from the model’s top next tokens', async () => {
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    assert.equal(await page.locator('ol.list li').count(), 201);
    await until('both answers are filled in', async () => (await page.locator('#answer').inputValue()) !== '' && (await page.locator('#wrong').inputValue()) !== '');
    const answer = await page.locator('#answer').inputValue();
    const firstChoice = await page.locator('.choices').first().locator('button.choice').first().textContent();
    assert.ok(firstChoice?.startsWith(answer.replace(/ /g, '␣')), `${JSON.stringify(answer)} is the top choice ${firstChoice}`);
    assert.notEqual(await page.locator('#wrong').inputValue(), answer);
  });

  test('a broken model folder is reported next to the folder field, in words', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'patchbench-broken-model-'));
    writeFileSync(join(dir, 'config.json'), '{"model_type": "gpt2", "n_layer": ');
    await page.locator('#model-folder').fill(dir);
    await page.getByRole('button', { name: 'Open', exact: true }).click();
    await page.getByTestId('model-error').waitFor();
    const msg = await text('model-error');
    assert.ok(msg.includes(dir), msg);
    assert.match(msg, /config\.json/);
    assert.doesNotMatch(msg, /at \w+ \(|\.ts:\d+/, 'no stack trace');
    assert.match(await text('model-info'), /gpt2-tiny-random/, 'the loaded model stays');
    await shot('06-broken-model.png');
  });

  test('the page logged no errors (no CSP violations, no exceptions)', () => {
    assert.deepEqual(pageErrors, []);
  });
});

describe('the browser host refuses requests without its token', () => {
  const get = (path: string, headers: Record<string, string> = {}) =>
    new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: host.port, path, headers }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
  const ws = (path: string, origin?: string) =>
    new Promise<string>((resolve) => {
      const sock = new WebSocket(`ws://127.0.0.1:${host.port}${path}`, origin ? { origin } : {});
      sock.on('open', () => {
        sock.close();
        resolve('open');
      });
      sock.on('unexpected-response', (_req, res) => resolve(`refused ${res.statusCode}`));
      sock.on('error', (e) => resolve(`error ${e.message}`));
    });

  test('HTTP without the right token, or for another host name, gets 403', async () => {
    assert.equal(await get(`/${host.token}/`), 200);
    assert.equal(await get('/'), 403);
    assert.equal(await get('/index.html'), 403);
    const other = host.token.endsWith('x') ? 'y' : 'x'; // a token one character off (not the same one by chance)
    assert.equal(await get(`/${host.token.slice(0, -1)}${other}/`), 403);
    assert.equal(await get(`/${host.token}/`, { host: `evil.example:${host.port}` }), 403);
    assert.equal(await get(`/${host.token}/../../package.json`), 403);
  });

  test('a WebSocket without the token, or from another origin, is refused', async () => {
    assert.equal(await ws(`/${host.token}/ws`), 'open');
    assert.equal(await ws('/ws'), 'refused 403');
    assert.equal(await ws('/wrong-token/ws'), 'refused 403');
    assert.equal(await ws(`/${host.token}/ws`, 'http://evil.example'), 'refused 403');
  });
});
