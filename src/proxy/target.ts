import { BlockList, isIP, isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';

/** A CONNECT target or listen address: host (lower case, no brackets, no final dot) and port. */
export interface HostPort {
  host: string;
  port: number;
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** A DNS name or IP literal as the proxy compares them: lower case, without one final dot. */
export function normalHost(host: string): string | undefined {
  const lower = host.toLowerCase();
  if (isIP(lower)) return lower;
  const name = lower.endsWith('.') ? lower.slice(0, -1) : lower;
  if (name.length > 253 || !name.split('.').every((label) => LABEL.test(label))) return undefined;
  if (/^[0-9.]+$/.test(name)) return undefined; // looks like IPv4 but is not one
  return name;
}

/**
 * `host:port` (IPv6 in brackets) → its parts, or undefined when either is malformed: the
 * CONNECT request-target (RFC 9110 authority-form) and the listen setting (port 0: any free
 * one) share this syntax.
 */
export function parseHostPort(text: string, lowestPort = 1): HostPort | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(text);
  if (!match) return undefined;
  const bracketed = match[1];
  if (bracketed !== undefined && isIP(bracketed) !== 6) return undefined;
  const host = normalHost(bracketed ?? match[2]!);
  const port = Number(match[3]);
  if (!host || port < lowestPort || port > 65_535) return undefined;
  return { host, port };
}

export const formatHostPort = ({ host, port }: HostPort): string => `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;

/** Addresses a tunnel may not reach unless allowed: this machine, private networks, link-local (cloud metadata). */
const PRIVATE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 127], // unspecified and loopback
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv6');
}

/** The IPv4 address inside an IPv4-mapped IPv6 one (::ffff:1.2.3.4), else the address itself. */
function unmapped(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

export function isPrivateAddress(address: string): boolean {
  const plain = unmapped(address);
  return PRIVATE.check(plain, isIPv4(plain) ? 'ipv4' : 'ipv6');
}

/** The addresses of this machine's interfaces, as they are now. */
export function interfaceAddresses(): Set<string> {
  const own = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const entry of list ?? []) own.add(unmapped(entry.address).toLowerCase());
  }
  return own;
}

/**
 * True when `address` is one of this machine's: loopback, unspecified, or on one of its interfaces
 * (`interfaces`, read once by a caller that asks about several addresses).
 */
export function isOwnAddress(address: string, interfaces: Set<string> = interfaceAddresses()): boolean {
  const plain = unmapped(address).toLowerCase();
  if (/^127\./.test(plain) || plain === '::1' || plain === '0.0.0.0' || plain === '::') return true;
  return interfaces.has(plain);
}
