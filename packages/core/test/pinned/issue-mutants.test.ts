/**
 * Token issuance (`grants/issue.ts`), pinned: each test fails when one of its rules is removed or
 * loosened (mutation testing). The refresh token's lifetime comes from `lifetimes.refreshToken` in
 * seconds; an RFC 9068 JWT access token carries `scope` only when it has scopes and `cnf` only when
 * it is DPoP-bound; a self-registered client is marked used at most once per client per process,
 * even while a cached record still lacks `firstUsedAt` (the set of marked ids starting over past
 * 10,000), and a store without `markClientUsed` (or no registration store at all) is simply not asked.
 */
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { digestToken } from '../../src/crypto.js';
import {
  type Client,
  createMemoryStores,
  generateClientSecret,
  hashSecret,
  OAuth2Provider,
  type ProviderOptions,
} from '../../src/index.js';
import { basic, clients, form, json, SECRET, userTokens } from '../security/fixture.js';

const ISSUER = 'https://auth.example';
const T0 = Date.UTC(2026, 11, 6, 12, 0, 0);
const all = ['authorization_code', 'refresh_token', 'client_credentials'] as const;

afterEach(() => {
  vi.useRealTimers();
});

function setup(options: Partial<ProviderOptions> = {}) {
  const stores = createMemoryStores({ clients });
  const provider = new OAuth2Provider({ issuer: ISSUER, grants: [...all], stores, ...options });
  return { provider, stores };
}

const refresh = (p: OAuth2Provider, refresh_token: string) =>
  p.token(form({ grant_type: 'refresh_token', refresh_token }, { authorization: basic('app', SECRET) }));

describe('refresh token lifetime (lifetimes.refreshToken, seconds)', () => {
  it('a refresh token works one second before its lifetime ends and is refused from then on', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const { provider } = setup({ lifetimes: { refreshToken: 3600 } });
    const early = await userTokens(provider);
    const late = await userTokens(provider);
    // Introspection shows the expiry the store holds: issued at T0, 3600 s later.
    const intro = await provider.introspect(
      form({ token: early.refresh_token, token_type_hint: 'refresh_token' }, { authorization: basic('app', SECRET) }, '/oauth/introspect'),
    );
    expect(intro.status).toBe(200);
    expect(json(intro)).toMatchObject({ active: true, token_type: 'refresh_token', exp: T0 / 1000 + 3600 });

    vi.setSystemTime(T0 + 3599_000);
    const ok = await refresh(provider, early.refresh_token);
    expect(ok.status, ok.body).toBe(200);
    expect(json(ok).access_token).toEqual(expect.any(String));

    vi.setSystemTime(T0 + 3600_000);
    const expired = await refresh(provider, late.refresh_token);
    expect(expired.status).toBe(400);
    expect(json(expired).error).toBe('invalid_grant');
    expect(json(expired)).not.toHaveProperty('access_token');
  });
});

describe('JWT access tokens (RFC 9068): optional claims', () => {
  const KEK = generateClientSecret();
  const jwtSetup = () => setup({ accessTokenFormat: 'jwt', jwt: { keyEncryptionKey: KEK } });

  async function claims(provider: OAuth2Provider, client: string, scope?: string) {
    const r = await provider.token(
      form({ grant_type: 'client_credentials', ...(scope === undefined ? {} : { scope }) }, { authorization: basic(client, SECRET) }),
    );
    expect(r.status, r.body).toBe(200);
    const keys = JSON.parse((await provider.jwks()).body) as Parameters<typeof createLocalJWKSet>[0];
    const { payload } = await jwtVerify(json(r).access_token as string, createLocalJWKSet(keys), { issuer: ISSUER, typ: 'at+jwt' });
    return { payload, body: json(r) };
  }

  it('several scopes are one space-separated scope claim', async () => {
    const { provider } = jwtSetup();
    const { payload, body } = await claims(provider, 'app', 'read write');
    expect(payload.scope).toBe('read write');
    expect(body.scope).toBe('read write');
  });

  it('a token without scopes has no scope claim (not an empty string), and an unbound token no cnf claim', async () => {
    const { provider } = jwtSetup();
    // `rs` may ask for no scope at all: its token carries none.
    const { payload, body } = await claims(provider, 'rs');
    expect(body).not.toHaveProperty('scope');
    expect(payload).not.toHaveProperty('scope');
    expect(payload).not.toHaveProperty('cnf');
    expect(payload).toMatchObject({ sub: 'rs', client_id: 'rs', aud: ISSUER });
  });
});

