import assert from 'node:assert/strict';
import { makeGrant } from '@portcullis/binding-testkit';
import { Client } from 'memjs';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createMemcachedGrantCache, type MemcachedGrantCache } from '../src/index.js';
import { eventually, expectUnavailable } from './helpers.js';
import { type MemcachedServer, startMemcached } from './memcached-server.js';

// A dedicated server, stopped and restarted on the same port by this test.
describe('memcached server down and back', () => {
  let server: MemcachedServer;
  let own: MemcachedGrantCache;
  let app: Client;
  let passed: MemcachedGrantCache;

  beforeAll(async () => {
    server = await startMemcached();
    own = createMemcachedGrantCache({ servers: server.address });
    // An application's memjs client with memjs defaults (2 tries, 0.5 s timeout).
    app = Client.create(server.address, { logger: { log: () => {} } });
    passed = createMemcachedGrantCache({ client: app });
  });
  afterAll(async () => {
    await own?.disconnect();
    app?.close();
    await server?.stop();
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
      // memcached keeps nothing across a restart.
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
      // A consume that timed out never reached its delete, so the code is still there.
      const result = await eventually(() => store().consumeGrant(pending.clientId, pending.code), 'consume after thawing');
      assert.equal(result?.outcome, 'consumed', 'the code saved before the freeze is consumed once thawed');
      // memjs may lose one request on a connection that was frozen; recovery may take a retry.
      const fresh = makeGrant();
      await eventually(() => store().saveGrant(fresh), 'saveGrant after thawing');
      assert.equal((await eventually(() => store().consumeGrant(fresh.clientId, fresh.code), 'consume after thawing'))?.outcome, 'consumed');
    });
  }
});

describe('memcached server down from the start', () => {
  it('a cache whose server is not up yet fails fast, then works once it starts', async () => {
    const server = await startMemcached();
    await server.stop();
    const store = createMemcachedGrantCache({ servers: [server.address] });
    try {
      const grant = makeGrant();
      await expectUnavailable(store.saveGrant(grant), 'saveGrant before the server is up');
      await expectUnavailable(store.consumeGrant(grant.clientId, grant.code), 'consumeGrant before the server is up');
      await server.start();
      await eventually(() => store.saveGrant(grant), 'saveGrant once the server is up');
      assert.equal((await store.consumeGrant(grant.clientId, grant.code))?.outcome, 'consumed');
    } finally {
      await store.disconnect();
      await server.stop();
    }
  });
});

describe('memcached options', () => {
  it('rejects a key prefix memcached cannot take, a bad defaultTimeout, and no servers', () => {
    for (const keyPrefix of ['a b', 'tab\t', 'ü', 'x'.repeat(201)]) {
      assert.throws(() => createMemcachedGrantCache({ servers: '127.0.0.1:1', keyPrefix }), TypeError, keyPrefix);
    }
    assert.throws(() => createMemcachedGrantCache({ servers: '127.0.0.1:1', defaultTimeout: 0 }), TypeError);
    assert.throws(() => createMemcachedGrantCache({}), TypeError);
  });

  it('keys are <prefix>grant:<43 base64url chars> for any clientId and code', () => {
    const store = createMemcachedGrantCache({ servers: '127.0.0.1:1', keyPrefix: 'app:' });
    const key = store.keyFor('client with spaces', 'x'.repeat(8192));
    assert.match(key, /^app:grant:[A-Za-z0-9_-]{43}$/);
    assert.notEqual(store.keyFor('a:b', 'c'), store.keyFor('a', 'b:c'));
    assert.notEqual(store.keyFor('ab', ''), store.keyFor('a', 'b'));
    assert.notEqual(store.keyFor('c', '\ud800'), store.keyFor('c', '\ufffd'));
  });
});
