// The model panel names the BOS token, or says there is none: the tiny GPT-2 (BOS <|endoftext|>
// from config.json), then a character-level GPT-2 whose GPT2Config default BOS lies outside its
// 27-token vocabulary. Screenshots of both, light and dark, go to test-artifacts/.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { writeFixture } from '../fixtures/generate.ts';
import { FIXTURES } from '../helpers.ts';
import { noChromium, SHOTS } from './support/chromium.ts';
import { browserSession } from './support/session.ts';

const tmp = mkdtempSync(join(tmpdir(), 'patchbench-ui-bos-'));
const session = browserSession({ ready: (s) => void ({ host, page } = s), tearDown: () => rmSync(tmp, { recursive: true, force: true }) });
const { setTheme } = session;
let { host, page } = session;

const info = async () => (await page.getByTestId('model-info').textContent()) ?? '';
const shots = async (name: string) => {
  for (const theme of ['light', 'dark'] as const) {
    await setTheme(theme);
    await page.screenshot({ path: join(SHOTS, `bos-${name}-${theme}.png`) });
  }
};

describe('the BOS token in the model panel', { skip: noChromium }, () => {
  test('a model with a BOS token shows it; one without says prompts are not prefixed', async () => {
    await page.goto(host.url);
    await page.getByTestId('model-info').getByText('gpt2-tiny-random').waitFor();
    assert.match(await info(), /BOS token\s*<\|endoftext\|>\s*\(50256\)/);
    assert.equal(await page.getByText('prepend BOS').count(), 1);
    await shots('gpt2');

    const chars = writeFixture(join(tmp, 'makemore-names'), { layers: 1, heads: 1, dModel: 8, seed: 3, vocab: 27, ctx: 16 });
    cpSync(join(FIXTURES, 'tokenizers/gpt2-chars'), chars, { recursive: true });
    const config = JSON.parse(readFileSync(join(chars, 'config.json'), 'utf8'));
    writeFileSync(join(chars, 'config.json'), JSON.stringify({ ...config, bos_token_id: 50256, eos_token_id: 50256 }));
    await page.locator('#model-folder').fill(chars);
    await page.getByRole('button', { name: 'Open', exact: true }).click();
    await page.getByTestId('model-info').getByText('makemore-names').waitFor({ timeout: 30_000 });
    assert.match((await page.getByTestId('no-bos').textContent()) ?? '', /none: prompts are not prefixed/);
    assert.equal(await page.getByText('prepend BOS').count(), 0);
    assert.equal(await page.getByText('no BOS token').count(), 1);
    await shots('none');
  });
});
