// The dashboard's entry point (bundled to dist/dashboard/app.js): routes #devices, #jobs[/ID], #history, #new to
// their views, keeps one live event stream, and logs out. Loaded as an ES module by the page the hub serves.

import './app.css';
import { apiHeaders } from './api.js';
import { devicesView } from './devices-view.js';
import { historyView } from './history-view.js';
import { jobsView } from './jobs-view.js';
import { Live } from './live.js';
import { newJobView } from './new-job-view.js';
import type { View } from './view.js';

const VIEWS: Record<string, View> = { devices: devicesView, jobs: jobsView, history: historyView, new: newJobView };

function start(): void {
  const root = document.getElementById('view');
  const indicator = document.getElementById('live');
  if (!root || !indicator) return;
  const live = new Live((text, ok) => {
    indicator.textContent = text;
    indicator.className = `live ${ok ? 'ok' : 'down'}`;
  });
  let unmount: (() => void) | undefined;
  const route = () => {
    const [name = 'devices', ...args] = location.hash.replace(/^#/, '').split('/').map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return '';
      }
    });
    const view = VIEWS[name] ?? devicesView;
    unmount?.();
    for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a')) a.classList.toggle('active', a.dataset['view'] === (VIEWS[name] ? name : 'devices'));
    unmount = view(root as HTMLElement, { live, args, navigate: (hash) => (location.hash = hash) });
  };
  window.addEventListener('hashchange', route);
  document.getElementById('logout')?.addEventListener('click', () => {
    void fetch('/ui/logout', { method: 'POST', headers: apiHeaders(), credentials: 'same-origin' }).finally(() => location.assign('/ui/'));
  });
  // the jobs view follows its job's children instead while it is shown
  live.follow('');
  route();
}

start();
