/**
 * Pins behaviour that mutation testing (`pnpm mutation:bindings`, packages/core/MUTATION.md) found
 * unchecked: the `db` and `password` options of a cache-created client, Redis replies that mean
 * "not available right now" (READONLY, MASTERDOWN) mapped to StoreUnavailableError, what the
 * cache advertises, and `disconnect()` with and without a client of its own. Real redis-servers
 * throughout.
 */
import assert from 'node:assert/strict';
import { makeGrant } from '@portcullis/binding-testkit';
import { type RedisServer, startRedis } from '@portcullis/binding-testkit/servers';
import { StoreUnavailableError } from '@portcullis/core';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, inject, it } from 'vitest';
import { createRedisGrantCache, type RedisGrantCache } from '../src/index.js';

/** Asserts `promise` rejects with StoreUnavailableError whose message and cause chain omit `secret`. */
async function rejectsUnavailable(promise: Promise<unknown>, what: string, secret?: string): Promise<StoreUnavailableError> {
  let caught: unknown;
  await assert.rejects(promise, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof StoreUnavailableError, `${what}: StoreUnavailableError, got ${String(caught)}`);
  if (secret !== undefined) {
    assert.ok(!caught.message.includes(secret), `${what}: the password stays out of the message`);
  }
  return caught;
}

describe('redis grant cache: db and password of a cache-created client', () => {
  const PASSWORD = 'pinned-redis-s3cret';
  let server: RedisServer;
  let admin: ReturnType<typeof createClient>;
  const caches: RedisGrantCache[] = [];
  const cache = (options: Parameters<typeof createRedisGrantCache>[0]) => {
    const c = createRedisGrantCache(options);
    caches.push(c);
    return c;
  };

  beforeAll(async () => {
    server = await startRedis();
    admin = createClient({ url: server.url });
    admin.on('error', () => {});
    await admin.connect();
    await admin.configSet('requirepass', PASSWORD);
  });
  afterAll(async () => {
    for (const c of caches) await c.disconnect();
    admin?.destroy();
    await server?.stop();
  });

  it('host, port, password and db: the code is written to that database', async () => {
    const store = cache({ host: '127.0.0.1', port: server.port, password: PASSWORD, db: 5 });
    const grant = makeGrant();
    await store.saveGrant(grant);
    const key = store.keyFor(grant.clientId, grant.code);
    await admin.select(5);
    assert.ok(await admin.get(key), 'the record is in db 5');
    await admin.select(0);
    assert.equal(await admin.get(key), null, 'and not in db 0');
    assert.equal((await store.consumeGrant(grant.clientId, grant.code))?.outcome, 'consumed');
  });

  it('url with password and db options: both apply', async () => {
    const store = cache({ url: server.url, password: PASSWORD, db: 7 });
    const grant = makeGrant();
    await store.saveGrant(grant);
    await admin.select(7);
    try {
      assert.ok(await admin.get(store.keyFor(grant.clientId, grant.code)), 'the record is in db 7');
    } finally {
      await admin.select(0);
    }
  });

  it('hostile: a wrong or missing password gives StoreUnavailableError that never quotes it', async () => {
    const wrong = cache({ host: '127.0.0.1', port: server.port, password: 'wrong-hunter2', connectTimeout: 300 });
    await rejectsUnavailable(wrong.saveGrant(makeGrant()), 'wrong password', 'wrong-hunter2');
    const none = cache({ host: '127.0.0.1', port: server.port, connectTimeout: 300 });
    await rejectsUnavailable(none.consumeGrant('c', 'x'), 'no password');
  });
});

describe('redis grant cache: replies that mean the store is unavailable', () => {
  let replica: RedisServer;
  let client: ReturnType<typeof createClient>;

  beforeAll(async () => {
    // A read-only replica of a master that is not there: writes get READONLY, and with stale
    // data refused every read gets MASTERDOWN.
    // (Made a replica once started: the launcher's readiness PING would get MASTERDOWN.)
    replica = await startRedis();
    client = createClient({ url: replica.url });
    client.on('error', () => {});
    await client.connect();
    await client.configSet('replica-serve-stale-data', 'no');
    await client.replicaOf('127.0.0.1', 1);
  });
  afterAll(async () => {
    client?.destroy();
    await replica?.stop();
  });

  it('saveGrant on a read-only replica (READONLY) and consumeGrant while its master is down (MASTERDOWN)', async () => {
    const store = createRedisGrantCache({ client });
    const save = await rejectsUnavailable(store.saveGrant(makeGrant()), 'save on a replica');
    assert.equal(save.message, 'Redis grant cache is unavailable');
    assert.match(String((save.cause as Error).message), /^(READONLY|MASTERDOWN)\b/);
    const consume = await rejectsUnavailable(store.consumeGrant('c', 'x'), 'consume on a replica');
    assert.match(String((consume.cause as Error).message), /^(READONLY|MASTERDOWN)\b/);
  });
});

