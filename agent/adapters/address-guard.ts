// Which addresses a package download may connect to: never link-local or cloud metadata addresses, whatever
// names, redirects or DNS answers lead there (a redirect to http://169.254.169.254/ would let a package server read
// the device's cloud credentials through the agent: SSRF). Checked on IP literals in URLs and on every DNS answer.

import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { FotaError } from '../core/errors.js';

/**
 * 169.254.0.0/16 (IPv4 link-local, RFC 3927: AWS/GCP/Azure/OpenStack metadata at 169.254.169.254, ECS at
 * 169.254.170.2) and fe80::/10 (IPv6 link-local), plus the metadata services outside them: AWS's IPv6 IMDS
 * fd00:ec2::254 and Alibaba Cloud's 100.100.100.200. IPv4-mapped IPv6 (::ffff:a.b.c.d) is matched against the IPv4
 * rules by BlockList itself; the deprecated IPv4-compatible form (::a.b.c.d, RFC 4291 §2.5.5.1) and the NAT64
 * well-known prefix 64:ff9b::/96 (RFC 6052) reach the same hosts, so they are listed too.
 */
const REFUSED = new BlockList();
REFUSED.addSubnet('169.254.0.0', 16, 'ipv4');
REFUSED.addAddress('100.100.100.200', 'ipv4');
REFUSED.addSubnet('fe80::', 10, 'ipv6');
REFUSED.addAddress('fd00:ec2::254', 'ipv6');
REFUSED.addSubnet('::a9fe:0', 112, 'ipv6');
REFUSED.addSubnet('64:ff9b::a9fe:0', 112, 'ipv6');
REFUSED.addAddress('::6464:64c8', 'ipv6');
REFUSED.addAddress('64:ff9b::6464:64c8', 'ipv6');

/** True when `address` (an IP literal, IPv6 without brackets) is link-local or a metadata address. */
export function isRefusedAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return REFUSED.check(address.split('%')[0] as string, family === 4 ? 'ipv4' : 'ipv6');
}

function refused(host: string, address: string, where: string): FotaError {
  const what = host === address ? `${where} points to ${address}` : `${where}: ${host} resolves to ${address}`;
  return new FotaError('invalid-uri', `${what}, a link-local or cloud metadata address; the agent never downloads from there (it could expose the device's credentials)`);
}

/** Throws FotaError('invalid-uri') when the URL's host is a refused IP literal; `where` names the URL for the message. */
export function checkHostLiteral(url: URL, where: string): void {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isRefusedAddress(host)) throw refused(host, host, where);
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;
export type Lookup = (hostname: string, options: LookupOptions, callback: LookupCallback) => void;

/**
 * A `lookup` for http.request that fails when any answer is a refused address (all of them are checked: with
 * `all: true` Node may try each in turn). `where` names the URL for the message.
 */
export function guardedLookup(where: string, lookup: Lookup = dnsLookup as unknown as Lookup): Lookup {
  return (hostname, options, callback) => {
    lookup(hostname, options, (err, address, family) => {
      if (err) return callback(err, address, family);
      const all = Array.isArray(address) ? address.map((a) => a.address) : [address];
      const bad = all.find(isRefusedAddress);
      if (bad !== undefined) return callback(refused(hostname, bad, where) as unknown as NodeJS.ErrnoException, address, family);
      callback(null, address, family);
    });
  };
}
