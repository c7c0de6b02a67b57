// JobClient: the hub's device-jobs API for scripts and the `fota job` CLI, over node:http/https (not the global
// fetch, which prints an ExperimentalWarning on Node 18). Every failure is a JobClientError with a stable code.

import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { JsonValue } from '../protocol/messages.js';
import type { JobParameters, JobRecord, JobType } from './jobs/job-model.js';
import { MAX_PAGE_SIZE, type Operator, type PropertyName } from './jobs/job-query.js';
import type { DeviceSummary, HubHealth, JobDetail, ScheduleRequest } from './jobs/job-service-api.js';
import type { JobPage } from './jobs/job-store.js';

/** Default device timeout of a firmware update: 25 minutes (download + install + reboot on a slow link). */
export const DEFAULT_FIRMWARE_TIMEOUT_SECONDS = 1500;
/** Default device timeout of every other job type: 5 minutes. */
export const DEFAULT_TIMEOUT_SECONDS = 300;
/** Default time one HTTP request to the hub may take. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export interface JobClientOptions {
  /** the hub, e.g. "http://127.0.0.1:8640" (a path prefix is kept: "https://gw/fota" → "https://gw/fota/v1/…") */
  url: string;
  /** bearer token (the hub's FOTA_HUB_TOKEN) */
  token?: string;
  /** per request, in ms (default 30 s) */
  requestTimeoutMs?: number;
}
/** Rollout knobs for the parent job (see docs/jobs.md). */
export interface RolloutOptions {
  /** at most this many devices at once (>= 1) */
  maxInFlight?: number;
  /** stop starting devices once this share (0..1) of the finished ones failed */
  abortFailureRatio?: number;
}
type PropertyRef = PropertyName | { name: PropertyName; type?: 'default' | 'result' };
/** A filter in the query language's JSON form (docs/jobs.md). */
export type JobFilterJson =
  | { type: 'comparison'; property: PropertyRef; comparisonOperator: Operator; value: string | number | boolean | null }
  | { type: 'and' | 'or'; filters: JobFilterJson[] }
  | { type: 'not'; filter: JobFilterJson };
type SortJson = string | { property: PropertyName; order?: 'asc' | 'desc' };
/** A query in the JSON form POST /v1/jobs/query takes: all parts optional. */
export interface JobQueryJson {
  filter?: JobFilterJson;
  sort?: SortJson | SortJson[];
  page?: { size?: number; cursor?: string };
}

/**
 * What every JobClient method rejects with. `status` is the HTTP status (0 when no answer arrived);
 * `code` is the API's error code (docs/hub-api.md) or one of the client's own: hub-unreachable, timeout,
 * bad-response, invalid-url.
 */
export class JobClientError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'JobClientError';
  }
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE']);

export class JobClient {
  private readonly base: URL;
  private readonly agent: HttpAgent;
  private readonly timeoutMs: number;

