/**
 * `@portcullis/hono`: the Portcullis endpoints as Hono 4 middleware (through core's Fetch adapter),
 * and an RFC 6750 bearer guard setting a typed `c.get('oauth')`.
 */
import {
  type Client,
  describeError,
  type GuardOptions,
  guardArgs,
  jsonResponse,
  type OAuth2Provider,
  type OAuthRequest,
  serverErrorResponse,
  toFetchHandler,
  toFetchResponse,
  type User,
  type VerifiedToken,
} from '@portcullis/core';
import type { Context, MiddlewareHandler } from 'hono';

/** The context variables `requireOAuth` sets: `c.get('oauth')` is the verified bearer token. */
export type OAuthVariables = {
  /** The verified bearer token; set by `requireOAuth` before the next handler runs. */
  oauth: VerifiedToken;
};

/**
 * The Hono environment of a protected route: `new Hono<OAuthEnv>()`, or merge it into your own
 * (`{ Bindings: ...; Variables: OAuthVariables & {...} }`). A handler after `requireOAuth` on the
 * same route gets it by inference, without a type argument.
 */
export type OAuthEnv = { Variables: OAuthVariables };

/** Options of `oauthEndpoints`. */
export interface HonoEndpointsOptions {
  /** Largest form body read, in bytes. Default 64 KiB; larger bodies get 413. */
  bodyLimit?: number;
}

const DEFAULT_BODY_LIMIT = 65536;

type Logs = { options: { logger: { error(m: string, meta?: Record<string, unknown>): void } } };

function logFailure(provider: Logs, err: unknown): void {
  try {
    provider.options.logger.error('hono: a request failed', { cause: describeError(err) });
  } catch {
    // A logger that throws must not take the answer down with it.
  }
}

/**
 * The request to hand to the Fetch adapter. When a middleware before this one already read the
 * body through Hono (`c.req.text()`, `c.req.parseBody()`), the raw stream is used up: the body is
 * rebuilt from Hono's cache: the exact bytes when Hono kept them (text, `ArrayBuffer`, `Blob`), else
 * form text from a cached `FormData` (which keeps repeated names, so core can still refuse them). Throws when the body was consumed outside Hono and cannot be had.
 */
async function requestOf(c: Context): Promise<Request> {
  const raw = c.req.raw;
  if (!raw.bodyUsed) return raw;
  const cache = c.req.bodyCache;
  let body: string;
  if (cache.formData && !cache.text && !cache.arrayBuffer && !cache.blob) {
    const form = await c.req.formData();
    const params = new URLSearchParams();
    for (const [name, value] of form) params.append(name, typeof value === 'string' ? value : '');
    body = params.toString();
  } else {
    body = await c.req.text();
  }
  const headers = new Headers(raw.headers);
  headers.delete('content-length');
  return new Request(raw.url, { method: raw.method, headers, body });
}

/**
 * Hono middleware serving the token, revocation, introspection and metadata endpoints (and the
 * JWKS when access tokens are JWTs) through core's Fetch adapter, at the paths in the provider's
 * options. Paths are matched in full against the request URL (as the metadata document advertises
 * them), so it works inside a sub-app mounted with `app.route('/prefix', sub)` for the endpoints
 * below that prefix; other requests go to `next()`.
 *
 * A form body is read up to `bodyLimit` (413 beyond it, with or without `Content-Length`). Never
 * throws: a provider failure is logged and answered 500 `server_error`, a body that cannot be read
 * 400 `invalid_request`.
 */
export function oauthEndpoints<U extends User, C extends Client>(
  provider: OAuth2Provider<U, C>,
  options?: HonoEndpointsOptions,
): MiddlewareHandler {
  const bodyLimit = options?.bodyLimit ?? DEFAULT_BODY_LIMIT;
  if (!Number.isSafeInteger(bodyLimit) || bodyLimit < 1) throw new Error('@portcullis/hono: bodyLimit must be a positive integer');
  const handle = toFetchHandler(provider, { bodyLimit });
  return async (c, next) => {
    // Answered before anything is read: other paths cost one URL parse.
    if (!provider.handles(new URL(c.req.url).pathname)) return next();
    let request: Request;
    try {
      request = await requestOf(c);
    } catch {
      return toFetchResponse(jsonResponse(400, { error: 'invalid_request', error_description: 'The request body could not be read' }));
    }
    const r = await handle(request);
    if (r === null) return next();
    return r;
  };
}

/**
 * The request as core's bearer check reads it: method, path with query, headers; no body. Fetch
 * `Headers` join a repeated header's values with `, `, so two `DPoP` proofs arrive as one value
 * core refuses, never as one of them.
 */
function bearerRequest(c: Context): OAuthRequest {
  const u = new URL(c.req.url);
  const headers: Record<string, string> = {};
  c.req.raw.headers.forEach((v, k) => {
    headers[k] = v;
  });
  return { method: c.req.method, url: u.pathname + u.search, headers };
}

/**
 * Middleware protecting the handlers after it (RFC 6750): a valid access token holding every
 * listed scope, given as scope names or as one `{ scopes, audience }` object (RFC 8707: a token
 * issued for another resource is 401 `invalid_token`). On success it sets `c.get('oauth')` (typed
 * through `OAuthEnv`; with `dpopJkt` for a DPoP-bound token) and calls `next()`, whose errors reach
 * Hono's `onError` untouched; otherwise it answers 400/401/403 with every header core set
 * (`WWW-Authenticate`, and `DPoP-Nonce` when the provider asks for a DPoP nonce; 500
 * `server_error` when the provider throws). With `dpop: { enabled: true }` on the provider,
 * `Authorization: DPoP <token>` and its `DPoP` proof (RFC 9449) reach core as the Fetch `Headers`
 * hold them: a repeated `DPoP` header, joined with `, `, is refused (401 `invalid_dpop_proof`).
 * The proof's `htu` is a `dpop.resourceOrigins` origin plus the request URL's full path. The body
 * is not read: a token in a form body (RFC 6750 section 2.2) is not looked for.
 */
export function requireOAuth<U extends User, C extends Client>(
  provider: OAuth2Provider<U, C>,
  ...args: string[] | [GuardOptions]
): MiddlewareHandler<OAuthEnv> {
  const { scopes, options } = guardArgs(args);
  provider.validate();
  return async (c, next) => {
    let token: VerifiedToken;
    try {
      const r = await provider.checkAccessToken(bearerRequest(c), scopes, options);
      if (!r.ok) return toFetchResponse(r.response);
      token = r.token;
    } catch (err) {
      logFailure(provider, err);
      return toFetchResponse(serverErrorResponse());
    }
    c.set('oauth', token);
    await next();
    return undefined;
  };
}