describe('first use of a self-registered client (markClientUsed)', () => {
  const REG = { accessTokenHash: 'x'.repeat(43), issuedAt: new Date(T0), responseTypes: [] as string[] };
  const registered = (id: string): Client => ({
    id,
    secretHash: hashSecret(SECRET),
    redirectUris: [],
    grantTypes: ['client_credentials'],
    scopes: ['read'],
    registration: REG,
  });

  /** A store whose client records stay as they were (a cache): `firstUsedAt` never shows up. */
  function cachedSetup(ids: string[]) {
    const stores = createMemoryStores({ clients: ids.map(registered) });
    const marks: string[] = [];
    stores.registrations.markClientUsed = async (clientId) => {
      marks.push(clientId);
      return true;
    };
    const provider = new OAuth2Provider({ issuer: ISSUER, grants: ['client_credentials'], scopes: ['read'], stores });
    return { provider, stores, marks };
  }
  const cc = (p: OAuth2Provider, id: string) =>
    p.token(form({ grant_type: 'client_credentials', scope: 'read' }, { authorization: basic(id, SECRET) }));

  it('is written once per client per process while the record still lacks firstUsedAt', async () => {
    const { provider, marks } = cachedSetup(['reg-a', 'reg-b']);
    for (const id of ['reg-a', 'reg-a', 'reg-b', 'reg-a', 'reg-b']) {
      const r = await cc(provider, id);
      expect(r.status, r.body).toBe(200);
    }
    expect(marks).toEqual(['reg-a', 'reg-b']);
  });

  it('the set of marked clients is bounded: past 10,000 it starts over, so a client is marked again', async () => {
    // 10,001 distinct clients, then the first again: only a bound that starts over writes it twice.
    const ids = Array.from({ length: 10_001 }, (_, i) => `reg-${i}`);
    const { provider, marks } = cachedSetup(ids);
    for (const id of ids) {
      const r = await cc(provider, id);
      if (r.status !== 200) throw new Error(`${id}: ${r.body}`);
    }
    expect(marks).toHaveLength(10_001);
    expect((await cc(provider, 'reg-10000')).status).toBe(200);
    expect(marks).toHaveLength(10_001);
    expect((await cc(provider, 'reg-0')).status).toBe(200);
    expect(marks).toHaveLength(10_002);
    expect(marks.at(-1)).toBe('reg-0');
  });

  it('a second provider over the same store remembers its own marks, not another store', async () => {
    const first = cachedSetup(['reg-a']);
    const second = cachedSetup(['reg-a']);
    expect((await cc(first.provider, 'reg-a')).status).toBe(200);
    expect((await cc(second.provider, 'reg-a')).status).toBe(200);
    expect((await cc(second.provider, 'reg-a')).status).toBe(200);
    expect(first.marks).toEqual(['reg-a']);
    expect(second.marks).toEqual(['reg-a']);
  });

  it('a registration store without markClientUsed is not asked, and the token is issued', async () => {
    const { provider, stores } = cachedSetup(['reg-a']);
    delete (stores.registrations as { markClientUsed?: unknown }).markClientUsed;
    const r = await cc(provider, 'reg-a');
    expect(r.status, r.body).toBe(200);
    expect(json(r).access_token).toEqual(expect.any(String));
  });

  it('stores without a registration store at all issue tokens to a client carrying registration data', async () => {
    const { registrations: _omitted, ...rest } = createMemoryStores({ clients: [registered('reg-a')] });
    const provider = new OAuth2Provider({ issuer: ISSUER, grants: ['client_credentials'], scopes: ['read'], stores: rest });
    const r = await cc(provider, 'reg-a');
    expect(r.status, r.body).toBe(200);
    expect(json(r).access_token).toEqual(expect.any(String));
  });

  it('a client whose record already carries firstUsedAt is not marked again', async () => {
    const stores = createMemoryStores({ clients: [{ ...registered('reg-a'), registration: { ...REG, firstUsedAt: new Date(T0) } }] });
    const marks: string[] = [];
    stores.registrations.markClientUsed = async (clientId) => {
      marks.push(clientId);
      return true;
    };
    const provider = new OAuth2Provider({ issuer: ISSUER, grants: ['client_credentials'], scopes: ['read'], stores });
    expect((await cc(provider, 'reg-a')).status).toBe(200);
    expect(marks).toEqual([]);
  });
});

describe('the audience saved with an access token', () => {
  it('is left out of the record when no resource was named, not saved as an empty list', async () => {
    const { provider, stores } = setup();
    const r = await provider.token(form({ grant_type: 'client_credentials', scope: 'read' }, { authorization: basic('app', SECRET) }));
    expect(r.status).toBe(200);
    const record = await stores.tokens.getAccessToken(digestToken(json(r).access_token as string));
    expect(record).not.toBeNull();
    expect(Object.hasOwn(record!, 'audience')).toBe(false);
  });
});
