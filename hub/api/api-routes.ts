// The routes of the hub's HTTP API (/v1/…) and their handlers: request shape checks, then one call into the
// JobServiceApi. No node:http here: the server (http-api.ts) hands in the method, path, query and body reader.

import { isValidEndpoint } from '../../protocol/topics.js';
import { CHILD_ID_SEPARATOR, JOB_TYPES, PARENT_ID_RE } from '../jobs/job-model.js';
import { DEFAULT_CHILDREN_PAGE, MAX_CHILDREN_PAGE } from '../jobs/job-detail.js';
import { parseJobQuery, QueryError } from '../jobs/job-query.js';
import type { ChildrenPage, JobServiceApi, ScheduleRequest } from '../jobs/job-service-api.js';
import { ApiError } from './api-errors.js';
import { listParamsToQuery } from './list-params.js';

/** What the server knows about a request when it dispatches it. */
export interface ApiRequest {
  method: string;
  /** the raw (still percent-encoded) path, without the query string */
  path: string;
  query: URLSearchParams;
  /** reads the body as JSON (undefined when empty); throws ApiError 400/413 */
  readBody(): Promise<unknown>;
}
export interface ApiAnswer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}
interface RouteEnv {
  service: JobServiceApi;
  version: string;
  /** GET /v1/inventory, when the hub keeps a device inventory (the dashboard's) */
  inventory?: (query: URLSearchParams) => unknown;
}
type Handler = (req: ApiRequest, env: RouteEnv, id: string) => Promise<ApiAnswer> | ApiAnswer;
interface Route {
  /** path segments after "/v1/"; ":id" matches one job id */
  segments: string[];
  methods: Partial<Record<'GET' | 'POST', Handler>>;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** True for a parent id ("fw-1") or a child id ("fw-1~dev-7"). */
export function isJobId(id: string): boolean {
  const cut = id.indexOf(CHILD_ID_SEPARATOR);
  if (cut < 0) return PARENT_ID_RE.test(id);
  return PARENT_ID_RE.test(id.slice(0, cut)) && isValidEndpoint(id.slice(cut + 1));
}

function decodeJobId(raw: string): string {
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    throw new ApiError(400, 'invalid-job', `"${raw.slice(0, 80)}" is not a valid percent-encoded job id`);
  }
  if (!isJobId(id)) {
    throw new ApiError(400, 'invalid-job', `${JSON.stringify(id.slice(0, 80))} is not a job id: a parent id is 1-64 characters A-Z a-z 0-9 . _ : -, a child id is PARENT~DEVICE`);
  }
  return id;
}

/** Checks the shape of a POST /v1/jobs body; the service checks the values (ids, parameters). */
export function parseScheduleRequest(body: unknown): ScheduleRequest {
  const allowed = ['jobId', 'type', 'deviceIds', 'parameters'];
  if (!isObj(body)) throw new ApiError(400, 'invalid-request', 'the body must be a JSON object { jobId, type, deviceIds, parameters }');
  for (const k of Object.keys(body)) {
    if (!allowed.includes(k)) throw new ApiError(400, 'invalid-request', `unknown field "${k}" (allowed: ${allowed.join(', ')})`);
  }
  const { jobId, type, deviceIds, parameters } = body;
  if (typeof jobId !== 'string') throw new ApiError(400, 'invalid-request', 'jobId must be a string such as "fw-2024-06-rollout"');
  if (typeof type !== 'string' || !(JOB_TYPES as readonly string[]).includes(type)) {
    throw new ApiError(400, 'invalid-job', `type must be one of ${JOB_TYPES.join(', ')} (got ${JSON.stringify(type) ?? 'nothing'})`);
  }
  if (!Array.isArray(deviceIds) || deviceIds.some((d) => typeof d !== 'string')) {
    throw new ApiError(400, 'invalid-request', 'deviceIds must be an array of device id strings');
  }
  if (!isObj(parameters)) throw new ApiError(400, 'invalid-request', 'parameters must be an object such as { "timeoutSeconds": 300 }');
  return { jobId, type: type as ScheduleRequest['type'], deviceIds: deviceIds as string[], parameters: parameters as unknown as ScheduleRequest['parameters'] };
}

/**
 * GET /v1/jobs/:id?children=N&cursor=C (or &order=attention): which children to send. Throws ApiError (unknown
 * parameter), QueryError (bad value).
 */
