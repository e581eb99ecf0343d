import type { AppLogger } from './log.js';
import { describeError } from './log.js';
import type { AppState } from './state/app-state.js';
import type { Storage } from './storage.js';

/** The lock one purge at a time holds, across every process on the database. */
export const PURGE_LOCK = 'portcullis:purge';

export interface PurgeOptions {
  storage: Storage;
  state: AppState;
  logger: AppLogger;
  /** Seconds between runs; 0 turns the periodic purge off. */
  intervalSeconds: number;
  /** Rows deleted per statement. */
  batchSize: number;
  /**
   * Seconds a self-registered client that never got a token is kept after it registered
   * (`REGISTRATION_UNUSED_WINDOW`); 0: kept for ever. Default 0.
   */
  unusedClientWindow?: number;
}

/**
 * The outcome of one run: `ran: false` when another process held the lock; `deleted` counts
 * expired rows, `unusedClients` the never-used self-registered clients removed.
 */
export type PurgeRun = { ran: false } | { ran: true; deleted: number; unusedClients: number };

/**
 * Deletes expired codes and tokens (and, with the shared state on SQL, expired state rows), and
 * self-registered clients that never got a token within `unusedClientWindow` of registering,
 * every `intervalSeconds`, in batches of `batchSize`, in one process at a time: each run first
 * tries the database's lock (`Storage.tryExclusive`) and is skipped when another process holds it.
 */
export function startPurge(o: PurgeOptions) {
  let running: Promise<PurgeRun> | null = null;
  async function purge(): Promise<PurgeRun> {
    const started = Date.now();
    const r = await o.storage.tryExclusive(PURGE_LOCK, async () => {
      let deleted = await o.storage.purgeExpired(o.batchSize);
      // The state store deletes one batch per call.
      for (let i = 0; o.state.purgeExpired && i < 1_000_000; i++) {
        const n = await o.state.purgeExpired(o.batchSize);
        deleted += n;
        if (n < o.batchSize) break;
      }
      let unusedClients = 0;
      const window = o.unusedClientWindow ?? 0;
      if (window > 0) {
        const before = new Date(Date.now() - window * 1000);
        for (let i = 0; i < 1_000_000; i++) {
          const n = await o.storage.purgeUnusedClients(before, o.batchSize);
          unusedClients += n;
          if (n < o.batchSize) break;
        }
      }
      return { deleted, unusedClients };
    });
    if (!r.ran) return { ran: false };
    const { deleted, unusedClients } = r.value;
    if (deleted > 0) o.logger.info('purged expired rows', { deleted, durationMs: Date.now() - started });
    if (unusedClients > 0) o.logger.info('purged never-used registered clients', { clients: unusedClients });
    return { ran: true, deleted, unusedClients };
  }
  /** One run now (or the one under way). */
  function runOnce(): Promise<PurgeRun> {
    running ??= purge().finally(() => {
      running = null;
    });
    return running;
  }
  const timer =
    o.intervalSeconds > 0
      ? setInterval(() => {
          runOnce().catch((err) => o.logger.warn('purging expired rows failed', { error: describeError(err) }));
        }, o.intervalSeconds * 1000)
      : null;
  timer?.unref();
  return {
    runOnce,
    /** Stops the timer and waits for a run under way. */
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      await running?.catch(() => {});
    },
  };
}
