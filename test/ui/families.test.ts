// The model panel on the rotary families, in a browser: it shows the family, the key/value heads
// and the kinds the model has, and the run panel offers only those (no resid_mid under parallel
// attention). Screenshots, light and dark, go to test-artifacts/.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { writeDecoderFixture } from '../fixtures/generate-decoder.ts';
import { noChromium, SHOTS } from './support/chromium.ts';
import { browserSession } from './support/session.ts';

const tmp = mkdtempSync(join(tmpdir(), 'patchbench-families-ui-'));
const NEOX = writeDecoderFixture(join(tmp, 'pythia-tiny'), { family: 'gpt_neox', layers: 2, heads: 2, dModel: 16, dMlp: 32, seed: 3 });
const LLAMA = writeDecoderFixture(join(tmp, 'llama-tiny'), { family: 'llama', layers: 2, heads: 4, kvHeads: 2, dModel: 16, dMlp: 24, seed: 4 });

const session = browserSession({ ready: (s) => void ({ host, page, pageErrors } = s), tearDown: () => rmSync(tmp, { recursive: true, force: true }) });
const { text } = session;
let { host, page, pageErrors } = session;
const kindBoxes = () => page.locator('.kinds label').allTextContents();

async function open(dir: string, name: string) {
  await page.locator('#model-folder').fill(dir);
  await page.getByRole('button', { name: 'Open', exact: true }).click();
  await page.getByTestId('model-info').getByText(name).waitFor({ timeout: 60_000 });
}

describe('the model panel on the rotary families', { skip: noChromium }, () => {
  test('GPT-NeoX: family shown, no resid_mid offered', async () => {
    await page.goto(host.url);
    await page.getByTestId('model-info').getByText('gpt2-tiny-random').waitFor();
    assert.ok((await kindBoxes()).some((k) => k.includes('resid_mid')), 'GPT-2 offers resid_mid');
    await open(NEOX, 'pythia-tiny');
    assert.equal(await text('model-family'), 'GPT-NeoX');
    assert.doesNotMatch(await text('model-kinds'), /resid_mid/);
    assert.match(await text('model-kinds'), /resid_pre resid_post attn_out/);
    const offered = (await kindBoxes()).map((k) => k.trim());
    assert.ok(!offered.includes('resid_mid') && offered.includes('head_z'), `offered: ${offered.join(', ')}`);
    await page.getByTestId('model-info').screenshot({ path: join(SHOTS, 'families-neox-panel.png') });
    await page.screenshot({ path: join(SHOTS, 'families-neox.png') });
  });

  test('Llama with grouped-query attention: key/value heads shown; dark theme', async () => {
    await open(LLAMA, 'llama-tiny');
    assert.equal(await text('model-family'), 'Llama');
    assert.match(await text('model-info'), /Layers × heads\s*2 × 4\s*\(2 key\/value\)/);
    assert.ok((await kindBoxes()).some((k) => k.includes('resid_mid')), 'Llama offers resid_mid');
    await page.getByTestId('theme-toggle').click();
    await page.waitForTimeout(200);
    await page.getByTestId('model-info').screenshot({ path: join(SHOTS, 'families-llama-panel-dark.png') });
    await page.screenshot({ path: join(SHOTS, 'families-llama-dark.png') });
    await page.getByTestId('theme-toggle').click();
    assert.deepEqual(pageErrors, []);
  });
});
