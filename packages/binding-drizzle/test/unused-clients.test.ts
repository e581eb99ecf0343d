/**
 * The purge of never-used registrations beyond the testkit's check: clients registered before
 * the `registered_at` column existed (NULL) are never purged, and hostile arguments are refused.
 */
import { makeMinimalRegisteredClient } from '@portcullis/binding-testkit';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createDrizzleStores } from '../src/index.js';
import { DIALECTS, openDatabase } from './databases.js';

const LONG_AGO = new Date(Date.UTC(1999, 0, 2, 3, 4, 5, 6));
const registeredLongAgo = () =>
  makeMinimalRegisteredClient({ registration: { ...makeMinimalRegisteredClient().registration!, issuedAt: LONG_AGO } });

for (const dialect of DIALECTS) {
  describe(`${dialect}: never-used registrations`, () => {
    it('a client whose registered_at is NULL (registered before the column) is kept; bad arguments are refused', async () => {
      const db = await openDatabase(dialect);
      try {
        const { clients, registrations } = createDrizzleStores(db.options);
        const legacy = registeredLongAgo();
        const fresh = registeredLongAgo();
        expect(await registrations.createClient(legacy)).toBe(true);
        expect(await registrations.createClient(fresh)).toBe(true);
        // As the previous version left it: no registered_at.
        await db.rows(sql`UPDATE portcullis_clients SET registered_at = NULL WHERE id = ${legacy.id}`);

        for (const limit of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
          await expect(registrations.purgeUnusedClients!(new Date(), limit)).rejects.toThrow(/limit must be a non-negative integer/);
        }
        for (const id of ['x'.repeat(300), "' OR 1=1 --", `${fresh.id.toUpperCase()}`]) {
          expect(await registrations.markClientUsed!(id, new Date())).toBe(false);
        }
        expect((await clients.getClient(fresh.id))?.registration?.firstUsedAt).toBeUndefined();

        expect(await registrations.purgeUnusedClients!(new Date(), 100)).toBe(1);
        expect(await clients.getClient(fresh.id)).toBeNull();
        expect((await clients.getClient(legacy.id))?.registration?.issuedAt.getTime()).toBe(LONG_AGO.getTime());
        expect(await registrations.markClientUsed!(legacy.id, new Date())).toBe(true);
      } finally {
        await db.close();
      }
    });
  });
}
