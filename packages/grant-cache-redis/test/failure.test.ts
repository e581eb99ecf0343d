import assert from 'node:assert/strict';
import { makeGrant } from '@portcullis/binding-testkit';
import {
  checkDownAndBack,
  checkDownFromStart,
  checkFrozen,
  eventually,
  type RedisServer,
  startRedis,
} from '@portcullis/binding-testkit/servers';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createRedisGrantCache, type RedisGrantCache } from '../src/index.js';

// A dedicated server, stopped and restarted on the same port by this test.
describe('redis server down and back', () => {
  let server: RedisServer;
  const errors: Error[] = [];
  let own: RedisGrantCache;
  let app: ReturnType<typeof createClient>;
  let passed: RedisGrantCache;

  beforeAll(async () => {
    server = await startRedis();
    own = createRedisGrantCache({ host: '127.0.0.1', port: server.port, onError: (err) => errors.push(err) });
    // An application's client with node-redis defaults (offline queue on): the cache's command
    // timeout is what makes it fail fast.
    app = createClient({ url: server.url, socket: { reconnectStrategy: 100 } });
    app.on('error', () => {});
    await app.connect();
    passed = createRedisGrantCache({ client: app, commandTimeout: 500 });
  });
  afterAll(async () => {
    await own?.disconnect();
    app?.destroy();
    await server?.stop();
  });

  for (const [name, store] of [
    ['cache-created client', () => own],
    ['application client', () => passed],
  ] as const) {
    // The server keeps no data (--save ''), as checkDownAndBack expects.
    it(`${name}: fails with StoreUnavailableError while down, recovers by itself`, async () => {
      await checkDownAndBack(store(), server);
    });

    it(`${name}: a frozen server (no answers) gives StoreUnavailableError, not a hang`, async () => {
      const pending = await checkFrozen(store(), server);
      // The consume sent while frozen was already on the wire: Redis runs it when it wakes up,
      // so the code is burned (never handed out twice) and now reports a replay.
      const result = await eventually(() => store().consumeGrant(pending.clientId, pending.code), 'consume after thawing');
      assert.deepEqual(result, { outcome: 'replayed', grantId: pending.grantId });
      const fresh = makeGrant();
      await store().saveGrant(fresh);
      assert.equal((await store().consumeGrant(fresh.clientId, fresh.code))?.outcome, 'consumed');
    });
  }

  it('connection errors went to onError instead of crashing the process', () => {
    assert.ok(errors.length > 0, 'the created client reported its connection errors');
  });
});

describe('redis server down from the start', () => {
  it('a cache whose server is not up yet fails fast, then works once it starts', async () => {
    const server = await startRedis();
    try {
      await checkDownFromStart(
        server,
        () => createRedisGrantCache({ url: server.url }),
        (store) => store.disconnect(),
      );
    } finally {
      await server.stop();
    }
  });
});
