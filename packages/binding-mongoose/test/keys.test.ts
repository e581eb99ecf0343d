/**
 * The signing keys of JWT access tokens in MongoDB: the key store contract, and a provider
 * issuing JWTs across a rotation with its keys in the collection.
 */
import { basicAuth, formRequest, jsonBody, keyStoreSuite } from '@portcullis/binding-testkit';
import { generateClientSecret, hashSecret, OAuth2Provider } from '@portcullis/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindMongoose, createKeyStore } from '../src/index.js';
import { openTestDatabase, type TestDatabase } from './connect.js';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from './jose.js';

const t = { describe, it, beforeAll, afterAll };
const SECRET = 'se:cr+et/%&= x-with-every-odd-character';

let keys: TestDatabase | undefined;
keyStoreSuite(t, {
  name: 'mongoose',
  create: async () => {
    keys = await openTestDatabase('keys');
    return createKeyStore(keys.models.key);
  },
  destroy: async () => keys?.close(),
});

describe('JWT access tokens with keys in MongoDB', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await openTestDatabase('jwt');
    await db.models.client.create({
      clientId: 'app',
      secretHash: hashSecret(SECRET),
      grantTypes: ['client_credentials'],
      scopes: ['read'],
    });
  });
  afterAll(async () => {
    await db?.close();
  });

  it('the kid index is unique', async () => {
    const indexes = await db.models.key.collection.indexes();
    expect(indexes.find((i) => i.key.kid === 1)?.unique).toBe(true);
  });

  it('issues a token, rotates, then signs with the new kid after the lead time; both verify against the JWKS', async () => {
    const provider = new OAuth2Provider({
      issuer: 'http://127.0.0.1',
      grants: ['client_credentials'],
      logger: { warn: () => {}, error: () => {} },
      accessTokenFormat: 'jwt',
      jwt: { keyEncryptionKey: generateClientSecret(), rotationLeadTime: 0.6, keyCacheTtl: 0.1 },
    });
    bindMongoose(provider, { client: db.models.client, token: db.models.token, key: db.models.key });
    const issue = async () => {
      const r = await provider.token(
        formRequest('/oauth/token', { grant_type: 'client_credentials', scope: 'read' }, { authorization: basicAuth('app', SECRET) }),
      );
      expect(r.status, r.body).toBe(200);
      return (jsonBody(r) as { access_token: string }).access_token;
    };
    const jwks = async () => {
      const r = await provider.jwks();
      expect(r.status).toBe(200);
      return JSON.parse(r.body) as { keys: Record<string, unknown>[] };
    };

    const before = await issue();
    const oldKid = decodeProtectedHeader(before).kid;
    expect(oldKid).toBeTruthy();
    const stored = await db.models.key.collection.findOne({ kid: oldKid });
    expect(stored, 'the first key is in the collection').toBeTruthy();
    expect(String(stored?.privateKey), 'the private key at rest is a compact JWE').toMatch(/^[\w-]+\.\.[\w-]+\.[\w-]+\.[\w-]+$/);

    const { kid: newKid, activatesAt } = await provider.rotateSigningKey();
    expect(newKid).not.toBe(oldKid);
    expect((await jwks()).keys.map((k) => k.kid)).toEqual(expect.arrayContaining([oldKid, newKid]));
    expect(decodeProtectedHeader(await issue()).kid, 'still the old key within the lead time').toBe(oldKid);
    const wait = activatesAt.getTime() - Date.now() + 150;
    expect(wait).toBeLessThan(2000);
    await new Promise((r) => setTimeout(r, Math.max(0, wait)));
    const after = await issue();
    expect(decodeProtectedHeader(after).kid).toBe(newKid);

    const set = createLocalJWKSet(await jwks());
    for (const token of [before, after]) {
      const { protectedHeader } = await jwtVerify(token, set, { issuer: 'http://127.0.0.1', typ: 'at+jwt' });
      expect([oldKid, newKid]).toContain(protectedHeader.kid);
    }
    const listed = await createKeyStore(db.models.key).listKeys();
    expect(listed.find((k) => k.kid === oldKid)?.retiresAt?.getTime()).toBe(activatesAt.getTime());
  });
});
