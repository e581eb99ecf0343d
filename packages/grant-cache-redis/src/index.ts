import { createHash } from 'node:crypto';
import { type Consumed, decodeGrant, encodeGrant, type GrantRecord, type GrantStore, StoreUnavailableError } from '@portcullis/core';
import { createClient, ErrorReply } from 'redis';

/** The few commands the cache sends; node-redis clients and cluster clients (v5, v6) have them. */
export interface RedisCommands {
  set(key: string, value: string, options: { expiration: { type: 'PXAT'; value: number } }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/** A connected node-redis client (`createClient`) or cluster client (`createCluster`). */
export interface RedisClientLike {
  withCommandOptions(options: { timeout: number }): RedisCommands;
}

/**
 * Options of `createRedisGrantCache`: your own `client`, or where to connect (`url`, or
 * `host`/`port`; `password` and `db` apply to either unless the URL names them).
 */
export interface RedisGrantCacheOptions {
  /** A node-redis client or cluster client you connect and close yourself. Wins over the rest. */
  client?: RedisClientLike;
  /** `redis[s]://[[user][:password]@]host[:port][/db]`. Never shown in errors. */
  url?: string;
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default 6379. */
  port?: number;
  password?: string;
  db?: number;
  /** Prepended to every key. Default `''`. */
  keyPrefix?: string;
  /**
   * Upper bound, in seconds, on how long a code stays in Redis (the key expires at
   * `min(expiresAt, now + defaultTimeout)`), and how long a consumed marker is kept to report
   * replays. Default 100 (Flask-OAuthlib's `OAUTH2_CACHE_DEFAULT_TIMEOUT`).
   */
  defaultTimeout?: number;
  /** Milliseconds after which a command fails with `StoreUnavailableError`. Default 1000. */
  commandTimeout?: number;
  /** For a client the cache creates: milliseconds the first use waits for the connection. Default 1000. */
  connectTimeout?: number;
  /** For a client the cache creates: receives connection errors (otherwise only thrown per call). */
  onError?: (err: Error) => void;
}

/** A `GrantStore` on Redis. `disconnect()` closes the client if the cache created it. */
export interface RedisGrantCache extends GrantStore {
  readonly detectsReplay: true;
  /** Consumed markers report replays; `PXAT` expiry to the millisecond. */
  readonly capabilities: { readonly detectsReplay: true; readonly ttlGranularity: 'ms' };
  /** The Redis key of a (clientId, code) pair (see README: key scheme). */
  keyFor(clientId: string, code: string): string;
  /** Closes the client the cache created; a client you passed in is left alone. */
  disconnect(): Promise<void>;
}

const SAFE = /^[A-Za-z0-9._-]{1,100}$/;

/** A key part: the string itself when short and plain, else `~` and its SHA-256 (over UTF-16, so lossless). */
function part(value: string): string {
  return SAFE.test(value) ? value : `~${createHash('sha256').update(Buffer.from(value, 'utf16le')).digest('base64url')}`;
}

/**
 * A stored code is two JSON lines: the consumed marker to leave behind, then the record. The
 * script swaps the value for its first line (kept ARGV[1] ms) in one step and returns what it
 * found: both lines (first consumer), the marker alone (replay), or nil.
 */
const CONSUME = `
local v = redis.call('GET', KEYS[1])
if not v then return false end
local nl = string.find(v, '\\n', 1, true)
if not nl then return v end
redis.call('SET', KEYS[1], string.sub(v, 1, nl - 1), 'PX', ARGV[1])
return v`;

const UNAVAILABLE_REPLY = /^(CLUSTERDOWN|LOADING|MASTERDOWN|TRYAGAIN|BUSY|READONLY)\b/;

function unavailable(err: unknown): unknown {
  if (err instanceof ErrorReply && !UNAVAILABLE_REPLY.test(err.message)) return err;
  return new StoreUnavailableError('Redis grant cache is unavailable', { cause: err });
}

/**
 * Creates the grant cache. With `{ client }` it uses your connected client; otherwise it creates
 * a client for `url` or `host`/`port`/`password`/`db` and connects it on first use. Connection
 * problems surface as `StoreUnavailableError` within `connectTimeout`/`commandTimeout`, and the
 * client reconnects by itself.
 */
export function createRedisGrantCache(options: RedisGrantCacheOptions): RedisGrantCache {
  const prefix = options.keyPrefix ?? '';
  const timeoutMs = Math.round((options.defaultTimeout ?? 100) * 1000);
  const commandTimeout = options.commandTimeout ?? 1000;
  const connectTimeout = options.connectTimeout ?? 1000;
  if (!(timeoutMs >= 1 && Number.isSafeInteger(timeoutMs))) throw new TypeError('defaultTimeout must be a positive number of seconds');

  let own: ReturnType<typeof createClient> | undefined;
  let client: RedisClientLike;
  if (options.client) {
    client = options.client;
  } else {
    const { url, host, port, password, db } = options;
    try {
      own = createClient({
        ...(url ? { url } : {}),
        socket: {
          ...(url ? {} : { host: host ?? '127.0.0.1', port: port ?? 6379 }),
          connectTimeout,
          reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1000),
        },
        ...(password === undefined ? {} : { password }),
        ...(db === undefined ? {} : { database: db }),
        disableOfflineQueue: true,
      });
    } catch {
      // The URL may carry a password: keep it out of the error.
      throw new TypeError('createRedisGrantCache: url must be a redis:// or rediss:// URL');
    }
    own.on('error', (err: Error) => options.onError?.(err));
    client = own as unknown as RedisClientLike;
  }
  const commands = client.withCommandOptions({ timeout: commandTimeout });
  let firstReady: Promise<void> | undefined;

  /**
   * A created client connects on first use; that first use waits for it (at most
   * `connectTimeout`). Later, while the client reconnects, commands fail at once.
   */
  async function ready(): Promise<void> {
    if (!own || own.isReady) return;
    const c = own;
    firstReady ??= new Promise<void>((resolve) => {
      c.once('ready', () => resolve());
      c.connect().catch(() => undefined); // keeps reconnecting by itself until destroyed
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([firstReady, new Promise<void>((resolve) => (timer = setTimeout(resolve, connectTimeout)))]);
    clearTimeout(timer);
  }

  /**
   * Runs one command. node-redis times out only commands still waiting to be written, so the
   * wait for the reply is bounded here too (a frozen server or a silent network).
   */
  async function call<T>(fn: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await ready();
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Redis did not answer within ${commandTimeout} ms`)), commandTimeout);
      });
      return await Promise.race([fn(), timeout]);
    } catch (err) {
      throw unavailable(err);
    } finally {
      clearTimeout(timer);
    }
  }

  const keyFor = (clientId: string, code: string) => `${prefix}grant:${part(clientId)}:${part(code)}`;

  return {
    detectsReplay: true,
    capabilities: { detectsReplay: true, ttlGranularity: 'ms' },
    keyFor,

    /** Called when the user approves: stores the record as JSON until `min(expiresAt, now + defaultTimeout)`. */
    async saveGrant(grant: GrantRecord): Promise<void> {
      const expiresAt = grant.expiresAt.getTime();
      if (Number.isNaN(expiresAt)) throw new TypeError('expiresAt must be a valid Date');
      const until = Math.min(expiresAt, Date.now() + timeoutMs);
      if (until <= Date.now()) return; // already expired: nothing to keep
      const value = `${JSON.stringify({ consumed: true, grantId: grant.grantId })}\n${encodeGrant(grant)}`;
      const key = keyFor(grant.clientId, grant.code);
      await call(() => commands.set(key, value, { expiration: { type: 'PXAT', value: until } }));
    },

    /**
     * Called by the token endpoint: atomically swaps the record for a consumed marker.
     * @returns `consumed` to one caller, `replayed` while the marker lives, `null` when unknown,
     *   expired or stored for another client.
     */
    async consumeGrant(clientId: string, code: string): Promise<Consumed<GrantRecord> | null> {
      const key = keyFor(clientId, code);
      const raw = await call(() => commands.eval(CONSUME, { keys: [key], arguments: [String(timeoutMs)] }));
      if (typeof raw !== 'string') return null;
      const nl = raw.indexOf('\n');
      if (nl < 0) return { outcome: 'replayed', grantId: (JSON.parse(raw) as { grantId: string }).grantId };
      const record = decodeGrant(clientId, code, raw.slice(nl + 1));
      if (record === null || record.expiresAt.getTime() <= Date.now()) return null;
      return { outcome: 'consumed', record };
    },

    async disconnect(): Promise<void> {
      if (own?.isOpen) own.destroy();
    },
  };
}

export { createRedisEphemeralStore, type RedisEphemeralClientLike, type RedisEphemeralStoreOptions } from './ephemeral.js';
