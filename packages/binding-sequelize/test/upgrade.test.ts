/**
 * Upgrading tables made by 0.1, whose grant table has `redirectUri TEXT NOT NULL`: `migrate()`
 * makes the column accept NULL (a code issued without redirect_uri) and keeps every row. And
 * client tables made before `resourceServer` and the dynamic registration columns existed, and grant and token tables made before
 * `resources` (RFC 8707): `migrate()` adds the nullable column.
 */
import { randomBytes } from 'node:crypto';
import { assertClientExactly, makeRegisteredClient } from '@portcullis/binding-testkit';
import type { GrantRecord } from '@portcullis/core';
import { DataTypes, QueryTypes, type Sequelize } from 'sequelize';
import { describe, expect, it } from 'vitest';
import {
  createClientRegistrationStore,
  createClientStore,
  createGrantStore,
  createTokenStore,
  defineModels,
  keyHash,
  migrate,
  type SchemaOptions,
  tableNamesFor,
} from '../src/index.js';
import { ADDED_COLUMNS, columnsFor, tableOptionsFor } from '../src/models.js';
import { withoutNotNull } from '../src/upgrade.js';
import { connect, DIALECTS, freshDatabase, uniquePrefix } from './databases.js';

/** The grant column as 0.1 defined it: `migrate()` with this creates exactly the 0.1 table. */
const V01 = { grant: { redirectUri: { type: DataTypes.TEXT, allowNull: false } } } satisfies SchemaOptions['extend'];

const rid = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;

function grant(overrides: Partial<GrantRecord> = {}): GrantRecord {
  return {
    code: rid('code'),
    clientId: rid('client'),
    userId: rid('user'),
    redirectUri: 'https://app.example/cb',
    scopes: ['read'],
    expiresAt: new Date(Date.now() + 600_000),
    grantId: rid('family'),
    codeChallenge: null,
    codeChallengeMethod: null,
    ...overrides,
  };
}

/** Every row of a table as the database holds it, in key order. */
async function rawTable(sequelize: Sequelize, table: string): Promise<Record<string, unknown>[]> {
  const qi = sequelize.getQueryInterface();
  return sequelize.query(`SELECT * FROM ${qi.quoteIdentifier(table)} ORDER BY ${qi.quoteIdentifier('codeHash')}`, {
    type: QueryTypes.SELECT,
  });
}

async function shape(sequelize: Sequelize, table: string) {
  const qi = sequelize.getQueryInterface();
  const columns = await qi.describeTable(table);
  const indexes = ((await qi.showIndex(table)) as { name: string }[]).map((i) => i.name).sort();
  return { columns, indexes };
}

async function dropAll(sequelize: Sequelize, tablePrefix: string): Promise<void> {
  for (const table of Object.values(tableNamesFor({ tablePrefix }))) await sequelize.getQueryInterface().dropTable(table);
}

/**
 * Creates the 0.1 tables under a fresh prefix and fills the grant table through the 0.1 model:
 * a live code, a consumed one (its marker) and one with PKCE and a non-ASCII URI.
 */
async function tablesOf01(sequelize: Sequelize) {
  const tablePrefix = uniquePrefix();
  await migrate(sequelize, { tablePrefix, extend: V01 });
  const table = tableNamesFor({ tablePrefix }).grant;
  const old = createGrantStore(defineModels(sequelize, { tablePrefix, extend: V01 }).grant);
  const live = grant();
  const consumed = grant();
  const pkce = grant({
    redirectUri: 'https://ü.example/cb?x=1',
    codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    codeChallengeMethod: 'S256',
  });
  for (const g of [live, consumed, pkce]) await old.saveGrant(g);
  expect((await old.consumeGrant(consumed.clientId, consumed.code))?.outcome).toBe('consumed');
  return { tablePrefix, table, old, live, consumed, pkce };
}

