/**
 * Dynamic client registration (RFC 7591/7592) on the Mongo wire server: the testkit's
 * `ClientRegistrationStore` suite, whole-document replacement at rest, documents written before
 * the fields existed, and the whole flow through a provider bound with `bindMongoose`.
 */
import {
  assertClientExactly,
  clientRegistrationStoreSuite,
  makeRegisteredClient,
  REGISTRATION_FLOW_OPTIONS,
  registrationFlow,
} from '@portcullis/binding-testkit';
import { OAuth2Provider } from '@portcullis/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindMongoose, createClientRegistrationStore, createClientStore } from '../src/index.js';
import { openTestDatabase, type TestDatabase } from './connect.js';

const t = { describe, it, beforeAll, afterAll };

let suiteDb: TestDatabase;
clientRegistrationStoreSuite(t, {
  name: 'mongoose',
  create: async () => {
    suiteDb = await openTestDatabase('registrations');
    return { clients: createClientStore(suiteDb.models.client), registrations: createClientRegistrationStore(suiteDb.models.client) };
  },
  destroy: () => suiteDb.close(),
});

describe('mongoose client registration', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await openTestDatabase('registration');
  });
  afterAll(async () => {
    await db.close();
  });

  it('an update replaces the document: no field of the old record stays at rest', async () => {
    const registrations = createClientRegistrationStore(db.models.client);
    const full = makeRegisteredClient();
    expect(await registrations.createClient(full)).toBe(true);
    const raw = await db.models.client.collection.findOne({ clientId: full.id });
    expect(raw?.clientSecretExpiresAt).toBeInstanceOf(Date);
    expect(raw?.registration?.issuedAt).toBeInstanceOf(Date);
    const minimal = {
      id: full.id,
      secretHash: null,
      redirectUris: ['com.example.app:/cb'],
      grantTypes: ['authorization_code' as const],
      scopes: [],
      clientSecretExpiresAt: undefined,
    };
    expect(await registrations.updateClient(minimal)).toBe(true);
    const after = await db.models.client.collection.findOne({ clientId: full.id }, { projection: { _id: 0, __v: 0 } });
    expect(after).toEqual({
      clientId: full.id,
      secretHash: null,
      redirectUris: ['com.example.app:/cb'],
      grantTypes: ['authorization_code'],
      scopes: [],
    });
    expect(await db.models.client.countDocuments({ clientId: full.id })).toBe(1);
  });

  it('reads documents written before the registration fields existed as ordinary clients', async () => {
    const id = `legacy-${Date.now()}`;
    await db.models.client.collection.insertOne({
      clientId: id,
      secretHash: null,
      redirectUris: ['https://app.example/cb'],
      grantTypes: ['authorization_code'],
      scopes: ['read'],
    });
    const client = await createClientStore(db.models.client).getClient(id);
    assertClientExactly(
      client,
      { id, secretHash: null, redirectUris: ['https://app.example/cb'], grantTypes: ['authorization_code'], scopes: ['read'] },
      'legacy client',
    );
    // And management can take such a client over (update) and remove it.
    const registrations = createClientRegistrationStore(db.models.client);
    const taken = makeRegisteredClient({ id });
    expect(await registrations.updateClient(taken)).toBe(true);
    assertClientExactly(await createClientStore(db.models.client).getClient(id), taken, 'legacy client updated');
    expect(await registrations.deleteClient(id)).toBe(true);
  });

  it('ids that are not strings never match (no operator injection)', async () => {
    const registrations = createClientRegistrationStore(db.models.client);
    await registrations.createClient(makeRegisteredClient());
    const before = await db.models.client.countDocuments();
    expect(await registrations.deleteClient({ $ne: '' } as unknown as string)).toBe(false);
    expect(await db.models.client.countDocuments()).toBe(before);
  });

  it('registers, uses, updates and deletes a client through a provider; neither secret at rest', async () => {
    const provider = new OAuth2Provider({
      issuer: 'http://127.0.0.1',
      grants: ['authorization_code', 'refresh_token', 'client_credentials'],
      scopes: ['read', 'write'],
      logger: { warn: () => {}, error: () => {} },
      registration: { enabled: true, grantTypes: [...REGISTRATION_FLOW_OPTIONS.grantTypes], scopes: ['read', 'write'] },
    });
    const stores = bindMongoose(provider, { connection: db.connection, client: true, grant: true, token: true, currentUser: () => null });
    expect(stores.registrations).toBeDefined();
    const { clientId } = await registrationFlow(provider, {
      inspect: async (step, s) => {
        const raw = await db.models.client.collection.findOne({ clientId: s.clientId });
        expect(raw).not.toBeNull();
        const text = JSON.stringify(raw);
        expect(text).not.toContain(s.clientSecret);
        expect(text).not.toContain(s.registrationAccessToken);
        expect(raw?.name).toBe(step === 'registered' ? 'Café client ✓' : 'Renamed');
        expect(typeof raw?.registration?.accessTokenHash).toBe('string');
      },
    });
    expect(await db.models.client.countDocuments({ clientId })).toBe(0);
  });
});
