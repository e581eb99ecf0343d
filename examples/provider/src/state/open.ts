import type { AppConfig } from '../config.js';
import type { Storage } from '../storage.js';
import { type AppState, memoryState, sharedState } from './app-state.js';

/**
 * The app state `STATE_STORE` asks for: `memory`, or `shared` on Redis (or the Redis Cluster of
 * `REDIS_CLUSTER_NODES`) when the grant cache is Redis (a connection of its own), else on the
 * database (the storage's connection).
 */
export async function openState(config: AppConfig, storage: Storage): Promise<AppState> {
  const o = { sessionTtlMs: config.sessionTtl * 1000, sessionMaxEntries: config.sessionMaxEntries };
  if (config.stateStore === 'memory') return memoryState(o);
  if (config.grantCache.type === 'redis') {
    const { openRedisKeyValue } = await import('./redis.js');
    return sharedState(await openRedisKeyValue(config.grantCache), o);
  }
  return sharedState(await storage.openKeyValue(), o);
}
