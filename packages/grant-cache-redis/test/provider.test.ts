import assert from 'node:assert/strict';
import { createCacheGrant, digestToken } from '@portcullis/core';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, inject, it } from 'vitest';
import { createRedisGrantCache, type RedisGrantCache } from '../src/index.js';
import { eventually } from './helpers.js';
import { accepted, approve, CB, captureLogger, json, makeProvider, pkcePair, redeem } from './oauth.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

describe('provider with the Redis grant cache', () => {
  const raw = createClient({ url: inject('redisUrl') });
  raw.on('error', () => {});
  let cache: RedisGrantCache;
  beforeAll(async () => {
    await raw.connect();
    cache = createRedisGrantCache({ url: inject('redisUrl'), keyPrefix: 'e2e:' });
  });
  afterAll(async () => {
    await cache.disconnect();
    raw.destroy();
  });

  it('completes the authorization-code flow with PKCE; a replayed code revokes what it minted', async () => {
    const logger = captureLogger();
    const provider = await makeProvider(cache, logger);
    const { verifier, challenge } = pkcePair();
    const redirect = await approve(provider, challenge);
    assert.equal(redirect.status, 302);
    const location = new URL(redirect.headers.Location ?? redirect.headers.location ?? '');
    assert.equal(`${location.origin}${location.pathname}`, CB);
    assert.equal(location.searchParams.get('state'), 'xyz');
    assert.equal(location.searchParams.get('iss'), 'http://127.0.0.1');
    const code = location.searchParams.get('code');
    assert.ok(code);

    // Core hands the cache a digest of the code, never the code itself.
    const key = cache.keyFor('c1', digestToken(code));
    const stored = await raw.get(key);
    assert.ok(stored, 'the code is in Redis under its digest');
    assert.ok(!stored.includes(code), 'the raw entry does not hold the code');
    assert.ok(stored.includes('"userId":"u1"'));

    const res = await redeem(provider, code, verifier);
    assert.equal(res.status, 200, res.body);
    const body = json(res);
    assert.equal(body.token_type, 'Bearer');
    assert.equal(typeof body.access_token, 'string');
    assert.ok(await accepted(provider, String(body.access_token)));

    const replay = await redeem(provider, code, verifier);
    assert.equal(replay.status, 400);
    assert.equal(json(replay).error, 'invalid_grant');
    assert.equal(await accepted(provider, String(body.access_token)), false, 'the replay revoked the family');
    assert.ok(!logger.lines.join('\n').includes(code), 'the code is not logged');
  });

  it('a wrong PKCE verifier is refused and still burns the code', async () => {
    const provider = await makeProvider(cache);
    const { verifier, challenge } = pkcePair();
    const code = new URL((await approve(provider, challenge)).headers.Location ?? '').searchParams.get('code') ?? '';
    const wrong = await redeem(provider, code, pkcePair().verifier);
    assert.equal(wrong.status, 400);
    assert.equal(json(wrong).error, 'invalid_grant');
    assert.equal((await redeem(provider, code, verifier)).status, 400, 'the code is spent');
  });

  it("core's Flask-style config builds this cache (OAUTH2_CACHE_TYPE=redis)", async () => {
    const store = await createCacheGrant(
      { OAUTH2_CACHE_TYPE: 'redis', OAUTH2_CACHE_REDIS_URL: inject('redisUrl'), OAUTH2_CACHE_KEY_PREFIX: 'flask:' },
      { importModule: (s) => import(s) },
    );
    try {
      const provider = await makeProvider(store);
      const { verifier, challenge } = pkcePair();
      const code = new URL((await approve(provider, challenge)).headers.Location ?? '').searchParams.get('code') ?? '';
      assert.ok(await raw.get(`flask:grant:c1:${digestToken(code)}`), 'keys use the configured prefix');
      assert.equal((await redeem(provider, code, verifier)).status, 200);
    } finally {
      await (store as RedisGrantCache).disconnect();
    }
  });
});

describe('provider with the Redis grant cache: server down and back', () => {
  let server: RedisServer;
  let cache: RedisGrantCache;
  beforeAll(async () => {
    server = await startRedisServer();
    cache = createRedisGrantCache({ host: '127.0.0.1', port: server.port });
  });
  afterAll(async () => {
    await cache?.disconnect();
    await server?.dispose();
  });

  it('answers 503 temporarily_unavailable while Redis is down, and works again after restart', async () => {
    const logger = captureLogger();
    const provider = await makeProvider(cache, logger);
    const before = pkcePair();
    const issued = new URL((await approve(provider, before.challenge)).headers.Location ?? '').searchParams.get('code');
    assert.ok(issued, 'a code was issued while Redis was up');

    await server.stop();
    const decision = await approve(provider, pkcePair().challenge);
    assert.equal(decision.status, 503);
    assert.equal(json(decision).error, 'temporarily_unavailable');
    const token = await redeem(provider, issued, before.verifier);
    assert.equal(token.status, 503);
    assert.equal(json(token).error, 'temporarily_unavailable');
    assert.equal(token.headers['Retry-After'], '1');

    await server.start();
    const after = pkcePair();
    const redirect = await eventually(async () => {
      const r = await approve(provider, after.challenge);
      assert.equal(r.status, 302, r.body);
      return r;
    }, 'authorization after restart');
    const code = new URL(redirect.headers.Location ?? '').searchParams.get('code') ?? '';
    const res = await redeem(provider, code, after.verifier);
    assert.equal(res.status, 200, res.body);
    assert.ok(logger.lines.some((l) => l.includes('temporarily_unavailable')), 'the outage was logged');
    assert.ok(!logger.lines.join('\n').includes(issued), 'the code is not logged');
  });
});
