/**
 * docs/writing-a-binding.md: the example binding passes the testkit's contract suites and its
 * end-to-end refusals, its bind function registers as a binding, a provider runs the code flow on
 * it, and the suite catches the mistake the guide warns about (a consume that awaits between its
 * check and its mark).
 */
import assert from 'node:assert/strict';
import {
  authorizationCodeFlow,
  clientStoreSuite,
  grantChecks,
  grantStoreSuite,
  jsonBody,
  permissiveProviderSuite,
  RecordingRegistry,
  redeemCode,
  tokenAccepted,
  tokenStoreSuite,
  userStoreSuite,
} from '@portcullis/binding-testkit';
import { type GrantRecord, type GrantStore, hashSecret, OAuth2Provider } from '@portcullis/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindMyDb, createGrantStore, createMyDb, createMyDbStores, createTokenStore, putClient, putUser } from '../examples/my-binding.js';

// The contract suites: one call per store. Grant and token suites read the capabilities the
// stores declare; client and user suites seed through your own write path.
const t = { describe, it, beforeAll, afterAll };
const db = createMyDb();

grantStoreSuite(t, { name: 'my-db', create: async () => createGrantStore(db) });
tokenStoreSuite(t, { name: 'my-db', create: async () => createTokenStore(createMyDb()) });
clientStoreSuite(t, {
  name: 'my-db',
  create: async (seed) => {
    for (const client of seed) putClient(db, client);
    return createMyDbStores(db).clients;
  },
});
userStoreSuite(t, {
  name: 'my-db',
  create: async (seed) => {
    for (const { username, user, passwordHash } of seed) putUser(db, username, user, passwordHash);
    return createMyDbStores(db).users;
  },
});
// End to end: the refusals a provider must give, with your grants and tokens behind it (the
// suite seeds its own clients, so those slots stay its reference stores).
permissiveProviderSuite(t, {
  name: 'my-db',
  create: async () => {
    const { grants, tokens } = createMyDbStores(createMyDb());
    return { grants, tokens };
  },
});

describe('bindMyDb', () => {
  it('registers the four stores and currentUser as a binding', () => {
    const registry = new RecordingRegistry();
    const currentUser = () => null;
    bindMyDb(registry, createMyDb(), { currentUser });
    expect(registry.stores).toHaveLength(1);
    expect(registry.stores[0]?.options).toEqual({ source: 'binding' });
    expect(Object.keys(registry.stores[0]?.stores ?? {}).sort()).toEqual(['clients', 'grants', 'tokens', 'users']);
    expect(registry.currentUsers).toEqual([{ fn: currentUser, options: { source: 'binding' } }]);
  });

  it('runs the authorization-code flow on a provider, and an explicit client getter wins over the binding', async () => {
    const mine = createMyDb();
    putClient(mine, {
      id: 'app',
      secretHash: hashSecret('s3cret-0123456789abcdefghij0123456789'),
      redirectUris: ['https://app.example/cb'],
      grantTypes: ['authorization_code', 'refresh_token'],
      scopes: ['read'],
    });
    const provider = new OAuth2Provider({ issuer: 'http://127.0.0.1' });
    bindMyDb(provider, mine, { currentUser: () => ({ id: 'alice' }) });
    const client = { clientId: 'app', clientSecret: 's3cret-0123456789abcdefghij0123456789', redirectUri: 'https://app.example/cb' };

    const { code, verifier } = await authorizationCodeFlow(provider, client);
    const res = await redeemCode(provider, client, code, verifier);
    assert.equal(res.status, 200, res.body);
    assert.ok(await tokenAccepted(provider, String(jsonBody(res).access_token)));
    assert.equal((await redeemCode(provider, client, code, verifier)).status, 400, 'a code is spent once');

    provider.clientGetter(async () => null); // explicit, registered later: wins over the binding
    const unknown = await provider.authorize({ method: 'GET', url: '/authorize?response_type=code&client_id=app', headers: {} });
    assert.equal(unknown.type === 'response' && unknown.response.status, 400);
  });
});

describe('the suite catches a non-atomic consume', () => {
  it('fails concurrentConsume for a get-then-delete store, which the example binding passes', async () => {
    // The get + revoke pattern: two calls with a round trip between them.
    const codes = new Map<string, GrantRecord>();
    const getThenDelete: GrantStore = {
      capabilities: { detectsReplay: false, ttlGranularity: 'ms' },
      async saveGrant(grant) {
        codes.set(JSON.stringify([grant.clientId, grant.code]), grant);
      },
      async consumeGrant(clientId, code) {
        const k = JSON.stringify([clientId, code]);
        const record = codes.get(k); // SELECT
        if (!record || record.expiresAt.getTime() <= Date.now()) return null;
        await new Promise((resolve) => setTimeout(resolve, 1)); // the round trip
        codes.delete(k); // DELETE
        return { outcome: 'consumed', record };
      },
    };
    await assert.rejects(grantChecks.concurrentConsume.run({ store: getThenDelete, capabilities: getThenDelete.capabilities! }));
    const good = createGrantStore(createMyDb());
    await grantChecks.concurrentConsume.run({ store: good, capabilities: good.capabilities! });
  });
});
