/**
 * The device authorization grant's own checks (RFC 8628), pinned: each test fails when one of
 * core's checks in `endpoints/device-authorization.ts`, `endpoints/device-verification.ts` or
 * `grants/device-code.ts` is removed or loosened (issue 19, mutation testing).
 *
 * The memory store filters expired records, other clients' device codes and decided requests
 * itself, which hides whether core checks them again. These tests run on a lenient device store
 * (below) that returns whatever it holds, whatever the client, the expiry or the status, as the
 * contract allows for `recordPoll`, so the refusals asserted come from core.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { formRequest } from '../../../binding-testkit/src/flows.js';
import {
  type Client,
  ConfigurationError,
  createMemoryStores,
  type DeviceCodeRecord,
  type DeviceCodeStore,
  type DeviceDecision,
  OAuth2Provider,
  type OAuthResponse,
  type ProviderOptions,
} from '../../src/index.js';

const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
const T0 = Date.UTC(2026, 11, 6, 12, 0, 0);

const clients: Client[] = [
  { id: 'tv', secretHash: null, redirectUris: [], grantTypes: [DEVICE, 'refresh_token'], scopes: ['read', 'write'] },
  { id: 'tv2', secretHash: null, redirectUris: [], grantTypes: [DEVICE], scopes: ['read'] },
  { id: 'web', secretHash: null, redirectUris: ['https://app.example/cb'], grantTypes: ['authorization_code'], scopes: ['read'] },
];

/** A device store that never looks at the client, the expiry or (but for consuming) the status. */
function lenientDevices() {
  const held = new Map<string, DeviceCodeRecord>();
  const calls = { saves: [] as string[], finds: [] as string[], decisions: [] as DeviceDecision[], polls: 0 };
  const control = {
    /** How many saves to refuse before accepting (Infinity: refuse all). */
    refuse: 0,
    /** Rewrites what `consumeDeviceCode` hands back. */
    onConsume: (r: DeviceCodeRecord): DeviceCodeRecord | null => r,
  };
  const byDigest = (digest: string) => [...held.values()].find((r) => r.deviceCode === digest) ?? null;
  const store: DeviceCodeStore = {
    async saveDeviceCode(r) {
      calls.saves.push(r.userCode);
      if (calls.saves.length <= control.refuse) return false;
      held.set(r.userCode, { ...r });
      return true;
    },
    async findDeviceCode(userCode) {
      calls.finds.push(userCode);
      return held.get(userCode) ?? null;
    },
    async recordPoll(_clientId, digest, at) {
      calls.polls++;
      const r = byDigest(digest);
      if (r === null) return null;
      const soon = r.lastPolledAt !== null && at.getTime() - r.lastPolledAt.getTime() < r.interval * 1000;
      held.set(r.userCode, { ...r, lastPolledAt: at, interval: soon ? r.interval + 5 : r.interval });
      return r;
    },
    async decideDeviceCode(userCode, d) {
      calls.decisions.push(d);
      const r = held.get(userCode);
      if (!r) return null;
      const next: DeviceCodeRecord = d.approved
        ? { ...r, status: 'approved', userId: d.userId, scopes: [...d.scopes] }
        : { ...r, status: 'denied', userId: d.userId };
      held.set(userCode, next);
      return next;
    },
    async consumeDeviceCode(_clientId, digest) {
      const r = byDigest(digest);
      if (r === null || r.status !== 'approved') return null;
      held.set(r.userCode, { ...r, status: 'consumed' });
      return control.onConsume(r);
    },
  };
  const put = (r: Partial<DeviceCodeRecord> & { userCode: string }) =>
    held.set(r.userCode, {
      deviceCode: `digest-${r.userCode}`,
      clientId: 'tv',
      scopes: ['read'],
      expiresAt: new Date(Date.now() + 600_000),
      interval: 5,
      lastPolledAt: null,
      status: 'pending',
      userId: null,
      grantId: `g-${r.userCode}`,
      ...r,
    });
  /** Sets every record's expiry to `at`: expired by core's rule (`expiresAt <= now`) when `at` is now. */
  const expireAll = (at: Date) => {
    for (const [k, r] of held) held.set(k, { ...r, expiresAt: new Date(at) });
  };
  return { store, calls, control, held, put, expireAll };
}

