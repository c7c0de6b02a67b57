// Who may use the hub's web dashboard, tried in a real Chromium against a real `fota hub` (embedded broker, no
// devices needed): the API token rule (no session → the login form; a wrong token refused, then rate limited), the
// session cookie's flags, CSRF from a page of another origin (another port of the same host is the same *site*, so
// SameSite=Strict alone would let it through), the Content-Security-Policy, and nothing loaded from elsewhere.

import { createServer, get, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { logIn, TOKEN } from '../helpers/dashboard-rig.js';
import { startHubProcess, type HubProcess } from '../helpers/hub-process.js';
import { freePort } from '../helpers/mosquitto.js';
import { requireBuild, workspace, type Workspace } from '../helpers/sim-device.js';

let ws: Workspace;
let hub: HubProcess;
let open: HubProcess;
let browser: TestBrowser;
let evil: Server;
let evilUrl = '';
/** the page another site serves: whatever the test puts here */
let evilPage = '';

beforeAll(async () => {
  requireBuild();
  ws = await workspace();
  hub = await startHubProcess(join(ws.dir, 'hub.db'), ['--mqtt-listen', `127.0.0.1:${await freePort()}`], { FOTA_HUB_TOKEN: TOKEN });
  // a hub without a token (loopback only): FOTA_HUB_TOKEN emptied in case the environment has one
  open = await startHubProcess(join(ws.dir, 'open.db'), ['--mqtt-listen', `127.0.0.1:${await freePort()}`], { FOTA_HUB_TOKEN: '' });
  browser = await launchBrowser();
  evil = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(evilPage);
  });
  await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
  evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => evil?.close(r));
  await open?.stop();
  await hub?.stop();
  await ws?.cleanup();
});

/** GET `url` with another Host header (fetch may not set it). */
function getWithHost(url: string, host: string): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { headers: { Host: host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    }).on('error', reject);
  });
}

/** A POST of the login form as a browser sends it from the hub's own page. */
function postLogin(url: string, token: string): Promise<Response> {
  return fetch(`${url}/ui/login`, { method: 'POST', redirect: 'manual', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: url, 'Sec-Fetch-Site': 'same-origin' }, body: new URLSearchParams({ token }) });
}

