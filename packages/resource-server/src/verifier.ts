import { createRemoteJWKSet, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { IntrospectionClient, type IntrospectionOptions, tokenDigest } from './introspection.js';
import { readJson } from './json.js';

/** A bearer token that passed every check, as the adapters put it on `req.oauth`. */
export interface VerifiedToken {
  /** `client_id` of the token. */
  readonly clientId: string | null;
  /**
   * The end user: `sub`, unless it equals `client_id` (RFC 9068 section 2.2: a client_credentials
   * token names the client as its subject), then `null`.
   */
  readonly userId: string | null;
  /** `sub` as issued. */
  readonly subject: string | null;
  /** The token's scopes (`scope`, split on spaces). */
  readonly scopes: readonly string[];
  /** `exp`, when the token has one (a JWT always has). */
  readonly expiresAt: Date | null;
  /** How the token was checked: locally (`jwt`) or by the authorization server (`introspection`). */
  readonly source: 'jwt' | 'introspection';
  /** Every claim of the JWT, or every member of the introspection response. */
  readonly claims: Readonly<Record<string, unknown>>;
}

/** An RFC 6750 section 3.1 error code. */
export type BearerErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope';

/** What `Verifier.verify` returns: the token, or the RFC 6750 error to answer with. */
export type VerifyResult =
  | { readonly ok: true; readonly token: VerifiedToken }
  | { readonly ok: false; readonly status: 400 | 401 | 403; readonly error: BearerErrorCode; readonly description: string };

/** Options of `createVerifier`. */
export interface VerifierOptions {
  /** The authorization server's issuer identifier; `iss` must equal it. */
  issuer: string;
  /** This API's identifier; `aud` must contain it (one of them, when several are given). */
  audience: string | readonly string[];
  /**
   * The JWKS URL. Default: `jwks_uri` of the issuer's RFC 8414 metadata
   * (`/.well-known/oauth-authorization-server`), fetched on the first JWT.
   */
  jwksUri?: string;
  /** RFC 7662 introspection for tokens that are not JWTs (opaque tokens). Without it they are refused. */
  introspection?: IntrospectionOptions;
  /** Accepted clock skew for `exp`, `nbf` and `iat`, in seconds. Default 30, at most 300. */
  clockTolerance?: number;
  /** Required `typ` header. Default `at+jwt` (RFC 9068 section 4; `application/at+jwt` is accepted too). */
  requiredTyp?: string;
  /** Accepted signature algorithms. Default: the asymmetric JWS algorithms (never `none` or HMAC). */
  algorithms?: readonly string[];
  /** Longest token accepted, in characters. Default 8192; longer ones are refused unread. */
  maxTokenLength?: number;
  /**
   * Remote JWKS caching, passed to jose's `createRemoteJWKSet` (milliseconds): how long a fetched
   * set is used (`cacheMaxAge`, default 10 min), how soon an unknown `kid` may fetch again
   * (`cooldownDuration`, default 30 s), and the fetch timeout (`timeoutDuration`, default 5 s).
   */
  jwks?: { cacheMaxAge?: number; cooldownDuration?: number; timeoutDuration?: number };
  /** Realm of the `WWW-Authenticate` challenges. Default `"api"`. */
  realm?: string;
  /** RFC 9728: the URL of this API's protected resource metadata, sent as `resource_metadata` in challenges. */
  resourceMetadata?: string;
  /**
   * A per-process cache of JWT access tokens that passed every check (signature, `iss`, `aud`,
   * `typ`, times, RFC 9068 claims), so the same token is not verified again on every request.
   * On by default with `maxEntries` 1000 (1 to 1000000); `false` turns it off.
   *
   * Keyed by a SHA-256 of the whole token; an entry keeps the verified claims and is dropped at
   * the token's `exp` or after `jwks.cacheMaxAge` (the age of jose's key cache), whichever comes
   * first, so a key removed from the JWKS stops working at most `cacheMaxAge` later than it would
   * without this cache.
   * The least recently used entry goes first when it is full. Tokens that fail are never cached,
   * and scopes are checked on every call. Revocation: a JWT verified locally, cached or not, is
   * refused only once it expires; use introspection or short lifetimes where revocation must take
   * effect sooner.
   */
  verifiedTokenCache?: VerifiedTokenCacheOptions | false;
}

/** Settings of the verified-token cache (`VerifierOptions.verifiedTokenCache`). */
export interface VerifiedTokenCacheOptions {
  /** Most tokens kept; the least recently used goes first. Default 1000, 1 to 1000000. */
  maxEntries?: number;
}

/** Checks bearer tokens for one API; made by `createVerifier`. */
export interface Verifier {
  /**
   * Checks a token and that it holds every listed scope. Resolves to an RFC 6750 error for a bad
   * token; rejects only when the token could not be checked (JWKS, metadata or introspection
   * unreachable), which the adapters answer 500 or hand to `next(err)`.
   */
  verify(token: string, scopes?: readonly string[]): Promise<VerifyResult>;
  /** The settings the adapters build challenges from. */
  readonly challenge: { readonly realm: string; readonly resourceMetadata: string | null };
}

const ASYMMETRIC = ['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const METADATA_TIMEOUT = 5000;
const METADATA_LIMIT = 65536;
/** After a failed metadata fetch, requests fail at once for this long instead of fetching again. */
const DISCOVERY_RETRY_MS = 5000;

/** jose's default `cacheMaxAge` of a remote JWKS (10 minutes). */
const JOSE_JWKS_MAX_AGE = 600_000;

/** jose error codes that mean "the JWKS could not be had", not "the token is bad". */
const UNAVAILABLE = new Set(['ERR_JWKS_TIMEOUT', 'ERR_JWKS_INVALID']);

function fail(status: 400 | 401 | 403, error: BearerErrorCode, description: string): VerifyResult {
  return { ok: false, status, error, description };
}

/** The RFC 8414 section 3.1 metadata URL: the well-known segment goes before the issuer's path. */
export function metadataUrl(issuer: string, wellKnown = 'oauth-authorization-server'): string {
  const u = new URL(issuer);
  const path = u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '');
  return `${u.origin}/.well-known/${wellKnown}${path}`;
}

function httpUrl(value: unknown, what: string): URL {
  if (typeof value !== 'string') throw new Error(`${what} is missing`);
  const u = new URL(value);
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error(`${what} is not an http(s) URL`);
  return u;
}

async function discoverJwksUri(issuer: string): Promise<URL> {
  const res = await fetch(metadataUrl(issuer), {
    headers: { accept: 'application/json' },
    redirect: 'error',
    signal: AbortSignal.timeout(METADATA_TIMEOUT),
  });
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => undefined);
    throw new Error(`authorization server metadata: HTTP ${res.status}`);
  }
  const doc = (await readJson(res, METADATA_LIMIT)) as Record<string, unknown> | null;
  // RFC 8414 section 3.3: the issuer in the document must be the one it was fetched for.
  if (!doc || typeof doc !== 'object' || doc.issuer !== issuer) throw new Error('authorization server metadata: issuer mismatch');
  return httpUrl(doc.jwks_uri, 'authorization server metadata jwks_uri');
}

