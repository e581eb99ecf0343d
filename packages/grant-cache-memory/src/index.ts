import type { Consumed, GrantRecord, GrantStore } from '@portcullis/core';

/** Options of `createMemoryGrantCache` (Flask-OAuthlib's `OAUTH2_CACHE_*` for `type: 'memory'`). */
export interface MemoryGrantCacheOptions {
  /** Most entries kept at once (codes and consumed markers). Default 500. */
  threshold?: number;
  /**
   * The longest an entry is kept, in seconds, whatever its `expiresAt`: a code is gone after
   * the earlier of its `expiresAt` and this timeout. Default 100.
   */
  defaultTimeout?: number;
  /** Prepended to every key. Default `''`. */
  keyPrefix?: string;
}

/** The raw entry kept for a code: the record, or the marker left once it was consumed. */
export type MemoryGrantEntry =
  | { readonly state: 'live'; readonly record: GrantRecord; readonly deadline: number }
  | { readonly state: 'consumed'; readonly grantId: string; readonly deadline: number };

/** A bounded, in-process `GrantStore`. Codes live in this process only: for one process or tests. */
export interface MemoryGrantCache extends GrantStore {
  /** Consumed codes leave a marker until their deadline, so replays are reported. */
  readonly detectsReplay: true;
  /** Consumed markers report replays; deadlines to the millisecond. */
  readonly capabilities: { readonly detectsReplay: true; readonly ttlGranularity: 'ms' };
  /** Entries held now (codes and consumed markers); never more than `threshold`. */
  readonly size: number;
  /**
   * For tests and diagnostics: the raw entry for this client and code without consuming it,
   * or `null` when there is none (never saved, evicted, or past its deadline).
   */
  peek(clientId: string, code: string): MemoryGrantEntry | null;
}

function copy(grant: GrantRecord): GrantRecord {
  return { ...grant, scopes: [...grant.scopes], expiresAt: new Date(grant.expiresAt.getTime()) };
}

/**
 * Creates an in-process grant cache. Consume is a synchronous take, so exactly one of any number
 * of concurrent callers wins. When full, a save drops expired entries first, then the oldest, so
 * a flood of unredeemed codes cannot grow memory past `threshold` entries.
 */
export function createMemoryGrantCache(options: MemoryGrantCacheOptions = {}): MemoryGrantCache {
  const { threshold = 500, defaultTimeout = 100, keyPrefix = '' } = options;
  if (!Number.isInteger(threshold) || threshold < 1) {
    throw new RangeError(`threshold must be a positive integer, got ${String(threshold)}`);
  }
  if (!(typeof defaultTimeout === 'number' && defaultTimeout > 0)) {
    throw new RangeError(`defaultTimeout must be a positive number of seconds, got ${String(defaultTimeout)}`);
  }
  if (typeof keyPrefix !== 'string') throw new TypeError('keyPrefix must be a string');

  // Map order is insertion order: the first entry is the oldest.
  const entries = new Map<string, MemoryGrantEntry>();
  // A lower bound of every entry's deadline: no sweep can find anything before then.
  let earliest = Number.POSITIVE_INFINITY;
  // Length-prefixed, so no client id and code pair can spell another pair's key.
  const key = (clientId: string, code: string) => `${keyPrefix}${clientId.length}:${clientId}:${code}`;

  function sweep(now: number): void {
    if (now < earliest) return;
    earliest = Number.POSITIVE_INFINITY;
    for (const [k, entry] of entries) {
      if (entry.deadline <= now) entries.delete(k);
      else if (entry.deadline < earliest) earliest = entry.deadline;
    }
  }

  function put(k: string, entry: MemoryGrantEntry): void {
    entries.delete(k); // a re-saved key moves to the young end
    if (entries.size >= threshold) sweep(Date.now());
    for (const oldest of entries.keys()) {
      if (entries.size < threshold) break;
      entries.delete(oldest);
    }
    entries.set(k, entry);
    if (entry.deadline < earliest) earliest = entry.deadline;
  }

  function live(k: string): MemoryGrantEntry | null {
    const entry = entries.get(k);
    if (entry === undefined) return null;
    if (entry.deadline <= Date.now()) {
      entries.delete(k);
      return null;
    }
    return entry;
  }

  return {
    detectsReplay: true,
    capabilities: { detectsReplay: true, ttlGranularity: 'ms' },
    get size() {
      return entries.size;
    },
    /** Called when the user approves: keeps the code until its `expiresAt` (or the timeout). */
    async saveGrant(grant) {
      const deadline = Math.min(grant.expiresAt.getTime(), Date.now() + defaultTimeout * 1000);
      if (!(deadline > Date.now())) return; // already expired (or an invalid Date): nothing to keep
      put(key(grant.clientId, grant.code), { state: 'live', record: copy(grant), deadline });
    },
    /**
     * Called by the `authorization_code` grant. Takes the code synchronously.
     * @returns `consumed` once; `replayed` while the consumed marker lasts; `null` when unknown,
     *   expired, evicted or saved under another client.
     */
    async consumeGrant(clientId, code): Promise<Consumed<GrantRecord> | null> {
      const k = key(clientId, code);
      const entry = live(k);
      if (entry === null) return null;
      if (entry.state === 'consumed') return { outcome: 'replayed', grantId: entry.grantId };
      entries.set(k, { state: 'consumed', grantId: entry.record.grantId, deadline: entry.deadline });
      return { outcome: 'consumed', record: copy(entry.record) };
    },
    peek(clientId, code) {
      return live(key(clientId, code));
    },
  };
}
