import { createHash } from 'node:crypto';
import { RecordingRegistry } from '@portcullis/binding-testkit';
import { type CurrentUser, type GrantStore, hashSecret, OAuth2Provider } from '@portcullis/core';
import { DataTypes, Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindSequelize, createSequelizeStores, defineModels } from '../src/index.js';
import { openDatabase, type TestDatabase } from './databases.js';

const currentUser: CurrentUser = () => ({ id: 'u-1' });
const silent = { warn: () => {}, error: () => {} };

let db: TestDatabase;
beforeAll(async () => {
  db = await openDatabase('sqlite-memory');
});
afterAll(async () => {
  await db?.close();
});

describe('bindSequelize wiring', () => {
  it('registers only the stores of the models given, as a binding', () => {
    const registry = new RecordingRegistry();
    const stores = bindSequelize(registry, { sequelize: db.sequelize, client: db.models.client, token: db.models.token });
    expect(registry.stores).toHaveLength(1);
    expect(Object.keys(registry.stores[0]!.stores).sort()).toEqual(['clients', 'registrations', 'tokens']);
    expect(registry.stores[0]!.options).toEqual({ source: 'binding' });
    expect(registry.currentUsers).toHaveLength(0);
    expect(stores).toBe(registry.stores[0]!.stores);
  });

  it('binds nothing for a model left out, and nothing at all without models', () => {
    const registry = new RecordingRegistry();
    bindSequelize(registry, { user: db.models.user });
    expect(Object.keys(registry.stores[0]!.stores)).toEqual(['users']);
    const empty = new RecordingRegistry();
    bindSequelize(empty, {});
    expect(empty.stores[0]!.stores).toEqual({});
  });

  it('refuses `grant` without `currentUser` at bind time, registering nothing', () => {
    const registry = new RecordingRegistry();
    expect(() => bindSequelize(registry, { grant: db.models.grant, token: db.models.token })).toThrow(
      /`currentUser` is required when `grant` is given/,
    );
    expect(registry.stores).toHaveLength(0);
    expect(registry.currentUsers).toHaveLength(0);
  });

  it('registers currentUser as a binding when given', () => {
    const registry = new RecordingRegistry();
    bindSequelize(registry, { grant: db.models.grant, currentUser });
    expect(Object.keys(registry.stores[0]!.stores)).toEqual(['grants']);
    expect(registry.currentUsers).toEqual([{ fn: currentUser, options: { source: 'binding' } }]);
  });

  it('refuses a model of another Sequelize instance', () => {
    const other = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
    const foreign = defineModels(other, { tablePrefix: 'foreign_' });
    expect(() => bindSequelize(new RecordingRegistry(), { sequelize: db.sequelize, client: foreign.client })).toThrow(
      /`client` model belongs to another Sequelize instance/,
    );
    return other.close();
  });

  it('refuses, at bind time, a model of your own that lacks an attribute the store needs', () => {
    const Incomplete = db.sequelize.define('incomplete_users', {
      id: { type: DataTypes.STRING, primaryKey: true },
      username: DataTypes.STRING,
    });
    const registry = new RecordingRegistry();
    expect(() => bindSequelize(registry, { user: Incomplete })).toThrow(
      /createUserStore: the model incomplete_users lacks the attribute\(s\) passwordHash/,
    );
    expect(registry.stores).toHaveLength(0);
  });

  it('createSequelizeStores makes the same stores without registering them', () => {
    const stores = createSequelizeStores({ grant: db.models.grant, token: db.models.token });
    expect(Object.keys(stores).sort()).toEqual(['grants', 'tokens', 'userGrants']);
    expect(stores.grants?.detectsReplay).toBe(true);
    expect(stores.tokens?.detectsReplay).toBe(true);
    expect(stores.grants?.capabilities).toEqual({ detectsReplay: true, ttlGranularity: 'ms' });
    expect(stores.tokens?.capabilities).toEqual({ detectsReplay: true, ttlGranularity: 'ms' });
  });
});

describe('bindSequelize with the real provider', () => {
  const custom = (calls: string[]): GrantStore => ({
    saveGrant: async () => {
      calls.push('save');
    },
    consumeGrant: async () => {
      calls.push('consume');
      return null;
    },
  });

  for (const order of ['explicit first', 'binding first'] as const) {
    it(`an explicit useStores({ grants }) beats the binding (${order})`, async () => {
      const provider = new OAuth2Provider({ issuer: 'http://127.0.0.1', logger: silent });
      const calls: string[] = [];
      const models = { ...db.models, currentUser };
      if (order === 'explicit first') {
        provider.useStores({ grants: custom(calls) });
        bindSequelize(provider, models);
      } else {
        bindSequelize(provider, models);
        provider.useStores({ grants: custom(calls) });
      }
      const clientId = `c-order-${order.split(' ')[0]}`;
      await db.models.client.create({
        id: clientId,
        secretHash: hashSecret('s3cret-0123456789abcdefghij0123456789'),
        redirectUris: ['https://app.example/cb'],
        grantTypes: ['authorization_code'],
        scopes: ['read'],
      });
      const verifier = 'v'.repeat(50);
      const query = new URLSearchParams({
        response_type: 'code',
        client_id: clientId,
        redirect_uri: 'https://app.example/cb',
        scope: 'read',
        state: 'xyz',
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
      });
      const a = await provider.authorize({ method: 'GET', url: `/oauth/authorize?${query}`, headers: {} });
      expect(a.type, 'the client comes from SQL').toBe('consent');
      if (a.type !== 'consent') return;
      const redirect = await provider.completeAuthorization(a.request, { approved: true });
      const code = new URL(redirect.headers.Location ?? '').searchParams.get('code');
      expect(code).toBeTruthy();
      const res = await provider.token({
        method: 'POST',
        url: '/oauth/token',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${clientId}:s3cret-0123456789abcdefghij0123456789`).toString('base64')}`,
        },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: code ?? '',
          redirect_uri: 'https://app.example/cb',
          code_verifier: verifier,
        }).toString(),
      });
      expect(JSON.parse(res.body).error, 'the custom grant store answered null').toBe('invalid_grant');
      expect(calls).toEqual(['save', 'consume']);
      expect(await db.models.grant.count({ where: { clientId } }), 'the SQL grant store was not used').toBe(0);
    });
  }

  it('a provider without grant or token models still needs them registered elsewhere', () => {
    const provider = new OAuth2Provider({ issuer: 'http://127.0.0.1', logger: silent });
    bindSequelize(provider, { client: db.models.client });
    expect(() => provider.validate()).toThrow(/tokens\.saveTokens/);
  });
});
