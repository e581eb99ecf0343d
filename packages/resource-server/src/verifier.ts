import { createRemoteJWKSet, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { DpopChecker, type DpopOptions, type DpopRequest, JKT } from './dpop.js';
import { IntrospectionClient, type IntrospectionOptions, tokenDigestSync, webCryptoDigest } from './introspection.js';
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
  /**
   * The JWK SHA-256 thumbprint the token is bound to (`cnf.jkt`, RFC 9449 section 6), when it is
   * DPoP-bound; the request then carried a valid proof by that key.
   */
  readonly dpopJkt?: string;
}

/** An RFC 6750 section 3.1 error code. */
export type BearerErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope';

/** An error code of a resource request: RFC 6750's, or RFC 9449's for DPoP proofs. */
export type ResourceErrorCode = BearerErrorCode | 'invalid_dpop_proof' | 'use_dpop_nonce';

/**
 * What `Verifier.verify` and `Verifier.verifyDpop` return: the token, or the error to answer
 * with. `scheme` is the `WWW-Authenticate` scheme of the challenge (`DPoP` for requests that used
 * the DPoP scheme or sent a DPoP-bound token); `nonce` goes in a `DPoP-Nonce` header.
 */
export type VerifyResult =
  | { readonly ok: true; readonly token: VerifiedToken }
  | {
      readonly ok: false;
      readonly status: 400 | 401 | 403;
      readonly error: ResourceErrorCode;
      readonly description: string;
      readonly scheme?: 'Bearer' | 'DPoP';
      readonly nonce?: string;
    };

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
  /**
   * DPoP (RFC 9449): accept `Authorization: DPoP <token>` with a `DPoP` proof for tokens bound to
   * a key (`cnf.jkt`). `true` or an object turns it on; off by default. With or without it, a
   * DPoP-bound token sent with the Bearer scheme is refused.
   */
  dpop?: DpopOptions | boolean;
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
  /**
   * Checks a token sent with the DPoP scheme (RFC 9449 section 7.1): a valid token bound to a key
   * (`cnf.jkt`), and the request's one proof by that key naming this request and token. The token
   * may come from the verified-token cache; the proof is checked, and its `jti` recorded, on every
   * call. Refused with `invalid_request` when DPoP is off. Rejects like `verify`, and when the
   * replay store fails.
   */
  verifyDpop(token: string, request: DpopRequest, scopes?: readonly string[]): Promise<VerifyResult>;
  /**
   * The settings the adapters build challenges from; `dpopAlgorithms` is `null` when DPoP is off,
   * else the `algs` offered.
   */
  readonly challenge: {
    readonly realm: string;
    readonly resourceMetadata: string | null;
    readonly dpopAlgorithms: readonly string[] | null;
  };
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

function fail(status: 400 | 401 | 403, error: ResourceErrorCode, description: string, scheme?: 'DPoP'): VerifyResult {
  return scheme ? { ok: false, status, error, description, scheme } : { ok: false, status, error, description };
}

