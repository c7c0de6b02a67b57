// The hub's web dashboard in a real browser (Debian's Chromium through playwright-core) against a real `fota hub`
// and real simulated devices on a real Mosquitto: devices listed with their Object 3/5 state, a job's progress shown
// live (pushed, not polled), a failed device's reason, a cancel from the page, and the History filter listing exactly
// what `fota job list --filter` lists.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPackageServer, type PackageServer } from '../../hub/package-server.js';
import { docScreenshot, TOKEN, startRig, type DashboardRig } from '../helpers/dashboard-rig.js';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.js';
import { fota, makePackage, startDevice, waitFor } from '../helpers/sim-device.js';

let rig: DashboardRig;
let pkgs: PackageServer;
let slow: FaultServer;
const IDS = ['dash-a', 'dash-b', 'dash-c'];

async function schedule(jobId: string, deviceIds: string[], packageUri: string, extra: Record<string, unknown> = {}) {
  return rig.hub.client.schedule({ jobId, type: 'firmware-update', deviceIds, parameters: { packageUri, timeoutSeconds: 300, ...extra } });
}

async function ended(jobId: string) {
  return waitFor(`${jobId} to end`, 150_000, async () => {
    const d = await rig.hub.client.getJob(jobId);
    return ['Completed', 'Failed', 'Cancelled'].includes(d.job.Status) ? d : undefined;
  });
}

beforeAll(async () => {
  rig = await startRig();
  await makePackage(rig.ws, '2.0.0');
  // a package for another board: the device refuses it at once (Update Result 6) with a reason
  await makePackage(rig.ws, '2.0.1', { deviceType: 'other-board' });
  const big = await makePackage(rig.ws, '3.0.0', { size: '8M' });
  pkgs = await startPackageServer({ dir: rig.ws.dir, host: '127.0.0.1', port: 0 });
  // ~8 MiB at 400 KiB/s: a download of about 20 s, long enough to watch it move
  slow = await startFaultServer({ body: { file: big } });
  slow.setFaults([{ on: 'every', throttle: 400 * 1024 }]);
  for (const id of IDS) rig.devices.push(startDevice(rig.ws, id, rig.broker.url));
}, 180_000);

afterAll(async () => {
  await slow?.close();
  await pkgs?.close();
  await rig?.stop();
});

describe('devices', () => {
  it('lists every device with presence, firmware version, type and Object 5 state, and filters on the hub', async () => {
    const { page } = rig;
    await page.goto(`${rig.hub.url}/ui/#devices`);
    for (const id of IDS) await page.waitForSelector(`tr[data-device="${id}"] >> text=1.0.0`, { timeout: 60_000 });
    const row = page.locator('tr[data-device="dash-a"]');
    await expect(row.locator('td').nth(1).textContent()).resolves.toBe('online');
    await expect(row.locator('td').nth(3).textContent()).resolves.toBe('fota-sim');
    await expect(row.locator('td').nth(4).textContent()).resolves.toBe('Idle');
    await page.fill('input[name=q]', 'dash-b');
    await expect.poll(() => page.locator('tr[data-device]').count()).toBe(1);
    await expect(page.locator('tr[data-device]').first().getAttribute('data-device')).resolves.toBe('dash-b');
    await page.fill('input[name=q]', '');
    await expect.poll(() => page.locator('tr[data-device]').count()).toBe(IDS.length);
  });
});

