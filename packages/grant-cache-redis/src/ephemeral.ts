import { type EphemeralStore, StoreUnavailableError } from '@portcullis/core';
import { ErrorReply } from 'redis';

/**
 * The three commands the ephemeral store sends; node-redis clients and cluster clients (v5, v6)
 * have them. Each is a single-key command, so a cluster routes it to the key's slot.
 */
export interface RedisEphemeralClientLike {
  set(key: string, value: string, options: { expiration: { type: 'PXAT'; value: number }; condition: 'NX' }): Promise<unknown>;
  get(key: string): Promise<unknown>;
  getDel(key: string): Promise<unknown>;
}

/** Options of `createRedisEphemeralStore`. */
export interface RedisEphemeralStoreOptions {
  /**
   * A connected node-redis client (`createClient`) or cluster client (`createCluster`) that you
   * connect and close yourself. Needs Redis 6.2 or later (`GETDEL`, `SET ... PXAT`).
   */
  client: RedisEphemeralClientLike;
  /** Prepended to every key (core's keys start with `par:` or `dpop:`). Default `''`. */
  prefix?: string;
  /**
   * Milliseconds after which a command fails with `StoreUnavailableError` (core answers 503).
   * Default 1000.
   */
  commandTimeout?: number;
}

/** With the `u` flag, `\p{Cs}` matches only surrogates that are not half of a pair. */
const LONE_SURROGATE = /\p{Cs}/u;

const UNAVAILABLE_REPLY = /^(CLUSTERDOWN|LOADING|MASTERDOWN|TRYAGAIN|BUSY|READONLY)\b/;

/** A Redis error reply stays as is (a bug or a misconfiguration); anything else means "cannot reach Redis". */
function unavailable(err: unknown): unknown {
  if (err instanceof ErrorReply && !UNAVAILABLE_REPLY.test(err.message)) return err;
  return new StoreUnavailableError('Redis ephemeral store is unavailable', { cause: err });
}

/** A reply that must be a string or nil; anything else (a client mapping replies to Buffers) is refused. */
function stringOrNull(reply: unknown): string | null {
  if (reply === null || reply === undefined) return null;
  if (typeof reply === 'string') return reply;
  throw new TypeError('Redis ephemeral store: the client must answer strings (no Buffer type mapping)');
}

/**
 * Creates an `EphemeralStore` (pushed authorization requests, DPoP proof ids) on your node-redis
 * client or cluster client. Every method is one atomic single-key command:
 * `add` is `SET key value NX PXAT expiresAt` (of N concurrent adds exactly one gets `OK`),
 * `get` is `GET`, `take` is `GETDEL` (of N concurrent takes exactly one gets the value). Redis
 * expires keys to the millisecond (`PXAT`), on access as well, so no record past its `expiresAt`
 * is ever returned. Connection failures and timeouts reject with `StoreUnavailableError`, which
 * core answers with 503 `temporarily_unavailable`.
 */
export function createRedisEphemeralStore(options: RedisEphemeralStoreOptions): EphemeralStore {
  const { client } = options;
  if (!client) throw new TypeError('createRedisEphemeralStore needs a connected node-redis `client`');
  const prefix = options.prefix ?? '';
  if (typeof prefix !== 'string') throw new TypeError('prefix must be a string');
  const commandTimeout = options.commandTimeout ?? 1000;
  if (!(commandTimeout > 0 && Number.isFinite(commandTimeout))) throw new TypeError('commandTimeout must be a positive number of ms');

  /** Runs one command, bounded by `commandTimeout` whatever the client's own settings. */
  async function call<T>(fn: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
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

  return {
    /** `SET <prefix><key> value NX PXAT expiresAt`: `true` when Redis answered `OK`. */
    async add(key: string, value: string, expiresAt: Date): Promise<boolean> {
      const at = expiresAt.getTime();
      if (!Number.isSafeInteger(at)) throw new TypeError('expiresAt must be a valid Date');
      // Redis keeps UTF-8: a lone surrogate would come back as U+FFFD, so it is refused here.
      if (LONE_SURROGATE.test(value)) throw new TypeError('value must be well-formed Unicode (no lone surrogates)');
      // Redis refuses PXAT <= 0; an already expired record is stored as expiring at once.
      const reply = await call(() =>
        client.set(prefix + key, value, { expiration: { type: 'PXAT', value: Math.max(at, 1) }, condition: 'NX' }),
      );
      return reply === 'OK';
    },

    /** `GET <prefix><key>`. */
    async get(key: string): Promise<string | null> {
      return stringOrNull(await call(() => client.get(prefix + key)));
    },

    /** `GETDEL <prefix><key>`: atomic read and delete. */
    async take(key: string): Promise<string | null> {
      return stringOrNull(await call(() => client.getDel(prefix + key)));
    },
  };
}
