// Shared by agent and hub: how a URL may appear in logs, errors and on the wire (no credentials, no query:
// signed package URLs carry their secret in the query string).

/** scheme://host[:port]/path, without user info, query or fragment. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}
