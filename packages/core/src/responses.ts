import type { OAuthError } from './errors.js';
import type { OAuthResponse } from './http.js';

/** Headers of every JSON answer: tokens and errors must never be cached (RFC 6749 5.1). */
function jsonHeaders(): Record<string, string> {
  return { 'Content-Type': 'application/json;charset=UTF-8', 'Cache-Control': 'no-store', Pragma: 'no-cache' };
}

/** A JSON response; `body` is an object or already-serialized JSON. */
export function json(status: number, body: unknown, extra?: Readonly<Record<string, string>>): OAuthResponse {
  const headers = jsonHeaders();
  if (extra) Object.assign(headers, extra);
  return { status, headers, body: typeof body === 'string' ? body : JSON.stringify(body) };
}

/** The JSON error response of RFC 6749 section 5.2. */
export function errorResponse(e: OAuthError): OAuthResponse {
  return json(e.status, { error: e.error, error_description: e.message }, e.headers);
}

/** The 500 an adapter answers when something it called threw: nothing of the error is shown. */
export function serverErrorResponse(): OAuthResponse {
  return json(500, { error: 'server_error', error_description: 'The server could not complete the request' });
}

/** A 302 redirect. */
export function redirect(location: string): OAuthResponse {
  return { status: 302, headers: { Location: location, 'Cache-Control': 'no-store', Pragma: 'no-cache' }, body: '' };
}

/**
 * The 200 of revocation: RFC 7009 section 2.2 leaves the body open; an empty JSON object with a
 * JSON content type is what widely used clients accept.
 */
export function emptyOk(): OAuthResponse {
  return json(200, '{}');
}

/** 405 with `Allow`. */
export function methodNotAllowed(allow: string): OAuthResponse {
  return json(405, { error: 'invalid_request', error_description: `Use ${allow}` }, { Allow: allow });
}
