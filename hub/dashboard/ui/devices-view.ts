// Devices: every device the hub has heard, searched and filtered on the hub (GET /v1/inventory), a page at a time;
// the page reloads (at most once a second) when the hub says a device on it changed.

import { FW_STATE_TEXT } from '../../../protocol/lwm2m.js';
import { api, HubError } from './api.js';
import { bar, field, h, replace, select } from './dom.js';
import { ago, RESULT_OPTIONS, when } from './format.js';
import type { DevicePage, DeviceRow } from './types.js';
import { throttle, type View } from './view.js';

const PAGE = 100;

function onlineCell(d: DeviceRow): HTMLElement {
  const [cls, text] = d.online === true ? ['on', 'online'] : d.online === false ? ['off', 'offline'] : ['unknown', 'unknown'];
  return h('td', {}, h('span', { class: `dot ${cls}` }), text);
}

function firmwareCells(d: DeviceRow): HTMLElement[] {
  const f = d.firmware;
  if (!f) return [h('td', { class: 'muted' }, d.problem ? 'not observed' : '…'), h('td', { class: 'muted', title: d.problem }, d.problem)];
  const state = f.state === 1 ? h('td', {}, `${f.stateText} `, bar(f.progress)) : h('td', {}, f.stateText);
  const result = h('td', { class: f.updateResult > 1 ? 'bad' : '' }, `${f.updateResult} ${f.resultText}`, f.reason ? h('div', { class: 'reason' }, f.reason) : null);
  return [state, result];
}

function row(d: DeviceRow): HTMLTableRowElement {
  const faults = d.faults.map((f) => h('div', { class: 'fault' }, `Error ${f.code}`, f.reason ? `: ${f.reason}` : ''));
  return h(
    'tr',
    { attrs: { 'data-device': d.deviceId } },
    h('td', { class: 'id' }, d.deviceId),
    onlineCell(d),
    h('td', {}, d.firmwareVersion || '—'),
    h('td', {}, d.deviceType || '—'),
    ...firmwareCells(d),
    h('td', { class: faults.length > 0 ? 'bad' : 'muted' }, ...(faults.length > 0 ? faults : ['none'])),
    h('td', { title: d.lastSeen }, ago(d.lastSeen), h('div', { class: 'muted' }, when(d.lastSeen))),
  );
}

export const devicesView: View = (root, ctx) => {
  const q = h('input', { attrs: { type: 'search', name: 'q', placeholder: 'device id, version, type…', 'aria-label': 'search' } });
  const online = select('online', [['', 'any'], ['online', 'online'], ['offline', 'offline'], ['unknown', 'unknown']], '');
  const type = select('type', [['', 'any']], '');
  const state = select('state', [['', 'any'], ...Object.entries(FW_STATE_TEXT)], '');
  const result = select('result', [['', 'any'], ...RESULT_OPTIONS], '');
  const fault = select('fault', [['', 'any'], ['yes', 'with faults'], ['no', 'without']], '');
  const summary = h('p', { class: 'summary' }, 'loading…');
  const body = h('tbody');
  const next = h('button', { attrs: { type: 'button' } }, 'Next page');
  const first = h('button', { attrs: { type: 'button' } }, 'First page');
  const error = h('p', { class: 'error', attrs: { role: 'alert' } });
  let cursor = '';
  let shown = new Set<string>();
  let nextCursor: string | undefined;
  let seq = 0;

  const load = async () => {
    const my = ++seq;
    const params = new URLSearchParams({ size: String(PAGE) });
    for (const [k, el] of [['q', q], ['online', online], ['type', type], ['state', state], ['result', result], ['fault', fault]] as const) if (el.value) params.set(k, el.value);
    if (cursor) params.set('cursor', cursor);
    try {
      const page = await api<DevicePage>('GET', `/v1/inventory?${params}`);
      if (my !== seq) return; // an older answer after a newer request
      error.textContent = '';
      shown = new Set(page.devices.map((d) => d.deviceId));
      nextCursor = page.nextPage;
      replace(body, ...page.devices.map(row));
      const f = page.facets;
      summary.textContent = `${page.total} of ${f.devices} devices match · ${f.online} online, ${f.offline} offline, ${f.unknown} unknown · ${f.faulty} with faults`;
      next.disabled = nextCursor === undefined;
      first.disabled = cursor === '';
      const chosen = type.value;
      replace(type, h('option', { attrs: { value: '' } }, 'any'), ...f.deviceTypes.map((t) => h('option', { attrs: { value: t.deviceType } }, `${t.deviceType} (${t.devices})`)));
      type.value = chosen;
    } catch (e) {
      error.textContent = e instanceof HubError ? e.message : String(e);
    }
  };
  const reload = throttle(() => void load(), 1000);
  const restart = () => {
    cursor = '';
    void load();
  };
  let typing: number | undefined;
  q.addEventListener('input', () => {
    clearTimeout(typing);
    typing = window.setTimeout(restart, 250);
  });
  for (const s of [online, type, state, result, fault]) s.addEventListener('change', restart);
  next.addEventListener('click', () => {
    if (nextCursor === undefined) return;
    cursor = nextCursor;
    void load();
  });
  first.addEventListener('click', restart);

  const off = ctx.live.on((event, data) => {
    if (event === 'hello') reload();
    if (event !== 'devices') return;
    const d = data as { changed: number; ids: string[] };
    // this page holds the ids after `cursor` up to its last row (or all the rest, on the last page): a change of an
    // id in that span may add, change or drop a row; more changes than the event names may too
    const last = nextCursor === undefined ? undefined : [...shown].pop();
    const onPage = (id: string) => shown.has(id) || (id > cursor && (last === undefined || id < last));
    if (d.changed > d.ids.length || d.ids.some(onPage)) reload();
  });

  replace(
    root,
    h('section', { class: 'devices' }, h('h2', {}, 'Devices'), h('div', { class: 'filters' }, field('Search', q), field('Presence', online), field('Device type', type), field('State', state), field('Update result', result), field('Faults', fault)), summary, error),
    h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, ...['Device', 'Presence', 'Firmware', 'Type', 'State', 'Update result', 'Faults', 'Last seen'].map((t) => h('th', {}, t)))), body),
    h('div', { class: 'pager' }, first, next),
  );
  void load();
  return () => {
    off();
    reload.cancel();
    clearTimeout(typing);
  };
};
