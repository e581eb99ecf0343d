import { clientStoreSuite, ephemeralStoreSuite, grantStoreSuite, tokenStoreSuite, userStoreSuite } from '@portcullis/binding-testkit';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createClientStore, createEphemeralStore, createGrantStore, createTokenStore, createUserStore } from '../src/index.js';
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
      name: `sequelize ${dialect}`,
      create: async () => {
        grantDb = await open();
        return createGrantStore(grantDb.models.grant);
      },
      probe: { read: (clientId, code) => probes(grantDb!).grant.read(clientId, code) },
    });

    let tokenDb: TestDatabase | undefined;
    tokenStoreSuite(t, {
      name: `sequelize ${dialect}`,
      create: async () => {
        tokenDb = await open();
        return createTokenStore(tokenDb.models.token);
      },
      probe: {
        readAccess: (token) => probes(tokenDb!).token.readAccess(token),
        readRefresh: (token) => probes(tokenDb!).token.readRefresh(token),
      },
    });

    ephemeralStoreSuite(t, {
      name: `sequelize ${dialect}`,
      create: async () => createEphemeralStore((await open()).models.ephemeral),
    });

    let clientDb: Promise<TestDatabase> | undefined;
    clientStoreSuite(t, {
      name: `sequelize ${dialect}`,
      create: async (seed) => {
        clientDb ??= open();
        const db = await clientDb;
        await db.models.client.bulkCreate(seed.map((c) => ({ ...c })));
        return createClientStore(db.models.client);
      },
    });

    let userDb: Promise<TestDatabase> | undefined;
    userStoreSuite(t, {
      name: `sequelize ${dialect}`,
      create: async (seed) => {
        userDb ??= open();
        const db = await userDb;
        await db.models.user.bulkCreate(seed.map((s) => ({ id: s.user.id, username: s.username, passwordHash: s.passwordHash })));
        return createUserStore(db.models.user);
      },
    });
  });
}
