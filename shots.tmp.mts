import { startWebHost, ensureRendererBuilt } from './test/ui/support/web-host.ts';
import { openPage } from './test/ui/support/chromium.ts';
ensureRendererBuilt();
const host = await startWebHost();
const { browser, page, pageErrors } = await openPage();
try {
  await page.goto(host.url);
  await page.getByTestId('backend').getByText('webgpu').waitFor({ timeout: 300_000 });
  console.log('backend:', await page.getByTestId('backend').textContent());
  await page.getByTestId('baseline').locator('b').first().waitFor({ timeout: 300_000 });
  await page.screenshot({ path: '/tmp/gpuprobe/webgpu-start-light.png' });
  await page.getByLabel('attribution, verify top').check();
  await page.locator('[data-testid="run"]:not([disabled])').waitFor({ timeout: 300_000 });
  await page.getByTestId('run').click();
  await page.getByTestId('result-row').first().waitFor({ timeout: 600_000 });
  console.log('last run:', await page.getByTestId('last-run').textContent());
  await page.screenshot({ path: '/tmp/gpuprobe/webgpu-result-light.png' });
  await page.getByTestId('theme-toggle').click();
  await page.waitForTimeout(500);
  await page.screenshot({ path: '/tmp/gpuprobe/webgpu-result-dark.png' });
  console.log('errors', pageErrors);
} finally {
  await browser.close();
  await host.stop();
}
