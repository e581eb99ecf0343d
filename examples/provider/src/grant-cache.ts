import { type CacheGrantConfig, createCacheGrant, type GrantStore, type Logger } from '@portcullis/core';
import type { GrantCacheConfig } from './config.js';

/** A grant store the app opened, and how to close it. */
export interface OpenGrantCache {
  readonly store: GrantStore;
  /** What it is, for the startup banner (no credentials). */
  readonly description: string;
  close(): Promise<void>;
}

/**
 * Opens the grant cache `GRANT_CACHE` names, through core's `createCacheGrant` (which loads the
 * backend package). Codes are kept at most `defaultTimeout` seconds (the authorization code
 * lifetime). `database` returns `null`: the database binding keeps them.
 */
export async function openGrantCache(config: GrantCacheConfig, defaultTimeout: number, logger: Logger): Promise<OpenGrantCache | null> {
  let settings: CacheGrantConfig;
  let description: string;
  switch (config.type) {
    case 'database':
      return null;
    case 'memory':
      settings = { type: 'memory', threshold: config.threshold, defaultTimeout };
      description = `memory (at most ${config.threshold} codes)`;
      break;
    case 'redis':
      settings = { type: 'redis', redisUrl: config.url, defaultTimeout };
      description = 'redis';
      break;
    case 'memcached':
      // memcached counts expiry in whole seconds.
      settings = { type: 'memcached', memcachedServers: config.servers, defaultTimeout: Math.max(1, defaultTimeout) };
      description = `memcached (${config.servers.length} servers)`;
      break;
  }
  const store = await createCacheGrant(settings, { importModule: (s) => import(s), logger });
  const disconnect = (store as GrantStore & { disconnect?: () => Promise<void> }).disconnect;
  return { store, description, close: async () => disconnect?.call(store) };
}
