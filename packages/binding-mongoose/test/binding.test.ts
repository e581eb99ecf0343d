import { randomBytes } from 'node:crypto';
import { RecordingRegistry } from '@portcullis/binding-testkit';
import type { AccessTokenRecord, Client, CurrentUser, GrantRecord, RefreshTokenRecord, User } from '@portcullis/core';
import { type Model, Schema } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bindMongoose,
  type ClientDocument,
  clientSchema,
  createClientStore,
  createGrantStore,
  createTokenStore,
  createUserStore,
  defineModels,
  lookupKey,
} from '../src/index.js';
import { openTestDatabase, type TestDatabase } from './connect.js';

const id = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;
const inAMinute = () => new Date(Date.now() + 60_000 + 123);

function grant(overrides: Partial<GrantRecord> = {}): GrantRecord {
  return {
    code: id('code'),
    clientId: id('client'),
    userId: id('user'),
    redirectUri: 'https://app.example/cb',
    scopes: ['read', 'write'],
    expiresAt: inAMinute(),
    grantId: id('family'),
    codeChallenge: null,
    codeChallengeMethod: null,
    ...overrides,
  };
}

function pair(overrides: Partial<AccessTokenRecord> = {}): { access: AccessTokenRecord; refresh: RefreshTokenRecord } {
  const common = { clientId: id('client'), userId: id('user'), scopes: ['read'], grantId: id('family'), expiresAt: inAMinute() };
  return {
    access: { token: id('at'), ...common, ...overrides },
    refresh: { token: id('rt'), ...common, ...overrides },
  };
}

// Values that would match every document if they reached a filter as operators.
const OPERATORS: { label: string; value: string }[] = [
  { label: '{"$gt": ""}', value: { $gt: '' } as unknown as string },
  { label: '{"$ne": null}', value: { $ne: null } as unknown as string },
  { label: '{"$regex": ".*"}', value: { $regex: '.*' } as unknown as string },
  { label: '{"$exists": true}', value: { $exists: true } as unknown as string },
  { label: '["x"]', value: ['x'] as unknown as string },
  { label: 'a number', value: 1 as unknown as string },
  { label: 'null', value: null as unknown as string },
];

let db: TestDatabase;
beforeAll(async () => {
  db = await openTestDatabase('binding');
});
afterAll(async () => {
  await db?.close();
});

