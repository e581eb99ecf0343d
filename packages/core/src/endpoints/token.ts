import type { Client, GrantType, User } from '../contract.js';
import { InvalidRequestError, isOAuthError, type OAuthError, UnauthorizedClientError, UnsupportedGrantTypeError } from '../errors.js';
import { authorizationCodeGrant } from '../grants/authorization-code.js';
import { clientCredentialsGrant } from '../grants/client-credentials.js';
import { passwordGrant } from '../grants/password.js';
import { refreshTokenGrant } from '../grants/refresh-token.js';
import type { GrantHandler } from '../grants/types.js';
import type { OAuthRequest } from '../http.js';
import { formBody, isForm, type Params } from '../params.js';
import type { EndpointResult, Engine } from '../provider.js';
import { errorResponse, json, methodNotAllowed } from '../responses.js';
import { type AuthenticatedClient, authenticateClient, claimedClientId } from './shared.js';

const HANDLERS: Partial<Record<GrantType, GrantHandler>> = {
  authorization_code: authorizationCodeGrant,
  refresh_token: refreshTokenGrant,
  client_credentials: clientCredentialsGrant,
  password: passwordGrant,
};

/** The parts of a token, revocation or introspection request every such endpoint checks first. */
export function postFormOnly(req: OAuthRequest): EndpointResult | null {
  if (req.method !== 'POST') {
    return fail(new InvalidRequestError('Use POST'), methodNotAllowed('POST'));
  }
  if (!isForm(req)) return fail(new InvalidRequestError('The body must be application/x-www-form-urlencoded'));
  return null;
}

/** An `EndpointResult` for an error. */
export function fail(
  error: OAuthError,
  response = errorResponse(error),
  clientId: string | null = null,
  grantType: string | null = null,
): EndpointResult {
  return { response, error, clientId, grantType, scopes: null, issuedGrantId: null };
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

/** The token endpoint (RFC 6749 section 3.2). */
export async function tokenEndpoint<U extends User, C extends Client>(e: Engine<U, C>, req: OAuthRequest): Promise<EndpointResult> {
  const form = await authenticatedForm(e, req);
  if ('response' in form) return form;
  const { p, auth } = form;
  const grantType = p.grant_type ?? null;
  const client = auth.client;
  if (!grantType) return fail(new InvalidRequestError('grant_type is required'), undefined, client.id);
  const handler = e.o.grants.has(grantType as GrantType) ? HANDLERS[grantType as GrantType] : undefined;
  if (!handler) return fail(new UnsupportedGrantTypeError('Unsupported grant_type'), undefined, client.id, grantType);
  if (!client.grantTypes.includes(grantType as GrantType)) {
    return fail(new UnauthorizedClientError('This client may not use this grant type'), undefined, client.id, grantType);
  }
  const r = await handler(e, client, p);
  if (isOAuthError(r)) return fail(r, undefined, client.id, grantType);
  return { response: json(200, r.body), error: null, clientId: client.id, grantType, scopes: r.scopes, issuedGrantId: r.grantId };
}
