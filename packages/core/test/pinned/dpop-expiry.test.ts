/**
 * Core's expiry re-check on the DPoP path of the resource check (RFC 9449 section 7.1), pinned on
 * the permissive reference store, which hands back expired records: a DPoP-bound access token
 * whose `expiresAt` is now is refused with 401 `invalid_token` and a DPoP challenge, and one that
 * still has a millisecond left is accepted with a valid proof. The bearer path's twin is in
 * `security-checks.test.ts`.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { dpopKey, dpopProof } from '../../../binding-testkit/src/dpop.js';
import { createMemoryStores, hashSecret, OAuth2Provider, type OAuthRequest } from '../../src/index.js';
import { createPermissiveStores } from '../permissive-store.js';
import { basic, form, json } from '../security/fixture.js';

const ISSUER = 'https://auth.example';
const SECRET = 'dpop-expiry-secret-0123456789abcdef';
const API = `${ISSUER}/api/items`;
const NOW = new Date('2031-05-06T07:08:09.500Z');

function setup() {
  const stores = createPermissiveStores({
    clients: [{ id: 'svc', secretHash: hashSecret(SECRET), redirectUris: [], grantTypes: ['client_credentials'], scopes: ['read'] }],
  });
  // The proofs' jti replay store from the memory stores; the tokens from the permissive ones.
  const provider = new OAuth2Provider({
    issuer: ISSUER,
    grants: ['client_credentials'],
    stores: { ...stores, ephemeral: createMemoryStores().ephemeral },
    dpop: { enabled: true },
  });
  return { provider, stores };
}

async function boundToken(provider: OAuth2Provider) {
  const key = await dpopKey();
  const req = form({ grant_type: 'client_credentials', scope: 'read' }, { authorization: basic('svc', SECRET) });
  const r = await provider.token({ ...req, headers: { ...req.headers, dpop: await dpopProof(key, 'POST', `${ISSUER}/oauth/token`) } });
  expect(r.status, r.body).toBe(200);
  const t = json(r) as { access_token: string; token_type: string };
  expect(t.token_type).toBe('DPoP');
  return { key, token: t.access_token };
}

async function call(provider: OAuth2Provider, key: Awaited<ReturnType<typeof dpopKey>>, token: string) {
  const req: OAuthRequest = {
    method: 'GET',
    url: '/api/items',
    headers: { authorization: `DPoP ${token}`, dpop: await dpopProof(key, 'GET', API, { accessToken: token }) },
  };
  return provider.verifyAccessToken(req, ['read']);
}

describe("core's expiry re-check of DPoP-bound access tokens (the store may return expired records)", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('accepts the token until its last millisecond, and refuses it when its expiresAt is now: 401 invalid_token, DPoP challenge', async () => {
    const { provider, stores } = setup();
    const { key, token } = await boundToken(provider);
    stores.expireAll(new Date(Date.now() + 1));
    const ok = await call(provider, key, token);
    expect(ok.ok ? 'ok' : ok.response.body).toBe('ok');
    stores.expireAll(new Date(Date.now()));
    const r = await call(provider, key, token);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.response.status).toBe(401);
    expect(json(r.response)).toEqual({ error: 'invalid_token', error_description: 'The access token is invalid or has expired' });
    expect(r.response.headers['WWW-Authenticate']).toMatch(/^DPoP /);
    expect(r.response.headers['WWW-Authenticate']).toContain('error="invalid_token"');
  });

  it('refuses a token whose expiresAt is in the past', async () => {
    const { provider, stores } = setup();
    const { key, token } = await boundToken(provider);
    stores.expireAll(new Date(Date.now() - 60_000));
    const r = await call(provider, key, token);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.response.status).toBe(401);
  });
});
