/**
 * migrate(): the shipped SQL files create the tables the default Drizzle tables describe, again
 * and again without harm (also when several processes start together); and the stores work on
 * tables of the application's own, mapped by key.
 */
import { grantChecks, makeGrant } from '@portcullis/binding-testkit';
import { type Column, getTableColumns, sql, type Table } from 'drizzle-orm';
import { getTableConfig as pgConfig, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDrizzleStores, migrate, migrationStatements, mysqlTables, pgTables, sqliteTables, TABLE_NAMES } from '../src/index.js';
import { DIALECTS, openDatabase, type TestDatabase } from './databases.js';

const TABLES = Object.values(TABLE_NAMES);

for (const dialect of DIALECTS) {
  describe(`${dialect}: migrate()`, () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await openDatabase(dialect);
    });
    afterAll(async () => {
      await db?.close();
    });

    it('ships a file with one CREATE TABLE per default table', async () => {
      const statements = await migrationStatements(dialect);
      for (const table of TABLES) {
        expect(statements.filter((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS ${table} (`))).toHaveLength(1);
      }
    });

    it('creates every column of the exported Drizzle tables, and Drizzle reads them back', async () => {
      const tables = { postgresql: pgTables, mysql: mysqlTables, sqlite: sqliteTables }[dialect];
      for (const table of Object.values(tables) as Table[]) {
        const names = (Object.values(getTableColumns(table)) as Column[]).map((c) => sql.identifier(c.name));
        // Fails with "no such column" when the SQL file and the Drizzle table disagree.
        await db.rows(sql`SELECT ${sql.join(names, sql`, `)} FROM ${table} WHERE 1 = 0`);
      }
    });

    it('runs again (also 4 at once) and keeps every row', async () => {
      const stores = createDrizzleStores(db.options);
      const grant = makeGrant();
      await stores.grants.saveGrant(grant);
      await db.seed([{ id: 'kept', secretHash: null, redirectUris: [], grantTypes: ['client_credentials'], scopes: [] }]);
      await migrate(db.options);
      await Promise.all(Array.from({ length: 4 }, () => migrate(db.options)));
      expect((await stores.clients.getClient('kept'))?.id).toBe('kept');
      const consumed = await stores.grants.consumeGrant(grant.clientId, grant.code);
      expect(consumed?.outcome).toBe('consumed');
    });
  });
}

describe('postgresql: tables of your own', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await openDatabase('postgresql');
  });
  afterAll(async () => {
    await db?.close();
  });

  it('a grant table of another name, with other column names and an extra column, passes the consume checks', async () => {
    // The keys the store needs, under the application's SQL names, plus a column of its own.
    const myGrants = pgTable(
      'app_codes',
      {
        codeHash: text('the_code').notNull(),
        clientId: text('app_client').notNull(),
        userId: text('app_user').notNull(),
        redirectUri: text('redirect_uri'),
        scopes: text('scopes').notNull(),
        expiresAt: timestamp('valid_until', { withTimezone: true, precision: 3 }).notNull(),
        grantId: text('family').notNull(),
        codeChallenge: text('code_challenge'),
        codeChallengeMethod: text('code_challenge_method'),
        resources: text('resources'),
        dpopJkt: text('key_thumbprint'),
        consumedAt: timestamp('used_at', { withTimezone: true, precision: 3 }),
        note: text('note').default('from the app'),
      },
      (t) => [primaryKey({ columns: [t.codeHash, t.clientId] })],
    );
    const columns = pgConfig(myGrants).columns.map(
      (c) => `"${c.name}" ${c.getSQLType()}${c.notNull ? ' NOT NULL' : ''}${c.name === 'note' ? " DEFAULT 'from the app'" : ''}`,
    );
    await db.rows(sql.raw(`CREATE TABLE app_codes (${columns.join(', ')}, PRIMARY KEY (the_code, app_client))`));
    if (db.options.dialect !== 'postgresql') throw new Error('unreachable');
    const { grants } = createDrizzleStores({ dialect: 'postgresql', db: db.options.db, tables: { grants: myGrants } });
    const capabilities = grants.capabilities;
    expect(capabilities).toEqual({ detectsReplay: true, ttlGranularity: 'ms' });
    for (const check of [
      grantChecks.consumeOnce,
      grantChecks.fieldsRoundTrip,
      grantChecks.nullRedirectUri,
      grantChecks.concurrentConsume,
      grantChecks.wrongClientDoesNotBurn,
      grantChecks.oddCodes,
    ]) {
      await check.run({ store: grants, capabilities: capabilities! });
    }
    const rows = await db.rows(sql`SELECT the_code, app_client, note FROM app_codes`);
    expect(rows.length).toBeGreaterThan(10);
    expect(rows.every((r) => r.note === 'from the app' && String(r.the_code).length === 64)).toBe(true);
    expect((await db.rows(sql`SELECT count(*)::int AS n FROM portcullis_grants`))[0]?.n, 'nothing went to the default table').toBe(0);
  });
});
