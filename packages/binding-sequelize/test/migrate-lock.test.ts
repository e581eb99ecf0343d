/**
 * `migrate()` from several processes at once on a fresh database: each Sequelize instance has a
 * pool of its own, as separate processes would, and all start migrating at the same moment.
 * Without the migration lock, PostgreSQL and MariaDB answer some of them with unique-constraint
 * errors from concurrent CREATE TABLE / CREATE INDEX.
 */
import { randomBytes } from 'node:crypto';
import { Sequelize } from 'sequelize';
import { afterAll, describe, expect, it } from 'vitest';
import { createGrantStore, defineModels, MigrationLockTimeoutError, migrate, tableNamesFor, withMigrationLock } from '../src/index.js';
import { columnsFor, indexesFor } from '../src/models.js';
import { connect, freshDatabase, uniquePrefix } from './databases.js';

/** Instances migrating at once. */
const PROCESSES = 6;
/** Table sets migrated in turn (default names, then prefixed ones), each by all instances at once. */
const ROUNDS = 4;
const TABLES = ['client', 'user', 'grant', 'token'] as const;

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

/** A fresh database, dropped in teardown. */
async function fresh(dialect: 'postgres' | 'mariadb'): Promise<string> {
  const db = await freshDatabase(dialect);
  cleanups.push(db.drop);
  return db.url;
}

/** Another Sequelize instance (pool of its own) on `url`, closed in teardown. */
async function instance(dialect: 'postgres' | 'mariadb', url: string, pool?: { max: number }): Promise<Sequelize> {
  const sequelize = pool ? new Sequelize(url, { logging: false, pool }) : (await connect(dialect, url)).sequelize;
  cleanups.push(() => sequelize.close());
  return sequelize;
}

/** Checks every table has all its columns and indexes, and that a grant can be saved and consumed. */
async function expectComplete(sequelize: Sequelize, tablePrefix: string | undefined): Promise<void> {
  const qi = sequelize.getQueryInterface();
  const names = tableNamesFor({ tablePrefix });
  for (const table of TABLES) {
    const columns = Object.keys(await qi.describeTable(names[table])).sort();
    expect(columns, names[table]).toEqual(Object.keys(columnsFor(table)).sort());
    const indexes = ((await qi.showIndex(names[table])) as { name: string }[]).map((i) => i.name);
    for (const index of indexesFor(table, names[table])) expect(indexes, names[table]).toContain(index.name);
  }
  const grants = createGrantStore(defineModels(sequelize, { tablePrefix }).grant);
  const code = randomBytes(16).toString('hex');
  const grant = {
    code,
    clientId: 'c1',
    userId: 'u1',
    redirectUri: 'https://app.example/cb',
    scopes: ['read'],
    grantId: 'g1',
    codeChallenge: null,
    codeChallengeMethod: null,
  };
  await grants.saveGrant({ ...grant, expiresAt: new Date(Date.now() + 60_000) });
  expect((await grants.consumeGrant('c1', code))?.outcome).toBe('consumed');
}

for (const dialect of ['postgres', 'mariadb'] as const) {
  describe(`${dialect}: migrate() from several processes at once`, () => {
    it(`${PROCESSES} instances migrating a fresh database at the same moment all succeed, ${ROUNDS} times, and the schema is complete`, async () => {
      const url = await fresh(dialect);
      // One of them with a pool of a single connection: migrate() needs no second one.
      const instances = await Promise.all(
        Array.from({ length: PROCESSES }, (_, i) => instance(dialect, url, i === 0 ? { max: 1 } : undefined)),
      );
      // Every pool holds an open connection, so the migrations start together rather than in
      // the order their connections come up.
      await Promise.all(instances.map((s) => s.authenticate()));
      const prefixes = [undefined, ...Array.from({ length: ROUNDS - 1 }, () => uniquePrefix())];
      for (const tablePrefix of prefixes) {
        const results = await Promise.allSettled(instances.map((s) => migrate(s, { tablePrefix })));
        const failures = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
        expect(failures, `tables ${tablePrefix ?? '(default names)'}`).toEqual([]);
        await expectComplete(instances[0] as Sequelize, tablePrefix);
      }
    });

    it('a process waits at most lockTimeoutMs for the lock, then throws MigrationLockTimeoutError; the lock is per database', async () => {
      const url = await fresh(dialect);
      const [holder, waiter] = await Promise.all([instance(dialect, url), instance(dialect, url)]);
      const other = await instance(dialect, await fresh(dialect));
      let release = () => {};
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      let entered = () => {};
      const inside = new Promise<void>((resolve) => {
        entered = resolve;
      });
      const holding = withMigrationLock(holder, async () => {
        entered();
        await released;
        return 'done';
      });
      try {
        await inside;
        const err = await migrate(waiter, { lockTimeoutMs: 1000 }).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(MigrationLockTimeoutError);
        expect(err).toMatchObject({
          code: 'PORTCULLIS_MIGRATION_LOCK_TIMEOUT',
          message: expect.stringMatching(/migration lock within 1000 ms/),
        });
        // Another database on the same server is not blocked.
        await migrate(other, { lockTimeoutMs: 5000 });
        await expectComplete(other, undefined);
      } finally {
        release();
      }
      expect(await holding).toBe('done');
      await migrate(waiter, { lockTimeoutMs: 5000 });
      await expectComplete(waiter, undefined);
    });

    it('withMigrationLock() runs migrate() and a seed under one lock; the nested migrate() does not wait for itself', async () => {
      const url = await fresh(dialect);
      const instances = await Promise.all(Array.from({ length: 3 }, () => instance(dialect, url)));
      // Each process seeds the client only if it is missing: under the lock, exactly one creates it.
      const created = await Promise.all(
        instances.map((s) =>
          withMigrationLock(
            s,
            async () => {
              await migrate(s, { lockTimeoutMs: 1000 });
              const { client } = defineModels(s);
              if (await client.findByPk('seeded')) return false;
              await client.create({ id: 'seeded', secretHash: null, redirectUris: [], grantTypes: ['client_credentials'], scopes: [] });
              return true;
            },
            { timeoutMs: 20_000 },
          ),
        ),
      );
      expect(created.filter(Boolean)).toHaveLength(1);
      await expectComplete(instances[0] as Sequelize, undefined);
      // The lock is free again: a new caller gets it at once.
      expect(await withMigrationLock(instances[1] as Sequelize, async () => 'again', { timeoutMs: 1000 })).toBe('again');
    });
  });
}

describe('sqlite-file', () => {
  it('withMigrationLock() runs fn directly and migrate() needs no lock', async () => {
    const { sequelize, cleanup } = await connect('sqlite-file');
    try {
      expect(await withMigrationLock(sequelize, async () => migrate(sequelize).then(() => 'ok'))).toBe('ok');
      await expectComplete(sequelize, undefined);
    } finally {
      await sequelize.close();
      await cleanup();
    }
  });
});
