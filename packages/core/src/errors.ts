/**
 * OAuth errors. One class per RFC error code, sharing a base that carries the HTTP status and
 * the `error` value; identify them by `error` (or `isOAuthError`) rather than `instanceof`, so two
 * copies of core never disagree. Messages are written for the client and never carry secrets or
 * internal error text.
 */

/** Every `error` value core can answer with (RFC 6749, 6750, 7009, 7662, 7636, 8628, 8707). */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'access_denied'
  | 'unsupported_response_type'
  | 'server_error'
  | 'temporarily_unavailable'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'unsupported_token_type'
  | 'authorization_pending'
  | 'slow_down'
  | 'expired_token'
  | 'invalid_target'
  | 'invalid_request_uri'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'
  | 'invalid_redirect_uri'
  | 'invalid_client_metadata';

/** The base of every OAuth error core answers: the RFC `error` code, its HTTP status and extra headers. */
export class OAuthError extends Error {
  /** The RFC `error` value. */
  readonly error: OAuthErrorCode;
  /** HTTP status used when the error is answered directly (not by redirect). */
  readonly status: number;
  /** Extra response headers (e.g. `WWW-Authenticate`). */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * @param description the `error_description`; it is cleaned to the characters RFC 6749 section
   *   5.2 allows (see `cleanDescription`), so it is safe in a JSON body, a redirect and a header.
   */
  constructor(error: OAuthErrorCode, description: string, status: number, options?: { cause?: unknown; headers?: Record<string, string> }) {
    super(cleanDescription(description), options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OAuthError';
    this.error = error;
    this.status = status;
    this.headers = options?.headers ?? {};
  }
  /** The `error_description` sent to the client. */
  get description(): string {
    return this.message;
  }
}

/** Longest `error_description` sent; longer ones are cut. */
const MAX_DESCRIPTION = 200;
// RFC 6749 section 5.2: error_description = 1*( %x20-21 / %x23-5B / %x5D-7E )
const DESCRIPTION_CHARS = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * An `error_description` (or any text bound for a header) in the closed character set RFC 6749
 * section 5.2 allows: printable ASCII without `"` and `\`. A double quote becomes `'`, a
 * backslash `/`, anything else outside the set `?`; the result is cut to 200 characters. The
 * only place core builds description text, so every endpoint answers RFC-clean descriptions.
 */
export function cleanDescription(text: string): string {
  let s = String(text);
  if (s.length > MAX_DESCRIPTION) s = `${s.slice(0, MAX_DESCRIPTION - 3)}...`;
  if (DESCRIPTION_CHARS.test(s)) return s;
  return s
    .replace(/"/g, "'")
    .replace(/\\/g, '/')
    .replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '?');
}

type Opts = { cause?: unknown; headers?: Record<string, string> };

/** `invalid_request` (400): a parameter is missing, repeated, malformed or not allowed (RFC 6749 5.2). */
export class InvalidRequestError extends OAuthError {
  constructor(description: string, opts?: Opts) {
    super('invalid_request', description, 400, opts);
  }
}
/** `invalid_client` (401): client authentication failed (RFC 6749 5.2); carries `WWW-Authenticate: Basic` when Basic was tried. */
export class InvalidClientError extends OAuthError {
  constructor(description = 'Client authentication failed', opts?: Opts) {
    super('invalid_client', description, 401, opts);
  }
}
/** `invalid_grant` (400): the code, refresh token or password is invalid, expired, revoked or another client's. */
export class InvalidGrantError extends OAuthError {
  constructor(description: string, opts?: Opts) {
    super('invalid_grant', description, 400, opts);
  }
}
/** `unauthorized_client` (400): the client may not use this grant or response type. */
export class UnauthorizedClientError extends OAuthError {
  constructor(description: string, opts?: Opts) {
    super('unauthorized_client', description, 400, opts);
  }
}
/** `unsupported_grant_type` (400): the grant type is unknown or not enabled. */
export class UnsupportedGrantTypeError extends OAuthError {
  constructor(description: string, opts?: Opts) {
    super('unsupported_grant_type', description, 400, opts);
  }
}
/** `invalid_scope` (400): a scope is malformed, unknown, or not allowed for the client. */
export class InvalidScopeError extends OAuthError {
  constructor(description: string, opts?: Opts) {
    super('invalid_scope', description, 400, opts);
  }
}
/** `access_denied` (403): the user (or a hook) refused. */
export class AccessDeniedError extends OAuthError {
  constructor(description = 'The resource owner denied the request', opts?: Opts) {
    super('access_denied', description, 403, opts);
  }
}
/** `unsupported_response_type` (400): the response type is unknown or not enabled. */
export class UnsupportedResponseTypeError extends OAuthError {
  constructor(description: string, opts?: Opts) {
    super('unsupported_response_type', description, 400, opts);
  }
}
/** `server_error` (500): something failed inside; the description never carries internal text. */
export class ServerError extends OAuthError {
  constructor(description = 'The server could not complete the request', opts?: Opts) {
    super('server_error', description, 500, opts);
  }
}
/** `temporarily_unavailable` (503, `Retry-After: 1`): a store cannot be reached right now. */
export class TemporarilyUnavailableError extends OAuthError {
  constructor(description = 'The service is temporarily unavailable; try again later', opts?: Opts) {
    super('temporarily_unavailable', description, 503, { ...opts, headers: { 'Retry-After': '1', ...opts?.headers } });
  }
}
/** `invalid_token` (401): the bearer token is unknown, expired, revoked or malformed (RFC 6750 3.1). */
export class InvalidTokenError extends OAuthError {
  constructor(description = 'The access token is invalid or has expired', opts?: Opts) {
    super('invalid_token', description, 401, opts);
  }
}
/** `insufficient_scope` (403): the bearer token lacks a required scope (RFC 6750 3.1). */
export class InsufficientScopeError extends OAuthError {
  constructor(description = 'The access token lacks a required scope', opts?: Opts) {
    super('insufficient_scope', description, 403, opts);
  }
}
/** `unsupported_token_type` (400): RFC 7009 2.2.1; core never answers it (unknown hints are ignored). */
export class UnsupportedTokenTypeError extends OAuthError {
  constructor(description: string, opts?: Opts) {
    super('unsupported_token_type', description, 400, opts);
  }
}

/**
 * `authorization_pending` (400): RFC 8628 section 3.5; the user has not yet approved or denied
 * the device authorization request, and the device should poll again after its interval.
 */
export class AuthorizationPendingError extends OAuthError {
  constructor(description = 'The user has not yet completed the authorization', opts?: Opts) {
    super('authorization_pending', description, 400, opts);
  }
}
/**
 * `slow_down` (400): RFC 8628 section 3.5; the device polled before its interval had passed. The
 * request is still pending, and the device's interval has grown by 5 seconds.
 */
export class SlowDownError extends OAuthError {
  constructor(description = 'Polling too fast; the interval is now 5 seconds longer', opts?: Opts) {
    super('slow_down', description, 400, opts);
  }
}
/**
 * `expired_token` (400): RFC 8628 section 3.5; the device code has expired and the device
 * authorization session has concluded.
 */
export class ExpiredTokenError extends OAuthError {
  constructor(description = 'The device code has expired', opts?: Opts) {
    super('expired_token', description, 400, opts);
  }
}

/**
 * `invalid_target` (400): RFC 8707 section 2; a `resource` value is malformed (not an absolute URI,
 * has a fragment, too long), not registered, not allowed for the client, not part of the grant,
 * or there are too many of them.
 */
export class InvalidTargetError extends OAuthError {
  constructor(description = 'The requested resource is invalid, missing, unknown, or malformed', opts?: Opts) {
    super('invalid_target', description, 400, opts);
  }
}

/**
 * `invalid_request_uri` (400): RFC 9101 section 7, used by RFC 9126 section 4; the `request_uri` at
 * the authorization endpoint is malformed, unknown, expired, already used, or another client's.
 */
export class InvalidRequestUriError extends OAuthError {
  constructor(description = 'The request_uri is invalid, expired or already used', opts?: Opts) {
    super('invalid_request_uri', description, 400, opts);
  }
}

/**
 * `invalid_dpop_proof` (RFC 9449 section 5 at the token endpoint, 400; section 7.1 at a protected
 * resource, 401): the `DPoP` proof is missing where required, malformed, badly signed, stale,
 * replayed, or for another request or key.
 */
export class InvalidDpopProofError extends OAuthError {
  constructor(description = 'The DPoP proof is invalid', status: 400 | 401 = 400, opts?: Opts) {
    super('invalid_dpop_proof', description, status, opts);
  }
}

/**
 * `use_dpop_nonce` (RFC 9449 section 8, 400 at the token endpoint; section 9, 401 at a resource):
 * the proof must carry the server's nonce, sent in the `DPoP-Nonce` header of this answer.
 */
export class UseDpopNonceError extends OAuthError {
  constructor(description: string, status: 400 | 401, nonce: string) {
    super('use_dpop_nonce', description, status, { headers: { 'DPoP-Nonce': nonce } });
  }
}

/** `invalid_redirect_uri` (400): RFC 7591 section 3.2.2; a registered redirect URI is not acceptable. */
export class InvalidRedirectUriError extends OAuthError {
  constructor(description = 'A redirect URI is invalid', opts?: Opts) {
    super('invalid_redirect_uri', description, 400, opts);
  }
}

/** `invalid_client_metadata` (400): RFC 7591 section 3.2.2; a metadata field is invalid or not allowed. */
export class InvalidClientMetadataError extends OAuthError {
  constructor(description = 'The client metadata is invalid', opts?: Opts) {
    super('invalid_client_metadata', description, 400, opts);
  }
}

/** `true` for any core OAuth error, from this copy of core or another. */
export function isOAuthError(value: unknown): value is OAuthError {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { error?: unknown }).error === 'string' &&
    typeof (value as { status?: unknown }).status === 'number' &&
    value instanceof Error
  );
}