  /** Throws JobClientError('invalid-url') unless `url` is an http:// or https:// URL. */
  constructor(private readonly opts: JobClientOptions) {
    let base: URL | undefined;
    try {
      base = new URL(opts.url);
    } catch {
      base = undefined;
    }
    if (!base || (base.protocol !== 'http:' && base.protocol !== 'https:')) {
      throw new JobClientError(0, 'invalid-url', `hub URL ${JSON.stringify(opts.url)} is not an http:// or https:// URL (e.g. http://127.0.0.1:8640)`);
    }
    this.base = base;
    // keep-alive: `fota job --wait` polls once a second; idle sockets do not hold the process open
    this.agent = base.protocol === 'https:' ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
    this.timeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  /** Schedules any job type. Rejects with JobClientError (400 invalid-job, 409 duplicate-job, …). */
  schedule(req: ScheduleRequest): Promise<JobRecord> {
    return this.call<JobRecord>('POST', '/v1/jobs', req);
  }

  /** Writes `packageUri` to /5/0/1 of every device and follows the update. Default timeout 1500 s per device. */
  scheduleFirmwareUpdate(jobId: string, deviceIds: string[], packageUri: string, timeoutSeconds = DEFAULT_FIRMWARE_TIMEOUT_SECONDS, opts: RolloutOptions = {}): Promise<JobRecord> {
    return this.scheduleType('firmware-update', jobId, deviceIds, { packageUri }, timeoutSeconds, opts);
  }
  /** Reboots every device (/3/0/4). Default timeout 300 s. */
  scheduleReboot(jobId: string, deviceIds: string[], timeoutSeconds = DEFAULT_TIMEOUT_SECONDS, opts: RolloutOptions = {}): Promise<JobRecord> {
    return this.scheduleType('reboot', jobId, deviceIds, {}, timeoutSeconds, opts);
  }
  /** Factory-resets every device (/3/0/5). Default timeout 300 s. */
  scheduleFactoryReset(jobId: string, deviceIds: string[], timeoutSeconds = DEFAULT_TIMEOUT_SECONDS, opts: RolloutOptions = {}): Promise<JobRecord> {
    return this.scheduleType('factory-reset', jobId, deviceIds, {}, timeoutSeconds, opts);
  }
  /** Writes agent configuration keys on every device. Default timeout 300 s. */
  scheduleConfigurationUpdate(jobId: string, deviceIds: string[], config: Record<string, JsonValue>, timeoutSeconds = DEFAULT_TIMEOUT_SECONDS, opts: RolloutOptions = {}): Promise<JobRecord> {
    return this.scheduleType('configuration-update', jobId, deviceIds, { config }, timeoutSeconds, opts);
  }
  /** Reads LwM2M paths ("/3/0/3") from every device; each child's `Values` holds the answers. Default timeout 300 s. */
  scheduleDevicePropertyRead(jobId: string, deviceIds: string[], paths: string[], timeoutSeconds = DEFAULT_TIMEOUT_SECONDS, opts: RolloutOptions = {}): Promise<JobRecord> {
    return this.scheduleType('read-device-properties', jobId, deviceIds, { paths }, timeoutSeconds, opts);
  }
  /** Writes LwM2M resources (path → value) on every device. Default timeout 300 s. */
  scheduleDevicePropertyWrite(jobId: string, deviceIds: string[], values: Record<string, JsonValue>, timeoutSeconds = DEFAULT_TIMEOUT_SECONDS, opts: RolloutOptions = {}): Promise<JobRecord> {
    return this.scheduleType('write-device-properties', jobId, deviceIds, { values }, timeoutSeconds, opts);
  }

  /** Cancels a parent (all its pending and running devices) or one child. Rejects 404 not-found. */
  cancelJob(jobId: string): Promise<JobRecord> {
    return this.call<JobRecord>('POST', `/v1/jobs/${encodeURIComponent(jobId)}/cancel`);
  }
  /**
   * A job, its children's counts per status and one page of its children (`children`: how many, 0..1000, default
   * 100; `cursor`: the previous answer's nextPage). Rejects 404 not-found, 400 invalid-query.
   */
  getJob(jobId: string, page: { children?: number; cursor?: string; order?: 'created' | 'attention' } = {}): Promise<JobDetail> {
    const q = new URLSearchParams();
    if (page.children !== undefined) q.set('children', String(page.children));
    if (page.cursor !== undefined) q.set('cursor', page.cursor);
    if (page.order !== undefined) q.set('order', page.order);
    const qs = q.toString() === '' ? '' : `?${q.toString()}`;
    return this.call<JobDetail>('GET', `/v1/jobs/${encodeURIComponent(jobId)}${qs}`);
  }
  /** A job with every one of its children, 1000 a request: O(children) on both sides, for a one-off look (not a poll). */
  async getJobWithAllChildren(jobId: string): Promise<JobDetail> {
    const first = await this.getJob(jobId, { children: MAX_PAGE_SIZE });
    const children = first.children;
    for (let cursor = first.nextPage; cursor !== undefined; ) {
      const next = await this.getJob(jobId, { children: MAX_PAGE_SIZE, cursor });
      children.push(...next.children);
      cursor = next.nextPage;
    }
    return { job: first.job, counts: first.counts, children };
  }
  /** One page of jobs matching `query`; pass `nextPage` back as page.cursor. Rejects 400 invalid-query. */
  queryJobHistory(query: JobQueryJson = {}): Promise<JobPage> {
    return this.call<JobPage>('POST', '/v1/jobs/query', query);
  }
  /** The devices the hub knows. */
  devices(): Promise<DeviceSummary[]> {
    return this.call<DeviceSummary[]>('GET', '/v1/devices');
  }
  /** The hub's liveness and version (needs no token). */
  /** The hub's health; rejects with JobClientError 503 'unavailable' while it has no broker or a locked database. */
  health(): Promise<HubHealth & { version: string }> {
    return this.call('GET', '/v1/health');
  }
  /** Drops idle keep-alive connections. The client stays usable. */
  close(): void {
    this.agent.destroy();
  }

  private scheduleType(type: JobType, jobId: string, deviceIds: string[], own: Partial<JobParameters>, timeoutSeconds: number, opts: RolloutOptions): Promise<JobRecord> {
    const parameters: JobParameters = { ...own, timeoutSeconds };
    if (opts.maxInFlight !== undefined) parameters.maxInFlight = opts.maxInFlight;
    if (opts.abortFailureRatio !== undefined) parameters.abortFailureRatio = opts.abortFailureRatio;
    return this.schedule({ jobId, type, deviceIds, parameters });
  }

  private call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const url = new URL(this.base.href.replace(/\/+$/, '') + path);
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    const headers: Record<string, string | number> = { Accept: 'application/json' };
    if (data) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': data.length });
    if (this.opts.token !== undefined) headers['Authorization'] = `Bearer ${this.opts.token}`;
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<T>((resolve, reject) => {
      const req = send(url, { method, headers, agent: this.agent, timeout: this.timeoutMs }, (res) => {
        readAll(res).then((text) => {
          try {
            resolve(interpret<T>(res.statusCode ?? 0, text, `${method} ${url.pathname}`));
          } catch (e) {
            reject(e);
          }
        }, (e: Error) => reject(new JobClientError(0, 'hub-unreachable', `the hub at ${this.base.origin} broke off its answer (${e.message}); try again`, { cause: e })));
      });
      req.on('timeout', () => req.destroy(new JobClientError(0, 'timeout', `the hub at ${this.base.origin} did not answer ${method} ${url.pathname} within ${this.timeoutMs / 1000} s`)));
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (e instanceof JobClientError) return reject(e);
        const why = e.code ?? e.message;
        const hint = UNREACHABLE.has(e.code ?? '') ? '; start it with `fota hub`, or point --hub / FOTA_HUB at the running hub' : '';
        reject(new JobClientError(0, 'hub-unreachable', `cannot reach the hub at ${this.base.origin} (${why})${hint}`, { cause: e }));
      });
      req.end(data);
    });
  }
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('connection closed mid-answer')));
  });
}

/** Turns an answer into the value, or throws the JobClientError its error body describes. */
function interpret<T>(status: number, text: string, what: string): T {
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (status >= 200 && status < 300) {
    if (body === undefined) throw new JobClientError(status, 'bad-response', `${what}: the hub answered ${status} without a JSON body; is --hub pointing at a fota hub?`);
    return body as T;
  }
  const err = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (err && typeof err.code === 'string' && typeof err.message === 'string') throw new JobClientError(status, err.code, err.message);
  throw new JobClientError(status, 'bad-response', `${what}: the hub answered HTTP ${status} without an API error; is --hub pointing at a fota hub?`);
}
