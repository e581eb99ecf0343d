/**
 * Pins behaviour that mutation testing (`pnpm mutation:bindings`, packages/core/MUTATION.md) found
 * unchecked: the key prefix bounds, a server's error status passed on as is (not an outage),
 * records that do not decode, what the cache advertises, and `disconnect()` with a client passed
 * in. Real memcached servers throughout.
 */
import assert from 'node:assert/strict';
import { makeGrant } from '@portcullis/binding-testkit';
import { StoreUnavailableError } from '@portcullis/core';
import { Client } from 'memjs';
import { afterAll, describe, inject, it } from 'vitest';
import { createMemcachedGrantCache, type MemcachedGrantCache } from '../src/index.js';

const servers = inject('memcachedServers');
const quiet = { logger: { log: () => {} } };
const raw = Client.create(servers.join(','), quiet);
const caches: MemcachedGrantCache[] = [];
function cache(options: Parameters<typeof createMemcachedGrantCache>[0]): MemcachedGrantCache {
  const c = createMemcachedGrantCache(options);
  caches.push(c);
  return c;
}
afterAll(async () => {
  for (const c of caches) await c.disconnect();
  raw.close();
});

describe('memcached grant cache: key prefix', () => {
  it('the longest allowed prefix (200 printable characters) works end to end', async () => {
    const keyPrefix = `${'p'.repeat(199)}~`;
    const store = cache({ servers, keyPrefix });
    const grant = makeGrant();
    await store.saveGrant(grant);
    assert.ok(store.keyFor(grant.clientId, grant.code).startsWith(`${keyPrefix}grant:`));
    assert.ok(store.markerKeyFor(grant.clientId, grant.code).startsWith(`${keyPrefix}used:`));
    assert.ok((await raw.get(store.keyFor(grant.clientId, grant.code))).value, 'the record is under the prefixed key');
    assert.equal((await store.consumeGrant(grant.clientId, grant.code))?.outcome, 'consumed');
    assert.equal((await raw.get(store.markerKeyFor(grant.clientId, grant.code))).value?.toString('utf8'), grant.grantId);
  });

  it('hostile: a prefix with a control character, DEL, or one character too many is refused', () => {
    for (const keyPrefix of ['a\nb', 'a\x7f', 'a\x00', `${'p'.repeat(200)}~`]) {
      assert.throws(() => createMemcachedGrantCache({ servers, keyPrefix }), TypeError, JSON.stringify(keyPrefix));
    }
  });

  it('two prefixes keep their codes apart; record and marker keys differ', async () => {
    const a = cache({ servers, keyPrefix: 'pin-a:' });
    const b = cache({ servers, keyPrefix: 'pin-b:' });
    const grant = makeGrant();
    assert.notEqual(a.keyFor(grant.clientId, grant.code), a.markerKeyFor(grant.clientId, grant.code));
    await a.saveGrant(grant);
    assert.equal(await b.consumeGrant(grant.clientId, grant.code), null, 'another prefix sees nothing');
    assert.equal((await a.consumeGrant(grant.clientId, grant.code))?.outcome, 'consumed');
  });
});

describe('memcached grant cache: server errors and bad records', () => {
  it('hostile: a record too large for memcached is a server error passed on as is, not an outage', async () => {
    const store = cache({ servers, keyPrefix: 'pin-big:' });
    const grant = makeGrant({ scopes: Array.from({ length: 3000 }, (_, i) => `scope-${i}-${'x'.repeat(400)}`) });
    await assert.rejects(store.saveGrant(grant), (err: unknown) => {
      assert.ok(!(err instanceof StoreUnavailableError), `a server's error status is not an outage: ${String(err)}`);
      assert.match(String(err), /^Error: MemJS SET: /);
      return true;
    });
    assert.equal(await store.consumeGrant(grant.clientId, grant.code), null);
  });

  it('hostile: a record that does not decode is unknown (null) and claims no marker', async () => {
    const store = cache({ servers, keyPrefix: 'pin-bad:' });
    for (const text of ['not json', '{"userId":1}', 'null', '[]']) {
      const grant = makeGrant();
      await raw.set(store.keyFor(grant.clientId, grant.code), text, { expires: 60 });
      assert.equal(await store.consumeGrant(grant.clientId, grant.code), null, text);
      assert.equal((await raw.get(store.markerKeyFor(grant.clientId, grant.code))).value, null, `${text}: no marker`);
    }
  });

  it('hostile: a record past its expiresAt (written without the cache) is null and claims no marker', async () => {
    const store = cache({ servers, keyPrefix: 'pin-old:' });
    const grant = makeGrant({ expiresAt: new Date(Date.now() - 1000) });
    const record = { ...grant, expiresAt: grant.expiresAt.getTime() };
    await raw.set(store.keyFor(grant.clientId, grant.code), JSON.stringify(record), { expires: 60 });
    assert.equal(await store.consumeGrant(grant.clientId, grant.code), null);
    assert.equal((await raw.get(store.markerKeyFor(grant.clientId, grant.code))).value, null);
  });

  it('a grant already past expiresAt is not stored', async () => {
    const store = cache({ servers, keyPrefix: 'pin-past:' });
    const grant = makeGrant({ expiresAt: new Date(Date.now() - 1) });
    await store.saveGrant(grant);
    assert.equal((await raw.get(store.keyFor(grant.clientId, grant.code))).value, null);
  });
});

