/**
 * Client authentication (RFC 6749 section 2.3) and the steps the token, revocation and
 * introspection endpoints share before their own work: POST, a form body, an authenticated client.
 */
import type { Client, ClientAuthMethod, User } from './contract.js';
import { verifySecret } from './crypto.js';
import { type EndpointResult, type Engine, fail, findClient } from './engine.js';
import { InvalidClientError, InvalidRequestError, isOAuthError, type OAuthError } from './errors.js';
import type { OAuthRequest } from './http.js';
import { basicCredentials, formBody, isForm, type Params, parseParams, queryOf } from './params.js';
import { methodNotAllowed } from './responses.js';

/** A client that proved who it is at the token, revocation or introspection endpoint. */
export interface AuthenticatedClient<C extends Client> {
  client: C;
  method: ClientAuthMethod;
}

const BASIC_CHALLENGE = { 'WWW-Authenticate': 'Basic realm="oauth"' };

/**
 * Client authentication (RFC 6749 section 2.3): `client_secret_basic` (credentials
 * form-url-decoded), `client_secret_post`, or `none` for public clients. Using two methods at once
 * is `invalid_request`. A client whose registration names `tokenEndpointAuthMethod` must use that
 * method; one that names none may use either secret method. Secrets are verified in constant time
 * against the stored hash. With `lenientBasicAuth`, Basic credentials that were not form-encoded
 * are accepted too (both readings are checked).
 */
export async function authenticateClient<U extends User, C extends Client>(
  e: Engine<U, C>,
  req: OAuthRequest,
  params: Params,
): Promise<AuthenticatedClient<C> | OAuthError> {
  const basic = basicCredentials(req);
  if (isOAuthError(basic)) return basic;
  const lenient = e.o.lenientBasicAuth;
  const postSecret = params.client_secret;
  if (basic && postSecret !== undefined) {
    return new InvalidRequestError('Use one client authentication method, not both Basic and client_secret');
  }
  const fail = (msg = 'Client authentication failed') => new InvalidClientError(msg, basic ? { headers: BASIC_CHALLENGE } : undefined);
  if (basic && !lenient && (basic.id === null || basic.secret === null)) return fail('Malformed Basic credentials');
  if (basic && params.client_id !== undefined && params.client_id !== basic.id && !(lenient && params.client_id === basic.rawId)) {
    return new InvalidRequestError('client_id does not match the Basic credentials');
  }
  let client: C | null = null;
  if (basic) {
    if (basic.id !== null) client = await findClient(e, basic.id);
    if (!client && lenient && basic.rawId !== basic.id) client = await findClient(e, basic.rawId);
  } else {
    const id = params.client_id;
    if (id === undefined || id === '') return fail('Client authentication is required');
    client = await findClient(e, id);
  }
  if (!client) return fail();
  const registered = client.tokenEndpointAuthMethod;
  if (client.secretHash === null || client.secretHash === undefined) {
    if (basic || postSecret !== undefined) return fail();
    if (registered && registered !== 'none') return fail();
    return { client, method: 'none' };
  }
  const method: ClientAuthMethod = basic ? 'client_secret_basic' : 'client_secret_post';
  // A registration that names its method is held to it (a confidential client that names `none`
  // cannot authenticate at all); one that names none may use either secret method.
  if (registered !== undefined && registered !== method) return fail();
  if (basic) {
    // Strict: the decoded secret. Lenient: the decoded and the raw reading, both always checked.
    // A salted SHA-256 or HMAC hash answers at once; only scrypt is waited for (no tick otherwise).
    let decoded = basic.secret === null ? false : verifySecret(basic.secret, client.secretHash);
    if (typeof decoded !== 'boolean') decoded = await decoded;
    let raw = lenient && basic.rawSecret !== basic.secret ? verifySecret(basic.rawSecret, client.secretHash) : false;
    if (typeof raw !== 'boolean') raw = await raw;
    if (!decoded && !raw) return fail();
    return expired(client) ? fail('The client secret has expired') : { client, method };
  }
  if (postSecret === undefined) return fail();
  let ok = verifySecret(postSecret, client.secretHash);
  if (typeof ok !== 'boolean') ok = await ok;
  if (!ok) return fail();
  return expired(client) ? fail('The client secret has expired') : { client, method };
}

/** `true` when the client's secret has passed its `clientSecretExpiresAt` (RFC 7591 section 3.2.1). */
function expired(client: Client): boolean {
  const at = client.clientSecretExpiresAt;
  return at !== undefined && at !== null && at.getTime() <= Date.now();
}

/** The client id a request claims (Basic user name or `client_id`), for hooks and logs only. */
export function claimedClientId(req: OAuthRequest, params: Params): string | null {
  const basic = basicCredentials(req);
  if (basic && !isOAuthError(basic)) return basic.id ?? basic.rawId;
  return params.client_id ?? null;
}

/** The parts of a token, revocation or introspection request every such endpoint checks first. */
export function postFormOnly(req: OAuthRequest): EndpointResult | null {
  if (req.method !== 'POST') {
    return fail(new InvalidRequestError('Use POST'), methodNotAllowed('POST'));
  }
  if (!isForm(req)) return fail(new InvalidRequestError('The body must be application/x-www-form-urlencoded'));
  return null;
}

/**
 * What the token, revocation and introspection endpoints all start with: POST, a form body
 * without repeated parameters, and an authenticated client.
 * @returns the parameters and the client, or the error result to answer with.
 */
export async function authenticatedForm<U extends User, C extends Client>(
  e: Engine<U, C>,
  req: OAuthRequest,
): Promise<{ p: Params; auth: AuthenticatedClient<C> } | EndpointResult> {
  const bad = postFormOnly(req);
  if (bad) return bad;
  const p = formBody(req);
  if (isOAuthError(p)) return fail(p);
  const auth = await authenticateClient(e, req, p);
  if (isOAuthError(auth)) return fail(auth, undefined, claimedClientId(req, p), p.grant_type ?? null);
  return { p, auth };
}

/**
 * The client id a request names before anything is checked (for `beforeRequest` hooks): the Basic
 * user name, else `client_id` from a form body, else from the query string.
 */
export function requestedClientId(req: OAuthRequest): string | null {
  const basic = basicCredentials(req);
  if (basic && !isOAuthError(basic)) return basic.id ?? basic.rawId;
  if (req.method !== 'GET' && req.method !== 'HEAD' && isForm(req)) {
    const p = formBody(req);
    if (!isOAuthError(p) && p.client_id !== undefined) return p.client_id;
  }
  const q = queryOf(req.url);
  if (!q.includes('client_id')) return null;
  const p = parseParams(q);
  return isOAuthError(p) ? null : (p.client_id ?? null);
}
