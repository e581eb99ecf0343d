import assert from 'node:assert/strict';
import {
  clientChecks,
  clientStoreSuite,
  grantCacheProviderSuite,
  grantChecks,
  grantProbeChecks,
  grantStoreSuite,
  type StoreCapabilities,
  type TestApi,
  tokenChecks,
  tokenProbeChecks,
  tokenStoreSuite,
  type UserSeed,
  userChecks,
  userStoreSuite,
} from '@portcullis/binding-testkit';
import type { AccessTokenRecord, Client, ClientStore, GrantStore, RefreshTokenRecord, TokenStore, UserStore } from '@portcullis/core';
import { afterAll, beforeAll, describe, it } from 'vitest';
import {
  concatKeyGrantStore,
  forgetfulRedirectGrantStore,
  mapGrantStore,
  mapTokenStore,
  noExpiryCheckGrantStore,
  nullAsEmptyGrantStore,
  nullAsTextGrantStore,
  onePairPerUserTokenStore,
  racyGrantStore,
  racyTokenStore,
  stringDateGrantStore,
} from './reference-stores.js';

const t = { describe, it, beforeAll, afterAll };

// The suites against correct reference stores, in every capability combination, each store
// declaring its own (no capabilities option).
for (const detectsReplay of [false, true]) {
  for (const ttlGranularity of ['ms', 's'] as const) {
    const name = `reference (replay ${detectsReplay}, ttl ${ttlGranularity})`;
    const grants = mapGrantStore(detectsReplay, ttlGranularity);
    grantStoreSuite(t, {
      name,
      create: async () => grants,
      probe: { read: async (clientId, code) => grants.entries.get(JSON.stringify([clientId, code])) ?? null },
    });
    const tokens = mapTokenStore(detectsReplay, ttlGranularity);
    tokenStoreSuite(t, {
      name,
      create: async () => tokens,
      probe: {
        readAccess: async (token) => tokens.access.get(token) ?? null,
        readRefresh: async (token) => tokens.refresh.get(token) ?? null,
      },
    });
  }
}

function clientStore(seed: Client[]): ClientStore {
  const byId = new Map(seed.map((c) => [c.id, structuredClone(c)]));
  return { getClient: async (id) => byId.get(id) ?? null };
}
clientStoreSuite(t, { name: 'reference', create: async (seed) => clientStore(seed) });

function userStore(seed: UserSeed[]): UserStore {
  const byName = new Map(seed.map((s) => [s.username, { user: s.user, passwordHash: s.passwordHash }]));
  return { getUserByUsername: async (name) => byName.get(name) ?? null };
}
userStoreSuite(t, { name: 'reference', create: async (seed) => userStore(seed) });

// The end-to-end grant cache checks, on reference stores with and without replay detection.
for (const detectsReplay of [false, true]) {
  const grants = mapGrantStore(detectsReplay);
  grantCacheProviderSuite(t, {
    name: `reference (replay ${detectsReplay})`,
    create: async () => grants,
    probe: { read: async (clientId, code) => grants.entries.get(JSON.stringify([clientId, code])) ?? null },
  });
}

// The end-to-end suite on a cache that forgets the redirect URI: only its redirect_uri check must
// fail (registered as an expected failure; the suite's other tests are left out here).
describe('the end-to-end suite catches a cache that forgets the redirect URI', () => {
  const only = 'a code asked for with redirect_uri is refused without it';
  grantCacheProviderSuite(
    {
      describe,
      beforeAll,
      afterAll,
      it: (name, fn) => (name.startsWith(only) ? it.fails(name, fn) : undefined),
    },
    { name: 'forgetful', create: async () => forgetfulRedirectGrantStore() },
  );
});

/**
 * Registers a suite on a test API that only records it, and runs it by hand: `setup()` runs its
 * `beforeAll` hooks (where the suite creates the store and reads its capabilities), `run(title)`
 * one of its tests.
 */
function recorded(register: (api: TestApi) => void) {
  const tests = new Map<string, () => Promise<void>>();
  const before: (() => Promise<void>)[] = [];
  register({
    describe: (_name, fn) => fn(),
    it: (name, fn) => tests.set(name, fn),
    beforeAll: (fn) => before.push(fn),
    afterAll: () => undefined,
  });
  return {
    setup: async () => {
      for (const fn of before) await fn();
    },
    run: async (prefix: string) => {
      const found = [...tests].find(([name]) => name.startsWith(prefix));
      assert.ok(found, `no test titled ${prefix}`);
      await found[1]();
    },
  };
}

