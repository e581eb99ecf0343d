import { expect } from 'vitest';
// Relative import: the testkit depends on core, so core cannot depend on it as a package.
import { basicAuth, formRequest, pkcePair } from '../../binding-testkit/src/flows.js';
import {
  type Client,
  createMemoryStores,
  hashPassword,
  hashSecret,
  OAuth2Provider,
  type OAuthRequest,
  type OAuthResponse,
  type ProviderOptions,
} from '../src/index.js';

export const ISSUER = 'https://auth.example';
export const CB = 'https://app.example/cb';
/** A secret with every character strict clients must form-encode in Basic credentials. */
export const SECRET = 'se:cr+et/%&= x';

export const confidential: Client = {
  id: 'conf',
  secretHash: hashSecret(SECRET),
  redirectUris: [CB, 'https://app.example/other'],
  grantTypes: ['authorization_code', 'refresh_token', 'client_credentials', 'password', 'implicit'],
  scopes: ['read', 'write', 'admin'],
  defaultScopes: ['read'],
};
export const publicClient: Client = {
  id: 'pub',
  secretHash: null,
  redirectUris: ['http://127.0.0.1:9999/cb'],
  grantTypes: ['authorization_code', 'refresh_token'],
  scopes: ['read', 'write'],
};
export const other: Client = {
  id: 'other',
  secretHash: hashSecret('other-secret'),
  redirectUris: ['https://other.example/cb'],
  grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
  scopes: ['read'],
};

export const passwordHash = await hashPassword('correct horse');

export function makeProvider(options: Partial<ProviderOptions> = {}) {
  const stores = createMemoryStores({
    clients: [confidential, publicClient, other],
    users: [{ username: 'alice', user: { id: 'u-alice' }, passwordHash }],
  });
  const provider = new OAuth2Provider({
    issuer: ISSUER,
    grants: ['authorization_code', 'refresh_token', 'client_credentials', 'password', 'implicit'],
    stores,
    ...options,
  });
  return { provider, stores };
}

/** RFC 6749 section 2.3.1: id and secret are form-url-encoded before Basic encoding. */
export const basic = basicAuth;

export function form(params: Record<string, string>, headers: Record<string, string> = {}, url = '/oauth/token'): OAuthRequest {
  return formRequest(url, params, headers);
}

export function get(url: string, headers: Record<string, string> = {}): OAuthRequest {
  return { method: 'GET', url, headers };
}

export const pkce = pkcePair;

export function body(r: OAuthResponse): Record<string, unknown> {
  return r.body ? (JSON.parse(r.body) as Record<string, unknown>) : {};
}

export function location(r: OAuthResponse): URL {
  expect(r.status).toBe(302);
  return new URL(r.headers.Location!);
}

export function authorizeUrl(params: Record<string, string>): string {
  return `/oauth/authorize?${new URLSearchParams(params).toString()}`;
}

/** Runs the authorization request and approval; returns the code and the PKCE verifier. */
export async function getCode(
  provider: OAuth2Provider,
  opts: { client?: Client; scope?: string; redirectUri?: string; userId?: string; withPkce?: boolean } = {},
) {
  const client = opts.client ?? confidential;
  const { verifier, challenge } = pkce();
  const params: Record<string, string> = {
    response_type: 'code',
    client_id: client.id,
    redirect_uri: opts.redirectUri ?? client.redirectUris[0]!,
    scope: opts.scope ?? 'read write',
    state: 's-123',
  };
  if (opts.withPkce !== false) Object.assign(params, { code_challenge: challenge, code_challenge_method: 'S256' });
  const a = await provider.authorize(get(authorizeUrl(params)));
  if (a.type !== 'consent') throw new Error(`expected consent, got ${a.response.status} ${a.response.body} ${a.response.headers.Location}`);
  const r = await provider.completeAuthorization(a.request, { approved: true, userId: opts.userId ?? 'u-alice' });
  const loc = location(r);
  return { code: loc.searchParams.get('code')!, verifier, redirectUri: params.redirect_uri!, location: loc };
}

export async function exchange(provider: OAuth2Provider, code: string, verifier: string, redirectUri = CB, auth = basic('conf', SECRET)) {
  return provider.token(
    form({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }, { authorization: auth }),
  );
}
