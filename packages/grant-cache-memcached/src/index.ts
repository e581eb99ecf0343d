import { createHash } from 'node:crypto';
import { type Consumed, decodeGrant, encodeGrant, type GrantRecord, type GrantStore, StoreUnavailableError } from '@portcullis/core';
import { Client } from 'memjs';

/** The four memjs calls the cache makes; a `memjs.Client` has them. */
export interface MemcachedClientLike {
  get(key: string): Promise<{ value: Buffer | null }>;
  set(key: string, value: string, options: { expires: number }): Promise<boolean>;
  /** Stores only when the key is absent: `true` when stored, `false` when it already existed. */
  add(key: string, value: string, options: { expires: number }): Promise<boolean>;
  delete(key: string): Promise<boolean>;
}

/** Options of `createMemcachedGrantCache`. */
export interface MemcachedGrantCacheOptions {
  /** `host:port` of each server (a list or one comma-separated string); memjs spreads keys over them. */
  servers?: string[] | string;
  /** Your own memjs client instead of `servers`; you configure its timeouts and close it. */
  client?: MemcachedClientLike;
  /** Prepended to every key: printable ASCII without spaces, at most 200 bytes. Default `''`. */
  keyPrefix?: string;
  /**
   * Upper bound, in seconds, on how long a code stays in memcached: the item expires at
   * `min(expiresAt, now + defaultTimeout)`, and so does the consumed marker a consume leaves.
   * Default 100 (Flask-OAuthlib's `OAUTH2_CACHE_DEFAULT_TIMEOUT`).
   */
  defaultTimeout?: number;
  /**
   * Milliseconds before a request fails, for clients the cache creates. Also bounds every call,
   * with any client, at `2 × (connectTimeout + commandTimeout)`. Default 500.
   */
  commandTimeout?: number;
  /** For clients the cache creates: milliseconds to wait for a connection. Default 500. */
  connectTimeout?: number;
}

/** A `GrantStore` on memcached. `disconnect()` closes the client if the cache created it. */
export interface MemcachedGrantCache extends GrantStore {
  /** Consumed codes leave a marker until they would have expired, so replays are reported. */
  readonly detectsReplay: true;
  /** Replays are reported; memcached expires in whole seconds. */
  readonly capabilities: { readonly detectsReplay: true; readonly ttlGranularity: 's' };
  /** The memcached key of a (clientId, code) pair (see README: key scheme). */
  keyFor(clientId: string, code: string): string;
  /** The memcached key of the consumed marker of a (clientId, code) pair, holding its `grantId`. */
  markerKeyFor(clientId: string, code: string): string;
  /** Closes the client the cache created; a client you passed in is left alone. */
  disconnect(): Promise<void>;
}

/** memcached reads an exptime above 30 days as an absolute unix time. */
export const MAX_RELATIVE_EXPTIME = 60 * 60 * 24 * 30;

/**
 * The memcached exptime for an item that must live until `until` (ms since the epoch): whole
 * seconds rounded up, relative when at most 30 days away, else the absolute unix time.
 * 0 or less means "already expired".
 */
export function exptime(until: number, now = Date.now()): number {
  const seconds = Math.ceil((until - now) / 1000);
  if (seconds <= 0) return 0;
  return seconds > MAX_RELATIVE_EXPTIME ? Math.ceil(until / 1000) : seconds;
}

function unavailable(err: unknown): unknown {
  // memjs reports a server's error status as `MemJS <OP>: <status>`; anything else is the connection.
  if (err instanceof Error && err.message.startsWith('MemJS ')) return err;
  return new StoreUnavailableError('memcached grant cache is unavailable', { cause: err });
}

/** Runs one request, bounded by `ms` whatever the client's own timeouts (memjs can hang). */
async function call<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`memcached did not answer within ${ms} ms`)), ms);
    });
    return await Promise.race([fn(), timeout]);
  } catch (err) {
    throw unavailable(err);
  } finally {
    clearTimeout(timer);
  }
}

const quiet = { log: () => {} };

/** What a consumed marker read gives: `replayed` with the family id it holds, or `null` when absent. */
function replayed({ value }: { value: Buffer | null }): Consumed<GrantRecord> | null {
  return value ? { outcome: 'replayed', grantId: value.toString('utf8') } : null;
}

/**
 * Creates the grant cache over `servers` (or your memjs `client`). Consume claims a consumed
 * marker with memcached's atomic `add` before deleting the record: only the caller whose `add`
 * stored the marker gets the record, and every other caller, concurrent or later, gets `replayed`
 * with the family id (`detectsReplay: true`) until the code would have expired. Connection
 * problems surface as `StoreUnavailableError` within `2 × (connectTimeout + commandTimeout)` at
 * most, and memjs reconnects on the next request.
 */
