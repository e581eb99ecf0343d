import {
  type CacheGrantConfig,
  createCacheGrant,
  type EphemeralStore,
  type GrantStore,
  type Logger,
  StoreUnavailableError,
} from '@portcullis/core';
import type { MemcachedEphemeralClientLike } from '@portcullis/grant-cache-memcached';
import type { RedisEphemeralClientLike } from '@portcullis/grant-cache-redis';
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
  /**
   * Core's ephemeral store (pushed authorization requests, DPoP proof ids) on the same server
   * (Redis, memcached), so that every process shares it; absent for the memory cache. It
   * connects on first use and is closed with the cache.
   */
  readonly ephemeral?: EphemeralStore;
}

/** The ephemeral store opened beside each grant cache store (see `ephemeralStoreOf`). */
const ephemeralOf = new WeakMap<GrantStore, EphemeralStore>();

/**
 * The ephemeral store on the same server as the grant cache `store` that `openGrantCache`
 * returned, or `undefined` (memory cache). The provider setup reads it here since it is handed
 * the grant store only.
 */
export function ephemeralStoreOf(store: GrantStore | null): EphemeralStore | undefined {
  return store ? ephemeralOf.get(store) : undefined;
}

/** Keys of the ephemeral records in Redis or memcached (core's start with `par:` or `dpop:`). */
const EPHEMERAL_PREFIX = 'portcullis:eph:';

/** An ephemeral store and how to close its connection. */
interface OpenEphemeral {
  readonly store: EphemeralStore;
  close(): Promise<void>;
}

/**
 * An ephemeral store whose connection is opened on the first call (so an app that never pushes a
 * request or checks a proof opens none). A failed connection is answered with
 * `StoreUnavailableError` (core: 503 `temporarily_unavailable`) and retried by the next call.
 */
function lazyEphemeral(open: () => Promise<OpenEphemeral>, what: string): OpenEphemeral {
  let opened: Promise<OpenEphemeral> | null = null;
  let closed = false;
  const get = async (): Promise<EphemeralStore> => {
    if (closed) throw new StoreUnavailableError(`${what} ephemeral store is closed`);
    opened ??= open();
    const current = opened;
    try {
      return (await current).store;
    } catch (err) {
      if (opened === current) opened = null;
      throw new StoreUnavailableError(`${what} ephemeral store is unavailable`, { cause: err });
    }
  };
  return {
    store: {
      add: async (key, value, expiresAt) => (await get()).add(key, value, expiresAt),
      get: async (key) => (await get()).get(key),
      take: async (key) => (await get()).take(key),
    },
    async close() {
      closed = true;
      const o = opened;
      opened = null;
      if (o) await o.then((e) => e.close()).catch(() => {});
    },
  };
}

/** `@portcullis/grant-cache-redis`'s ephemeral store on a connection of its own (a cluster client with `clusterNodes`). */
function redisEphemeral(target: RedisTarget, commandTimeout: number): OpenEphemeral {
  return lazyEphemeral(async () => {
    const { createRedisEphemeralStore } = await import('@portcullis/grant-cache-redis');
    const client = await connectRedis(target, { connectTimeout: 1000, disableOfflineQueue: true });
    // node-redis clients (v5+) take `SET ... NX PXAT`; the app's own interface types only `PX`.
    const store = createRedisEphemeralStore({
      client: client as unknown as RedisEphemeralClientLike,
      prefix: EPHEMERAL_PREFIX,
      commandTimeout,
    });
    return { store, close: async () => client.destroy() };
  }, 'Redis');
}

