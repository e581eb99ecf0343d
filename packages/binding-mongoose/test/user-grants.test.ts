/**
 * Issue 15, a user's grants: the testkit's `UserGrantStore` suite (with `issuedAt` round trips)
 * on the Mongo wire server; the `(userId, clientId)` index; documents written before `issuedAt`;
 * and a provider wired with `bindMongoose` listing and revoking what a user granted.
 */
import { randomBytes } from 'node:crypto';
import {
  authorizationCodeFlow,
  basicAuth,
  bearerRequest,
  formRequest,
  jsonBody,
  redeemCode,
  userGrantStoreSuite,
} from '@portcullis/binding-testkit';
import { hashSecret, OAuth2Provider } from '@portcullis/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindMongoose, createGrantStore, createTokenStore, createUserGrantStore, lookupKey } from '../src/index.js';
import { openTestDatabase, type TestDatabase } from './connect.js';

const t = { describe, it, beforeAll, afterAll };
const rid = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;

let suiteDb: TestDatabase | undefined;
userGrantStoreSuite(t, {
  name: 'mongoose',
  create: async () => {
    suiteDb = await openTestDatabase('user_grants');
    return {
      userGrants: createUserGrantStore(suiteDb.models.token, suiteDb.models.grant),
      tokens: createTokenStore(suiteDb.models.token),
      grants: createGrantStore(suiteDb.models.grant),
    };
  },
  destroy: async () => {
    await suiteDb?.close();
  },
});

describe('mongoose: issuedAt and the user index', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await openTestDatabase('user_grants_docs');
  });
  afterAll(async () => {
    await db?.close();
  });

  it('indexes tokens on (userId, clientId) and stores issuedAt as a BSON date, absent when not given', async () => {
    const indexes = (await db.models.token.collection.indexes()) as { key: Record<string, number> }[];
    expect(indexes).toContainEqual(expect.objectContaining({ key: { userId: 1, clientId: 1 } }));
    const common = { clientId: rid('client'), userId: rid('user'), scopes: ['read'], expiresAt: new Date(Date.now() + 600_000) };
    const at = new Date(Date.UTC(2026, 5, 7, 8, 9, 10, 456));
    const tokens = createTokenStore(db.models.token);
    const stamped = { token: rid('at'), ...common, grantId: rid('family'), issuedAt: at };
    const plain = { token: rid('at'), ...common, grantId: rid('family') };
    await tokens.saveTokens(stamped, null);
    await tokens.saveTokens(plain, null);
    const raw = await db.models.token.collection.findOne({ key: lookupKey(stamped.token), kind: 'access' });
    expect(raw?.issuedAt).toBeInstanceOf(Date);
    expect((raw?.issuedAt as Date | undefined)?.getTime()).toBe(at.getTime());
    const rawPlain = await db.models.token.collection.findOne({ key: lookupKey(plain.token), kind: 'access' });
    expect(rawPlain).not.toHaveProperty('issuedAt');
  });

  it('documents written before issuedAt (no field) list with null dates and are revoked like the others', async () => {
    const userId = rid('user');
    const clientId = rid('client');
    const grantId = rid('family');
    const expiresAt = new Date(Date.now() + 600_000);
    const old = { kind: 'access', clientId, userId, scopes: ['read'], expiresAt, grantId, consumedAt: null, revokedAt: null };
    const token = rid('at');
    await db.models.token.collection.insertOne({ ...old, key: lookupKey(token) });
    const userGrants = createUserGrantStore(db.models.token, db.models.grant);
    expect(await userGrants.listUserGrants(userId)).toEqual([
      { clientId, scopes: ['read'], grants: 1, firstIssuedAt: null, lastIssuedAt: null },
    ]);
    const tokens = createTokenStore(db.models.token);
    expect(await tokens.getAccessToken(token)).not.toHaveProperty('issuedAt');
    expect(await userGrants.revokeUserGrants(userId, clientId)).toBe(1);
    expect(await tokens.getAccessToken(token)).toBeNull();
  });

  it('ids that are not strings match nothing', async () => {
    const userGrants = createUserGrantStore(db.models.token, db.models.grant);
    const hostile = { $ne: null } as unknown as string;
    expect(await userGrants.listUserGrants(hostile)).toEqual([]);
    expect(await userGrants.revokeUserGrants(hostile, null)).toBe(0);
    expect(await userGrants.revokeUserGrants(rid('user'), hostile)).toBe(0);
  });
});

describe('mongoose: a provider wired with bindMongoose', () => {
  const SECRET = 'user-grants-secret-of-at-least-32-characters';
  const CB = 'https://app.example/cb';
  let db: TestDatabase;
  let provider: OAuth2Provider;
  beforeAll(async () => {
    db = await openTestDatabase('user_grants_provider');
    await db.models.client.insertMany(
      ['mail', 'photos'].map((clientId) => ({
        clientId,
        secretHash: hashSecret(SECRET),
        redirectUris: [CB],
        grantTypes: ['authorization_code', 'refresh_token'],
        scopes: ['read', 'write'],
      })),
    );
    provider = new OAuth2Provider({ issuer: 'http://127.0.0.1', logger: { warn: () => {}, error: () => {} } });
    const stores = bindMongoose(provider, {
      client: db.models.client,
      grant: db.models.grant,
      token: db.models.token,
      currentUser: () => ({ id: 'u-alice' }),
    });
    expect(Object.keys(stores).sort()).toEqual(['clients', 'grants', 'registrations', 'tokens', 'userGrants']);
  });
  afterAll(async () => {
    await db?.close();
  });

  const flow = async (clientId: string, scope: string) => {
    const client = { clientId, clientSecret: SECRET, redirectUri: CB, scope };
    const { code, verifier } = await authorizationCodeFlow(provider, client);
    const res = await redeemCode(provider, client, code, verifier);
    expect(res.status).toBe(200);
    return jsonBody(res) as { access_token: string; refresh_token: string };
  };

  it('lists the apps alice connected and revokes one of them on the next request', async () => {
    const started = Date.now();
    const mail = await flow('mail', 'read');
    await flow('mail', 'write');
    const photos = await flow('photos', 'read');
    const list = await provider.listUserGrants('u-alice');
    expect(list.map((g) => g.clientId)).toEqual(['mail', 'photos']);
    expect(list[0]).toMatchObject({ grants: 2 });
    expect([...(list[0]?.scopes ?? [])].sort()).toEqual(['read', 'write']);
    const last = list[0]?.lastIssuedAt?.getTime() ?? 0;
    expect(last, 'core stamped issuedAt, the binding kept it').toBeGreaterThanOrEqual(started - 1000);
    expect(last).toBeLessThanOrEqual(Date.now());

    expect(await provider.revokeUserGrants('u-alice', 'mail')).toBe(2);
    expect((await provider.verifyAccessToken(bearerRequest(mail.access_token))).ok).toBe(false);
    const refresh = await provider.token(
      formRequest(
        '/token',
        { grant_type: 'refresh_token', refresh_token: mail.refresh_token },
        { authorization: basicAuth('mail', SECRET) },
      ),
    );
    expect(refresh.status).toBe(400);
    expect((await provider.verifyAccessToken(bearerRequest(photos.access_token))).ok).toBe(true);
    expect((await provider.listUserGrants('u-alice')).map((g) => g.clientId)).toEqual(['photos']);
  });
});
