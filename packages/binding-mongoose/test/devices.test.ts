/**
 * Device authorization requests (RFC 8628) in MongoDB: the device store contract on the Mongo
 * wire server, and a provider running the device grant end to end with its requests there.
 */
import { bearerRequest, deviceCodeStoreSuite, formRequest, jsonBody } from '@portcullis/binding-testkit';
import { OAuth2Provider } from '@portcullis/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindMongoose, createDeviceCodeStore } from '../src/index.js';
import { openTestDatabase, type TestDatabase } from './connect.js';

const t = { describe, it, beforeAll, afterAll };
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';

let suiteDb: TestDatabase | undefined;
deviceCodeStoreSuite(t, {
  name: 'mongoose',
  create: async () => {
    suiteDb = await openTestDatabase('devices');
    return createDeviceCodeStore(suiteDb.models.device);
  },
  destroy: async () => suiteDb?.close(),
});

describe('the device grant end to end with requests in MongoDB', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await openTestDatabase('device-e2e');
    await db.models.client.create({ clientId: 'tv', secretHash: null, grantTypes: [DEVICE, 'refresh_token'], scopes: ['read', 'write'] });
  });
  afterAll(async () => {
    await db?.close();
  });

  it('device authorization -> pending poll -> approve -> one of 8 concurrent polls gets the tokens -> invalid_grant after', async () => {
    const provider = new OAuth2Provider({
      issuer: 'http://127.0.0.1',
      grants: ['refresh_token', DEVICE],
      logger: { warn: () => {}, error: () => {} },
    });
    const stores = bindMongoose(provider, { client: db.models.client, token: db.models.token, device: db.models.device });
    expect(stores.devices, 'bindMongoose returns the device store').toBeDefined();

    const started = await provider.deviceAuthorization(
      formRequest('/oauth/device_authorization', { client_id: 'tv', scope: 'read write' }),
    );
    expect(started.status, started.body).toBe(200);
    const { device_code: deviceCode, user_code: userCode } = jsonBody(started) as { device_code: string; user_code: string };
    const stored = await db.models.device.find({ userCode: userCode.replace('-', '') }).lean();
    expect(stored, 'the request is in the collection').toHaveLength(1);
    expect(stored[0]!.deviceCode, 'the device code is stored as a digest').not.toBe(deviceCode);

    const poll = () => provider.token(formRequest('/oauth/token', { grant_type: DEVICE, device_code: deviceCode, client_id: 'tv' }));
    expect(jsonBody(await poll()).error).toBe('authorization_pending');
    expect(jsonBody(await poll()).error, 'a second poll at once is too soon').toBe('slow_down');
    expect((await db.models.device.findOne({ deviceCode: stored[0]!.deviceCode }).lean())?.interval).toBe(10);

    expect((await provider.findDeviceRequest(userCode))?.scopes).toEqual(['read', 'write']);
    expect(await provider.completeDeviceAuthorization(userCode, { approved: true, userId: 'alice', scopes: ['read'] })).toBe(true);
    expect(await provider.completeDeviceAuthorization(userCode, { approved: false, userId: 'mallory' }), 'decided once').toBe(false);

    const answers = await Promise.all(Array.from({ length: 8 }, poll));
    const ok = answers.filter((r) => r.status === 200);
    expect(ok, answers.map((r) => r.body).join('\n')).toHaveLength(1);
    for (const r of answers.filter((a) => a.status !== 200)) expect(jsonBody(r).error).toBe('invalid_grant');
    const body = jsonBody(ok[0]!) as { access_token: string; refresh_token?: string; scope: string };
    expect(body.scope).toBe('read');
    expect(body.refresh_token).toBeTruthy();
    const verified = await provider.verifyAccessToken(bearerRequest(body.access_token), ['read']);
    expect(verified.ok && verified.token.userId, 'the token verifies, for the approving user').toBe('alice');
    expect((await db.models.device.findOne({ deviceCode: stored[0]!.deviceCode }).lean())?.status).toBe('consumed');
    expect(jsonBody(await poll()).error, 'a poll after the tokens were issued').toBe('invalid_grant');
  });
});
