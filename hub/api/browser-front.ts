// What the HTTP API hands to the web dashboard (hub/dashboard/dashboard.ts implements it): its own pages, browser
// sessions as a second way to authenticate, the live event stream and the device inventory. Types only.

import type { IncomingMessage, ServerResponse } from 'node:http';

export interface BrowserFront {
  /** the dashboard answers this path ("/", "/ui/…"), not the API */
  owns(path: string): boolean;
  /** answers a path it owns (login, pages, assets); does its own authentication */
  serve(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void>;
  /**
   * True when the request carries a session cookie that passes the CSRF checks; false when it carries none.
   * Throws ApiError 401 (unknown or expired session) or 403 (another origin, no CSRF token).
   */
  session(req: IncomingMessage): boolean;
  /** GET /v1/events (already authenticated): the live event stream */
  events(req: IncomingMessage, res: ServerResponse, url: URL): void;
  /** GET /v1/inventory: a page of devices; throws ApiError 400 for bad parameters */
  inventory(query: URLSearchParams): unknown;
}