for (const dialect of DIALECTS) {
  describe(`${dialect}: a grant table made by 0.1`, () => {
    it('accepts null redirectUri after migrate(), keeping its rows, indexes and every other column', async () => {
      const { sequelize, cleanup } = await connect(dialect);
      try {
        const { tablePrefix, table, old, live, consumed, pkce } = await tablesOf01(sequelize);
        const before = await shape(sequelize, table);
        expect(before.columns.redirectUri?.allowNull, 'the 0.1 column is NOT NULL').toBe(false);
        // The reason for the upgrade: 0.1's table refuses a code issued without redirect_uri.
        await expect(old.saveGrant(grant({ redirectUri: null }))).rejects.toThrow();
        const rowsBefore = await rawTable(sequelize, table);
        expect(rowsBefore).toHaveLength(3);

        await migrate(sequelize, { tablePrefix });

        const after = await shape(sequelize, table);
        expect(after.columns.redirectUri?.allowNull).toBe(true);
        expect(after).toEqual({
          ...before,
          columns: { ...before.columns, redirectUri: { ...before.columns.redirectUri, allowNull: true } },
        });
        expect(await rawTable(sequelize, table), 'every row as it was').toEqual(rowsBefore);

        const grants = createGrantStore(defineModels(sequelize, { tablePrefix }).grant);
        expect(await grants.consumeGrant(live.clientId, live.code)).toEqual({ outcome: 'consumed', record: live });
        expect(await grants.consumeGrant(pkce.clientId, pkce.code)).toEqual({ outcome: 'consumed', record: pkce });
        expect(await grants.consumeGrant(consumed.clientId, consumed.code), 'the consumed marker survives').toEqual({
          outcome: 'replayed',
          grantId: consumed.grantId,
        });
        const omitted = grant({ redirectUri: null });
        await grants.saveGrant(omitted);
        const [row] = await sequelize.query<{ redirectUri: unknown }>(
          `SELECT ${sequelize.getQueryInterface().quoteIdentifier('redirectUri')} AS "redirectUri" FROM ${sequelize.getQueryInterface().quoteIdentifier(table)} WHERE ${sequelize.getQueryInterface().quoteIdentifier('codeHash')} = :hash`,
          { type: QueryTypes.SELECT, replacements: { hash: keyHash(omitted.code) } },
        );
        expect(row?.redirectUri, 'SQL NULL at rest').toBeNull();
        expect(await grants.consumeGrant(omitted.clientId, omitted.code)).toEqual({ outcome: 'consumed', record: omitted });

        // Idempotent: a second run changes nothing.
        const settled = await shape(sequelize, table);
        const rowsSettled = await rawTable(sequelize, table);
        await migrate(sequelize, { tablePrefix });
        expect(await shape(sequelize, table)).toEqual(settled);
        expect(await rawTable(sequelize, table)).toEqual(rowsSettled);
        await dropAll(sequelize, tablePrefix);
      } finally {
        await sequelize.close();
        await cleanup();
      }
    });

    it('stays NOT NULL when extend says so', async () => {
      const { sequelize, cleanup } = await connect(dialect);
      try {
        const { tablePrefix, table } = await tablesOf01(sequelize);
        await migrate(sequelize, { tablePrefix, extend: V01 });
        expect((await shape(sequelize, table)).columns.redirectUri?.allowNull).toBe(false);
        await dropAll(sequelize, tablePrefix);
      } finally {
        await sequelize.close();
        await cleanup();
      }
    });
  });
}

describe('mariadb: the upgraded column', () => {
  it('keeps its type, character set and binary collation', async () => {
    const { sequelize } = await connect('mariadb');
    try {
      const { tablePrefix, table } = await tablesOf01(sequelize);
      const column = () =>
        sequelize.query<Record<string, string>>(
          'SELECT COLUMN_TYPE, CHARACTER_SET_NAME, COLLATION_NAME, IS_NULLABLE, COLUMN_DEFAULT FROM information_schema.COLUMNS ' +
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :table AND COLUMN_NAME = 'redirectUri'",
          { type: QueryTypes.SELECT, replacements: { table } },
        );
      const [before] = await column();
      expect(before).toMatchObject({ COLUMN_TYPE: 'text', COLLATION_NAME: 'utf8mb4_nopad_bin', IS_NULLABLE: 'NO' });
      await migrate(sequelize, { tablePrefix });
      expect((await column())[0]).toEqual({ ...before, IS_NULLABLE: 'YES', COLUMN_DEFAULT: 'NULL' });
      await dropAll(sequelize, tablePrefix);
    } finally {
      await sequelize.close();
    }
  });
});

