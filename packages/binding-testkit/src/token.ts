import assert from 'node:assert/strict';
import type { AccessTokenRecord, Consumed, RefreshTokenRecord, TokenStore } from '@portcullis/core';
import { assertJkt, sampleJkt } from './grant.js';
import { assertList, assertRawHolds, largestResources, sampleResources } from './resources.js';
import {
  assertAuthTime,
  assertConsumedRecord,
  assertSpentRecord,
  assertToken,
  type Check,
  check,
  concurrently,
  describeKey,
  inMs,
  isAbsent,
  label,
  oddKeys,
  registerSuite,
  resolveCapabilities,
  rid,
  type StoreCapabilities,
  sampleAuthTime,
  shortExpiry,
  sleepPast,
  type TestApi,
} from './shared.js';
import { issuedAtChecks } from './user-grants.js';

/** Reads the raw store behind a `TokenStore`, bypassing its API. */
export interface TokenProbe {
  /** The raw entry kept for this access token, or `null`/`undefined` when there is none. */
  readAccess(token: string): Promise<unknown>;
  /** The raw entry kept for this refresh token, or `null`/`undefined` when there is none. */
  readRefresh(token: string): Promise<unknown>;
}

/** Options of `tokenStoreSuite`. */
export interface TokenSuiteOptions {
  /** Shown in test titles. */
  name: string;
  /** Called once, in `beforeAll`; the suite's tests share the store. */
  create: () => Promise<TokenStore>;
  /** Called once, in `afterAll`. */
  destroy?: () => Promise<void>;
  /** When given, the suite also checks what the raw store holds. */
  probe?: TokenProbe;
  /**
   * @deprecated Declare `capabilities` on the store instead (core's `StoreCapabilities`); the
   * suite reads them from the store this returns. When given, this overrides what the store
   * declares. The suite fails when neither says.
   */
  capabilities?: StoreCapabilities;
  /** When true, also checks that `issuedAt` round-trips (stores behind a `UserGrantStore` must keep it). */
  issuedAt?: boolean;
}

/** What each token check runs against. */
export interface TokenCheckContext {
  store: TokenStore;
  probe?: TokenProbe;
  capabilities: StoreCapabilities;
}

/** An access and refresh token pair of one family. */
export interface TokenPair {
  access: AccessTokenRecord;
  refresh: RefreshTokenRecord;
}

/** A fresh pair with random tokens; `overrides` apply to both records. */
export function makePair(overrides: Partial<AccessTokenRecord> = {}): TokenPair {
  const common = {
    clientId: rid('client'),
    userId: rid('user'),
    scopes: ['write', 'read', 'https://api.example/profile:read'],
    grantId: rid('family'),
    ...overrides,
  };
  return {
    access: { token: rid('at'), expiresAt: inMs(3_600_000), ...common },
    refresh: { token: rid('rt'), expiresAt: inMs(86_400_000), ...common },
  };
}

async function savePair(store: TokenStore, pair: TokenPair): Promise<TokenPair> {
  await store.saveTokens(pair.access, pair.refresh);
  return pair;
}

async function assertLive(store: TokenStore, pair: TokenPair, what: string): Promise<void> {
  assertToken(await store.getAccessToken(pair.access.token), pair.access, `${what}: access token`);
  assertToken(await store.getRefreshToken(pair.refresh.token), pair.refresh, `${what}: refresh token`);
}

/** Asserts `audience` (access) and `resources` (refresh) on every read path of a live pair, and neither field on the other kind. */
async function assertLiveLists(store: TokenStore, pair: TokenPair, what: string): Promise<void> {
  const access = await store.getAccessToken(pair.access.token);
  assertToken(access, pair.access, `${what}: getAccessToken`);
  assertList(access?.audience, pair.access.audience, 'audience', `${what}: getAccessToken`);
  assertList((access as { resources?: unknown } | null)?.resources, undefined, 'resources of an access token', `${what}: getAccessToken`);
  const refresh = await store.getRefreshToken(pair.refresh.token);
  assertToken(refresh, pair.refresh, `${what}: getRefreshToken`);
  assertList(refresh?.resources, pair.refresh.resources, 'resources', `${what}: getRefreshToken`);
  assertList((refresh as { audience?: unknown } | null)?.audience, undefined, 'audience of a refresh token', `${what}: getRefreshToken`);
}

