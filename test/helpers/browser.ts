// A real browser for the dashboard tests and benchmark: Debian's Chromium (apt-get install chromium; .ci/run) driven
// by playwright-core, headless, with a fresh profile, no network of its own (no component updates,
// no sync, no background fetches). Playwright never downloads a browser here. `close()` removes everything.

import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export interface TestBrowser {
  browser: Browser;
  /** the first context (its cookies are the logged-in operator's) */
  context: BrowserContext;
  page: Page;
  /** Content-Security-Policy violations the pages of every context reported (none expected) */
  violations: string[];
  /** console errors and uncaught page errors (none expected) */
  errors: string[];
  /** another context: no cookies shared with the first (a second operator, or a stranger) */
  newContext(): Promise<BrowserContext>;
  close(): Promise<void>;
}

export function requireChromium(): void {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the dashboard tests drive Debian's Chromium (apt-get install chromium; .ci/run installs it)`);
}

/** Launches Chromium (Playwright gives it a fresh profile in a temp folder, removed on close) and opens one page. */
export async function launchBrowser(): Promise<TestBrowser> {
  requireChromium();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--no-default-browser-check'],
  });
  const violations: string[] = [];
  const errors: string[] = [];
  const watch = (page: Page) => {
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
  };
  const newContext = async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    // every page reports its CSP violations into the test (an injected inline script or handler would be one)
    await context.exposeBinding('__fotaCspViolation', (_src, text: string) => void violations.push(text));
    // a string, not a function: this file is checked without the DOM's types (the function runs in the page)
    await context.addInitScript({
      content: "document.addEventListener('securitypolicyviolation', (e) => window.__fotaCspViolation(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`));",
    });
    context.on('page', watch);
    return context;
  };
  try {
    const context = await newContext();
    const page = await context.newPage();
    return { browser, context, page, violations, errors, newContext, close: () => browser.close().catch(() => undefined) };
  } catch (e) {
    await browser.close().catch(() => undefined);
    throw e;
  }
}