/** Thrown when the wiring or the options cannot serve what is enabled. Names what is missing and how to fix it. */
export class ConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigurationError';
  }
}

/**
 * Thrown by a store when its server cannot be reached (connection refused, lost, timed out).
 * Core answers 503 `temporarily_unavailable`; any other store error becomes 500 `server_error`.
 * The message must not carry secrets; the cause is kept for logs.
 */
export class StoreUnavailableError extends Error {
  readonly code = 'STORE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

const UNAVAILABLE_CODES = new Set([
  'STORE_UNAVAILABLE',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTCONN',
  'ENOTFOUND',
]);

/**
 * `true` when an error from a store means "the store cannot be reached right now": a
 * `StoreUnavailableError`, or a Node socket error (`ECONNREFUSED`, `ETIMEDOUT`, ...) anywhere in
 * its cause chain. Core knows no driver: each binding turns its driver's own failures (Sequelize's
 * `ConnectionError`, the MongoDB driver's network errors, node-redis's closed client) into a
 * `StoreUnavailableError` itself.
 */
export function isStoreUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const { code } = e as { code?: unknown };
    if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
    e = (e as { cause?: unknown }).cause ?? (e as { original?: unknown }).original;
  }
  return false;
}

/** Maps anything thrown while serving a request to the OAuth error answered for it. */
export function toOAuthError(err: unknown): OAuthError {
  if (isOAuthError(err)) return err;
  if (isStoreUnavailable(err)) return new TemporarilyUnavailableError(undefined, { cause: err });
  return new ServerError(undefined, { cause: err });
}