function setup(options: Partial<ProviderOptions> = {}) {
  const devices = lenientDevices();
  const stores = { ...createMemoryStores({ clients }), devices: devices.store };
  const provider = new OAuth2Provider({
    issuer: 'https://auth.example',
    grants: ['authorization_code', 'refresh_token', DEVICE],
    stores,
    ...options,
  });
  return { provider, devices };
}
type P = ReturnType<typeof setup>['provider'];

const json = (r: OAuthResponse) => JSON.parse(r.body!) as Record<string, unknown>;
const authorizeDevice = (p: P, params: Record<string, string>) => p.deviceAuthorization(formRequest('/oauth/device_authorization', params));
const poll = (p: P, deviceCode: string, clientId = 'tv', extra: Record<string, string> = {}) =>
  p.token(formRequest('/oauth/token', { grant_type: DEVICE, device_code: deviceCode, client_id: clientId, ...extra }));

async function start(p: P, clientId = 'tv', scope = 'read') {
  const r = await authorizeDevice(p, { client_id: clientId, scope });
  expect(r.status).toBe(200);
  const b = json(r);
  return { deviceCode: b.device_code as string, userCode: b.user_code as string };
}

function expectError(r: OAuthResponse, status: number, error: string, description?: string) {
  expect(r.status).toBe(status);
  const b = json(r);
  expect(b.error).toBe(error);
  if (description !== undefined) expect(b.error_description).toBe(description);
  expect(b.access_token).toBeUndefined();
}

afterEach(() => {
  vi.useRealTimers();
});

describe('device authorization endpoint: grant check and user code draws', () => {
  it('refuses a client without the device grant: 400 unauthorized_client with its description, nothing saved', async () => {
    const { provider, devices } = setup();
    const r = await authorizeDevice(provider, { client_id: 'web' });
    expectError(r, 400, 'unauthorized_client', 'This client may not use the device authorization grant');
    expect(devices.calls.saves).toEqual([]);
  });

  it('draws again while the store refuses a user code, stopping at the first one saved', async () => {
    const { provider, devices } = setup();
    devices.control.refuse = 2;
    const { userCode } = await start(provider);
    expect(devices.calls.saves).toHaveLength(3);
    expect(userCode.replace('-', '')).toBe(devices.calls.saves[2]);
    expect([...devices.held.keys()]).toEqual([devices.calls.saves[2]]);
  });

  it('gives up after exactly 5 refused draws: 500 server_error, no codes answered', async () => {
    const { provider, devices } = setup();
    devices.control.refuse = Number.POSITIVE_INFINITY;
    const r = await authorizeDevice(provider, { client_id: 'tv' });
    expectError(r, 500, 'server_error', 'Could not draw a free user code');
    expect(json(r).device_code).toBeUndefined();
    expect(json(r).user_code).toBeUndefined();
    expect(devices.calls.saves).toHaveLength(5);
  });
});

