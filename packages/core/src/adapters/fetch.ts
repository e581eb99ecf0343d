import type { Client, User } from '../contract.js';
import type { OAuthRequest, OAuthResponse } from '../http.js';
import type { OAuth2Provider, VerifiedToken } from '../provider.js';

/** Converts a Fetch `Request` (Hono, Next.js route handlers, Bun, Deno) to an `OAuthRequest`. */
export async function fromFetchRequest(request: Request): Promise<OAuthRequest> {
  const u = new URL(request.url);
  const headers: Record<string, string> = {};
  request.headers.forEach((v, k) => {
    headers[k] = v;
  });
  const method = request.method.toUpperCase();
  const ct = headers['content-type'];
  const body =
    method !== 'GET' && method !== 'HEAD' && ct?.toLowerCase().startsWith('application/x-www-form-urlencoded')
      ? await request.text()
      : undefined;
  return body === undefined ? { method, url: u.pathname + u.search, headers } : { method, url: u.pathname + u.search, headers, body };
}

/** Converts an `OAuthResponse` to a Fetch `Response`. */
export function toFetchResponse(r: OAuthResponse): Response {
  return new Response(r.status === 204 || r.status === 304 || r.body === '' ? null : r.body, { status: r.status, headers: r.headers });
}

/**
 * A Fetch handler serving the token, revocation, introspection and metadata endpoints.
 * @returns the response, or `null` when the path is not one of them (route it elsewhere).
 */
export function toFetchHandler<U extends User, C extends Client>(
  provider: OAuth2Provider<U, C>,
): (request: Request) => Promise<Response | null> {
  provider.validate();
  return async (request) => {
    // Other paths are answered before any header is copied or body read.
    if (!provider.handles(new URL(request.url).pathname)) return null;
    const r = await provider.handle(await fromFetchRequest(request));
    return r ? toFetchResponse(r) : null;
  };
}

/** Checks a Fetch request's bearer token for every listed scope (RFC 6750). */
export function requireOAuthFetch<U extends User, C extends Client>(
  provider: OAuth2Provider<U, C>,
  ...scopes: string[]
): (request: Request) => Promise<{ ok: true; token: VerifiedToken } | { ok: false; response: Response }> {
  provider.validate();
  return async (request) => {
    const r = await provider.checkAccessToken(await fromFetchRequest(request), scopes);
    return r.ok ? r : { ok: false, response: toFetchResponse(r.response) };
  };
}