/** Consumes the pair's refresh token and asserts its `resources` came back with it. */
async function consumeWithLists(store: TokenStore, pair: TokenPair, what: string): Promise<void> {
  const result = await store.consumeRefreshToken(pair.refresh.token);
  assertConsumed(result, pair.refresh, `${what}: consumeRefreshToken`);
  const record = result?.outcome === 'consumed' ? result.record : null;
  assertList(record?.resources, pair.refresh.resources, 'resources', `${what}: consumeRefreshToken`);
  assertList((record as { audience?: unknown } | null)?.audience, undefined, 'audience of a refresh token', `${what}: consumeRefreshToken`);
}

/** A pair whose access token has `audience` and whose refresh token has `resources` (either may be left out). */
function pairWith(audience: readonly string[] | undefined, resources: readonly string[] | undefined, base = makePair()): TokenPair {
  const { audience: _a, ...access } = base.access;
  const { resources: _r, ...refresh } = base.refresh;
  return {
    access: audience === undefined ? access : { ...access, audience: [...audience] },
    refresh: resources === undefined ? refresh : { ...refresh, resources: [...resources] },
  };
}

/** A pair whose access and refresh tokens carry the given `dpopJkt` (each may be left out: not bound). */
function pairBound(accessJkt: string | undefined, refreshJkt: string | undefined, base = makePair()): TokenPair {
  const { dpopJkt: _a, ...access } = base.access;
  const { dpopJkt: _r, ...refresh } = base.refresh;
  return {
    access: accessJkt === undefined ? access : { ...access, dpopJkt: accessJkt },
    refresh: refreshJkt === undefined ? refresh : { ...refresh, dpopJkt: refreshJkt },
  };
}

/** Asserts `dpopJkt` of both tokens of a live pair through `getAccessToken` and `getRefreshToken`. */
async function assertLiveJkt(store: TokenStore, pair: TokenPair, what: string): Promise<void> {
  const access = await store.getAccessToken(pair.access.token);
  assertToken(access, pair.access, `${what}: getAccessToken`);
  assertJkt(access?.dpopJkt, pair.access.dpopJkt, `${what}: getAccessToken`);
  const refresh = await store.getRefreshToken(pair.refresh.token);
  assertToken(refresh, pair.refresh, `${what}: getRefreshToken`);
  assertJkt(refresh?.dpopJkt, pair.refresh.dpopJkt, `${what}: getRefreshToken`);
}

/** Consumes the pair's refresh token and asserts its `dpopJkt` came back with it. */
async function consumeWithJkt(store: TokenStore, pair: TokenPair, what: string): Promise<void> {
  const result = await store.consumeRefreshToken(pair.refresh.token);
  assertConsumed(result, pair.refresh, `${what}: consumeRefreshToken`);
  assertJkt(result?.outcome === 'consumed' ? result.record.dpopJkt : null, pair.refresh.dpopJkt, `${what}: consumeRefreshToken`);
}

async function assertDead(store: TokenStore, pair: TokenPair, what: string): Promise<void> {
  assert.equal(await store.getAccessToken(pair.access.token), null, `${what}: access token must give null`);
  assert.equal(await store.getRefreshToken(pair.refresh.token), null, `${what}: refresh token must give null`);
}

function assertConsumed(result: Consumed<RefreshTokenRecord> | null, expected: RefreshTokenRecord, what: string): void {
  const whenNull = `consumeRefreshToken returned null for a live token ${describeKey(expected.token)}`;
  assertConsumedRecord(result, expected, assertToken, whenNull, what);
}

function assertSpent(
  result: Consumed<RefreshTokenRecord> | null,
  expected: RefreshTokenRecord,
  capabilities: StoreCapabilities,
  what: string,
): void {
  const names = { replayed: 'a rotated token', spent: 'a consumed refresh token' };
  assertSpentRecord(result, expected.grantId, capabilities, names, what);
}

