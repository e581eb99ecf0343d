/**
 * `authTime` (when the user authenticated; the `auth_time` of RFC 9068) in MongoDB: stored as a
 * BSON date on codes, refresh tokens and approved device requests, no field when not known (never
 * on an access token); documents written before the field existed, or past the schema, read
 * without it; and a provider with JWT access tokens on this binding's stores carries it from the
 * approval through the code or device request into `auth_time`, across a refresh.
 */
import { randomBytes } from 'node:crypto';
import { basicAuth, formRequest, jsonBody, locationOf, pkcePair } from '@portcullis/binding-testkit';
import { digestToken, generateClientSecret, hashSecret, OAuth2Provider, type OAuthResponse } from '@portcullis/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindMongoose, createDeviceCodeStore, createGrantStore, createTokenStore, lookupKey } from '../src/index.js';
import { openTestDatabase, type TestDatabase } from './connect.js';

const rid = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;
const CB = 'https://app.example/cb';
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
const AT = new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678));

describe('mongoose: authTime in the documents', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await openTestDatabase('auth_time_docs');
  });
  afterAll(async () => {
    await db?.close();
  });

  const grantOf = (authTime?: Date) => ({
    code: rid('code'),
    clientId: 'c1',
    userId: 'u1',
    redirectUri: CB,
    scopes: ['read'],
    expiresAt: new Date(Date.now() + 600_000),
    grantId: rid('family'),
    codeChallenge: null,
    codeChallengeMethod: null,
    ...(authTime ? { authTime } : {}),
  });
  const tokenOf = (prefix: string, grantId: string) => ({
    token: rid(prefix),
    clientId: 'c1',
    userId: 'u1',
    scopes: ['read'],
    expiresAt: new Date(Date.now() + 600_000),
    grantId,
  });

  it('a code stores authTime as a BSON date to the millisecond, no field when not known', async () => {
    const grants = createGrantStore(db.models.grant);
    const known = grantOf(AT);
    const plain = grantOf();
    await grants.saveGrant(known);
    await grants.saveGrant(plain);
    const raw = await db.models.grant.collection.findOne({ key: lookupKey(known.code) });
    expect(raw?.authTime).toBeInstanceOf(Date);
    expect((raw?.authTime as Date | undefined)?.getTime()).toBe(AT.getTime());
    expect(await db.models.grant.collection.findOne({ key: lookupKey(plain.code) })).not.toHaveProperty('authTime');
    const taken = await grants.consumeGrant('c1', known.code);
    expect(taken?.outcome === 'consumed' && taken.record.authTime?.getTime()).toBe(AT.getTime());
    const none = await grants.consumeGrant('c1', plain.code);
    expect(none?.outcome === 'consumed' && none.record).not.toHaveProperty('authTime');
  });

  it("a refresh token stores authTime as a BSON date, no field when not known; an access token's document never holds it", async () => {
    const tokens = createTokenStore(db.models.token);
    const grantId = rid('family');
    const access = tokenOf('at', grantId);
    const refresh = { ...tokenOf('rt', grantId), authTime: AT };
    const plainAccess = tokenOf('at', rid('family'));
    const plainRefresh = tokenOf('rt', plainAccess.grantId);
    await tokens.saveTokens(access, refresh);
    await tokens.saveTokens(plainAccess, plainRefresh);
    const raw = await db.models.token.collection.findOne({ key: lookupKey(refresh.token), kind: 'refresh' });
    expect(raw?.authTime).toBeInstanceOf(Date);
    expect((raw?.authTime as Date | undefined)?.getTime()).toBe(AT.getTime());
    for (const [token, kind] of [
      [access.token, 'access'],
      [plainAccess.token, 'access'],
      [plainRefresh.token, 'refresh'],
    ] as const) {
      expect(await db.models.token.collection.findOne({ key: lookupKey(token), kind }), `${kind} ${token}`).not.toHaveProperty('authTime');
    }
    expect((await tokens.getRefreshToken(refresh.token))?.authTime?.getTime()).toBe(AT.getTime());
    expect(await tokens.getAccessToken(access.token)).not.toHaveProperty('authTime');
    expect(await tokens.getRefreshToken(plainRefresh.token)).not.toHaveProperty('authTime');
    const rotated = await tokens.consumeRefreshToken(refresh.token);
    expect(rotated?.outcome === 'consumed' && rotated.record.authTime?.getTime()).toBe(AT.getTime());
  });

  it('an approval with authTime sets it on the device request; a denial or an approval without it sets no field', async () => {
    const devices = createDeviceCodeStore(db.models.device);
    const request = () => ({
      deviceCode: rid('dc'),
      userCode: randomBytes(4).toString('hex').toUpperCase(),
      clientId: 'tv',
      scopes: ['read'],
      expiresAt: new Date(Date.now() + 600_000),
      interval: 5,
      lastPolledAt: null,
      status: 'pending' as const,
      userId: null,
      grantId: rid('family'),
    });
    const [known, plain, denied] = [request(), request(), request()];
    for (const r of [known, plain, denied]) expect(await devices.saveDeviceCode(r)).toBe(true);
    const raw = (r: { deviceCode: string }) => db.models.device.collection.findOne({ deviceCode: r.deviceCode });
    expect(await raw(known), 'a pending request').not.toHaveProperty('authTime');
    await devices.decideDeviceCode(known.userCode, { approved: true, userId: 'u1', scopes: ['read'], authTime: AT });
    await devices.decideDeviceCode(plain.userCode, { approved: true, userId: 'u2', scopes: ['read'] });
    await devices.decideDeviceCode(denied.userCode, { approved: false, userId: 'u3' });
    const approved = await raw(known);
    expect(approved?.authTime).toBeInstanceOf(Date);
    expect((approved?.authTime as Date | undefined)?.getTime()).toBe(AT.getTime());
    expect(await raw(plain), 'an approval without authTime').not.toHaveProperty('authTime');
    expect(await raw(denied), 'a denial').not.toHaveProperty('authTime');
  });

  it('documents written before the field existed, or past the schema, read without authTime', async () => {
    const expiresAt = new Date(Date.now() + 600_000);
    const common = { clientId: 'c1', userId: 'u1', scopes: ['read'], expiresAt, consumedAt: null };
    const odd = [undefined, null, '2026-01-02T03:04:05.678Z', AT.getTime(), { at: AT }];
    const codes = odd.map(() => rid('old-code'));
    await db.models.grant.collection.insertMany(
      odd.map((authTime, i) => ({
        ...common,
        key: lookupKey(codes[i]!),
        grantId: rid('family'),
        redirectUri: CB,
        codeChallenge: null,
        codeChallengeMethod: null,
        ...(authTime === undefined ? {} : { authTime }),
      })),
    );
    const refreshTokens = odd.map(() => rid('old-rt'));
    await db.models.token.collection.insertMany(
      odd.map((authTime, i) => ({
        ...common,
        key: lookupKey(refreshTokens[i]!),
        kind: 'refresh',
        grantId: rid('family'),
        revokedAt: null,
        ...(authTime === undefined ? {} : { authTime }),
      })),
    );
    // An access token's document holding one (written past the schema) does not give it to the record.
    const accessToken = rid('old-at');
    await db.models.token.collection.insertOne({
      ...common,
      key: lookupKey(accessToken),
      kind: 'access',
      grantId: rid('family'),
      revokedAt: null,
      authTime: AT,
    });
    const userCodes = odd.map(() => randomBytes(4).toString('hex').toUpperCase());
    const deviceCodes = odd.map(() => rid('old-dc'));
    await db.models.device.collection.insertMany(
      odd.map((authTime, i) => ({
        deviceCode: deviceCodes[i]!,
        userCode: userCodes[i]!,
        activeUserCode: userCodes[i]!,
        clientId: 'tv',
        scopes: ['read'],
        expiresAt,
        interval: 5,
        lastPolledAt: null,
        status: 'approved',
        userId: 'u1',
        grantId: rid('family'),
        version: 1,
        ...(authTime === undefined ? {} : { authTime }),
      })) as never[],
    );
    const grants = createGrantStore(db.models.grant);
    const tokens = createTokenStore(db.models.token);
    const devices = createDeviceCodeStore(db.models.device);
    for (const [i, value] of odd.entries()) {
      const what = `stored ${JSON.stringify(value)}`;
      const taken = await grants.consumeGrant('c1', codes[i]!);
      expect(taken?.outcome, what).toBe('consumed');
      expect(taken?.outcome === 'consumed' && taken.record, what).not.toHaveProperty('authTime');
      expect(await tokens.getRefreshToken(refreshTokens[i]!), what).not.toHaveProperty('authTime');
      const rotated = await tokens.consumeRefreshToken(refreshTokens[i]!);
      expect(rotated?.outcome, what).toBe('consumed');
      expect(rotated?.outcome === 'consumed' && rotated.record, what).not.toHaveProperty('authTime');
      const found = await devices.findDeviceCode(userCodes[i]!);
      expect(found?.status, what).toBe('approved');
      expect(found, what).not.toHaveProperty('authTime');
      expect(await devices.consumeDeviceCode('tv', deviceCodes[i]!), what).not.toHaveProperty('authTime');
    }
    const access = await tokens.getAccessToken(accessToken);
    expect(access?.token).toBe(accessToken);
    expect(access).not.toHaveProperty('authTime');
  });
});

