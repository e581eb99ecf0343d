/**
 * A provider for the security regression tests, independent of the shared helpers: clients with
 * generated secrets, one per client-authentication case.
 */
import { basicAuth, formRequest, pkcePair } from '../../../binding-testkit/src/flows.js';
import {
  type Client,
  createMemoryStores,
  generateClientSecret,
  hashSecret,
  OAuth2Provider,
  type OAuthRequest,
  type OAuthResponse,
  type ProviderOptions,
} from '../../src/index.js';

export const CB = 'https://app.example/cb';
export const SECRET = generateClientSecret();
/** A 32+ character secret holding every character Basic credentials must form-encode. */
export const ODD_SECRET = 'se:cr+et/%&= x-padded-to-be-long-enough';

const all = ['authorization_code', 'refresh_token', 'client_credentials'] as const;

export const clients: Client[] = [
  { id: 'app', secretHash: hashSecret(SECRET), redirectUris: [CB], grantTypes: [...all], scopes: ['read', 'write'] },
  {
    id: 'basic-only',
    secretHash: hashSecret(SECRET),
    redirectUris: [],
    grantTypes: ['client_credentials'],
    scopes: ['read'],
    tokenEndpointAuthMethod: 'client_secret_basic',
  },
  {
    id: 'post-only',
    secretHash: hashSecret(SECRET),
    redirectUris: [],
    grantTypes: ['client_credentials'],
    scopes: ['read'],
    tokenEndpointAuthMethod: 'client_secret_post',
  },
  { id: 'odd', secretHash: hashSecret(ODD_SECRET), redirectUris: [], grantTypes: ['client_credentials'], scopes: ['read'] },
  { id: 'rs', secretHash: hashSecret(SECRET), redirectUris: [], grantTypes: ['client_credentials'], scopes: [], resourceServer: true },
  { id: 'peer', secretHash: hashSecret(SECRET), redirectUris: [], grantTypes: ['client_credentials', 'refresh_token'], scopes: ['read'] },
];

export function setup(options: Partial<ProviderOptions> = {}) {
  const stores = createMemoryStores({ clients });
  const provider = new OAuth2Provider({ issuer: 'https://auth.example', grants: [...all], stores, ...options });
  return { provider, stores };
}

export const basic = basicAuth;
export const pkce = pkcePair;

export function form(params: Record<string, string>, headers: Record<string, string> = {}, url = '/oauth/token'): OAuthRequest {
  return formRequest(url, params, headers);
}

export function raw(body: string, headers: Record<string, string> = {}, url = '/oauth/token'): OAuthRequest {
  return { method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body };
}

export function json(r: OAuthResponse): Record<string, unknown> {
  return r.body ? (JSON.parse(r.body) as Record<string, unknown>) : {};
}

/** RFC 6749 section 5.2: error_description = 1*( %x20-21 / %x23-5B / %x5D-7E ). */
export const DESCRIPTION = /^[\x20\x21\x23-\x5b\x5d-\x7e]+$/;

/** A user token for `app` through the code flow: access and refresh token. */
export async function userTokens(provider: OAuth2Provider, scope = 'read write') {
  const { verifier, challenge } = pkce();
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: 'app',
    redirect_uri: CB,
    scope,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  const a = await provider.authorize({ method: 'GET', url: `/oauth/authorize?${q}`, headers: {} });
  if (a.type !== 'consent') throw new Error('expected consent');
  const r = await provider.completeAuthorization(a.request, { approved: true, userId: 'u1' });
  const code = new URL(r.headers.Location!).searchParams.get('code')!;
  const t = await provider.token(
    form({ grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier }, { authorization: basic('app', SECRET) }),
  );
  if (t.status !== 200) throw new Error(`token exchange failed: ${t.body}`);
  return json(t) as { access_token: string; refresh_token: string; scope: string };
}