describe('jobs', () => {
  it('shows a running job and its device live, pushed by the hub (no polling), then its end', async () => {
    const { page } = rig;
    await page.goto(`${rig.hub.url}/ui/#jobs`);
    await page.waitForSelector('#live.ok');
    const polls: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/v1/') && !r.url().includes('/v1/events')) polls.push(r.url());
    });
    await schedule('dash-live', ['dash-a'], slow.url('/fw-3.0.0.fota'));
    // the job appears without a reload, then its device's download moves
    await page.click('article.job[data-job="dash-live"] h3 a', { timeout: 20_000 });
    const message = page.locator('tr[data-child="dash-live~dash-a"] td').nth(3);
    const seen = new Set<string>();
    await waitFor('three download percentages on the page', 60_000, async () => {
      const text = (await message.textContent().catch(() => '')) ?? '';
      if (/downloading \d+%/.test(text)) seen.add(text);
      return seen.size >= 3 ? true : undefined;
    });
    await docScreenshot(page, 'job-live');
    const before = polls.length;
    await waitFor('the job to end on the page', 120_000, async () => ((await page.locator('.detail article.job .status').textContent()) === 'Completed' ? true : undefined));
    // every change of the last phase came over the event stream: the page asked the API for nothing meanwhile
    expect(polls.length - before).toBeLessThanOrEqual(2);
    await expect(page.locator('tr[data-child="dash-live~dash-a"] td').nth(1).textContent()).resolves.toBe('Completed');
    await expect(page.locator('tr[data-child="dash-live~dash-a"] td').nth(5).textContent()).resolves.toBe('1.0.0 → 3.0.0');
  });

  it("shows a failed device's reason, in the job and on the Devices page", async () => {
    const { page } = rig;
    // one device gets 2.0.0; the other 2.0.1, built for another board, which it refuses with a reason
    await schedule('dash-good', ['dash-b'], pkgs.urlOf('fw-2.0.0.fota'));
    await schedule('dash-wrong', ['dash-c'], pkgs.urlOf('fw-2.0.1.fota'));
    await page.goto(`${rig.hub.url}/ui/#jobs/dash-wrong`);
    await page.waitForSelector('tr[data-child="dash-wrong~dash-c"] >> text=Failed', { timeout: 60_000 });
    const reason = (await page.locator('tr[data-child="dash-wrong~dash-c"] td.reason').textContent()) ?? '';
    expect(reason).toMatch(/Update Result 6 \(unsupported package type\): .*other-board/);
    await page.waitForSelector('.detail article.job .count.failed >> text=1 failed');
    await docScreenshot(page, 'job-failed');
    await ended('dash-good');
    // the Devices page shows Object 5's Update Result with the device's own reason
    await page.goto(`${rig.hub.url}/ui/#devices`);
    await page.waitForSelector('tr[data-device="dash-c"] >> text=unsupported package type');
    expect((await page.locator('tr[data-device="dash-c"] td').nth(5).textContent()) ?? '').toMatch(/^6 unsupported package type.*other-board/);
    await page.waitForSelector('tr[data-device="dash-b"] >> text=2.0.0');
    await docScreenshot(page, 'devices');
    await expect(page.locator('tr[data-device="dash-b"] td').nth(5).textContent()).resolves.toBe('1 firmware updated successfully');
  });

  it('cancels a running job from the page after a confirmation; keeping it changes nothing', async () => {
    const { page } = rig;
    await schedule('dash-cancel', ['dash-c'], slow.url('/fw-3.0.0.fota'));
    await page.goto(`${rig.hub.url}/ui/#jobs/dash-cancel`);
    await page.waitForSelector('tr[data-child="dash-cancel~dash-c"] >> text=/downloading \\d+%/', { timeout: 60_000 });
    // first the operator thinks again: nothing is cancelled
    await page.click('.detail article.job button[data-cancel="dash-cancel"]');
    await page.click('dialog.confirm >> text=Keep it');
    await expect(rig.hub.client.getJob('dash-cancel').then((d) => d.job.Status)).resolves.toBe('Running');
    await page.click('.detail article.job button[data-cancel="dash-cancel"]');
    await expect(page.locator('dialog.confirm .question').textContent()).resolves.toBe('Cancel job dash-cancel?');
    await page.click('dialog.confirm >> text=Cancel the job');
    await page.waitForSelector('.detail article.job .status >> text=Cancelled', { timeout: 30_000 });
    await page.waitForSelector('tr[data-child="dash-cancel~dash-c"] >> text=Cancelled');
    const d = await rig.hub.client.getJob('dash-cancel');
    expect(d.job.Status).toBe('Cancelled');
    expect(d.children[0]?.StatusMessage).toMatch(/cancelled/);
  });
});

describe('new firmware job', () => {
  it('schedules a job for every device of a device type from the form, after a confirmation', async () => {
    const { page } = rig;
    await page.goto(`${rig.hub.url}/ui/#new`);
    await page.fill('input[name=jobId]', 'dash-new');
    await page.fill('input[name=packageUri]', pkgs.urlOf('fw-2.0.0.fota'));
    await page.check('input[name=targets][value=type]');
    // the hub's device types, with their counts, from the inventory
    await page.waitForSelector('select[name=deviceType] option[value=fota-sim]', { state: 'attached' });
    await page.selectOption('select[name=deviceType]', 'fota-sim');
    await page.fill('input[name=maxInFlight]', '1');
    await page.fill('input[name=abortFailureRatio]', '0.5');
    await page.fill('input[name=timeoutMinutes]', '7');
    await page.check('input[name=allowDowngrade]');
    await page.click('button[type=submit]');
    await expect(page.locator('dialog.confirm .question').textContent()).resolves.toBe(`Update ${IDS.length} devices?`);
    // thinking again schedules nothing
    await page.click('dialog.confirm >> text=Keep it');
    await expect(rig.hub.client.getJob('dash-new')).rejects.toMatchObject({ status: 404 });
    await page.click('button[type=submit]');
    await page.click('dialog.confirm >> text=Schedule the update');
    await page.waitForURL(`${rig.hub.url}/ui/#jobs/dash-new`);
    const d = await rig.hub.client.getJob('dash-new');
    expect(d.children.map((c) => c.DeviceId).sort()).toEqual(IDS);
    expect(d.job.Parameters).toMatchObject({ packageUri: pkgs.urlOf('fw-2.0.0.fota'), maxInFlight: 1, abortFailureRatio: 0.5, timeoutSeconds: 420, allowDowngrade: true });
    await page.waitForSelector('.detail article.job[data-job="dash-new"]');
    await rig.hub.client.cancelJob('dash-new');
    await ended('dash-new');
  });
});

