import {
  clientStoreSuite,
  ephemeralStoreSuite,
  grantStoreSuite,
  tokenStoreSuite,
  type UserSeed,
  userStoreSuite,
} from '@portcullis/binding-testkit';
import type { Client } from '@portcullis/core';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createClientStore, createEphemeralStore, createGrantStore, createTokenStore, createUserStore, lookupKey } from '../src/index.js';
import { openTestDatabase, type TestDatabase } from './connect.js';

const t = { describe, it, beforeAll, afterAll };

// Each suite gets its own database; the probes read raw documents through the driver.
let grants: TestDatabase;
grantStoreSuite(t, {
  name: 'mongoose',
  create: async () => {
    grants = await openTestDatabase('grants');
    return createGrantStore(grants.models.grant);
  },
  destroy: () => grants.close(),
  probe: {
    read: (clientId, code) => grants.models.grant.collection.findOne({ key: lookupKey(code), clientId }),
  },
});

let tokens: TestDatabase;
const readToken = (kind: 'access' | 'refresh', token: string) => tokens.models.token.collection.findOne({ key: lookupKey(token), kind });
tokenStoreSuite(t, {
  name: 'mongoose',
  create: async () => {
    tokens = await openTestDatabase('tokens');
    return createTokenStore(tokens.models.token);
  },
  destroy: () => tokens.close(),
  probe: {
    readAccess: (token) => readToken('access', token),
    readRefresh: (token) => readToken('refresh', token),
  },
});

let ephemeral: TestDatabase;
ephemeralStoreSuite(t, {
  name: 'mongoose',
  create: async () => {
    ephemeral = await openTestDatabase('ephemeral');
    return createEphemeralStore(ephemeral.models.ephemeral);
  },
  destroy: () => ephemeral.close(),
});

let clients: TestDatabase | undefined;
clientStoreSuite(t, {
  name: 'mongoose',
  create: async (seed: Client[]) => {
    clients ??= await openTestDatabase('clients');
    await clients.models.client.insertMany(seed.map(({ id, ...rest }) => ({ ...rest, clientId: id })));
    return createClientStore(clients.models.client);
  },
  destroy: async () => clients?.close(),
});

let users: TestDatabase | undefined;
userStoreSuite(t, {
  name: 'mongoose',
  create: async (seed: UserSeed[]) => {
    users ??= await openTestDatabase('users');
    await users.models.user.insertMany(seed.map(({ username, user, passwordHash }) => ({ username, userId: user.id, passwordHash })));
    return createUserStore(users.models.user);
  },
  destroy: async () => users?.close(),
});