describe('device_code grant: core re-checks what a lenient store hands back', () => {
  it('answers a poll without device_code 400 invalid_request "device_code is required"', async () => {
    const { provider, devices } = setup();
    const r = await provider.token(formRequest('/oauth/token', { grant_type: DEVICE, client_id: 'tv' }));
    expectError(r, 400, 'invalid_request', 'device_code is required');
    expect(devices.calls.polls).toBe(0);
  });

  it('refuses a bad resource before recording the poll: 400 invalid_target', async () => {
    const { provider, devices } = setup();
    const { deviceCode } = await start(provider);
    const r = await poll(provider, deviceCode, 'tv', { resource: 'not-an-absolute-uri' });
    expectError(r, 400, 'invalid_target');
    expect(devices.calls.polls).toBe(0);
  });

  it("refuses another client's device code even when the store returns it: invalid_grant", async () => {
    const { provider, devices } = setup();
    const { deviceCode, userCode } = await start(provider);
    expect(await provider.completeDeviceAuthorization(userCode, { approved: true, userId: 'u-alice' })).toBe(true);
    const r = await poll(provider, deviceCode, 'tv2');
    expectError(r, 400, 'invalid_grant', 'The device code is invalid or was issued to another client');
    // The owner still gets its tokens: the other client's poll consumed nothing.
    expect((await poll(provider, deviceCode)).status).toBe(200);
    expect(devices.calls.polls).toBe(2);
  });

  it('answers a denied request access_denied with its description', async () => {
    const { provider } = setup();
    const { deviceCode, userCode } = await start(provider);
    expect(await provider.completeDeviceAuthorization(userCode, { approved: false })).toBe(true);
    expectError(await poll(provider, deviceCode), 400, 'access_denied', 'The user denied the authorization request');
  });

  it('answers every poll after the tokens invalid_grant "The device code was already used"', async () => {
    const { provider } = setup();
    const { deviceCode, userCode } = await start(provider);
    await provider.completeDeviceAuthorization(userCode, { approved: true, userId: 'u-alice' });
    expect((await poll(provider, deviceCode)).status).toBe(200);
    expectError(await poll(provider, deviceCode), 400, 'invalid_grant', 'The device code was already used');
  });

  it("issues nothing when consuming hands back another client's record or one without a user", async () => {
    for (const rewrite of [
      (r: DeviceCodeRecord) => ({ ...r, clientId: 'tv2' }),
      (r: DeviceCodeRecord) => ({ ...r, userId: null }),
      () => null,
    ]) {
      const { provider, devices } = setup();
      devices.control.onConsume = rewrite;
      const { deviceCode, userCode } = await start(provider);
      await provider.completeDeviceAuthorization(userCode, { approved: true, userId: 'u-alice' });
      expectError(await poll(provider, deviceCode), 400, 'invalid_grant', 'The device code was already used');
    }
  });

  it('answers expired_token when the consumed record expires exactly now (expiresAt <= now)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const { provider, devices } = setup();
    devices.control.onConsume = (r) => ({ ...r, expiresAt: new Date(T0) });
    const { deviceCode, userCode } = await start(provider);
    await provider.completeDeviceAuthorization(userCode, { approved: true, userId: 'u-alice' });
    expectError(await poll(provider, deviceCode), 400, 'expired_token');
  });
});

