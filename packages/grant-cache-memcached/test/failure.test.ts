import assert from 'node:assert/strict';
import { makeGrant } from '@portcullis/binding-testkit';
import {
  checkDownAndBack,
  checkDownFromStart,
  checkFrozen,
  eventually,
  type MemcachedServer,
  startMemcached,
} from '@portcullis/binding-testkit/servers';
import { Client } from 'memjs';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createMemcachedGrantCache, type MemcachedGrantCache } from '../src/index.js';

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
    // memcached keeps nothing across a restart, as checkDownAndBack expects.
    it(`${name}: fails with StoreUnavailableError while down, recovers by itself`, async () => {
      await checkDownAndBack(store(), server);
    });

    it(`${name}: a frozen server (no answers) gives StoreUnavailableError, not a hang`, async () => {
      const pending = await checkFrozen(store(), server);
      // The code saved before the freeze is consumed at most once. A consume whose claim (the
      // atomic add of the consumed marker) reached the server but whose answer memjs lost on the
      // thawed connection has used the code: the retry then sees it as replayed, never as a second
      // winner. Either way exactly one outcome refers to this code's family, and it is not lost
      // to another client.
      const result = await eventually(() => store().consumeGrant(pending.clientId, pending.code), 'consume after thawing');
      assert.ok(result !== null, 'the code saved before the freeze is still known once thawed');
      if (result.outcome === 'consumed') assert.equal(result.record.grantId, pending.grantId);
      else assert.equal(result.grantId, pending.grantId, 'a replay names the family of the code');
      // And it is never consumed a second time.
      assert.notEqual((await store().consumeGrant(pending.clientId, pending.code))?.outcome, 'consumed');
      // memjs may lose one request on a connection that was frozen; recovery may take a retry.
      const fresh = makeGrant();
      await eventually(() => store().saveGrant(fresh), 'saveGrant after thawing');
      assert.equal(
        (await eventually(() => store().consumeGrant(fresh.clientId, fresh.code), 'consume after thawing'))?.outcome,
        'consumed',
      );
    });
  }
});

describe('memcached server down from the start', () => {
  it('a cache whose server is not up yet fails fast, then works once it starts', async () => {
    const server = await startMemcached();
    try {
      await checkDownFromStart(
        server,
        () => createMemcachedGrantCache({ servers: [server.address] }),
        (store) => store.disconnect(),
      );
    } finally {
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
