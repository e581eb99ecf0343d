import { randomBytes } from 'node:crypto';
import type { AccessTokenRecord, GrantRecord, RefreshTokenRecord } from '@portcullis/core';
import { DataTypes, QueryTypes } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createClientStore,
  createGrantStore,
  createTokenStore,
  createUserStore,
  defineModels,
  keyHash,
  migrate,
  purgeExpired,
  tableNamesFor,
} from '../src/index.js';
import { DIALECTS, openDatabase, type TestDatabase, uniquePrefix } from './databases.js';

const id = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;

function grant(overrides: Partial<GrantRecord> = {}): GrantRecord {
  return {
    code: id('code'),
    clientId: id('client'),
    userId: id('user'),
    redirectUri: 'https://app.example/cb',
    scopes: ['read'],
    expiresAt: new Date(Date.now() + 60_000),
    grantId: id('family'),
    codeChallenge: null,
    codeChallengeMethod: null,
    ...overrides,
  };
}

function pair(overrides: Partial<AccessTokenRecord> = {}): { access: AccessTokenRecord; refresh: RefreshTokenRecord } {
  const common = {
    clientId: id('client'),
    userId: id('user'),
    scopes: ['read'],
    grantId: id('family'),
    expiresAt: new Date(Date.now() + 60_000),
  };
  return { access: { token: id('at'), ...common, ...overrides }, refresh: { token: id('rt'), ...common, ...overrides } };
}

const TEN_KIB = 'x'.repeat(10 * 1024);

/** The stored `expiresAt` as UTC text, formatted by the database itself. */
function utcTextSql(dialect: string, column: string): string {
  if (dialect === 'postgres') return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS')`;
  if (dialect === 'mariadb') return `DATE_FORMAT(${column}, '%Y-%m-%d %H:%i:%s.%f')`;
  return `substr(${column}, 1, 23)`;
}

