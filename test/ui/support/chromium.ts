/** Debian's Chromium for the end-to-end tests: launch, a page that records its errors, and polling. */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT } from './web-host.ts';

export const CHROMIUM = '/usr/bin/chromium';
/** false, or why the browser tests are skipped */
export const noChromium = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install -y chromium); skipping the browser tests`;
export const SHOTS = join(ROOT, 'test-artifacts');

/** A headless browser with one page; console errors and page errors are collected in `pageErrors`. */
export async function openPage(o: { acceptDownloads?: boolean } = {}): Promise<{ browser: Browser; page: Page; pageErrors: string[] }> {
  mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 }, acceptDownloads: o.acceptDownloads });
  const pageErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(m.text());
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  return { browser, page, pageErrors };
}

/** Polls `cond` every 50 ms. (Not waitForFunction: its polling evaluates strings, which the page's CSP refuses.) */
export async function until(what: string, cond: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