for (const dialect of ['postgres', 'mariadb'] as const) {
  describe(`${dialect}: upgrading from several processes at once`, () => {
    it('four instances migrating one 0.1 database at the same moment all succeed', async () => {
      const db = await freshDatabase(dialect);
      const instances: Sequelize[] = [];
      try {
        for (let i = 0; i < 4; i++) instances.push((await connect(dialect, db.url)).sequelize);
        const first = instances[0] as Sequelize;
        const { tablePrefix, table, live } = await tablesOf01(first);
        await Promise.all(instances.map((s) => s.authenticate()));
        const results = await Promise.allSettled(instances.map((s) => migrate(s, { tablePrefix })));
        expect(results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []))).toEqual([]);
        expect((await shape(first, table)).columns.redirectUri?.allowNull).toBe(true);
        const grants = createGrantStore(defineModels(first, { tablePrefix }).grant);
        expect(await grants.consumeGrant(live.clientId, live.code)).toEqual({ outcome: 'consumed', record: live });
      } finally {
        for (const s of instances) await s.close();
        await db.drop();
      }
    });
  });
}

/** A 0.1 grant table on a SQLite file, with the raw SQLite helpers the tests below need. */
async function sqlite01(sequelize: Sequelize, options: { extend?: SchemaOptions['extend'] } = {}) {
  const tablePrefix = uniquePrefix();
  const extend = { grant: { ...V01.grant, ...options.extend?.grant } };
  await migrate(sequelize, { tablePrefix, tables: ['grant'], extend });
  const table = tableNamesFor({ tablePrefix }).grant;
  const q = (name: string) => sequelize.getQueryInterface().quoteIdentifier(name);
  const sql = <T extends object>(text: string, replacements: Record<string, unknown> = {}) =>
    sequelize.query<T>(text, { type: QueryTypes.SELECT, replacements });
  const notNull = async () =>
    (await sql<{ notnull: number }>('SELECT "notnull" FROM pragma_table_info(:table) WHERE name = \'redirectUri\'', { table }))[0]?.notnull;
  const schema = () => sql<{ type: string; name: string; sql: string }>('SELECT type, name, sql FROM sqlite_master ORDER BY type, name');
  const old = createGrantStore(defineModels(sequelize, { tablePrefix, extend }).grant);
  return { tablePrefix, table, q, sql, notNull, schema, old, extend };
}