for (const dialect of DIALECTS) {
  describe(`${dialect}`, () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await openDatabase(dialect);
    });
    afterAll(async () => {
      await db?.close();
    });

    describe('dates', () => {
      it('come back as the same Date and are stored in UTC', async () => {
        const grants = createGrantStore(db.models.grant);
        const tokens = createTokenStore(db.models.token);
        for (const expiresAt of [
          new Date('2099-12-31T23:59:58.999Z'),
          new Date(Date.now() + 3_600_000 + 7),
          new Date('2038-01-19T03:14:08.001Z'),
        ]) {
          const g = grant({ expiresAt });
          await grants.saveGrant(g);
          const p = pair({ expiresAt });
          await tokens.saveTokens(p.access, p.refresh);
          const got = await tokens.getAccessToken(p.access.token);
          expect(got?.expiresAt).toBeInstanceOf(Date);
          expect(got?.expiresAt.getTime()).toBe(expiresAt.getTime());
          const consumed = await grants.consumeGrant(g.clientId, g.code);
          expect(consumed?.outcome === 'consumed' && consumed.record.expiresAt.getTime()).toBe(expiresAt.getTime());

          const qi = db.sequelize.getQueryInterface();
          const [row] = await db.sequelize.query<{ utc: string }>(
            `SELECT ${utcTextSql(dialect, qi.quoteIdentifier('expiresAt'))} AS utc FROM ${qi.quoteIdentifier(db.tables.token)} WHERE ${qi.quoteIdentifier('tokenHash')} = :hash AND kind = 'access'`,
            { type: QueryTypes.SELECT, replacements: { hash: keyHash(p.access.token) } },
          );
          expect(row?.utc.slice(0, 23)).toBe(expiresAt.toISOString().replace('T', ' ').slice(0, 23));
        }
      });
    });

    describe('keys at rest', () => {
      it('rows hold a SHA-256 hex of the code or token, never the value', async () => {
        const grants = createGrantStore(db.models.grant);
        const tokens = createTokenStore(db.models.token);
        const g = grant({ code: `code-${'c'.repeat(40)}` });
        await grants.saveGrant(g);
        const p = pair();
        await tokens.saveTokens(p.access, p.refresh);
        const rows = [
          ...(await db.rawRows('grant', { clientId: g.clientId })),
          ...(await db.rawRows('token', { grantId: p.access.grantId })),
        ];
        expect(rows).toHaveLength(3);
        const text = JSON.stringify(rows);
        for (const secret of [g.code, p.access.token, p.refresh.token]) expect(text).not.toContain(secret);
        expect(rows.map((r) => r.codeHash ?? r.tokenHash).sort()).toEqual(
          [keyHash(g.code), keyHash(p.access.token), keyHash(p.refresh.token)].sort(),
        );
      });
    });

    describe('saveTokens', () => {
      it('keeps the other tokens of the user and writes a pair all or nothing', async () => {
        const tokens = createTokenStore(db.models.token);
        const first = pair();
        await tokens.saveTokens(first.access, first.refresh);
        // The second pair's refresh token collides with the first's: the one INSERT fails whole.
        const second = pair({ userId: first.access.userId, clientId: first.access.clientId });
        await expect(tokens.saveTokens(second.access, { ...second.refresh, token: first.refresh.token })).rejects.toThrow();
        expect(await db.rawRows('token', { tokenHash: keyHash(second.access.token) }), 'no half pair').toHaveLength(0);
        expect(await tokens.getAccessToken(first.access.token)).not.toBeNull();
        expect(await tokens.getRefreshToken(first.refresh.token)).not.toBeNull();
      });
    });

    describe('bad input', () => {
      it('oversized, NUL-bearing and unknown ids give null, never a database error', async () => {
        const clients = createClientStore(db.models.client);
        const users = createUserStore(db.models.user);
        const grants = createGrantStore(db.models.grant);
        const tokens = createTokenStore(db.models.token);
        await db.models.client.create({ id: 'c-bad-input', secretHash: null, redirectUris: [], grantTypes: [], scopes: [] });
        for (const value of [TEN_KIB, 'c-bad-input\u0000', '\u0000', 'ünknöwn-🙂', 'c-bad-input ']) {
          expect(await clients.getClient(value)).toBeNull();
          expect(await users.getUserByUsername(value)).toBeNull();
          expect(await grants.consumeGrant(value, 'code')).toBeNull();
          expect(await grants.consumeGrant('c-bad-input', value)).toBeNull();
          expect(await tokens.getAccessToken(value)).toBeNull();
          expect(await tokens.consumeRefreshToken(value)).toBeNull();
          await tokens.revokeAccessToken(value);
          await tokens.revokeFamily(value);
        }
        expect(await clients.getClient('c-bad-input')).toMatchObject({ id: 'c-bad-input', secretHash: null });
      });

      it('an oversized field on save is a clear error and writes nothing', async () => {
        const grants = createGrantStore(db.models.grant);
        const tokens = createTokenStore(db.models.token);
        const g = grant({ userId: TEN_KIB });
        await expect(grants.saveGrant(g)).rejects.toThrow(/saveGrant: userId is longer than 255 characters/);
        expect(await db.rawRows('grant', { codeHash: keyHash(g.code) })).toHaveLength(0);
        const p = pair();
        const err = await tokens.saveTokens(p.access, { ...p.refresh, grantId: TEN_KIB }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(RangeError);
        expect(String(err)).not.toContain(TEN_KIB.slice(0, 300));
        expect(await db.rawRows('token', { tokenHash: keyHash(p.access.token) }), 'no half pair').toHaveLength(0);
      });

      it('non-ASCII ids of up to 255 characters round-trip', async () => {
        const clients = createClientStore(db.models.client);
        // The `k` keeps the upper-case variant different even when the hex part is all digits.
        const longUnicode = `${'🔑'.repeat(200)}-k${randomBytes(4).toString('hex')}`; // 210 characters, 410 UTF-16 units
        await db.models.client.create({
          id: longUnicode,
          secretHash: 'h',
          redirectUris: ['https://ü.example/cb'],
          grantTypes: ['password'],
          scopes: ['lesen'],
        });
        expect(await clients.getClient(longUnicode)).toMatchObject({ id: longUnicode, redirectUris: ['https://ü.example/cb'] });
        expect(await clients.getClient(longUnicode.toUpperCase())).toBeNull();
      });
    });

    describe('purgeExpired', () => {
      it('deletes expired rows (consumed, revoked or not) in batches and keeps live ones', async () => {
        const { sequelize } = db;
        const options = { tablePrefix: uniquePrefix() };
        await migrate(sequelize, options);
        const models = defineModels(sequelize, options);
        const grants = createGrantStore(models.grant);
        const tokens = createTokenStore(models.token);
        const past = new Date(Date.now() - 1000);
        for (let i = 0; i < 5; i++) await grants.saveGrant(grant({ expiresAt: past }));
        const consumed = grant({ expiresAt: new Date(Date.now() + 150) });
        await grants.saveGrant(consumed);
        expect((await grants.consumeGrant(consumed.clientId, consumed.code))?.outcome).toBe('consumed');
        const live = grant();
        await grants.saveGrant(live);
        for (let i = 0; i < 3; i++) {
          const p = pair({ expiresAt: past });
          await tokens.saveTokens(p.access, p.refresh);
        }
        const revoked = pair({ expiresAt: new Date(Date.now() + 150) });
        await tokens.saveTokens(revoked.access, null);
        await tokens.revokeFamily(revoked.access.grantId);
        const livePair = pair();
        await tokens.saveTokens(livePair.access, livePair.refresh);

        const now = new Date(Date.now() + 1000);
        expect(await purgeExpired(models, { batchSize: 2, now })).toBe(5 + 1 + 6 + 1);
        expect(await purgeExpired(models, { batchSize: 2, now })).toBe(0);
        expect(await models.grant.count()).toBe(1);
        expect(await models.token.count()).toBe(2);
        expect((await grants.consumeGrant(live.clientId, live.code))?.outcome).toBe('consumed');
        expect(await tokens.getAccessToken(livePair.access.token)).not.toBeNull();
        await expect(purgeExpired(models, { batchSize: 0 })).rejects.toThrow(/batchSize/);
        for (const table of Object.values(tableNamesFor(options))) await sequelize.getQueryInterface().dropTable(table);
      });
    });

    describe('schema', () => {
      it('migrate() is idempotent and creates what sync() creates: columns, keys and indexes', async () => {
        const { sequelize } = db;
        const qi = sequelize.getQueryInterface();
        const migrated = { tablePrefix: uniquePrefix() };
        const synced = { tablePrefix: uniquePrefix() };
        await migrate(sequelize, migrated);
        await migrate(sequelize, migrated);
        const models = defineModels(sequelize, synced);
        for (const model of Object.values(models)) await model.sync();
        const shape = async (table: string, prefix: string) => {
          const columns = await qi.describeTable(table);
          const indexes = (await qi.showIndex(table)) as {
            name: string;
            unique?: boolean;
            primary?: boolean;
            fields: { attribute: string }[];
          }[];
          return {
            columns: Object.fromEntries(
              Object.entries(columns).map(([name, c]) => [name, { type: c.type, allowNull: c.allowNull, primaryKey: c.primaryKey }]),
            ),
            indexes: indexes
              .filter((i) => !i.primary && !/^(PRIMARY|sqlite_autoindex_.*|.*_pkey)$/.test(i.name))
              .map((i) => ({ name: i.name.slice(prefix.length), unique: Boolean(i.unique), fields: i.fields.map((f) => f.attribute) }))
              .sort((a, b) => a.name.localeCompare(b.name)),
          };
        };
        const a = tableNamesFor(migrated);
        const b = tableNamesFor(synced);
        for (const key of ['client', 'user', 'grant', 'token'] as const) {
          const fromMigrate = await shape(a[key], migrated.tablePrefix);
          expect(fromMigrate, key).toEqual(await shape(b[key], synced.tablePrefix));
          if (key === 'token') {
            expect(fromMigrate.indexes).toEqual([
              { name: 'oauth_tokens_expires_at', unique: false, fields: ['expiresAt'] },
              { name: 'oauth_tokens_grant_id', unique: false, fields: ['grantId'] },
              // A user's tokens per client (listUserGrants, revokeUserGrants).
              { name: 'oauth_tokens_user_client', unique: false, fields: ['userId', 'clientId'] },
            ]);
            expect(
              Object.entries(fromMigrate.columns)
                .filter(([, c]) => c.primaryKey)
                .map(([n]) => n)
                .sort(),
            ).toEqual(['kind', 'tokenHash']);
          }
          if (key === 'grant') expect(fromMigrate.indexes.map((i) => i.fields)).toEqual([['expiresAt']]);
          if (key === 'user') expect(fromMigrate.indexes).toEqual([{ name: 'oauth_users_username', unique: true, fields: ['username'] }]);
        }
        for (const table of [...Object.values(a), ...Object.values(b)]) await qi.dropTable(table);
      });

      it('reads tokens through a model getter of your own (here scopes kept as space-separated text)', async () => {
        const { sequelize } = db;
        const options = {
          tablePrefix: uniquePrefix(),
          extend: {
            token: {
              scopes: {
                type: DataTypes.STRING(500),
                allowNull: false,
                get(this: { getDataValue(k: string): unknown }) {
                  return String(this.getDataValue('scopes')).split(' ').filter(Boolean);
                },
                set(this: { setDataValue(k: string, v: unknown): void }, value: readonly string[]) {
                  this.setDataValue('scopes', value.join(' '));
                },
              },
            },
          },
        };
        const models = defineModels(sequelize, options);
        await models.token.sync();
        const tokens = createTokenStore(models.token);
        const p = pair({ scopes: ['read', 'write'] });
        await tokens.saveTokens(p.access, p.refresh);
        const [row] = await sequelize.query<{ scopes: string }>(
          `SELECT scopes FROM ${sequelize.getQueryInterface().quoteIdentifier(models.token.getTableName() as string)}`,
          {
            type: QueryTypes.SELECT,
          },
        );
        expect(row?.scopes).toBe('read write');
        expect((await tokens.getAccessToken(p.access.token))?.scopes).toEqual(['read', 'write']);
        expect((await tokens.getRefreshToken(p.refresh.token))?.scopes).toEqual(['read', 'write']);
        await sequelize.getQueryInterface().dropTable(models.token.getTableName());
      });

      it('migrate() takes extra columns and a subset of tables; defineModels() the same extra columns', async () => {
        const { sequelize } = db;
        const options = {
          tablePrefix: uniquePrefix(),
          tableNames: { client: 'apps' },
          extend: { client: { displayName: { type: DataTypes.STRING(100), allowNull: true } } },
        };
        await migrate(sequelize, { ...options, tables: ['client', 'grant'] });
        const names = tableNamesFor(options);
        expect(names.client).toBe(`${options.tablePrefix}apps`);
        const qi = sequelize.getQueryInterface();
        expect(await qi.tableExists(names.client)).toBe(true);
        expect(await qi.tableExists(names.grant)).toBe(true);
        expect(await qi.tableExists(names.user)).toBe(false);
        const models = defineModels(sequelize, options);
        await models.client.create({
          id: 'c-ext',
          secretHash: null,
          redirectUris: ['https://a/cb'],
          grantTypes: ['authorization_code'],
          scopes: ['read'],
          displayName: 'Ünïcode App',
        });
        expect(await createClientStore(models.client).getClient('c-ext')).toEqual({
          id: 'c-ext',
          secretHash: null,
          redirectUris: ['https://a/cb'],
          grantTypes: ['authorization_code'],
          scopes: ['read'],
          displayName: 'Ünïcode App',
        });
        await qi.dropTable(names.client);
        await qi.dropTable(names.grant);
      });

      it('the stores accept models of your own: other table and column names, integer ids, plain JSON text', async () => {
        const { sequelize } = db;
        const prefix = uniquePrefix();
        const MyClient = sequelize.define(
          `${prefix}MyClient`,
          {
            id: { type: DataTypes.STRING(64), primaryKey: true, field: 'client_id' },
            secretHash: { type: DataTypes.STRING, field: 'secret_hash' },
            redirectUris: { type: DataTypes.TEXT, field: 'redirect_uris' },
            grantTypes: { type: DataTypes.TEXT, field: 'grant_types' },
            scopes: { type: DataTypes.TEXT },
            owner: { type: DataTypes.STRING },
            // A flag kept as an integer in a column of another name.
            resourceServer: { type: DataTypes.INTEGER, field: 'is_resource_server' },
          },
          { tableName: `${prefix}my_clients`, timestamps: true },
        );
        const MyUser = sequelize.define(
          `${prefix}MyUser`,
          {
            id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
            username: { type: DataTypes.STRING(32), unique: true },
            passwordHash: { type: DataTypes.STRING, field: 'password_hash' },
            email: { type: DataTypes.STRING },
          },
          { tableName: `${prefix}my_users` },
        );
        const MyGrant = sequelize.define(
          `${prefix}MyGrant`,
          {
            codeHash: { type: DataTypes.CHAR(64), primaryKey: true, field: 'code_hash' },
            clientId: { type: DataTypes.STRING(64), primaryKey: true, field: 'client_id' },
            userId: DataTypes.STRING,
            redirectUri: DataTypes.TEXT,
            scopes: DataTypes.TEXT,
            expiresAt: { type: DataTypes.DATE(3), field: 'expires_at' },
            grantId: DataTypes.STRING,
            codeChallenge: DataTypes.STRING,
            codeChallengeMethod: DataTypes.STRING(8),
            consumedAt: { type: DataTypes.DATE(3), field: 'consumed_at' },
          },
          { tableName: `${prefix}my_grants`, timestamps: false },
        );
        for (const m of [MyClient, MyUser, MyGrant]) await m.sync();
        try {
          await MyClient.create({
            id: 'mine',
            secretHash: 'h',
            redirectUris: '["https://m/cb"]',
            grantTypes: '["password"]',
            scopes: '["a","b"]',
            owner: 'me',
            resourceServer: 1,
          });
          await MyClient.create({ id: 'mine-0', secretHash: 'h', redirectUris: '[]', grantTypes: '[]', scopes: '[]', resourceServer: 0 });
          const user = await MyUser.create({ username: 'zoë', passwordHash: 'scrypt$x', email: 'z@example.com' });
          const client = await createClientStore(MyClient).getClient('mine');
          expect(client).toMatchObject({
            id: 'mine',
            redirectUris: ['https://m/cb'],
            grantTypes: ['password'],
            scopes: ['a', 'b'],
            owner: 'me',
            resourceServer: true,
          });
          expect(client).not.toHaveProperty('defaultScopes');
          expect(await createClientStore(MyClient).getClient('mine-0')).not.toHaveProperty('resourceServer');
          expect(await createClientStore(MyClient).getClient('x'.repeat(65))).toBeNull();
          const found = await createUserStore(MyUser).getUserByUsername('zoë');
          expect(found).toMatchObject({
            user: { id: String(user.get('id')), username: 'zoë', email: 'z@example.com' },
            passwordHash: 'scrypt$x',
          });
          expect(found?.user).not.toHaveProperty('passwordHash');
          expect(await createUserStore(MyUser).getUserByUsername('z'.repeat(33))).toBeNull();
          const grants = createGrantStore(MyGrant);
          const g = grant({ clientId: 'mine', scopes: ['a', 'b'] });
          await grants.saveGrant(g);
          const [raw] = await sequelize.query<{ scopes: string }>(
            `SELECT scopes FROM ${sequelize.getQueryInterface().quoteIdentifier(`${prefix}my_grants`)}`,
            { type: QueryTypes.SELECT },
          );
          expect(raw?.scopes).toBe('["a","b"]');
          expect(await grants.consumeGrant('mine', g.code)).toMatchObject({
            outcome: 'consumed',
            record: { scopes: ['a', 'b'], expiresAt: g.expiresAt },
          });
          expect(await grants.consumeGrant('mine', g.code)).toEqual({ outcome: 'replayed', grantId: g.grantId });
          await expect(grants.saveGrant(grant({ clientId: 'y'.repeat(65) }))).rejects.toThrow(/clientId is longer than 64/);
        } finally {
          for (const m of [MyClient, MyUser, MyGrant]) await m.drop();
        }
      });
    });
  });
}