describe('bindMongoose wiring', () => {
  it('binds each model given, with source "binding", and nothing for models left out', () => {
    const registry = new RecordingRegistry();
    const stores = bindMongoose(registry, { client: db.models.client, token: db.models.token });
    expect(registry.stores).toHaveLength(1);
    const [registered] = registry.stores;
    expect(registered?.options).toEqual({ source: 'binding' });
    expect(Object.keys(registered?.stores ?? {}).sort()).toEqual(['clients', 'registrations', 'tokens']);
    expect(typeof registered?.stores.clients?.getClient).toBe('function');
    expect(Object.keys(registered?.stores.tokens ?? {}).sort()).toEqual([
      'capabilities',
      'consumeRefreshToken',
      'detectsReplay',
      'getAccessToken',
      'getRefreshToken',
      'revokeAccessToken',
      'revokeFamily',
      'saveTokens',
    ]);
    expect(registered?.stores.tokens?.detectsReplay).toBe(true);
    expect(registered?.stores.tokens?.capabilities).toEqual({ detectsReplay: true, ttlGranularity: 'ms' });
    expect(stores).toBe(registered?.stores);
    expect(registry.currentUsers).toHaveLength(0);
  });

  it('binds nothing when no model is given', () => {
    const registry = new RecordingRegistry();
    bindMongoose(registry, {});
    expect(registry.stores).toEqual([{ stores: {}, options: { source: 'binding' } }]);
    expect(registry.currentUsers).toHaveLength(0);
  });

  it('requires currentUser with grant, with a message naming it, and registers nothing then', () => {
    const registry = new RecordingRegistry();
    expect(() => bindMongoose(registry, { grant: db.models.grant, token: db.models.token })).toThrow(/currentUser.*grant/);
    expect(registry.stores).toHaveLength(0);
    expect(registry.currentUsers).toHaveLength(0);
  });

  it('registers currentUser with source "binding" when grant is given', () => {
    const registry = new RecordingRegistry();
    const currentUser: CurrentUser = () => ({ id: 'u1' });
    bindMongoose(registry, { grant: db.models.grant, currentUser });
    expect(Object.keys(registry.stores[0]?.stores ?? {})).toEqual(['grants']);
    expect(registry.stores[0]?.stores.grants?.detectsReplay).toBe(true);
    expect(registry.currentUsers).toEqual([{ fn: currentUser, options: { source: 'binding' } }]);
  });

  it('does not require currentUser without grant', () => {
    const registry = new RecordingRegistry();
    bindMongoose(registry, { user: db.models.user, client: db.models.client });
    expect(Object.keys(registry.stores[0]?.stores ?? {}).sort()).toEqual(['clients', 'registrations', 'users']);
  });

  it('`true` uses the default models on `connection`, which is then required', async () => {
    const registry = new RecordingRegistry();
    expect(() => bindMongoose(registry, { client: true })).toThrow(/connection/);
    const stores = bindMongoose(registry, { connection: db.connection, client: true, user: true });
    expect(Object.keys(stores).sort()).toEqual(['clients', 'registrations', 'users']);
    const clientId = id('client');
    await db.models.client.create({ clientId, secretHash: null, redirectUris: [], grantTypes: [], scopes: [] });
    expect(await stores.clients?.getClient(clientId)).toMatchObject({ id: clientId, secretHash: null });
  });

  it('defineModels returns the same models for the same prefix and separate collections for another', async () => {
    expect(defineModels(db.connection)).toEqual(db.models);
    expect(db.models.grant.collection.collectionName).toBe('oauth_grants');
    const other = defineModels(db.connection, { collectionPrefix: 'alt_' });
    expect(other.token.collection.collectionName).toBe('alt_tokens');
    const store = createTokenStore(other.token);
    const { access } = pair();
    await store.saveTokens(access, null);
    expect(await createTokenStore(db.models.token).getAccessToken(access.token)).toBeNull();
    expect(await store.getAccessToken(access.token)).toMatchObject({ token: access.token });
  });
});

