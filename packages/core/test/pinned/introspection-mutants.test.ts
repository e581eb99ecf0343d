/**
 * Token introspection (RFC 7662, `endpoints/introspection.ts`), pinned: each test fails when one of
 * its rules is removed or loosened (mutation testing). `sub` is a string when present and absent for
 * a client's own token (never `null`); `aud` (RFC 8707) appears only for an access token with an
 * audience, one resource as a string and several as an array, never for a refresh token nor for a
 * store returning an empty audience; `token_type_hint=refresh_token` looks at refresh tokens first,
 * anything else at access tokens first (seen when both kinds share one value).
 */
import { describe, expect, it } from 'vitest';
import { createMemoryStores, OAuth2Provider, type ProviderOptions, type TokenStore } from '../../src/index.js';
import { basic, clients, form, json, raw, SECRET, userTokens } from '../security/fixture.js';

const ISSUER = 'https://auth.example';
const API = 'https://api.example';
const FILES = 'https://files.example';
const all = ['authorization_code', 'refresh_token', 'client_credentials'] as const;

/** `adapt` changes the token store before the provider takes it. */
function setup(options: Partial<ProviderOptions> = {}, adapt: (tokens: TokenStore) => void = () => {}) {
  const stores = createMemoryStores({ clients });
  adapt(stores.tokens);
  const provider = new OAuth2Provider({ issuer: ISSUER, grants: [...all], stores, resources: [{ uri: API }, { uri: FILES }], ...options });
  return { provider, stores };
}

const auth = { authorization: basic('app', SECRET) };
async function introspect(provider: OAuth2Provider, params: Record<string, string>) {
  const r = await provider.introspect(form(params, auth, '/oauth/introspect'));
  expect(r.status, r.body).toBe(200);
  return json(r);
}
async function cc(provider: OAuth2Provider, body: string) {
  const r = await provider.token(raw(body, auth));
  expect(r.status, r.body).toBe(200);
  return json(r).access_token as string;
}

describe('introspection: sub and aud', () => {
  it('a client_credentials token without resources has neither sub nor aud', async () => {
    const { provider } = setup();
    const token = await cc(provider, 'grant_type=client_credentials&scope=read');
    const body = await introspect(provider, { token });
    expect(body).toEqual({
      active: true,
      scope: 'read',
      client_id: 'app',
      token_type: 'Bearer',
      exp: expect.any(Number),
      iss: ISSUER,
    });
    expect(Object.hasOwn(body, 'sub')).toBe(false);
    expect(Object.hasOwn(body, 'aud')).toBe(false);
  });

  it('one resource is a string aud, several an array in the order asked', async () => {
    const { provider } = setup();
    const one = await cc(provider, `grant_type=client_credentials&scope=read&resource=${encodeURIComponent(API)}`);
    expect((await introspect(provider, { token: one })).aud).toBe(API);
    const two = await cc(
      provider,
      `grant_type=client_credentials&scope=read&resource=${encodeURIComponent(API)}&resource=${encodeURIComponent(FILES)}`,
    );
    expect((await introspect(provider, { token: two })).aud).toEqual([API, FILES]);
  });

  it('a user token names its user as sub', async () => {
    const { provider } = setup();
    const t = await userTokens(provider);
    expect(await introspect(provider, { token: t.access_token })).toMatchObject({ active: true, sub: 'u1', token_type: 'Bearer' });
    const refresh = await introspect(provider, { token: t.refresh_token });
    expect(refresh).toMatchObject({ active: true, sub: 'u1', token_type: 'refresh_token' });
    expect(Object.hasOwn(refresh, 'aud')).toBe(false);
  });

  it('a store returning an empty audience array gives no aud (not an empty array)', async () => {
    const { provider } = setup({}, (tokens) => {
      const get = tokens.getAccessToken.bind(tokens);
      tokens.getAccessToken = async (digest) => {
        const r = await get(digest);
        return r === null ? null : { ...r, audience: r.audience ?? [] };
      };
    });
    const token = await cc(provider, 'grant_type=client_credentials&scope=read');
    const body = await introspect(provider, { token });
    expect(body.active).toBe(true);
    expect(Object.hasOwn(body, 'aud')).toBe(false);
  });

  it('a refresh token has no aud even when its store row carries an audience column', async () => {
    // A store keeping both kinds in one table may hand back the access-token columns too.
    const { provider } = setup({}, (tokens) => {
      const get = tokens.getRefreshToken.bind(tokens);
      tokens.getRefreshToken = async (digest) => {
        const r = await get(digest);
        return r === null ? null : Object.assign({ audience: [API] }, r);
      };
    });
    const t = await userTokens(provider);
    const body = await introspect(provider, { token: t.refresh_token, token_type_hint: 'refresh_token' });
    expect(body).toMatchObject({ active: true, token_type: 'refresh_token', client_id: 'app' });
    expect(Object.hasOwn(body, 'aud')).toBe(false);
  });
});

describe('introspection: token_type_hint order', () => {
  it('with one value for both kinds, the hint decides which is described', async () => {
    // Generators returning the same value make an access and a refresh token share a digest.
    const SAME = 's'.repeat(43);
    const { provider } = setup({ accessTokenGenerator: () => SAME, refreshTokenGenerator: () => SAME });
    const t = await userTokens(provider);
    expect(t.access_token).toBe(SAME);
    expect(t.refresh_token).toBe(SAME);
    expect((await introspect(provider, { token: SAME })).token_type).toBe('Bearer');
    expect((await introspect(provider, { token: SAME, token_type_hint: 'access_token' })).token_type).toBe('Bearer');
    expect((await introspect(provider, { token: SAME, token_type_hint: 'refresh_token' })).token_type).toBe('refresh_token');
    // An unknown hint is ignored (RFC 7662 section 2.1): access tokens first.
    expect((await introspect(provider, { token: SAME, token_type_hint: 'id_token' })).token_type).toBe('Bearer');
  });

  it('a hostile hint does not hide a live token', async () => {
    const { provider } = setup();
    const t = await userTokens(provider);
    for (const hint of ['', 'REFRESH_TOKEN', 'refresh_token ', 'x'.repeat(500)]) {
      expect(await introspect(provider, { token: t.refresh_token, token_type_hint: hint })).toMatchObject({
        active: true,
        token_type: 'refresh_token',
      });
      expect(await introspect(provider, { token: t.access_token, token_type_hint: hint })).toMatchObject({
        active: true,
        token_type: 'Bearer',
      });
    }
  });
});
