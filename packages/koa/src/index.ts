/**
 * `@portcullis/koa`: the Portcullis endpoints as Koa 3 middleware, and an RFC 6750 bearer check.
 */
import { validateHeaderName, validateHeaderValue } from 'node:http';
import {
  type Client,
  describeError,
  type GuardOptions,
  guardArgs,
  jsonResponse,
  type OAuth2Provider,
  type OAuthRequest,
  type OAuthResponse,
  serverErrorResponse,
  type User,
  type VerifiedToken,
} from '@portcullis/core';
import type { Context, Middleware, Next } from 'koa';

declare module 'koa' {
  interface DefaultState {
    /** The verified bearer token; set by `requireOAuth` before the next middleware runs. */
    oauth?: VerifiedToken;
  }
}

/** Options of `oauthEndpoints`. */
export interface KoaEndpointsOptions {
  /** Largest form body read, in bytes. Default 64 KiB; larger bodies get 413. */
  bodyLimit?: number;
}

const FORM = 'application/x-www-form-urlencoded';
const DEFAULT_BODY_LIMIT = 65536;

type Logs = { options: { logger: { error(m: string, meta?: Record<string, unknown>): void } } };

/** What a body parser (`@koa/bodyparser`, `koa-body`) leaves on the request. */
type ParsedRequest = { body?: unknown; rawBody?: unknown };

function logFailure(provider: Logs, err: unknown): void {
  try {
    provider.options.logger.error('koa: a request failed', { cause: describeError(err) });
  } catch {
    // A logger that throws must not take the answer down with it.
  }
}

/**
 * Sets an `OAuthResponse` on the context. A header Node would refuse (app code put a control
 * character in a hook's response) is checked first and answered 500 `server_error` instead.
 */
function send(ctx: Context, r: OAuthResponse): void {
  let out = r;
  try {
    for (const [name, value] of Object.entries(r.headers)) {
      validateHeaderName(name);
      validateHeaderValue(name, value);
    }
  } catch {
    out = serverErrorResponse();
  }
  ctx.status = out.status;
  ctx.set(out.headers);
  // Headers first: Koa keeps a Content-Type already set when the body is a string.
  ctx.body = out.body;
}

/** Thrown while reading a body larger than the limit. */
class BodyTooLarge extends Error {}

function isForm(ctx: Context): boolean {
  const ct = ctx.get('content-type');
  const semi = ct.indexOf(';');
  return (semi === -1 ? ct : ct.slice(0, semi)).trim().toLowerCase() === FORM;
}

/** Reads the request stream as UTF-8, refusing more than `limit` bytes (declared or sent). */
function readBody(ctx: Context, limit: number): Promise<string> {
  const req = ctx.req;
  const declared = req.headers['content-length'];
  if (declared !== undefined && /^\d+$/.test(declared.trim()) && Number(declared) > limit) {
    req.resume();
    return Promise.reject(new BodyTooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > limit) {
        done = true;
        reject(new BodyTooLarge());
      } else chunks.push(c);
    });
    req.on('end', () => {
      if (!done) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (err) => {
      done = true;
      reject(err);
    });
  });
}

/**
 * The request for core. A body parser's work is used when there is some: its raw text for a form
 * (`rawBody`, so repeated parameters can still be refused), else what it parsed. Without one, a
 * form body is read here when `limit` is given (the endpoints) and left alone otherwise.
 */
