import assert from 'node:assert/strict';
import { grantCacheProviderSuite, grantStoreSuite, makeGrant } from '@portcullis/binding-testkit';
import { createMemoryGrantCache, type MemoryGrantCache } from '@portcullis/grant-cache-memory';
import { afterAll, beforeAll, describe, it } from 'vitest';

let cache: MemoryGrantCache | undefined;
grantStoreSuite(
  { describe, it, beforeAll, afterAll },
  {
    name: 'memory',
    create: async () => {
      cache = createMemoryGrantCache({ threshold: 10_000 });
      return cache;
    },
    probe: { read: async (clientId, code) => cache?.peek(clientId, code) ?? null },
  },
);

// The end-to-end checks every grant cache shares.
const e2e = createMemoryGrantCache();
grantCacheProviderSuite(
  { describe, it, beforeAll, afterAll },
  {
    name: 'memory',
    create: async () => e2e,
    probe: { read: async (clientId, code) => e2e.peek(clientId, code) },
  },
);

describe('memory grant cache bounds', () => {
  it('stays within threshold under a flood of 100k unredeemed codes', async () => {
    const store = createMemoryGrantCache({ threshold: 500 });
    const clientId = 'flood-client';
    let max = 0;
    for (let i = 0; i < 100_000; i++) {
      await store.saveGrant(makeGrant({ clientId, code: `code-${i}` }));
      if (store.size > max) max = store.size;
    }
    assert.equal(max, 500);
    assert.equal(store.size, 500);
    // The newest 500 survive; everything older was dropped.
    assert.equal((await store.consumeGrant(clientId, 'code-99999'))?.outcome, 'consumed');
    assert.equal((await store.consumeGrant(clientId, 'code-99500'))?.outcome, 'consumed');
    assert.equal(await store.consumeGrant(clientId, 'code-99499'), null);
    assert.equal(await store.consumeGrant(clientId, 'code-0'), null);
  });

  it('drops the oldest entry when full', async () => {
    const store = createMemoryGrantCache({ threshold: 3 });
    const [a, b, c, d] = [makeGrant(), makeGrant(), makeGrant(), makeGrant()];
    for (const g of [a, b, c, d]) await store.saveGrant(g!);
    assert.equal(store.size, 3);
    assert.equal(store.peek(a!.clientId, a!.code), null, 'the oldest is dropped');
    for (const g of [b, c, d]) assert.equal((await store.consumeGrant(g!.clientId, g!.code))?.outcome, 'consumed');
  });

  it('drops expired entries before the oldest live one', async () => {
    const store = createMemoryGrantCache({ threshold: 3 });
    const old = makeGrant();
    const shortLived = makeGrant({ expiresAt: new Date(Date.now() + 30) });
    const young = makeGrant();
    for (const g of [old, shortLived, young]) await store.saveGrant(g);
    await new Promise((resolve) => setTimeout(resolve, 60));
    const newest = makeGrant();
    await store.saveGrant(newest);
    assert.equal(store.size, 3);
    for (const g of [old, young, newest]) {
      assert.equal((await store.consumeGrant(g.clientId, g.code))?.outcome, 'consumed', 'live entries are kept');
    }
  });

  it('consumed markers count towards the threshold and are evicted like codes', async () => {
    const store = createMemoryGrantCache({ threshold: 2 });
    const a = makeGrant();
    await store.saveGrant(a);
    assert.equal((await store.consumeGrant(a.clientId, a.code))?.outcome, 'consumed');
    assert.deepEqual(await store.consumeGrant(a.clientId, a.code), { outcome: 'replayed', grantId: a.grantId });
    await store.saveGrant(makeGrant());
    await store.saveGrant(makeGrant());
    assert.equal(store.size, 2);
    assert.equal(await store.consumeGrant(a.clientId, a.code), null, 'the marker was the oldest entry');
  });

  it('keeps no code longer than defaultTimeout, whatever its expiresAt', async () => {
    const store = createMemoryGrantCache({ defaultTimeout: 0.3 });
    const g = makeGrant();
    await store.saveGrant(g);
    assert.notEqual(store.peek(g.clientId, g.code), null);
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(await store.consumeGrant(g.clientId, g.code), null);
    assert.equal(store.size, 0);
  });

  it('does not keep codes saved already expired', async () => {
    const store = createMemoryGrantCache();
    await store.saveGrant(makeGrant({ expiresAt: new Date(Date.now() - 1) }));
    assert.equal(store.size, 0);
  });

  it('returns copies, so callers cannot change what is stored', async () => {
    const store = createMemoryGrantCache();
    const g = makeGrant({ scopes: ['read'] });
    const saved = { ...g, scopes: [...g.scopes] };
    await store.saveGrant(saved);
    saved.scopes.push('admin');
    const r = await store.consumeGrant(g.clientId, g.code);
    assert.deepEqual(r?.outcome === 'consumed' ? r.record.scopes : null, ['read']);
  });

  it('keeps the key prefix per cache and separates clients', async () => {
    const store = createMemoryGrantCache({ keyPrefix: 'app1:' });
    const g = makeGrant({ clientId: '1:a', code: 'b' });
    await store.saveGrant(g);
    assert.equal(await store.consumeGrant('1', 'a:b'), null);
    assert.equal((await store.consumeGrant('1:a', 'b'))?.outcome, 'consumed');
  });

  it('rejects bad options', () => {
    assert.throws(() => createMemoryGrantCache({ threshold: 0 }), /threshold/);
    assert.throws(() => createMemoryGrantCache({ threshold: 1.5 }), /threshold/);
    assert.throws(() => createMemoryGrantCache({ defaultTimeout: -1 }), /defaultTimeout/);
    assert.throws(() => createMemoryGrantCache({ defaultTimeout: Number.NaN }), /defaultTimeout/);
  });
});