describe('redis grant cache: what it advertises and disconnect()', () => {
  it('detects replays with millisecond expiry', () => {
    const store = createRedisGrantCache({ url: inject('redisUrl') });
    assert.equal(store.detectsReplay, true);
    assert.deepEqual(store.capabilities, { detectsReplay: true, ttlGranularity: 'ms' });
    assert.equal(store.keyFor('c1', 'x'), 'grant:c1:x', 'no key prefix unless one is given');
  });

  it('disconnect() leaves a client that was passed in open, and closes one it created', async () => {
    const app = createClient({ url: inject('redisUrl') });
    app.on('error', () => {});
    await app.connect();
    try {
      const passed = createRedisGrantCache({ client: app });
      await passed.disconnect();
      assert.equal(app.isOpen, true, 'the application client stays open');
      assert.equal(await app.ping(), 'PONG');
    } finally {
      app.destroy();
    }
    const own = createRedisGrantCache({ url: inject('redisUrl'), keyPrefix: 'pinned:' });
    await own.disconnect(); // never connected: nothing to close
    const grant = makeGrant();
    await own.saveGrant(grant); // connects on first use
    await own.disconnect();
    await rejectsUnavailable(own.consumeGrant(grant.clientId, grant.code), 'after disconnect');
  });

  it('hostile: a grant already past expiresAt is not stored', async () => {
    const raw = createClient({ url: inject('redisUrl') });
    raw.on('error', () => {});
    await raw.connect();
    const store = createRedisGrantCache({ client: raw, keyPrefix: 'pinned:' });
    try {
      const grant = makeGrant({ expiresAt: new Date(Date.now() - 1000) });
      await store.saveGrant(grant);
      assert.equal(await raw.exists(store.keyFor(grant.clientId, grant.code)), 0);
      assert.equal(await store.consumeGrant(grant.clientId, grant.code), null);
    } finally {
      raw.destroy();
    }
  });

  it('hostile: a stored value that does not decode is unknown (null), never a 500', async () => {
    const raw = createClient({ url: inject('redisUrl') });
    raw.on('error', () => {});
    await raw.connect();
    const store = createRedisGrantCache({ client: raw, keyPrefix: 'pinned-bad:' });
    try {
      for (const record of ['not json', '{"userId":1}', 'null', '[]']) {
        const grant = makeGrant();
        await raw.set(store.keyFor(grant.clientId, grant.code), `${JSON.stringify({ consumed: true, grantId: grant.grantId })}\n${record}`);
        assert.equal(await store.consumeGrant(grant.clientId, grant.code), null, record);
      }
    } finally {
      raw.destroy();
    }
  });

  it('hostile: option and input errors say what is wrong', async () => {
    const url = inject('redisUrl');
    assert.throws(() => createRedisGrantCache({ url, defaultTimeout: 0.0004 }), {
      name: 'TypeError',
      message: 'defaultTimeout must be a positive number of seconds',
    });
    assert.doesNotThrow(() => createRedisGrantCache({ url, defaultTimeout: 0.001 }), 'one millisecond is enough');
    assert.throws(() => createRedisGrantCache({ url: 'http://user:hunter2@127.0.0.1:6379' }), {
      name: 'TypeError',
      message: 'createRedisGrantCache: url must be a redis:// or rediss:// URL',
    });
    const raw = createClient({ url });
    raw.on('error', () => {});
    await raw.connect();
    try {
      const store = createRedisGrantCache({ client: raw, keyPrefix: 'pinned-nan:' });
      const grant = makeGrant({ expiresAt: new Date(Number.NaN) });
      await assert.rejects(store.saveGrant(grant), { name: 'TypeError', message: 'expiresAt must be a valid Date' });
      assert.equal(await raw.exists(store.keyFor(grant.clientId, grant.code)), 0);
    } finally {
      raw.destroy();
    }
  });

  it('a created client reports its connection errors to onError', async () => {
    const errors: Error[] = [];
    let first: (() => void) | undefined;
    // Port 1 on the loopback: refused at once.
    const store = createRedisGrantCache({
      host: '127.0.0.1',
      port: 1,
      connectTimeout: 200,
      onError: (err) => {
        errors.push(err);
        first?.();
      },
    });
    try {
      await rejectsUnavailable(store.consumeGrant('c', 'x'), 'nobody listening');
      // Bounded: the refusal is reported long before this gives up.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 10_000);
        first = () => {
          clearTimeout(timer);
          resolve();
        };
        if (errors.length > 0) first();
      });
      assert.ok(errors.length > 0, 'onError received the connection error');
    } finally {
      await store.disconnect();
    }
  });
});