export function createMemcachedGrantCache(options: MemcachedGrantCacheOptions): MemcachedGrantCache {
  const prefix = options.keyPrefix ?? '';
  if (!/^[\x21-\x7e]*$/.test(prefix) || prefix.length > 200) {
    throw new TypeError('keyPrefix must be printable ASCII without spaces, at most 200 characters');
  }
  const timeoutMs = Math.round((options.defaultTimeout ?? 100) * 1000);
  if (!(timeoutMs >= 1 && Number.isSafeInteger(timeoutMs))) throw new TypeError('defaultTimeout must be a positive number of seconds');

  const commandTimeout = options.commandTimeout ?? 500;
  const connectTimeout = options.connectTimeout ?? 500;
  // memjs tries twice, each try bounded by its connect and request timeouts. memjs can still lose
  // a request when a socket closes under it (seen after a frozen server wakes up), so every call
  // is also bounded here.
  const limit = 2 * (connectTimeout + commandTimeout) + 150;
  let own: Client | undefined;
  let client: MemcachedClientLike;
  if (options.client) {
    client = options.client;
  } else {
    const list = Array.isArray(options.servers) ? options.servers.join(',') : options.servers;
    if (!list) throw new TypeError('createMemcachedGrantCache needs `servers` or `client`');
    own = Client.create(list, {
      retries: 2,
      retry_delay: 0.05,
      timeout: commandTimeout / 1000,
      conntimeout: connectTimeout / 1000,
      keepAlive: true,
      logger: quiet,
    });
    client = own as MemcachedClientLike;
  }

  /** SHA-256 over the UTF-16 length of clientId, clientId, code (base64url, 43 characters). */
  const digestOf = (clientId: string, code: string): string => {
    const id = Buffer.from(clientId, 'utf16le');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(id.length);
    return createHash('sha256').update(len).update(id).update(Buffer.from(code, 'utf16le')).digest('base64url');
  };
  /** `<prefix>grant:<digest>`: the record. */
  const keyFor = (clientId: string, code: string): string => `${prefix}grant:${digestOf(clientId, code)}`;
  /** `<prefix>used:<digest>`: the consumed marker (at most 248 bytes with the longest prefix). */
  const markerKeyFor = (clientId: string, code: string): string => `${prefix}used:${digestOf(clientId, code)}`;

  return {
    detectsReplay: true,
    capabilities: { detectsReplay: true, ttlGranularity: 's' },
    keyFor,
    markerKeyFor,

    /** Called when the user approves: stores the record as JSON until `min(expiresAt, now + defaultTimeout)`. */
    async saveGrant(grant: GrantRecord): Promise<void> {
      const expiresAt = grant.expiresAt.getTime();
      if (Number.isNaN(expiresAt)) throw new TypeError('expiresAt must be a valid Date');
      const now = Date.now();
      const expires = exptime(Math.min(expiresAt, now + timeoutMs), now);
      if (expires <= 0) return; // already expired: nothing to keep
      const key = keyFor(grant.clientId, grant.code);
      await call(limit, () => client.set(key, encodeGrant(grant), { expires }));
    },

    /**
     * Called by the token endpoint: reads the record, claims the consumed marker with `add`
     * (atomic: of N concurrent callers exactly one stores it), and only then deletes the record.
     * The marker holds the family id and expires when the code would have.
     * @returns `consumed` to the caller whose `add` stored the marker; `replayed` with the family
     *   id to every other caller while the marker lives; `null` when unknown, expired or stored
     *   for another client.
     */
    async consumeGrant(clientId: string, code: string): Promise<Consumed<GrantRecord> | null> {
      const key = keyFor(clientId, code);
      const marker = markerKeyFor(clientId, code);
      const { value } = await call(limit, () => client.get(key));
      if (!value) return replayed(await call(limit, () => client.get(marker)));
      const record = decodeGrant(clientId, code, value.toString('utf8'));
      const now = Date.now();
      if (record === null || record.expiresAt.getTime() <= now) return null;
      // Marker and record leave together: the marker lives as long as the record could have.
      const expires = exptime(Math.min(record.expiresAt.getTime(), now + timeoutMs), now);
      if (expires <= 0) return null;
      if (!(await call(limit, () => client.add(marker, record.grantId, { expires })))) {
        return { outcome: 'replayed', grantId: record.grantId }; // another caller claimed it first
      }
      // The code is ours. A failed delete throws: the code stays burned (the marker is there).
      await call(limit, () => client.delete(key));
      return { outcome: 'consumed', record };
    },

    async disconnect(): Promise<void> {
      own?.close();
    },
  };
}

export {
  createMemcachedEphemeralStore,
  type MemcachedEphemeralClientLike,
  type MemcachedEphemeralStoreOptions,
} from './ephemeral.js';
