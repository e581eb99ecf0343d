import assert from 'node:assert/strict';
import { ephemeralStoreSuite, formRequest, makeEphemeralKey, pkcePair } from '@portcullis/binding-testkit';
import { startMemcached } from '@portcullis/binding-testkit/servers';
import { createMemoryStores, type EphemeralStore, isStoreUnavailable, OAuth2Provider, type OAuthRequest } from '@portcullis/core';
import { Client } from 'memjs';
import { afterAll, beforeAll, describe, inject, it } from 'vitest';
import { createMemcachedEphemeralStore } from '../src/index.js';

const t = { describe, it, beforeAll, afterAll };
const servers = inject('memcachedServers');
const quiet = { logger: { log: () => {} } };
const opened: Client[] = [];
function connect(over: string[] = servers): Client {
  const c = Client.create(over.join(','), { ...quiet, retries: 1, timeout: 1, conntimeout: 1 });
  opened.push(c);
  return c;
}
afterAll(() => {
  for (const c of opened) c.close();
});
const inSeconds = (s: number) => new Date(Date.now() + s * 1000);

// The contract suite over the two-server pool, one client.
ephemeralStoreSuite(t, {
  name: 'memcached (pool of two)',
  create: async () => createMemcachedEphemeralStore({ client: connect(), prefix: 'suite:' }),
});

describe('memcached ephemeral store: one winner over separate connections', () => {
  // Four stores over four connections each to the pool: concurrent callers do not share a socket.
  const stores: EphemeralStore[] = [];
  beforeAll(() => {
    for (let i = 0; i < 4; i++) stores.push(createMemcachedEphemeralStore({ client: connect(), prefix: 'race:' }));
  });
  const spread = <T>(n: number, fn: (s: EphemeralStore) => Promise<T>) =>
    Promise.all(Array.from({ length: n }, (_, i) => fn(stores[i % stores.length] as EphemeralStore)));

  it('40 concurrent takes of one record, five times: one gets the value', async () => {
    for (let round = 0; round < 5; round++) {
      const key = makeEphemeralKey();
      assert.equal(await stores[0]?.add(key, `prize${round}`, inSeconds(60)), true);
      const answers = await spread(40, (s) => s.take(key));
      assert.deepEqual(
        answers.filter((a) => a !== null),
        [`prize${round}`],
      );
      assert.equal(await stores[1]?.get(key), null);
    }
  });

  it('40 concurrent adds of one key, five times: one answers true', async () => {
    for (let round = 0; round < 5; round++) {
      const key = makeEphemeralKey();
      let i = 0;
      const answers = await spread(40, (s) => s.add(key, `v${i++}`, inSeconds(60)));
      assert.equal(answers.filter(Boolean).length, 1);
    }
  });

  it('over a record past expiresAt that memcached still holds, 40 concurrent adds: one answers true', async () => {
    const raw = connect();
    for (let round = 0; round < 3; round++) {
      const key = makeEphemeralKey();
      const expiresAt = new Date(Date.now() + 150);
      assert.equal(await stores[0]?.add(key, 'old', expiresAt), true);
      await new Promise((r) => setTimeout(r, Math.max(0, expiresAt.getTime() - Date.now()) + 20));
      // Not vacuous: the item is still in memcached (whole-second TTL plus grace), only expired by expiresAt.
      assert.ok((await raw.get(`race:eph:${key}`)).value, 'memcached still holds the expired item');
      assert.equal(await stores[1]?.get(key), null, 'an expired record is absent');
      let i = 0;
      const answers = await spread(40, (s) => s.add(key, `new${i++}`, inSeconds(60)));
      assert.equal(answers.filter(Boolean).length, 1, `one winner, got ${answers.filter(Boolean).length}`);
      const held = await stores[2]?.get(key);
      assert.match(held ?? '', /^new\d+$/);
      assert.equal(held, `new${answers.indexOf(true)}`, "the winner's value is held");
    }
  });

  it('a take that lost never removes the record added after the winning take', async () => {
    for (let round = 0; round < 10; round++) {
      const key = makeEphemeralKey();
      await stores[0]?.add(key, 'old', inSeconds(60));
      let added: Promise<boolean> | undefined;
      const takes = await spread(20, async (s) => {
        const v = await s.take(key);
        if (v === 'old') added = s.add(key, 'new', inSeconds(60));
        return v;
      });
      assert.equal(takes.filter((v) => v === 'old').length, 1, 'exactly one take wins the old record');
      assert.equal(await added, true, 'the key is free after the take');
      // A slow take may start after the new record landed and take it, legitimately (it then
      // returned it): at most one does. Otherwise the new record must have survived every take.
      const tookNew = takes.filter((v) => v === 'new').length;
      assert.ok(tookNew <= 1, `the new record was taken ${tookNew} times`);
      await spread(4, (s) => s.get(key));
      assert.equal(await stores[3]?.get(key), tookNew === 1 ? null : 'new', 'no take removed the new record without returning it');
    }
  });
});

