/**
 * The published contract suites of @portcullis/binding-testkit on every database, over real
 * connections, with probes reading the raw rows; and the permissive provider suite with this
 * binding's grants and tokens behind a real provider.
 */
import { clientStoreSuite, grantStoreSuite, permissiveProviderSuite, tokenStoreSuite, userStoreSuite } from '@portcullis/binding-testkit';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createDrizzleStores } from '../src/index.js';
import { DIALECTS, openDatabase, probes, type TestDatabase } from './databases.js';

const t = { describe, it, beforeAll, afterAll };

for (const dialect of DIALECTS) {
  describe(dialect, () => {
    // One database per store suite: the token suite expects a fresh store.
    const opened: TestDatabase[] = [];
    const open = async () => {
      const db = await openDatabase(dialect);
      opened.push(db);
      return db;
    };
    afterAll(async () => {
      await Promise.all(opened.map((db) => db.close()));
    });

    let grantDb: TestDatabase | undefined;
    grantStoreSuite(t, {
      name: `drizzle ${dialect}`,
      create: async () => {
        grantDb = await open();
        return createDrizzleStores(grantDb.options).grants;
      },
      probe: { read: (clientId, code) => probes(grantDb!).grant.read(clientId, code) },
    });

    let tokenDb: TestDatabase | undefined;
    tokenStoreSuite(t, {
      name: `drizzle ${dialect}`,
      create: async () => {
        tokenDb = await open();
        return createDrizzleStores(tokenDb.options).tokens;
      },
      probe: {
        readAccess: (token) => probes(tokenDb!).token.readAccess(token),
        readRefresh: (token) => probes(tokenDb!).token.readRefresh(token),
      },
    });

    let clientDb: Promise<TestDatabase> | undefined;
    clientStoreSuite(t, {
      name: `drizzle ${dialect}`,
      create: async (seed) => {
        clientDb ??= open();
        const db = await clientDb;
        await db.seed(seed);
        return createDrizzleStores(db.options).clients;
      },
    });

    let userDb: Promise<TestDatabase> | undefined;
    userStoreSuite(t, {
      name: `drizzle ${dialect}`,
      create: async (seed) => {
        userDb ??= open();
        const db = await userDb;
        await db.seed(
          [],
          seed.map((s) => ({ id: s.user.id, username: s.username, passwordHash: s.passwordHash })),
        );
        return createDrizzleStores(db.options).users;
      },
    });

    permissiveProviderSuite(t, {
      name: `drizzle ${dialect}`,
      create: async () => {
        const { grants, tokens } = createDrizzleStores((await open()).options);
        return { grants, tokens };
      },
    });
  });
}
