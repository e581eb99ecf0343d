/**
 * The published contract suites of @portcullis/binding-testkit on PostgreSQL and SQLite through
 * Prisma clients (driver adapters @prisma/adapter-pg, @prisma/adapter-libsql) over real connections, with probes reading the raw
 * rows; and the permissive provider suite with this binding's grants and tokens behind a provider.
 */
import { clientStoreSuite, grantStoreSuite, permissiveProviderSuite, tokenStoreSuite, userStoreSuite } from '@portcullis/binding-testkit';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createPrismaStores } from '../src/index.js';
import { openDatabase, PROVIDERS, probes, type TestDatabase } from './databases.js';

const t = { describe, it, beforeAll, afterAll };

for (const provider of PROVIDERS) {
  describe(`${provider} through Prisma`, () => {
    // One database per store suite: the token suite expects a fresh store.
    const opened: TestDatabase[] = [];
    const open = async () => {
      const db = await openDatabase(provider);
      opened.push(db);
      return db;
    };
    afterAll(async () => {
      await Promise.all(opened.map((db) => db.close()));
    });

    let grantDb: TestDatabase | undefined;
    grantStoreSuite(t, {
      name: `prisma ${provider}`,
      create: async () => {
        grantDb = await open();
        return createPrismaStores({ prisma: grantDb.prisma }).grants;
      },
      probe: { read: (clientId, code) => probes(grantDb!).grant.read(clientId, code) },
    });

    let tokenDb: TestDatabase | undefined;
    tokenStoreSuite(t, {
      name: `prisma ${provider}`,
      create: async () => {
        tokenDb = await open();
        return createPrismaStores({ prisma: tokenDb.prisma }).tokens;
      },
      probe: {
        readAccess: (token) => probes(tokenDb!).token.readAccess(token),
        readRefresh: (token) => probes(tokenDb!).token.readRefresh(token),
      },
    });

    let clientDb: Promise<TestDatabase> | undefined;
    clientStoreSuite(t, {
      name: `prisma ${provider}`,
      create: async (seed) => {
        clientDb ??= open();
        const db = await clientDb;
        await db.seed(seed);
        return createPrismaStores({ prisma: db.prisma }).clients;
      },
    });

    let userDb: Promise<TestDatabase> | undefined;
    userStoreSuite(t, {
      name: `prisma ${provider}`,
      create: async (seed) => {
        userDb ??= open();
        const db = await userDb;
        await db.seed(
          [],
          seed.map((s) => ({ id: s.user.id, username: s.username, passwordHash: s.passwordHash })),
        );
        return createPrismaStores({ prisma: db.prisma }).users;
      },
    });

    permissiveProviderSuite(t, {
      name: `prisma ${provider}`,
      create: async () => {
        const { grants, tokens } = createPrismaStores({ prisma: (await open()).prisma });
        return { grants, tokens };
      },
    });
  });
}
