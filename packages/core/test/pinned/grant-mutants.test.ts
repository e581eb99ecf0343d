/**
 * The refresh token and password grants (`grants/refresh-token.ts`, `grants/password.ts`), pinned:
 * each test fails when one of their rules is removed or loosened (mutation testing). A refresh
 * without resources gives tokens without an audience, down the whole rotation chain; the checks run
 * again on the record actually consumed (a store whose read missed it); an unbound refresh token of
 * a public client binds to the DPoP key of the first refresh that sends a proof (RFC 9449 section
 * 5); without rotation an unknown refresh token is refused with its description; the password grant
 * refuses an unknown resource (RFC 8707) before looking at the user.
 */
import { describe, expect, it } from 'vitest';
import { dpopKey, dpopProof } from '../../../binding-testkit/src/dpop.js';
import { type Client, createMemoryStores, hashPassword, OAuth2Provider, type ProviderOptions, type TokenStore } from '../../src/index.js';
import { basic, CB, clients, form, json, pkce, SECRET, userTokens } from '../security/fixture.js';

const ISSUER = 'https://auth.example';
const API = 'https://api.example';
const all = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
const PUBLIC: Client = {
  id: 'pub',
  secretHash: null,
  redirectUris: [CB],
  grantTypes: ['authorization_code', 'refresh_token'],
  scopes: ['read'],
};

/** `adapt` changes the token store before the provider takes it. */
function setup(options: Partial<ProviderOptions> = {}, adapt: (tokens: TokenStore) => void = () => {}) {
  const stores = createMemoryStores({ clients: [...clients, PUBLIC] });
  adapt(stores.tokens);
  const provider = new OAuth2Provider({ issuer: ISSUER, grants: [...all], stores, resources: [{ uri: API }], ...options });
  return { provider, stores };
}
const auth = { authorization: basic('app', SECRET) };
const refresh = (p: OAuth2Provider, refresh_token: string, extra: Record<string, string> = {}) =>
  p.token(form({ grant_type: 'refresh_token', refresh_token, ...extra }, auth));
async function introspect(p: OAuth2Provider, token: string) {
  const r = await p.introspect(form({ token }, auth, '/oauth/introspect'));
  expect(r.status).toBe(200);
  return json(r);
}

