/**
 * One browser test file's session: the renderer built, a real web host started, Chromium with one
 * page; all stopped after the file. `browserSession()` registers the file's before and after hooks
 * (call it at the top level of the test file); `ready` gets the session once it is up, to bind its
 * page and host to the file's own names. (Node 20 does not wait for one top-level before hook to
 * finish before starting the next, so a hook of the file's own could not do that.)
 */
import { after, before } from 'node:test';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { noChromium, openPage, SHOTS } from './chromium.ts';
import { ensureRendererBuilt, startWebHost, type RunningHost } from './web-host.ts';

export interface SessionOptions {
  /** runs before the host starts (fixtures, example projects); returns the host's settings folder and examples */
  setUp?: () => Promise<Parameters<typeof startWebHost>[0]> | Parameters<typeof startWebHost>[0];
  /** runs after the host and the browser are gone */
  tearDown?: () => void;
  acceptDownloads?: boolean;
  /** called once the host (and, where there is Chromium, the page) is up */
  ready?: (session: BrowserSession) => void;
}

export interface BrowserSession {
  host: RunningHost;
  /** undefined where Chromium is missing (the file's browser tests skip, saying why) */
  browser?: Browser;
  page: Page;
  /** console and page errors so far */
  pageErrors: string[];
  /** the text of the element with this test id ('' when it has none) */
  text(testId: string): Promise<string>;
  /** a screenshot of the page in test-artifacts/ */
  shot(name: string): Promise<Buffer>;
  /** switches the page to a theme (a no-op when it is in it) */
  setTheme(theme: 'light' | 'dark'): Promise<void>;
}

export function browserSession(o: SessionOptions = {}): BrowserSession {
  const session: BrowserSession = {
    host: undefined as unknown as RunningHost,
    page: undefined as unknown as Page,
    pageErrors: [],
    text: async (testId) => (await session.page.getByTestId(testId).textContent()) ?? '',
    shot: (name) => session.page.screenshot({ path: join(SHOTS, name) }),
    setTheme: async (theme) => {
      const toggle = session.page.getByTestId('theme-toggle');
      if ((await toggle.getAttribute('aria-pressed')) !== String(theme === 'dark')) await toggle.click();
    },
  };
  before(async () => {
    ensureRendererBuilt();
    session.host = await startWebHost((await o.setUp?.()) ?? {});
    if (!noChromium) Object.assign(session, await openPage({ acceptDownloads: o.acceptDownloads }));
    o.ready?.(session);
  });
  after(async () => {
    await session.browser?.close();
    await session.host?.stop();
    o.tearDown?.();
  });
  return session;
}
