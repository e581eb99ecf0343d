/**
 * Per-user grant views (issue 15): a user's "connected apps" (one summary per client with live
 * tokens) and revocation of everything a user granted to one client, or to all, on the next request.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Client, ConfigurationError, createMemoryStores, OAuth2Provider } from '../src/index.js';
import { DESCRIPTION, form, json, pkce } from './security/fixture.js';

const CB = 'https://app.example/cb';
const clients: Client[] = ['a', 'b'].map((id) => ({
  id,
  secretHash: null,
  redirectUris: [CB],
  grantTypes: ['authorization_code', 'refresh_token'],
  scopes: ['read', 'write'],
}));

function setup() {
  const stores = createMemoryStores({ clients });
  return new OAuth2Provider({ issuer: 'https://auth.example', stores });
}
type P = ReturnType<typeof setup>;

async function code(p: P, clientId: string, userId: string, scope = 'read') {
  const pair = pkce();
  const q = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    redirect_uri: CB,
    scope,
    code_challenge: pair.challenge,
    code_challenge_method: 'S256',
  });
  const a = await p.authorize({ method: 'GET', url: `/oauth/authorize?${q}`, headers: {} });
  if (a.type !== 'consent') throw new Error('consent expected');
  const done = await p.completeAuthorization(a.request, { approved: true, userId });
  return { code: new URL(done.headers.Location!).searchParams.get('code')!, verifier: pair.verifier, clientId };
}
async function tokens(p: P, c: { code: string; verifier: string; clientId: string }) {
  const r = await p.token(
    form({ grant_type: 'authorization_code', code: c.code, redirect_uri: CB, client_id: c.clientId, code_verifier: c.verifier }),
  );
  expect(r.status).toBe(200);
  return json(r) as { access_token: string; refresh_token: string };
}
const works = async (p: P, t: string) =>
  (await p.verifyAccessToken({ method: 'GET', url: '/api', headers: { authorization: `Bearer ${t}` } })).ok;

afterEach(() => {
  vi.useRealTimers();
});

describe('listUserGrants', () => {
  it('gives one summary per client with live tokens: scopes, first and last issue, families', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const p = setup();
    const t0 = Date.now();
    await tokens(p, await code(p, 'a', 'u1', 'read'));
    vi.setSystemTime(t0 + 60_000);
    await tokens(p, await code(p, 'a', 'u1', 'write'));
    await tokens(p, await code(p, 'b', 'u1', 'read'));
    await tokens(p, await code(p, 'a', 'u2', 'read'));
    const list = [...(await p.listUserGrants('u1'))].sort((x, y) => x.clientId.localeCompare(y.clientId));
    expect(list).toHaveLength(2);
    expect(list[0]).toMatchObject({ clientId: 'a', grants: 2 });
    expect([...list[0]!.scopes].sort()).toEqual(['read', 'write']);
    expect(list[0]!.firstIssuedAt?.getTime()).toBe(t0);
    expect(list[0]!.lastIssuedAt?.getTime()).toBe(t0 + 60_000);
    expect(list[1]).toMatchObject({ clientId: 'b', grants: 1, scopes: ['read'] });
    expect(await p.listUserGrants('nobody')).toEqual([]);
  });

  it('leaves out expired tokens', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const p = new OAuth2Provider({
      issuer: 'https://auth.example',
      stores: createMemoryStores({ clients }),
      lifetimes: { accessToken: 60, refreshToken: 120 },
    });
    await tokens(p, await code(p, 'a', 'u1'));
    expect(await p.listUserGrants('u1')).toHaveLength(1);
    vi.setSystemTime(Date.now() + 121_000);
    expect(await p.listUserGrants('u1')).toEqual([]);
  });
});

describe('revokeUserGrants', () => {
  it("revokes one client's tokens and codes for the user, on the next request; other clients and users keep theirs", async () => {
    const p = setup();
    const a1 = await tokens(p, await code(p, 'a', 'u1'));
    const pending = await code(p, 'a', 'u1');
    const b1 = await tokens(p, await code(p, 'b', 'u1'));
    const a2 = await tokens(p, await code(p, 'a', 'u2'));
    expect(await p.revokeUserGrants('u1', 'a')).toBe(2);
    expect(await works(p, a1.access_token)).toBe(false);
    const refresh = await p.token(form({ grant_type: 'refresh_token', refresh_token: a1.refresh_token, client_id: 'a' }));
    expect(refresh.status).toBe(400);
    expect(json(refresh).error).toBe('invalid_grant');
    expect(json(refresh).error_description).toMatch(DESCRIPTION);
    const redeem = await p.token(
      form({ grant_type: 'authorization_code', code: pending.code, redirect_uri: CB, client_id: 'a', code_verifier: pending.verifier }),
    );
    expect(json(redeem).error).toBe('invalid_grant');
    expect(await works(p, b1.access_token)).toBe(true);
    expect(await works(p, a2.access_token)).toBe(true);
    expect((await p.listUserGrants('u1')).map((g) => g.clientId)).toEqual(['b']);
  });

  it('revokes everything a user granted when no client is named', async () => {
    const p = setup();
    const a1 = await tokens(p, await code(p, 'a', 'u1'));
    const b1 = await tokens(p, await code(p, 'b', 'u1'));
    const a2 = await tokens(p, await code(p, 'a', 'u2'));
    expect(await p.revokeUserGrants('u1')).toBe(2);
    expect(await works(p, a1.access_token)).toBe(false);
    expect(await works(p, b1.access_token)).toBe(false);
    expect(await works(p, a2.access_token)).toBe(true);
    expect(await p.listUserGrants('u1')).toEqual([]);
    expect(await p.revokeUserGrants('u1')).toBe(0);
  });

  it('needs a userGrants store, and says so', async () => {
    const { userGrants: _, ...rest } = createMemoryStores({ clients });
    const p = new OAuth2Provider({ issuer: 'https://auth.example', stores: rest });
    await expect(p.listUserGrants('u1')).rejects.toBeInstanceOf(ConfigurationError);
    await expect(p.revokeUserGrants('u1', 'a')).rejects.toThrow(/userGrants/);
  });
});