describe('capabilities come from the store', () => {
  const undeclared = (): GrantStore => {
    const { capabilities: _, detectsReplay: __, ...store } = mapGrantStore(true);
    return store;
  };
  const undeclaredTokens = (): TokenStore => {
    const { capabilities: _, detectsReplay: __, ...store } = mapTokenStore(true);
    return store;
  };
  const noCapabilities = /declares no capabilities and no capabilities option was given/;

  it('every suite fails clearly when the store declares none and no option is given', async () => {
    await assert.rejects(recorded((api) => grantStoreSuite(api, { name: 'x', create: async () => undeclared() })).setup(), noCapabilities);
    await assert.rejects(
      recorded((api) => tokenStoreSuite(api, { name: 'x', create: async () => undeclaredTokens() })).setup(),
      noCapabilities,
    );
    await assert.rejects(
      recorded((api) => grantCacheProviderSuite(api, { name: 'x', create: async () => undeclared() })).setup(),
      noCapabilities,
    );
  });

  it('the suite holds a store to what it declares (a store claiming replay detection it lacks fails)', async () => {
    const claims = (): GrantStore => ({
      ...mapGrantStore(false),
      detectsReplay: true,
      capabilities: { detectsReplay: true, ttlGranularity: 'ms' },
    });
    const suite = recorded((api) => grantStoreSuite(api, { name: 'x', create: async () => claims() }));
    await suite.setup();
    await assert.rejects(suite.run('save then consume returns the record once'), /replayed/);
    const honest = recorded((api) => grantStoreSuite(api, { name: 'x', create: async () => mapGrantStore(false) }));
    await honest.setup();
    await honest.run('save then consume returns the record once');
    const e2e = recorded((api) => grantCacheProviderSuite(api, { name: 'x', create: async () => claims() }));
    await e2e.setup();
    await assert.rejects(e2e.run('a replayed code is refused'), /revoked the family/);
  });

  it('the deprecated option overrides what the store declares', async () => {
    const suite = recorded((api) =>
      grantStoreSuite(api, {
        name: 'x',
        create: async () => mapGrantStore(true),
        capabilities: { detectsReplay: false, ttlGranularity: 'ms' },
      }),
    );
    await suite.setup();
    await assert.rejects(suite.run('save then consume returns the record once'), /detectsReplay is false/);
    const store = undeclared();
    const withOption = recorded((api) =>
      grantStoreSuite(api, { name: 'x', create: async () => store, capabilities: { detectsReplay: true, ttlGranularity: 'ms' } }),
    );
    await withOption.setup();
    await withOption.run('save then consume returns the record once');
  });

  it('a malformed or self-contradicting declaration fails, naming the field', async () => {
    const malformed = { ...mapGrantStore(true), detectsReplay: undefined, capabilities: { detectsReplay: 'yes' } } as unknown as GrantStore;
    await assert.rejects(
      recorded((api) => grantStoreSuite(api, { name: 'x', create: async () => malformed })).setup(),
      /detectsReplay as a boolean, got "yes"/,
    );
    const noTtl = { ...mapGrantStore(true), capabilities: { detectsReplay: true } } as unknown as GrantStore;
    await assert.rejects(
      recorded((api) => grantStoreSuite(api, { name: 'x', create: async () => noTtl })).setup(),
      /ttlGranularity as 'ms' or 's', got undefined/,
    );
    // The end-to-end suite needs only detectsReplay.
    await recorded((api) => grantCacheProviderSuite(api, { name: 'x', create: async () => noTtl })).setup();
    const contradicting: TokenStore = { ...mapTokenStore(true), detectsReplay: false };
    await assert.rejects(
      recorded((api) => tokenStoreSuite(api, { name: 'x', create: async () => contradicting })).setup(),
      /capabilities.detectsReplay true but detectsReplay false; they must agree/,
    );
  });
});

