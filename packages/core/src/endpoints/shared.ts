import type { Client, ClientAuthMethod, GrantType, User } from '../contract.js';
import { digestToken, randomToken, verifySecret } from '../crypto.js';
import { InvalidClientError, InvalidRequestError, InvalidScopeError, isOAuthError, type OAuthError } from '../errors.js';
import type { OAuthRequest } from '../http.js';
import { basicCredentials, type Params, splitScope } from '../params.js';
import type { Engine } from '../provider.js';

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
    if (basic.id !== null) client = await e.s.getClient!(basic.id);
    if (!client && lenient && basic.rawId !== basic.id) client = await e.s.getClient!(basic.rawId);
  } else {
    const id = params.client_id;
    if (id === undefined || id === '') return fail('Client authentication is required');
    client = await e.s.getClient!(id);
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
    const decoded = basic.secret === null ? false : await verifySecret(basic.secret, client.secretHash);
    const raw = lenient && basic.rawSecret !== basic.secret ? await verifySecret(basic.rawSecret, client.secretHash) : false;
    if (!decoded && !raw) return fail();
    return { client, method };
  }
  if (postSecret === undefined) return fail();
  if (!(await verifySecret(postSecret, client.secretHash))) return fail();
  return { client, method };
}

/** The client id a request claims (Basic user name or `client_id`), for hooks and logs only. */
export function claimedClientId(req: OAuthRequest, params: Params): string | null {
  const basic = basicCredentials(req);
  if (basic && !isOAuthError(basic)) return basic.id ?? basic.rawId;
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
      return new InvalidScopeError(`Scope '${s}' is not allowed for this client`);
    }
  }
  return requested;
}

export interface IssueInput {
  clientId: string;
  userId: string | null;
  scopes: readonly string[];
  /** Scopes of the new refresh token, when they differ from the access token's (a narrowed refresh). */
  refreshScopes?: readonly string[];
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
          scopes: input.refreshScopes ?? input.scopes,
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
