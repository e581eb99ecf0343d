import type { AccessTokenRecord } from '../contract.js';
import { digestToken } from '../crypto.js';
import { algsParameter, checkProof, htuOf } from '../dpop.js';
import type { EndpointResult, Engine } from '../engine.js';
import {
  InsufficientScopeError,
  InvalidDpopProofError,
  InvalidRequestError,
  InvalidTokenError,
  isOAuthError,
  type OAuthError,
} from '../errors.js';
import type { OAuthRequest, OAuthResponse } from '../http.js';
import { formBody, header, isForm, parseParams, pathOf, queryOf } from '../params.js';
import { json } from '../responses.js';
import type { Writable } from '../writable.js';

/** A validated bearer token, as `verifyAccessToken` and `requireOAuth` hand it to the app. */
export interface VerifiedToken {
  readonly clientId: string;
  readonly userId: string | null;
  readonly scopes: readonly string[];
  readonly expiresAt: Date;
  readonly grantId: string;
  /** The DPoP key thumbprint the token is bound to (RFC 9449), when it is; the request proved it. */
  readonly dpopJkt?: string;
}

/** What `verifyAccessToken` returns. */
export type ResourceResult =
  | { readonly ok: true; readonly token: VerifiedToken }
  | { readonly ok: false; readonly response: OAuthResponse };

/** @internal */
export type ResourceInternal = { ok: true; token: VerifiedToken } | { ok: false; result: EndpointResult };