describe('sqlite-file: the table rebuild', () => {
  it("keeps extra columns, the application's own indexes, triggers and views", async () => {
    const { sequelize, cleanup } = await connect('sqlite-file');
    try {
      const note = { grant: { note: { type: DataTypes.STRING(40), allowNull: false, defaultValue: 'n/a' } } };
      const { tablePrefix, table, q, sql, notNull, schema, old } = await sqlite01(sequelize, { extend: note });
      const g = grant();
      await old.saveGrant(g);
      await sequelize.query(`CREATE INDEX ${q(`${table}_by_user`)} ON ${q(table)} (${q('userId')}, ${q('grantId')})`);
      await sequelize.query(`CREATE TABLE ${q(`${tablePrefix}audit`)} (codeHash TEXT)`);
      await sequelize.query(
        `CREATE TRIGGER ${q(`${table}_audit`)} AFTER INSERT ON ${q(table)} BEGIN INSERT INTO ${q(`${tablePrefix}audit`)} VALUES (NEW.${q('codeHash')}); END`,
      );
      await sequelize.query(
        `CREATE VIEW ${q(`${tablePrefix}live`)} AS SELECT ${q('codeHash')} FROM ${q(table)} WHERE ${q('consumedAt')} IS NULL`,
      );
      const before = await schema();
      expect(await notNull()).toBe(1);

      await migrate(sequelize, { tablePrefix, tables: ['grant'], extend: note });

      expect(await notNull()).toBe(0);
      const after = await schema();
      // Only the grant table's text changed, and only by the NOT NULL of redirectUri.
      expect(after.map(({ type, name }) => ({ type, name }))).toEqual(before.map(({ type, name }) => ({ type, name })));
      const tableSql = (s: typeof before) => s.find((o) => o.type === 'table' && o.name === table)?.sql ?? '';
      expect(tableSql(after)).toMatch(/`redirectUri` TEXT\s*,/);
      expect(tableSql(after)).toMatch(/`note` VARCHAR\(40\) NOT NULL DEFAULT 'n\/a'/);
      expect(after.filter((o) => o.name !== table)).toEqual(before.filter((o) => o.name !== table));

      const grants = createGrantStore(defineModels(sequelize, { tablePrefix, extend: note }).grant);
      const omitted = grant({ redirectUri: null });
      await grants.saveGrant(omitted);
      expect(await sql(`SELECT * FROM ${q(`${tablePrefix}audit`)} ORDER BY codeHash`), 'the trigger still fires').toEqual([
        { codeHash: keyHash(omitted.code) },
      ]);
      expect((await sql(`SELECT * FROM ${q(`${tablePrefix}live`)}`)).length, 'the view still reads the table').toBe(2);
      expect(await grants.consumeGrant(g.clientId, g.code)).toEqual({ outcome: 'consumed', record: g });
      expect(await grants.consumeGrant(omitted.clientId, omitted.code)).toEqual({ outcome: 'consumed', record: omitted });
    } finally {
      await sequelize.close();
      await cleanup();
    }
  });

  it('refuses, changing nothing, when another table references the grant table with foreign keys on', async () => {
    const { sequelize, cleanup } = await connect('sqlite-file');
    try {
      const { tablePrefix, table, q, sql, notNull, schema, old } = await sqlite01(sequelize);
      const g = grant();
      await old.saveGrant(g);
      const child = `${tablePrefix}child`;
      await sequelize.query(
        `CREATE TABLE ${q(child)} (codeHash CHAR(64), clientId VARCHAR(255), FOREIGN KEY (codeHash, clientId) REFERENCES ${q(table)} (codeHash, clientId) ON DELETE CASCADE)`,
      );
      await sequelize.query(`INSERT INTO ${q(child)} VALUES (:hash, :clientId)`, {
        replacements: { hash: keyHash(g.code), clientId: g.clientId },
      });
      const before = await schema();
      const rows = await rawTable(sequelize, table);

      await expect(migrate(sequelize, { tablePrefix, tables: ['grant'] })).rejects.toThrow(
        new RegExp(`cannot make ${table}.redirectUri nullable: the table\\(s\\) ${child} reference it by foreign key; nothing was changed`),
      );
      expect(await notNull()).toBe(1);
      expect(await schema()).toEqual(before);
      expect(await rawTable(sequelize, table)).toEqual(rows);
      expect(await sql(`SELECT count(*) AS n FROM ${q(child)}`), 'no ON DELETE CASCADE fired').toEqual([{ n: 1 }]);
    } finally {
      await sequelize.close();
      await cleanup();
    }
  });

  it('rolls everything back when a step fails midway', async () => {
    const { sequelize, cleanup } = await connect('sqlite-file');
    try {
      const parent = `${uniquePrefix()}parent`;
      await sequelize.query(`CREATE TABLE ${sequelize.getQueryInterface().quoteIdentifier(parent)} (id TEXT PRIMARY KEY)`);
      const extend = { grant: { parentId: { type: DataTypes.STRING(10), allowNull: true, references: { model: parent, key: 'id' } } } };
      const { tablePrefix, table, q, notNull, schema, old } = await sqlite01(sequelize, { extend });
      await old.saveGrant(grant());
      // A row that breaks the foreign key, written while this connection did not enforce it: the
      // migration's connection does, so copying the rows fails after the new table was made.
      await sequelize.query('PRAGMA foreign_keys = OFF');
      await sequelize.query(`UPDATE ${q(table)} SET ${q('parentId')} = 'ghost'`);
      await sequelize.query('PRAGMA foreign_keys = ON');
      const before = await schema();
      const rows = await rawTable(sequelize, table);

      await expect(migrate(sequelize, { tablePrefix, tables: ['grant'], extend })).rejects.toThrow(/FOREIGN KEY constraint failed/);
      expect(await notNull()).toBe(1);
      expect(await schema(), 'no table left behind, nothing changed').toEqual(before);
      expect(await rawTable(sequelize, table)).toEqual(rows);
    } finally {
      await sequelize.close();
      await cleanup();
    }
  });
});

