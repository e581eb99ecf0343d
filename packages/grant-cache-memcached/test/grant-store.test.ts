import { grantStoreSuite } from '@portcullis/binding-testkit';
import { Client } from 'memjs';
import { afterAll, beforeAll, describe, inject, it } from 'vitest';
import { createMemcachedGrantCache, type MemcachedGrantCache } from '../src/index.js';

const t = { describe, it, beforeAll, afterAll };

// A pool of two servers: memjs spreads the keys over both. The probe reads raw items with its
// own client over the same pool (same key distribution).
let store: MemcachedGrantCache;
const raw = Client.create(inject('memcachedServers').join(','), { logger: { log: () => {} } });

grantStoreSuite(t, {
  name: 'memcached (pool of two)',
  create: async () => {
    store = createMemcachedGrantCache({ servers: inject('memcachedServers'), keyPrefix: 'suite:' });
    return store;
  },
  destroy: async () => {
    await store.disconnect();
    raw.close();
  },
  probe: {
    read: async (clientId, code) => (await raw.get(store.keyFor(clientId, code))).value?.toString('utf8') ?? null,
  },
});
