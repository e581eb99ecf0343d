import assert from 'node:assert/strict';
import {
  authorizationCodeFlow,
  GRANT_CACHE_CLIENT,
  grantCacheProvider,
  grantCacheProviderSuite,
  redeemCode,
} from '@portcullis/binding-testkit';
import { checkProviderDownAndBack, type MemcachedServer, startMemcached } from '@portcullis/binding-testkit/servers';
import { createCacheGrant, digestToken } from '@portcullis/core';
import { Client } from 'memjs';
import { afterAll, beforeAll, describe, inject, it } from 'vitest';
import { createMemcachedGrantCache, type MemcachedGrantCache } from '../src/index.js';

const t = { describe, it, beforeAll, afterAll };
const servers = inject('memcachedServers');
const raw = Client.create(servers.join(','), { logger: { log: () => {} } });
afterAll(() => {
  raw.close();
});

// The end-to-end checks every grant cache shares. A consumed code leaves a marker, so a replayed
// code is reported and core revokes the tokens minted from it (the cache declares detectsReplay).
{
  let cache: MemcachedGrantCache;
  grantCacheProviderSuite(t, {
    name: 'memcached',
    create: async () => {
      cache = createMemcachedGrantCache({ servers, keyPrefix: 'e2e:' });
      return cache;
    },
    destroy: () => cache.disconnect(),
    probe: { read: async (clientId, code) => (await raw.get(cache.keyFor(clientId, code))).value?.toString('utf8') ?? null },
  });
}

describe('provider with the memcached grant cache', () => {
  it("core's Flask-style config builds this cache (OAUTH2_CACHE_TYPE=memcached)", async () => {
    const store = await createCacheGrant(
      { OAUTH2_CACHE_TYPE: 'memcached', OAUTH2_CACHE_MEMCACHED_SERVERS: servers.join(','), OAUTH2_CACHE_KEY_PREFIX: 'flask:' },
      { importModule: (s) => import(s) },
    );
    try {
      const provider = await grantCacheProvider(store);
      const { code, verifier } = await authorizationCodeFlow(provider, GRANT_CACHE_CLIENT);
      const key = (store as MemcachedGrantCache).keyFor('c1', digestToken(code));
      assert.ok(key.startsWith('flask:grant:'), 'keys use the configured prefix');
      assert.ok((await raw.get(key)).value, 'the code is stored');
      assert.equal((await redeemCode(provider, GRANT_CACHE_CLIENT, code, verifier)).status, 200);
    } finally {
      await (store as MemcachedGrantCache).disconnect();
    }
  });
});

describe('provider with the memcached grant cache: server down and back', () => {
  let server: MemcachedServer;
  let cache: MemcachedGrantCache;
  beforeAll(async () => {
    server = await startMemcached();
    cache = createMemcachedGrantCache({ servers: [server.address] });
  });
  afterAll(async () => {
    await cache?.disconnect();
    await server?.stop();
  });

  it('answers 503 temporarily_unavailable while memcached is down, and works again after restart', async () => {
    await checkProviderDownAndBack(cache, server);
  });
});