describe('withoutNotNull', () => {
  const create = (columns: string) => `CREATE TABLE "t" (${columns}) WITHOUT ROWID`;
  it("removes only the named column's NOT NULL, keeping everything else", () => {
    expect(withoutNotNull(create('`a` TEXT NOT NULL, `redirectUri` TEXT NOT NULL, `b` TEXT NOT NULL'), 'redirectUri')).toBe(
      '(`a` TEXT NOT NULL, `redirectUri` TEXT , `b` TEXT NOT NULL) WITHOUT ROWID',
    );
    expect(withoutNotNull(create('"redirectUri" text constraint nn not null on conflict abort default (\'x\'), b'), 'redirectUri')).toBe(
      '("redirectUri" text  default (\'x\'), b) WITHOUT ROWID',
    );
    expect(withoutNotNull(create('[redirectUri] TEXT NOT NULL CHECK (length(redirectUri) > 0 AND 1 IS NOT NULL), x'), 'redirecturi')).toBe(
      '([redirectUri] TEXT  CHECK (length(redirectUri) > 0 AND 1 IS NOT NULL), x) WITHOUT ROWID',
    );
    expect(withoutNotNull('CREATE TABLE "a(b" ("x,y" TEXT NOT NULL, redirectUri TEXT NOT NULL)', 'redirectUri')).toBe(
      '("x,y" TEXT NOT NULL, redirectUri TEXT )',
    );
  });

  it('gives null when the column, or exactly one NOT NULL of it, is not found', () => {
    for (const sql of [
      create('`a` TEXT NOT NULL'),
      create('`redirectUri` TEXT'),
      create('`redirectUri` TEXT CHECK (redirectUri IS NOT NULL)'),
      create('`redirectUri` TEXT NOT NULL NOT NULL'),
      create('`redirectUri` TEXT NOT NULL, `redirectUri` TEXT NOT NULL'),
      create("`redirectUri` TEXT NOT NULL DEFAULT 'unclosed"),
      'CREATE TABLE t AS SELECT 1',
    ]) {
      expect(withoutNotNull(sql, 'redirectUri'), sql).toBeNull();
    }
    expect(withoutNotNull(create('PRIMARY KEY (redirectUri), redirectUri TEXT NOT NULL'), 'redirectUri')).toBe(
      '(PRIMARY KEY (redirectUri), redirectUri TEXT ) WITHOUT ROWID',
    );
  });
});

/** The client columns before `resourceServer` existed (0.1 and 0.2), and so before every column added since. */
function clientColumnsBefore() {
  const columns: Record<string, unknown> = { ...columnsFor('client') };
  for (const added of ADDED_COLUMNS.client) delete columns[added];
  return columns as ReturnType<typeof columnsFor>;
}
/** The added client columns, each NULL (what `migrate()` gives the rows it keeps). */
const addedClientNulls = () => Object.fromEntries(ADDED_COLUMNS.client.map((c) => [c, null]));

