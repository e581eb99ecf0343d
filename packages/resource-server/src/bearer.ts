import type { VerifiedToken, Verifier, VerifyResult } from './verifier.js';

/** A response the adapters send: status, headers and a JSON body. */
export interface BearerResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** What `authenticate` returns: the token, or the response to answer with. */
export type AuthResult = { readonly ok: true; readonly token: VerifiedToken } | { readonly ok: false; readonly response: BearerResponse };

/** The parts of a request the bearer check reads. */
export interface BearerRequest {
  /** `Authorization` header values, one per header line received (more than one is refused). */
  readonly authorization: readonly string[];
  /** The query string, without `?`. */
  readonly query: string;
  /** `access_token` was found in a form body a framework already parsed. */
  readonly bodyToken?: boolean;
}

const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

/** A quoted-string value for `WWW-Authenticate`: only %x20-21 / %x23-5B / %x5D-7E (RFC 6750 section 3). */
export function quote(s: string): string {
  return s.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '');
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): BearerResponse {
  return {
    status,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

/** The 500 answer when a token could not be checked. */
export function serverError(): BearerResponse {
  return json(500, { error: 'server_error', error_description: 'The request could not be completed' });
}

/** An RFC 6750 answer with its `WWW-Authenticate: Bearer` challenge; without `error` the request had no token. */
export function challenge(
  verifier: Verifier,
  error: Extract<VerifyResult, { ok: false }> | null,
  scopes: readonly string[],
): BearerResponse {
  const c = verifier.challenge;
  let h = `Bearer realm="${quote(c.realm)}"`;
  if (error) h += `, error="${quote(error.error)}", error_description="${quote(error.description)}"`;
  if (error?.error === 'insufficient_scope' && scopes.length > 0) h += `, scope="${quote(scopes.join(' '))}"`;
  if (c.resourceMetadata !== null) h += `, resource_metadata="${quote(c.resourceMetadata)}"`;
  const body = error
    ? { error: error.error, error_description: error.description }
    : { error: 'invalid_token', error_description: 'A bearer token is required' };
  return json(error?.status ?? 401, body, { 'WWW-Authenticate': h });
}

function invalidRequest(description: string): Extract<VerifyResult, { ok: false }> {
  return { ok: false, status: 400, error: 'invalid_request', description };
}

/**
 * Finds the bearer token (RFC 6750 section 2.1, the `Authorization` header only) and checks it.
 * Rejects only when the verifier does (the token could not be checked).
 */
export async function authenticate(verifier: Verifier, req: BearerRequest, scopes: readonly string[]): Promise<AuthResult> {
  const found: string[] = [];
  let error: Extract<VerifyResult, { ok: false }> | null = null;
  if (req.authorization.length > 1) error = invalidRequest('Send one Authorization header');
  const auth = req.authorization[0];
  if (!error && auth !== undefined) {
    const sp = auth.indexOf(' ');
    if (sp > 0 && auth.slice(0, sp).toLowerCase() === 'bearer') {
      const t = auth.slice(sp + 1).trim();
      if (t !== '' && !TOKEN68.test(t)) error = invalidRequest('The Authorization header is malformed');
      found.push(t);
    }
  }
  let elsewhere = req.bodyToken === true;
  if (!elsewhere && req.query.includes('access_token')) {
    elsewhere = new URLSearchParams(req.query).has('access_token');
  }
  if (!error && elsewhere) {
    error = invalidRequest(
      found.length > 0 ? 'Use one method to send the bearer token' : 'Send the bearer token in the Authorization header',
    );
  }
  if (error) return { ok: false, response: challenge(verifier, error, scopes) };
  const token = found[0];
  if (token === undefined) return { ok: false, response: challenge(verifier, null, scopes) };
  const r = await verifier.verify(token, scopes);
  return r.ok ? r : { ok: false, response: challenge(verifier, r, scopes) };
}
