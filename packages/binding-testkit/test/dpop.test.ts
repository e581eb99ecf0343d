import assert from 'node:assert/strict';
import {
  grantChecks,
  grantProbeChecks,
  grantStoreSuite,
  tokenChecks,
  tokenProbeChecks,
  tokenStoreSuite,
} from '@portcullis/binding-testkit';
import type { AccessTokenRecord, GrantStore, RefreshTokenRecord, StoreCapabilities, TokenStore } from '@portcullis/core';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { mapGrantStore, mapTokenStore } from './reference-stores.js';

/** The RFC 9449 `dpopJkt` checks: correct stores pass them, stores that lose or mangle the thumbprint fail them. */

const t = { describe, it, beforeAll, afterAll };
const ms: StoreCapabilities = { detectsReplay: true, ttlGranularity: 'ms' };

// The whole suites, DPoP checks included, pass on the correct reference stores (with probes).
const grants = mapGrantStore(true);
grantStoreSuite(t, {
  name: 'reference map (dpop)',
  create: async () => grants,
  probe: { read: async (clientId, code) => grants.entries.get(JSON.stringify([clientId, code])) ?? null },
});
const tokens = mapTokenStore(true);
tokenStoreSuite(t, {
  name: 'reference map (dpop)',
  create: async () => tokens,
  probe: { readAccess: async (k) => tokens.access.get(k) ?? null, readRefresh: async (k) => tokens.refresh.get(k) ?? null },
});

/** A grant store that changes the record on its way in. */
function grantStoreSaving(change: (g: Parameters<GrantStore['saveGrant']>[0]) => object): GrantStore {
  const inner = mapGrantStore(true);
  return { ...inner, saveGrant: (g) => inner.saveGrant(change(g) as typeof g) };
}

/** A token store that changes both records on their way in. */
function tokenStoreSaving(
  change: (a: AccessTokenRecord, r: RefreshTokenRecord | null) => [object, object | null],
): TokenStore & { inner: ReturnType<typeof mapTokenStore> } {
  const inner = mapTokenStore(true);
  return {
    ...inner,
    inner,
    saveTokens: (a, r) => {
      const [access, refresh] = change(a, r);
      return inner.saveTokens(access as AccessTokenRecord, refresh as RefreshTokenRecord | null);
    },
  };
}

