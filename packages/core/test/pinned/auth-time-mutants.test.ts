/**
 * Pins what the auth_time tests (test/auth-time.test.ts) left open: the exact bound of the clock
 * skew allowed, the caller named in the device message, and the records handed to the stores
 * (no `authTime` key at all when unset; the device approval's scopes kept beside an authTime).
 */
import { decodeJwt } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type Client,
  createMemoryStores,
  type DeviceDecision,
  type GrantRecord,
  generateClientSecret,
  hashSecret,
  OAuth2Provider,
} from '../../src/index.js';
import { form, json, pkce } from '../security/fixture.js';

const CB = 'https://app.example/cb';
const SECRET = generateClientSecret();
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
const clients: Client[] = [
  {
    id: 'app',
    secretHash: hashSecret(SECRET),
    redirectUris: [CB],
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: ['read', 'write'],
  },
  { id: 'tv', secretHash: null, redirectUris: [], grantTypes: [DEVICE], scopes: ['read', 'write'] },
];

function setup() {
  const stores = createMemoryStores({ clients });
  const saved: GrantRecord[] = [];
  const decided: DeviceDecision[] = [];
  const saveGrant = stores.grants.saveGrant.bind(stores.grants);
  stores.grants.saveGrant = (g) => {
    saved.push(g);
    return saveGrant(g);
  };
  const decide = stores.devices.decideDeviceCode.bind(stores.devices);
  stores.devices.decideDeviceCode = (userCode, d) => {
    decided.push(d);
    return decide(userCode, d);
  };
  const provider = new OAuth2Provider({
    issuer: 'https://auth.example',
    grants: ['authorization_code', 'refresh_token', DEVICE],
    stores,
    accessTokenFormat: 'jwt',
    jwt: { keyEncryptionKey: generateClientSecret() },
  });
  return { provider, saved, decided };
}
type P = ReturnType<typeof setup>['provider'];

async function consent(p: P) {
  const { challenge } = pkce();
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: 'app',
    redirect_uri: CB,
    scope: 'read',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  const a = await p.authorize({ method: 'GET', url: `/oauth/authorize?${q}`, headers: {} });
  if (a.type !== 'consent') throw new Error('expected consent');
  return a.request;
}

async function userCode(p: P, scope = 'read write') {
  const d = await p.deviceAuthorization(form({ client_id: 'tv', scope }, {}, '/oauth/device_authorization'));
  return json(d) as { device_code: string; user_code: string };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('auth_time: what the tests of behaviour left open', () => {
  it('exactly 60 s ahead of this clock is accepted; one millisecond more is refused', async () => {
    const { provider } = setup();
    const request = await consent(provider);
    const now = Date.now();
    vi.spyOn(Date, 'now').mockReturnValue(now);
    await expect(
      provider.completeAuthorization(request, { approved: true, userId: 'u1', authTime: new Date(now + 60_001) }),
    ).rejects.toThrow(/authTime in the future/);
    const r = await provider.completeAuthorization(request, { approved: true, userId: 'u1', authTime: new Date(now + 60_000) });
    expect(r.status).toBe(302);
    expect(new URL(r.headers.Location!).searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('the device message names completeDeviceAuthorization', async () => {
    const { provider } = setup();
    const { user_code } = await userCode(provider);
    await expect(
      provider.completeDeviceAuthorization(user_code, { approved: true, userId: 'u1', authTime: new Date(Number.NaN) }),
    ).rejects.toThrow('Portcullis: completeDeviceAuthorization was given an authTime that is not a valid Date');
  });

  it('a code saved without authTime has no authTime key at all; with one, the copy', async () => {
    const { provider, saved } = setup();
    await provider.completeAuthorization(await consent(provider), { approved: true, userId: 'u1' });
    expect(saved).toHaveLength(1);
    expect(Object.keys(saved[0]!)).not.toContain('authTime');
    const authTime = new Date(Date.now() - 1000);
    await provider.completeAuthorization(await consent(provider), { approved: true, userId: 'u1', authTime });
    expect(saved[1]!.authTime).toEqual(authTime);
    expect(saved[1]!.authTime).not.toBe(authTime);
  });

  it('a device approval without authTime hands the store no authTime key; with one, the granted scopes beside it', async () => {
    const { provider, decided } = setup();
    const plain = await userCode(provider);
    expect(await provider.completeDeviceAuthorization(plain.user_code, { approved: true, userId: 'u1', scopes: ['read'] })).toBe(true);
    expect(decided[0]).toEqual({ approved: true, userId: 'u1', scopes: ['read'] });
    expect(Object.keys(decided[0]!)).not.toContain('authTime');
    const timed = await userCode(provider);
    const authTime = new Date(Date.now() - 5000);
    expect(
      await provider.completeDeviceAuthorization(timed.user_code, { approved: true, userId: 'u1', scopes: ['write', 'write'], authTime }),
    ).toBe(true);
    expect(decided[1]).toEqual({ approved: true, userId: 'u1', scopes: ['write'], authTime });
    const t = await provider.token(form({ grant_type: DEVICE, device_code: timed.device_code, client_id: 'tv' }));
    expect(t.status).toBe(200);
    const claims = decodeJwt((json(t) as { access_token: string }).access_token);
    expect(claims.scope).toBe('write');
    expect(claims.auth_time).toBe(Math.floor(authTime.getTime() / 1000));
  });
});
