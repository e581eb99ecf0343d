/**
 * The purge of never-used self-registered clients on a client table made before the
 * `registeredAt` and `firstUsedAt` columns: `migrate()` adds them, the clients registered before
 * are never purged (their registration date is unknown), those registered after are; and bad
 * arguments are refused.
 */
import { makeMinimalRegisteredClient, makeRegisteredClient } from '@portcullis/binding-testkit';
import { describe, expect, it } from 'vitest';
import { createClientRegistrationStore, createClientStore, defineModels, migrate, tableNamesFor } from '../src/index.js';
import { columnsFor, tableOptionsFor } from '../src/models.js';
import { connect, DIALECTS, uniquePrefix } from './databases.js';

const LONG_AGO = new Date(Date.UTC(1999, 0, 2, 3, 4, 5, 6));

for (const dialect of DIALECTS) {
  describe(`${dialect}: never-used registrations`, () => {
    it('clients registered before migrate() added the purge columns are kept; later ones are purged unless used', async () => {
      const { sequelize, cleanup } = await connect(dialect);
      try {
        const tablePrefix = uniquePrefix();
        const table = tableNamesFor({ tablePrefix }).client;
        const { registeredAt: _r, firstUsedAt: _f, ...before } = columnsFor('client');
        const qi = sequelize.getQueryInterface();
        await qi.createTable(table, before, tableOptionsFor(sequelize));
        // A client registered by the previous version, long ago and never marked (there was no mark).
        const legacy = makeMinimalRegisteredClient();
        await qi.bulkInsert(table, [
          {
            id: legacy.id,
            secretHash: null,
            redirectUris: JSON.stringify(legacy.redirectUris),
            grantTypes: JSON.stringify(legacy.grantTypes),
            scopes: '[]',
            tokenEndpointAuthMethod: 'none',
            registration: JSON.stringify({ ...legacy.registration, issuedAt: LONG_AGO.toISOString() }),
          },
        ]);
        await migrate(sequelize, { tablePrefix, tables: ['client'] });
        const models = defineModels(sequelize, { tablePrefix });
        const clients = createClientStore(models.client);
        const store = createClientRegistrationStore(models.client);
        const fresh = makeRegisteredClient({ registration: { ...makeRegisteredClient().registration!, issuedAt: LONG_AGO } });
        const used = makeMinimalRegisteredClient({ registration: { ...makeMinimalRegisteredClient().registration!, issuedAt: LONG_AGO } });
        expect(await store.createClient(fresh)).toBe(true);
        expect(await store.createClient(used)).toBe(true);
        expect(await store.markClientUsed!(used.id, new Date())).toBe(true);

        expect(await store.purgeUnusedClients!(new Date(), 100)).toBe(1);
        expect(await clients.getClient(fresh.id)).toBeNull();
        expect((await clients.getClient(legacy.id))?.registration?.issuedAt.getTime()).toBe(LONG_AGO.getTime());
        expect((await clients.getClient(used.id))?.registration?.firstUsedAt).toBeInstanceOf(Date);
        // The legacy client can still be marked, like any other.
        expect(await store.markClientUsed!(legacy.id, new Date())).toBe(true);
        await qi.dropTable(table);
      } finally {
        await sequelize.close();
        await cleanup();
      }
    });
  });
}

describe('sqlite-memory: hostile arguments', () => {
  it('refuses a negative, fractional or NaN limit; an over-long id is not marked; a model without the columns has no purge', async () => {
    const { sequelize, cleanup } = await connect('sqlite-memory');
    try {
      const tablePrefix = uniquePrefix();
      await migrate(sequelize, { tablePrefix, tables: ['client'] });
      const models = defineModels(sequelize, { tablePrefix });
      const store = createClientRegistrationStore(models.client);
      const c = makeMinimalRegisteredClient({ registration: { ...makeMinimalRegisteredClient().registration!, issuedAt: LONG_AGO } });
      await store.createClient(c);
      for (const limit of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        await expect(store.purgeUnusedClients!(new Date(), limit)).rejects.toThrow(/limit must be a non-negative integer/);
      }
      expect(await createClientStore(models.client).getClient(c.id)).not.toBeNull();
      expect(await store.markClientUsed!('x'.repeat(300), new Date())).toBe(false);
      expect(await store.markClientUsed!("' OR 1=1 --", new Date())).toBe(false);
      expect((await createClientStore(models.client).getClient(c.id))?.registration?.firstUsedAt).toBeUndefined();

      const { registeredAt: _r, firstUsedAt: _f, ...columns } = columnsFor('client');
      const own = sequelize.define(`${uniquePrefix()}clients`, columns, { timestamps: false });
      const ownStore = createClientRegistrationStore(own as never);
      expect(ownStore.markClientUsed).toBeUndefined();
      expect(ownStore.purgeUnusedClients).toBeUndefined();
    } finally {
      await sequelize.close();
      await cleanup();
    }
  });
});
