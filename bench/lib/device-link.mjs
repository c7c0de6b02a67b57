// The benchmark's hub side: the project's own HubLink (hub/hub-link.ts, bundled by esbuild into the work folder,
// since a plain .mjs cannot import .ts) observing one device's Object 5 instance and timing state changes.
// Times are performance.now() in this process, taken when the notification arrives.

import { build } from 'esbuild';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const STATE = '3';
const RESULT = '5';
const RESULT_REASON = '26242';

/** Bundles hub/hub-link.ts (with mqtt) into `outDir` and returns the HubLink class. */
async function loadHubLink(repoRoot, outDir) {
  const outfile = path.join(outDir, 'hub-link.mjs');
  await build({
    entryPoints: [path.join(repoRoot, 'hub/hub-link.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node18',
    logLevel: 'warning',
    // mqtt has CommonJS parts that call require(): give the ESM bundle one (as scripts/build.mjs does)
    banner: { js: "import { createRequire as __benchRequire } from 'node:module'; const require = __benchRequire(import.meta.url);" },
  });
  return (await import(pathToFileURL(outfile).href)).HubLink;
}

/**
 * One device seen from the hub. `state`/`result` follow /5/0 notifications; `waitFor(pred, ms)` resolves with
 * { at, value } (at = performance.now() when the matching notification arrived) or rejects after `ms`.
 */
export class DeviceLink {
  static async open({ repoRoot, workDir, broker, id }) {
    const HubLink = await loadHubLink(repoRoot, workDir);
    const link = await HubLink.connect({ url: broker, prefix: 'lwm2m', clientId: `update-bench-${process.pid}` });
    return new DeviceLink(link, id);
  }

  constructor(link, id) {
    this.link = link;
    this.id = id;
    this.value = undefined;
    this.waiters = new Set();
    this.registrations = 0;
    link.on({
      notification: (ep, n) => {
        if (ep === this.id && n.token === this.token) this.#update(n.value);
      },
      registration: (ep, reg) => {
        // a retained Update counts as well: a device that has run for a while republishes its registration
        if (ep === this.id) this.#fire({ registration: reg });
      },
    });
  }

  get state() {
    return this.value?.[STATE];
  }
  get result() {
    return this.value?.[RESULT];
  }
  get reason() {
    return this.value?.[RESULT_REASON] ?? '';
  }

  #update(value) {
    if (value && typeof value === 'object') this.value = value;
    this.#fire({ value: this.value });
  }

  #fire(event) {
    const at = performance.now();
    for (const w of [...this.waiters]) w(event, at);
  }

  /** Resolves when `pred(event)` is true for an incoming event ({ value } or { registration }). */
  waitFor(pred, ms, what) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`timed out after ${ms / 1000} s waiting for ${what} (state ${this.state}, result ${this.result}${this.reason ? `: ${this.reason}` : ''})`));
      }, ms);
      const w = (event, at) => {
        let hit;
        try {
          hit = pred(event);
        } catch (e) {
          hit = e;
        }
        if (!hit) return;
        clearTimeout(timer);
        this.waiters.delete(w);
        if (hit instanceof Error) reject(hit);
        else resolve({ at, ...event });
      };
      this.waiters.add(w);
    });
  }

  /** Waits for the device's registration (a retained one counts), then observes /5/0. */
  async ready(ms) {
    const registered = this.waitFor((e) => e.registration, ms, `device ${this.id} to register`);
    await this.link.follow(this.id);
    await registered;
    const res = await this.link.request(this.id, { op: 'observe', path: '/5/0' }, 10_000);
    if (!String(res.code).startsWith('2')) throw new Error(`observe /5/0 answered ${res.code} ${res.reason ?? ''}`);
    this.token = res.id;
    this.value = res.value;
  }

  /** Writes a resource; throws unless the device answers 2.xx. */
  async write(pathName, value) {
    const res = await this.link.request(this.id, { op: 'write', path: pathName, value }, 10_000);
    if (!String(res.code).startsWith('2')) throw new Error(`write ${pathName} answered ${res.code} ${res.reason ?? ''}`);
  }

  close() {
    return this.link.close();
  }
}
