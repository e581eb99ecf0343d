import { hashSecret, isStoreUnavailable, OAuth2Provider, StoreUnavailableError, toOAuthError } from '@portcullis/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindMongoose, createClientStore, createGrantStore, createTokenStore, createUserStore } from '../src/index.js';
import { openTestDatabase, type TestDatabase } from './connect.js';
import { ensureLauncherBuilt, type MongoTestServer, startMongoServer } from './mongo-server.js';

// This file starts a server of its own (even when MONGO_URL is set) so that it can stop it.
let server: MongoTestServer;
let db: TestDatabase;
beforeAll(async () => {
  ensureLauncherBuilt();
  server = await startMongoServer();
  db = await openTestDatabase('unavailable', server.url);
});
afterAll(async () => {
  await db?.connection.close(true);
  await server?.stop();
});

describe('a lost connection', () => {
  it('makes every store method throw StoreUnavailableError, without the key in the message', async () => {
    const clients = createClientStore(db.models.client);
    const users = createUserStore(db.models.user);
    const grants = createGrantStore(db.models.grant);
    const tokens = createTokenStore(db.models.token);
    const secret = 'secret-token-value-9f8e7d';
    await db.models.client.create({
      clientId: 'c1',
      secretHash: hashSecret('s3cret-0123456789abcdefghij0123456789'),
      redirectUris: ['https://app.example/cb'],
      grantTypes: ['client_credentials'],
      scopes: ['read'],
    });
    const provider = new OAuth2Provider({
      issuer: 'http://127.0.0.1',
      grants: ['client_credentials'],
      logger: { warn: () => {}, error: () => {} },
    });
    bindMongoose(provider, { client: db.models.client, token: db.models.token });
    const tokenRequest = {
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&client_id=c1&client_secret=s3cret-0123456789abcdefghij0123456789',
    };
    const expiresAt = new Date(Date.now() + 60_000);
    const record = { token: secret, clientId: 'c1', userId: 'u1', scopes: ['read'], expiresAt, grantId: 'f1' };
    // Works while the server is up.
    await tokens.saveTokens(record, null);
    expect(await tokens.getAccessToken(secret)).toMatchObject({ token: secret });
    expect((await provider.token(tokenRequest)).status).toBe(200);

    await server.stop();

    const calls: [string, () => Promise<unknown>][] = [
      ['getClient', () => clients.getClient('c1')],
      ['getUserByUsername', () => users.getUserByUsername('alice')],
      [
        'saveGrant',
        () =>
          grants.saveGrant({
            ...record,
            code: secret,
            redirectUri: 'https://a/cb',
            userId: 'u1',
            codeChallenge: null,
            codeChallengeMethod: null,
          }),
      ],
      ['consumeGrant', () => grants.consumeGrant('c1', secret)],
      ['saveTokens', () => tokens.saveTokens({ ...record, token: `${secret}-2` }, null)],
      ['getAccessToken', async () => tokens.getAccessToken(secret)],
      ['getRefreshToken', () => tokens.getRefreshToken(secret)],
      ['consumeRefreshToken', () => tokens.consumeRefreshToken(secret)],
      ['revokeAccessToken', () => tokens.revokeAccessToken(secret)],
      ['revokeFamily', () => tokens.revokeFamily('f1')],
    ];
    const results = await Promise.allSettled(calls.map(([, call]) => call()));
    results.forEach((result, i) => {
      const name = calls[i]?.[0];
      expect(result.status, `${name} must reject`).toBe('rejected');
      const reason = result.status === 'rejected' ? (result.reason as Error) : undefined;
      expect(reason, `${name}`).toBeInstanceOf(StoreUnavailableError);
      expect(reason?.message, `${name}`).not.toContain(secret);
      // The operation that failed is named for operators, and nothing the client sent.
      expect(reason?.message, `${name}`).toBe(`MongoDB is unreachable (${name})`);
      expect(reason?.cause, `${name} keeps the cause`).toBeInstanceOf(Error);
      expect(isStoreUnavailable(reason), `${name}`).toBe(true);
      expect(toOAuthError(reason).error, `${name}`).toBe('temporarily_unavailable');
    });
    // The provider answers 503 temporarily_unavailable, not 500.
    const res = await provider.token(tokenRequest);
    expect(res.status, res.body).toBe(503);
    expect(JSON.parse(res.body)).toMatchObject({ error: 'temporarily_unavailable' });
  });
});
