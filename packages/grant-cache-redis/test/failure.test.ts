import assert from 'node:assert/strict';
import { makeGrant } from '@portcullis/binding-testkit';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createRedisGrantCache, type RedisGrantCache } from '../src/index.js';
import { eventually, expectUnavailable } from './helpers.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

// A dedicated server, stopped and restarted on the same port by this test.
describe('redis server down and back', () => {
  let server: RedisServer;
  const errors: Error[] = [];
  let own: RedisGrantCache;
  let app: ReturnType<typeof createClient>;
  let passed: RedisGrantCache;

  beforeAll(async () => {
    server = await startRedisServer();
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
    await server?.dispose();
  });

  for (const [name, store] of [
    ['cache-created client', () => own],
    ['application client', () => passed],
  ] as const) {
    it(`${name}: fails with StoreUnavailableError while down, recovers by itself`, async () => {
      const before = makeGrant();
      await store().saveGrant(before);
      const pending = makeGrant();
      await store().saveGrant(pending);
      assert.equal((await store().consumeGrant(before.clientId, before.code))?.outcome, 'consumed');

      await server.stop();
      for (let i = 0; i < 3; i++) {
        await expectUnavailable(store().saveGrant(makeGrant()), `saveGrant #${i} while down`);
        await expectUnavailable(store().consumeGrant(pending.clientId, pending.code), `consumeGrant #${i} while down`);
      }

      await server.start();
      const after = makeGrant();
      await eventually(() => store().saveGrant(after), 'saveGrant after restart');
      const result = await store().consumeGrant(after.clientId, after.code);
      assert.equal(result?.outcome, 'consumed', 'a code saved after the restart is consumed');
      // The server keeps no data (--save ''), so the code saved before the outage is gone.
      assert.equal(await store().consumeGrant(pending.clientId, pending.code), null);
    });

    it(`${name}: a frozen server (no answers) gives StoreUnavailableError, not a hang`, async () => {
      const pending = makeGrant();
      await eventually(() => store().saveGrant(pending), 'saveGrant before freezing');
      await server.pause();
      try {
        await expectUnavailable(store().saveGrant(makeGrant()), 'saveGrant while frozen');
        await expectUnavailable(store().consumeGrant(pending.clientId, pending.code), 'consumeGrant while frozen');
      } finally {
        server.resume();
      }
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
    const server = await startRedisServer();
    await server.stop();
    const store = createRedisGrantCache({ url: server.url });
    try {
      const grant = makeGrant();
      await expectUnavailable(store.saveGrant(grant), 'saveGrant before the server is up');
      await expectUnavailable(store.consumeGrant(grant.clientId, grant.code), 'consumeGrant before the server is up');
      await server.start();
      await eventually(() => store.saveGrant(grant), 'saveGrant once the server is up');
      assert.equal((await store.consumeGrant(grant.clientId, grant.code))?.outcome, 'consumed');
    } finally {
      await store.disconnect();
      await server.dispose();
    }
  });
});
