/**
 * The signing keys of JWT access tokens in SQL: the key store contract on every database, the
 * key table added by migrate() to a database made before it existed, and a provider issuing
 * JWTs across a rotation with its keys in the database.
 */
import { basicAuth, formRequest, jsonBody, keyStoreSuite, makeSigningKey } from '@portcullis/binding-testkit';
import { generateClientSecret, hashSecret, OAuth2Provider } from '@portcullis/core';
import { QueryTypes, type Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindSequelize, createKeyStore, defineModels, migrate, tableNamesFor } from '../src/index.js';
import { connect, DIALECTS, openDatabase, type TestDatabase, uniquePrefix } from './databases.js';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from './jose.js';

const t = { describe, it, beforeAll, afterAll };
const SECRET = 'se:cr+et/%&= x-with-every-odd-character';

for (const dialect of DIALECTS) {
  let db: TestDatabase | undefined;
  keyStoreSuite(t, {
    name: `sequelize ${dialect}`,
    create: async () => {
      db = await openDatabase(dialect);
      return createKeyStore(db.models.key);
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
  describe(`${dialect}: a database made before the signing-key table`, () => {
    it('gets the key table from migrate(), keeping the other tables and their rows', async () => {
      const { sequelize, cleanup } = await connect(dialect);
      const tablePrefix = uniquePrefix();
      const names = tableNamesFor({ tablePrefix });
      const qi = sequelize.getQueryInterface();
      try {
        // The four tables of the versions before, with a client and a user in them.
        await migrate(sequelize, { tablePrefix, tables: ['client', 'user', 'grant', 'token'] });
        await expect(qi.describeTable(names.key), 'no key table yet').rejects.toThrow();
        const old = defineModels(sequelize, { tablePrefix });
        await old.client.create({
          id: 'c-ü',
          secretHash: hashSecret(SECRET),
          redirectUris: [],
          grantTypes: ['client_credentials'],
          scopes: [],
        });
        await old.user.create({ id: 'u1', username: 'alice', passwordHash: 'scrypt$x' });
        const before = { client: await rows(sequelize, names.client), user: await rows(sequelize, names.user) };
        const shape = { client: await qi.describeTable(names.client), user: await qi.describeTable(names.user) };

        await migrate(sequelize, { tablePrefix });

        expect(Object.keys(await qi.describeTable(names.key)).sort()).toEqual(
          ['activatesAt', 'alg', 'createdAt', 'kid', 'privateKey', 'publicJwk', 'retiresAt'].sort(),
        );
        expect({ client: await rows(sequelize, names.client), user: await rows(sequelize, names.user) }).toEqual(before);
        expect({ client: await qi.describeTable(names.client), user: await qi.describeTable(names.user) }).toEqual(shape);
        const keys = createKeyStore(defineModels(sequelize, { tablePrefix }).key);
        const key = makeSigningKey();
        await keys.addKey(key);
        expect(await keys.listKeys()).toEqual([key]);
        // Idempotent: a second run keeps the key.
        await migrate(sequelize, { tablePrefix });
        expect(await keys.listKeys()).toEqual([key]);
        for (const table of Object.values(names)) await qi.dropTable(table);
      } finally {
        await sequelize.close();
        await cleanup();
      }
    });
  });
}

for (const dialect of DIALECTS) {
  describe(`${dialect}: JWT access tokens with keys in the database`, () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await openDatabase(dialect);
      await db.models.client.create({
        id: 'app',
        secretHash: hashSecret(SECRET),
        redirectUris: [],
        grantTypes: ['client_credentials'],
        scopes: ['read'],
      });
    });
    afterAll(async () => {
      await db?.close();
    });

    it('issues a token, rotates, then signs with the new kid after the lead time; both verify against the JWKS', async () => {
      const provider = new OAuth2Provider({
        issuer: 'http://127.0.0.1',
        grants: ['client_credentials'],
        logger: { warn: () => {}, error: () => {} },
        accessTokenFormat: 'jwt',
        jwt: { keyEncryptionKey: generateClientSecret(), rotationLeadTime: 0.6, keyCacheTtl: 0.1 },
      });
      bindSequelize(provider, { sequelize: db.sequelize, client: db.models.client, token: db.models.token, key: db.models.key });
      const issue = async () => {
        const r = await provider.token(
          formRequest('/oauth/token', { grant_type: 'client_credentials', scope: 'read' }, { authorization: basicAuth('app', SECRET) }),
        );
        expect(r.status, r.body).toBe(200);
        return (jsonBody(r) as { access_token: string }).access_token;
      };
      const jwks = async () => {
        const r = await provider.jwks();
        expect(r.status).toBe(200);
        return JSON.parse(r.body) as { keys: Record<string, unknown>[] };
      };

      const before = await issue();
      const oldKid = decodeProtectedHeader(before).kid;
      expect(oldKid).toBeTruthy();
      const stored = await db.rawRows('key', { kid: oldKid! });
      expect(stored, 'the first key is in the table').toHaveLength(1);
      expect(String(stored[0]!.privateKey), 'the private key at rest is a compact JWE').toMatch(/^[\w-]+\.\.[\w-]+\.[\w-]+\.[\w-]+$/);

      const { kid: newKid, activatesAt } = await provider.rotateSigningKey();
      expect(newKid).not.toBe(oldKid);
      expect((await jwks()).keys.map((k) => k.kid)).toEqual(expect.arrayContaining([oldKid, newKid]));
      expect(decodeProtectedHeader(await issue()).kid, 'still the old key within the lead time').toBe(oldKid);
      const wait = activatesAt.getTime() - Date.now() + 150;
      expect(wait).toBeLessThan(2000);
      await new Promise((r) => setTimeout(r, Math.max(0, wait)));
      const after = await issue();
      expect(decodeProtectedHeader(after).kid).toBe(newKid);

      const set = createLocalJWKSet(await jwks());
      for (const token of [before, after]) {
        const { protectedHeader } = await jwtVerify(token, set, { issuer: 'http://127.0.0.1', typ: 'at+jwt' });
        expect([oldKid, newKid]).toContain(protectedHeader.kid);
      }
      const retired = await createKeyStore(db.models.key).listKeys();
      expect(retired.find((k) => k.kid === oldKid)?.retiresAt?.getTime()).toBe(activatesAt.getTime());
    });
  });
}
