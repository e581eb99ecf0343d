import assert from 'node:assert/strict';
import {
  issuedAtChecks,
  tokenStoreSuite,
  type UserGrantCheckContext,
  userGrantChecks,
  userGrantStoreSuite,
} from '@portcullis/binding-testkit';
import {
  type AccessTokenRecord,
  createMemoryStores,
  type RefreshTokenRecord,
  type StoreCapabilities,
  type UserGrantStore,
  type UserGrantSummary,
} from '@portcullis/core';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { mapGrantStore, mapTokenStore } from './reference-stores.js';

/** The per-user grant checks (issue 15): core's memory stores and a correct map store pass them, broken stores fail them. */

const t = { describe, it, beforeAll, afterAll };
const ms: StoreCapabilities = { detectsReplay: true, ttlGranularity: 'ms' };

userGrantStoreSuite(t, {
  name: 'core memory stores',
  create: () => {
    const m = createMemoryStores();
    return { userGrants: m.userGrants, tokens: m.tokens, grants: m.grants };
  },
});

/** The ways a user-grant store over maps can go wrong; all off gives a correct store. */
interface Faults {
  /** `grants` counts tokens, not families. */
  countTokens?: boolean;
  /** Expired tokens are listed. */
  listExpired?: boolean;
  /** Consumed refresh tokens are listed. */
  listConsumed?: boolean;
  /** Dates cut to whole seconds. */
  seconds?: boolean;
  /** User ids compared as strings, so `null` matches "null". */
  stringUser?: boolean;
  /** Scopes concatenated, not united. */
  repeatScopes?: boolean;
  /** Revocation ignores the client and revokes all of the user's grants. */
  ignoreClient?: boolean;
  /** Revocation leaves unredeemed codes. */
  keepCodes?: boolean;
  /** Revocation removes access tokens only. */
  accessOnly?: boolean;
  /** Revocation counts tokens, not families. */
  countRevokedTokens?: boolean;
  /** `null` dates given as the epoch. */
  epochForNone?: boolean;
  /** Client revocation leaves client_credentials tokens (userId null). */
  usersOnly?: boolean;
  /** Client revocation matches ids that start with the one given. */
  prefixClient?: boolean;
}

const live = (r: { expiresAt: Date }) => r.expiresAt.getTime() > Date.now();

function mapStores(f: Faults = {}) {
  const tokens = mapTokenStore(true);
  const grants = mapGrantStore(true);
  const sameUser = (a: string | null, b: string) => (f.stringUser ? String(a) === b : a === b);
  const round = (n: number) => (f.seconds ? Math.floor(n / 1000) * 1000 : n);
  const userGrants: UserGrantStore = {
    async listUserGrants(userId) {
      const by = new Map<string, { scopes: string[]; dates: number[]; families: string[] }>();
      const add = (r: AccessTokenRecord | RefreshTokenRecord) => {
        if (!sameUser(r.userId, userId) || (!f.listExpired && !live(r))) return;
        const s = by.get(r.clientId) ?? { scopes: [], dates: [], families: [] };
        by.set(r.clientId, s);
        s.scopes.push(...r.scopes);
        s.families.push(r.grantId);
        if (r.issuedAt) s.dates.push(round(r.issuedAt.getTime()));
      };
      for (const a of tokens.access.values()) add(a);
      for (const r of tokens.refresh.values()) if (f.listConsumed || !r.consumed) add(r);
      const none = f.epochForNone ? new Date(0) : null;
      return [...by].map(
        ([clientId, s]): UserGrantSummary => ({
          clientId,
          scopes: f.repeatScopes ? s.scopes : [...new Set(s.scopes)],
          firstIssuedAt: s.dates.length ? new Date(Math.min(...s.dates)) : none,
          lastIssuedAt: s.dates.length ? new Date(Math.max(...s.dates)) : none,
          grants: f.countTokens ? s.families.length : new Set(s.families).size,
        }),
      );
    },
    async revokeUserGrants(userId, clientId) {
      return revokeWhere((r) => sameUser(r.userId, userId) && (f.ignoreClient || clientId === null || r.clientId === clientId));
    },
    async revokeClientGrants(clientId) {
      return revokeWhere(
        (r) => (f.prefixClient ? r.clientId.startsWith(clientId) : r.clientId === clientId) && (!f.usersOnly || r.userId !== null),
      );
    },
  };
  async function revokeWhere(match: (r: { userId: string | null; clientId: string }) => boolean): Promise<number> {
    const families = new Set<string>();
    let counted = 0;
    for (const [k, a] of tokens.access) {
      if (!match(a)) continue;
      families.add(a.grantId);
      counted++;
      tokens.access.delete(k);
    }
    for (const [k, r] of tokens.refresh) {
      if (!match(r)) continue;
      families.add(r.grantId);
      counted++;
      if (!f.accessOnly) tokens.refresh.delete(k);
    }
    let codes = 0;
    for (const [k, g] of grants.entries) {
      if ('consumed' in g || !match(g)) continue;
      codes++;
      if (!f.keepCodes) grants.entries.delete(k);
    }
    return (f.countRevokedTokens ? counted : families.size) + codes;
  }
  return { userGrants, tokens, grants };
}