/** Every check of the token suite, by key; `tokenStoreSuite` registers each as one test. */
export const tokenChecks = {
  saveAndGet: check<TokenCheckContext>('saveTokens then get returns both records', async ({ store }) => {
    const pair = await savePair(store, makePair({ scopes: ['zeta', 'alpha'] }));
    await assertLive(store, pair, 'after save');
    await assertLive(store, pair, 'read twice');
  }),

  withoutRefresh: check<TokenCheckContext>('an access token without refresh token and without user round-trips', async ({ store }) => {
    const { access } = makePair({ userId: null, scopes: [] });
    await store.saveTokens(access, null);
    assertToken(await store.getAccessToken(access.token), access, 'client_credentials token');
  }),

  unknownTokens: check<TokenCheckContext>('unknown tokens give null and revoking them is no error', async ({ store }) => {
    assert.equal(await store.getAccessToken(rid('at')), null);
    assert.equal(await store.getRefreshToken(rid('rt')), null);
    assert.equal(await store.consumeRefreshToken(rid('rt')), null);
    await store.revokeAccessToken(rid('at'));
    await store.revokeFamily(rid('family'));
  }),

  kindsAreSeparate: check<TokenCheckContext>('access and refresh tokens are separate namespaces', async ({ store }) => {
    const pair = await savePair(store, makePair());
    assert.equal(await store.getRefreshToken(pair.access.token), null, 'an access token is not a refresh token');
    assert.equal(await store.consumeRefreshToken(pair.access.token), null, 'an access token cannot be consumed');
    assert.equal(await store.getAccessToken(pair.refresh.token), null, 'a refresh token is not an access token');
    await assertLive(store, pair, 'after the lookups');
  }),

  expiresAtIsDate: check<TokenCheckContext>('expiresAt comes back as the same Date', async ({ store }) => {
    const pair = makePair();
    pair.access = { ...pair.access, expiresAt: new Date(Date.now() + 90_000 + 1) };
    pair.refresh = { ...pair.refresh, expiresAt: new Date('2099-12-31T23:59:58.999Z') };
    await savePair(store, pair);
    await assertLive(store, pair, 'arbitrary milliseconds');
    assertConsumed(await store.consumeRefreshToken(pair.refresh.token), pair.refresh, 'consume');
  }),

  revokeAccessToken: check<TokenCheckContext>('revokeAccessToken revokes that access token only', async ({ store }) => {
    const pair = await savePair(store, makePair());
    const sibling = await savePair(store, makePair({ grantId: pair.access.grantId, userId: pair.access.userId }));
    await store.revokeAccessToken(pair.access.token);
    assert.equal(await store.getAccessToken(pair.access.token), null, 'the revoked access token');
    assertToken(await store.getRefreshToken(pair.refresh.token), pair.refresh, 'its refresh token');
    await assertLive(store, sibling, 'another pair of the same family');
    await store.revokeAccessToken(pair.access.token);
  }),

  revokeFamily: check<TokenCheckContext>('revokeFamily revokes every token of that family and nothing of another', async ({ store }) => {
    const family = rid('family');
    const userId = rid('user');
    const first = await savePair(store, makePair({ grantId: family, userId }));
    const second = await savePair(store, makePair({ grantId: family, userId }));
    const rotatedFrom = await savePair(store, makePair({ grantId: family, userId }));
    assertConsumed(await store.consumeRefreshToken(rotatedFrom.refresh.token), rotatedFrom.refresh, 'rotation');
    const other = await savePair(store, makePair({ userId, clientId: first.access.clientId }));
    const { access: lone } = makePair({ grantId: family });
    await store.saveTokens(lone, null);

    await store.revokeFamily(family);
    await assertDead(store, first, 'first pair of the family');
    await assertDead(store, second, 'second pair of the family');
    assert.equal(await store.getAccessToken(rotatedFrom.access.token), null, 'access token of a rotated pair');
    assert.equal(await store.getAccessToken(lone.token), null, 'access token without refresh token');
    const late = await store.consumeRefreshToken(first.refresh.token);
    assert.notEqual(late?.outcome, 'consumed', 'a revoked refresh token must not be consumed');
    await assertLive(store, other, 'another family of the same user and client');
    await store.revokeFamily(family);
  }),

  consumeRefresh: check<TokenCheckContext>(
    'consumeRefreshToken returns the record once, then get gives null',
    async ({ store, capabilities }) => {
      const pair = await savePair(store, makePair());
      assertConsumed(await store.consumeRefreshToken(pair.refresh.token), pair.refresh, 'first consume');
      assert.equal(await store.getRefreshToken(pair.refresh.token), null, 'getRefreshToken after consume');
      assertSpent(await store.consumeRefreshToken(pair.refresh.token), pair.refresh, capabilities, 'second consume');
    },
  ),

  concurrentConsume: check<TokenCheckContext>(
    '50 concurrent consumes of one refresh token give exactly one winner',
    async ({ store, capabilities }) => {
      const pair = await savePair(store, makePair());
      const results = await concurrently(50, () => store.consumeRefreshToken(pair.refresh.token));
      const winners = results.filter((r) => r?.outcome === 'consumed');
      assert.equal(winners.length, 1, `exactly one of 50 concurrent consumes must win, ${winners.length} did`);
      assertConsumed(winners[0] ?? null, pair.refresh, 'the winner');
      for (const r of results) {
        if (r?.outcome === 'consumed') continue;
        if (capabilities.detectsReplay && r !== null) {
          assert.deepEqual(r, { outcome: 'replayed', grantId: pair.refresh.grantId }, 'a losing consume');
        } else {
          assert.equal(r, null, 'a losing consume must give null');
        }
      }
    },
  ),

  secondPairKeepsFirst: check<TokenCheckContext>(
    'saving a second pair for the same user keeps the first (other devices stay signed in)',
    async ({ store }) => {
      const first = await savePair(store, makePair());
      const second = await savePair(store, makePair({ userId: first.access.userId, clientId: first.access.clientId }));
      const third = await savePair(
        store,
        makePair({ userId: first.access.userId, clientId: first.access.clientId, grantId: first.access.grantId }),
      );
      await assertLive(store, first, 'first pair');
      await assertLive(store, second, 'second pair');
      await assertLive(store, third, 'third pair (same family)');
    },
  ),

  expiredNotReturned: check<TokenCheckContext>('an expired token is never returned', async ({ store, capabilities }) => {
    const expiresAt = shortExpiry(capabilities.ttlGranularity);
    const pair = makePair();
    pair.access = { ...pair.access, expiresAt };
    const shortRefresh = makePair();
    shortRefresh.refresh = { ...shortRefresh.refresh, expiresAt };
    await savePair(store, pair);
    await savePair(store, shortRefresh);
    await sleepPast(expiresAt);
    assert.equal(await store.getAccessToken(pair.access.token), null, 'an access token past its expiresAt');
    assertToken(await store.getRefreshToken(pair.refresh.token), pair.refresh, 'its longer-lived refresh token');
    assert.equal(await store.getRefreshToken(shortRefresh.refresh.token), null, 'a refresh token past its expiresAt');
    assert.equal(await store.consumeRefreshToken(shortRefresh.refresh.token), null, 'consuming an expired refresh token');
    assertToken(await store.getAccessToken(shortRefresh.access.token), shortRefresh.access, 'its longer-lived access token');
  }),

  savedExpiredNotReturned: check<TokenCheckContext>('tokens saved already expired are never returned', async ({ store }) => {
    const pair = makePair({ expiresAt: new Date(Date.now() - 1000) });
    await savePair(store, pair);
    const old = await savePair(store, makePair({ expiresAt: new Date('2001-01-01T00:00:00.001Z') }));
    await assertDead(store, pair, 'expired a second ago');
    await assertDead(store, old, 'expired long ago');
    assert.equal(await store.consumeRefreshToken(pair.refresh.token), null, 'consume expired a second ago');
    assert.equal(await store.consumeRefreshToken(old.refresh.token), null, 'consume expired long ago');
  }),

  oddTokens: check<TokenCheckContext>('empty, 8 KiB and non-ASCII tokens work without collision', async ({ store }) => {
    const pairs: { label: string; pair: TokenPair }[] = [];
    for (const { label: what, key } of oddKeys()) {
      const pair = makePair();
      // The same odd string as access and refresh token of one pair: the namespaces are separate.
      pair.access = { ...pair.access, token: key };
      pair.refresh = { ...pair.refresh, token: key };
      pairs.push({ label: what, pair: await savePair(store, pair) });
    }
    for (const { label: what, pair } of pairs.reverse()) {
      await assertLive(store, pair, `${what} token`);
    }
    for (const { label: what, pair } of pairs) {
      assertConsumed(await store.consumeRefreshToken(pair.refresh.token), pair.refresh, `${what} token consume`);
      await store.revokeAccessToken(pair.access.token);
      assert.equal(await store.getAccessToken(pair.access.token), null, `${what} token revoked`);
    }
  }),

  audienceAndResources: check<TokenCheckContext>(
    'audience (access) and resources (refresh, RFC 8707) come back from every read path; tokens without them come back without them',
    async ({ store }) => {
      const resources = sampleResources();
      const cases: [TokenPair, string][] = [
        [pairWith(resources.slice(0, 2), resources), 'audience of two, resources of three'],
        [pairWith(largestResources(), largestResources()), 'the most core accepts (10 of 2048 characters)'],
        [pairWith(undefined, resources), 'resources but no audience'],
        [pairWith(undefined, undefined), 'neither'],
      ];
      for (const [pair] of cases) await savePair(store, pair);
      for (const [pair, what] of cases) await assertLiveLists(store, pair, what);
      for (const [pair, what] of cases) await consumeWithLists(store, pair, what);
      // An access token alone (client_credentials) with an audience, and one without.
      for (const audience of [['https://api.example/'], undefined]) {
        const { access } = pairWith(audience, undefined, makePair({ userId: null }));
        await store.saveTokens(access, null);
        const found = await store.getAccessToken(access.token);
        assertToken(found, access, 'access token without refresh token');
        assertList(found?.audience, audience, 'audience', 'access token without refresh token');
      }
    },
  ),

  resourcesThroughRotation: check<TokenCheckContext>(
    'resources survive rotation: the next pair keeps them, its access token narrowed to a subset',
    async ({ store, capabilities }) => {
      const resources = sampleResources();
      const first = await savePair(store, pairWith(resources, resources));
      await consumeWithLists(store, first, 'first pair');
      // What core saves on a refresh narrowing to one resource: the grant's resources carried on.
      const base = makePair({ clientId: first.access.clientId, userId: first.access.userId, grantId: first.access.grantId });
      const second = await savePair(store, pairWith(resources.slice(1, 2), resources, base));
      await assertLiveLists(store, second, 'rotated pair');
      assertSpent(await store.consumeRefreshToken(first.refresh.token), first.refresh, capabilities, 'the rotated token');
      await consumeWithLists(store, second, 'rotated pair');
    },
  ),

  resourcesConcurrentConsume: check<TokenCheckContext>(
    'the one winner of 10 concurrent refresh consumes gets the resources',
    async ({ store }) => {
      const pair = await savePair(store, pairWith(undefined, sampleResources()));
      const results = await concurrently(10, () => store.consumeRefreshToken(pair.refresh.token));
      const winners = results.filter((r) => r?.outcome === 'consumed');
      assert.equal(winners.length, 1, `exactly one of 10 concurrent consumes must win, ${winners.length} did`);
      const winner = winners[0];
      assertList(winner?.outcome === 'consumed' ? winner.record.resources : null, pair.refresh.resources, 'resources', 'the winner');
    },
  ),

  authTime: check<TokenCheckContext>(
    "a refresh token's authTime (the auth_time of RFC 9068) comes back from get and consume to the millisecond; one without it comes back without it",
    async ({ store }) => {
      const withTime = (authTime: Date | undefined, base = makePair()): TokenPair =>
        authTime === undefined ? base : { access: base.access, refresh: { ...base.refresh, authTime } };
      const cases: [TokenPair, string][] = [
        [withTime(sampleAuthTime()), 'refresh token with authTime'],
        [withTime(new Date('2026-01-02T03:04:05.678Z'), pairBound(sampleJkt(), sampleJkt())), 'with authTime, bound to a DPoP key'],
        [withTime(sampleAuthTime(), pairWith(['https://api.example/'], ['https://api.example/'])), 'with authTime and resources'],
        [withTime(undefined), 'refresh token without authTime'],
      ];
      for (const [pair] of cases) await savePair(store, pair);
      for (const [pair, what] of cases) {
        const found = await store.getRefreshToken(pair.refresh.token);
        assertToken(found, pair.refresh, `${what}: getRefreshToken`);
        assertAuthTime(found?.authTime, pair.refresh.authTime, `${what}: getRefreshToken`);
        assertToken(await store.getAccessToken(pair.access.token), pair.access, `${what}: getAccessToken`);
      }
      for (const [pair, what] of cases) {
        const result = await store.consumeRefreshToken(pair.refresh.token);
        assertConsumed(result, pair.refresh, `${what}: consumeRefreshToken`);
        assertAuthTime(
          result?.outcome === 'consumed' ? result.record.authTime : null,
          pair.refresh.authTime,
          `${what}: consumeRefreshToken`,
        );
      }
    },
  ),

  dpopJkt: check<TokenCheckContext>(
    'dpopJkt (RFC 9449) comes back from every read path of the kind it was saved on; tokens without it come back without it',
    async ({ store }) => {
      const jkt = sampleJkt();
      const cases: [TokenPair, string][] = [
        // A public client: both tokens bound to the one key.
        [pairBound(jkt, jkt), 'both tokens bound to one key'],
        // A confidential client: only the access token is bound.
        [pairBound(sampleJkt(), undefined), 'access token bound, refresh token not'],
        // Not seen from core, but a store must not move a thumbprint from one kind to the other.
        [pairBound(undefined, sampleJkt()), 'refresh token bound, access token not'],
        [pairBound(sampleJkt(), sampleJkt()), 'each token bound to its own key'],
        [pairBound(undefined, undefined), 'neither bound'],
        [
          pairWith(['https://api.example/'], ['https://api.example/'], pairBound(sampleJkt(), sampleJkt())),
          'bound, with audience and resources',
        ],
      ];
      for (const [pair] of cases) await savePair(store, pair);
      for (const [pair, what] of cases) await assertLiveJkt(store, pair, what);
      for (const [pair, what] of cases) await consumeWithJkt(store, pair, what);
      // An access token alone (client_credentials) bound, and one not: the bound one must never
      // come back as a bearer token.
      for (const dpopJkt of [sampleJkt(), undefined]) {
        const { access } = pairBound(dpopJkt, undefined, makePair({ userId: null }));
        await store.saveTokens(access, null);
        const found = await store.getAccessToken(access.token);
        assertToken(found, access, 'access token without refresh token');
        assertJkt(found?.dpopJkt, dpopJkt, 'access token without refresh token');
      }
    },
  ),

  dpopJktThroughRotation: check<TokenCheckContext>(
    'dpopJkt survives rotation: the next pair, saved bound to the same key, reads back bound',
    async ({ store, capabilities }) => {
      const jkt = sampleJkt();
      const first = await savePair(store, pairBound(jkt, jkt));
      await consumeWithJkt(store, first, 'first pair');
      const base = makePair({ clientId: first.access.clientId, userId: first.access.userId, grantId: first.access.grantId });
      const second = await savePair(store, pairBound(jkt, jkt, base));
      await assertLiveJkt(store, second, 'rotated pair');
      assertSpent(await store.consumeRefreshToken(first.refresh.token), first.refresh, capabilities, 'the rotated token');
      await consumeWithJkt(store, second, 'rotated pair');
    },
  ),

  dpopJktConcurrentConsume: check<TokenCheckContext>(
    'the one winner of 10 concurrent refresh consumes gets the dpopJkt',
    async ({ store }) => {
      const pair = await savePair(store, pairBound(sampleJkt(), sampleJkt()));
      const results = await concurrently(10, () => store.consumeRefreshToken(pair.refresh.token));
      const winners = results.filter((r) => r?.outcome === 'consumed');
      assert.equal(winners.length, 1, `exactly one of 10 concurrent consumes must win, ${winners.length} did`);
      const winner = winners[0];
      assertJkt(winner?.outcome === 'consumed' ? winner.record.dpopJkt : null, pair.refresh.dpopJkt, 'the winner');
    },
  ),
} satisfies Record<string, Check<TokenCheckContext>>;