/**
 * A client table as versions before `resourceServer` created it, under a fresh prefix, with two
 * clients written by plain SQL (no model of this version touches it).
 */
async function clientTableBefore(sequelize: Sequelize) {
  const tablePrefix = uniquePrefix();
  const table = tableNamesFor({ tablePrefix }).client;
  const qi = sequelize.getQueryInterface();
  await qi.createTable(table, clientColumnsBefore(), tableOptionsFor(sequelize));
  const row = (id: string, secretHash: string | null) => ({
    id,
    secretHash,
    redirectUris: JSON.stringify(['https://app.example/cb']),
    grantTypes: JSON.stringify(['authorization_code']),
    scopes: JSON.stringify(['read']),
    defaultScopes: null,
    tokenEndpointAuthMethod: null,
  });
  const rows = [row(rid('client-a'), 'hmac-sha256$salt$digest'), row(rid('client-ü-🔑'), null)];
  await qi.bulkInsert(table, rows);
  return { tablePrefix, table, rows };
}

async function clientRows(sequelize: Sequelize, table: string): Promise<Record<string, unknown>[]> {
  const qi = sequelize.getQueryInterface();
  return sequelize.query(`SELECT * FROM ${qi.quoteIdentifier(table)} ORDER BY ${qi.quoteIdentifier('id')}`, { type: QueryTypes.SELECT });
}

for (const dialect of DIALECTS) {
  describe(`${dialect}: a client table made before resourceServer`, () => {
    it('gets the nullable resourceServer and registration columns from migrate(), keeping its rows; old clients are ordinary clients', async () => {
      const { sequelize, cleanup } = await connect(dialect);
      try {
        const { tablePrefix, table, rows } = await clientTableBefore(sequelize);
        const qi = sequelize.getQueryInterface();
        const before = await qi.describeTable(table);
        expect(before).not.toHaveProperty('resourceServer');
        const rowsBefore = await clientRows(sequelize, table);
        expect(rowsBefore).toHaveLength(2);
        // The reason for the upgrade: this version's model cannot read the old table.
        const models = defineModels(sequelize, { tablePrefix });
        await expect(createClientStore(models.client).getClient(rows[0]!.id)).rejects.toThrow();

        await migrate(sequelize, { tablePrefix, tables: ['client'] });

        const after = await qi.describeTable(table);
        const rest: Record<string, unknown> = { ...after };
        for (const added of ADDED_COLUMNS.client) {
          expect(after[added]?.allowNull, added).toBe(true);
          expect(after[added]?.defaultValue ?? null, added).toBeNull();
          delete rest[added];
        }
        expect(rest, 'every other column as it was').toEqual(before);
        expect(await clientRows(sequelize, table), 'every row as it was, the new columns NULL').toEqual(
          rowsBefore.map((r) => ({ ...r, ...addedClientNulls() })),
        );

        const clients = createClientStore(models.client);
        for (const r of rows) {
          const client = await clients.getClient(r.id);
          expect(client).toMatchObject({ id: r.id, secretHash: r.secretHash, scopes: ['read'] });
          expect(client, 'NULL reads as an ordinary client').not.toHaveProperty('resourceServer');
          for (const field of ['resources', 'name', 'clientSecretExpiresAt', 'registration', 'dpopBoundAccessTokens']) {
            expect(client, `NULL ${field} reads as absent`).not.toHaveProperty(field);
          }
        }
        // Dynamic client registration writes and reads every field on the upgraded table.
        const registered = makeRegisteredClient();
        expect(await createClientRegistrationStore(models.client).createClient(registered)).toBe(true);
        assertClientExactly(await clients.getClient(registered.id), registered, 'registered on the upgraded table');
        await models.client.destroy({ where: { id: registered.id } });
        await models.client.update({ resourceServer: true }, { where: { id: rows[0]!.id } });
        expect((await clients.getClient(rows[0]!.id))?.resourceServer).toBe(true);
        await models.client.update({ resourceServer: false }, { where: { id: rows[1]!.id } });
        expect(await clients.getClient(rows[1]!.id)).not.toHaveProperty('resourceServer');

        // Idempotent: a second run changes nothing.
        const settled = await clientRows(sequelize, table);
        await migrate(sequelize, { tablePrefix, tables: ['client'] });
        expect(await qi.describeTable(table)).toEqual(after);
        expect(await clientRows(sequelize, table)).toEqual(settled);
        await qi.dropTable(table);
      } finally {
        await sequelize.close();
        await cleanup();
      }
    });
  });
}