userGrantStoreSuite(t, { name: 'reference map', create: () => mapStores() });
tokenStoreSuite(t, { name: 'reference map (issuedAt)', create: async () => mapTokenStore(true), issuedAt: true });

const ctx = (f: Faults): UserGrantCheckContext => ({ ...mapStores(f), capabilities: ms });

describe('the user-grant checks catch broken stores', () => {
  it('wrong summaries: tokens counted as families, repeated scopes, dates in seconds, epoch for none', async () => {
    await assert.rejects(userGrantChecks.summaries.run(ctx({ countTokens: true })), /grants must count the distinct live token families/);
    await assert.rejects(userGrantChecks.summaries.run(ctx({ repeatScopes: true })), /scopes must not repeat/);
    await assert.rejects(userGrantChecks.summaries.run(ctx({ seconds: true })), /IssuedAt must be .* to the millisecond/);
    await assert.rejects(userGrantChecks.issuedAtMissing.run(ctx({ epochForNone: true })), /must be null when no live token has issuedAt/);
  });

  it('dead tokens listed: expired, consumed', async () => {
    await assert.rejects(userGrantChecks.onlyLive.run(ctx({ listExpired: true })), /one summary per client with live tokens/);
    await assert.rejects(userGrantChecks.onlyLive.run(ctx({ listConsumed: true })), /one summary per client with live tokens/);
    await assert.rejects(userGrantChecks.expiresWhileListed.run(ctx({ listExpired: true })), /after expiry/);
  });

  it('client_credentials tokens seen as the user "null"', async () => {
    await assert.rejects(userGrantChecks.noMachineTokens.run(ctx({ stringUser: true })), /must not see client_credentials tokens/);
  });

  it('revocation that spills over to other clients, leaves codes or refresh tokens, or miscounts', async () => {
    await assert.rejects(userGrantChecks.revokeOneClient.run(ctx({ ignoreClient: true })), /must count|another client/);
    await assert.rejects(userGrantChecks.revokeOneClient.run(ctx({ keepCodes: true })), /code/);
    await assert.rejects(userGrantChecks.revokeAll.run(ctx({ keepCodes: true })), /codes must no longer be consumable/);
    await assert.rejects(userGrantChecks.revokeOneClient.run(ctx({ accessOnly: true })), /refresh token must be gone/);
    await assert.rejects(userGrantChecks.revokeAll.run(ctx({ accessOnly: true })), /refresh token must be gone/);
    await assert.rejects(userGrantChecks.revokeOneClient.run(ctx({ countRevokedTokens: true })), /must count the families and codes/);
    await assert.rejects(userGrantChecks.revokeAll.run(ctx({ countRevokedTokens: true })), /three families and two codes/);
  });

  it('client revocation that leaves client_credentials tokens, codes or refresh tokens, spills over, or miscounts', async () => {
    await assert.rejects(
      userGrantChecks.revokeClient.run(ctx({ usersOnly: true })),
      /client_credentials token \(userId null\) must be gone|must count/,
    );
    await assert.rejects(userGrantChecks.revokeClient.run(ctx({ keepCodes: true })), /codes must no longer be consumable/);
    await assert.rejects(userGrantChecks.revokeClient.run(ctx({ accessOnly: true })), /refresh token must be gone/);
    await assert.rejects(userGrantChecks.revokeClient.run(ctx({ countRevokedTokens: true })), /must count the families and codes/);
    await assert.rejects(userGrantChecks.revokeClient.run(ctx({ prefixClient: true })), /must revoke nothing/);
    const { revokeClientGrants: _, ...without } = ctx({}).userGrants;
    await assert.rejects(userGrantChecks.revokeClient.run({ ...ctx({}), userGrants: without }), /must implement revokeClientGrants/);
  });

  it('a token store that drops issuedAt, cuts it to seconds, or fills it in for tokens without', async () => {
    const dropping = mapTokenStore(true);
    const saveDropping = dropping.saveTokens;
    const strip = <T extends { issuedAt?: Date }>({ issuedAt: _, ...r }: T) => r as T;
    dropping.saveTokens = (a, r) => saveDropping(strip(a), r ? strip(r) : r);
    await assert.rejects(issuedAtChecks.issuedAtRoundTrips.run({ store: dropping }), /getAccessToken: issuedAt must be a Date/);

    const seconds = mapTokenStore(true);
    const saveSeconds = seconds.saveTokens;
    const cut = <T extends { issuedAt?: Date }>(r: T): T =>
      r.issuedAt ? { ...r, issuedAt: new Date(Math.floor(r.issuedAt.getTime() / 1000) * 1000) } : r;
    seconds.saveTokens = (a, r) => saveSeconds(cut(a), r ? cut(r) : r);
    await assert.rejects(issuedAtChecks.issuedAtRoundTrips.run({ store: seconds }), /to the millisecond/);

    const filling = mapTokenStore(true);
    const saveFilling = filling.saveTokens;
    const fill = <T extends { issuedAt?: Date }>(r: T): T => ({ ...r, issuedAt: r.issuedAt ?? new Date() });
    filling.saveTokens = (a, r) => saveFilling(fill(a), r ? fill(r) : r);
    await assert.rejects(issuedAtChecks.issuedAtRoundTrips.run({ store: filling }), /saved without issuedAt must come back without it/);
  });
});
