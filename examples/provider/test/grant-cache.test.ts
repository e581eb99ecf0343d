/**
 * `openGrantCache` hands `REDIS_COMMAND_TIMEOUT_MS` to the grant cache core builds on a single
 * Redis node (core's `redisCommandTimeout`), not only to the cluster cache and the ephemeral
 * store: with the Redis process paused (SIGSTOP: connections stay open, nothing is answered), a
 * redemption fails after that many milliseconds, not the package's 1000. A private Redis, since
 * it is paused, whatever REDIS_URL says.
 */
import { type RedisServer, startRedis } from '@portcullis/binding-testkit/servers';
import type { Logger } from '@portcullis/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGrantCache } from '../src/config.js';
import { openGrantCache } from '../src/grant-cache.js';

const quiet: Logger = { warn: () => {}, error: () => {} };

describe('openGrantCache on a single Redis node', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  }, 60_000);
  afterAll(async () => {
    await redis?.stop();
  });

  const cases: [string, number | undefined, number][] = [
    ['REDIS_COMMAND_TIMEOUT_MS=2500', 2500, 2500],
    ['the default of REDIS_COMMAND_TIMEOUT_MS', undefined, 3000],
  ];
  for (const [name, setting, ms] of cases) {
    it(`a paused Redis fails a redemption after ${ms} ms (${name})`, async () => {
      const cache = await openGrantCache(parseGrantCache(redis.url), 60, quiet, setting);
      if (cache === null) throw new Error('no cache');
      try {
        expect(await cache.store.consumeGrant('client', 'unknown')).toBeNull(); // connected and answering
        await redis.pause();
        let err: (Error & { cause?: Error }) | null;
        try {
          err = await cache.store.consumeGrant('client', 'code').then(
            () => null,
            (e: unknown) => e as Error & { cause?: Error },
          );
        } finally {
          redis.resume();
        }
        expect(err?.name).toBe('StoreUnavailableError');
        expect(err?.cause?.message).toBe(`Redis did not answer within ${ms} ms`);
      } finally {
        await cache.close();
      }
    });
  }

  it('opens with the bounds REDIS_COMMAND_TIMEOUT_MS accepts (100 and 600000), which core accepts too', async () => {
    for (const ms of [100, 600_000]) {
      const cache = await openGrantCache(parseGrantCache(redis.url), 60, quiet, ms);
      expect(cache?.description).toBe('redis');
      await cache?.close();
    }
  });
});