for (const dialect of ['postgres', 'mariadb', 'sqlite-file'] as const) {
  describe(`${dialect}: adding resourceServer from several processes at once`, () => {
    it('four instances migrating one old client table at the same moment all succeed', async () => {
      const db = dialect === 'sqlite-file' ? null : await freshDatabase(dialect);
      const instances: Sequelize[] = [];
      const cleanups: (() => Promise<void>)[] = [];
      try {
        const first = await connect(dialect, db?.url);
        instances.push(first.sequelize);
        cleanups.push(first.cleanup);
        for (let i = 1; i < 4; i++) instances.push((await connect(dialect, db?.url ?? first.location)).sequelize);
        const { tablePrefix, table, rows } = await clientTableBefore(first.sequelize);
        await Promise.all(instances.map((s) => s.authenticate()));
        const results = await Promise.allSettled(instances.map((s) => migrate(s, { tablePrefix, tables: ['client'] })));
        expect(results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []))).toEqual([]);
        expect((await first.sequelize.getQueryInterface().describeTable(table)).resourceServer?.allowNull).toBe(true);
        const client = await createClientStore(defineModels(first.sequelize, { tablePrefix }).client).getClient(rows[0]!.id);
        expect(client).toMatchObject({ id: rows[0]!.id });
        expect(client).not.toHaveProperty('resourceServer');
      } finally {
        for (const s of instances) await s.close();
        for (const c of cleanups) await c();
        await db?.drop();
      }
    });
  });
}

/**
 * Grant and token tables as versions before RFC 8707 created them (no `resources` column), under
 * a fresh prefix, each with rows written through models of that shape.
 */
async function tablesBeforeResources(sequelize: Sequelize) {
  const tablePrefix = uniquePrefix();
  const names = tableNamesFor({ tablePrefix });
  const qi = sequelize.getQueryInterface();
  const { resources: _g, ...grantColumns } = columnsFor('grant');
  const { resources: _t, ...tokenColumns } = columnsFor('token');
  await qi.createTable(names.grant, grantColumns, tableOptionsFor(sequelize));
  await qi.createTable(names.token, tokenColumns, tableOptionsFor(sequelize));
  const oldGrant = sequelize.define(`${tablePrefix}old_grant`, grantColumns, { tableName: names.grant, timestamps: false });
  const oldToken = sequelize.define(`${tablePrefix}old_token`, tokenColumns, { tableName: names.token, timestamps: false });
  const live = grant();
  const spent = grant();
  const grants = createGrantStore(oldGrant);
  for (const g of [live, spent]) await grants.saveGrant(g);
  expect((await grants.consumeGrant(spent.clientId, spent.code))?.outcome).toBe('consumed');
  const tokens = createTokenStore(oldToken);
  const pair = {
    access: {
      token: rid('at'),
      clientId: live.clientId,
      userId: live.userId,
      scopes: ['read'],
      expiresAt: live.expiresAt,
      grantId: live.grantId,
    },
    refresh: {
      token: rid('rt'),
      clientId: live.clientId,
      userId: live.userId,
      scopes: ['read'],
      expiresAt: live.expiresAt,
      grantId: live.grantId,
    },
  };
  await tokens.saveTokens(pair.access, pair.refresh);
  return { tablePrefix, names, live, spent, pair };
}