describe('schemas and indexes', () => {
  it('has unique indexes on lookup keys and TTL indexes on expiresAt', async () => {
    const indexes = async (model: { collection: { indexes(): Promise<unknown[]> } }) =>
      (await model.collection.indexes()) as { key: Record<string, number>; unique?: boolean; expireAfterSeconds?: number }[];
    const grants = await indexes(db.models.grant);
    expect(grants).toContainEqual(expect.objectContaining({ key: { key: 1, clientId: 1 }, unique: true }));
    expect(grants).toContainEqual(expect.objectContaining({ key: { expiresAt: 1 }, expireAfterSeconds: 0 }));
    const tokens = await indexes(db.models.token);
    expect(tokens).toContainEqual(expect.objectContaining({ key: { key: 1, kind: 1 }, unique: true }));
    expect(tokens).toContainEqual(expect.objectContaining({ key: { grantId: 1 } }));
    expect(tokens).toContainEqual(expect.objectContaining({ key: { expiresAt: 1 }, expireAfterSeconds: 0 }));
    expect(await indexes(db.models.client)).toContainEqual(expect.objectContaining({ key: { clientId: 1 }, unique: true }));
    const users = await indexes(db.models.user);
    expect(users).toContainEqual(expect.objectContaining({ key: { username: 1 }, unique: true }));
    expect(users).toContainEqual(expect.objectContaining({ key: { userId: 1 }, unique: true }));
  });

  it('keeps a SHA-256 digest of codes and tokens, never the raw value, and BSON dates', async () => {
    const code = `secret-code-${id('x')}`;
    const g = grant({ code });
    await createGrantStore(db.models.grant).saveGrant(g);
    const rawGrant = await db.models.grant.collection.findOne({ clientId: g.clientId });
    expect(rawGrant?.key).toBe(lookupKey(code));
    expect(rawGrant?.key).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(rawGrant)).not.toContain(code);
    expect(rawGrant?.expiresAt).toBeInstanceOf(Date);
    expect(rawGrant?.consumedAt).toBeNull();

    const p = pair();
    await createTokenStore(db.models.token).saveTokens(p.access, p.refresh);
    const rawTokens = await db.models.token.collection.find({ grantId: p.access.grantId }).toArray();
    expect(rawTokens.map((doc) => doc.kind).sort()).toEqual(['access', 'refresh']);
    for (const doc of rawTokens) {
      expect(doc.key).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.stringify(doc)).not.toContain(p.access.token);
      expect(JSON.stringify(doc)).not.toContain(p.refresh.token);
      expect(doc.expiresAt).toBeInstanceOf(Date);
    }
  });

  it('keeps a null redirectUri (redirect_uri not sent) as BSON null and refuses a grant without the field', async () => {
    const grants = createGrantStore(db.models.grant);
    const omitted = grant({ redirectUri: null });
    await grants.saveGrant(omitted);
    const raw = await db.models.grant.collection.findOne({ key: lookupKey(omitted.code), clientId: omitted.clientId });
    expect(raw, 'the field is there, holding null').toHaveProperty('redirectUri', null);
    expect(await grants.consumeGrant(omitted.clientId, omitted.code)).toEqual({ outcome: 'consumed', record: omitted });

    // A grant that lost the field is not one whose authorization request left redirect_uri out.
    const { redirectUri: _, ...missing } = grant();
    await expect(grants.saveGrant(missing as GrantRecord)).rejects.toThrow(/redirectUri/);
    expect(await db.models.grant.collection.countDocuments({ key: lookupKey(missing.code) })).toBe(0);
  });

  it('reads grants stored before redirectUri could be null, as 0.1.0 wrote them', async () => {
    const g = grant({ redirectUri: 'https://app.example/cb?x=1' });
    // The document exactly as 0.1.0 inserted it, bypassing the current schema.
    await db.models.grant.collection.insertOne({
      key: lookupKey(g.code),
      clientId: g.clientId,
      userId: g.userId,
      redirectUri: g.redirectUri,
      scopes: [...g.scopes],
      expiresAt: g.expiresAt,
      grantId: g.grantId,
      codeChallenge: null,
      codeChallengeMethod: null,
      consumedAt: null,
      __v: 0,
    });
    expect(await createGrantStore(db.models.grant).consumeGrant(g.clientId, g.code)).toEqual({ outcome: 'consumed', record: g });
  });

  it('marks consumed codes and rotated refresh tokens instead of deleting them', async () => {
    const grants = createGrantStore(db.models.grant);
    const g = grant();
    await grants.saveGrant(g);
    expect((await grants.consumeGrant(g.clientId, g.code))?.outcome).toBe('consumed');
    const raw = await db.models.grant.collection.findOne({ key: lookupKey(g.code), clientId: g.clientId });
    expect(raw?.consumedAt).toBeInstanceOf(Date);

    const tokens = createTokenStore(db.models.token);
    const p = pair();
    await tokens.saveTokens(p.access, p.refresh);
    expect((await tokens.consumeRefreshToken(p.refresh.token))?.outcome).toBe('consumed');
    await tokens.revokeFamily(p.access.grantId);
    expect(await tokens.consumeRefreshToken(p.refresh.token)).toEqual({ outcome: 'replayed', grantId: p.access.grantId });
  });

  it('returns plain arrays and Dates, not Mongoose types', async () => {
    const p = pair({ scopes: ['b', 'a'] });
    const tokens = createTokenStore(db.models.token);
    await tokens.saveTokens(p.access, null);
    const found = await tokens.getAccessToken(p.access.token);
    expect(Object.getPrototypeOf(found?.scopes)).toBe(Array.prototype);
    expect(found?.expiresAt).toBeInstanceOf(Date);
    expect(found?.expiresAt.getTime()).toBe(p.access.expiresAt.getTime());

    const clientId = id('client');
    await db.models.client.create({ clientId, secretHash: null, redirectUris: ['https://a/cb'], grantTypes: ['password'], scopes: ['x'] });
    const client = await createClientStore(db.models.client).getClient(clientId);
    expect(client).toEqual({ id: clientId, secretHash: null, redirectUris: ['https://a/cb'], grantTypes: ['password'], scopes: ['x'] });
    expect(Object.getPrototypeOf(client?.redirectUris)).toBe(Array.prototype);
  });

  it('resourceServer: only a stored true comes back; documents without it read as ordinary clients', async () => {
    const clients = createClientStore(db.models.client);
    const base = { secretHash: null, redirectUris: [], grantTypes: ['client_credentials'], scopes: [] };
    const rs = id('rs');
    await db.models.client.create({ ...base, clientId: rs, resourceServer: true });
    expect((await db.models.client.collection.findOne({ clientId: rs }))?.resourceServer, 'a BSON boolean').toBe(true);
    expect(await clients.getClient(rs)).toEqual({ ...base, id: rs, resourceServer: true });
    // Written as older versions did (no field), or past the schema with values that are not `true`.
    for (const raw of [{}, { resourceServer: null }, { resourceServer: false }, { resourceServer: 'true' }, { resourceServer: 1 }]) {
      const clientId = id('plain');
      await db.models.client.collection.insertOne({ ...base, clientId, ...raw, __v: 0 });
      const client = await clients.getClient(clientId);
      expect(client, JSON.stringify(raw)).toEqual({ ...base, id: clientId });
      expect(client, JSON.stringify(raw)).not.toHaveProperty('resourceServer');
    }
  });

  it('accepts an extended schema and returns the extra fields on the client', async () => {
    interface NamedClientDocument extends ClientDocument {
      name: string;
    }
    interface NamedClient extends Client {
      name: string;
    }
    const schema = new Schema<NamedClientDocument>().add(clientSchema).add({ name: { type: String, required: true } });
    const Extended = db.connection.model('ExtendedClient', schema, 'extended_clients');
    await Extended.init();
    const clientId = id('client');
    await Extended.create({ clientId, secretHash: null, redirectUris: [], grantTypes: [], scopes: [], name: 'Demo app' });
    const client = await createClientStore<NamedClient, NamedClientDocument>(Extended as unknown as Model<NamedClientDocument>).getClient(
      clientId,
    );
    expect(client?.name).toBe('Demo app');
    expect(client?.id).toBe(clientId);
    await expect(Extended.create({ clientId, secretHash: null, name: 'Duplicate id' })).rejects.toMatchObject({ code: 11000 });
  });
});