/** The scopes of a `scope` claim or member (a space-separated string). */
export function scopesOf(value: unknown): string[] {
  return typeof value === 'string' ? value.split(' ').filter((s) => s !== '') : [];
}

/** Freezes a JSON value and everything in it (iteratively: no recursion depth to exhaust). */
function deepFreeze<T>(value: T): T {
  const todo: unknown[] = [value];
  while (todo.length > 0) {
    const v = todo.pop();
    if (v === null || typeof v !== 'object' || Object.isFrozen(v)) continue;
    Object.freeze(v);
    for (const child of Object.values(v)) todo.push(child);
  }
  return value;
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/**
 * Builds a `VerifiedToken` from JWT claims or an introspection response. The result, its scopes
 * and its claims are frozen: cached answers are shared between requests.
 */
export function toVerified(claims: Record<string, unknown>, source: 'jwt' | 'introspection'): VerifiedToken {
  const clientId = str(claims.client_id);
  const subject = str(claims.sub);
  const exp = typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? new Date(claims.exp * 1000) : null;
  return deepFreeze({
    clientId,
    subject,
    userId: subject !== null && subject !== clientId ? subject : null,
    scopes: scopesOf(claims.scope),
    expiresAt: exp,
    source,
    claims,
  });
}

interface CachedToken {
  readonly token: VerifiedToken;
  /** Epoch ms after which the entry is not served. */
  readonly until: number;
}

/** The bounded least-recently-used cache of verified JWTs behind `verifiedTokenCache`. */
class VerifiedTokenCache {
  private readonly entries = new Map<string, CachedToken>();

  constructor(
    private readonly maxEntries: number,
    private readonly maxAge: number,
  ) {}

  get(key: string, now: number): VerifiedToken | null {
    const hit = this.entries.get(key);
    if (!hit) return null;
    this.entries.delete(key);
    if (hit.until <= now) return null;
    this.entries.set(key, hit);
    return hit.token;
  }

  /** Keeps a verified token until its `exp` (or `maxAge` from now, if sooner). */
  set(key: string, token: VerifiedToken, now: number): void {
    const exp = token.expiresAt?.getTime();
    if (exp === undefined) return;
    const until = Math.min(exp, now + this.maxAge);
    if (!(until > now)) return;
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    this.entries.set(key, { token, until });
  }
}

function cacheOf(o: VerifierOptions): VerifiedTokenCache | null {
  const c = o.verifiedTokenCache;
  if (c === false) return null;
  if (c !== undefined && (c === null || typeof c !== 'object')) {
    throw new TypeError('resource-server: verifiedTokenCache must be { maxEntries } or false');
  }
  const max = c?.maxEntries ?? 1000;
  if (!Number.isInteger(max) || max < 1 || max > 1_000_000) {
    throw new TypeError('resource-server: verifiedTokenCache.maxEntries must be 1 to 1000000');
  }
  const age = o.jwks?.cacheMaxAge ?? JOSE_JWKS_MAX_AGE;
  return new VerifiedTokenCache(max, typeof age === 'number' && age >= 0 ? age : JOSE_JWKS_MAX_AGE);
}

function isJoseError(err: unknown): err is Error & { code: string } {
  const code = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('ERR_J');
}

/** The one description a bad JWT gets; the detail is not the client's business beyond expiry. */
function jwtFailure(err: Error & { code: string }): VerifyResult {
  if (err.code === 'ERR_JWT_EXPIRED') return fail(401, 'invalid_token', 'The access token expired');
  return fail(401, 'invalid_token', 'The access token is invalid');
}

function checkNumber(name: string, v: number | undefined, dflt: number, max: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > max) throw new TypeError(`resource-server: ${name} must be 0 to ${max}`);
  return v;
}

