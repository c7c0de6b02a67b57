// The dashboard's test rig: a real Mosquitto, a real `fota hub` process (from dist/, with a token) and a real
// Chromium logged in to its dashboard. Devices are added by the tests (sim-device.ts or hostile raw clients).
// `stop()` stops everything it started and removes its folders.

import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { startHubProcess, type HubProcess } from './hub-process.js';
import { startMosquitto, type Broker } from './mosquitto.js';
import { launchBrowser, type TestBrowser } from './browser.js';
import { requireBuild, ROOT, workspace, type SimDevice, type Workspace } from './sim-device.js';

export const TOKEN = 'dashboard-test-token-0123456789abcdef';

export interface DashboardRig {
  broker: Broker;
  ws: Workspace;
  hub: HubProcess;
  browser: TestBrowser;
  page: Page;
  devices: SimDevice[];
  stop(): Promise<void>;
}

/** Logs `page` in with `token` through the form; resolves once the dashboard's shell is there. */
export async function logIn(page: Page, hubUrl: string, token = TOKEN): Promise<void> {
  await page.goto(`${hubUrl}/ui/`);
  await page.fill('input[name=token]', token);
  await Promise.all([page.waitForURL(`${hubUrl}/ui/`), page.click('button[type=submit]')]);
  await page.waitForSelector('#view');
}

/**
 * Saves a screenshot of `page` as docs/img/dashboard-NAME.png when FOTA_DOC_SCREENSHOTS=1 (how the docs' pictures
 * are made: `FOTA_DOC_SCREENSHOTS=1 npx vitest run --project system test/system/dashboard.test.ts`); else nothing.
 */
export async function docScreenshot(page: Page, name: string): Promise<void> {
  if (process.env.FOTA_DOC_SCREENSHOTS !== '1') return;
  await page.screenshot({ path: join(ROOT, 'docs', 'img', `dashboard-${name}.png`), fullPage: false, animations: 'disabled', caret: 'hide' });
}

export async function startRig(): Promise<DashboardRig> {
  requireBuild();
  const broker = await startMosquitto();
  const stops: (() => Promise<unknown>)[] = [() => broker.stop()];
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
  };
  try {
    const ws = await workspace();
    stops.push(() => ws.cleanup());
    const hub = await startHubProcess(join(ws.dir, 'hub.db'), ['--broker', broker.url], { FOTA_HUB_TOKEN: TOKEN });
    stops.push(() => hub.stop());
    const browser = await launchBrowser();
    stops.push(() => browser.close());
    const devices: SimDevice[] = [];
    stops.push(() => Promise.all(devices.map((d) => d.stop())));
    await logIn(browser.page, hub.url);
    return { broker, ws, hub, browser, page: browser.page, devices, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