/** What went wrong with a token's confirmation (`cnf`), or its DPoP key thumbprint. */
function bindingOf(claims: Record<string, unknown>): { jkt: string | null } | { invalid: true } {
  const cnf = claims.cnf;
  if (cnf === undefined) return { jkt: null };
  if (cnf === null || typeof cnf !== 'object' || Array.isArray(cnf)) return { invalid: true };
  const jkt = (cnf as Record<string, unknown>).jkt;
  // A confirmation method this server cannot check (such as mTLS's x5t#S256) is refused.
  if (typeof jkt !== 'string' || !JKT.test(jkt)) return { invalid: true };
  return { jkt };
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

/** A JWS in compact form has exactly three parts (two dots); counted without splitting the token. */
function isCompactJws(token: string): boolean {
  const first = token.indexOf('.');
  if (first === -1) return false;
  const second = token.indexOf('.', first + 1);
  return second !== -1 && token.indexOf('.', second + 1) === -1;
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
  const binding = bindingOf(claims);
  const jkt = 'jkt' in binding ? binding.jkt : null;
  return deepFreeze({
    clientId,
    subject,
    userId: subject !== null && subject !== clientId ? subject : null,
    scopes: scopesOf(claims.scope),
    expiresAt: exp,
    source,
    claims,
    ...(jkt !== null ? { dpopJkt: jkt } : {}),
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
  const dpop =
    options.dpop === undefined || options.dpop === false ? null : new DpopChecker(options.dpop === true ? {} : options.dpop, audience);

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
  // Straight to the key set once it exists: no extra promise per token.
  const getKey: JWTVerifyGetKey = (header, token) => (keySet ? keySet(header, token) : keys().then((k) => k(header, token)));

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

  /** The token's checks, without the scopes or its binding: the cached answer, or a fresh one. */
  const check = async (token: string): Promise<VerifyResult> => {
    if (typeof token !== 'string' || token === '') return fail(401, 'invalid_token', 'The access token is invalid');
    if (token.length > maxTokenLength) return fail(401, 'invalid_token', 'The access token is too long');
    let claims: Record<string, unknown>;
    let source: 'jwt' | 'introspection';
    if (isCompactJws(token)) {
      const key = cache ? (tokenDigestSync(token) ?? (await webCryptoDigest(token))) : '';
      const hit = cache ? cache.get(key, Date.now()) : null;
      if (hit) return { ok: true, token: hit };
      const r = await verifyJwt(token);
      if ('failed' in r) return r.failed;
      ({ claims } = r);
      source = 'jwt';
      if ('invalid' in bindingOf(claims)) return fail(401, 'invalid_token', 'The access token is invalid');
      const verified = toVerified(claims, source);
      cache?.set(key, verified, Date.now());
      return { ok: true, token: verified };
    }
    if (!introspection) return fail(401, 'invalid_token', 'The access token is invalid');
    const found = await introspection.introspect(token, clockTolerance);
    if (!found) return fail(401, 'invalid_token', 'The access token is invalid');
    claims = found;
    source = 'introspection';
    const binding = bindingOf(claims);
    if ('invalid' in binding) return fail(401, 'invalid_token', 'The access token is invalid');
    // RFC 9449 section 6.2: a DPoP token is introspected as token_type DPoP with cnf.jkt.
    const type = typeof claims.token_type === 'string' ? claims.token_type.toLowerCase() : null;
    if (type === 'dpop' && binding.jkt === null) return fail(401, 'invalid_token', 'The access token is invalid');
    return { ok: true, token: toVerified(claims, source) };
  };

  const scoped = (verified: VerifiedToken, scopes: readonly string[], scheme?: 'DPoP'): VerifyResult => {
    for (const s of scopes) {
      if (!verified.scopes.includes(s)) return fail(403, 'insufficient_scope', 'The access token does not have the required scope', scheme);
    }
    return { ok: true, token: verified };
  };

  return {
    challenge: {
      realm: options.realm ?? 'api',
      resourceMetadata: options.resourceMetadata ?? null,
      dpopAlgorithms: dpop ? dpop.algorithms : null,
    },
    async verify(token, scopes = []) {
      const r = await check(token);
      if (!r.ok) return r;
      // RFC 9449 section 7.1: a DPoP-bound token is not a bearer token.
      if (r.token.dpopJkt !== undefined) {
        return dpop
          ? fail(401, 'invalid_token', 'The access token is DPoP-bound: send it with the DPoP scheme and a proof', 'DPoP')
          : fail(401, 'invalid_token', 'The access token is DPoP-bound, which this API does not accept');
      }
      return scoped(r.token, scopes);
    },
    async verifyDpop(token, request, scopes = []) {
      if (!dpop) return fail(400, 'invalid_request', 'This API does not accept the DPoP scheme');
      const r = await check(token);
      if (!r.ok) return { ...r, scheme: 'DPoP' };
      const jkt = r.token.dpopJkt;
      if (jkt === undefined) return fail(401, 'invalid_token', 'The access token is not DPoP-bound: use the Bearer scheme', 'DPoP');
      const bad = await dpop.check(request, token, jkt);
      if (bad) {
        const failed = fail(401, bad.error, bad.description, 'DPoP');
        return bad.error === 'use_dpop_nonce' ? { ...failed, nonce: bad.nonce } : failed;
      }
      return scoped(r.token, scopes, 'DPoP');
    },
  };
}
