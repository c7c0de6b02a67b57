// A new firmware-update job from the page: package URL, target devices (a list, or every device of a device type
// the hub knows), rollout knobs, timeout, downgrade; confirmed, then POST /v1/jobs and on to the job's page.

import { ENDPOINT_RE } from '../../../protocol/topics.js';
import { api, HubError } from './api.js';
import { confirmDialog, field, h, replace } from './dom.js';
import { deviceIdsOf, generatedJobId } from './format.js';
import type { DevicePage, Job } from './types.js';
import type { View } from './view.js';

/** Every device id of `deviceType`, from the hub's inventory (paged). */
async function devicesOfType(deviceType: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor = '';
  do {
    const params = new URLSearchParams({ type: deviceType, size: '1000' });
    if (cursor) params.set('cursor', cursor);
    const page = await api<DevicePage>('GET', `/v1/inventory?${params}`);
    ids.push(...page.devices.map((d) => d.deviceId));
    cursor = page.nextPage ?? '';
  } while (cursor);
  return ids;
}

const input = (name: string, attrs: Record<string, string> = {}) => h('input', { attrs: { name, ...attrs } });

export const newJobView: View = (root, ctx) => {
  const jobId = input('jobId', { value: generatedJobId(), required: '', pattern: '[A-Za-z0-9][A-Za-z0-9._:\\-]{0,63}' });
  const url = input('packageUri', { type: 'url', required: '', placeholder: 'https://updates.example/os-2.4.0.fota' });
  const byList = input('targets', { type: 'radio', value: 'list', checked: '' });
  const byType = input('targets', { type: 'radio', value: 'type' });
  const list = h('textarea', { attrs: { name: 'devices', rows: '3', placeholder: 'dev-1, dev-2 (commas, spaces or one per line)' } });
  const type = h('select', { attrs: { name: 'deviceType' } });
  const maxInFlight = input('maxInFlight', { type: 'number', min: '1', step: '1', placeholder: 'all at once' });
  const ratio = input('abortFailureRatio', { type: 'number', min: '0', max: '1', step: '0.01', placeholder: 'never abort' });
  const timeout = input('timeoutMinutes', { type: 'number', min: '1', max: '10080', step: '1', value: '25', required: '' });
  const downgrade = input('allowDowngrade', { type: 'checkbox' });
  const waitFor = input('waitForDevices', { type: 'checkbox' });
  const error = h('p', { class: 'error', attrs: { role: 'alert' } });
  const submit = h('button', { class: 'primary', attrs: { type: 'submit' } }, 'Schedule…');

  void api<DevicePage>('GET', '/v1/inventory?size=1').then(
    (p) => replace(type, ...p.facets.deviceTypes.map((t) => h('option', { attrs: { value: t.deviceType } }, `${t.deviceType} (${t.devices} devices)`))),
    () => undefined,
  );

  const targets = async (): Promise<string[]> => {
    if (byType.checked) {
      if (!type.value) throw new Error('the hub knows no device type yet: list the devices instead');
      return devicesOfType(type.value);
    }
    const ids = deviceIdsOf(list.value);
    const bad = ids.find((d) => !ENDPOINT_RE.test(d));
    if (bad !== undefined) throw new Error(`"${bad.slice(0, 60)}" is not a device id (1-128 characters A-Z a-z 0-9 . _ : -)`);
    if (ids.length === 0) throw new Error('list at least one device');
    return ids;
  };

  const schedule = async (e: Event) => {
    e.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    try {
      const deviceIds = await targets();
      const parameters: Record<string, unknown> = { packageUri: url.value.trim(), timeoutSeconds: Math.round(Number(timeout.value) * 60) };
      if (maxInFlight.value) parameters['maxInFlight'] = Number(maxInFlight.value);
      if (ratio.value) parameters['abortFailureRatio'] = Number(ratio.value);
      if (downgrade.checked) parameters['allowDowngrade'] = true;
      if (waitFor.checked) parameters['waitForDevices'] = true;
      const shown = deviceIds.length <= 5 ? deviceIds.join(', ') : `${deviceIds.slice(0, 5).join(', ')} and ${deviceIds.length - 5} more`;
      const ok = await confirmDialog(`Update ${deviceIds.length} device${deviceIds.length === 1 ? '' : 's'}?`, `${shown} → ${parameters['packageUri'] as string}${downgrade.checked ? ' (a lower version is allowed)' : ''}`, 'Schedule the update');
      if (!ok) return;
      const job = await api<Job>('POST', '/v1/jobs', { jobId: jobId.value.trim(), type: 'firmware-update', deviceIds, parameters });
      ctx.navigate(`#jobs/${encodeURIComponent(job.JobId)}`);
    } catch (err) {
      error.textContent = err instanceof HubError || err instanceof Error ? err.message : String(err);
    } finally {
      submit.disabled = false;
    }
  };

  replace(
    root,
    h(
      'section',
      { class: 'new-job' },
      h('h2', {}, 'New firmware job'),
      h(
        'form',
        { on: { submit: (e) => void schedule(e) } },
        field('Job id', jobId),
        field('Package URL', url, 'a signed package (fota pack) served over http or https'),
        h('fieldset', {}, h('legend', {}, 'Devices'), h('label', { class: 'check' }, byList, ' these devices'), list, h('label', { class: 'check' }, byType, ' every device of type '), type),
        h('div', { class: 'filters' }, field('Max in flight', maxInFlight), field('Abort when failed share exceeds', ratio, '0..1 of the finished devices'), field('Timeout per device (minutes)', timeout)),
        h('label', { class: 'check' }, downgrade, ' allow a lower version than the installed one (never below a device\u2019s security floor)'),
        h('label', { class: 'check' }, waitFor, ' wait for devices the hub has not seen yet (else their jobs fail at once)'),
        error,
        h('div', { class: 'buttons' }, submit),
      ),
    ),
  );
  return () => undefined;
};
