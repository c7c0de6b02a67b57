// The hub's HTTP API as the dashboard calls it: same-origin fetch with the session cookie and the page's CSRF token
// (a header no other origin can set), JSON in and out. A lost session reloads the page (the login form).

export class HubError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HubError';
  }
}

/** The CSRF token the hub put into the page (<meta name="fota-csrf">). */
export function csrfToken(): string {
  return document.querySelector<HTMLMetaElement>('meta[name="fota-csrf"]')?.content ?? '';
}

/** The headers every API request of the dashboard carries. */
export function apiHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return { 'X-CSRF-Token': csrfToken(), Accept: 'application/json', ...extra };
}

/** Calls the API; resolves with the JSON answer, rejects with HubError (the API's code and message). */
export async function api<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      cache: 'no-store',
      headers: apiHeaders(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    throw new HubError(0, 'hub-unreachable', 'the hub does not answer (stopped, or the network is down)');
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (res.status === 401) {
    // the session ended (expired, or the hub restarted): the page shows the login form again
    location.reload();
    throw new HubError(401, 'unauthorized', 'the session has ended: log in again');
  }
  if (!res.ok) {
    const err = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new HubError(res.status, err?.code ?? 'http', err?.message ?? `the hub answered ${res.status}`);
  }
  return json as T;
}
