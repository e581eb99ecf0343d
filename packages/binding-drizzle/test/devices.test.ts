/**
 * Device authorization requests (RFC 8628): the device store contract on every database, and a
 * provider running the device grant end to end with its requests in the database.
 */
import { bearerRequest, deviceCodeStoreSuite, formRequest, jsonBody } from '@portcullis/binding-testkit';
import { OAuth2Provider } from '@portcullis/core';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindDrizzle, createDrizzleStores, purgeExpired } from '../src/index.js';
import { DIALECTS, openDatabase, type TestDatabase } from './databases.js';

const t = { describe, it, beforeAll, afterAll };
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';

for (const dialect of DIALECTS) {
  let db: TestDatabase | undefined;
  deviceCodeStoreSuite(t, {
    name: `drizzle ${dialect}`,
    create: async () => {
      db = await openDatabase(dialect);
      return createDrizzleStores(db.options).devices;
    },
    destroy: async () => {
      await db?.close();
    },
  });
}

for (const dialect of DIALECTS) {
  describe(`${dialect}: the device grant end to end`, () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await openDatabase(dialect);
      await db.seed([{ id: 'tv', secretHash: null, redirectUris: [], grantTypes: [DEVICE, 'refresh_token'], scopes: ['read', 'write'] }]);
    });
    afterAll(async () => {
      await db?.close();
    });

    it('authorize -> pending -> slow_down -> approve -> one of 8 concurrent polls gets the tokens -> invalid_grant after', async () => {
      const provider = new OAuth2Provider({
        issuer: 'http://127.0.0.1',
        grants: ['refresh_token', DEVICE],
        logger: { warn: () => {}, error: () => {} },
      });
      bindDrizzle(provider, db.options);
      const started = await provider.deviceAuthorization(
        formRequest('/oauth/device_authorization', { client_id: 'tv', scope: 'read write' }),
      );
      expect(started.status, started.body).toBe(200);
      const { device_code: deviceCode, user_code: userCode } = jsonBody(started) as { device_code: string; user_code: string };
      const normalized = userCode.replace('-', '');
      const row = async () => (await db.rows(sql`SELECT * FROM portcullis_device_codes WHERE user_code = ${normalized}`))[0];
      expect((await row())?.device_code, 'the device code is stored as a digest').not.toBe(deviceCode);
      expect((await row())?.status).toBe('pending');

      const poll = () => provider.token(formRequest('/oauth/token', { grant_type: DEVICE, device_code: deviceCode, client_id: 'tv' }));
      expect(jsonBody(await poll()).error).toBe('authorization_pending');
      expect(jsonBody(await poll()).error, 'a second poll at once is too soon').toBe('slow_down');
      expect(Number((await row())?.poll_interval)).toBe(10);

      expect(await provider.completeDeviceAuthorization(userCode, { approved: true, userId: 'alice', scopes: ['read'] })).toBe(true);
      expect(await provider.completeDeviceAuthorization(userCode, { approved: false, userId: 'mallory' }), 'decided once').toBe(false);

      const answers = await Promise.all(Array.from({ length: 8 }, poll));
      const ok = answers.filter((r) => r.status === 200);
      expect(ok, answers.map((r) => r.body).join('\n')).toHaveLength(1);
      for (const r of answers.filter((a) => a.status !== 200)) expect(jsonBody(r).error).toBe('invalid_grant');
      const body = jsonBody(ok[0]!) as { access_token: string; scope: string };
      expect(body.scope).toBe('read');
      const verified = await provider.verifyAccessToken(bearerRequest(body.access_token), ['read']);
      expect(verified.ok && verified.token.userId).toBe('alice');
      expect((await row())?.status).toBe('consumed');
      expect(jsonBody(await poll()).error, 'a poll after the tokens were issued').toBe('invalid_grant');

      const purged = await purgeExpired({ ...db.options, now: new Date(Date.now() + 3_600_000) });
      expect(purged).toBeGreaterThanOrEqual(1);
      expect(await row()).toBeUndefined();
    });
  });
}
