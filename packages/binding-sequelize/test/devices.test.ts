/**
 * Device authorization requests (RFC 8628) in SQL: the device store contract on every database,
 * the device table added by migrate() to a database made before it existed, and a provider
 * running the device grant end to end with its requests in the database.
 */
import { bearerRequest, deviceCodeStoreSuite, formRequest, jsonBody, makeDeviceCode } from '@portcullis/binding-testkit';
import { OAuth2Provider } from '@portcullis/core';
import { QueryTypes, type Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindSequelize, createDeviceCodeStore, defineModels, migrate, purgeExpired, tableNamesFor } from '../src/index.js';
import { connect, DIALECTS, openDatabase, type TestDatabase, uniquePrefix } from './databases.js';

const t = { describe, it, beforeAll, afterAll };
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';

for (const dialect of DIALECTS) {
  let db: TestDatabase | undefined;
  deviceCodeStoreSuite(t, {
    name: `sequelize ${dialect}`,
    create: async () => {
      db = await openDatabase(dialect);
      return createDeviceCodeStore(db.models.device);
    },
    destroy: async () => {
      await db?.close();
    },
  });
}

async function rows(sequelize: Sequelize, table: string): Promise<Record<string, unknown>[]> {
  const qi = sequelize.getQueryInterface();
  return sequelize.query(`SELECT * FROM ${qi.quoteIdentifier(table)} ORDER BY ${qi.quoteIdentifier('id')}`, { type: QueryTypes.SELECT });
}

for (const dialect of DIALECTS) {
  describe(`${dialect}: a database made before the device-code table`, () => {
    it('gets the device table from migrate(), keeping the other tables and their rows', async () => {
      const { sequelize, cleanup } = await connect(dialect);
      const tablePrefix = uniquePrefix();
      const names = tableNamesFor({ tablePrefix });
      const qi = sequelize.getQueryInterface();
      try {
        await migrate(sequelize, { tablePrefix, tables: ['client', 'user', 'grant', 'token', 'key'] });
        await expect(qi.describeTable(names.device), 'no device table yet').rejects.toThrow();
        const old = defineModels(sequelize, { tablePrefix });
        await old.client.create({ id: 'tv-ü', secretHash: null, redirectUris: [], grantTypes: [DEVICE], scopes: ['read'] });
        await old.user.create({ id: 'u1', username: 'alice', passwordHash: 'scrypt$x' });
        const before = { client: await rows(sequelize, names.client), user: await rows(sequelize, names.user) };
        const shape = { client: await qi.describeTable(names.client), user: await qi.describeTable(names.user) };

        await migrate(sequelize, { tablePrefix });

        expect(Object.keys(await qi.describeTable(names.device)).sort()).toEqual(
          [
            'activeUserCode',
            'authTime',
            'clientId',
            'deviceCode',
            'expiresAt',
            'grantId',
            'interval',
            'lastPolledAt',
            'scopes',
            'status',
            'userCode',
            'userId',
            'version',
          ].sort(),
        );
        expect({ client: await rows(sequelize, names.client), user: await rows(sequelize, names.user) }).toEqual(before);
        expect({ client: await qi.describeTable(names.client), user: await qi.describeTable(names.user) }).toEqual(shape);
        const indexes = ((await qi.showIndex(names.device)) as { name?: string }[]).map((i) => i.name);
        expect(indexes).toEqual(expect.arrayContaining([`${names.device}_active_user_code`, `${names.device}_expires_at`]));
        const devices = createDeviceCodeStore(defineModels(sequelize, { tablePrefix }).device);
        const record = makeDeviceCode();
        expect(await devices.saveDeviceCode(record)).toBe(true);
        // Idempotent: a second run keeps the request.
        await migrate(sequelize, { tablePrefix });
        expect(await devices.findDeviceCode(record.userCode)).toEqual(record);
        for (const table of Object.values(names)) await qi.dropTable(table);
      } finally {
        await sequelize.close();
        await cleanup();
      }
    });
  });
}

for (const dialect of DIALECTS) {
  describe(`${dialect}: the device grant end to end`, () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await openDatabase(dialect);
      await db.models.client.create({
        id: 'tv',
        secretHash: null,
        redirectUris: [],
        grantTypes: [DEVICE, 'refresh_token'],
        scopes: ['read', 'write'],
      });
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
      const stores = bindSequelize(provider, {
        sequelize: db.sequelize,
        client: db.models.client,
        token: db.models.token,
        device: db.models.device,
      });
      expect(stores.devices, 'bindSequelize returns the device store').toBeDefined();

      const started = await provider.deviceAuthorization(
        formRequest('/oauth/device_authorization', { client_id: 'tv', scope: 'read write' }),
      );
      expect(started.status, started.body).toBe(200);
      const { device_code: deviceCode, user_code: userCode } = jsonBody(started) as { device_code: string; user_code: string };
      const stored = await db.rawRows('device', { userCode: userCode.replace('-', '') });
      expect(stored, 'the request is in the device table').toHaveLength(1);
      expect(stored[0]!.deviceCode, 'the device code is stored as a digest').not.toBe(deviceCode);
      expect(stored[0]!.status).toBe('pending');

      const poll = () => provider.token(formRequest('/oauth/token', { grant_type: DEVICE, device_code: deviceCode, client_id: 'tv' }));
      const pending = await poll();
      expect(pending.status).toBe(400);
      expect(jsonBody(pending).error).toBe('authorization_pending');
      const soon = await poll();
      expect(jsonBody(soon).error, 'a second poll at once is too soon').toBe('slow_down');
      expect((await db.rawRows('device', { userCode: userCode.replace('-', '') }))[0]!.interval).toBe(10);

      const request = await provider.findDeviceRequest(userCode);
      expect(request?.client.id).toBe('tv');
      expect(request?.scopes).toEqual(['read', 'write']);
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
      expect((await db.rawRows('device', { userCode: userCode.replace('-', '') }))[0]!.status).toBe('consumed');
      expect(jsonBody(await poll()).error, 'a poll after the tokens were issued').toBe('invalid_grant');

      // purgeExpired removes device requests once past expiresAt.
      const purged = await purgeExpired({ device: db.models.device }, { now: new Date(Date.now() + 3_600_000) });
      expect(purged).toBeGreaterThanOrEqual(1);
      expect(await db.rawRows('device', { userCode: userCode.replace('-', '') })).toHaveLength(0);
    });
  });
}
