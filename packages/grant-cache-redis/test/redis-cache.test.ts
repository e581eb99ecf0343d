import assert from 'node:assert/strict';
import { makeGrant } from '@portcullis/binding-testkit';
import { StoreUnavailableError } from '@portcullis/core';
import { createClient, createCluster } from 'redis';
import { afterAll, beforeAll, describe, inject, it } from 'vitest';
import { createRedisGrantCache, type RedisGrantCache } from '../src/index.js';

describe('redis grant cache specifics', () => {
  const raw = createClient({ url: inject('redisUrl') });
  raw.on('error', () => {});
  let store: RedisGrantCache;
  beforeAll(async () => {
    await raw.connect();
    store = createRedisGrantCache({ client: raw, keyPrefix: 'spec:', defaultTimeout: 120 });
  });
  afterAll(() => raw.destroy());

  it('key scheme: plain parts verbatim, anything else hashed, never ambiguous', () => {
    assert.equal(store.keyFor('c1', 'AbC_-9.x'), 'spec:grant:c1:AbC_-9.x');
    const odd = store.keyFor('https://app.example/client', 'a:b');
    assert.match(odd, /^spec:grant:~[A-Za-z0-9_-]{43}:~[A-Za-z0-9_-]{43}$/);
    assert.notEqual(store.keyFor('a:b', 'c'), store.keyFor('a', 'b:c'));
    assert.notEqual(store.keyFor('', 'x'), store.keyFor('x', ''));
    // a lone surrogate and U+FFFD are different strings and must stay different keys
    assert.notEqual(store.keyFor('c', '\ud800'), store.keyFor('c', '\ufffd'));
    assert.match(store.keyFor('c', 'x'.repeat(101)), /^spec:grant:c:~/);
  });

  it('stores JSON with userId and expiresAt in ms (no user object, no code), expiring at expiresAt (PXAT)', async () => {
    const grant = makeGrant({ expiresAt: new Date(Date.now() + 60_123) });
    await store.saveGrant(grant);
    const key = store.keyFor(grant.clientId, grant.code);
    const value = await raw.get(key);
    assert.ok(value);
    const [marker, record] = value.split('\n');
    assert.deepEqual(JSON.parse(marker ?? ''), { consumed: true, grantId: grant.grantId });
    const stored = JSON.parse(record ?? '');
    assert.equal(stored.userId, grant.userId);
    assert.equal(stored.expiresAt, grant.expiresAt.getTime());
    assert.equal(stored.code, undefined);
    assert.equal(await raw.pExpireTime(key), grant.expiresAt.getTime(), 'the key expires exactly at expiresAt');
  });

  it('defaultTimeout caps how long a code stays in Redis', async () => {
    const grant = makeGrant({ expiresAt: new Date(Date.now() + 3_600_000) });
    const before = Date.now();
    await store.saveGrant(grant);
    const expireTime = await raw.pExpireTime(store.keyFor(grant.clientId, grant.code));
    assert.ok(expireTime >= before + 120_000 && expireTime <= Date.now() + 120_000, `capped at 120 s, got ${expireTime - before} ms`);
    assert.equal((await store.consumeGrant(grant.clientId, grant.code))?.outcome, 'consumed');
  });

  it('consume leaves a consumed marker for defaultTimeout that reports replays', async () => {
    const grant = makeGrant();
    await store.saveGrant(grant);
    assert.equal((await store.consumeGrant(grant.clientId, grant.code))?.outcome, 'consumed');
    const key = store.keyFor(grant.clientId, grant.code);
    assert.deepEqual(JSON.parse((await raw.get(key)) ?? ''), { consumed: true, grantId: grant.grantId });
    const ttl = await raw.pTTL(key);
    assert.ok(ttl > 0 && ttl <= 120_000, `marker TTL ${ttl}`);
    assert.deepEqual(await store.consumeGrant(grant.clientId, grant.code), { outcome: 'replayed', grantId: grant.grantId });
  });

  it('a record past its expiresAt is not returned even if Redis still holds it', async () => {
    // Written behind the cache's back (as a clock-skewed writer could), without a TTL.
    const grant = makeGrant({ expiresAt: new Date(Date.now() - 5) });
    const key = store.keyFor(grant.clientId, grant.code);
    const record = { ...grant, scopes: [...grant.scopes], expiresAt: grant.expiresAt.getTime() };
    await raw.set(key, `${JSON.stringify({ consumed: true, grantId: grant.grantId })}\n${JSON.stringify(record)}`);
    assert.equal(await store.consumeGrant(grant.clientId, grant.code), null);
    await raw.del(key);
  });

  it('a Redis error reply is passed on as is (500), not as StoreUnavailableError (503)', async () => {
    const grant = makeGrant();
    const key = store.keyFor(grant.clientId, grant.code);
    await raw.hSet(key, 'not', 'a string');
    try {
      await assert.rejects(store.consumeGrant(grant.clientId, grant.code), (err: unknown) => {
        assert.ok(!(err instanceof StoreUnavailableError), 'WRONGTYPE is not an outage');
        assert.match(String(err), /WRONGTYPE/);
        return true;
      });
    } finally {
      await raw.del(key);
    }
  });

  it('rejects a bad defaultTimeout, an invalid expiresAt and a bad URL (without quoting it)', async () => {
    assert.throws(() => createRedisGrantCache({ client: raw, defaultTimeout: 0 }), TypeError);
    assert.throws(() => createRedisGrantCache({ client: raw, defaultTimeout: Number.NaN }), TypeError);
    await assert.rejects(store.saveGrant(makeGrant({ expiresAt: new Date(Number.NaN) })), TypeError);
    for (const url of ['http://user:hunter2@127.0.0.1:6379', 'not a url hunter2']) {
      assert.throws(
        () => createRedisGrantCache({ url }),
        (err: unknown) => {
          assert.ok(err instanceof TypeError);
          assert.ok(!err.message.includes('hunter2') && err.cause === undefined, 'the URL (and its password) stays out of the error');
          return true;
        },
      );
    }
  });
});

describe('redis cluster', () => {
  it('codes of many clients spread over all three masters and each is consumed once', async () => {
    const cluster = createCluster({
      rootNodes: inject('redisClusterNodes').map(({ host, port }) => ({ url: `redis://${host}:${port}` })),
    });
    cluster.on('error', () => {});
    await cluster.connect();
    try {
      const store = createRedisGrantCache({ client: cluster, keyPrefix: 'spread:' });
      const grants = Array.from({ length: 60 }, () => makeGrant());
      await Promise.all(grants.map((g) => store.saveGrant(g)));
      const masters = new Set<string>();
      for (const g of grants) {
        const node = cluster.slots[await cluster.clusterKeySlot(store.keyFor(g.clientId, g.code))]?.master;
        if (node) masters.add(node.address);
      }
      assert.equal(masters.size, 3, 'keys land on every master');
      const results = await Promise.all(grants.map((g) => store.consumeGrant(g.clientId, g.code)));
      assert.ok(results.every((r) => r?.outcome === 'consumed'));
    } finally {
      cluster.destroy();
    }
  });
});