describe('refresh_token grant', () => {
  it('a grant without resources gives access tokens without aud at each rotation', async () => {
    const { provider } = setup();
    const first = await userTokens(provider);
    let rt = first.refresh_token;
    for (let i = 0; i < 2; i++) {
      const r = await refresh(provider, rt);
      expect(r.status, r.body).toBe(200);
      const body = json(r) as { access_token: string; refresh_token: string };
      const intro = await introspect(provider, body.access_token);
      expect(intro).toMatchObject({ active: true, sub: 'u1', token_type: 'Bearer' });
      expect(Object.hasOwn(intro, 'aud')).toBe(false);
      rt = body.refresh_token;
    }
    // Asking a resource the grant never had is refused (RFC 8707 section 2.2: never widened).
    const widened = await refresh(provider, rt, { resource: API });
    expect(widened.status).toBe(400);
    expect(json(widened).error).toBe('invalid_target');
  });

  it('the checks run on the record consumed when the read before it missed the token', async () => {
    // A store whose read misses (a lagging replica, say) while consuming finds the token.
    const { provider } = setup({}, (tokens) => {
      tokens.getRefreshToken = async () => null;
    });
    const t = await userTokens(provider, 'read');
    const r = await refresh(provider, t.refresh_token, { scope: 'read write' });
    expect(r.status).toBe(400);
    expect(json(r)).toEqual({ error: 'invalid_scope', error_description: "Scope 'write' was not granted originally" });
    expect(json(r)).not.toHaveProperty('access_token');
  });

  it('without rotation an unknown refresh token is invalid_grant with its description', async () => {
    const { provider } = setup({ refreshTokenRotation: false });
    for (const token of ['unknown-refresh-token', 'x'.repeat(2000)]) {
      const r = await refresh(provider, token);
      expect(r.status).toBe(400);
      expect(json(r)).toEqual({ error: 'invalid_grant', error_description: 'The refresh token is invalid, expired or revoked' });
    }
  });

  it("a public client's unbound refresh token binds to the key of the first refresh with a proof", async () => {
    const { provider } = setup({ dpop: { enabled: true } });
    const { verifier, challenge } = pkce();
    const q = new URLSearchParams({
      response_type: 'code',
      client_id: 'pub',
      redirect_uri: CB,
      scope: 'read',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const a = await provider.authorize({ method: 'GET', url: `/oauth/authorize?${q}`, headers: {} });
    if (a.type !== 'consent') throw new Error('expected consent');
    const done = await provider.completeAuthorization(a.request, { approved: true, userId: 'u1' });
    const code = new URL(done.headers.Location!).searchParams.get('code')!;
    const t = await provider.token(
      form({ grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier, client_id: 'pub' }),
    );
    expect(t.status, t.body).toBe(200);
    expect(json(t).token_type).toBe('Bearer');
    const key = await dpopKey();
    const withProof = async (refresh_token: string) => {
      const req = form({ grant_type: 'refresh_token', refresh_token, client_id: 'pub' });
      return provider.token({ ...req, headers: { ...req.headers, dpop: await dpopProof(key, 'POST', `${ISSUER}/oauth/token`) } });
    };
    const bound = await withProof(json(t).refresh_token as string);
    expect(bound.status, bound.body).toBe(200);
    expect(json(bound).token_type).toBe('DPoP');
    const next = json(bound).refresh_token as string;
    // Without the proof the new refresh token is refused; with it, it works.
    const bare = await provider.token(form({ grant_type: 'refresh_token', refresh_token: next, client_id: 'pub' }));
    expect(bare.status).toBe(400);
    expect(json(bare).error).toBe('invalid_dpop_proof');
    const ok = await withProof(next);
    expect(ok.status, ok.body).toBe(200);
  });
});

describe('what a new refresh token record holds', () => {
  it('resources only when the grant named some: no empty resources member', async () => {
    const saved: Record<string, unknown>[] = [];
    const { provider } = setup({}, (tokens) => {
      const save = tokens.saveTokens.bind(tokens);
      tokens.saveTokens = async (access, refreshRecord) => {
        if (refreshRecord) saved.push({ ...refreshRecord });
        return save(access, refreshRecord);
      };
    });
    const t = await userTokens(provider);
    expect(saved).toHaveLength(1);
    expect(Object.hasOwn(saved[0]!, 'resources')).toBe(false);
    const r = await refresh(provider, t.refresh_token);
    expect(r.status, r.body).toBe(200);
    expect(saved).toHaveLength(2);
    expect(Object.hasOwn(saved[1]!, 'resources')).toBe(false);
    expect(saved[1]).toMatchObject({ clientId: 'app', userId: 'u1', scopes: ['read', 'write'] });
  });
});

describe('password grant', () => {
  it('an unknown resource is invalid_target; a registered one is the audience', async () => {
    const stores = createMemoryStores({
      clients: [{ ...clients[0]!, grantTypes: ['password', 'refresh_token'] }],
      users: [{ username: 'alice', user: { id: 'u-alice' }, passwordHash: await hashPassword('correct horse battery staple') }],
    });
    const provider = new OAuth2Provider({ issuer: ISSUER, grants: ['password', 'refresh_token'], stores, resources: [{ uri: API }] });
    const ask = (extra: Record<string, string>) =>
      provider.token(
        form({ grant_type: 'password', username: 'alice', password: 'correct horse battery staple', scope: 'read', ...extra }, auth),
      );
    const unknown = await ask({ resource: 'https://evil.example' });
    expect(unknown.status).toBe(400);
    expect(json(unknown).error).toBe('invalid_target');
    expect(json(unknown)).not.toHaveProperty('access_token');
    const ok = await ask({ resource: API });
    expect(ok.status, ok.body).toBe(200);
    expect(await introspect(provider, json(ok).access_token as string)).toMatchObject({ active: true, sub: 'u-alice', aud: API });
  });
});
