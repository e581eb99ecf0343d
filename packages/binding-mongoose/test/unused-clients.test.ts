/**
 * Hostile arguments to the first-use mark and the purge of never-used registrations; their
 * behaviour is the testkit's (`clientRegistrationStoreSuite`, in registration.test.ts).
 */
import { makeMinimalRegisteredClient } from '@portcullis/binding-testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientRegistrationStore, createClientStore } from '../src/index.js';
import { openTestDatabase, type TestDatabase } from './connect.js';

describe('mongoose: never-used registrations, hostile arguments', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await openTestDatabase('unused-clients');
  });
  afterAll(async () => {
    await db.close();
  });

  it('an operator object as id marks nothing; a bad limit is refused; documents written before firstUsedAt existed are purgeable', async () => {
    const store = createClientRegistrationStore(db.models.client);
    const clients = createClientStore(db.models.client);
    const c = makeMinimalRegisteredClient({
      registration: { ...makeMinimalRegisteredClient().registration!, issuedAt: new Date(Date.UTC(1999, 0, 1)) },
    });
    expect(await store.createClient(c)).toBe(true);
    for (const id of [{ $gt: '' }, { $ne: null }, ['x']]) {
      expect(await store.markClientUsed!(id as unknown as string, new Date())).toBe(false);
    }
    expect((await clients.getClient(c.id))?.registration?.firstUsedAt).toBeUndefined();
    for (const limit of [-1, 1.5, Number.NaN]) {
      await expect(store.purgeUnusedClients!(new Date(), limit)).rejects.toThrow(/limit must be a non-negative integer/);
    }
    expect(await clients.getClient(c.id)).not.toBeNull();
    expect(await store.purgeUnusedClients!(new Date(Date.UTC(2000, 0, 1)), 1000)).toBeGreaterThanOrEqual(1);
    expect(await clients.getClient(c.id)).toBeNull();
  });
});