describe('memcached grant cache: what it advertises and disconnect()', () => {
  it('detects replays with whole-second expiry', () => {
    const store = cache({ servers });
    assert.equal(store.detectsReplay, true);
    assert.deepEqual(store.capabilities, { detectsReplay: true, ttlGranularity: 's' });
  });

  it('servers as one comma-separated string spreads over the pool like the list', async () => {
    const store = cache({ servers: servers.join(','), keyPrefix: 'pin-list:' });
    const grants = Array.from({ length: 10 }, () => makeGrant());
    for (const g of grants) await store.saveGrant(g);
    for (const g of grants) assert.equal((await store.consumeGrant(g.clientId, g.code))?.outcome, 'consumed');
  });

  it('disconnect() leaves a memjs client that was passed in open', async () => {
    const app = Client.create(servers.join(','), quiet);
    try {
      const passed = createMemcachedGrantCache({ client: app, keyPrefix: 'pin-app:' });
      const grant = makeGrant();
      await passed.saveGrant(grant);
      await passed.disconnect();
      assert.ok((await app.get(passed.keyFor(grant.clientId, grant.code))).value, 'the application client still works');
      assert.equal((await passed.consumeGrant(grant.clientId, grant.code))?.outcome, 'consumed');
    } finally {
      app.close();
    }
  });
});

describe('memcached grant cache: errors say what is wrong', () => {
  it('a server nobody listens on gives StoreUnavailableError with the connection error as cause', async () => {
    // Port 1 on the loopback: refused at once.
    const down = cache({ servers: '127.0.0.1:1', connectTimeout: 200, commandTimeout: 200 });
    await assert.rejects(down.consumeGrant('c', 'x'), (err: unknown) => {
      assert.ok(err instanceof StoreUnavailableError, String(err));
      assert.equal(err.message, 'memcached grant cache is unavailable');
      assert.ok(err.cause instanceof Error, 'the connection error is kept as the cause');
      return true;
    });
  });

  it('hostile: bad options and a NaN expiresAt are refused with their reason; nothing is stored', async () => {
    assert.throws(() => createMemcachedGrantCache({ servers, keyPrefix: 'a b' }), {
      name: 'TypeError',
      message: 'keyPrefix must be printable ASCII without spaces, at most 200 characters',
    });
    assert.throws(() => createMemcachedGrantCache({ servers, defaultTimeout: 0.0004 }), {
      name: 'TypeError',
      message: 'defaultTimeout must be a positive number of seconds',
    });
    assert.doesNotThrow(() => cache({ servers, defaultTimeout: 0.001 }), 'one millisecond is enough');
    assert.throws(() => createMemcachedGrantCache({ servers: [] }), {
      name: 'TypeError',
      message: 'createMemcachedGrantCache needs `servers` or `client`',
    });
    const store = cache({ servers, keyPrefix: 'pin-nan:' });
    const grant = makeGrant({ expiresAt: new Date(Number.NaN) });
    await assert.rejects(store.saveGrant(grant), { name: 'TypeError', message: 'expiresAt must be a valid Date' });
    assert.equal((await raw.get(store.keyFor(grant.clientId, grant.code))).value, null);
  });

  it('client ids that differ only in a lone surrogate get different keys', () => {
    const store = cache({ servers });
    assert.notEqual(store.keyFor('\ud800', 'c'), store.keyFor('\ufffd', 'c'));
    assert.notEqual(store.markerKeyFor('\ud800', 'c'), store.markerKeyFor('\ufffd', 'c'));
  });
});