export function parseChildrenPage(params: URLSearchParams, id: string): ChildrenPage {
  for (const name of new Set(params.keys())) {
    if (name !== 'children' && name !== 'cursor' && name !== 'order') throw new ApiError(400, 'invalid-request', `unknown query parameter "${name}" (use children, cursor, order)`);
  }
  const order = params.get('order') ?? 'created';
  if (order !== 'created' && order !== 'attention') throw new QueryError('order', `must be created (creation order, paged) or attention (running, failed, queued, cancelled, completed first; got '${order.slice(0, 20)}')`);
  const raw = params.get('children');
  if (raw !== null && !/^\d{1,7}$/.test(raw)) throw new QueryError('children', `must be an integer 0..${MAX_CHILDREN_PAGE}: how many children to send (0: only their counts; got '${raw.slice(0, 20)}')`);
  const size = raw === null ? DEFAULT_CHILDREN_PAGE : Number(raw);
  const more = `for more, follow nextPage: GET /v1/jobs/${encodeURIComponent(id)}?children=${MAX_CHILDREN_PAGE}&cursor=NEXTPAGE`;
  if (size > MAX_CHILDREN_PAGE) throw new QueryError('children', `at most ${MAX_CHILDREN_PAGE} per answer (got ${size}); ${more}`);
  const cursor = params.get('cursor');
  if (order === 'attention') {
    if (cursor !== null) throw new QueryError('cursor', 'does not go with order=attention (one view of the job; page in creation order instead)');
    return { size, order };
  }
  if (cursor === null || cursor === '') return { size };
  if (size === 0) throw new QueryError('cursor', 'goes with children=1 or more (children=0 sends only the counts)');
  return { size, cursor };
}

const ROUTES: Route[] = [
  {
    segments: ['health'],
    methods: {
      GET: (_r, env) => {
        const h = env.service.health();
        if (h.ok) return { status: 200, body: { ...h, version: env.version } };
        // 503 so that probes (curl -f, load balancers, systemd) see it; the body still says what is wrong
        const why = [!h.broker.connected ? `no connection to the broker since ${h.broker.since}` : '', !h.database.writable ? `the job database has been locked by another process for ${h.database.lockedSeconds} s` : ''].filter(Boolean).join('; ');
        return { status: 503, body: { ...h, version: env.version, error: { code: 'unavailable', message: `the hub cannot work now: ${why}` } }, headers: { 'Retry-After': '5' } };
      },
    },
  },
  { segments: ['devices'], methods: { GET: (_r, env) => ({ status: 200, body: env.service.devices() }) } },
  {
    segments: ['inventory'],
    methods: {
      GET: (req, env) => {
        if (!env.inventory) throw new ApiError(404, 'not-found', 'this hub keeps no device inventory; GET /v1/devices lists the devices');
        return { status: 200, body: env.inventory(req.query) };
      },
    },
  },
  {
    segments: ['jobs'],
    methods: {
      GET: (req, env) => ({ status: 200, body: env.service.query(parseJobQuery(listParamsToQuery(req.query))) }),
      POST: async (req, env) => {
        const job = env.service.schedule(parseScheduleRequest(await req.readBody()));
        return { status: 201, body: job, headers: { Location: `/v1/jobs/${encodeURIComponent(job.JobId)}` } };
      },
    },
  },
  // before ":id": POST /v1/jobs/query is the query; GET /v1/jobs/query still reads a job named "query"
  { segments: ['jobs', 'query'], methods: { POST: async (req, env) => ({ status: 200, body: env.service.query(parseJobQuery(await req.readBody())) }) } },
  {
    segments: ['jobs', ':id'],
    methods: {
      GET: (req, env, id) => {
        const detail = env.service.get(id, parseChildrenPage(req.query, id));
        if (!detail) throw new ApiError(404, 'not-found', `job ${id} does not exist`);
        return { status: 200, body: detail };
      },
    },
  },
  {
    segments: ['jobs', ':id', 'cancel'],
    methods: {
      POST: async (req, env, id) => {
        const body = await req.readBody();
        if (body !== undefined && !(isObj(body) && Object.keys(body).length === 0)) throw new ApiError(400, 'invalid-request', 'cancel takes no body (or {})');
        return { status: 200, body: env.service.cancel(id) };
      },
    },
  },
];

function matches(route: Route, parts: string[]): boolean {
  return route.segments.length === parts.length && route.segments.every((s, i) => (s === ':id' ? parts[i] !== '' : s === parts[i]));
}

/**
 * Finds the route for `req` and runs it. Throws ApiError 404 (unknown path), 405 (with Allow), 400 (bad id),
 * and whatever the handler throws (ApiError, QueryError, JobStoreError, or a bug).
 */
export async function dispatch(req: ApiRequest, env: RouteEnv): Promise<ApiAnswer> {
  const parts = req.path.startsWith('/v1/') ? req.path.slice(4).split('/') : undefined;
  const found = parts ? ROUTES.filter((r) => matches(r, parts)) : [];
  if (!parts || found.length === 0) throw new ApiError(404, 'not-found', `no route ${req.method} ${req.path.slice(0, 200)}; the API lives under /v1/ (see docs/hub-api.md)`);
  const method = req.method === 'HEAD' ? 'GET' : req.method;
  const route = found.find((r) => Object.hasOwn(r.methods, method));
  const handler = route?.methods[method as 'GET' | 'POST'];
  if (!route || !handler) {
    const allow = [...new Set(found.flatMap((r) => Object.keys(r.methods)))].join(', ');
    throw new ApiError(405, 'method-not-allowed', `${req.method} is not allowed on ${req.path}; use ${allow}`, { Allow: allow });
  }
  const idAt = route.segments.indexOf(':id');
  const id = idAt < 0 ? '' : decodeJobId(parts[idAt] as string);
  return handler(req, env, id);
}