describe('hostile input', () => {
  it('operators smuggled in as ids, codes, usernames or tokens never match and never throw', async () => {
    const clientId = id('client');
    await db.models.client.create({ clientId, secretHash: null, redirectUris: [], grantTypes: [], scopes: [] });
    const username = id('alice');
    await db.models.user.create({ username, userId: id('user'), passwordHash: 'scrypt$x' });
    const grants = createGrantStore(db.models.grant);
    const g = grant();
    await grants.saveGrant(g);
    const tokens = createTokenStore(db.models.token);
    const p = pair();
    await tokens.saveTokens(p.access, p.refresh);
    const clients = createClientStore(db.models.client);
    const users = createUserStore(db.models.user);

    for (const { label, value } of OPERATORS) {
      expect(await clients.getClient(value), label).toBeNull();
      expect(await users.getUserByUsername(value), label).toBeNull();
      expect(await grants.consumeGrant(value, value), label).toBeNull();
      expect(await grants.consumeGrant(g.clientId, value), label).toBeNull();
      expect(await grants.consumeGrant(value, g.code), label).toBeNull();
      expect(await tokens.getAccessToken(value), label).toBeNull();
      expect(await tokens.getRefreshToken(value), label).toBeNull();
      expect(await tokens.consumeRefreshToken(value), label).toBeNull();
      await tokens.revokeAccessToken(value);
      await tokens.revokeFamily(value);
    }
    // Nothing was consumed, deleted or revoked along the way.
    expect((await grants.consumeGrant(g.clientId, g.code))?.outcome).toBe('consumed');
    expect(await tokens.getAccessToken(p.access.token)).toMatchObject({ token: p.access.token });
    expect((await tokens.consumeRefreshToken(p.refresh.token))?.outcome).toBe('consumed');
    expect(await clients.getClient(clientId)).toMatchObject({ id: clientId });
    expect(await users.getUserByUsername(username)).toMatchObject({ passwordHash: 'scrypt$x' });
  });

  it('strings that look like operators are plain keys', async () => {
    const grants = createGrantStore(db.models.grant);
    const clientId = '{"$gt": ""}';
    const g = grant({ clientId, code: '$where' });
    await grants.saveGrant(g);
    expect(await grants.consumeGrant('$gt', '$where')).toBeNull();
    expect((await grants.consumeGrant(clientId, '$where'))?.outcome).toBe('consumed');
    await db.models.user.create({ username: '$ne', userId: id('user'), passwordHash: 'h' });
    expect(await createUserStore(db.models.user).getUserByUsername('{"$ne": null}')).toBeNull();
    expect(await createUserStore(db.models.user).getUserByUsername('$ne')).toMatchObject({ passwordHash: 'h' });
  });

  it('huge and non-ASCII ids and usernames work and do not collide', async () => {
    const huge = `${id('c')}${'é'.repeat(64 * 1024)}`;
    const clients = createClientStore(db.models.client);
    await db.models.client.create({ clientId: huge, secretHash: null, redirectUris: [], grantTypes: [], scopes: [] });
    expect(await clients.getClient(huge)).toMatchObject({ id: huge });
    expect(await clients.getClient(`${huge}x`)).toBeNull();
    expect(await clients.getClient(huge.slice(0, -1))).toBeNull();

    const users = createUserStore<User>(db.models.user);
    const name = `Zoë-${id('用户')}-👩🏽‍💻`;
    await db.models.user.create({ username: name, userId: id('user'), passwordHash: 'h1' });
    expect(await users.getUserByUsername(name)).toMatchObject({ passwordHash: 'h1' });
    expect(await users.getUserByUsername(name.normalize('NFD'))).toBeNull();

    // Codes and tokens of any size hash to 64 hex characters; lone surrogates stay distinct.
    const grants = createGrantStore(db.models.grant);
    const clientId = id('client');
    const a = grant({ clientId, code: `${'k'.repeat(1 << 20)}\ud800` });
    const b = grant({ clientId, code: `${'k'.repeat(1 << 20)}\ud801` });
    await grants.saveGrant(a);
    await grants.saveGrant(b);
    const consumed = await grants.consumeGrant(clientId, b.code);
    expect(consumed?.outcome === 'consumed' && consumed.record.grantId).toBe(b.grantId);
    const other = await grants.consumeGrant(clientId, a.code);
    expect(other?.outcome === 'consumed' && other.record.grantId).toBe(a.grantId);
  });

  it('an unknown client, user, code or token is null', async () => {
    expect(await createClientStore(db.models.client).getClient(id('nobody'))).toBeNull();
    expect(await createUserStore(db.models.user).getUserByUsername(id('nobody'))).toBeNull();
    expect(await createGrantStore(db.models.grant).consumeGrant(id('c'), id('code'))).toBeNull();
    expect(await createTokenStore(db.models.token).getRefreshToken(id('rt'))).toBeNull();
  });
});
