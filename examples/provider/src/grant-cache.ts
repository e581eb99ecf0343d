import { type CacheGrantConfig, createCacheGrant, type GrantStore, type Logger } from '@portcullis/core';
import type { GrantCacheConfig } from './config.js';
import { connectRedis, type RedisTarget } from './state/redis.js';

/** A grant store the app opened, and how to close it. */
export interface OpenGrantCache {
  readonly store: GrantStore;
  /** What it is, for the startup banner (no credentials). */
  readonly description: string;
  /**
   * One cheap round trip to the cache server (Redis `PING`, a memcached read of a key that is
   * never written), on a connection of its own; throws when the server is unreachable.
   */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A probe connection opened on first use and closed with the cache. A failed ping drops it (the
 * next ping opens a new one), so the probe never waits on a connection that is retrying.
 */
function lazyProbe<C>(open: () => Promise<C>, use: (c: C) => Promise<unknown>, close: (c: C) => Promise<void>) {
  let client: Promise<C> | null = null;
  const drop = async () => {
    const c = client;
    client = null;
    if (c) await c.then(close, () => {}).catch(() => {});
  };
  return {
    async ping(): Promise<void> {
      client ??= open();
      try {
        await use(await client);
      } catch (err) {
        await drop();
        throw err;
      }
    },
    close: drop,
  };
}

function redisProbe(target: RedisTarget) {
  return lazyProbe(
    // No reconnecting and no offline queue: a probe that fails is dropped and the next one reconnects.
    () => connectRedis(target, { connectTimeout: 2000, disableOfflineQueue: true, reconnect: false }),
    (c) => c.ping(),
    async (c) => c.destroy(),
  );
}

/**
 * The grant cache on the Redis Cluster of `REDIS_CLUSTER_NODES`: a cluster client (node-redis
 * `createCluster`) connected here and handed to `@portcullis/grant-cache-redis`, which routes
 * each code's key to its master; closed with the cache.
 */
async function openClusterGrantCache(target: RedisTarget, defaultTimeout: number): Promise<{ store: GrantStore; close(): Promise<void> }> {
  const client = await connectRedis(target, { connectTimeout: 1000, disableOfflineQueue: true });
  try {
    const { createRedisGrantCache } = await import('@portcullis/grant-cache-redis');
    const store = createRedisGrantCache({ client, defaultTimeout });
    return { store, close: async () => client.destroy() };
  } catch (err) {
    client.destroy();
    throw err;
  }
}

function memcachedProbe(servers: readonly string[]) {
  return lazyProbe(
    async () => {
      const specifier = 'memjs'; // no type declarations: the two calls used are typed here
      const { Client } = (await import(specifier)) as {
        Client: { create(servers: string, options: object): { get(key: string): Promise<unknown>; close(): void } };
      };
      return Client.create(servers.join(','), { retries: 0, timeout: 1, logger: { log: () => {} } });
    },
    (c) => c.get('portcullis:readyz'),
    async (c) => c.close(),
  );
}

/**
 * Opens the grant cache `GRANT_CACHE` names, through core's `createCacheGrant` (which loads the
 * backend package). Codes are kept at most `defaultTimeout` seconds (the authorization code
 * lifetime). `database` returns `null`: the database binding keeps them.
 */
export async function openGrantCache(config: GrantCacheConfig, defaultTimeout: number, logger: Logger): Promise<OpenGrantCache | null> {
  let settings: CacheGrantConfig;
  let description: string;
  let probe: { ping(): Promise<void>; close(): Promise<void> } = { ping: async () => {}, close: async () => {} };
  switch (config.type) {
    case 'database':
      return null;
    case 'memory':
      settings = { type: 'memory', threshold: config.threshold, defaultTimeout };
      description = `memory (at most ${config.threshold} codes)`;
      break;
    case 'redis':
      if (config.clusterNodes) {
        const cluster = await openClusterGrantCache(config, defaultTimeout);
        const clusterProbe = redisProbe(config);
        return {
          store: cluster.store,
          description: `redis cluster (${new Set([new URL(config.url).host, ...config.clusterNodes]).size} seed nodes)`,
          ping: () => clusterProbe.ping(),
          close: async () => {
            await clusterProbe.close();
            await cluster.close();
          },
        };
      }
      settings = { type: 'redis', redisUrl: config.url, defaultTimeout };
      description = 'redis';
      probe = redisProbe(config);
      break;
    case 'memcached':
      // memcached counts expiry in whole seconds.
      settings = { type: 'memcached', memcachedServers: config.servers, defaultTimeout: Math.max(1, defaultTimeout) };
      description = `memcached (${config.servers.length} servers)`;
      probe = memcachedProbe(config.servers);
      break;
  }
  const store = await createCacheGrant(settings, { importModule: (s) => import(s), logger });
  const disconnect = (store as GrantStore & { disconnect?: () => Promise<void> }).disconnect;
  return {
    store,
    description,
    ping: () => probe.ping(),
    close: async () => {
      await probe.close();
      await disconnect?.call(store);
    },
  };
}