// The checks must fail on broken stores: a suite that cannot fail proves nothing.
describe('the suite catches broken stores', () => {
  const ms: StoreCapabilities = { detectsReplay: false, ttlGranularity: 'ms' };

  it('catches get-then-delete consume (grants)', async () => {
    await assert.rejects(grantChecks.concurrentConsume.run({ store: racyGrantStore(), capabilities: ms }), /exactly one/);
  });

  it('catches get-then-delete consume (refresh tokens)', async () => {
    await assert.rejects(tokenChecks.concurrentConsume.run({ store: racyTokenStore(), capabilities: ms }), /exactly one/);
  });

  it('catches keys concatenated without separator', async () => {
    await assert.rejects(grantChecks.clientsDoNotCollide.run({ store: concatKeyGrantStore(), capabilities: ms }));
  });

  it('catches a store that returns records past expiresAt', async () => {
    await assert.rejects(grantChecks.expiredNotReturned.run({ store: noExpiryCheckGrantStore(), capabilities: ms }), /past its expiresAt/);
    await assert.rejects(grantChecks.savedExpiredNotReturned.run({ store: noExpiryCheckGrantStore(), capabilities: ms }));
  });

  it('catches expiresAt coming back as a string', async () => {
    await assert.rejects(grantChecks.expiresAtIsDate.run({ store: stringDateGrantStore(), capabilities: ms }), /as a Date/);
  });

  it("catches a null redirectUri coming back as '' or as the text 'null', or a string one coming back as null", async () => {
    await assert.rejects(grantChecks.nullRedirectUri.run({ store: nullAsEmptyGrantStore(), capabilities: ms }), /redirectUri|round-trip/);
    await assert.rejects(grantChecks.nullRedirectUri.run({ store: nullAsTextGrantStore(), capabilities: ms }), /redirectUri|round-trip/);
    await assert.rejects(grantChecks.nullRedirectUri.run({ store: forgetfulRedirectGrantStore(), capabilities: ms }), /round-trip/);
    await assert.rejects(grantChecks.fieldsRoundTrip.run({ store: forgetfulRedirectGrantStore(), capabilities: ms }), /round-trip/);
  });

  it('catches a store that claims replay detection it does not have', async () => {
    await assert.rejects(
      grantChecks.consumeOnce.run({ store: mapGrantStore(false), capabilities: { ...ms, detectsReplay: true } }),
      /replayed/,
    );
  });

  it('catches a second login that signs out the first device', async () => {
    await assert.rejects(tokenChecks.secondPairKeepsFirst.run({ store: onePairPerUserTokenStore(), capabilities: ms }));
  });

  it('catches a probe that shows the raw entry surviving consume', async () => {
    const store = mapGrantStore(false);
    const stale = new Map<string, unknown>();
    const probe = {
      read: async (clientId: string, code: string) => {
        const k = JSON.stringify([clientId, code]);
        if (store.entries.has(k)) stale.set(k, store.entries.get(k));
        return stale.get(k) ?? null;
      },
    };
    await assert.rejects(grantProbeChecks.rawEntryLifecycle.run({ store, probe, capabilities: ms }), /no longer hold/);
  });

  it('catches a grant store that drops resources, or gives [] for none', async () => {
    const inner = mapGrantStore(false);
    const dropping: GrantStore = {
      saveGrant: ({ resources: _, ...g }) => inner.saveGrant(g),
      consumeGrant: (clientId, code) => inner.consumeGrant(clientId, code),
    };
    await assert.rejects(grantChecks.resources.run({ store: dropping, capabilities: ms }), /resources must come back as an array/);
    await assert.rejects(grantChecks.resourcesConcurrentConsume.run({ store: dropping, capabilities: ms }), /resources/);
    const emptied = mapGrantStore(false);
    const save = emptied.saveGrant.bind(emptied);
    const withEmpty: GrantStore = {
      saveGrant: (g) => save({ ...g, resources: g.resources ?? [] }),
      consumeGrant: (clientId, code) => emptied.consumeGrant(clientId, code),
    };
    await assert.rejects(grantChecks.resources.run({ store: withEmpty, capabilities: ms }), /must come back absent/);
    const reordered = mapGrantStore(false);
    const sorted: GrantStore = {
      saveGrant: (g) => reordered.saveGrant(g.resources ? { ...g, resources: [...g.resources].sort() } : g),
      consumeGrant: (clientId, code) => reordered.consumeGrant(clientId, code),
    };
    await assert.rejects(grantChecks.resources.run({ store: sorted, capabilities: ms }), /same order/);
  });

  it('catches a grant probe that shows no resources (kept beside the raw entry only)', async () => {
    const store = mapGrantStore(false);
    const probe = {
      read: async (clientId: string, code: string) => {
        const entry = store.entries.get(JSON.stringify([clientId, code]));
        if (!entry || 'consumed' in entry) return entry ?? null;
        const { resources: _, ...rest } = entry;
        return rest;
      },
    };
    await assert.rejects(grantProbeChecks.rawEntryHoldsResources.run({ store, probe, capabilities: ms }), /must hold/);
    const honest = { read: async (clientId: string, code: string) => store.entries.get(JSON.stringify([clientId, code])) ?? null };
    await grantProbeChecks.rawEntryHoldsResources.run({ store, probe: honest, capabilities: ms });
  });

  it('catches a token store that drops audience or resources, mixes them up, or gives [] for none', async () => {
    const wrap = (save: (a: AccessTokenRecord, r: RefreshTokenRecord | null) => [AccessTokenRecord, RefreshTokenRecord | null]) => {
      const inner = mapTokenStore(false);
      const store: TokenStore = { ...inner, saveTokens: (a, r) => inner.saveTokens(...save(a, r)) };
      return store;
    };
    const noAudience = wrap(({ audience: _, ...a }, r) => [a, r]);
    await assert.rejects(tokenChecks.audienceAndResources.run({ store: noAudience, capabilities: ms }), /audience must come back/);
    const noResources = wrap((a, r) => {
      if (!r) return [a, r];
      const { resources: _, ...rest } = r;
      return [a, rest];
    });
    await assert.rejects(tokenChecks.audienceAndResources.run({ store: noResources, capabilities: ms }), /resources must come back/);
    await assert.rejects(tokenChecks.resourcesThroughRotation.run({ store: noResources, capabilities: ms }), /resources/);
    await assert.rejects(tokenChecks.resourcesConcurrentConsume.run({ store: noResources, capabilities: ms }), /resources/);
    // One column for both kinds, read back into both fields.
    const mixed = wrap((a, r) => [
      a.audience ? ({ ...a, resources: a.audience } as AccessTokenRecord) : a,
      r?.resources ? ({ ...r, audience: r.resources } as RefreshTokenRecord) : r,
    ]);
    await assert.rejects(tokenChecks.audienceAndResources.run({ store: mixed, capabilities: ms }), /of an access token|of a refresh token/);
    const emptied = wrap((a, r) => [{ ...a, audience: a.audience ?? [] }, r ? { ...r, resources: r.resources ?? [] } : r]);
    await assert.rejects(tokenChecks.audienceAndResources.run({ store: emptied, capabilities: ms }), /must come back absent/);
  });

  it('catches a token probe that shows no audience or resources', async () => {
    const store = mapTokenStore(false);
    const strip = (entry: (AccessTokenRecord & RefreshTokenRecord) | undefined) => {
      if (!entry) return null;
      const { audience: _, resources: __, ...rest } = entry;
      return rest;
    };
    const probe = {
      readAccess: async (t: string) => strip(store.access.get(t)),
      readRefresh: async (t: string) => strip(store.refresh.get(t)),
    };
    await assert.rejects(tokenProbeChecks.rawEntryHoldsLists.run({ store, probe, capabilities: ms }), /must hold/);
    const honest = {
      readAccess: async (t: string) => store.access.get(t) ?? null,
      readRefresh: async (t: string) => store.refresh.get(t) ?? null,
    };
    await tokenProbeChecks.rawEntryHoldsLists.run({ store, probe: honest, capabilities: ms });
  });

  it('catches a case-insensitive client lookup', async () => {
    const create = async (seed: Client[]): Promise<ClientStore> => ({
      getClient: async (id) => seed.find((c) => c.id.toLowerCase() === id.toLowerCase()) ?? null,
    });
    await assert.rejects(clientChecks.manyClients.run({ create }));
  });

  it('catches a client store that loses resourceServer, or hands it to every client', async () => {
    const dropping = async (seed: Client[]): Promise<ClientStore> => ({
      getClient: async (id) => {
        const c = seed.find((s) => s.id === id);
        if (!c) return null;
        const { resourceServer: _, ...rest } = c;
        return rest;
      },
    });
    await assert.rejects(clientChecks.resourceServer.run({ create: dropping }), /resourceServer must come back true/);
    const everyone = async (seed: Client[]): Promise<ClientStore> => ({
      getClient: async (id) => {
        const c = seed.find((s) => s.id === id);
        return c ? { ...c, resourceServer: true } : null;
      },
    });
    await assert.rejects(clientChecks.resourceServer.run({ create: everyone }), /resourceServer must stay absent or false/);
    // A SQL NULL or a raw 0 handed through as is is not a boolean either.
    const raw = async (seed: Client[]): Promise<ClientStore> => ({
      getClient: async (id) => {
        const c = seed.find((s) => s.id === id);
        return c ? ({ ...c, resourceServer: c.resourceServer ? 1 : null } as unknown as Client) : null;
      },
    });
    await assert.rejects(clientChecks.resourceServer.run({ create: raw }), /resourceServer/);
  });

  it('catches a user store that loses the password hash', async () => {
    const create = async (seed: UserSeed[]): Promise<UserStore> => ({
      getUserByUsername: async (name) => {
        const s = seed.find((u) => u.username === name);
        return s ? { user: s.user, passwordHash: '' } : null;
      },
    });
    await assert.rejects(userChecks.knownUser.run({ create }), /passwordHash/);
  });
});
