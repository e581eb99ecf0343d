import { createHash, randomBytes } from 'node:crypto';
import { type EphemeralStore, StoreUnavailableError } from '@portcullis/core';

/** The three memjs calls the ephemeral store makes; a `memjs.Client` (1.3) has them. */
export interface MemcachedEphemeralClientLike {
  get(key: string): Promise<{ value: Buffer | null }>;
  /** Stores only when the key is absent: `true` when stored, `false` when it already existed. */
  add(key: string, value: string, options: { expires: number }): Promise<boolean>;
  delete(key: string): Promise<boolean>;
}

/** Options of `createMemcachedEphemeralStore`. */
export interface MemcachedEphemeralStoreOptions {
  /** Your memjs client (`memjs.Client.create(...)`); you configure its timeouts and close it. */
  client: MemcachedEphemeralClientLike;
  /** Prepended to every key: printable ASCII without spaces, at most 200 characters. Default `''`. */
  prefix?: string;
  /**
   * Milliseconds after which one request to memcached rejects with `StoreUnavailableError` (core
   * answers 503), whatever the client's own timeouts. Also sets how long past `expiresAt` items
   * are kept (see README). Default 2000.
   */
  callTimeout?: number;
}

/** memcached reads an exptime above 30 days as an absolute unix time. */
const MAX_RELATIVE_EXPTIME = 60 * 60 * 24 * 30;
/** With the `u` flag, `\p{Cs}` matches only surrogates that are not half of a pair. */
const LONE_SURROGATE = /\p{Cs}/u;
/** Ephemeral keys kept as they are: printable ASCII without space, not starting with `~`. */
const PLAIN = /^[\x21-\x7d][\x21-\x7e]*$/;
/** How far apart the clocks of the processes sharing the store may be, in ms. */
const SKEW_MS = 1000;
const HEADER = /^e1 (\d{1,16}) (\d{1,16}) ([A-Za-z0-9_-]{22})$/;

/** A record as kept in memcached: the value with its deadlines and a token naming this very write. */
interface Stored {
  /** `expiresAt`, ms since the epoch: from then on the record is absent to every method. */
  readonly expiresAt: number;
  /** The earliest time (ms, this process's clock) at which memcached may drop the item itself. */
  readonly nativeFrom: number;
  /** 128 random bits, unique to this write: names the claim that lets one caller remove it. */
  readonly token: string;
  readonly value: string;
}

function encode(r: Stored): string {
  return `e1 ${r.expiresAt} ${r.nativeFrom} ${r.token}\n${r.value}`;
}

/** The record, or `null` when the item is absent or not one of ours. */
function decode(buf: Buffer | null): Stored | null {
  if (!buf) return null;
  const nl = buf.indexOf(0x0a);
  if (nl < 0) return null;
  const m = HEADER.exec(buf.subarray(0, nl).toString('latin1'));
  if (!m) return null;
  return { expiresAt: Number(m[1]), nativeFrom: Number(m[2]), token: m[3] as string, value: buf.subarray(nl + 1).toString('utf8') };
}

