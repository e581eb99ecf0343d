/**
 * `auth_time` in JWT access tokens. RFC 9068 section 2.2.1: "auth_time OPTIONAL - as defined in
 * Section 2 of [OpenID.Core]" ("Time when the End-User authentication occurred. Its value is a JSON
 * number representing the number of seconds from 1970-01-01T0:0:0Z as measured in UTC until the
 * date/time."). Portcullis knows it when the application passes `authTime` to
 * `completeAuthorization` or `completeDeviceAuthorization`, and for the password grant (the user
 * authenticates with the token request). A refresh keeps the original time: refreshing is not
 * authenticating.
 */
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  type Client,
  ConfigurationError,
  createMemoryStores,
  decodeGrant,
  digestToken,
  encodeGrant,
  generateClientSecret,
  hashPassword,
  hashSecret,
  OAuth2Provider,
  type ProviderOptions,
} from '../src/index.js';
import { basic, form, json, pkce } from './security/fixture.js';

const CB = 'https://app.example/cb';
const SECRET = generateClientSecret();
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
const PASSWORD = 'correct horse battery staple';
const clients: Client[] = [
  {
    id: 'app',
    secretHash: hashSecret(SECRET),
    redirectUris: [CB],
    grantTypes: ['authorization_code', 'refresh_token', 'implicit', 'password'],
    scopes: ['read', 'write'],
  },
  { id: 'tv', secretHash: null, redirectUris: [], grantTypes: [DEVICE, 'refresh_token'], scopes: ['read'] },
];

async function setup(options: Partial<ProviderOptions> = {}) {
  const stores = createMemoryStores({
    clients,
    users: [{ username: 'alice', user: { id: 'u-alice' }, passwordHash: await hashPassword(PASSWORD) }],
  });
  const provider = new OAuth2Provider({
    issuer: 'https://auth.example',
    grants: ['authorization_code', 'refresh_token', 'implicit', 'password', DEVICE],
    stores,
    accessTokenFormat: 'jwt',
    jwt: { keyEncryptionKey: generateClientSecret() },
    ...options,
  });
  return { provider, stores };
}
type P = Awaited<ReturnType<typeof setup>>['provider'];

async function consent(p: P, responseType = 'code') {
  const { verifier, challenge } = pkce();
  const q = new URLSearchParams({ response_type: responseType, client_id: 'app', redirect_uri: CB, scope: 'read' });
  if (responseType === 'code') {
    q.set('code_challenge', challenge);
    q.set('code_challenge_method', 'S256');
  }
  const a = await p.authorize({ method: 'GET', url: `/oauth/authorize?${q}`, headers: {} });
  if (a.type !== 'consent') throw new Error(`expected consent, got ${JSON.stringify(a)}`);
  return { request: a.request, verifier };
}

async function codeFlow(p: P, authTime?: Date) {
  const { request, verifier } = await consent(p);
  const r = await p.completeAuthorization(
    request,
    authTime === undefined ? { approved: true, userId: 'u1' } : { approved: true, userId: 'u1', authTime },
  );
  const code = new URL(r.headers.Location!).searchParams.get('code')!;
  const t = await p.token(
    form({ grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier }, { authorization: basic('app', SECRET) }),
  );
  expect(t.status).toBe(200);
  return json(t) as { access_token: string; refresh_token: string };
}

async function refresh(p: P, token: string) {
  const t = await p.token(form({ grant_type: 'refresh_token', refresh_token: token }, { authorization: basic('app', SECRET) }));
  expect(t.status).toBe(200);
  return json(t) as { access_token: string; refresh_token: string };
}

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

