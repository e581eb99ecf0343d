/**
 * Pins behaviour that mutation testing (`pnpm mutation:bindings`, packages/core/MUTATION.md) found
 * unchecked: deadlines to the millisecond (a code is gone at exactly its deadline), a full cache
 * dropping expired entries before live ones (the lower bound of deadlines kept right), option
 * checks, and what the cache advertises. The clock is vitest's fake `Date`, set by hand.
 */
import assert from 'node:assert/strict';
import { makeGrant } from '@portcullis/binding-testkit';
import { createMemoryGrantCache } from '@portcullis/grant-cache-memory';
import { afterEach, beforeEach, describe, it, vi } from 'vitest';

const T0 = Date.UTC(2026, 0, 1);
const at = (ms: number) => new Date(T0 + ms);

describe('memory grant cache: deadlines to the millisecond (fake clock)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a saved code is live until just before expiresAt and gone at exactly expiresAt', async () => {
    const cache = createMemoryGrantCache();
    const grant = makeGrant({ expiresAt: at(5000) });
    await cache.saveGrant(grant);
    assert.equal(cache.peek(grant.clientId, grant.code)?.state, 'live');
    vi.setSystemTime(T0 + 4999);
    assert.equal(cache.peek(grant.clientId, grant.code)?.state, 'live');
    vi.setSystemTime(T0 + 5000);
    assert.equal(cache.peek(grant.clientId, grant.code), null);
    assert.equal(await cache.consumeGrant(grant.clientId, grant.code), null);
  });

  it('hostile: a grant whose expiresAt is exactly now, or past, is not stored', async () => {
    const cache = createMemoryGrantCache();
    for (const expiresAt of [at(0), at(-1), new Date(Number.NaN)]) {
      const grant = makeGrant({ expiresAt });
      await cache.saveGrant(grant);
      assert.equal(cache.size, 0, 'it takes no slot');
      assert.equal(cache.peek(grant.clientId, grant.code), null, String(expiresAt.getTime()));
    }
    assert.equal(cache.size, 0);
  });

  it('a full cache drops an entry that expires exactly now before the oldest live one', async () => {
    const cache = createMemoryGrantCache({ threshold: 2 });
    const long = makeGrant({ expiresAt: at(60_000) });
    const short = makeGrant({ expiresAt: at(1000) });
    await cache.saveGrant(long);
    await cache.saveGrant(short);
    vi.setSystemTime(T0 + 1000);
    const next = makeGrant({ expiresAt: at(60_000) });
    await cache.saveGrant(next);
    assert.equal(cache.peek(long.clientId, long.code)?.state, 'live', 'the oldest, still live, is kept');
    assert.equal(cache.peek(next.clientId, next.code)?.state, 'live');
    assert.equal(cache.size, 2);
  });

  it('after a sweep the earliest remaining deadline is still known: a later sweep drops it, not a live entry', async () => {
    const cache = createMemoryGrantCache({ threshold: 4 });
    const oldest = makeGrant({ expiresAt: at(9500) });
    const mid = makeGrant({ expiresAt: at(500) });
    const first = makeGrant({ expiresAt: at(100) });
    const last = makeGrant({ expiresAt: at(9000) });
    for (const g of [oldest, mid, first, last]) await cache.saveGrant(g);
    // t=100: full, so the save sweeps: `first` goes; the earliest left is `mid`'s 500, not `last`'s 9000.
    vi.setSystemTime(T0 + 100);
    await cache.saveGrant(makeGrant({ expiresAt: at(9600) }));
    assert.equal(cache.peek(first.clientId, first.code), null);
    assert.equal(cache.size, 4);
    // t=500: full again: the sweep must find `mid` expired rather than evict `oldest`, which is live.
    vi.setSystemTime(T0 + 500);
    await cache.saveGrant(makeGrant({ expiresAt: at(9600) }));
    assert.equal(cache.peek(oldest.clientId, oldest.code)?.state, 'live', 'the live oldest entry is kept');
    assert.equal(cache.peek(last.clientId, last.code)?.state, 'live');
    assert.equal(cache.size, 4);
  });

  it('a consumed marker keeps the code deadline: replayed before it, unknown at it', async () => {
    const cache = createMemoryGrantCache();
    const grant = makeGrant({ expiresAt: at(3000) });
    await cache.saveGrant(grant);
    assert.equal((await cache.consumeGrant(grant.clientId, grant.code))?.outcome, 'consumed');
    assert.deepEqual(cache.peek(grant.clientId, grant.code), { state: 'consumed', grantId: grant.grantId, deadline: T0 + 3000 });
    vi.setSystemTime(T0 + 2999);
    assert.deepEqual(await cache.consumeGrant(grant.clientId, grant.code), { outcome: 'replayed', grantId: grant.grantId });
    vi.setSystemTime(T0 + 3000);
    assert.equal(await cache.consumeGrant(grant.clientId, grant.code), null);
  });

  it('defaultTimeout caps the deadline of a live entry', async () => {
    const cache = createMemoryGrantCache({ defaultTimeout: 2 });
    const grant = makeGrant({ expiresAt: at(3_600_000) });
    await cache.saveGrant(grant);
    assert.deepEqual(cache.peek(grant.clientId, grant.code), { state: 'live', record: grant, deadline: T0 + 2000 });
  });
});

describe('memory grant cache: options and what it advertises', () => {
  it('accepts the smallest threshold (1): it keeps the newest entry only', async () => {
    const cache = createMemoryGrantCache({ threshold: 1 });
    const a = makeGrant();
    const b = makeGrant();
    await cache.saveGrant(a);
    await cache.saveGrant(b);
    assert.equal(cache.size, 1);
    assert.equal(cache.peek(a.clientId, a.code), null);
    assert.equal((await cache.consumeGrant(b.clientId, b.code))?.outcome, 'consumed');
  });

  it('hostile: a zero, negative or non-numeric defaultTimeout and a non-string keyPrefix are refused', () => {
    for (const defaultTimeout of [0, -1, Number.NaN, '100' as unknown as number]) {
      assert.throws(() => createMemoryGrantCache({ defaultTimeout }), RangeError, String(defaultTimeout));
    }
    assert.doesNotThrow(() => createMemoryGrantCache({ defaultTimeout: 0.001 }));
    assert.throws(() => createMemoryGrantCache({ keyPrefix: 7 as unknown as string }), {
      name: 'TypeError',
      message: 'keyPrefix must be a string',
    });
  });

  it('detects replays with millisecond deadlines', () => {
    const cache = createMemoryGrantCache();
    assert.equal(cache.detectsReplay, true);
    assert.deepEqual(cache.capabilities, { detectsReplay: true, ttlGranularity: 'ms' });
  });
});