describe('history', () => {
  /** The job ids the History page lists for the raw JSON filter `filter` (device jobs included or not). */
  async function listed(filter: string, all: boolean): Promise<string[]> {
    const { page } = rig;
    await page.goto(`${rig.hub.url}/ui/#history`);
    await page.waitForSelector('section.history[aria-busy="false"]');
    await page.setChecked('input[name=all]', all);
    await page.fill('textarea[name=filter]', filter);
    // the click starts the query at once (aria-busy="true"); the page is not busy again until its answer is shown
    await page.click('button[data-run=json]');
    await page.waitForSelector('section.history[aria-busy="false"]');
    return page.locator('section.history tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-job') ?? ''));
  }

  async function cli(filter: string, all: boolean): Promise<string[]> {
    const args = ['job', 'list', '--hub', rig.hub.url, '--json', '--limit', '50', ...(all ? ['--all'] : []), ...(filter ? ['--filter', filter] : [])];
    return (JSON.parse(await fota(args, { FOTA_HUB_TOKEN: TOKEN })) as { JobId: string }[]).map((j) => j.JobId);
  }

  it('lists exactly what `fota job list --filter` lists for the same filter', async () => {
    const filters = [
      '',
      '{"type":"comparison","property":"Status","comparisonOperator":"eq","value":"Failed"}',
      '{"filter":{"type":"comparison","property":"DeviceId","comparisonOperator":"eq","value":"dash-c"}}',
      '{"type":"and","filters":[{"type":"comparison","property":"Type","comparisonOperator":"eq","value":"firmware-update"},{"type":"not","filter":{"type":"comparison","property":{"name":"UpdateResult","type":"result"},"comparisonOperator":"eq","value":1}}]}',
    ];
    for (const f of filters) {
      for (const all of [false, true]) {
        const [page, shell] = [await listed(f, all), await cli(f, all)];
        expect(page, `filter ${f || '(none)'}${all ? ' --all' : ''}`).toEqual(shell);
      }
    }
    // and it is not trivially equal: the filters select different, non-empty lists
    expect(await cli(filters[1] as string, true)).toContain('dash-wrong~dash-c');
    expect(await cli(filters[2] as string, true)).not.toContain('dash-live~dash-a');
  });

  it('builds the filter from the form (status, result, time range) and shows it as JSON and as the CLI command', async () => {
    const { page } = rig;
    await page.goto(`${rig.hub.url}/ui/#history`);
    await page.setChecked('input[name=all]', true);
    await page.selectOption('select[name=status]', 'Failed');
    await page.selectOption('select[name=result]', '6');
    await expect.poll(() => page.locator('section.history tbody tr').count()).toBe(1);
    const json = await page.inputValue('textarea[name=filter]');
    await docScreenshot(page, 'history');
    expect(JSON.parse(json)).toEqual({ type: 'and', filters: [{ type: 'comparison', property: 'Status', comparisonOperator: 'eq', value: 'Failed' }, { type: 'comparison', property: 'UpdateResult', comparisonOperator: 'eq', value: 6 }] });
    await expect(page.locator('section.history tbody tr').getAttribute('data-job')).resolves.toBe('dash-wrong~dash-c');
    expect(await cli(json, true)).toEqual(['dash-wrong~dash-c']);
    expect(await page.locator('code.cli').textContent()).toContain(`fota job list --all --filter '${JSON.stringify(JSON.parse(json))}'`);
    // a time range in the future selects nothing
    await page.fill('input[name=from]', '2999-01-01T00:00:00');
    await page.waitForSelector('section.history .summary >> text=no job matches');
  });
});
