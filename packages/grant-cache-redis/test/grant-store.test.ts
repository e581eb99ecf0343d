import { grantStoreSuite } from '@portcullis/binding-testkit';
import { createClient, createCluster } from 'redis';
import { afterAll, beforeAll, describe, inject, it } from 'vitest';
import { createRedisGrantCache, type RedisGrantCache } from '../src/index.js';

const t = { describe, it, beforeAll, afterAll };

// Single node: the cache builds its own client from a URL; the probe reads raw keys with another.
{
  let store: RedisGrantCache;
  const raw = createClient({ url: inject('redisUrl') });
  raw.on('error', () => {});
  grantStoreSuite(t, {
    name: 'redis (single node, own client)',
    create: async () => {
      await raw.connect();
      store = createRedisGrantCache({ url: inject('redisUrl'), keyPrefix: 'suite:' });
      return store;
    },
    destroy: async () => {
      await store.disconnect();
      raw.destroy();
    },
    probe: { read: (clientId, code) => raw.get(store.keyFor(clientId, code)) },
  });
}

// Redis Cluster: the application's own cluster client is passed in and used for the probe too.
{
  const cluster = createCluster({
    rootNodes: inject('redisClusterNodes').map(({ host, port }) => ({ url: `redis://${host}:${port}` })),
  });
  cluster.on('error', () => {});
  let store: RedisGrantCache;
  grantStoreSuite(t, {
    name: 'redis cluster (application client)',
    create: async () => {
      await cluster.connect();
      store = createRedisGrantCache({ client: cluster, keyPrefix: 'cluster:' });
      return store;
    },
    destroy: async () => {
      cluster.destroy();
    },
    probe: { read: (clientId, code) => cluster.get(store.keyFor(clientId, code)) },
  });
}
