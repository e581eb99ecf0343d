/** A provider wired with memory clients and tokens, and small helpers to run the code flow. */
import { createHash, randomBytes } from 'node:crypto';
import {
  bindCacheGrant,
  createMemoryStores,
  type GrantStore,
  hashSecret,
  type Logger,
  OAuth2Provider,
  type OAuthResponse,
} from '@portcullis/core';

export const CB = 'https://app.example/cb';
export const SECRET = 's3cret';

/** Collects what the provider logs, to check it and keep the test output clean. */
export function captureLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (m: string, meta?: Record<string, unknown>) => void lines.push(`${m} ${JSON.stringify(meta ?? {})}`);
  return { lines, warn: push, error: push };
}

/** Memory stores for clients and tokens; `grants` bound through `bindCacheGrant`. */
export async function makeProvider(grants: GrantStore, logger: Logger = captureLogger()): Promise<OAuth2Provider> {
  const provider = new OAuth2Provider({
    issuer: 'http://127.0.0.1',
    grants: ['authorization_code', 'refresh_token', 'client_credentials'],
    logger,
  });
  provider.useStores(
    createMemoryStores({
      clients: [
        {
          id: 'c1',
          secretHash: hashSecret(SECRET),
          redirectUris: [CB],
          grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
          scopes: ['read', 'write'],
        },
      ],
    }),
  );
  await bindCacheGrant(provider, grants, () => null);
  return provider;
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export function json(res: OAuthResponse): Record<string, unknown> {
  return JSON.parse(res.body) as Record<string, unknown>;
}

/** GET /authorize with PKCE, then the user's approval: the redirect response. */
export async function approve(provider: OAuth2Provider, challenge: string, state = 'xyz'): Promise<OAuthResponse> {
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: 'c1',
    redirect_uri: CB,
    scope: 'read',
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  const a = await provider.authorize({ method: 'GET', url: `/authorize?${q}`, headers: {} });
  if (a.type !== 'consent') throw new Error(`expected the consent step, got ${a.response.status} ${a.response.body}`);
  return provider.completeAuthorization(a.request, { approved: true, userId: 'u1' });
}

/** POST /token for the authorization_code grant, client authenticated with Basic. */
export function redeem(provider: OAuth2Provider, code: string, verifier: string): Promise<OAuthResponse> {
  return provider.token({
    method: 'POST',
    url: '/token',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`c1:${SECRET}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier }).toString(),
  });
}

/** Whether the resource server accepts this access token. */
export async function accepted(provider: OAuth2Provider, accessToken: string): Promise<boolean> {
  return (await provider.verifyAccessToken({ method: 'GET', url: '/api', headers: { authorization: `Bearer ${accessToken}` } }, ['read'])).ok;
}