describe('auth_time (RFC 9068 section 2.2.1)', () => {
  it('is carried from completeAuthorization into the code, its JWT, and every JWT refreshed from it', async () => {
    const { provider, stores } = await setup();
    const authTime = new Date(Date.now() - 3_600_000 + 789);
    const first = await codeFlow(provider, authTime);
    const claims = decodeJwt(first.access_token);
    expect(claims.auth_time).toBe(seconds(authTime));
    expect(Number.isInteger(claims.auth_time)).toBe(true);
    // The claim follows the registered ones, before nothing else RFC 9068 names.
    expect(Object.keys(claims)).toEqual(['iss', 'sub', 'aud', 'jti', 'client_id', 'scope', 'auth_time', 'iat', 'exp']);
    // The refresh token keeps it (to the millisecond), and so does the one it rotates to.
    const held = await stores.tokens.getRefreshToken(digestToken(first.refresh_token));
    expect(held?.authTime?.getTime()).toBe(authTime.getTime());
    const second = await refresh(provider, first.refresh_token);
    expect(decodeJwt(second.access_token).auth_time).toBe(seconds(authTime));
    const third = await refresh(provider, second.refresh_token);
    expect(decodeJwt(third.access_token).auth_time).toBe(seconds(authTime));
    expect((await stores.tokens.getRefreshToken(digestToken(third.refresh_token)))?.authTime?.getTime()).toBe(authTime.getTime());
  });

  it('is left out when the application does not say when the user authenticated, also after a refresh', async () => {
    const { provider, stores } = await setup();
    const first = await codeFlow(provider);
    expect(decodeJwt(first.access_token)).not.toHaveProperty('auth_time');
    expect(await stores.tokens.getRefreshToken(digestToken(first.refresh_token))).not.toHaveProperty('authTime');
    const second = await refresh(provider, first.refresh_token);
    expect(decodeJwt(second.access_token)).not.toHaveProperty('auth_time');
  });

  it("is kept on opaque tokens' refresh tokens too, so a later JWT refresh would carry it", async () => {
    const { provider, stores } = await setup({ accessTokenFormat: 'opaque' });
    const authTime = new Date(Date.now() - 120_000);
    const t = await codeFlow(provider, authTime);
    expect(t.access_token).not.toContain('.');
    expect((await stores.tokens.getRefreshToken(digestToken(t.refresh_token)))?.authTime?.getTime()).toBe(authTime.getTime());
  });

  it('is carried by an implicit-grant token', async () => {
    const { provider } = await setup();
    const authTime = new Date(Date.now() - 5_000);
    const { request } = await consent(provider, 'token');
    const r = await provider.completeAuthorization(request, { approved: true, userId: 'u1', authTime });
    const fragment = new URLSearchParams(new URL(r.headers.Location!).hash.slice(1));
    expect(decodeJwt(fragment.get('access_token')!).auth_time).toBe(seconds(authTime));
  });

  it("is the token request's own time for the password grant (the user authenticates with it), and survives a refresh", async () => {
    const { provider } = await setup();
    const before = Math.floor(Date.now() / 1000);
    const t = await provider.token(
      form({ grant_type: 'password', username: 'alice', password: PASSWORD, scope: 'read' }, { authorization: basic('app', SECRET) }),
    );
    const after = Math.floor(Date.now() / 1000);
    expect(t.status).toBe(200);
    const body = json(t) as { access_token: string; refresh_token: string };
    const authTime = decodeJwt(body.access_token).auth_time as number;
    expect(authTime).toBeGreaterThanOrEqual(before);
    expect(authTime).toBeLessThanOrEqual(after);
    expect(decodeJwt((await refresh(provider, body.refresh_token)).access_token).auth_time).toBe(authTime);
  });

  it("is carried from completeDeviceAuthorization into the device's tokens; none without it", async () => {
    const { provider } = await setup();
    const run = async (authTime?: Date) => {
      const d = await provider.deviceAuthorization(form({ client_id: 'tv', scope: 'read' }, {}, '/oauth/device_authorization'));
      const { device_code, user_code } = json(d) as { device_code: string; user_code: string };
      const decision = authTime === undefined ? { approved: true, userId: 'u1' } : { approved: true, userId: 'u1', authTime };
      expect(await provider.completeDeviceAuthorization(user_code, decision)).toBe(true);
      const t = await provider.token(form({ grant_type: DEVICE, device_code, client_id: 'tv' }));
      expect(t.status).toBe(200);
      return json(t) as { access_token: string; refresh_token: string };
    };
    const authTime = new Date(Date.now() - 42_000);
    const known = await run(authTime);
    expect(decodeJwt(known.access_token).auth_time).toBe(seconds(authTime));
    const t = await provider.token(form({ grant_type: 'refresh_token', refresh_token: known.refresh_token, client_id: 'tv' }));
    expect(decodeJwt((json(t) as { access_token: string }).access_token).auth_time).toBe(seconds(authTime));
    expect(decodeJwt((await run()).access_token)).not.toHaveProperty('auth_time');
  });

  it("is copied when given: changing the caller's Date afterwards changes nothing", async () => {
    const { provider } = await setup();
    const authTime = new Date(Date.now() - 60_000);
    const expected = seconds(authTime);
    const { request, verifier } = await consent(provider);
    const r = await provider.completeAuthorization(request, { approved: true, userId: 'u1', authTime });
    authTime.setTime(0);
    const code = new URL(r.headers.Location!).searchParams.get('code')!;
    const t = await provider.token(
      form({ grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier }, { authorization: basic('app', SECRET) }),
    );
    expect(decodeJwt((json(t) as { access_token: string }).access_token).auth_time).toBe(expected);
  });
});

