import type { AccessTokenRecord } from '../contract.js';
import { digestToken } from '../crypto.js';
import type { EndpointResult, Engine } from '../engine.js';
import { InsufficientScopeError, InvalidRequestError, InvalidTokenError, isOAuthError, type OAuthError } from '../errors.js';
import type { OAuthRequest, OAuthResponse } from '../http.js';
import { formBody, header, isForm, parseParams, queryOf } from '../params.js';
import { json } from '../responses.js';

/** A validated bearer token, as `verifyAccessToken` and `requireOAuth` hand it to the app. */
export interface VerifiedToken {
  readonly clientId: string;
  readonly userId: string | null;
  readonly scopes: readonly string[];
  readonly expiresAt: Date;
  readonly grantId: string;
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

/** An RFC 6750 section 3 error with its `WWW-Authenticate: Bearer` challenge. */
function challenge(e: Engine, error: OAuthError | null, status: number, scopes?: readonly string[]): ResourceInternal {
  let h = `Bearer realm="${quote(e.o.realm)}"`;
  if (error) h += `, error="${quote(error.error)}", error_description="${quote(error.message)}"`;
  if (scopes && scopes.length > 0) h += `, scope="${quote(scopes.join(' '))}"`;
  const body = error
    ? { error: error.error, error_description: error.message }
    : { error: 'invalid_token', error_description: 'A bearer token is required' };
  const err = error ?? new InvalidTokenError('A bearer token is required');
  return {
    ok: false,
    result: {
      response: json(status, body, { 'WWW-Authenticate': h }),
      error: err,
      clientId: null,
      userId: null,
      grantType: null,
      scopes: null,
      issuedGrantId: null,
    },
  };
}

/** Finds the bearer token: header, form body, or (only when enabled) the query string. */
function extract(e: Engine, req: OAuthRequest): string | null | OAuthError {
  const found: string[] = [];
  const auth = header(req, 'authorization');
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

function decide(e: Engine, record: AccessTokenRecord | null, scopes: readonly string[], opts?: VerifyOptions): ResourceInternal {
  if (!record || record.expiresAt.getTime() <= Date.now()) return challenge(e, new InvalidTokenError(), 401);
  if (opts?.audience !== undefined && !record.audience?.includes(opts.audience)) {
    return challenge(e, new InvalidTokenError('The access token was not issued for this resource'), 401);
  }
  for (const s of scopes) {
    if (!record.scopes.includes(s)) return challenge(e, new InsufficientScopeError(), 403, scopes);
  }
  return {
    ok: true,
    token: {
      clientId: record.clientId,
      userId: record.userId,
      scopes: record.scopes,
      expiresAt: record.expiresAt,
      grantId: record.grantId,
    },
  };
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
  const token = extract(e, req);
  if (token === null) return challenge(e, null, 401);
  if (typeof token !== 'string') return challenge(e, token, 400);
  if (token === '') return challenge(e, new InvalidTokenError(), 401);
  const found = e.s.getAccessToken!(digestToken(token));
  if (found !== null && 'then' in found) return Promise.resolve(found).then((record) => decide(e, record, scopes, opts));
  return decide(e, found, scopes, opts);
}