// A second Sequelize instance on the same database (an in-memory SQLite cannot have one).
for (const dialect of ['sqlite-file', 'postgres', 'mariadb'] as const) {
  describe(`${dialect}: a second instance`, () => {
    it('reads the dates the first one wrote, to the millisecond', async () => {
      const db = await openDatabase(dialect);
      const other = await openDatabase(dialect, { location: db.location, tablePrefix: db.tablePrefix });
      try {
        const p = pair({ expiresAt: new Date(Date.now() + 120_000 + 321) });
        await createTokenStore(db.models.token).saveTokens(p.access, p.refresh);
        const got = await createTokenStore(other.models.token).getRefreshToken(p.refresh.token);
        expect(got?.expiresAt).toBeInstanceOf(Date);
        expect(got?.expiresAt.getTime()).toBe(p.refresh.expiresAt.getTime());
      } finally {
        await other.sequelize.close();
        await db.close();
      }
    });
  });
}

// Two Sequelize instances (two pools, as two provider processes would have) racing for one code.
for (const dialect of ['postgres', 'mariadb'] as const) {
  describe(`${dialect}: two processes`, () => {
    it('50 consumes split over two connection pools give exactly one winner', async () => {
      const a = await openDatabase(dialect);
      const b = await openDatabase(dialect, { location: a.location, tablePrefix: a.tablePrefix });
      try {
        const g = grant();
        await createGrantStore(a.models.grant).saveGrant(g);
        const stores = [createGrantStore(a.models.grant), createGrantStore(b.models.grant)];
        const results = await Promise.all(Array.from({ length: 50 }, (_, i) => stores[i % 2]!.consumeGrant(g.clientId, g.code)));
        expect(results.filter((r) => r?.outcome === 'consumed')).toHaveLength(1);
        for (const r of results.filter((x) => x?.outcome !== 'consumed')) {
          expect([null, JSON.stringify({ outcome: 'replayed', grantId: g.grantId })]).toContain(r && JSON.stringify(r));
        }

        const p = pair();
        await createTokenStore(a.models.token).saveTokens(p.access, p.refresh);
        const tokenStores = [createTokenStore(a.models.token), createTokenStore(b.models.token)];
        const refreshed = await Promise.all(Array.from({ length: 50 }, (_, i) => tokenStores[i % 2]!.consumeRefreshToken(p.refresh.token)));
        expect(refreshed.filter((r) => r?.outcome === 'consumed')).toHaveLength(1);
      } finally {
        await b.sequelize.close();
        await a.close();
      }
    });
  });
}