describe('a hub with a token', () => {
  it('shows the login form, not the dashboard, to a browser without a session; the API and the event stream answer 401', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      const res = await page.goto(`${hub.url}/`);
      expect(res?.url()).toBe(`${hub.url}/ui/`);
      await page.waitForSelector('form[action="/ui/login"] input[name=token][type=password]');
      // no shell, no CSRF token, no script
      expect(await page.locator('meta[name=fota-csrf]').count()).toBe(0);
      expect(await page.locator('#view').count()).toBe(0);
      expect(await page.locator('script').count()).toBe(0);
    } finally {
      await page.close();
      await context.close();
    }
    for (const path of ['/v1/inventory', '/v1/events', '/v1/jobs']) {
      const r = await fetch(`${hub.url}${path}`);
      expect(r.status, path).toBe(401);
      await r.body?.cancel();
    }
  });

  it('logs in with the token into an HttpOnly SameSite=Strict session cookie; the token is kept nowhere in the browser', async () => {
    const { page, context } = browser;
    await logIn(page, hub.url);
    await page.waitForSelector('#live.ok');
    const cookies = await context.cookies(hub.url);
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatchObject({ name: 'fota_session', httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(cookies[0]?.value).not.toContain(TOKEN);
    expect(await page.evaluate('document.cookie')).toBe('');
    expect(await page.evaluate('JSON.stringify(localStorage) + JSON.stringify(sessionStorage)')).toBe('{}{}');
    expect(await page.content()).not.toContain(TOKEN);
  });

  it('answers every document and asset with the Content-Security-Policy; the page has no inline script, and violates nothing', async () => {
    const { page } = browser;
    const seen: string[] = [];
    const headers = new Map<string, string | undefined>();
    page.on('response', (r) => {
      seen.push(r.url());
      if (r.url().startsWith(`${hub.url}/ui/`)) headers.set(r.url(), r.headers()['content-security-policy']);
    });
    await page.goto('about:blank');
    await page.goto(`${hub.url}/ui/#devices`);
    await page.waitForSelector('#live.ok');
    for (const view of ['jobs', 'history', 'new', 'devices']) {
      await page.click(`nav a[data-view=${view}]`);
      await page.waitForSelector(`nav a.active[data-view=${view}]`);
    }
    expect([...headers.keys()].sort()).toEqual([`${hub.url}/ui/`, `${hub.url}/ui/assets/app.css`, `${hub.url}/ui/assets/app.js`]);
    for (const [url, csp] of headers) {
      expect(csp, url).toContain("default-src 'none'");
      expect(csp, url).toContain("script-src 'self'");
      expect(csp, url).not.toContain('unsafe-inline');
    }
    expect(await page.locator('script:not([src])').count()).toBe(0);
    expect(await page.locator('[style]').count()).toBe(0);
    // nothing came from anywhere but the hub
    expect(seen.filter((u) => !u.startsWith(`${hub.url}/`))).toEqual([]);
    expect(browser.violations).toEqual([]);
    expect(browser.errors).toEqual([]);
  });

  it('refuses a cancel or a new job sent from a page of another origin, though the browser sends the session cookie along', async () => {
    const { page } = browser;
    // a job that stays queued (it waits for a device that never comes): something worth cancelling
    await hub.client.schedule({ jobId: 'csrf-target', type: 'firmware-update', deviceIds: ['ghost'], parameters: { packageUri: 'http://127.0.0.1:9/x.fota', timeoutSeconds: 600, waitForDevices: true } });
    // 1) a form posted to the cancel route: a top-level navigation, cookie included (same site), no CSRF header, an
    //    empty body (what the route takes)
    evilPage = `<!doctype html><form id="f" method="post" action="${hub.url}/v1/jobs/csrf-target/cancel"></form><script>document.getElementById('f').submit()</script>`;
    await page.goto(`${evilUrl}/cancel`);
    await page.waitForURL(`${hub.url}/v1/jobs/csrf-target/cancel`);
    expect(await page.textContent('body')).toContain('forbidden');
    // 2) fetch from the other origin with the cookie, a JSON-looking body and no CSRF header: a new job
    evilPage = `<!doctype html><script>fetch('${hub.url}/v1/jobs', { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({ jobId: 'csrf-new', type: 'reboot', deviceIds: ['ghost'] }) }).finally(() => { document.title = 'sent'; });</script>`;
    await page.goto(`${evilUrl}/new`);
    await page.waitForFunction('document.title === "sent"');
    // the other origin cannot read the CSRF token out of the dashboard page either (no CORS: the read fails)
    evilPage = `<!doctype html><script>fetch('${hub.url}/ui/', { credentials: 'include' }).then((r) => r.text()).then((t) => { document.title = 'read:' + t.length; }, () => { document.title = 'refused'; });</script>`;
    await page.goto(`${evilUrl}/read`);
    await page.waitForFunction('document.title !== ""');
    expect(await page.title()).toBe('refused');
    const target = await hub.client.getJob('csrf-target');
    expect(target.job.Status).not.toBe('Cancelled');
    await expect(hub.client.getJob('csrf-new')).rejects.toMatchObject({ status: 404 });
    expect(hub.output()).not.toMatch(/csrf-new/);
    // the dashboard's own request, with its CSRF token, is accepted (the refusals above are not a broken route)
    await page.goto(`${hub.url}/ui/#jobs/csrf-target`);
    await page.click('.detail article.job button[data-cancel="csrf-target"]');
    await page.click('dialog.confirm >> text=Cancel the job');
    await page.waitForSelector('.detail article.job .status >> text=Cancelled', { timeout: 20_000 });
  });

  it('refuses a wrong token, and after 10 wrong tokens from one address refuses even the right one for a while', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await page.goto(`${hub.url}/ui/`);
      await page.fill('input[name=token]', 'not-the-token');
      const [answer] = await Promise.all([page.waitForResponse((r) => r.url() === `${hub.url}/ui/login`), page.click('button[type=submit]')]);
      expect(answer.status()).toBe(401);
      await page.waitForSelector('.error >> text=Wrong token.');
      expect(await page.locator('meta[name=fota-csrf]').count()).toBe(0);
      // 9 more wrong tries (as a script would make them), then the right token is refused too
      for (let i = 0; i < 9; i++) expect((await postLogin(hub.url, `guess-${i}`)).status).toBe(401);
      const limited = await postLogin(hub.url, TOKEN);
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(limited.headers.get('set-cookie')).toBeNull();
      await page.fill('input[name=token]', TOKEN);
      const [again] = await Promise.all([page.waitForResponse((r) => r.url() === `${hub.url}/ui/login`), page.click('button[type=submit]')]);
      expect(again.status()).toBe(429);
      await page.waitForSelector('.error >> text=/Too many wrong tokens/');
      expect(await page.locator('#view').count()).toBe(0);
      expect(hub.output()).toMatch(/failed login from 127\.0\.0\.1/);
    } finally {
      await page.close();
      await context.close();
    }
    // a session made before keeps working (the limit is on logins)
    expect((await browser.page.goto(`${hub.url}/ui/`))?.status()).toBe(200);
    await browser.page.waitForSelector('#live.ok');
  });
});

describe('a hub without a token (loopback only)', () => {
  it('opens the dashboard at once by a loopback address, and refuses a page that names it by another host name', async () => {
    const page = await browser.context.newPage();
    try {
      await page.goto(`${open.url}/ui/`);
      await page.waitForSelector('#live.ok');
      expect(await page.locator('form[action="/ui/login"]').count()).toBe(0);
    } finally {
      await page.close();
    }
    // a DNS name rebound to 127.0.0.1 by a web page: no session, no CSRF token
    const r = await getWithHost(`${open.url}/ui/`, 'evil.example');
    expect(r.status).toBe(403);
    expect(r.headers['set-cookie']).toBeUndefined();
    expect(r.body).not.toContain('fota-csrf');
  });
});
