/**
 * RFC 8628 (OAuth 2.0 Device Authorization Grant).
 *
 * RFC 8628 section 3.1: "The client authentication requirements of Section 3.2.1 of [RFC6749]
 *   apply to requests on this endpoint, which means that confidential clients (those that have
 *   established client credentials) authenticate in the same manner as when making requests to the
 *   token endpoint, and public clients provide the "client_id" parameter to identify themselves."
 * RFC 8628 section 3.2, expires_in: "REQUIRED.  The lifetime in seconds of the "device_code" and
 *   "user_code"."
 * RFC 8628 section 3.2, interval: "OPTIONAL.  The minimum amount of time in seconds that the client
 *   SHOULD wait between polling requests to the token endpoint.  If no value is provided, clients
 *   MUST use 5 as the default."
 * RFC 8628 section 3.4, grant_type: "REQUIRED.  Value MUST be set to
 *   "urn:ietf:params:oauth:grant-type:device_code"."
 * RFC 8628 section 3.5: "If the user has approved the grant, the token endpoint responds with a
 *   success response defined in Section 5.1 of [RFC6749]; otherwise, it responds with an error, as
 *   defined in Section 5.2 of [RFC6749]."
 * RFC 8628 section 3.5, authorization_pending: "The authorization request is still pending as the
 *   end user hasn't yet completed the user-interaction steps (Section 3.3)."
 * RFC 8628 section 3.5, slow_down: "A variant of "authorization_pending", the authorization request
 *   is still pending and polling should continue, but the interval MUST be increased by 5 seconds
 *   for this and all subsequent requests."
 * RFC 8628 section 3.5, access_denied: "The authorization request was denied."
 * RFC 8628 section 3.5, expired_token: "The "device_code" has expired, and the device authorization
 *   session has concluded."
 * RFC 8628 section 4: "The value "urn:ietf:params:oauth:grant-type:device_code" is included in
 *   values of the "grant_types_supported" key, and the following new key value pair is added:"
 *   device_authorization_endpoint.
 * RFC 6749 section 5.2, invalid_grant: "The provided authorization grant (e.g., authorization code,
 *   resource owner credentials) or refresh token is invalid, expired, revoked, does not match the
 *   redirection URI used in the authorization request, or was issued to another client."
 *
 * RFC 8628 does not say what a poll answers after the tokens were issued. The device code is then a
 * used grant, not an expired one (`expired_token` is for a code that "has expired"), so every poll
 * but the one that got the tokens answers `invalid_grant`, as RFC 6749 section 5.2 describes it.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type Client,
  createMemoryStores,
  generateClientSecret,
  hashSecret,
  OAuth2Provider,
  type ProviderOptions,
} from '../../src/index.js';
import { basic, DESCRIPTION, form, json, raw } from '../security/fixture.js';

const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
const SECRET = generateClientSecret();
const USER_CODE = /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/;

const clients: Client[] = [
  { id: 'tv', secretHash: null, redirectUris: [], grantTypes: [DEVICE, 'refresh_token'], scopes: ['read', 'write'] },
  { id: 'conf', secretHash: hashSecret(SECRET), redirectUris: [], grantTypes: [DEVICE], scopes: ['read'] },
  { id: 'tv2', secretHash: null, redirectUris: [], grantTypes: [DEVICE], scopes: ['read'] },
  { id: 'web', secretHash: null, redirectUris: ['https://app.example/cb'], grantTypes: ['authorization_code'], scopes: ['read'] },
];

function setup(options: Partial<ProviderOptions> = {}) {
  const stores = createMemoryStores({ clients });
  const provider = new OAuth2Provider({
    issuer: 'https://auth.example',
    grants: ['authorization_code', 'refresh_token', DEVICE],
    stores,
    ...options,
  });
  return { provider, stores };
}
type P = ReturnType<typeof setup>['provider'];

const authorizeDevice = (p: P, params: Record<string, string>, headers: Record<string, string> = {}) =>
  p.deviceAuthorization(form(params, headers, '/oauth/device_authorization'));

async function start(p: P, params: Record<string, string> = { client_id: 'tv', scope: 'read write' }) {
  const r = await authorizeDevice(p, params);
  expect(r.status).toBe(200);
  return json(r) as {
    device_code: string;
    user_code: string;
    verification_uri: string;
    verification_uri_complete: string;
    expires_in: number;
    interval: number;
  };
}
const poll = (p: P, deviceCode: string, clientId = 'tv', extra: Record<string, string> = {}) =>
  p.token(form({ grant_type: DEVICE, device_code: deviceCode, client_id: clientId, ...extra }));

afterEach(() => {
  vi.useRealTimers();
});

describe('device authorization endpoint (RFC 8628 section 3.1, 3.2)', () => {
  it('answers device_code, user_code, verification URIs, expires_in and interval, without caching', async () => {
    const { provider } = setup();
    const r = await authorizeDevice(provider, { client_id: 'tv', scope: 'read' });
    expect(r.status).toBe(200);
    expect(r.headers['Cache-Control']).toBe('no-store');
    const b = json(r);
    expect(b.device_code).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(b.user_code).toMatch(USER_CODE);
    expect(b.verification_uri).toBe('https://auth.example/device');
    expect(b.verification_uri_complete).toBe(`https://auth.example/device?user_code=${b.user_code}`);
    expect(b.expires_in).toBe(600);
    expect(b.interval).toBe(5);
  });

  it('stores the device code as a digest, never as the client holds it', async () => {
    const { provider, stores } = setup();
    const b = await start(provider);
    const found = await stores.devices.findDeviceCode((b.user_code as string).replace('-', ''));
    expect(found).not.toBeNull();
    expect(found!.deviceCode).not.toBe(b.device_code);
    expect(found!.deviceCode).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('takes its options: verification URI, lifetime, interval, path', async () => {
    const { provider } = setup({
      device: { verificationUri: 'https://auth.example/activate?lang=en', expiresIn: 900, interval: 7 },
      endpoints: { deviceAuthorization: '/device/code' },
    });
    const r = await provider.handle(form({ client_id: 'tv' }, {}, '/device/code'));
    const b = json(r!);
    expect(b.verification_uri).toBe('https://auth.example/activate?lang=en');
    expect(b.verification_uri_complete).toBe(`https://auth.example/activate?lang=en&user_code=${b.user_code}`);
    expect(b.expires_in).toBe(900);
    expect(b.interval).toBe(7);
    expect(provider.handles('/oauth/device_authorization')).toBe(false);
  });

  it('"confidential clients ... authenticate in the same manner as when making requests to the token endpoint"', async () => {
    const { provider } = setup();
    expect((await authorizeDevice(provider, {}, { authorization: basic('conf', SECRET) })).status).toBe(200);
    const bad = await authorizeDevice(provider, {}, { authorization: basic('conf', 'wrong-secret') });
    expect(bad.status).toBe(401);
    expect(json(bad).error).toBe('invalid_client');
    // A confidential client cannot pass as public by naming itself only.
    expect(json(await authorizeDevice(provider, { client_id: 'conf' })).error).toBe('invalid_client');
  });

  it('hostile: unknown client, no client, GET, JSON body, repeated parameters', async () => {
    const { provider } = setup();
    expect(json(await authorizeDevice(provider, { client_id: 'nobody' })).error).toBe('invalid_client');
    expect(json(await authorizeDevice(provider, {})).error).toBe('invalid_client');
    expect(
      (await provider.deviceAuthorization({ method: 'GET', url: '/oauth/device_authorization?client_id=tv', headers: {} })).status,
    ).toBe(405);
    const j = await provider.deviceAuthorization({
      method: 'POST',
      url: '/oauth/device_authorization',
      headers: { 'content-type': 'application/json' },
      body: '{"client_id":"tv"}',
    });
    expect(json(j).error).toBe('invalid_request');
    const rep = await provider.deviceAuthorization(raw('client_id=tv&scope=read&scope=write', {}, '/oauth/device_authorization'));
    expect(rep.status).toBe(400);
    expect(json(rep).error).toBe('invalid_request');
    expect(json(rep).error_description).toMatch(DESCRIPTION);
  });

  it('checks the scope as usual, and refuses a client without the grant', async () => {
    const { provider } = setup();
    expect(json(await authorizeDevice(provider, { client_id: 'tv', scope: 'admin' })).error).toBe('invalid_scope');
    expect(json(await authorizeDevice(provider, { client_id: 'tv', scope: 'read\u0000' })).error).toBe('invalid_scope');
    const huge = await authorizeDevice(provider, { client_id: 'tv', scope: `${'x'.repeat(10_000)}"\\` });
    expect(json(huge).error).toBe('invalid_scope');
    expect(json(huge).error_description).toMatch(DESCRIPTION);
    expect(String(json(huge).error_description).length).toBeLessThanOrEqual(200);
    expect(json(await authorizeDevice(provider, { client_id: 'web' })).error).toBe('unauthorized_client');
  });

  it('is not served, nor advertised, when the grant is off (RFC 8628 section 4)', async () => {
    const on = setup().provider.metadataDocument();
    expect(on.device_authorization_endpoint).toBe('https://auth.example/oauth/device_authorization');
    expect(on.grant_types_supported).toContain(DEVICE);
    const { provider } = setup({ grants: ['authorization_code'] });
    expect(provider.metadataDocument().device_authorization_endpoint).toBeUndefined();
    expect(await provider.handle(form({ client_id: 'tv' }, {}, '/oauth/device_authorization'))).toBeNull();
  });

  it('needs a device code store when the grant is on', () => {
    const stores = createMemoryStores({ clients });
    const { devices: _unused, ...rest } = stores;
    expect(() => new OAuth2Provider({ issuer: 'https://auth.example', grants: [DEVICE], stores: rest })).toThrow(/device code store/);
  });

  it('refuses bad device options', () => {
    expect(() => setup({ device: { verificationUri: '/device' } })).toThrow(TypeError);
    expect(() => setup({ device: { verificationUri: 'javascript:alert(1)' } })).toThrow(TypeError);
    expect(() => setup({ device: { interval: 0 } })).toThrow(TypeError);
    expect(() => setup({ device: { expiresIn: 1.5 } })).toThrow(TypeError);
  });
});

describe('user code (verification page)', () => {
  it('finds the request ignoring case and dashes, with the client and scopes', async () => {
    const { provider } = setup();
    const b = await start(provider);
    for (const typed of [
      b.user_code,
      b.user_code.toLowerCase(),
      b.user_code.replace('-', ''),
      ` ${b.user_code.slice(0, 4)} - ${b.user_code.slice(5)} `,
    ]) {
      const found = await provider.findDeviceRequest(typed);
      expect(found?.client.id).toBe('tv');
      expect(found?.scopes).toEqual(['read', 'write']);
      expect(found?.userCode).toBe(b.user_code);
    }
  });

  it('hostile: huge input, wrong alphabet, wrong length, non-strings find nothing', async () => {
    const { provider, stores } = setup();
    const b = await start(provider);
    const spy = vi.spyOn(stores.devices, 'findDeviceCode');
    const hostile = [
      b.user_code.repeat(10_000),
      'AAAA-AAAA',
      'BCDF-GHJ1',
      'BCDF-GHJ',
      'BCDF-GHJKL',
      'BCDF\u0000GHJK',
      'ВCDF-GHJK', // Cyrillic V
      '',
      12345678 as unknown as string,
    ];
    for (const h of hostile) expect(await provider.findDeviceRequest(h)).toBeNull();
    expect(spy).not.toHaveBeenCalled();
    expect(await provider.completeDeviceAuthorization('AAAA-AAAA', { approved: true, userId: 'u1' })).toBe(false);
  });

  it('throttles failed lookups per provider, within a bounded window (then lets them through again)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { provider } = setup({ device: { maxLookupFailures: 3, lookupWindow: 60 } });
    const b = await start(provider);
    for (let i = 0; i < 3; i++) expect(await provider.findDeviceRequest('BBBB-BBBB')).toBeNull();
    // The limit is reached: even the right code is refused until the window ends.
    expect(await provider.findDeviceRequest(b.user_code)).toBeNull();
    expect(await provider.completeDeviceAuthorization(b.user_code, { approved: true, userId: 'u1' })).toBe(false);
    vi.setSystemTime(Date.now() + 60_000);
    expect((await provider.findDeviceRequest(b.user_code))?.client.id).toBe('tv');
  });

  it('records one decision only, and refuses scopes that were not requested or an approval without a user', async () => {
    const { provider } = setup();
    const b = await start(provider);
    await expect(provider.completeDeviceAuthorization(b.user_code, { approved: true, userId: 'u1', scopes: ['admin'] })).rejects.toThrow(
      /only scopes the device requested/,
    );
    await expect(provider.completeDeviceAuthorization(b.user_code, { approved: true })).rejects.toThrow(/names no user/);
    expect(await provider.completeDeviceAuthorization(b.user_code, { approved: true, userId: 'u1', scopes: ['read'] })).toBe(true);
    expect(await provider.completeDeviceAuthorization(b.user_code, { approved: false })).toBe(false);
    expect(await provider.findDeviceRequest(b.user_code)).toBeNull();
    const t = await poll(provider, b.device_code);
    expect(t.status).toBe(200);
    expect(json(t).scope).toBe('read');
  });
});

describe('device access token request (RFC 8628 section 3.4, 3.5)', () => {
  it('"authorization_pending" while the user has not decided, then tokens once approved', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { provider } = setup();
    const b = await start(provider);
    const first = await poll(provider, b.device_code);
    expect(first.status).toBe(400);
    expect(json(first).error).toBe('authorization_pending');
    expect(json(first).error_description).toMatch(DESCRIPTION);
    expect(await provider.completeDeviceAuthorization(b.user_code, { approved: true, userId: 'u1' })).toBe(true);
    vi.setSystemTime(Date.now() + 5_000);
    const t = await poll(provider, b.device_code);
    expect(t.status).toBe(200);
    const body = json(t);
    expect(body.token_type).toBe('Bearer');
    expect(body.scope).toBe('read write');
    expect(typeof body.refresh_token).toBe('string');
    const check = await provider.verifyAccessToken({
      method: 'GET',
      url: '/api',
      headers: { authorization: `Bearer ${body.access_token}` },
    });
    expect(check.ok && check.token.userId).toBe('u1');
  });

  it('"slow_down": a poll before the interval; "the interval MUST be increased by 5 seconds for this and all subsequent requests"', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { provider } = setup();
    const b = await start(provider);
    expect(json(await poll(provider, b.device_code)).error).toBe('authorization_pending');
    vi.setSystemTime(Date.now() + 4_000);
    expect(json(await poll(provider, b.device_code)).error).toBe('slow_down');
    // The interval is now 10 s: 6 s later is still too soon (and adds 5 more: 15 s).
    vi.setSystemTime(Date.now() + 6_000);
    expect(json(await poll(provider, b.device_code)).error).toBe('slow_down');
    vi.setSystemTime(Date.now() + 15_000);
    expect(json(await poll(provider, b.device_code)).error).toBe('authorization_pending');
  });

  it('"access_denied" once the user denied', async () => {
    const { provider } = setup();
    const b = await start(provider);
    expect(await provider.completeDeviceAuthorization(b.user_code, { approved: false, userId: 'u1' })).toBe(true);
    const r = await poll(provider, b.device_code);
    expect(r.status).toBe(400);
    expect(json(r).error).toBe('access_denied');
  });

  it('"expired_token" after expires_in, even when approved', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { provider } = setup();
    const pending = await start(provider);
    const approved = await start(provider);
    expect(await provider.completeDeviceAuthorization(approved.user_code, { approved: true, userId: 'u1' })).toBe(true);
    vi.setSystemTime(Date.now() + 600_000);
    expect(json(await poll(provider, pending.device_code)).error).toBe('expired_token');
    expect(json(await poll(provider, approved.device_code)).error).toBe('expired_token');
    expect(await provider.findDeviceRequest(pending.user_code)).toBeNull();
    expect(await provider.completeDeviceAuthorization(pending.user_code, { approved: true, userId: 'u1' })).toBe(false);
  });

  it('issues tokens exactly once: of 20 concurrent polls one gets them, the rest invalid_grant', async () => {
    const { provider } = setup();
    const b = await start(provider);
    await provider.completeDeviceAuthorization(b.user_code, { approved: true, userId: 'u1' });
    const answers = await Promise.all(Array.from({ length: 20 }, () => poll(provider, b.device_code)));
    expect(answers.filter((r) => r.status === 200)).toHaveLength(1);
    const errors = answers.filter((r) => r.status !== 200).map((r) => json(r).error);
    expect(errors).toEqual(Array(19).fill('invalid_grant'));
    expect(json(await poll(provider, b.device_code)).error).toBe('invalid_grant');
  });

  it('hostile: another client polling with the code gets invalid_grant and disturbs nothing', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { provider } = setup();
    const b = await start(provider);
    await provider.completeDeviceAuthorization(b.user_code, { approved: true, userId: 'u1' });
    expect(json(await poll(provider, b.device_code, 'tv2')).error).toBe('invalid_grant');
    const conf = await provider.token(form({ grant_type: DEVICE, device_code: b.device_code }, { authorization: basic('conf', SECRET) }));
    expect(json(conf).error).toBe('invalid_grant');
    // Its own client still gets the tokens, with no slow_down from the other client's polls.
    expect((await poll(provider, b.device_code)).status).toBe(200);
  });

  it('hostile: missing, unknown, huge and repeated device_code; a client without the grant', async () => {
    const { provider } = setup();
    const b = await start(provider);
    expect(json(await provider.token(form({ grant_type: DEVICE, client_id: 'tv' }))).error).toBe('invalid_request');
    expect(json(await poll(provider, 'not-a-code')).error).toBe('invalid_grant');
    const huge = await poll(provider, 'x'.repeat(100_000));
    expect(json(huge).error).toBe('invalid_grant');
    const rep = await provider.token(
      raw(`grant_type=${encodeURIComponent(DEVICE)}&client_id=tv&device_code=${b.device_code}&device_code=x`),
    );
    expect(json(rep).error).toBe('invalid_request');
    expect(json(await poll(provider, b.device_code, 'web')).error).toBe('unauthorized_client');
    for (const r of [huge, rep]) expect(json(r).error_description).toMatch(DESCRIPTION);
  });

  it('runs the hooks at the device authorization endpoint, which a hook can veto', async () => {
    const seen: string[] = [];
    const { provider } = setup({
      hooks: {
        beforeRequest: (ctx) => {
          seen.push(`${ctx.endpoint}:${ctx.claimedClientId()}`);
          return undefined;
        },
        afterRequest: (ctx, outcome) => {
          seen.push(`${ctx.endpoint}:${outcome.valid}:${outcome.grantType}`);
          return ctx.endpoint === 'device_authorization' && outcome.clientId === 'tv2' ? { status: 429, headers: {}, body: '' } : undefined;
        },
      },
    });
    await start(provider);
    expect(seen).toEqual(['device_authorization:tv', `device_authorization:true:${DEVICE}`]);
    expect((await authorizeDevice(provider, { client_id: 'tv2' })).status).toBe(429);
  });

  it('is unsupported_grant_type when the grant is off', async () => {
    const { provider } = setup({ grants: ['authorization_code'] });
    expect(json(await poll(provider, 'whatever')).error).toBe('unsupported_grant_type');
  });
});

describe('memory device code store', () => {
  const record = (over: Record<string, unknown> = {}) => ({
    deviceCode: 'd1',
    userCode: 'BCDFGHJK',
    clientId: 'tv',
    scopes: ['read'],
    expiresAt: new Date(Date.now() + 60_000),
    interval: 5,
    lastPolledAt: null,
    status: 'pending' as const,
    userId: null,
    grantId: 'g1',
    ...over,
  });

  it('refuses a second live record with the same user code, and copies in and out', async () => {
    const { devices } = createMemoryStores();
    const r = record();
    expect(await devices.saveDeviceCode(r)).toBe(true);
    expect(await devices.saveDeviceCode(record({ deviceCode: 'd2' }))).toBe(false);
    r.scopes.push('write');
    const found = await devices.findDeviceCode('BCDFGHJK');
    expect(found!.scopes).toEqual(['read']);
    (found!.scopes as string[]).push('admin');
    expect((await devices.findDeviceCode('BCDFGHJK'))!.scopes).toEqual(['read']);
  });

  it('records polls atomically: each caller sees the poll before it; the interval grows on a poll too soon', async () => {
    const { devices } = createMemoryStores();
    await devices.saveDeviceCode(record());
    const t0 = Date.now();
    const seen = await Promise.all([0, 1, 2].map((i) => devices.recordPoll('tv', 'd1', new Date(t0 + i))));
    expect(seen.map((s) => s!.lastPolledAt?.getTime() ?? null)).toEqual([null, t0, t0 + 1]);
    expect(seen.map((s) => s!.interval)).toEqual([5, 5, 10]);
    expect(await devices.recordPoll('tv2', 'd1', new Date())).toBeNull();
  });

  it('decides once and consumes once, for the right client only', async () => {
    const { devices } = createMemoryStores();
    await devices.saveDeviceCode(record());
    expect(await devices.consumeDeviceCode('tv', 'd1')).toBeNull();
    expect((await devices.decideDeviceCode('BCDFGHJK', { approved: true, userId: 'u1', scopes: ['read'] }))!.status).toBe('approved');
    expect(await devices.decideDeviceCode('BCDFGHJK', { approved: false, userId: 'u2' })).toBeNull();
    expect(await devices.consumeDeviceCode('tv2', 'd1')).toBeNull();
    const taken = await Promise.all([1, 2, 3].map(() => devices.consumeDeviceCode('tv', 'd1')));
    expect(taken.filter((t) => t !== null)).toHaveLength(1);
    expect(taken.find((t) => t !== null)!.userId).toBe('u1');
  });

  it('holds at most maxCodes device requests, dropping the oldest', async () => {
    const { devices } = createMemoryStores({ maxCodes: 2 });
    for (const [d, u] of [
      ['d1', 'BBBBBBBB'],
      ['d2', 'CCCCCCCC'],
      ['d3', 'DDDDDDDD'],
    ]) {
      expect(await devices.saveDeviceCode(record({ deviceCode: d, userCode: u }))).toBe(true);
    }
    expect(await devices.findDeviceCode('BBBBBBBB')).toBeNull();
    expect(await devices.recordPoll('tv', 'd1', new Date())).toBeNull();
    expect(await devices.findDeviceCode('DDDDDDDD')).not.toBeNull();
  });

  it('treats expired records as absent, except for recordPoll', async () => {
    const { devices } = createMemoryStores();
    await devices.saveDeviceCode(record({ expiresAt: new Date(Date.now() - 1), status: 'approved', userId: 'u1' }));
    expect(await devices.findDeviceCode('BCDFGHJK')).toBeNull();
    expect(await devices.decideDeviceCode('BCDFGHJK', { approved: false, userId: null })).toBeNull();
    expect(await devices.consumeDeviceCode('tv', 'd1')).toBeNull();
    expect((await devices.recordPoll('tv', 'd1', new Date()))!.status).toBe('approved');
    // A new request may take an expired record's user code.
    expect(await devices.saveDeviceCode(record({ deviceCode: 'd2' }))).toBe(true);
  });
});