describe('mariadb: table options', () => {
  it('tables use utf8mb4 with a binary no-pad collation (exact, case- and space-sensitive lookups)', async () => {
    const db = await openDatabase('mariadb');
    try {
      const rows = await db.sequelize.query<{ TABLE_NAME: string; TABLE_COLLATION: string }>(
        'SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (:names)',
        { type: QueryTypes.SELECT, replacements: { names: Object.values(db.tables) } },
      );
      expect(rows.map((r) => r.TABLE_COLLATION)).toEqual(Object.values(db.tables).map(() => 'utf8mb4_nopad_bin'));
      expect(rows, 'all seven tables, the device and ephemeral tables included').toHaveLength(7);
      await db.models.user.bulkCreate([
        { id: 'u1', username: 'bob', passwordHash: 'h1' },
        { id: 'u2', username: 'bob ', passwordHash: 'h2' },
        { id: 'u3', username: 'Bob', passwordHash: 'h3' },
      ]);
      const users = createUserStore(db.models.user);
      expect((await users.getUserByUsername('bob '))?.user.id).toBe('u2');
      expect((await users.getUserByUsername('Bob'))?.user.id).toBe('u3');
      expect((await users.getUserByUsername('bob'))?.user.id).toBe('u1');
    } finally {
      await db.close();
    }
  });
});