describe('the DPoP checks catch broken stores', () => {
  it('a grant store that drops dpopJkt, or gives null or "" for none', async () => {
    const dropping = grantStoreSaving(({ dpopJkt: _, ...g }) => g);
    await assert.rejects(grantChecks.dpopJkt.run({ store: dropping, capabilities: ms }), /dpopJkt must round-trip/);
    await assert.rejects(grantChecks.dpopJktConcurrentConsume.run({ store: dropping, capabilities: ms }), /dpopJkt must round-trip/);
    for (const none of [null, '']) {
      const filled = grantStoreSaving((g) => ({ ...g, dpopJkt: g.dpopJkt ?? none }));
      await assert.rejects(grantChecks.dpopJkt.run({ store: filled, capabilities: ms }), /must come back absent/);
    }
    // One thumbprint for every grant of a client: the wrong key comes back.
    let first: string | undefined;
    const shared = grantStoreSaving((g) => {
      first ??= g.dpopJkt;
      return g.dpopJkt ? { ...g, dpopJkt: first } : g;
    });
    await assert.rejects(grantChecks.dpopJkt.run({ store: shared, capabilities: ms }), /dpopJkt must round-trip/);
  });

  it('a grant probe that shows no dpopJkt (kept beside the raw entry only)', async () => {
    const store = mapGrantStore(true);
    const read = async (clientId: string, code: string) => {
      const entry = store.entries.get(JSON.stringify([clientId, code]));
      if (!entry || 'consumed' in entry) return entry ?? null;
      const { dpopJkt: _, ...rest } = entry;
      return rest;
    };
    await assert.rejects(grantProbeChecks.rawEntryHoldsDpopJkt.run({ store, probe: { read }, capabilities: ms }), /must hold/);
  });

  it('a token store that drops dpopJkt from access tokens (bearer instead of DPoP), or from refresh tokens', async () => {
    const noAccess = tokenStoreSaving(({ dpopJkt: _, ...a }, r) => [a, r]);
    await assert.rejects(tokenChecks.dpopJkt.run({ store: noAccess, capabilities: ms }), /getAccessToken: dpopJkt must round-trip/);
    await assert.rejects(tokenChecks.dpopJktThroughRotation.run({ store: noAccess, capabilities: ms }), /dpopJkt must round-trip/);
    const noRefresh = tokenStoreSaving((a, r) => {
      if (!r) return [a, r];
      const { dpopJkt: _, ...rest } = r;
      return [a, rest];
    });
    await assert.rejects(tokenChecks.dpopJkt.run({ store: noRefresh, capabilities: ms }), /getRefreshToken: dpopJkt must round-trip/);
    await assert.rejects(tokenChecks.dpopJktConcurrentConsume.run({ store: noRefresh, capabilities: ms }), /dpopJkt must round-trip/);
  });

  it('a token store that drops dpopJkt only on consume, or only for an access token saved alone', async () => {
    const inner = mapTokenStore(true);
    const consumeDrops: TokenStore = {
      ...inner,
      consumeRefreshToken: async (token) => {
        const r = await inner.consumeRefreshToken(token);
        if (r?.outcome !== 'consumed') return r;
        const { dpopJkt: _, ...record } = r.record;
        return { outcome: 'consumed', record };
      },
    };
    await assert.rejects(tokenChecks.dpopJkt.run({ store: consumeDrops, capabilities: ms }), /consumeRefreshToken: dpopJkt/);
    const alone = tokenStoreSaving((a, r) => {
      if (r) return [a, r];
      const { dpopJkt: _, ...rest } = a;
      return [rest, r];
    });
    await assert.rejects(tokenChecks.dpopJkt.run({ store: alone, capabilities: ms }), /without refresh token: dpopJkt/);
  });

  it('a token store that gives null or "" for none, or moves the thumbprint between kinds', async () => {
    for (const none of [null, '']) {
      const filled = tokenStoreSaving((a, r) => [{ ...a, dpopJkt: a.dpopJkt ?? none }, r ? { ...r, dpopJkt: r.dpopJkt ?? none } : r]);
      await assert.rejects(tokenChecks.dpopJkt.run({ store: filled, capabilities: ms }), /must come back absent/);
    }
    // One column for the pair, filled from whichever token has a thumbprint.
    const mixed = tokenStoreSaving((a, r) => {
      const jkt = a.dpopJkt ?? r?.dpopJkt;
      const bind = <T extends object>(x: T): T => (jkt === undefined ? x : { ...x, dpopJkt: jkt });
      return [bind(a), r ? bind(r) : r];
    });
    await assert.rejects(tokenChecks.dpopJkt.run({ store: mixed, capabilities: ms }), /dpopJkt/);
  });

  it('a token probe that shows no dpopJkt, or the other kind’s', async () => {
    const store = mapTokenStore(true);
    const strip = (entry: (AccessTokenRecord | RefreshTokenRecord) | undefined) => {
      if (!entry) return null;
      const { dpopJkt: _, ...rest } = entry;
      return rest;
    };
    const hidden = {
      readAccess: async (k: string) => strip(store.access.get(k)),
      readRefresh: async (k: string) => strip(store.refresh.get(k)),
    };
    await assert.rejects(tokenProbeChecks.rawEntryHoldsDpopJkt.run({ store, probe: hidden, capabilities: ms }), /must hold/);
    // A probe that reads the pair as one entry shows each kind the other's thumbprint.
    const pairOf = new Map<string, string>();
    const paired: TokenStore = {
      ...store,
      saveTokens: async (a, r) => {
        if (r) pairOf.set(a.token, r.token);
        await store.saveTokens(a, r);
      },
    };
    const both = {
      readAccess: async (k: string) => [store.access.get(k), store.refresh.get(pairOf.get(k) ?? '')],
      readRefresh: async (k: string) => store.refresh.get(k) ?? null,
    };
    await assert.rejects(tokenProbeChecks.rawEntryHoldsDpopJkt.run({ store: paired, probe: both, capabilities: ms }), /must not hold/);
  });
});
