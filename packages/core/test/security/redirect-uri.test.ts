/**
 * RFC 6749 section 4.1.3, redirect_uri: "REQUIRED, if the "redirect_uri" parameter was included in
 *   the authorization request as described in Section 4.1.1, and their values MUST be identical."
 * RFC 6749 section 4.1.3: the authorization server MUST "ensure that the "redirect_uri" parameter is
 *   present if the "redirect_uri" parameter was included in the initial authorization request as
 *   described in Section 4.1.1, and if included ensure that their values are identical."
 * RFC 6749 section 5.2, invalid_grant: "The provided authorization grant (e.g., authorization code,
 *   resource owner credentials) or refresh token is invalid, expired, revoked, does not match the
 *   redirection URI used in the authorization request, or was issued to another client."
 */
import { describe, expect, it } from 'vitest';
import { createMemoryStores, generateClientSecret, hashSecret, OAuth2Provider } from '../../src/index.js';
import { authorizeUrl, basic, body, form, get, location, pkce } from '../helpers.js';

const CB = 'https://single.example/cb';
const SECRET = generateClientSecret();

function setup() {
  const stores = createMemoryStores({
    clients: [{ id: 'single', secretHash: hashSecret(SECRET), redirectUris: [CB], grantTypes: ['authorization_code'], scopes: ['read'] }],
  });
  return new OAuth2Provider({ issuer: 'https://auth.example', grants: ['authorization_code'], stores });
}

async function code(provider: OAuth2Provider, sendRedirectUri: boolean) {
  const { verifier, challenge } = pkce();
  const params: Record<string, string> = {
    response_type: 'code',
    client_id: 'single',
    scope: 'read',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  };
  if (sendRedirectUri) params.redirect_uri = CB;
  const a = await provider.authorize(get(authorizeUrl(params)));
  if (a.type !== 'consent') throw new Error('expected consent');
  const r = await provider.completeAuthorization(a.request, { approved: true, userId: 'u1' });
  expect(location(r).origin + location(r).pathname).toBe(CB);
  return { code: location(r).searchParams.get('code')!, verifier };
}

function redeem(provider: OAuth2Provider, c: { code: string; verifier: string }, redirectUri?: string) {
  const params: Record<string, string> = { grant_type: 'authorization_code', code: c.code, code_verifier: c.verifier };
  if (redirectUri !== undefined) params.redirect_uri = redirectUri;
  return provider.token(form(params, { authorization: basic('single', SECRET) }));
}

describe('redirect_uri at the token endpoint (4.1.3)', () => {
  it('is required when the authorization request included it, even for a client with one registered URI', async () => {
    const provider = setup();
    const r = await redeem(provider, await code(provider, true));
    expect(r.status).toBe(400);
    expect(body(r).error).toBe('invalid_grant');
    expect(body(r).error_description).toBe('redirect_uri is required: the authorization request included it');
  });
  it('must then be identical', async () => {
    const provider = setup();
    expect((await redeem(provider, await code(provider, true), `${CB}/`)).status).toBe(400);
    expect((await redeem(provider, await code(provider, true), CB)).status).toBe(200);
  });
  it('may be left out when the authorization request left it out; if sent it must be the registered URI', async () => {
    const provider = setup();
    expect((await redeem(provider, await code(provider, false))).status).toBe(200);
    expect((await redeem(provider, await code(provider, false), CB)).status).toBe(200);
    const r = await redeem(provider, await code(provider, false), 'https://single.example/other');
    expect(r.status).toBe(400);
    expect(body(r).error).toBe('invalid_grant');
  });
});
