import { authenticatedForm } from '../client-auth.js';
import type { Client, GrantType, User } from '../contract.js';
import { checkProof, htuOf, nonceHeader } from '../dpop.js';
import { type EndpointResult, type Engine, fail } from '../engine.js';
import { InvalidDpopProofError, InvalidRequestError, isOAuthError, UnauthorizedClientError, UnsupportedGrantTypeError } from '../errors.js';
import { authorizationCodeGrant } from '../grants/authorization-code.js';
import { clientCredentialsGrant } from '../grants/client-credentials.js';
import { deviceCodeGrant } from '../grants/device-code.js';
import { passwordGrant } from '../grants/password.js';
import { refreshTokenGrant } from '../grants/refresh-token.js';
import type { GrantHandler } from '../grants/types.js';
import type { OAuthRequest } from '../http.js';
import { endpointUrl } from '../options.js';
import { json } from '../responses.js';

const HANDLERS: Partial<Record<GrantType, GrantHandler>> = {
  authorization_code: authorizationCodeGrant,
  refresh_token: refreshTokenGrant,
  client_credentials: clientCredentialsGrant,
  password: passwordGrant,
  'urn:ietf:params:oauth:grant-type:device_code': deviceCodeGrant,
};

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
  // RFC 9449 section 5: with DPoP on, a valid proof binds the tokens to its key.
  let dpopJkt: string | null = null;
  if (e.o.dpop.enabled) {
    const proof = await checkProof(e, req, { urls: [tokenUrl(e)], accessToken: null, status: 400 });
    if (isOAuthError(proof)) return fail(proof, undefined, client.id, grantType);
    if (proof !== null) dpopJkt = proof.jkt;
    else if (client.dpopBoundAccessTokens === true) {
      return fail(new InvalidDpopProofError('This client must send a DPoP proof'), undefined, client.id, grantType);
    }
  }
  const r = await handler(e, client, p, { dpopJkt });
  if (isOAuthError(r)) return fail(r, undefined, client.id, grantType);
  return {
    response: json(200, r.body, e.o.dpop.enabled ? nonceHeader(e) : undefined),
    error: null,
    clientId: client.id,
    userId: r.userId,
    grantType,
    scopes: r.scopes,
    issuedGrantId: r.grantId,
  };
}

/** The token endpoint's URL as proofs name it (`htu`): the issuer's origin and the endpoint path. */
function tokenUrl(e: Engine): string {
  return htuOf(endpointUrl(e.o, e.o.endpoints.token))!;
}