describe('memcached ephemeral store: keys, failures', () => {
  it('keys with spaces, or too long with a long prefix, are hashed; keys differ by prefix', async () => {
    const raw = connect();
    const longPrefix = 'p'.repeat(200);
    const a = createMemcachedEphemeralStore({ client: raw, prefix: longPrefix });
    const b = createMemcachedEphemeralStore({ client: raw, prefix: 'other:' });
    const spaced = `par:${makeEphemeralKey()} with spaces`;
    const long = `par:${'x'.repeat(196)}${Date.now()}`.slice(0, 200);
    for (const key of [spaced, long]) {
      assert.equal(await a.add(key, key, inSeconds(60)), true);
      assert.equal(await a.get(key), key);
      assert.equal(await b.get(key), null, 'another prefix is another record');
      assert.equal(await a.take(key), key);
    }
    const plain = makeEphemeralKey();
    await b.add(plain, 'v', inSeconds(60));
    assert.equal((await raw.get(`other:eph:${plain}`)).value?.toString('utf8').endsWith('\nv'), true, 'plain keys stay readable');
  });

  it('refuses a value with a lone surrogate and a prefix memcached cannot key', async () => {
    const s = createMemcachedEphemeralStore({ client: connect(), prefix: 'x:' });
    await assert.rejects(s.add(makeEphemeralKey(), 'a\uDC00', inSeconds(60)), /well-formed/);
    assert.throws(() => createMemcachedEphemeralStore({ client: connect(), prefix: 'a b' }), /prefix/);
  });

  it('a stopped server rejects with StoreUnavailableError (core answers 503), without the value in the message', async () => {
    const server = await startMemcached();
    const client = connect([server.address]);
    const s = createMemcachedEphemeralStore({ client, callTimeout: 1000 });
    try {
      assert.equal(await s.add('par:x', 'secret-value', inSeconds(60)), true);
      await server.stop();
      for (const op of [() => s.add('par:y', 'secret-value', inSeconds(60)), () => s.get('par:x'), () => s.take('par:x')]) {
        await assert.rejects(op(), (err: unknown) => {
          assert.ok(isStoreUnavailable(err), `unavailable: ${String(err)}`);
          assert.doesNotMatch(String((err as Error).message), /secret-value/);
          return true;
        });
      }
    } finally {
      await server.stop();
    }
  });
});

describe('provider with the memcached ephemeral store: pushed authorization requests (RFC 9126)', () => {
  const CB = 'https://app.example/cb';
  const raw = connect();
  let provider: OAuth2Provider;
  beforeAll(() => {
    const stores = createMemoryStores({
      clients: [{ id: 'spa', secretHash: null, redirectUris: [CB], grantTypes: ['authorization_code'], scopes: ['read'] }],
    });
    provider = new OAuth2Provider({ issuer: 'https://auth.example', grants: ['authorization_code'], stores, par: { enabled: true } });
    provider.useStores({ ephemeral: createMemcachedEphemeralStore({ client: connect(), prefix: 'e2e-par:' }) });
  });

  const get = (params: Record<string, string>): OAuthRequest => ({
    method: 'GET',
    url: `/oauth/authorize?${new URLSearchParams(params)}`,
    headers: {},
  });

  async function push() {
    const pair = pkcePair();
    const r = await provider.handle(
      formRequest('/oauth/par', {
        client_id: 'spa',
        response_type: 'code',
        redirect_uri: CB,
        scope: 'read',
        state: 'xyz',
        code_challenge: pair.challenge,
        code_challenge_method: 'S256',
      }),
    );
    assert.equal(r?.status, 201, r?.body);
    const { request_uri } = JSON.parse(r.body) as { request_uri: string };
    const a = await provider.authorize(get({ client_id: 'spa', request_uri }));
    if (a.type !== 'consent') throw new Error(`expected consent, got ${a.response.status} ${a.response.body}`);
    return { request: a.request, pair, request_uri };
  }

  it('keeps the pushed request in memcached and completes a code flow with client_id + request_uri', async () => {
    const { request, pair } = await push();
    assert.equal(request.pushed, true);
    const done = await provider.completeAuthorization(request, { approved: true, userId: 'u1' });
    assert.equal(done.status, 302);
    const code = new URL(done.headers.Location ?? '').searchParams.get('code');
    assert.ok(code);
    const token = await provider.token(
      formRequest('/oauth/token', {
        grant_type: 'authorization_code',
        code,
        redirect_uri: CB,
        client_id: 'spa',
        code_verifier: pair.verifier,
      }),
    );
    assert.equal(token.status, 200, token.body);
  });

  it('the pushed request lives in memcached, not in the memory stores', async () => {
    // A second provider with fresh memory stores and the same memcached sees the pushed request.
    const { request_uri } = await push();
    const stores = createMemoryStores({
      clients: [{ id: 'spa', secretHash: null, redirectUris: [CB], grantTypes: ['authorization_code'], scopes: ['read'] }],
    });
    const other = new OAuth2Provider({ issuer: 'https://auth.example', grants: ['authorization_code'], stores, par: { enabled: true } });
    other.useStores({ ephemeral: createMemcachedEphemeralStore({ client: raw, prefix: 'e2e-par:' }) });
    const a = await other.authorize(get({ client_id: 'spa', request_uri }));
    assert.equal(a.type, 'consent');
  });

  it('of 20 concurrent decisions on one pushed request exactly one gets a code', async () => {
    const { request } = await push();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => provider.completeAuthorization(request.query, { approved: true, userId: 'u1' })),
    );
    const codes = results.filter((r) => r.status === 302 && new URL(r.headers.Location ?? '').searchParams.has('code'));
    assert.equal(codes.length, 1, `exactly one code, got ${codes.length}`);
    for (const r of results) {
      if (r === codes[0]) continue;
      assert.equal(r.status, 400);
      assert.equal((JSON.parse(r.body) as { error: string }).error, 'invalid_request_uri');
    }
  });
});