describe('a wrong authTime is a configuration error, thrown, and nothing is granted', () => {
  const wrong: [string, unknown][] = [
    ['an invalid Date', new Date('not a date')],
    ['a number', Date.now()],
    ['a string', new Date().toISOString()],
    ['null', null],
    ['two minutes in the future', new Date(Date.now() + 120_000)],
  ];
  for (const [what, authTime] of wrong) {
    it(`completeAuthorization: ${what}`, async () => {
      const { provider } = await setup();
      const { request } = await consent(provider);
      await expect(provider.completeAuthorization(request, { approved: true, userId: 'u1', authTime: authTime as Date })).rejects.toThrow(
        ConfigurationError,
      );
    });
    it(`completeDeviceAuthorization: ${what}`, async () => {
      const { provider, stores } = await setup();
      const d = await provider.deviceAuthorization(form({ client_id: 'tv', scope: 'read' }, {}, '/oauth/device_authorization'));
      const { user_code } = json(d) as { user_code: string };
      await expect(
        provider.completeDeviceAuthorization(user_code, { approved: true, userId: 'u1', authTime: authTime as Date }),
      ).rejects.toThrow(/authTime/);
      expect((await stores.devices.findDeviceCode(user_code.replace('-', '')))?.status).toBe('pending');
    });
  }

  it('the message names the call and says what is wrong, without the value', async () => {
    const { provider } = await setup();
    const { request } = await consent(provider);
    await expect(provider.completeAuthorization(request, { approved: true, userId: 'u1', authTime: new Date(Number.NaN) })).rejects.toThrow(
      'Portcullis: completeAuthorization was given an authTime that is not a valid Date',
    );
    await expect(
      provider.completeAuthorization(request, { approved: true, userId: 'u1', authTime: new Date(Date.now() + 3_600_000) }),
    ).rejects.toThrow('Portcullis: completeAuthorization was given an authTime in the future: pass when the user authenticated');
  });

  it("up to a minute ahead of this clock is accepted (another server's clock), and kept as given", async () => {
    const { provider } = await setup();
    const ahead = new Date(Date.now() + 30_000);
    const t = await codeFlow(provider, ahead);
    expect(decodeJwt(t.access_token).auth_time).toBe(seconds(ahead));
  });

  it('a denial ignores authTime, whatever it holds', async () => {
    const { provider } = await setup();
    const { request } = await consent(provider);
    const r = await provider.completeAuthorization(request, { approved: false, authTime: new Date('x') });
    expect(new URL(r.headers.Location!).searchParams.get('error')).toBe('access_denied');
    const d = await provider.deviceAuthorization(form({ client_id: 'tv', scope: 'read' }, {}, '/oauth/device_authorization'));
    const { user_code } = json(d) as { user_code: string };
    expect(await provider.completeDeviceAuthorization(user_code, { approved: false, authTime: new Date('x') })).toBe(true);
  });
});

describe('the grant codec keeps authTime', () => {
  const grant = {
    code: 'c',
    clientId: 'app',
    userId: 'u1',
    redirectUri: CB,
    scopes: ['read'],
    expiresAt: new Date(Date.now() + 60_000),
    grantId: 'g',
    codeChallenge: null,
    codeChallengeMethod: null,
  } as const;

  it('round-trips it to the millisecond, and leaves it out when unset', () => {
    const authTime = new Date('2026-01-02T03:04:05.678Z');
    const text = encodeGrant({ ...grant, authTime });
    expect(JSON.parse(text).authTime).toBe(authTime.getTime());
    expect(decodeGrant('app', 'c', text)?.authTime?.getTime()).toBe(authTime.getTime());
    const none = encodeGrant(grant);
    expect(JSON.parse(none)).not.toHaveProperty('authTime');
    expect(decodeGrant('app', 'c', none)).not.toHaveProperty('authTime');
  });

  it('refuses to encode an invalid Date, and decodes a wrong-typed value as no grant', () => {
    expect(() => encodeGrant({ ...grant, authTime: new Date('x') })).toThrow(new TypeError('authTime must be a valid Date'));
    const text = JSON.parse(encodeGrant(grant));
    for (const bad of ['2026-01-01', null, true, 1e20]) {
      expect(decodeGrant('app', 'c', JSON.stringify({ ...text, authTime: bad }))).toBeNull();
    }
    expect(decodeGrant('app', 'c', JSON.stringify({ ...text, authTime: 0 }))?.authTime?.getTime()).toBe(0);
  });
});
