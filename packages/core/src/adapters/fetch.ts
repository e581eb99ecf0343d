import type { Client, User } from '../contract.js';
import { type GuardOptions, guardArgs, type VerifiedToken } from '../endpoints/resource.js';
import type { OAuthRequest, OAuthResponse } from '../http.js';
import { describe } from '../log.js';
import type { OAuth2Provider } from '../provider.js';
import { json, serverErrorResponse } from '../responses.js';

/** Options of the Fetch adapter. */
export interface FetchAdapterOptions {
  /** Largest request body read, in bytes. Default 64 KiB (as the node adapter); larger bodies get 413. */
  bodyLimit?: number;
}

const DEFAULT_BODY_LIMIT = 65536;

/** Thrown by `fromFetchRequest` when a body is larger than `bodyLimit`; answer 413. */
export class FetchBodyTooLargeError extends Error {
  readonly code = 'BODY_TOO_LARGE';
  constructor() {
    super('The request body is too large');
    this.name = 'FetchBodyTooLargeError';
  }
}

/**
 * Reads a body as UTF-8 text, never more than `limit` bytes: a `Content-Length` above it is refused
 * before anything is read, and a body without one is counted while it streams and cancelled as
 * soon as it passes the limit.
 */
async function readLimited(request: Request, limit: number): Promise<string> {
  const declared = request.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared) > limit) throw new FetchBodyTooLargeError();
  if (!request.body) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw new FetchBodyTooLargeError();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Converts a Fetch `Request` (Hono, Next.js route handlers, Bun, Deno) to an `OAuthRequest`. A
 * form body is read up to `bodyLimit` bytes (default 64 KiB).
 * @throws FetchBodyTooLargeError when the body is larger (answer 413).
 */
export async function fromFetchRequest(request: Request, options?: FetchAdapterOptions): Promise<OAuthRequest> {
  const u = new URL(request.url);
  const headers: Record<string, string> = {};
  request.headers.forEach((v, k) => {
    headers[k] = v;
  });
  const method = request.method.toUpperCase();
  const ct = headers['content-type'];
  const body =
    method !== 'GET' && method !== 'HEAD' && readsBody(ct)
      ? await readLimited(request, options?.bodyLimit ?? DEFAULT_BODY_LIMIT)
      : undefined;
  return body === undefined ? { method, url: u.pathname + u.search, headers } : { method, url: u.pathname + u.search, headers, body };
}

/** Converts an `OAuthResponse` to a Fetch `Response`; a header value Fetch refuses gives a 500. */
export function toFetchResponse(r: OAuthResponse): Response {
  try {
    return new Response(r.status === 204 || r.status === 304 || r.body === '' ? null : r.body, { status: r.status, headers: r.headers });
  } catch {
    const f = serverErrorResponse();
    return new Response(f.body, { status: f.status, headers: f.headers });
  }
}

type Logs = { options: { logger: { error(m: string, meta?: Record<string, unknown>): void } } };

/** The answer to a failure while reading or serving a request: 413 for a large body, else 500. */
function failureResponse(provider: Logs, err: unknown): Response {
  if (err instanceof FetchBodyTooLargeError) {
    return toFetchResponse(
      json(413, { error: 'invalid_request', error_description: 'The request body is too large' }, { Connection: 'close' }),
    );
  }
  try {
    provider.options.logger.error('adapter: a request failed', { cause: describe(err) });
  } catch {
    // A logger that throws must not take the answer down with it.
  }
  return toFetchResponse(serverErrorResponse());
}

/**
 * A Fetch handler serving the token, revocation, introspection and metadata endpoints. Never
 * rejects: a body over `bodyLimit` is answered 413, anything thrown 500 `server_error`.
 * @returns the response, or `null` when the path is not one of them (route it elsewhere).
 */
export function toFetchHandler<U extends User, C extends Client>(
  provider: OAuth2Provider<U, C>,
  options?: FetchAdapterOptions,
): (request: Request) => Promise<Response | null> {
  provider.validate();
  return async (request) => {
    try {
      // Other paths are answered before any header is copied or body read.
      if (!provider.handles(new URL(request.url).pathname)) return null;
      const r = await provider.handle(await fromFetchRequest(request, options));
      return r ? toFetchResponse(r) : null;
    } catch (err) {
      return failureResponse(provider, err);
    }
  };
}

/**
 * Checks a Fetch request's bearer token for every listed scope (RFC 6750), or for `{ scopes,
 * audience }` (the token must also have been issued for this resource, RFC 8707). Never rejects:
 * a body over the default limit is answered 413, anything thrown 500 `server_error`.
 */
export function requireOAuthFetch<U extends User, C extends Client>(
  provider: OAuth2Provider<U, C>,
  ...args: string[] | [GuardOptions]
): (request: Request) => Promise<{ ok: true; token: VerifiedToken } | { ok: false; response: Response }> {
  const { scopes, options } = guardArgs(args);
  provider.validate();
  return async (request) => {
    try {
      const r = await provider.checkAccessToken(await fromFetchRequest(request), scopes, options);
      return r.ok ? r : { ok: false, response: toFetchResponse(r.response) };
    } catch (err) {
      return { ok: false, response: failureResponse(provider, err) };
    }
  };
}

/** Bodies the adapter reads: forms (token, revocation, ...) and JSON (client registration, RFC 7591). */
function readsBody(contentType: string | undefined): boolean {
  const ct = contentType?.toLowerCase();
  return ct !== undefined && (ct.startsWith('application/x-www-form-urlencoded') || ct.startsWith('application/json'));
}