async function rowsOf(sequelize: Sequelize, table: string, key: string): Promise<Record<string, unknown>[]> {
  const qi = sequelize.getQueryInterface();
  return sequelize.query(`SELECT * FROM ${qi.quoteIdentifier(table)} ORDER BY ${qi.quoteIdentifier(key)}`, { type: QueryTypes.SELECT });
}

for (const dialect of DIALECTS) {
  describe(`${dialect}: grant and token tables made before resources (RFC 8707)`, () => {
    it('get a nullable resources column from migrate(), keeping their rows; old codes and tokens name no resource', async () => {
      const { sequelize, cleanup } = await connect(dialect);
      try {
        const { tablePrefix, names, live, spent, pair } = await tablesBeforeResources(sequelize);
        const qi = sequelize.getQueryInterface();
        const before = { grant: await qi.describeTable(names.grant), token: await qi.describeTable(names.token) };
        expect(before.grant).not.toHaveProperty('resources');
        expect(before.token).not.toHaveProperty('resources');
        const rowsBefore = {
          grant: await rowsOf(sequelize, names.grant, 'codeHash'),
          token: await rowsOf(sequelize, names.token, 'tokenHash'),
        };
        expect(rowsBefore.grant).toHaveLength(2);
        expect(rowsBefore.token).toHaveLength(2);
        // The reason for the upgrade: this version's models cannot use the old tables.
        const models = defineModels(sequelize, { tablePrefix });
        await expect(createTokenStore(models.token).getAccessToken(pair.access.token)).rejects.toThrow();

        await migrate(sequelize, { tablePrefix, tables: ['grant', 'token'] });

        for (const table of ['grant', 'token'] as const) {
          const after = await qi.describeTable(names[table]);
          expect(after.resources?.allowNull).toBe(true);
          expect(after.resources?.defaultValue ?? null).toBeNull();
          const { resources: _, ...rest } = after;
          expect(rest, `${table}: every other column as it was`).toEqual(before[table]);
        }
        expect(await rowsOf(sequelize, names.grant, 'codeHash'), 'every grant row as it was, the new column NULL').toEqual(
          rowsBefore.grant.map((r) => ({ ...r, resources: null })),
        );
        expect(await rowsOf(sequelize, names.token, 'tokenHash'), 'every token row as it was, the new column NULL').toEqual(
          rowsBefore.token.map((r) => ({ ...r, resources: null })),
        );

        const grants = createGrantStore(models.grant);
        const tokens = createTokenStore(models.token);
        const taken = await grants.consumeGrant(live.clientId, live.code);
        expect(taken?.outcome).toBe('consumed');
        expect(taken?.outcome === 'consumed' && taken.record, 'an old code names no resource').not.toHaveProperty('resources');
        expect(await grants.consumeGrant(spent.clientId, spent.code)).toEqual({ outcome: 'replayed', grantId: spent.grantId });
        const access = await tokens.getAccessToken(pair.access.token);
        expect(access).toMatchObject({ clientId: pair.access.clientId, scopes: ['read'] });
        expect(access, 'an old access token has no audience').not.toHaveProperty('audience');
        expect(await tokens.getRefreshToken(pair.refresh.token)).not.toHaveProperty('resources');
        // New codes and tokens keep theirs.
        const bound = grant({ resources: ['https://api.example/'] });
        await grants.saveGrant(bound);
        const got = await grants.consumeGrant(bound.clientId, bound.code);
        expect(got?.outcome === 'consumed' && got.record.resources).toEqual(['https://api.example/']);

        // Idempotent: a second run changes nothing.
        const settled = await rowsOf(sequelize, names.grant, 'codeHash');
        const shapeAfter = await qi.describeTable(names.grant);
        await migrate(sequelize, { tablePrefix, tables: ['grant', 'token'] });
        expect(await qi.describeTable(names.grant)).toEqual(shapeAfter);
        expect(await rowsOf(sequelize, names.grant, 'codeHash')).toEqual(settled);
        for (const table of [names.grant, names.token]) await qi.dropTable(table);
      } finally {
        await sequelize.close();
        await cleanup();
      }
    });
  });
}
