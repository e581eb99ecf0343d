import assert from 'node:assert/strict';
import { makeGrant } from '@portcullis/binding-testkit';
import { textCommand } from '@portcullis/binding-testkit/servers';
import { Client } from 'memjs';
import { afterAll, describe, inject, it } from 'vitest';
import { createMemcachedGrantCache, exptime, MAX_RELATIVE_EXPTIME } from '../src/index.js';

const DAY = 86_400_000;

describe('memcached exptime', () => {
  it('whole seconds rounded up, relative up to 30 days, absolute unix time beyond', () => {
    const now = 1_750_000_000_123;
    assert.equal(exptime(now + 1, now), 1);
    assert.equal(exptime(now + 1500, now), 2);
    assert.equal(exptime(now + 2000, now), 2);
    assert.equal(exptime(now, now), 0);
    assert.equal(exptime(now - 5000, now), 0);
    assert.equal(exptime(now + 30 * DAY, now), MAX_RELATIVE_EXPTIME);
    assert.equal(exptime(now + 30 * DAY + 1000, now), Math.ceil((now + 30 * DAY + 1000) / 1000));
    const forty = exptime(now + 40 * DAY, now);
    assert.equal(forty, Math.ceil((now + 40 * DAY) / 1000));
    assert.ok(forty > MAX_RELATIVE_EXPTIME, 'beyond 30 days the exptime is an absolute unix time');
  });

  // One server of the pool, so the raw checks know where the item is.
  const [address] = inject('memcachedServers');
  assert.ok(address);
  const port = Number(address.split(':').pop());
  const raw = Client.create(address, { logger: { log: () => {} } });
  const store = createMemcachedGrantCache({ servers: [address], keyPrefix: 'exptime:', defaultTimeout: 60 * 86_400 });
  afterAll(async () => {
    await store.disconnect();
    raw.close();
  });

  /** Seconds the server says the item has left (`mg <key> t`), or null when it has no such item. */
  async function remaining(key: string): Promise<number | null> {
    const reply = await textCommand(port, `mg ${key} t`, (line) => /^(HD|EN|VA)\b/.test(line));
    assert.ok(reply, 'memcached answered the meta get');
    if (reply.startsWith('EN')) return null;
    const ttl = /\bt(-?\d+)/.exec(reply)?.[1];
    assert.ok(ttl !== undefined, `mg reply carries a TTL: ${reply}`);
    return Number(ttl);
  }

  it('a record expiring in 40 days is stored with an absolute exptime and is retrievable', async () => {
    const grant = makeGrant({ expiresAt: new Date(Date.now() + 40 * DAY + 321) });
    await store.saveGrant(grant);
    const left = await remaining(store.keyFor(grant.clientId, grant.code));
    assert.ok(left !== null, 'the item is there');
    const expected = (grant.expiresAt.getTime() - Date.now()) / 1000;
    assert.ok(Math.abs(left - expected) <= 5, `the server keeps it for about 40 days (${left} s left, expected ${expected})`);
    const result = await store.consumeGrant(grant.clientId, grant.code);
    assert.equal(result?.outcome, 'consumed');
    assert.equal(result?.outcome === 'consumed' && result.record.expiresAt.getTime(), grant.expiresAt.getTime());
  });

  it('(why it matters) a relative exptime of 40 days is read as a 1970 date: the item is gone at once', async () => {
    const key = `exptime:trap:${Date.now()}`;
    assert.equal(await raw.set(key, 'x', { expires: 40 * 86_400 }), true);
    assert.equal((await raw.get(key)).value, null);
  });

  it('defaultTimeout caps the exptime', async () => {
    const capped = createMemcachedGrantCache({ servers: [address], keyPrefix: 'exptime:', defaultTimeout: 30 });
    try {
      const grant = makeGrant({ expiresAt: new Date(Date.now() + 40 * DAY) });
      await capped.saveGrant(grant);
      const left = await remaining(capped.keyFor(grant.clientId, grant.code));
      assert.ok(left !== null && left > 0 && left <= 30, `capped at 30 s, got ${left}`);
      assert.equal((await capped.consumeGrant(grant.clientId, grant.code))?.outcome, 'consumed');
    } finally {
      await capped.disconnect();
    }
  });
});
