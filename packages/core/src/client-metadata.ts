/**
 * Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, as the MCP
 * authorization spec uses them): a `client_id` that is an https URL names a JSON document at that
 * URL describing the client. Core fetches it with a size limit, a timeout, no redirects, no
 * private, loopback or link-local addresses (checked on the address actually connected to, so DNS
 * rebinding cannot get around it), and caches it within bounds. Such clients are public.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request } from 'node:https';
import { BlockList, isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import type { Client, GrantType } from './contract.js';

/** Options of Client ID Metadata Documents (`clientIdMetadataDocuments`). */
export interface ClientIdMetadataDocumentOptions {
  /** Resolve `client_id`s that are https URLs by fetching their metadata document. Default `false`. */
  enabled?: boolean;
  /** Allow private, loopback and link-local addresses (tests, closed networks only). Default `false`. */
  allowPrivateNetworks?: boolean;
  /** Largest document accepted, in bytes. Default 5120. */
  maxBytes?: number;
  /** Milliseconds for the whole fetch. Default 3000. */
  timeout?: number;
  /** Seconds a document is cached at least and at most, whatever its `Cache-Control` says. Default 60 and 86400; 300 without `max-age`. */
  cacheTtl?: { min?: number; max?: number };
  /**
   * Extra trusted CA certificates (PEM), e.g. a test or an internal CA: trusted besides Node's
   * bundled public CAs, so documents on publicly certified hosts still resolve.
   */
  ca?: string | readonly string[];
  /** Grant types such clients may use. Default `authorization_code`, `refresh_token`. */
  grantTypes?: readonly GrantType[];
  /**
   * Scopes such clients may ask for: a document's `scope` must be within them, and a document
   * without `scope` gets all of them. Default: `registration.scopes`, else the server's `scopes`;
   * without either, none (a document naming a scope is refused).
   */
  scopes?: readonly string[];
  /**
   * Longest client id resolved, in characters (1 to 2000). Default 255: what the stock bindings'
   * client id columns hold (`VARCHAR(255)` in binding-sequelize, and in binding-drizzle on MySQL), so the tokens
   * of such a client can be stored. A longer id is an unknown client, without a fetch. Raise it
   * only with stores whose client id columns take the longer ids.
   */
  maxIdLength?: number;
}

/** Resolved settings. */
export interface ClientIdMetadataDocumentSettings {
  readonly enabled: boolean;
  readonly allowPrivateNetworks: boolean;
  readonly maxBytes: number;
  readonly timeout: number;
  readonly cacheMin: number;
  readonly cacheMax: number;
  /** The extra CAs with Node's bundled ones (Node's `ca` replaces them), or `null` for the bundled only. */
  readonly ca: readonly string[] | null;
  readonly grantTypes: ReadonlySet<GrantType>;
  /** Scopes such clients may ask for; `null`: none. */
  readonly scopes: ReadonlySet<string> | null;
  readonly maxIdLength: number;
}

/** Why a document could not be used (for logs; never shown to the client beyond `invalid_client`). */
export class ClientMetadataError extends Error {
  override readonly name = 'ClientMetadataError';
}

/** Addresses never fetched from unless `allowPrivateNetworks` (one list per family: an IPv4 check also matches IPv4-mapped IPv6 rules). */
const BLOCKED_V4 = new BlockList();
const BLOCKED_V6 = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  BLOCKED_V4.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['::ffff:0:0', 96],
  ['64:ff9b::', 96],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  BLOCKED_V6.addSubnet(net, prefix, 'ipv6');
}

/** `true` for an address a metadata fetch must not reach. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  return family === 4 ? BLOCKED_V4.check(address, 'ipv4') : BLOCKED_V6.check(address, 'ipv6');
}

/**
 * `true` when `id` is a client id this feature resolves: https, a path, no fragment, no
 * credentials, no dot segments, at most 2000 characters.
 */
export function isMetadataDocumentId(id: string): boolean {
  if (!id.startsWith('https://') || id.length > 2000) return false;
  let u: URL;
  try {
    u = new URL(id);
  } catch {
    return false;
  }
  if (u.hash !== '' || id.includes('#') || u.username !== '' || u.password !== '') return false;
  if (u.pathname === '/' || u.pathname === '') return false;
  // The URL parser already removed `.` and `..` segments: the id must not have had any.
  if (u.href !== id) return false;
  return !/(^|\/)\.\.?(\/|$)/.test(id.slice(u.origin.length));
}

interface Cached {
  client: Client | null;
  until: number;
}

const MAX_ENTRIES = 1000;
/** Seconds a failure is remembered, so a broken document is not fetched on every request. */
const NEGATIVE_TTL = 30;

/** Fetches, checks and caches metadata documents for one provider. */
export class ClientMetadataResolver {
  private readonly cache = new Map<string, Cached>();
  private readonly pending = new Map<string, Promise<Client | null>>();

  constructor(
    private readonly s: ClientIdMetadataDocumentSettings,
    private readonly validate: (doc: Record<string, unknown>, clientId: string) => Client | string,
    private readonly log: (message: string) => void,
  ) {}

  /** The client a metadata document describes, or `null` when it cannot be fetched or is not valid. */
  resolve(clientId: string): Promise<Client | null> {
    if (clientId.length > this.s.maxIdLength || !isMetadataDocumentId(clientId)) return Promise.resolve(null);
    const hit = this.cache.get(clientId);
    if (hit && hit.until > Date.now()) return Promise.resolve(hit.client);
    const running = this.pending.get(clientId);
    if (running) return running;
    const p = this.load(clientId).finally(() => this.pending.delete(clientId));
    this.pending.set(clientId, p);
    return p;
  }