const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * A quoted-string value for `WWW-Authenticate`, from a closed character set: printable ASCII
 * without `"` and `\` (RFC 6750 section 3 restricts error_description and scope to it), so no
 * request data can put a control character, CR or LF into the header.
 */
function quote(s: string): string {
  return s.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '');
}

/**
 * An RFC 6750 section 3 error with its `WWW-Authenticate` challenge: `Bearer`, or `DPoP` (RFC 9449
 * section 7.1, with `algs`) for requests that used the DPoP scheme or a DPoP-bound token. With
 * DPoP on, a request that sent no token is offered both schemes (section 7.2).
 */
function challenge(
  e: Engine,
  error: OAuthError | null,
  status: number,
  scopes?: readonly string[],
  scheme: 'Bearer' | 'DPoP' = 'Bearer',
): ResourceInternal {
  let h = `${scheme} realm="${quote(e.o.realm)}"`;
  if (error) h += `, error="${quote(error.error)}", error_description="${quote(error.message)}"`;
  if (scopes && scopes.length > 0) h += `, scope="${quote(scopes.join(' '))}"`;
  if (scheme === 'DPoP') h += `, ${algsParameter(e)}`;
  else if (error === null && e.o.dpop.enabled) h += `, DPoP realm="${quote(e.o.realm)}", ${algsParameter(e)}`;
  const extra: Record<string, string> = error ? { ...error.headers, 'WWW-Authenticate': h } : { 'WWW-Authenticate': h };
  const body = error
    ? { error: error.error, error_description: error.message }
    : { error: 'invalid_token', error_description: 'A bearer token is required' };
  const err = error ?? new InvalidTokenError('A bearer token is required');
  return {
    ok: false,
    result: {
      response: json(status, body, extra),
      error: err,
      clientId: null,
      userId: null,
      grantType: null,
      scopes: null,
      issuedGrantId: null,
    },
  };
}

/**
 * Finds the bearer token: header, form body, or (only when enabled) the query string. With
 * `bodyAndQueryOnly`, the header is skipped (the DPoP scheme read it already).
 */
function extract(e: Engine, req: OAuthRequest, bodyAndQueryOnly = false): string | null | OAuthError {
  const found: string[] = [];
  const auth = bodyAndQueryOnly ? undefined : header(req, 'authorization');
  if (auth !== undefined) {
    const sp = auth.indexOf(' ');
    if (sp > 0 && auth.slice(0, sp).toLowerCase() === 'bearer') {
      const t = auth.slice(sp + 1).trim();
      // An empty token is an invalid token (401); a header that is not token68 is a malformed request.
      if (t !== '' && !TOKEN68.test(t)) return new InvalidRequestError('The Authorization header is malformed');
      found.push(t);
    }
  }
  if (req.method !== 'GET' && req.method !== 'HEAD' && isForm(req)) {
    const p = formBody(req);
    if (isOAuthError(p)) return p;
    if (p.access_token !== undefined) found.push(p.access_token);
  }
  const q = queryOf(req.url);
  if (q.includes('access_token')) {
    const p = parseParams(q);
    if (isOAuthError(p)) return p;
    if (p.access_token !== undefined) {
      if (!e.o.allowBearerInQuery) return new InvalidRequestError('Bearer tokens are not accepted in the query string');
      found.push(p.access_token);
    }
  }
  if (found.length > 1) return new InvalidRequestError('Use one method to send the bearer token');
  return found[0] ?? null;
}

/** What `verifyAccessToken` checks beyond the token and its scopes. */
export interface VerifyOptions {
  /**
   * The resource (RFC 8707 `resource` value) this server is: the token must have been issued for
   * it (its recorded audience lists it), else 401 `invalid_token`. A token issued without any
   * `resource` has no audience and fails this check.
   */
  readonly audience?: string;
}

/**
 * What the guards (`requireOAuth`, `withOAuth`, `requireOAuthFetch`) take instead of a list of
 * scopes when they need more: the scopes, and the resource this server is (`audience`).
 */
export interface GuardOptions extends VerifyOptions {
  /** Every scope the token must hold. */
  readonly scopes?: readonly string[];
}

/**
 * The scopes and options of a guard's arguments: scope names, or one `GuardOptions` object. For
 * framework packages whose guards take what core's do (`@portcullis/fastify`, `koa`, `hono`).
 * @throws TypeError for a mix of names and an object.
 */
export function guardArgs(args: readonly (string | GuardOptions)[] | GuardOptions): {
  scopes: readonly string[];
  options: VerifyOptions | undefined;
} {
  const list: readonly (string | GuardOptions)[] = Array.isArray(args) ? args : [args as GuardOptions];
  if (list.length === 1 && typeof list[0] === 'object' && list[0] !== null) {
    const o = list[0] as GuardOptions;
    return { scopes: o.scopes ?? [], options: o.audience === undefined ? undefined : { audience: o.audience } };
  }
  if (!list.every((s) => typeof s === 'string'))
    throw new TypeError('Portcullis: a guard takes scope names, or one { scopes, audience } object');
  return { scopes: list as readonly string[], options: undefined };
}

function decide(e: Engine, record: AccessTokenRecord | null, scopes: readonly string[], opts?: VerifyOptions): ResourceInternal {
  if (!record || record.expiresAt.getTime() <= Date.now()) return challenge(e, new InvalidTokenError(), 401);
  // RFC 9449 section 7.1: a DPoP-bound token sent as a bearer token is refused.
  if (record.dpopJkt !== undefined) {
    return challenge(
      e,
      new InvalidTokenError('The access token is DPoP-bound: send it with the DPoP scheme and a proof'),
      401,
      undefined,
      'DPoP',
    );
  }
  return grantAccess(e, record, scopes, opts, 'Bearer');
}

/** The checks after the token (and its proof): audience and scopes. */
function grantAccess(
  e: Engine,
  record: AccessTokenRecord,
  scopes: readonly string[],
  opts: VerifyOptions | undefined,
  scheme: 'Bearer' | 'DPoP',
): ResourceInternal {
  if (opts?.audience !== undefined && !record.audience?.includes(opts.audience)) {
    return challenge(e, new InvalidTokenError('The access token was not issued for this resource'), 401, undefined, scheme);
  }
  for (const s of scopes) {
    if (!record.scopes.includes(s)) return challenge(e, new InsufficientScopeError(), 403, scopes, scheme);
  }
  const token: Writable<VerifiedToken> = {
    clientId: record.clientId,
    userId: record.userId,
    scopes: record.scopes,
    expiresAt: record.expiresAt,
    grantId: record.grantId,
  };
  if (record.dpopJkt !== undefined) token.dpopJkt = record.dpopJkt;
  return { ok: true, token };
}

/**
 * RFC 9449 section 7.1: `Authorization: DPoP <token>` with a `DPoP` proof whose `htm`/`htu` name
 * this request, whose `ath` is the token's hash and whose key is the one the token is bound to.
 */
async function verifyDpop(
  e: Engine,
  req: OAuthRequest,
  token: string,
  scopes: readonly string[],
  opts?: VerifyOptions,
): Promise<ResourceInternal> {
  const fail = (error: OAuthError, status: number) => challenge(e, error, status, undefined, 'DPoP');
  if (token === '') return fail(new InvalidTokenError(), 401);
  if (!TOKEN68.test(token)) return fail(new InvalidRequestError('The Authorization header is malformed'), 400);
  const other = extract(e, req, true);
  if (other !== null) return fail(isOAuthError(other) ? other : new InvalidRequestError('Use one method to send the access token'), 400);
  const record = await e.s.getAccessToken!(digestToken(token));
  if (!record || record.expiresAt.getTime() <= Date.now()) return fail(new InvalidTokenError(), 401);
  if (record.dpopJkt === undefined) return fail(new InvalidTokenError('The access token is not DPoP-bound: use the Bearer scheme'), 401);
  const path = pathOf(req.url);
  const urls: string[] = [];
  for (const origin of e.o.dpop.resourceOrigins) {
    const u = htuOf(origin + path);
    if (u !== null) urls.push(u);
  }
  const proof = await checkProof(e, req, { urls, accessToken: token, status: 401 });
  if (proof === null) return fail(new InvalidDpopProofError('A DPoP proof is required with the DPoP scheme', 401), 401);
  if (isOAuthError(proof)) return fail(proof, 401);
  if (proof.jkt !== record.dpopJkt)
    return fail(new InvalidDpopProofError('The DPoP proof key is not the one the access token is bound to', 401), 401);
  return grantAccess(e, record, scopes, opts, 'DPoP');
}

/**
 * Checks a protected-resource request: a valid bearer token holding every listed scope. Answers
 * without a promise when the token store answers without one (see `TokenStore.getAccessToken`).
 * May throw (or reject) with the store's error.
 */
export function verifyAccessToken(
  e: Engine,
  req: OAuthRequest,
  scopes: readonly string[],
  opts?: VerifyOptions,
): ResourceInternal | Promise<ResourceInternal> {
  if (e.o.dpop.enabled) {
    const auth = header(req, 'authorization');
    if (auth !== undefined && auth.length >= 5 && auth.slice(0, 5).toLowerCase() === 'dpop ') {
      return verifyDpop(e, req, auth.slice(5).trim(), scopes, opts);
    }
  }
  const token = extract(e, req);
  if (token === null) return challenge(e, null, 401);
  if (typeof token !== 'string') return challenge(e, token, 400);
  if (token === '') return challenge(e, new InvalidTokenError(), 401);
  const found = e.s.getAccessToken!(digestToken(token));
  if (found !== null && 'then' in found) return Promise.resolve(found).then((record) => decide(e, record, scopes, opts));
  return decide(e, found, scopes, opts);
}
