// Loopback addresses and Host headers: a hub without a token serves only loopback clients, and only requests that
// name it by a loopback address (a DNS name rebound to 127.0.0.1 by a web page is not one). Pure: no IO.

import { isIP } from 'node:net';

/** True for 127.0.0.0/8, ::1, ::ffff:127.x and "localhost". */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** The Host header names the hub by a loopback address (not a rebound DNS name). */
export function hostIsLoopback(hostHeader: string | undefined): boolean {
  if (hostHeader === undefined) return true; // HTTP/1.0 clients; a browser always sends Host
  const name = hostHeader.startsWith('[') ? hostHeader.slice(0, hostHeader.indexOf(']') + 1) : (hostHeader.split(':')[0] ?? '');
  return isLoopback(name);
}
