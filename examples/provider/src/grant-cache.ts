import type { GrantStore } from '@portcullis/core';
import type { GrantCacheConfig } from './config.js';

/** A grant store the app opened, and how to close it. */
export interface OpenGrantCache {
  readonly store: GrantStore;
  /** What it is, for the startup banner (no credentials). */
  readonly description: string;
  close(): Promise<void>;
}

/**
 * Opens the grant cache `GRANT_CACHE` names. Codes are kept at most `defaultTimeout` seconds
 * (the authorization code lifetime). `database` returns `null`: the database binding keeps them.
 */
export async function openGrantCache(config: GrantCacheConfig, defaultTimeout: number): Promise<OpenGrantCache | null> {
  switch (config.type) {
    case 'database':
      return null;
    case 'memory': {
      const { createMemoryGrantCache } = await import('@portcullis/grant-cache-memory');
      return {
        store: createMemoryGrantCache({ threshold: config.threshold, defaultTimeout }),
        description: `memory (at most ${config.threshold} codes)`,
        close: async () => {},
      };
    }
    case 'redis': {
      const { createRedisGrantCache } = await import('@portcullis/grant-cache-redis');
      const cache = createRedisGrantCache({ url: config.url, defaultTimeout });
      return { store: cache, description: 'redis', close: () => cache.disconnect() };
    }
    case 'memcached': {
      const { createMemcachedGrantCache } = await import('@portcullis/grant-cache-memcached');
      const cache = createMemcachedGrantCache({ servers: [...config.servers], defaultTimeout: Math.max(1, defaultTimeout) });
      return { store: cache, description: `memcached (${config.servers.length} servers)`, close: () => cache.disconnect() };
    }
  }
}