describe('verification page: findDeviceRequest and completeDeviceAuthorization', () => {
  it('finds nothing for a request expiring exactly now, though the store returns it', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const { provider, devices } = setup();
    devices.put({ userCode: 'BCDFGHJK' });
    expect(await provider.findDeviceRequest('BCDF-GHJK')).not.toBeNull();
    devices.expireAll(new Date(T0));
    expect(await provider.findDeviceRequest('BCDF-GHJK')).toBeNull();
  });

  it('finds nothing for a request whose client is gone or no longer has the device grant', async () => {
    const { provider, devices } = setup();
    devices.put({ userCode: 'BCDFGHJK', clientId: 'web' });
    devices.put({ userCode: 'LMNPQRST', clientId: 'gone' });
    devices.put({ userCode: 'VWXZBCDF', clientId: 'tv2' });
    expect(await provider.findDeviceRequest('BCDF-GHJK')).toBeNull();
    expect(await provider.findDeviceRequest('LMNP-QRST')).toBeNull();
    const found = await provider.findDeviceRequest('VWXZ-BCDF');
    expect(found?.client.id).toBe('tv2');
    expect(found?.userCode).toBe('VWXZ-BCDF');
  });

  it('refuses an approval naming an empty user: ConfigurationError, nothing decided', async () => {
    const { provider, devices } = setup();
    devices.put({ userCode: 'BCDFGHJK' });
    await expect(provider.completeDeviceAuthorization('BCDF-GHJK', { approved: true, userId: '' })).rejects.toBeInstanceOf(
      ConfigurationError,
    );
    await expect(provider.completeDeviceAuthorization('BCDF-GHJK', { approved: true })).rejects.toBeInstanceOf(ConfigurationError);
    expect(devices.calls.decisions).toEqual([]);
  });

  it('answers false for a malformed user code without asking the store, and for an unknown one', async () => {
    const { provider, devices } = setup();
    expect(await provider.completeDeviceAuthorization('not a code!', { approved: false })).toBe(false);
    expect(devices.calls.finds).toEqual([]);
    expect(await provider.completeDeviceAuthorization('BCDF-GHJK', { approved: false })).toBe(false);
    expect(devices.calls.finds).toEqual(['BCDFGHJK']);
    expect(devices.calls.decisions).toEqual([]);
  });

  it('decides once: a request already decided is not decided again, though the store would', async () => {
    const { provider, devices } = setup();
    devices.put({ userCode: 'BCDFGHJK' });
    expect(await provider.completeDeviceAuthorization('BCDF-GHJK', { approved: false, userId: 'u-bob' })).toBe(true);
    expect(await provider.completeDeviceAuthorization('BCDF-GHJK', { approved: true, userId: 'u-alice' })).toBe(false);
    expect(devices.calls.decisions).toEqual([{ approved: false, userId: 'u-bob' }]);
    expect(devices.held.get('BCDFGHJK')?.status).toBe('denied');
  });

  it('does not decide a request expiring exactly now, though the store would', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const { provider, devices } = setup();
    devices.put({ userCode: 'BCDFGHJK', expiresAt: new Date(T0) });
    expect(await provider.completeDeviceAuthorization('BCDF-GHJK', { approved: true, userId: 'u-alice' })).toBe(false);
    expect(devices.calls.decisions).toEqual([]);
    devices.put({ userCode: 'LMNPQRST', expiresAt: new Date(T0 + 1) });
    expect(await provider.completeDeviceAuthorization('LMNP-QRST', { approved: true, userId: 'u-alice' })).toBe(true);
  });

  it('hands the store a denial with the user, or null, and takes a missing decision as a denial', async () => {
    const { provider, devices } = setup();
    devices.put({ userCode: 'BCDFGHJK' });
    devices.put({ userCode: 'LMNPQRST' });
    expect(await provider.completeDeviceAuthorization('BCDF-GHJK', { approved: false })).toBe(true);
    // A JavaScript caller may pass nothing: no approval.
    expect(await provider.completeDeviceAuthorization('LMNP-QRST', undefined as never)).toBe(true);
    expect(devices.calls.decisions).toEqual([
      { approved: false, userId: null },
      { approved: false, userId: null },
    ]);
  });

  it('warns once when failed lookups reach the limit, then refuses lookups', async () => {
    const warnings: string[] = [];
    const { provider, devices } = setup({
      device: { maxLookupFailures: 2, lookupWindow: 60 },
      logger: { warn: (m) => void warnings.push(m), error: () => {} },
    });
    devices.put({ userCode: 'BCDFGHJK' });
    expect(await provider.findDeviceRequest('LMNP-QRST')).toBeNull();
    expect(warnings).toEqual([]);
    expect(await provider.completeDeviceAuthorization('LMNP-QRST', { approved: false })).toBe(false);
    expect(warnings).toEqual(['device user code lookups: 2 failures within 60 s; lookups are refused until the window ends']);
    expect(await provider.findDeviceRequest('BCDF-GHJK')).toBeNull();
    expect(warnings).toHaveLength(1);
  });
});
