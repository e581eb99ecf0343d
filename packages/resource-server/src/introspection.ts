import { readJson } from './json.js';

/** RFC 7662 introspection settings of `createVerifier`. */
export interface IntrospectionOptions {
  /** The introspection endpoint. */
  url: string;
  /** This API's client id at the authorization server (a client allowed to introspect others' tokens). */
  clientId: string;
  /** Its secret, sent with `client_secret_basic`. */
  clientSecret: string;
  /**
   * Seconds an answer is reused. Default 30, at most 300, 0 turns the cache off. An entry never
   * outlives the token's `exp`; a revoked token is refused once its entry is gone.
   */
  cacheTtl?: number;
  /** Most answers kept; the oldest goes first. Default 1000. */
  cacheSize?: number;
  /** Timeout of one introspection request, in milliseconds. Default 5000. */
  timeout?: number;
}

const RESPONSE_LIMIT = 65536;

/** `application/x-www-form-urlencoded` encoding of one value (RFC 6749 appendix B). */
function formEncode(s: string): string {
  return new URLSearchParams({ v: s }).toString().slice(2);
}

/** HTTP Basic credentials as RFC 6749 section 2.3.1 wants them: each part form-encoded first. */
function basicCredentials(id: string, secret: string): string {
  const raw = new TextEncoder().encode(`${formEncode(id)}:${formEncode(secret)}`);
  let bin = '';
  for (const b of raw) bin += String.fromCharCode(b);
  return `Basic ${btoa(bin)}`;
}

/** `node:crypto`'s hashing, when the runtime has `process.getBuiltinModule` (Node 20.16+, Bun, Deno). */
type CreateHash = (algorithm: 'sha256') => { update(data: string): { digest(encoding: 'hex'): string } };
type OneShotHash = (algorithm: 'sha256', data: string, encoding: 'hex') => string;
const nodeCrypto = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.(
  'node:crypto',
) as { createHash?: CreateHash; hash?: OneShotHash } | undefined;
const createHash = nodeCrypto?.createHash;
// One-shot `crypto.hash` (Node 20.12+): no Hash object per call.
const oneShot = nodeCrypto?.hash;

/**
 * @internal Hex SHA-256 of a token, computed at once where `node:crypto` is available; `null`
 * elsewhere (then use `tokenDigest`). Saves the verified-token cache a promise per request.
 */
export function tokenDigestSync(token: string): string | null {
  if (oneShot) return oneShot('sha256', token, 'hex');
  return createHash ? createHash('sha256').update(token).digest('hex') : null;
}

/**
 * @internal Hex SHA-256 of a token: the key of the caches, so no token is kept in memory.
 * `node:crypto` where there is one (several times faster than a Web Crypto round trip), else Web Crypto.
 */
export async function tokenDigest(token: string): Promise<string> {
  return tokenDigestSync(token) ?? webCryptoDigest(token);
}

/** @internal The Web Crypto path of `tokenDigest` (exported for its test). */
export async function webCryptoDigest(token: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token)));
  let hex = '';
  for (const b of d) hex += b.toString(16).padStart(2, '0');
  return hex;
}

interface Entry {
  readonly claims: Record<string, unknown> | null;
  readonly until: number;
}

/** @internal The introspection client with its bounded cache. */
export class IntrospectionClient {
  private readonly cache = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<Record<string, unknown> | null>>();
  private readonly url: URL;
  private readonly ttl: number;
  private readonly size: number;
  private readonly timeout: number;
  private readonly authorization: string;

  constructor(
    o: IntrospectionOptions,
    private readonly issuer: string,
    private readonly audience: readonly string[],
  ) {
    if (!o || typeof o.url !== 'string' || typeof o.clientId !== 'string' || typeof o.clientSecret !== 'string') {
      throw new TypeError('resource-server: introspection needs url, clientId and clientSecret');
    }
    this.url = new URL(o.url);
    if (this.url.protocol !== 'https:' && this.url.protocol !== 'http:')
      throw new TypeError('resource-server: introspection.url must be http(s)');
    const ttl = o.cacheTtl ?? 30;
    if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl < 0 || ttl > 300) {
      throw new TypeError('resource-server: introspection.cacheTtl must be 0 to 300');
    }
    const size = o.cacheSize ?? 1000;
    if (!Number.isInteger(size) || size < 1 || size > 1_000_000)
      throw new TypeError('resource-server: introspection.cacheSize must be 1 to 1000000');
    this.ttl = ttl * 1000;
    this.size = size;
    this.timeout = o.timeout ?? 5000;
    this.authorization = basicCredentials(o.clientId, o.clientSecret);
  }

  /** The token's claims when it is active and meant for this API, else `null`; rejects when unreachable. */
  async introspect(token: string, clockTolerance: number): Promise<Record<string, unknown> | null> {
    const key = await tokenDigest(token);
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit) {
      if (hit.until > now) return hit.claims;
      this.cache.delete(key);
    }
    let p = this.inFlight.get(key);
    if (!p) {
      p = this.ask(token, key, clockTolerance).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, p);
    }
    return p;
  }

  private async ask(token: string, key: string, clockTolerance: number): Promise<Record<string, unknown> | null> {
    const res = await fetch(this.url, {
      method: 'POST',
      headers: {
        authorization: this.authorization,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
      redirect: 'error',
      signal: AbortSignal.timeout(this.timeout),
    });
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => undefined);
      throw new Error(`introspection: HTTP ${res.status}`);
    }
    const doc = await readJson(res, RESPONSE_LIMIT);
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('introspection: the response is not a JSON object');
    const claims = this.accept(doc as Record<string, unknown>, clockTolerance);
    const now = Date.now();
    let until = now + this.ttl;
    if (claims && typeof claims.exp === 'number') until = Math.min(until, claims.exp * 1000);
    if (until > now) this.remember(key, { claims, until });
    return claims;
  }

  /** RFC 7662 section 2.2: only `active: true` counts; `iss`, `aud`, `exp`, `nbf` are checked when present. */
  private accept(doc: Record<string, unknown>, clockTolerance: number): Record<string, unknown> | null {
    if (doc.active !== true) return null;
    const now = Date.now() / 1000;
    if (doc.iss !== undefined && doc.iss !== this.issuer) return null;
    if (doc.aud !== undefined) {
      const auds = Array.isArray(doc.aud) ? doc.aud : [doc.aud];
      if (!auds.some((a) => typeof a === 'string' && this.audience.includes(a))) return null;
    }
    if (doc.exp !== undefined && (typeof doc.exp !== 'number' || doc.exp + clockTolerance <= now)) return null;
    if (doc.nbf !== undefined && (typeof doc.nbf !== 'number' || doc.nbf - clockTolerance > now)) return null;
    if (doc.token_type !== undefined && typeof doc.token_type === 'string') {
      // RFC 7662 token_type is the RFC 6749 type: Bearer, or DPoP (RFC 9449 section 6.2, checked
      // against cnf.jkt by the verifier); anything else (a refresh token) is not an access token.
      const type = doc.token_type.toLowerCase();
      if (type !== 'bearer' && type !== 'dpop' && doc.token_type !== 'access_token') return null;
    }
    return doc;
  }

  private remember(key: string, entry: Entry): void {
    this.cache.delete(key);
    while (this.cache.size >= this.size) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
    this.cache.set(key, entry);
  }
}
