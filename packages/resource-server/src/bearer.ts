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
  /** The HTTP method, for a DPoP proof's `htm` (RFC 9449). Without it DPoP proofs fail. */
  readonly method?: string;
  /** The request target (path, or absolute URL), for a DPoP proof's `htu`. Without it DPoP proofs fail. */
  readonly url?: string;
  /** `DPoP` header values, one per header line received (more than one is refused). */
  readonly dpop?: readonly string[];
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

const NONCE = /^[A-Za-z0-9_-]{1,256}$/;

/**
 * An RFC 6750 answer with its `WWW-Authenticate` challenge: `Bearer`, or `DPoP` (RFC 9449 section
 * 7.1, with `algs`) when `error.scheme` says so. Without `error` the request had no token: with
 * DPoP on it is offered both schemes. A `use_dpop_nonce` error carries a `DPoP-Nonce` header.
 */
export function challenge(
  verifier: Verifier,
  error: Extract<VerifyResult, { ok: false }> | null,
  scopes: readonly string[],
): BearerResponse {
  const c = verifier.challenge;
  const algs = c.dpopAlgorithms;
  const metadata = c.resourceMetadata !== null ? `, resource_metadata="${quote(c.resourceMetadata)}"` : '';
  const dpopScheme = error?.scheme === 'DPoP' && algs !== null;
  let h = `${dpopScheme ? 'DPoP' : 'Bearer'} realm="${quote(c.realm)}"`;
  if (error) h += `, error="${quote(error.error)}", error_description="${quote(error.description)}"`;
  if (error?.error === 'insufficient_scope' && scopes.length > 0) h += `, scope="${quote(scopes.join(' '))}"`;
  if (dpopScheme) h += `, algs="${quote(algs.join(' '))}"`;
  h += metadata;
  if (!error && algs !== null) h += `, DPoP realm="${quote(c.realm)}", algs="${quote(algs.join(' '))}"${metadata}`;
  const body = error
    ? { error: error.error, error_description: error.description }
    : { error: 'invalid_token', error_description: 'A bearer token is required' };
  const headers: Record<string, string> = { 'WWW-Authenticate': h };
  if (error?.nonce !== undefined && NONCE.test(error.nonce)) headers['DPoP-Nonce'] = error.nonce;
  return json(error?.status ?? 401, body, headers);
}

function invalidRequest(description: string, scheme?: 'DPoP'): Extract<VerifyResult, { ok: false }> {
  return scheme
    ? { ok: false, status: 400, error: 'invalid_request', description, scheme }
    : { ok: false, status: 400, error: 'invalid_request', description };
}

/**
 * Finds the access token (RFC 6750 section 2.1, the `Authorization` header only; with DPoP on,
 * also `Authorization: DPoP`, RFC 9449 section 7.1) and checks it, with its proof for the DPoP
 * scheme. Rejects only when the verifier does (the token could not be checked).
 */
export async function authenticate(verifier: Verifier, req: BearerRequest, scopes: readonly string[]): Promise<AuthResult> {
  const found: string[] = [];
  let error: Extract<VerifyResult, { ok: false }> | null = null;
  let scheme: 'DPoP' | undefined;
  if (req.authorization.length > 1) error = invalidRequest('Send one Authorization header');
  const auth = req.authorization[0];
  if (!error && auth !== undefined) {
    const sp = auth.indexOf(' ');
    const name = sp > 0 ? auth.slice(0, sp).toLowerCase() : '';
    if (name === 'dpop' && verifier.challenge.dpopAlgorithms !== null) scheme = 'DPoP';
    if (name === 'bearer' || scheme) {
      const t = auth.slice(sp + 1).trim();
      if (t !== '' && !TOKEN68.test(t)) error = invalidRequest('The Authorization header is malformed', scheme);
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
      scheme,
    );
  }
  if (error) return { ok: false, response: challenge(verifier, error, scopes) };
  const token = found[0];
  if (token === undefined) return { ok: false, response: challenge(verifier, null, scopes) };
  const r = scheme
    ? await verifier.verifyDpop(token, { method: req.method ?? '', url: req.url ?? '', proofs: req.dpop ?? [] }, scopes)
    : await verifier.verify(token, scopes);
  return r.ok ? r : { ok: false, response: challenge(verifier, r, scopes) };
}
