import assert from 'node:assert/strict';
import type { Client, ClientStore } from '@portcullis/core';
import { type Check, check, label, registerSuite, rid, type TestApi } from './shared.js';

/** Options of `clientStoreSuite`. */
export interface ClientSuiteOptions {
  /** Shown in test titles. */
  name: string;
  /**
   * Called by each test with the clients it needs (random ids, so earlier seeds never clash).
   * Return a store that finds them; it may be the same store each time.
   */
  create: (seed: Client[]) => Promise<ClientStore>;
  /** Called once, in `afterAll`: close everything `create` opened. */
  destroy?: () => Promise<void>;
}

/** What each client check runs against. */
export interface ClientCheckContext {
  create: (seed: Client[]) => Promise<ClientStore>;
}

/** A confidential client with a random id. */
export function makeClient(overrides: Partial<Client> = {}): Client {
  return {
    id: rid('client'),
    secretHash: `hmac-sha256$${rid('salt')}$${rid('digest')}`,
    redirectUris: ['https://app.example/cb', 'http://127.0.0.1:8080/callback?x=1', 'com.example.app:/oauth'],
    grantTypes: ['refresh_token', 'authorization_code', 'client_credentials'],
    scopes: ['write', 'read', 'https://api.example/profile:read'],
    ...overrides,
  };
}

/** Asserts the returned client equals the seeded one (required fields exactly; optional ones if kept). */
export function assertClient(actual: Client | null, expected: Client, what: string): void {
  assert.ok(actual, `${what}: expected client ${JSON.stringify(expected.id)}, got null`);
  const pick = (c: Client) => ({
    id: c.id,
    secretHash: c.secretHash,
    redirectUris: Array.isArray(c.redirectUris) ? [...c.redirectUris] : c.redirectUris,
    grantTypes: Array.isArray(c.grantTypes) ? [...c.grantTypes] : c.grantTypes,
    scopes: Array.isArray(c.scopes) ? [...c.scopes] : c.scopes,
  });
  assert.deepEqual(pick(actual), pick(expected), `${what}: client fields must round-trip (arrays in order)`);
  if (expected.defaultScopes === undefined) {
    const d = actual.defaultScopes;
    assert.ok(d === undefined || (Array.isArray(d) && d.length === 0), `${what}: defaultScopes must stay absent or empty`);
  } else if (actual.defaultScopes !== undefined) {
    assert.deepEqual([...actual.defaultScopes], [...expected.defaultScopes], `${what}: defaultScopes`);
  }
  if (expected.tokenEndpointAuthMethod !== undefined && actual.tokenEndpointAuthMethod !== undefined) {
    assert.equal(actual.tokenEndpointAuthMethod, expected.tokenEndpointAuthMethod, `${what}: tokenEndpointAuthMethod`);
  }
  // Core lets a resource server introspect every client's tokens (RFC 7662 section 4): `true`
  // must come back as `true`, and anything else as absent or `false`, never as a truthy value.
  if (expected.resourceServer === true) {
    assert.equal(actual.resourceServer, true, `${what}: resourceServer must come back true`);
  } else {
    const r = actual.resourceServer;
    assert.ok(r === undefined || r === false, `${what}: resourceServer must stay absent or false, got ${JSON.stringify(r)}`);
  }
}

/** Every check of the client suite, by key. */
export const clientChecks = {
  unknownClient: check<ClientCheckContext>('an unknown client id gives null', async ({ create }) => {
    const store = await create([makeClient()]);
    assert.equal(await store.getClient(rid('client')), null);
    assert.equal(await store.getClient(''), null, 'the empty id');
  }),

  confidential: check<ClientCheckContext>('a confidential client round-trips', async ({ create }) => {
    const client = makeClient({ defaultScopes: ['read'] });
    const store = await create([client]);
    assertClient(await store.getClient(client.id), client, 'confidential client');
  }),

  public: check<ClientCheckContext>('a public client keeps secretHash null', async ({ create }) => {
    const client = makeClient({
      secretHash: null,
      redirectUris: ['https://spa.example/cb'],
      grantTypes: ['authorization_code'],
      scopes: ['read'],
      tokenEndpointAuthMethod: 'none',
    });
    const store = await create([client]);
    assertClient(await store.getClient(client.id), client, 'public client');
  }),

  resourceServer: check<ClientCheckContext>(
    'resourceServer: true comes back true; false or unset comes back absent or false',
    async ({ create }) => {
      const rs = makeClient({ resourceServer: true });
      const plain = makeClient();
      const notRs = makeClient({ resourceServer: false, secretHash: null, tokenEndpointAuthMethod: 'none' });
      const store = await create([rs, plain, notRs]);
      assertClient(await store.getClient(rs.id), rs, 'resource server');
      assertClient(await store.getClient(plain.id), plain, 'client without resourceServer');
      assertClient(await store.getClient(notRs.id), notRs, 'client with resourceServer: false');
    },
  ),

  manyClients: check<ClientCheckContext>('each id finds its own client, case-sensitively', async ({ create }) => {
    const base = rid('app');
    const lower = makeClient({ id: base.toLowerCase() });
    const upper = makeClient({ id: base.toUpperCase(), scopes: ['other'] });
    const unicode = makeClient({ id: `${base}-クライアント-🔑`, secretHash: null });
    const store = await create([lower, upper, unicode]);
    assertClient(await store.getClient(lower.id), lower, 'lower-case id');
    assertClient(await store.getClient(upper.id), upper, 'upper-case id');
    assertClient(await store.getClient(unicode.id), unicode, 'non-ASCII id');
    assert.equal(await store.getClient(`${lower.id} `), null, 'an id with a trailing space');
  }),
} satisfies Record<string, Check<ClientCheckContext>>;

/** Registers the client-store contract tests. */
export function clientStoreSuite(t: TestApi, options: ClientSuiteOptions): void {
  registerSuite(
    t,
    label('ClientStore', options.name),
    Object.values(clientChecks),
    async () => ({ create: options.create }),
    options.destroy,
  );
}