  private remember(clientId: string, client: Client | null, seconds: number): void {
    if (this.cache.size >= MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(clientId, { client, until: Date.now() + seconds * 1000 });
  }

  private async load(clientId: string): Promise<Client | null> {
    try {
      const { body, maxAge } = await this.fetch(clientId);
      let doc: unknown;
      try {
        doc = JSON.parse(body);
      } catch {
        throw new ClientMetadataError('the document is not JSON');
      }
      if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ClientMetadataError('the document is not a JSON object');
      const client = this.validate(doc as Record<string, unknown>, clientId);
      if (typeof client === 'string') throw new ClientMetadataError(client);
      const ttl = Math.min(this.s.cacheMax, Math.max(this.s.cacheMin, maxAge ?? 300));
      this.remember(clientId, client, ttl);
      return client;
    } catch (err) {
      // The URL is logged by its origin only: its path may carry anything.
      this.log(
        `client metadata document at ${new URL(clientId).origin} refused: ${err instanceof ClientMetadataError ? err.message : 'fetch failed'}`,
      );
      this.remember(clientId, null, NEGATIVE_TTL);
      return null;
    }
  }

  /** GET with no redirects, a size limit, a timeout, and the connected address checked. */
  private fetch(url: string): Promise<{ body: string; maxAge: number | null }> {
    const s = this.s;
    const guardedLookup = (
      host: string,
      options: object,
      cb: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
    ) => {
      dnsLookup(host, { ...options, all: true }, (err, addresses) => {
        if (err) return cb(err, []);
        const list = addresses as LookupAddress[];
        if (!s.allowPrivateNetworks && list.some((a) => isPrivateAddress(a.address))) {
          return cb(new ClientMetadataError('the host resolves to a private, loopback or link-local address'), []);
        }
        if ((options as { all?: boolean }).all) return cb(null, list);
        cb(null, list[0]!.address, list[0]!.family);
      });
    };
    return new Promise((resolve, reject) => {
      const u = new URL(url);
      // A literal IP address skips `lookup`: checked here.
      const literal = u.hostname.replace(/^\[|\]$/g, '');
      if (isIP(literal) !== 0 && !s.allowPrivateNetworks && isPrivateAddress(literal)) {
        reject(new ClientMetadataError('the host is a private, loopback or link-local address'));
        return;
      }
      const req = request(
        url,
        {
          method: 'GET',
          headers: { accept: 'application/json' },
          lookup: guardedLookup as never,
          timeout: s.timeout,
          ...(s.ca ? { ca: [...s.ca] } : {}),
        },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            reject(new ClientMetadataError(`the server answered ${res.statusCode} (redirects are not followed)`));
            return;
          }
          const declared = Number(res.headers['content-length']);
          if (Number.isFinite(declared) && declared > s.maxBytes) {
            res.destroy();
            reject(new ClientMetadataError('the document is too large'));
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > s.maxBytes) {
              res.destroy();
              reject(new ClientMetadataError('the document is too large'));
              return;
            }
            chunks.push(c);
          });
          res.on('end', () => resolve({ body: Buffer.concat(chunks).toString('utf8'), maxAge: maxAgeOf(res.headers['cache-control']) }));
          res.on('error', reject);
        },
      );
      const timer = setTimeout(() => req.destroy(new ClientMetadataError('the fetch timed out')), s.timeout);
      req.on('close', () => clearTimeout(timer));
      req.on('timeout', () => req.destroy(new ClientMetadataError('the fetch timed out')));
      req.on('error', reject);
      req.end();
    });
  }
}

/** `max-age` of a `Cache-Control` header (0 for `no-store`/`no-cache`), or `null`. */
function maxAgeOf(header: string | undefined): number | null {
  if (!header) return null;
  if (/\bno-(store|cache)\b/i.test(header)) return 0;
  const m = /\bmax-age=(\d{1,9})\b/i.exec(header);
  return m ? Number(m[1]) : null;
}

/** Resolves the options (defaults applied, values checked). */
export function resolveClientIdMetadataDocuments(
  o: ClientIdMetadataDocumentOptions | undefined,
  registrationScopes: ReadonlySet<string> | null = null,
): ClientIdMetadataDocumentSettings {
  const positive = (name: string, v: unknown, d: number) => {
    if (v === undefined) return d;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
      throw new TypeError(`Portcullis: clientIdMetadataDocuments.${name} must be a positive integer`);
    return v;
  };
  const atMost2000 = (v: number) => {
    // isMetadataDocumentId's own bound: a longer id is never a metadata document id.
    if (v > 2000) throw new TypeError('Portcullis: clientIdMetadataDocuments.maxIdLength must be at most 2000');
    return v;
  };
  const ca = o?.ca === undefined ? null : [...rootCertificates, ...(typeof o.ca === 'string' ? [o.ca] : o.ca)];
  return {
    enabled: o?.enabled ?? false,
    allowPrivateNetworks: o?.allowPrivateNetworks ?? false,
    maxBytes: positive('maxBytes', o?.maxBytes, 5120),
    timeout: positive('timeout', o?.timeout, 3000),
    cacheMin: positive('cacheTtl.min', o?.cacheTtl?.min, 60),
    cacheMax: positive('cacheTtl.max', o?.cacheTtl?.max, 86_400),
    ca,
    grantTypes: new Set(o?.grantTypes ?? ['authorization_code', 'refresh_token']),
    maxIdLength: atMost2000(positive('maxIdLength', o?.maxIdLength, 255)),
    scopes: o?.scopes !== undefined ? new Set(o.scopes) : registrationScopes,
  };
}