/** Checks that need a probe; registered only when `probe` is given. */
export const tokenProbeChecks = {
  rawEntryLifecycle: check<TokenCheckContext>(
    'the raw store holds the tokens after save and not the refresh token after consume',
    async ({ store, probe, capabilities }) => {
      assert.ok(probe, 'this check needs a probe');
      const pair = await savePair(store, makePair());
      assert.ok(!isAbsent(await probe.readAccess(pair.access.token)), 'after saveTokens the raw store must hold the access token');
      const before = await probe.readRefresh(pair.refresh.token);
      assert.ok(!isAbsent(before), 'after saveTokens the raw store must hold the refresh token');
      assert.ok(isAbsent(await probe.readAccess(pair.refresh.token)), 'a refresh token is not an access token entry');
      assertConsumed(await store.consumeRefreshToken(pair.refresh.token), pair.refresh, 'consume');
      const after = await probe.readRefresh(pair.refresh.token);
      if (capabilities.detectsReplay) {
        if (!isAbsent(after)) assert.notDeepEqual(after, before, 'after consume the raw entry must be gone or marked consumed');
      } else {
        assert.ok(isAbsent(after), 'after consume the raw store must no longer hold the refresh token');
      }
    },
  ),

  rawEntryHoldsLists: check<TokenCheckContext>(
    'the raw store holds the audience of an access token and the resources of a refresh token, and none of tokens without',
    async ({ store, probe }) => {
      assert.ok(probe, 'this check needs a probe');
      const resources = sampleResources();
      const audience = resources.slice(0, 1);
      const bound = await savePair(store, pairWith(audience, resources));
      const none = await savePair(store, pairWith(undefined, undefined));
      assertRawHolds(await probe.readAccess(bound.access.token), audience, true, 'access token with an audience');
      assertRawHolds(await probe.readRefresh(bound.refresh.token), resources, true, 'refresh token with resources');
      assertRawHolds(await probe.readAccess(none.access.token), resources, false, 'access token without an audience');
      assertRawHolds(await probe.readRefresh(none.refresh.token), resources, false, 'refresh token without resources');
    },
  ),

  rawEntryHoldsDpopJkt: check<TokenCheckContext>(
    'the raw store holds the dpopJkt of each bound token on its own entry, and none of tokens without',
    async ({ store, probe }) => {
      assert.ok(probe, 'this check needs a probe');
      const accessJkt = sampleJkt();
      const refreshJkt = sampleJkt();
      const bound = await savePair(store, pairBound(accessJkt, refreshJkt));
      const none = await savePair(store, pairBound(undefined, undefined));
      const both = [accessJkt, refreshJkt];
      assertRawHolds(await probe.readAccess(bound.access.token), [accessJkt], true, 'bound access token');
      assertRawHolds(await probe.readAccess(bound.access.token), [refreshJkt], false, 'bound access token (its refresh token’s key)');
      assertRawHolds(await probe.readRefresh(bound.refresh.token), [refreshJkt], true, 'bound refresh token');
      assertRawHolds(await probe.readRefresh(bound.refresh.token), [accessJkt], false, 'bound refresh token (its access token’s key)');
      assertRawHolds(await probe.readAccess(none.access.token), both, false, 'access token not bound');
      assertRawHolds(await probe.readRefresh(none.refresh.token), both, false, 'refresh token not bound');
    },
  ),
} satisfies Record<string, Check<TokenCheckContext>>;

/**
 * Registers the token-store contract tests: round-trip (RFC 8707 `audience` and `resources` and
 * RFC 9449 `dpopJkt` included, through rotation), revocation of one token and of a
 * family, one-time refresh consume under concurrency, expiry, odd tokens, and (with a probe)
 * what the raw store holds. Expects a fresh store: the empty token is saved once per run.
 */
export function tokenStoreSuite(t: TestApi, options: TokenSuiteOptions): void {
  const checks: Check<TokenCheckContext>[] = [
    ...Object.values(tokenChecks),
    ...(options.probe ? Object.values(tokenProbeChecks) : []),
    ...(options.issuedAt ? Object.values(issuedAtChecks) : []),
  ];
  const title = label('TokenStore', options.name);
  const context = async (): Promise<TokenCheckContext> => {
    const store = await options.create();
    return {
      store,
      capabilities: resolveCapabilities(title, store, options.capabilities, ['detectsReplay', 'ttlGranularity']),
      ...(options.probe ? { probe: options.probe } : {}),
    };
  };
  registerSuite(t, title, checks, context, options.destroy);
}