async function toOAuthRequest(ctx: Context, limit?: number): Promise<OAuthRequest> {
  const base = { method: ctx.method, url: ctx.originalUrl, headers: ctx.req.headers, remoteAddress: ctx.req.socket?.remoteAddress };
  const parsed = ctx.request as unknown as ParsedRequest;
  const form = isForm(ctx);
  if (form && typeof parsed.rawBody === 'string') return { ...base, body: parsed.rawBody };
  const b = parsed.body;
  if (typeof b === 'string') return { ...base, body: b };
  if (Buffer.isBuffer(b)) return { ...base, body: b.toString('utf8') };
  if (b && typeof b === 'object') return { ...base, parsedBody: b as Record<string, unknown> };
  if (limit !== undefined && form && ctx.method !== 'GET' && ctx.method !== 'HEAD') return { ...base, body: await readBody(ctx, limit) };
  return base;
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/**
 * Koa middleware serving the token, revocation, introspection and metadata endpoints (and the
 * JWKS when access tokens are JWTs) at the paths in the provider's options. Paths are matched in
 * full against `ctx.originalUrl` (as the metadata document advertises them), also under a mount
 * path; other requests go to `next()`.
 *
 * A form body is read here up to `bodyLimit` (413 beyond it, 400 when it cannot be read) unless a
 * body parser ran before; `rawBody` (as `@koa/bodyparser` keeps it) is preferred to the parsed
 * object. Never throws: a provider failure is logged and answered 500 `server_error`.
 */
export function oauthEndpoints<U extends User, C extends Client>(
  provider: OAuth2Provider<U, C>,
  options?: KoaEndpointsOptions,
): Middleware {
  const limit = options?.bodyLimit ?? DEFAULT_BODY_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new Error('@portcullis/koa: bodyLimit must be a positive integer');
  provider.validate();
  return async (ctx: Context, next: Next) => {
    if (!provider.handles(pathOf(ctx.originalUrl))) return next();
    let oreq: OAuthRequest;
    try {
      oreq = await toOAuthRequest(ctx, limit);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        send(
          ctx,
          jsonResponse(413, { error: 'invalid_request', error_description: 'The request body is too large' }, { Connection: 'close' }),
        );
      } else {
        send(ctx, jsonResponse(400, { error: 'invalid_request', error_description: 'The request body could not be read' }));
      }
      return undefined;
    }
    let r: OAuthResponse | null;
    try {
      r = await provider.handle(oreq);
    } catch (err) {
      logFailure(provider, err);
      r = serverErrorResponse();
    }
    send(ctx, r ?? jsonResponse(404, { error: 'not_found' }));
    return undefined;
  };
}

/**
 * Middleware protecting the routes after it (RFC 6750): a valid access token holding every listed
 * scope, given as scope names or as one `{ scopes, audience }` object (core's `GuardOptions`; RFC
 * 8707: a token issued for another resource is 401 `invalid_token`):
 * `router.get('/me', requireOAuth(provider, { scopes: ['read'], audience: 'https://api.example/' }), h)`.
 *
 * On success it sets `ctx.state.oauth` (with `dpopJkt` for a DPoP-bound token) and calls `next()`,
 * whose errors reach Koa's error handling untouched; otherwise it answers 400/401/403 with every
 * header core set (`WWW-Authenticate`, and `DPoP-Nonce` when the provider asks for a DPoP nonce).
 * With `dpop: { enabled: true }` on the provider, `Authorization: DPoP <token>` and its `DPoP`
 * proof (RFC 9449) are checked by core as Node received them: a repeated `DPoP` header, which Node
 * joins with `, `, is refused (401 `invalid_dpop_proof`). The proof's `htu` is a
 * `dpop.resourceOrigins` origin plus `ctx.originalUrl`'s path (the full path, also under a mount
 * point). The body is not read: a token in a form body (RFC 6750 section 2.2) is seen only when a
 * body parser ran before.
 */
export function requireOAuth<U extends User, C extends Client>(
  provider: OAuth2Provider<U, C>,
  ...args: string[] | [GuardOptions]
): Middleware {
  const { scopes, options } = guardArgs(args);
  provider.validate();
  return async (ctx: Context, next: Next) => {
    let token: VerifiedToken;
    try {
      const r = await provider.checkAccessToken(await toOAuthRequest(ctx), scopes, options);
      if (!r.ok) {
        send(ctx, r.response);
        return undefined;
      }
      token = r.token;
    } catch (err) {
      logFailure(provider, err);
      send(ctx, serverErrorResponse());
      return undefined;
    }
    ctx.state.oauth = token;
    return next();
  };
}
