/**
 * Dynamic client registration (RFC 7591/7592) on each database: the testkit's
 * `ClientRegistrationStore` suite through the direct lookup and through the model, and the whole
 * flow through a provider bound with `bindSequelize`, the secrets never at rest.
 */
import {
  clientRegistrationStoreSuite,
  makeRegisteredClient,
  REGISTRATION_FLOW_OPTIONS,
  registrationFlow,
} from '@portcullis/binding-testkit';
import { OAuth2Provider } from '@portcullis/core';
import { DataTypes } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindSequelize, createClientRegistrationStore, createClientStore, defineModels } from '../src/index.js';
import { connect, DIALECTS, openDatabase, type TestDatabase, uniquePrefix } from './databases.js';

const t = { describe, it, beforeAll, afterAll };

for (const dialect of DIALECTS) {
  describe(dialect, () => {
    let db: TestDatabase | undefined;
    afterAll(async () => {
      await db?.close();
    });

    clientRegistrationStoreSuite(t, {
      name: `sequelize ${dialect}`,
      create: async () => {
        db = await openDatabase(dialect);
        return { clients: createClientStore(db.models.client), registrations: createClientRegistrationStore(db.models.client) };
      },
    });

    it('registers, uses, updates and deletes a client through a provider; neither secret at rest', async () => {
      const flowDb = await openDatabase(dialect);
      try {
        const provider = new OAuth2Provider({
          issuer: 'http://127.0.0.1',
          grants: ['authorization_code', 'refresh_token', 'client_credentials'],
          scopes: ['read', 'write'],
          logger: { warn: () => {}, error: () => {} },
          registration: { enabled: true, grantTypes: [...REGISTRATION_FLOW_OPTIONS.grantTypes], scopes: ['read', 'write'] },
        });
        const { client, user, grant, token } = flowDb.models;
        const stores = bindSequelize(provider, { sequelize: flowDb.sequelize, client, user, grant, token, currentUser: () => null });
        expect(stores.registrations).toBeDefined();
        await registrationFlow(provider, {
          inspect: async (step, s) => {
            const rows = await flowDb.rawRows('client', { id: s.clientId });
            expect(rows).toHaveLength(1);
            const text = JSON.stringify(rows[0]);
            expect(text).not.toContain(s.clientSecret);
            expect(text).not.toContain(s.registrationAccessToken);
            expect(rows[0]?.name).toBe(step === 'registered' ? 'Café client ✓' : 'Renamed');
            expect(String(rows[0]?.registration)).toMatch(/"accessTokenHash"/);
          },
        });
        expect(await flowDb.models.client.count()).toBe(0);
      } finally {
        await flowDb.close();
      }
    });
  });
}

describe('sqlite-memory: through the model (no direct lookup)', () => {
  let close: (() => Promise<void>) | undefined;
  afterAll(async () => {
    await close?.();
  });
  clientRegistrationStoreSuite(t, {
    name: 'sequelize sqlite-memory, model with a hook',
    create: async () => {
      const { sequelize, cleanup } = await connect('sqlite-memory');
      close = async () => {
        await sequelize.close();
        await cleanup();
      };
      const models = defineModels(sequelize, { tablePrefix: uniquePrefix() });
      await models.client.sync();
      // A hook makes the store read through the model instead of its own SELECT.
      models.client.addHook('afterFind', () => {});
      return { clients: createClientStore(models.client), registrations: createClientRegistrationStore(models.client) };
    },
  });
});

describe('a client model of your own without the registration columns', () => {
  it('takes clients without the new fields and refuses the others, naming the attribute', async () => {
    const { sequelize, cleanup } = await connect('sqlite-memory');
    try {
      // One object per attribute: Sequelize writes each attribute's field name into its own.
      const text = () => ({ type: DataTypes.TEXT, allowNull: false });
      const model = sequelize.define(
        `${uniquePrefix()}clients`,
        {
          id: { type: DataTypes.STRING(255), primaryKey: true },
          secretHash: { type: DataTypes.STRING(255), allowNull: true },
          redirectUris: text(),
          grantTypes: text(),
          scopes: text(),
        },
        { timestamps: false },
      );
      await model.sync();
      const registrations = createClientRegistrationStore(model);
      const clients = createClientStore(model);
      const plain = {
        id: 'plain',
        secretHash: null,
        redirectUris: ['https://app.example/cb'],
        grantTypes: ['authorization_code' as const],
        scopes: ['read'],
      };
      expect(await registrations.createClient(plain)).toBe(true);
      expect(await clients.getClient('plain')).toEqual(plain);
      await expect(registrations.createClient(makeRegisteredClient())).rejects.toThrow(/lacks the attribute defaultScopes/);
      await expect(registrations.updateClient({ ...plain, name: 'x' })).rejects.toThrow(/lacks the attribute name/);
      expect(await clients.getClient('plain')).toEqual(plain);
    } finally {
      await sequelize.close();
      await cleanup();
    }
  });
});
