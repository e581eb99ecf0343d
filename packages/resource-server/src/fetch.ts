import { authenticate, type BearerResponse, serverError } from './bearer.js';
import type { VerifiedToken, Verifier } from './verifier.js';

/** Converts an adapter response to a Fetch `Response`; a header Fetch refuses gives a 500. */
export function toFetchResponse(r: BearerResponse): Response {
  try {
    return new Response(r.body, { status: r.status, headers: r.headers });
  } catch {
    const f = serverError();
    return new Response(f.body, { status: f.status, headers: f.headers });
  }
}

/**
 * Checks a Fetch request's bearer token for every listed scope (RFC 6750). Never rejects: a
 * token that could not be checked is answered 500 `server_error`. The body is not read.
 */
export function requireOAuthFetch(
  verifier: Verifier,
  ...scopes: string[]
): (request: Request) => Promise<{ ok: true; token: VerifiedToken } | { ok: false; response: Response }> {
  return async (request) => {
    try {
      const q = request.url.indexOf('?');
      const auth = request.headers.get('authorization');
      const dpop = request.headers.get('dpop');
      const r = await authenticate(
        verifier,
        // Fetch joins repeated headers with ", ", which neither a token68 nor a compact JWS
        // contains: refused as malformed.
        {
          authorization: auth === null ? [] : [auth],
          query: q < 0 ? '' : request.url.slice(q + 1).split('#')[0]!,
          method: request.method,
          url: request.url,
          dpop: dpop === null ? [] : [dpop],
        },
        scopes,
      );
      return r.ok ? r : { ok: false, response: toFetchResponse(r.response) };
    } catch {
      return { ok: false, response: toFetchResponse(serverError()) };
    }
  };
}