/** `@portcullis/grant-cache-memcached`'s ephemeral store on a memjs client of its own. */
function memcachedEphemeral(servers: readonly string[]): OpenEphemeral {
  return lazyEphemeral(async () => {
    const { createMemcachedEphemeralStore } = await import('@portcullis/grant-cache-memcached');
    const specifier = 'memjs'; // no type declarations: the calls used are typed here
    const { Client } = (await import(specifier)) as {
      Client: { create(servers: string, options: object): MemcachedEphemeralClientLike & { close(): void } };
    };
    const client = Client.create(servers.join(','), { retries: 1, timeout: 1, logger: { log: () => {} } });
    return { store: createMemcachedEphemeralStore({ client, prefix: EPHEMERAL_PREFIX }), close: async () => client.close() };
  }, 'memcached');
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
async function openClusterGrantCache(
  target: RedisTarget,
  defaultTimeout: number,
  commandTimeout: number,
): Promise<{ store: GrantStore; close(): Promise<void> }> {
  const client = await connectRedis(target, { connectTimeout: 1000, disableOfflineQueue: true });
  try {
    const { createRedisGrantCache } = await import('@portcullis/grant-cache-redis');
    const store = createRedisGrantCache({ client, defaultTimeout, commandTimeout });
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
 * lifetime). `database` returns `null`: the database binding keeps them. `commandTimeoutMs`
 * (`REDIS_COMMAND_TIMEOUT_MS`) bounds the wait for a Redis reply of the ephemeral store and of the
 * grant cache, on a Redis Cluster or a single node (handed to core as `redisCommandTimeout`), and
 * `memcachedTimeoutMs` (`MEMCACHED_COMMAND_TIMEOUT_MS`) that of the memcached grant cache.
 */
export async function openGrantCache(
  config: GrantCacheConfig,
  defaultTimeout: number,
  logger: Logger,
  commandTimeoutMs = 3000,
  memcachedTimeoutMs = 2000,
): Promise<OpenGrantCache | null> {
  let settings: CacheGrantConfig;
  let description: string;
  let probe: { ping(): Promise<void>; close(): Promise<void> } = { ping: async () => {}, close: async () => {} };
  let ephemeral: OpenEphemeral | null = null;
  switch (config.type) {
    case 'database':
      return null;
    case 'memory':
      settings = { type: 'memory', threshold: config.threshold, defaultTimeout };
      description = `memory (at most ${config.threshold} codes)`;
      break;
    case 'redis':
      if (config.clusterNodes) {
        const cluster = await openClusterGrantCache(config, defaultTimeout, commandTimeoutMs);
        const clusterProbe = redisProbe(config);
        const clusterEphemeral = redisEphemeral(config, commandTimeoutMs);
        ephemeralOf.set(cluster.store, clusterEphemeral.store);
        return {
          store: cluster.store,
          description: `redis cluster (${new Set([new URL(config.url).host, ...config.clusterNodes]).size} seed nodes)`,
          ping: () => clusterProbe.ping(),
          close: async () => {
            await clusterEphemeral.close();
            await clusterProbe.close();
            await cluster.close();
          },
          ephemeral: clusterEphemeral.store,
        };
      }
      settings = { type: 'redis', redisUrl: config.url, defaultTimeout, redisCommandTimeout: commandTimeoutMs };
      description = 'redis';
      probe = redisProbe(config);
      ephemeral = redisEphemeral(config, commandTimeoutMs);
      break;
    case 'memcached':
      // memcached counts expiry in whole seconds.
      settings = {
        type: 'memcached',
        memcachedServers: config.servers,
        defaultTimeout: Math.max(1, defaultTimeout),
        memcachedCommandTimeout: memcachedTimeoutMs,
      };
      description = `memcached (${config.servers.length} servers)`;
      probe = memcachedProbe(config.servers);
      ephemeral = memcachedEphemeral(config.servers);
      break;
  }
  const store = await createCacheGrant(settings, { importModule: (s) => import(s), logger });
  const disconnect = (store as GrantStore & { disconnect?: () => Promise<void> }).disconnect;
  if (ephemeral) ephemeralOf.set(store, ephemeral.store);
  return {
    store,
    description,
    ping: () => probe.ping(),
    close: async () => {
      await ephemeral?.close();
      await probe.close();
      await disconnect?.call(store);
    },
    ...(ephemeral ? { ephemeral: ephemeral.store } : {}),
  };
}
