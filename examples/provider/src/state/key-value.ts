/**
 * The few operations the shared app state needs from a store, each one round trip (or a short
 * bounded retry), every record with an expiry of its own. Implemented on Redis (`redis.ts`), on the
 * SQL database through Sequelize and on MongoDB (`storage.ts` opens those on its connection).
 */
export interface KeyValue {
  /** What it runs on, for the startup banner. */
  readonly description: string;
  /** The live value under `key`, or `null`. */
  get(key: string): Promise<string | null>;
  /** Sets `key` to `value` for `ttlMs`. */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Sets `key` only when it holds no live value; `true` when this call set it. */
  add(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Removes `key` and returns its live value; of concurrent callers at most one gets it. */
  take(key: string): Promise<string | null>;
  delete(key: string): Promise<void>;
  /**
   * Adds one to the counter under `key`; a counter that does not exist or has expired starts at
   * 1 with `windowMs` to live (a fixed window from the first count). Returns the count and when
   * the window ends (ms since the epoch).
   */
  increment(key: string, windowMs: number): Promise<{ count: number; resetAt: number }>;
  /** The live counter under `key`, or `null`. */
  counter(key: string): Promise<{ count: number; resetAt: number } | null>;
  /** One cheap round trip; throws when the store is unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
