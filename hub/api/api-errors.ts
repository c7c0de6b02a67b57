// The HTTP API's error vocabulary: a stable `code` per failure and the mapping from what the job service
// throws (JobStoreError, QueryError) to an HTTP status. Pure: no IO.

import { JobStoreError, type JobStoreErrorCode } from '../jobs/job-model.js';
import { QueryError } from '../jobs/job-query.js';

/** Every `error.code` the API answers with. Stable strings: scripts match on them. */
export const API_ERROR_CODES = [
  'bad-json', // the body is not JSON
  'invalid-request', // the body or query string has the wrong shape (unknown or missing fields)
  'invalid-query', // the job query language refused the query (QueryError)
  'invalid-job', // the job id, type, devices or parameters are invalid (JobStoreError invalid-job)
  'invalid-update', // the job cannot change that way any more (e.g. it already ended)
  'duplicate-job', // a job with this id exists
  'not-found', // no such job, or no such route
  'method-not-allowed',
  'payload-too-large', // body over MAX_BODY_BYTES
  'unauthorized', // missing or wrong bearer token
  'forbidden', // a browser request (Origin) or a foreign Host header to a hub without a token (CSRF, DNS rebinding)
  'storage', // the job database failed
  'busy', // another process holds the job database's lock: nothing changed, retry after Retry-After seconds
  'unavailable', // GET /v1/health: the hub has lost its broker or its database (the body says which)
  'internal', // a bug: see the hub log
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

/** An error the API turns into `{ error: { code, message } }` with `status`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
    /** extra response headers (Allow, WWW-Authenticate) */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const STORE_STATUS: Record<JobStoreErrorCode, number> = {
  'invalid-job': 400,
  'duplicate-job': 409,
  'not-found': 404,
  'invalid-update': 409,
  storage: 500,
  busy: 503,
};

/**
 * Maps anything a handler threw to an ApiError. `internal` (the caller logs the stack) for anything that is
 * not one of ours, with a message that says nothing about the code: stack traces never reach the client.
 */
export function toApiError(e: unknown): { error: ApiError; unexpected: boolean } {
  if (e instanceof ApiError) return { error: e, unexpected: false };
  if (e instanceof QueryError) return { error: new ApiError(400, 'invalid-query', e.message), unexpected: false };
  if (e instanceof JobStoreError) {
    const status = STORE_STATUS[e.code] ?? 500;
    if (e.code === 'busy') return { error: new ApiError(status, 'busy', e.message, { 'Retry-After': '5' }), unexpected: false };
    // storage messages name the failing operation, not the stack; still logged in full by the caller
    return { error: new ApiError(status, e.code, e.message), unexpected: status >= 500 };
  }
  return { error: new ApiError(500, 'internal', 'internal error in the hub; the hub log has the details'), unexpected: true };
}

/** The JSON body of an error answer. */
export function errorBody(e: ApiError): { error: { code: ApiErrorCode; message: string } } {
  return { error: { code: e.code, message: e.message } };
}