/**
 * A verifier for an API that is not the authorization server. JWT access tokens (RFC 9068) are
 * verified locally against the issuer's JWKS (jose's remote key set: cached, fetched again for an
 * unknown `kid` after its cooldown); other tokens go to RFC 7662 introspection when configured.
 * @throws TypeError on invalid options.
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const issuer = options.issuer;
  if (typeof issuer !== 'string' || issuer === '') throw new TypeError('resource-server: issuer is required');
  httpUrl(issuer, 'issuer');
  const audience = typeof options.audience === 'string' ? [options.audience] : [...(options.audience ?? [])];
  if (audience.length === 0 || audience.some((a) => typeof a !== 'string' || a === '')) {
    throw new TypeError('resource-server: audience is required');
  }
  const clockTolerance = checkNumber('clockTolerance', options.clockTolerance, 30, 300);
  const maxTokenLength = checkNumber('maxTokenLength', options.maxTokenLength, 8192, 1 << 20);
  const typ = options.requiredTyp ?? 'at+jwt';
  const algorithms = [...(options.algorithms ?? ASYMMETRIC)];
  if (algorithms.some((a) => a === 'none' || /^HS/i.test(a)))
    throw new TypeError('resource-server: only asymmetric algorithms are accepted');
  if (options.jwksUri !== undefined) httpUrl(options.jwksUri, 'jwksUri');
  if (options.resourceMetadata !== undefined) httpUrl(options.resourceMetadata, 'resourceMetadata');
  const introspection = options.introspection ? new IntrospectionClient(options.introspection, issuer, audience) : null;
  const cache = cacheOf(options);

  let keySet: JWTVerifyGetKey | null = null;
  let pending: Promise<JWTVerifyGetKey> | null = null;
  let failedAt = 0;
  const keys = async (): Promise<JWTVerifyGetKey> => {
    if (keySet) return keySet;
    if (!pending) {
      if (Date.now() - failedAt < DISCOVERY_RETRY_MS) throw new Error('resource-server: the JWKS location is unavailable');
      pending = (async () => {
        const uri = options.jwksUri !== undefined ? new URL(options.jwksUri) : await discoverJwksUri(issuer);
        keySet = createRemoteJWKSet(uri, { ...options.jwks, headers: { accept: 'application/json' } });
        return keySet;
      })();
      pending.catch(() => {
        failedAt = Date.now();
        pending = null;
      });
    }
    return pending;
  };
  const getKey: JWTVerifyGetKey = async (header, token) => (await keys())(header, token);

  const verifyJwt = async (token: string): Promise<{ failed: VerifyResult } | { claims: Record<string, unknown> }> => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, getKey, {
        issuer,
        audience,
        typ,
        algorithms,
        clockTolerance,
        requiredClaims: ['exp', 'iat', 'sub', 'client_id', 'jti'],
      }));
    } catch (err) {
      if (isJoseError(err) && !UNAVAILABLE.has(err.code)) return { failed: jwtFailure(err) };
      throw err;
    }
    return { claims: payload as Record<string, unknown> };
  };

  return {
    challenge: { realm: options.realm ?? 'api', resourceMetadata: options.resourceMetadata ?? null },
    async verify(token, scopes = []) {
      if (typeof token !== 'string' || token === '') return fail(401, 'invalid_token', 'The access token is invalid');
      if (token.length > maxTokenLength) return fail(401, 'invalid_token', 'The access token is too long');
      let verified: VerifiedToken;
      if (token.split('.').length === 3) {
        const key = cache ? await tokenDigest(token) : '';
        const hit = cache ? cache.get(key, Date.now()) : null;
        if (hit) verified = hit;
        else {
          const r = await verifyJwt(token);
          if ('failed' in r) return r.failed;
          verified = toVerified(r.claims, 'jwt');
          cache?.set(key, verified, Date.now());
        }
      } else {
        if (!introspection) return fail(401, 'invalid_token', 'The access token is invalid');
        const claims = await introspection.introspect(token, clockTolerance);
        if (!claims) return fail(401, 'invalid_token', 'The access token is invalid');
        verified = toVerified(claims, 'introspection');
      }
      for (const s of scopes) {
        if (!verified.scopes.includes(s)) return fail(403, 'insufficient_scope', 'The access token does not have the required scope');
      }
      return { ok: true, token: verified };
    },
  };
}