function unavailable(err: unknown): unknown {
  // memjs reports a server's error status as `MemJS <OP>: <status>`; anything else is the connection.
  if (err instanceof Error && err.message.startsWith('MemJS ')) return err;
  return new StoreUnavailableError('memcached ephemeral store is unavailable', { cause: err });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

/**
 * Creates an `EphemeralStore` (pushed authorization requests, DPoP proof ids) on your memjs
 * client. memjs 1.3 has no CAS, so each write carries a random token, and removing a record takes
 * a claim: memcached's atomic `add` of `<prefix>eph-claim:<token>`, which exactly one caller wins
 * per record. `take` reads the record and answers its value only to the caller whose claim was
 * stored, which then deletes it; `add` is memcached's `add`, and over a record that is past
 * `expiresAt` but not yet dropped (memcached expires in whole seconds) the claim decides which
 * one caller deletes it. Items are kept in memcached a few seconds past `expiresAt` so that a
 * delete can never reach a newer record under the same key (see README). Connection failures
 * reject with `StoreUnavailableError` (core answers 503).
 */
export function createMemcachedEphemeralStore(options: MemcachedEphemeralStoreOptions): EphemeralStore {
  const { client } = options;
  if (!client) throw new TypeError('createMemcachedEphemeralStore needs a memjs `client`');
  const prefix = options.prefix ?? '';
  if (typeof prefix !== 'string' || !/^[\x21-\x7e]*$/.test(prefix) || prefix.length > 200) {
    throw new TypeError('prefix must be printable ASCII without spaces, at most 200 characters');
  }
  const limit = options.callTimeout ?? 2000;
  if (!(limit > 0 && Number.isFinite(limit))) throw new TypeError('callTimeout must be a positive number of ms');
  /**
   * How long items outlive `expiresAt`: a request sent before `nativeFrom - limit - SKEW_MS`, by
   * any process's clock, reaches the server before it may drop the item.
   */
  const graceMs = Math.ceil((limit + SKEW_MS) / 1000) * 1000 + 1000;

  /** One request, bounded by `limit` (memjs can lose a request when a socket closes under it). */
  async function call<T>(fn: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`memcached did not answer within ${limit} ms`)), limit);
      });
      return await Promise.race([fn(), timeout]);
    } catch (err) {
      throw unavailable(err);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The memcached exptime keeping an item at least until `until` (ms), and the earliest time the
   * server may drop it: its clock ticks in whole seconds, so up to a second before `now + ttl`.
   */
  function lifetime(until: number, now: number): { expires: number; nativeFrom: number } {
    const seconds = Math.max(1, Math.ceil((until - now) / 1000) + 1);
    if (seconds <= MAX_RELATIVE_EXPTIME) return { expires: seconds, nativeFrom: now + (seconds - 1) * 1000 };
    const absolute = Math.ceil(until / 1000) + 1;
    return { expires: absolute, nativeFrom: (absolute - 1) * 1000 };
  }

  const keyOf = (key: string): string => {
    const plain = `${prefix}eph:${key}`;
    if (PLAIN.test(key) && plain.length <= 250) return plain;
    // Too long or not a valid memcached key: its SHA-256 (over UTF-16, so lossless) after `~`,
    // which no plain key starts with.
    return `${prefix}eph:~${createHash('sha256').update(Buffer.from(key, 'utf16le')).digest('base64url')}`;
  };
  const claimKeyOf = (token: string): string => `${prefix}eph-claim:${token}`;

  /**
   * Claims the right to remove `r`: `true` for exactly one caller per record. The claim outlives
   * the item, so no later caller can claim it again.
   */
  async function claim(r: Stored): Promise<boolean> {
    const now = Date.now();
    const { expires } = lifetime(Math.max(r.nativeFrom + 2000, now), now);
    return call(() => client.add(claimKeyOf(r.token), '1', { expires }));
  }

  /**
   * Deletes `r`, whose claim this caller holds. Only if the delete lands before memcached may drop
   * the item itself: then the key still holds `r` (nobody else deletes it, no add can replace it),
   * never a newer record. Otherwise memcached drops it soon; `false` then.
   */
  async function removeClaimed(k: string, r: Stored): Promise<boolean> {
    if (Date.now() + limit + SKEW_MS >= r.nativeFrom) return false;
    await call(() => client.delete(k));
    return true;
  }

  return {
    /**
     * memcached `add` (atomic): `true` when stored. Over a record past `expiresAt` that memcached
     * still holds, the caller whose claim is stored deletes it and every caller tries again.
     */
    async add(key: string, value: string, expiresAt: Date): Promise<boolean> {
      const at = expiresAt.getTime();
      if (!Number.isSafeInteger(at)) throw new TypeError('expiresAt must be a valid Date');
      if (LONE_SURROGATE.test(value)) throw new TypeError('value must be well-formed Unicode (no lone surrogates)');
      const k = keyOf(key);
      const token = randomBytes(16).toString('base64url');
      // Long enough for a claimed expired record to go (deleted, or dropped within grace + 2 s).
      if (at <= Date.now()) {
        // Already expired: nothing to keep. `false` only when a live record holds the key.
        const cur = decode((await call(() => client.get(k))).value);
        return !(cur && cur.expiresAt > Date.now());
      }
      const deadline = Date.now() + 2 * limit + graceMs + 3000;
      for (;;) {
        const now = Date.now();
        const { expires, nativeFrom } = lifetime(at + graceMs, now);
        const payload = encode({ expiresAt: at, nativeFrom, token, value });
        if (await call(() => client.add(k, payload, { expires }))) return true;
        const { value: raw } = await call(() => client.get(k));
        const cur = decode(raw);
        if (raw && !cur) return false; // an item that is not one of ours holds the key
        if (cur && cur.expiresAt > Date.now()) return false; // a live record holds the key
        if (cur) {
          // Expired but still held: one claimer deletes it; the others wait for that.
          const removed = (await claim(cur)) && (await removeClaimed(k, cur));
          if (!removed) await sleep(Math.min(20, deadline - Date.now()));
        }
        if (Date.now() >= deadline) {
          throw new StoreUnavailableError('memcached ephemeral store: an expired record under the key was not removed in time');
        }
      }
    },

    /** `get`: the value while `expiresAt` has not passed. */
    async get(key: string): Promise<string | null> {
      const cur = decode((await call(() => client.get(keyOf(key)))).value);
      return cur && cur.expiresAt > Date.now() ? cur.value : null;
    },

    /**
     * `get`, then the claim: only the caller whose claim is stored gets the value, and deletes the
     * record (so the key is free for `add` at once).
     */
    async take(key: string): Promise<string | null> {
      const k = keyOf(key);
      const cur = decode((await call(() => client.get(k))).value);
      if (!cur || cur.expiresAt <= Date.now()) return null;
      if (!(await claim(cur))) return null;
      await removeClaimed(k, cur);
      return cur.expiresAt > Date.now() ? cur.value : null;
    },
  };
}
