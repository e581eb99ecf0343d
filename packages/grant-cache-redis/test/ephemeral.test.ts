import assert from 'node:assert/strict';
import { ephemeralStoreSuite, formRequest, pkcePair } from '@portcullis/binding-testkit';
import { startRedis } from '@portcullis/binding-testkit/servers';
import { createMemoryStores, type EphemeralStore, isStoreUnavailable, OAuth2Provider, type OAuthRequest } from '@portcullis/core';
import { createClient, createCluster } from 'redis';
import { afterAll, beforeAll, describe, inject, it } from 'vitest';
import { createRedisEphemeralStore } from '../src/index.js';

const t = { describe, it, beforeAll, afterAll };

// Single node, the application's own client.
{
  const client = createClient({ url: inject('redisUrl') });
  client.on('error', () => {});
  ephemeralStoreSuite(t, {
    name: 'redis (single node)',
    create: async () => {
      await client.connect();
      return createRedisEphemeralStore({ client, prefix: 'eph:' });
    },
    destroy: async () => {
      client.destroy();
    },
  });
}

// Redis Cluster: every command is single-key, so the cluster client routes it to the key's slot.
{
  const cluster = createCluster({
    rootNodes: inject('redisClusterNodes').map(({ host, port }) => ({ url: `redis://${host}:${port}` })),
  });
  cluster.on('error', () => {});
  ephemeralStoreSuite(t, {
    name: 'redis cluster',
    create: async () => {
      await cluster.connect();
      return createRedisEphemeralStore({ client: cluster, prefix: 'eph:' });
    },
    destroy: async () => {
      cluster.destroy();
    },
  });
}

describe('redis ephemeral store: keys, expiry and failures', () => {
  const client = createClient({ url: inject('redisUrl') });
  client.on('error', () => {});
  let store: EphemeralStore;
  beforeAll(async () => {
    await client.connect();
    store = createRedisEphemeralStore({ client, prefix: 'raw:' });
  });
  afterAll(() => {
    client.destroy();
  });

  it('stores the value as is under prefix + key, expiring at expiresAt to the millisecond', async () => {
    const key = `par:${Math.random().toString(36).slice(2)}`;
    const expiresAt = new Date(Date.now() + 60_000);
    assert.equal(await store.add(key, 'v', expiresAt), true);
    assert.equal(await client.get(`raw:${key}`), 'v');
    assert.equal(await client.pExpireTime(`raw:${key}`), expiresAt.getTime());
    assert.equal(await store.take(key), 'v');
    assert.equal(await client.exists(`raw:${key}`), 0, 'take removes the key');
  });

  it('an add with an expiresAt already past stores nothing live, and refuses while a live record holds the key', async () => {
    const key = `par:${Math.random().toString(36).slice(2)}`;
    assert.equal(await store.add(key, 'late', new Date(Date.now() - 1000)), true);
    assert.equal(await store.get(key), null);
    assert.equal(await store.add(key, 'live', new Date(Date.now() + 60_000)), true);
    assert.equal(await store.add(key, 'late', new Date(Date.now() - 1000)), false);
    assert.equal(await store.get(key), 'live');
  });

  it('refuses a value with a lone surrogate (it would not come back as sent)', async () => {
    await assert.rejects(store.add('par:lone', 'a\uD800b', new Date(Date.now() + 60_000)), /well-formed/);
  });

  it('a stopped server rejects with StoreUnavailableError (core answers 503), without the value in the message', async () => {
    const server = await startRedis();
    const own = createClient({ url: server.url, socket: { reconnectStrategy: false }, disableOfflineQueue: true });
    own.on('error', () => {});
    try {
      await own.connect();
      const s = createRedisEphemeralStore({ client: own, commandTimeout: 500 });
      assert.equal(await s.add('par:x', 'secret-value', new Date(Date.now() + 60_000)), true);
      await server.stop();
      for (const op of [() => s.add('par:y', 'secret-value', new Date(Date.now() + 60_000)), () => s.get('par:x'), () => s.take('par:x')]) {
        await assert.rejects(op(), (err: unknown) => {
          assert.ok(isStoreUnavailable(err), `unavailable: ${String(err)}`);
          assert.doesNotMatch(String((err as Error).message), /secret-value/);
          return true;
        });
      }
    } finally {
      own.destroy();
      await server.stop();
    }
  });
});

describe('provider with the Redis ephemeral store: pushed authorization requests (RFC 9126)', () => {
  const CB = 'https://app.example/cb';
  const client = createClient({ url: inject('redisUrl') });
  client.on('error', () => {});
  let provider: OAuth2Provider;
  beforeAll(async () => {
    await client.connect();
    const stores = createMemoryStores({
      clients: [{ id: 'spa', secretHash: null, redirectUris: [CB], grantTypes: ['authorization_code'], scopes: ['read'] }],
    });
    provider = new OAuth2Provider({ issuer: 'https://auth.example', grants: ['authorization_code'], stores, par: { enabled: true } });
    provider.useStores({ ephemeral: createRedisEphemeralStore({ client, prefix: 'e2e-par:' }) });
  });
  afterAll(() => {
    client.destroy();
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
    return { request: a.request, pair };
  }

  it('keeps the pushed request in Redis and completes a code flow with client_id + request_uri', async () => {
    const before = new Set(await client.keys('e2e-par:*'));
    const { request, pair } = await push();
    const added = (await client.keys('e2e-par:*')).filter((k) => !before.has(k));
    assert.equal(added.length, 1, 'the pushed request is one Redis key');
    assert.match(added[0] ?? '', /^e2e-par:par:/);
    assert.equal(request.pushed, true);
    const done = await provider.completeAuthorization(request, { approved: true, userId: 'u1' });
    assert.equal(done.status, 302);
    const code = new URL(done.headers.Location ?? '').searchParams.get('code');
    assert.ok(code);
    assert.equal(await client.exists(added[0] ?? ''), 0, 'the decision used the pushed request up');
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
