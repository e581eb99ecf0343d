/**
 * Replay detection on real memcached servers: a consume claims a marker with `add` before the
 * record is deleted, so exactly one of N concurrent consumers (over separate connections) wins,
 * every other one, and every later one, gets `replayed` with the family id, and the marker
 * expires when the code would have.
 */
import assert from 'node:assert/strict';
import { makeGrant } from '@portcullis/binding-testkit';
import { textCommand } from '@portcullis/binding-testkit/servers';
import type { Consumed, GrantRecord } from '@portcullis/core';
import { Client } from 'memjs';
import { afterAll, describe, inject, it } from 'vitest';
import { createMemcachedGrantCache, type MemcachedGrantCache } from '../src/index.js';

const servers = inject('memcachedServers');
const quiet = { logger: { log: () => {} } };
const opened: { close(): unknown; disconnect?: () => Promise<void> }[] = [];
afterAll(async () => {
  for (const o of opened) await (o.disconnect?.() ?? o.close());
});

function cache(options: { servers?: string[]; defaultTimeout?: number } = {}): MemcachedGrantCache {
  const c = createMemcachedGrantCache({
    servers: options.servers ?? servers,
    keyPrefix: 'replay:',
    defaultTimeout: options.defaultTimeout,
  });
  opened.push({ close: () => undefined, disconnect: () => c.disconnect() });
  return c;
}

function rawClient(over: string[] = servers): Client {
  const c = Client.create(over.join(','), quiet);
  opened.push(c);
  return c;
}

const outcomes = (results: (Consumed<GrantRecord> | null)[]) => ({
  consumed: results.filter((r) => r?.outcome === 'consumed').length,
  replayed: results.filter((r) => r?.outcome === 'replayed').length,
  none: results.filter((r) => r === null).length,
});

describe('memcached replay detection (pool of two)', () => {
  it('N concurrent consumes of one code over four connections give one winner and N-1 replayed', async () => {
    // Four caches, each with its own memjs connections: the consumes race on the servers, not in one socket.
    const caches = [cache(), cache(), cache(), cache()];
    const raw = rawClient();
    for (let round = 0; round < 5; round++) {
      const grant = makeGrant();
      await caches[0]!.saveGrant(grant);
      const n = 40;
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) => caches[i % caches.length]!.consumeGrant(grant.clientId, grant.code)),
      );
      assert.deepEqual(outcomes(results), { consumed: 1, replayed: n - 1, none: 0 }, `round ${round}`);
      const winner = results.find((r) => r?.outcome === 'consumed');
      assert.deepEqual(winner, { outcome: 'consumed', record: grant });
      for (const r of results) if (r?.outcome === 'replayed') assert.deepEqual(r, { outcome: 'replayed', grantId: grant.grantId });
      // Afterwards: the record is gone, the marker holds the family id, and later consumes are replays.
      assert.equal((await raw.get(caches[0]!.keyFor(grant.clientId, grant.code))).value, null, 'the record is deleted');
      assert.equal((await raw.get(caches[0]!.markerKeyFor(grant.clientId, grant.code))).value?.toString('utf8'), grant.grantId);
      for (const c of caches) {
        assert.deepEqual(await c.consumeGrant(grant.clientId, grant.code), { outcome: 'replayed', grantId: grant.grantId });
      }
      // Another client presenting the same code sees nothing, and burns nothing.
      assert.equal(await caches[1]!.consumeGrant(`${grant.clientId}-other`, grant.code), null);
    }
  });

  it('a record whose marker is already claimed is never handed out', async () => {
    const c = cache();
    const raw = rawClient();
    const grant = makeGrant();
    await c.saveGrant(grant);
    // As if another consumer had claimed the code and not yet deleted the record.
    assert.equal(await raw.add(c.markerKeyFor(grant.clientId, grant.code), grant.grantId, { expires: 60 }), true);
    assert.deepEqual(await c.consumeGrant(grant.clientId, grant.code), { outcome: 'replayed', grantId: grant.grantId });
    assert.ok((await raw.get(c.keyFor(grant.clientId, grant.code))).value, 'the loser leaves the record to the winner');
  });

  it('an unknown or never-consumed code leaves no marker', async () => {
    const c = cache();
    const raw = rawClient();
    const grant = makeGrant();
    assert.equal(await c.consumeGrant(grant.clientId, grant.code), null);
    assert.equal((await raw.get(c.markerKeyFor(grant.clientId, grant.code))).value, null);
    await c.saveGrant(grant);
    assert.equal((await raw.get(c.markerKeyFor(grant.clientId, grant.code))).value, null, 'saving leaves no marker');
  });
});

describe('memcached consumed marker lifetime (one server)', () => {
  const [address] = servers;
  assert.ok(address);
  const port = Number(address.split(':').pop());

  /** Seconds the server says the item has left (`mg <key> t`), or null when it has no such item. */
  async function remaining(key: string): Promise<number | null> {
    const reply = await textCommand(port, `mg ${key} t`, (line) => /^(HD|EN|VA)\b/.test(line));
    assert.ok(reply, 'memcached answered the meta get');
    if (reply.startsWith('EN')) return null;
    const ttl = /\bt(-?\d+)/.exec(reply)?.[1];
    assert.ok(ttl !== undefined, `mg reply carries a TTL: ${reply}`);
    return Number(ttl);
  }

  it('the marker expires when the code would have; a replay after that is unknown (null)', async () => {
    const c = cache({ servers: [address] });
    const grant = makeGrant({ expiresAt: new Date(Date.now() + 2500) });
    await c.saveGrant(grant);
    assert.equal((await c.consumeGrant(grant.clientId, grant.code))?.outcome, 'consumed');
    const marker = c.markerKeyFor(grant.clientId, grant.code);
    const left = await remaining(marker);
    assert.ok(left !== null && left >= 1 && left <= 3, `the marker lives as long as the code had left (about 2.5 s), got ${left}`);
    assert.deepEqual(await c.consumeGrant(grant.clientId, grant.code), { outcome: 'replayed', grantId: grant.grantId });
    // memcached expires in whole seconds (rounded up): wait past expiresAt plus one second.
    await new Promise((resolve) => setTimeout(resolve, grant.expiresAt.getTime() - Date.now() + 1100));
    assert.equal(await remaining(marker), null, 'the marker is gone');
    assert.equal(await c.consumeGrant(grant.clientId, grant.code), null);
  });

  it('a long-lived code keeps its marker as long as its record, both capped by defaultTimeout', async () => {
    const c = cache({ servers: [address], defaultTimeout: 30 });
    const grant = makeGrant({ expiresAt: new Date(Date.now() + 3_600_000) });
    await c.saveGrant(grant);
    assert.equal((await c.consumeGrant(grant.clientId, grant.code))?.outcome, 'consumed');
    const left = await remaining(c.markerKeyFor(grant.clientId, grant.code));
    assert.ok(left !== null && left > 25 && left <= 30, `capped at 30 s, got ${left}`);
    const far = cache({ servers: [address] });
    const g2 = makeGrant({ expiresAt: new Date(Date.now() + 90_000) });
    await far.saveGrant(g2);
    assert.equal((await far.consumeGrant(g2.clientId, g2.code))?.outcome, 'consumed');
    const left2 = await remaining(far.markerKeyFor(g2.clientId, g2.code));
    assert.ok(left2 !== null && left2 > 85 && left2 <= 90, `the code's own 90 s under the default 100 s cap, got ${left2}`);
  });
});
