import { isIP } from 'node:net';

/**
 * The address a request comes from, for rate limits and logs. Only a well-formed IP address is
 * ever returned (a closed character set: digits, hex letters, `.` and `:`), so nothing a client
 * writes into `X-Forwarded-For` reaches a log line or a counter key as text.
 */

/**
 * An IP address as a socket or a proxy writes it, normalized: `[v6]:port` and `v4:port` lose the
 * port, a zone (`%eth0`) is dropped, IPv6 is lower-cased, and an IPv4-mapped IPv6 address
 * (`::ffff:192.0.2.1`, what a dual-stack socket reports) becomes the IPv4 address.
 * @returns `null` when the text is not an IP address (`unknown`, an obfuscated RFC 7239 name, junk).
 */
export function parseAddress(text: string): string | null {
  let s = text.trim();
  if (s.length === 0 || s.length > 64) return null;
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(s);
  if (bracketed) s = bracketed[1]!;
  else if (/^\d{1,3}(?:\.\d{1,3}){3}:\d{1,5}$/.test(s)) s = s.slice(0, s.lastIndexOf(':'));
  const zone = s.indexOf('%');
  if (zone !== -1) s = s.slice(0, zone);
  switch (isIP(s)) {
    case 4:
      return s;
    case 6: {
      s = s.toLowerCase();
      const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(s);
      return mapped && isIP(mapped[1]!) === 4 ? mapped[1]! : s;
    }
    default:
      return null;
  }
}

/**
 * The client's address. Without trusted proxies (`trustedHops` 0) it is the socket's peer and
 * `X-Forwarded-For` is ignored. Behind `trustedHops` proxies, each appending the address it was
 * contacted from, it is the entry `trustedHops` from the right: with one proxy the right-most
 * entry, which that proxy added. Entries further left were written by the client and are never
 * used (a client can put any text there). With fewer entries than hops, every entry was added by
 * a trusted proxy and the left-most one is taken. An entry that is not an IP address, or no
 * header at all, gives the socket's peer.
 */
export function clientAddress(
  socketAddress: string | undefined,
  forwardedFor: string | readonly string[] | undefined,
  trustedHops: number,
): string | null {
  const peer = socketAddress === undefined ? null : parseAddress(socketAddress);
  if (trustedHops <= 0 || forwardedFor === undefined) return peer;
  // Node joins repeated X-Forwarded-For headers with ", "; join an array the same way.
  const entries = (typeof forwardedFor === 'string' ? forwardedFor : forwardedFor.join(',')).split(',');
  const entry = entries[Math.max(0, entries.length - trustedHops)]!;
  return parseAddress(entry) ?? peer;
}

/** The 16-bit groups of a valid IPv6 address, eight of them (an embedded IPv4 tail becomes two). */
function ipv6Groups(ip: string): number[] {
  let s = ip;
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    s = `${s.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...zeros, ...t].map((g) => Number.parseInt(g, 16));
}

/**
 * What rate limits count by: an IPv4 address as it is, an IPv6 address by its /64 prefix (one
 * host usually holds a whole /64, and would otherwise get a fresh counter per address).
 */
export function addressBucket(ip: string): string {
  if (!ip.includes(':')) return ip;
  return `${ipv6Groups(ip)
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}
