import assert from 'node:assert/strict';
import {
  authorizationCodeFlow,
  GRANT_CACHE_CLIENT,
  grantCacheProvider,
  grantCacheProviderSuite,
  redeemCode,
} from '@portcullis/binding-testkit';
import { checkProviderDownAndBack, type RedisServer, startRedis } from '@portcullis/binding-testkit/servers';
import { createCacheGrant, digestToken } from '@portcullis/core';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, inject, it } from 'vitest';
import { createRedisGrantCache, type RedisGrantCache } from '../src/index.js';

const t = { describe, it, beforeAll, afterAll };

// The end-to-end checks every grant cache shares; the probe reads raw keys with another client.
{
  const raw = createClient({ url: inject('redisUrl') });
  raw.on('error', () => {});
  let cache: RedisGrantCache;
  grantCacheProviderSuite(t, {
    name: 'redis',
    create: async () => {
      await raw.connect();
      cache = createRedisGrantCache({ url: inject('redisUrl'), keyPrefix: 'e2e:' });
      return cache;
    },
    destroy: async () => {
      await cache.disconnect();
      raw.destroy();
    },
    probe: { read: (clientId, code) => raw.get(cache.keyFor(clientId, code)) },
  });
}

describe('provider with the Redis grant cache', () => {
  const raw = createClient({ url: inject('redisUrl') });
  raw.on('error', () => {});
  beforeAll(async () => {
    await raw.connect();
  });
  afterAll(() => {
    raw.destroy();
  });

  it("core's Flask-style config builds this cache (OAUTH2_CACHE_TYPE=redis)", async () => {
    const store = await createCacheGrant(
      { OAUTH2_CACHE_TYPE: 'redis', OAUTH2_CACHE_REDIS_URL: inject('redisUrl'), OAUTH2_CACHE_KEY_PREFIX: 'flask:' },
      { importModule: (s) => import(s) },
    );
    try {
      const provider = await grantCacheProvider(store);
      const { code, verifier } = await authorizationCodeFlow(provider, GRANT_CACHE_CLIENT);
      assert.ok(await raw.get(`flask:grant:c1:${digestToken(code)}`), 'keys use the configured prefix');
      assert.equal((await redeemCode(provider, GRANT_CACHE_CLIENT, code, verifier)).status, 200);
    } finally {
      await (store as RedisGrantCache).disconnect();
    }
  });
});

describe('provider with the Redis grant cache: server down and back', () => {
  let server: RedisServer;
  let cache: RedisGrantCache;
  beforeAll(async () => {
    server = await startRedis();
    cache = createRedisGrantCache({ host: '127.0.0.1', port: server.port });
  });
  afterAll(async () => {
    await cache?.disconnect();
    await server?.stop();
  });

  it('answers 503 temporarily_unavailable while Redis is down, and works again after restart', async () => {
    await checkProviderDownAndBack(cache, server);
  });
});
