import type { Client, GrantType, User } from '../contract.js';
import { digestToken, randomToken, verifySecret } from '../crypto.js';
import { InvalidClientError, InvalidRequestError, InvalidScopeError, isOAuthError, type OAuthError } from '../errors.js';
import type { OAuthRequest } from '../http.js';
import { basicCredentials, type Params, splitScope } from '../params.js';
import type { Engine } from '../provider.js';

export type AuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

/** A client that proved who it is at the token, revocation or introspection endpoint. */
export interface AuthenticatedClient<C extends Client> {
  client: C;
  method: AuthMethod;
}

const BASIC_CHALLENGE = { 'WWW-Authenticate': 'Basic realm="oauth"' };

/**
 * Client authentication (RFC 6749 section 2.3): `client_secret_basic` (credentials
 * form-url-decoded), `client_secret_post`, or `none` for public clients. Using two methods at once
 * is `invalid_request`. Secrets are verified in constant time against the stored hash.
 */
export async function authenticateClient<U extends User, C extends Client>(
  e: Engine<U, C>,
  req: OAuthRequest,
  params: Params,
): Promise<AuthenticatedClient<C> | OAuthError> {
  const basic = basicCredentials(req);
  if (isOAuthError(basic)) return basic;
  const postSecret = params.client_secret;
  if (basic && postSecret !== undefined) {
    return new InvalidRequestError('Use one client authentication method, not both Basic and client_secret');
  }
  if (basic && params.client_id !== undefined && params.client_id !== basic.id) {
    return new InvalidRequestError('client_id does not match the Basic credentials');
  }
  const fail = (msg = 'Client authentication failed') => new InvalidClientError(msg, basic ? { headers: BASIC_CHALLENGE } : undefined);
  const id = basic ? basic.id : params.client_id;
  if (id === undefined || id === '') return fail('Client authentication is required');
  const client = await e.s.getClient!(id);
  if (!client) return fail();
  if (client.secretHash === null || client.secretHash === undefined) {
    if (basic || postSecret !== undefined) return fail();
    if (client.tokenEndpointAuthMethod && client.tokenEndpointAuthMethod !== 'none') return fail();
    return { client, method: 'none' };
  }
  const secret = basic ? basic.secret : postSecret;
  if (secret === undefined) return fail();
  const method: AuthMethod = basic ? 'client_secret_basic' : 'client_secret_post';
  const registered = client.tokenEndpointAuthMethod;
  if (registered === 'none') return fail();
  if (!(await verifySecret(secret, client.secretHash))) return fail();
  return { client, method };
}

/** The client id a request claims (Basic user name or `client_id`), for hooks and logs only. */
export function claimedClientId(req: OAuthRequest, params: Params): string | null {
  const basic = basicCredentials(req);
  if (basic && !isOAuthError(basic)) return basic.id;
  return params.client_id ?? null;
}

/**
 * The scopes to grant: the requested ones (each allowed for the client and known to the server),
 * or the client's defaults when none are requested.
 */
export function resolveScopes<C extends Client>(e: Engine<User, C>, client: C, scopeParam: string | undefined): string[] | OAuthError {
  const requested = splitScope(scopeParam);
  if (requested === null) return new InvalidScopeError('The scope parameter is malformed');
  if (requested.length === 0) return [...(client.defaultScopes ?? [])];
  const known = e.o.scopes;
  for (const s of requested) {
    if (!client.scopes.includes(s) || (known && !known.has(s))) {
      return new InvalidScopeError(`Scope "${s}" is not allowed for this client`);
    }
  }
  return requested;
}

export interface IssueInput {
  clientId: string;
  userId: string | null;
  scopes: readonly string[];
  grantId: string;
  grantType: GrantType;
  withRefresh: boolean;
}

/** The token response body (RFC 6749 section 5.1). */
export interface TokenResponseBody {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  /** Space-delimited granted scopes; left out when no scope was granted. */
  scope?: string;
  refresh_token?: string;
}

/** Mints an access token (and a refresh token when asked), saves their digests, returns the body. */
export async function issueTokens(e: Engine, input: IssueInput): Promise<TokenResponseBody> {
  const o = e.o;
  const now = Date.now();
  const access = o.accessTokenGenerator ? o.accessTokenGenerator(input) : randomToken();
  const refresh = input.withRefresh ? (o.refreshTokenGenerator ? o.refreshTokenGenerator(input) : randomToken()) : null;
  await e.s.saveTokens!(
    {
      token: digestToken(access),
      clientId: input.clientId,
      userId: input.userId,
      scopes: input.scopes,
      expiresAt: new Date(now + o.accessLifetime * 1000),
      grantId: input.grantId,
    },
    refresh === null
      ? null
      : {
          token: digestToken(refresh),
          clientId: input.clientId,
          userId: input.userId,
          scopes: input.scopes,
          expiresAt: new Date(now + o.refreshLifetime * 1000),
          grantId: input.grantId,
        },
  );
  const body: TokenResponseBody = { access_token: access, token_type: 'Bearer', expires_in: o.accessLifetime };
  if (input.scopes.length > 0) body.scope = input.scopes.join(' ');
  if (refresh !== null) body.refresh_token = refresh;
  return body;
}

/** A new family id. */
export function newGrantId(): string {
  return randomToken(16);
}

/** `true` when the client may use the grant type (and the server has it enabled). */
export function allows(e: Engine, client: Client, grant: GrantType): boolean {
  return e.o.grants.has(grant) && client.grantTypes.includes(grant);
}
