import { StoreUnavailableError } from '@portcullis/core';
import type { RedisClientLike } from '@portcullis/grant-cache-redis';
import type { KeyValue } from './key-value.js';

const PREFIX = 'portcullis:state:';

/** Counts one and sets the window on the first count, atomically: `{count, ms left}`. */
const INCREMENT = `local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local t = redis.call('PTTL', KEYS[1])
if t < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) t = tonumber(ARGV[1]) end
return {c, t}`;

/** A counter's value and ms to live in one step (one key: one cluster slot). */
const COUNTER = `return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}`;

/** Where Redis is: one server, or with `clusterNodes` a Redis Cluster (see `REDIS_CLUSTER_NODES`). */
export interface RedisTarget {
  /** `redis[s]://[[user][:password]@]host[:port][/db]`; for a cluster, the scheme and credentials of every node, and one seed node. */
  readonly url: string;
  /** More seed nodes of a Redis Cluster (`host:port`); present: a cluster client is used. */
  readonly clusterNodes?: readonly string[];
}

/** The commands the app sends, which node-redis clients and cluster clients both have (and the grant cache's). */
export interface RedisConnection extends RedisClientLike {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, options: { PX: number; NX?: true }): Promise<string | null>;
  getDel(key: string): Promise<string | null>;
  del(key: string): Promise<number>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  ping(): Promise<unknown>;
  destroy(): void;
}

/** Options of `connectRedis`, applied to every node's connection. */
export interface RedisConnectOptions {
  /** ms a connection attempt may take. */
  readonly connectTimeout: number;
  /** Fail commands at once while disconnected instead of queueing them. */
  readonly disableOfflineQueue?: boolean;
  /** `false`: no reconnecting (a probe). Default: node-redis's backoff. */
  readonly reconnect?: false;
}

/**
 * A connected node-redis client on `target.url`, or with `target.clusterNodes` a cluster client
 * (`createCluster`) whose seed nodes are the URL's node and the listed ones; the URL's scheme
 * (`rediss:` = TLS) and credentials apply to every node, including the nodes it discovers.
 * Connection errors are reported by the commands that fail, never thrown as events.
 */
export async function connectRedis(target: RedisTarget, o: RedisConnectOptions): Promise<RedisConnection> {
  const { createClient, createCluster } = await import('redis');
  const socket = { connectTimeout: o.connectTimeout, ...(o.reconnect === false ? { reconnectStrategy: false as const } : {}) };
  const queue = o.disableOfflineQueue === undefined ? {} : { disableOfflineQueue: o.disableOfflineQueue };
  if (!target.clusterNodes) {
    const client = createClient({ url: target.url, socket, ...queue });
    client.on('error', () => {}); // commands fail and are reported where they are used
    await client.connect();
    return client as unknown as RedisConnection;
  }
  const u = new URL(target.url);
  const tls = u.protocol === 'rediss:';
  const seed = `${u.hostname}:${u.port || '6379'}`;
  const nodes = [...new Set([seed, ...target.clusterNodes])];
  const cluster = createCluster({
    rootNodes: nodes.map((n) => ({ url: `${tls ? 'rediss' : 'redis'}://${n}` })),
    defaults: {
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      socket: { ...socket, ...(tls ? { tls: true as const } : {}) },
      ...queue,
    },
  });
  cluster.on('error', () => {});
  await cluster.connect();
  return cluster as unknown as RedisConnection;
}

/** The shared app state's records on Redis or a Redis Cluster (its own connection), expiring with Redis TTLs. */
export async function openRedisKeyValue(target: RedisTarget | string): Promise<KeyValue> {
  const t = typeof target === 'string' ? { url: target } : target;
  const client = await connectRedis(t, { connectTimeout: 5000 });
  const k = (key: string) => `${PREFIX}${key}`;
  // node-redis errors (a closed socket while Redis restarts) carry no socket error code: say what
  // they mean, so core and the app answer 503 temporarily_unavailable rather than 500.
  const unavailable = (err: unknown): never => {
    throw new StoreUnavailableError('the shared state on Redis is unavailable', { cause: err });
  };
  return {
    description: t.clusterNodes ? 'redis cluster' : 'redis',
    get: (key) => client.get(k(key)).catch(unavailable),
    async set(key, value, ttlMs) {
      await client.set(k(key), value, { PX: Math.max(1, Math.ceil(ttlMs)) }).catch(unavailable);
    },
    async add(key, value, ttlMs) {
      return (await client.set(k(key), value, { PX: Math.max(1, Math.ceil(ttlMs)), NX: true }).catch(unavailable)) === 'OK';
    },
    take: (key) => client.getDel(k(key)).catch(unavailable),
    async delete(key) {
      await client.del(k(key)).catch(unavailable);
    },
    async increment(key, windowMs) {
      const [count, left] = (await client
        .eval(INCREMENT, { keys: [k(key)], arguments: [String(Math.max(1, Math.ceil(windowMs)))] })
        .catch(unavailable)) as [number, number];
      return { count: Number(count), resetAt: Date.now() + Number(left) };
    },
    async counter(key) {
      const [value, left] = (await client.eval(COUNTER, { keys: [k(key)], arguments: [] }).catch(unavailable)) as [string | null, number];
      if (value === null || value === undefined || Number(left) < 0) return null;
      return { count: Number(value), resetAt: Date.now() + Number(left) };
    },
    async ping() {
      await client.ping().catch(unavailable);
    },
    async close() {
      client.destroy();
    },
  };
}