/** The claims of a JWT (unverified: the keys test verifies signatures). */
function claims(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('mongoose: auth_time from the approval into JWT access tokens, across a refresh', () => {
  const SECRET = 'auth-time-secret-of-at-least-32-characters';
  let db: TestDatabase;
  let provider: OAuth2Provider;
  beforeAll(async () => {
    db = await openTestDatabase('auth_time_provider');
    await db.models.client.insertMany([
      {
        clientId: 'web',
        secretHash: hashSecret(SECRET),
        redirectUris: [CB],
        grantTypes: ['authorization_code', 'refresh_token'],
        scopes: ['read'],
      },
      { clientId: 'tv', secretHash: null, grantTypes: [DEVICE, 'refresh_token'], scopes: ['read'] },
    ]);
    provider = new OAuth2Provider({
      issuer: 'http://127.0.0.1',
      grants: ['authorization_code', 'refresh_token', DEVICE],
      logger: { warn: () => {}, error: () => {} },
      accessTokenFormat: 'jwt',
      jwt: { keyEncryptionKey: generateClientSecret() },
    });
    bindMongoose(provider, {
      client: db.models.client,
      grant: db.models.grant,
      token: db.models.token,
      key: db.models.key,
      device: db.models.device,
      currentUser: () => ({ id: 'u-alice' }),
    });
  });
  afterAll(async () => {
    await db?.close();
  });

  const tokensOf = (r: OAuthResponse) => {
    expect(r.status, r.body).toBe(200);
    return jsonBody(r) as { access_token: string; refresh_token: string };
  };
  // Core stores digests of codes and tokens: the binding's key is `lookupKey` of the digest.
  const refreshDoc = (token: string) => db.models.token.collection.findOne({ key: lookupKey(digestToken(token)), kind: 'refresh' });
  /** Refreshes as `clientId` and checks the new pair still carries `authTime` (or none). */
  const refreshAndCheck = async (clientId: string, refreshToken: string, authTime: Date | undefined) => {
    const params = { grant_type: 'refresh_token', refresh_token: refreshToken };
    const refreshed = tokensOf(
      await provider.token(
        clientId === 'web'
          ? formRequest('/oauth/token', params, { authorization: basicAuth('web', SECRET) })
          : formRequest('/oauth/token', { ...params, client_id: clientId }),
      ),
    );
    expect(claims(refreshed.access_token).auth_time, 'the refreshed access token').toBe(
      authTime === undefined ? undefined : Math.floor(authTime.getTime() / 1000),
    );
    const doc = await refreshDoc(refreshed.refresh_token);
    if (authTime === undefined) expect(doc).not.toHaveProperty('authTime');
    else expect((doc?.authTime as Date | undefined)?.getTime(), 'the new refresh token document').toBe(authTime.getTime());
  };

  const codeFlow = async (authTime: Date | undefined) => {
    const pair = pkcePair();
    const query = new URLSearchParams({
      client_id: 'web',
      response_type: 'code',
      redirect_uri: CB,
      scope: 'read',
      state: 's1',
      code_challenge: pair.challenge,
      code_challenge_method: 'S256',
    });
    const shown = await provider.authorize({ method: 'GET', url: `/oauth/authorize?${query}`, headers: {} });
    if (shown.type !== 'consent') throw new Error(`expected consent, got ${shown.response.status} ${shown.response.body}`);
    const done = await provider.completeAuthorization(shown.request, {
      approved: true,
      userId: 'u-alice',
      ...(authTime ? { authTime } : {}),
    });
    expect(done.status).toBe(302);
    const code = new URL(locationOf(done)).searchParams.get('code') ?? '';
    const grantDoc = await db.models.grant.collection.findOne({ key: lookupKey(digestToken(code)), clientId: 'web' });
    if (authTime === undefined) expect(grantDoc).not.toHaveProperty('authTime');
    else expect((grantDoc?.authTime as Date | undefined)?.getTime(), 'the code document').toBe(authTime.getTime());
    const issued = tokensOf(
      await provider.token(
        formRequest(
          '/oauth/token',
          { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: pair.verifier },
          { authorization: basicAuth('web', SECRET) },
        ),
      ),
    );
    expect(claims(issued.access_token).auth_time, 'the first access token').toBe(
      authTime === undefined ? undefined : Math.floor(authTime.getTime() / 1000),
    );
    const doc = await refreshDoc(issued.refresh_token);
    if (authTime === undefined) expect(doc).not.toHaveProperty('authTime');
    else expect((doc?.authTime as Date | undefined)?.getTime(), 'the refresh token document').toBe(authTime.getTime());
    await refreshAndCheck('web', issued.refresh_token, authTime);
  };

  it('authorization code with authTime: the code and refresh token documents hold it, every access token carries auth_time', async () => {
    await codeFlow(new Date(Date.now() - 3_600_000 - 321));
  });

  it('authorization code without authTime: no field, no auth_time', async () => {
    await codeFlow(undefined);
  });

  it('device grant approved with authTime: the request and refresh token documents hold it, the tokens carry auth_time', async () => {
    const authTime = new Date(Date.now() - 7_200_000 - 987);
    const started = await provider.deviceAuthorization(formRequest('/oauth/device_authorization', { client_id: 'tv', scope: 'read' }));
    expect(started.status, started.body).toBe(200);
    const { device_code: deviceCode, user_code: userCode } = jsonBody(started) as { device_code: string; user_code: string };
    expect(await provider.completeDeviceAuthorization(userCode, { approved: true, userId: 'u-bob', authTime })).toBe(true);
    const request = await db.models.device.collection.findOne({ userCode: userCode.replace('-', '') });
    expect((request?.authTime as Date | undefined)?.getTime(), 'the device request document').toBe(authTime.getTime());
    const issued = tokensOf(
      await provider.token(formRequest('/oauth/token', { grant_type: DEVICE, device_code: deviceCode, client_id: 'tv' })),
    );
    expect(claims(issued.access_token).auth_time).toBe(Math.floor(authTime.getTime() / 1000));
    expect(((await refreshDoc(issued.refresh_token))?.authTime as Date | undefined)?.getTime()).toBe(authTime.getTime());
    await refreshAndCheck('tv', issued.refresh_token, authTime);
  });
});
