import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Consumed, GrantRecord, GrantStore } from '@portcullis/core';
import { assertList, assertRawHolds, largestResources, sampleResources } from './resources.js';
import {
  assertAuthTime,
  assertConsumedRecord,
  assertGrant,
  assertSpentRecord,
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

/** Reads the raw store behind a `GrantStore`, bypassing its API. */
export interface GrantProbe {
  /**
   * Returns the raw entry kept for this client and code (a row, a cache value, anything), or
   * `null`/`undefined` when the store holds nothing for it.
   */
  read(clientId: string, code: string): Promise<unknown>;
}

/** Options of `grantStoreSuite`. */
export interface GrantSuiteOptions {
  /** Shown in test titles. */
  name: string;
  /** Called once, in `beforeAll`; the suite's tests share the store. */
  create: () => Promise<GrantStore>;
  /** Called once, in `afterAll`: close clients and servers. */
  destroy?: () => Promise<void>;
  /** When given, the suite also checks what the raw store holds. */
  probe?: GrantProbe;
  /**
   * @deprecated Declare `capabilities` on the store instead (core's `StoreCapabilities`); the
   * suite reads them from the store this returns. When given, this overrides what the store
   * declares. The suite fails when neither says.
   */
  capabilities?: StoreCapabilities;
}

/** What each grant check runs against. */
export interface GrantCheckContext {
  store: GrantStore;
  probe?: GrantProbe;
  capabilities: StoreCapabilities;
}

/** A fresh grant with random code, client and family, expiring in a minute. */
export function makeGrant(overrides: Partial<GrantRecord> = {}): GrantRecord {
  return {
    code: rid('code'),
    clientId: rid('client'),
    userId: rid('user'),
    redirectUri: 'https://app.example/cb?x=1',
    scopes: ['write', 'read', 'https://api.example/profile:read'],
    expiresAt: inMs(60_000),
    grantId: rid('family'),
    codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    codeChallengeMethod: 'S256',
    ...overrides,
  };
}

/**
 * A DPoP key thumbprint (RFC 9449 `dpop_jkt`, RFC 7638): 43 characters of base64url, unique per
 * call, so a probe can find it in a raw entry and a store cannot pass by giving back another
 * record's.
 */
export function sampleJkt(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Asserts that `dpopJkt` came back as saved: the same string when `expected` is set, and absent
 * (`undefined`: not `null`, not `''`) when the saved record was not bound. A store that drops it
 * from an access token turns a DPoP-bound token into a bearer token.
 */
export function assertJkt(actual: unknown, expected: string | undefined, what: string): void {
  if (expected === undefined) {
    assert.strictEqual(
      actual,
      undefined,
      `${what}: dpopJkt was not saved, so it must come back absent (not null or ''), got ${JSON.stringify(actual)}`,
    );
    return;
  }
  assert.strictEqual(
    actual,
    expected,
    `${what}: dpopJkt must round-trip exactly (a dropped thumbprint turns a DPoP-bound record into an unbound one), got ${JSON.stringify(actual)}`,
  );
}

async function save(store: GrantStore, grant: GrantRecord): Promise<GrantRecord> {
  await store.saveGrant(grant);
  return grant;
}

function assertConsumed(result: Consumed<GrantRecord> | null, expected: GrantRecord, what: string): void {
  const whenNull = `consumeGrant returned null for a live code ${describeKey(expected.code)}`;
  assertConsumedRecord(result, expected, assertGrant, whenNull, what);
}

function assertSpent(result: Consumed<GrantRecord> | null, expected: GrantRecord, capabilities: StoreCapabilities, what: string): void {
  assertSpentRecord(result, expected.grantId, capabilities, { replayed: 'a consumed code', spent: 'a consumed code' }, what);
}

/** Every check of the grant suite, by key; `grantStoreSuite` registers each as one test. */
export const grantChecks = {
  consumeOnce: check<GrantCheckContext>('save then consume returns the record once', async ({ store, capabilities }) => {
    const grant = await save(store, makeGrant());
    assertConsumed(await store.consumeGrant(grant.clientId, grant.code), grant, 'first consume');
    assertSpent(await store.consumeGrant(grant.clientId, grant.code), grant, capabilities, 'second consume');
    assertSpent(await store.consumeGrant(grant.clientId, grant.code), grant, capabilities, 'third consume');
  }),

  unknownCode: check<GrantCheckContext>('an unknown code gives null', async ({ store }) => {
    assert.equal(await store.consumeGrant(rid('client'), rid('code')), null);
  }),

  fieldsRoundTrip: check<GrantCheckContext>('every field round-trips', async ({ store }) => {
    const withPkce = await save(store, makeGrant({ scopes: ['zeta', 'alpha', 'mid'], codeChallengeMethod: 'plain' }));
    const withoutPkce = await save(
      store,
      makeGrant({ scopes: ['only'], codeChallenge: null, codeChallengeMethod: null, redirectUri: 'http://127.0.0.1:8080/cb' }),
    );
    const noScopes = await save(store, makeGrant({ scopes: [] }));
    for (const [grant, what] of [
      [withPkce, 'grant with PKCE'],
      [withoutPkce, 'grant without PKCE (null challenge)'],
      [noScopes, 'grant with no scopes'],
    ] as const) {
      assertConsumed(await store.consumeGrant(grant.clientId, grant.code), grant, what);
    }
  }),

  nullRedirectUri: check<GrantCheckContext>(
    'a null redirectUri (the authorization request left redirect_uri out) comes back as null',
    async ({ store, capabilities }) => {
      // Saved side by side with a string one: neither may turn into the other, nor into '' or 'null'.
      const omitted = await save(store, makeGrant({ redirectUri: null }));
      const sent = await save(store, makeGrant({ clientId: omitted.clientId }));
      const result = await store.consumeGrant(omitted.clientId, omitted.code);
      assertConsumed(result, omitted, 'grant with a null redirectUri');
      if (result?.outcome === 'consumed') {
        assert.strictEqual(
          result.record.redirectUri,
          null,
          `redirectUri must come back as null, got ${JSON.stringify(result.record.redirectUri)}`,
        );
      }
      assertSpent(await store.consumeGrant(omitted.clientId, omitted.code), omitted, capabilities, 'second consume of the null one');
      assertConsumed(await store.consumeGrant(sent.clientId, sent.code), sent, 'grant with a redirectUri, same client');
    },
  ),

  expiresAtIsDate: check<GrantCheckContext>('expiresAt comes back as the same Date', async ({ store }) => {
    const exact = await save(store, makeGrant({ expiresAt: new Date(Date.now() + 90_000 + 1) }));
    const far = await save(store, makeGrant({ expiresAt: new Date('2099-12-31T23:59:58.999Z') }));
    const result = await store.consumeGrant(exact.clientId, exact.code);
    assertConsumed(result, exact, 'expiresAt with arbitrary milliseconds');
    assertConsumed(await store.consumeGrant(far.clientId, far.code), far, 'expiresAt far in the future');
  }),

  concurrentConsume: check<GrantCheckContext>(
    '50 concurrent consumes of one code give exactly one winner',
    async ({ store, capabilities }) => {
      const grant = await save(store, makeGrant());
      const results = await concurrently(50, () => store.consumeGrant(grant.clientId, grant.code));
      const winners = results.filter((r) => r?.outcome === 'consumed');
      assert.equal(winners.length, 1, `exactly one of 50 concurrent consumes must win, ${winners.length} did`);
      assertConsumed(winners[0] ?? null, grant, 'the winner');
      for (const r of results) {
        if (r?.outcome === 'consumed') continue;
        if (capabilities.detectsReplay && r !== null) {
          assert.deepEqual(r, { outcome: 'replayed', grantId: grant.grantId }, 'a losing consume');
        } else {
          assert.equal(r, null, 'a losing consume must give null');
        }
      }
    },
  ),

  expiredNotReturned: check<GrantCheckContext>('an expired code is never returned', async ({ store, capabilities }) => {
    const expiresAt = shortExpiry(capabilities.ttlGranularity);
    const early = await save(store, makeGrant({ expiresAt }));
    const late = await save(store, makeGrant({ expiresAt }));
    const result = await store.consumeGrant(early.clientId, early.code);
    // Only a consume that finished before expiry must succeed; a slow machine may pass it.
    if (Date.now() < expiresAt.getTime()) assertConsumed(result, early, 'consume before expiry');
    await sleepPast(expiresAt);
    assert.equal(await store.consumeGrant(late.clientId, late.code), null, 'a code past its expiresAt must give null');
  }),

  savedExpiredNotReturned: check<GrantCheckContext>('a code saved already expired is never returned', async ({ store }) => {
    const justPast = await save(store, makeGrant({ expiresAt: new Date(Date.now() - 1000) }));
    const longPast = await save(store, makeGrant({ expiresAt: new Date('2001-01-01T00:00:00.001Z') }));
    assert.equal(await store.consumeGrant(justPast.clientId, justPast.code), null, 'expired a second ago');
    assert.equal(await store.consumeGrant(longPast.clientId, longPast.code), null, 'expired long ago');
  }),

  clientsDoNotCollide: check<GrantCheckContext>('the same code under two clients never collides', async ({ store }) => {
    const code = rid('shared-code');
    const a = await save(store, makeGrant({ code }));
    const b = await save(store, makeGrant({ code }));
    assert.equal(await store.consumeGrant(rid('client'), code), null, 'a third client must not get either grant');
    assertConsumed(await store.consumeGrant(b.clientId, code), b, 'second client');
    assertConsumed(await store.consumeGrant(a.clientId, code), a, 'first client');
    // Keys built by concatenation must not let `a:b` + `c` meet `a` + `b:c`.
    const base = rid('c');
    for (const sep of [':', '|', '/', '.', '::', '']) {
      const left = await save(store, makeGrant({ clientId: `${base}${sep}x`, code: `y${sep}z` }));
      const right = await save(store, makeGrant({ clientId: base, code: `x${sep}y${sep}z` }));
      assert.equal(await store.consumeGrant(`${base}${sep}x${sep}y`, 'z'), null, `separator ${JSON.stringify(sep)}`);
      assertConsumed(await store.consumeGrant(right.clientId, right.code), right, `separator ${JSON.stringify(sep)}`);
      assertConsumed(await store.consumeGrant(left.clientId, left.code), left, `separator ${JSON.stringify(sep)}`);
    }
  }),

  wrongClientDoesNotBurn: check<GrantCheckContext>(
    'consuming with the wrong client gives null and does not burn the code',
    async ({ store }) => {
      const grant = await save(store, makeGrant());
      const results = await concurrently(5, () => store.consumeGrant(rid('client'), grant.code));
      assert.deepEqual(results, [null, null, null, null, null], 'another client must get null');
      assert.equal(await store.consumeGrant(grant.clientId.toUpperCase(), grant.code), null, 'client ids are case-sensitive');
      assertConsumed(await store.consumeGrant(grant.clientId, grant.code), grant, 'the right client afterwards');
    },
  ),

  oddCodes: check<GrantCheckContext>('empty, 8 KiB and non-ASCII codes work without collision', async ({ store, capabilities }) => {
    const clientId = rid('client');
    const grants: { label: string; grant: GrantRecord }[] = [];
    for (const { label: what, key } of oddKeys()) {
      grants.push({ label: what, grant: await save(store, makeGrant({ clientId, code: key })) });
    }
    // Consume in reverse so a collision (a later save overwriting an earlier one) shows.
    for (const { label: what, grant } of grants.reverse()) {
      assertConsumed(await store.consumeGrant(clientId, grant.code), grant, `${what} code`);
      assertSpent(await store.consumeGrant(clientId, grant.code), grant, capabilities, `${what} code, second consume`);
    }
  }),

  resources: check<GrantCheckContext>(
    'resources (RFC 8707) come back from consume in order; a grant without them comes back without them',
    async ({ store, capabilities }) => {
      const bound = await save(store, makeGrant({ resources: sampleResources() }));
      const largest = await save(store, makeGrant({ resources: largestResources() }));
      const one = await save(store, makeGrant({ resources: ['https://api.example/'] }));
      // Saved beside them under the same client: neither may take the other's resources.
      const none = await save(store, makeGrant({ clientId: bound.clientId }));
      for (const [grant, what] of [
        [bound, 'grant with three resources'],
        [largest, 'grant with the most resources core accepts (10 of 2048 characters)'],
        [one, 'grant with one resource'],
        [none, 'grant without resources'],
      ] as const) {
        const result = await store.consumeGrant(grant.clientId, grant.code);
        assertConsumed(result, grant, what);
        assertList(result?.outcome === 'consumed' ? result.record.resources : null, grant.resources, 'resources', what);
        assertSpent(await store.consumeGrant(grant.clientId, grant.code), grant, capabilities, `${what}, second consume`);
      }
    },
  ),

  resourcesConcurrentConsume: check<GrantCheckContext>('the one winner of 10 concurrent consumes gets the resources', async ({ store }) => {
    const grant = await save(store, makeGrant({ resources: sampleResources() }));
    const results = await concurrently(10, () => store.consumeGrant(grant.clientId, grant.code));
    const winners = results.filter((r) => r?.outcome === 'consumed');
    assert.equal(winners.length, 1, `exactly one of 10 concurrent consumes must win, ${winners.length} did`);
    const winner = winners[0];
    assertList(winner?.outcome === 'consumed' ? winner.record.resources : null, grant.resources, 'resources', 'the winner');
  }),

  authTime: check<GrantCheckContext>(
    'authTime (the auth_time of RFC 9068) comes back from consume to the millisecond; a code without it comes back without it',
    async ({ store }) => {
      const known = await save(store, makeGrant({ authTime: sampleAuthTime() }));
      const withAll = await save(
        store,
        makeGrant({ authTime: new Date('2026-01-02T03:04:05.678Z'), dpopJkt: sampleJkt(), resources: sampleResources() }),
      );
      // Saved beside them under the same client: it must not take another grant's time.
      const none = await save(store, makeGrant({ clientId: known.clientId }));
      for (const [grant, what] of [
        [known, 'grant with authTime'],
        [withAll, 'grant with authTime, a DPoP key and resources'],
        [none, 'grant without authTime'],
      ] as const) {
        const result = await store.consumeGrant(grant.clientId, grant.code);
        assertConsumed(result, grant, what);
        const record = result?.outcome === 'consumed' ? result.record : null;
        assertAuthTime(record?.authTime, grant.authTime, what);
      }
    },
  ),

  dpopJkt: check<GrantCheckContext>(
    'dpopJkt (RFC 9449) comes back from consume exactly; a code without it comes back without it',
    async ({ store, capabilities }) => {
      const bound = await save(store, makeGrant({ dpopJkt: sampleJkt() }));
      const withResources = await save(store, makeGrant({ dpopJkt: sampleJkt(), resources: sampleResources() }));
      const noPkce = await save(store, makeGrant({ dpopJkt: sampleJkt(), codeChallenge: null, codeChallengeMethod: null }));
      // Saved beside them under the same client: it must not take another grant's thumbprint.
      const none = await save(store, makeGrant({ clientId: bound.clientId }));
      for (const [grant, what] of [
        [bound, 'grant bound to a DPoP key'],
        [withResources, 'grant bound to a DPoP key, with resources'],
        [noPkce, 'grant bound to a DPoP key, without PKCE'],
        [none, 'grant not bound'],
      ] as const) {
        const result = await store.consumeGrant(grant.clientId, grant.code);
        assertConsumed(result, grant, what);
        const record = result?.outcome === 'consumed' ? result.record : null;
        assertJkt(record?.dpopJkt, grant.dpopJkt, what);
        assertList(record?.resources, grant.resources, 'resources', what);
        assertSpent(await store.consumeGrant(grant.clientId, grant.code), grant, capabilities, `${what}, second consume`);
      }
    },
  ),

  dpopJktConcurrentConsume: check<GrantCheckContext>('the one winner of 10 concurrent consumes gets the dpopJkt', async ({ store }) => {
    const grant = await save(store, makeGrant({ dpopJkt: sampleJkt() }));
    const results = await concurrently(10, () => store.consumeGrant(grant.clientId, grant.code));
    const winners = results.filter((r) => r?.outcome === 'consumed');
    assert.equal(winners.length, 1, `exactly one of 10 concurrent consumes must win, ${winners.length} did`);
    const winner = winners[0];
    assertJkt(winner?.outcome === 'consumed' ? winner.record.dpopJkt : null, grant.dpopJkt, 'the winner');
  }),
} satisfies Record<string, Check<GrantCheckContext>>;

/** Checks that need a probe; registered only when `probe` is given. */
export const grantProbeChecks = {
  rawEntryLifecycle: check<GrantCheckContext>(
    'the raw store holds the code after save and not after consume',
    async ({ store, probe, capabilities }) => {
      assert.ok(probe, 'this check needs a probe');
      const grant = await save(store, makeGrant());
      const before = await probe.read(grant.clientId, grant.code);
      assert.ok(!isAbsent(before), 'after saveGrant the raw store must hold an entry');
      assertConsumed(await store.consumeGrant(grant.clientId, grant.code), grant, 'consume');
      const after = await probe.read(grant.clientId, grant.code);
      if (capabilities.detectsReplay) {
        if (!isAbsent(after)) assert.notDeepEqual(after, before, 'after consume the raw entry must be gone or marked consumed');
      } else {
        assert.ok(isAbsent(after), 'after consume the raw store must no longer hold the code');
      }
    },
  ),

  rawEntriesPerClient: check<GrantCheckContext>('the same code under two clients is two raw entries', async ({ store, probe }) => {
    assert.ok(probe, 'this check needs a probe');
    const code = rid('shared-code');
    const a = await save(store, makeGrant({ code }));
    const b = await save(store, makeGrant({ code }));
    const rawA = await probe.read(a.clientId, code);
    const rawB = await probe.read(b.clientId, code);
    assert.ok(!isAbsent(rawA) && !isAbsent(rawB), 'both clients must have a raw entry');
    assert.notDeepEqual(rawA, rawB, 'the two clients must have distinct raw entries');
    assert.ok(isAbsent(await probe.read(rid('client'), code)), 'a third client must have no raw entry');
    assertConsumed(await store.consumeGrant(a.clientId, code), a, 'first client');
    assert.ok(!isAbsent(await probe.read(b.clientId, code)), "consuming one client's code keeps the other's entry");
  }),

  rawEntryHoldsResources: check<GrantCheckContext>(
    'the raw store holds the resources of a grant that has them, and none of a grant without',
    async ({ store, probe }) => {
      assert.ok(probe, 'this check needs a probe');
      const resources = sampleResources();
      const bound = await save(store, makeGrant({ resources }));
      const none = await save(store, makeGrant({ clientId: bound.clientId }));
      assertRawHolds(await probe.read(bound.clientId, bound.code), resources, true, 'grant with resources');
      assertRawHolds(await probe.read(none.clientId, none.code), resources, false, 'grant without resources');
      assertConsumed(await store.consumeGrant(bound.clientId, bound.code), bound, 'consume');
    },
  ),

  rawEntryHoldsDpopJkt: check<GrantCheckContext>(
    'the raw store holds the dpopJkt of a bound grant, and none of a grant without',
    async ({ store, probe }) => {
      assert.ok(probe, 'this check needs a probe');
      const jkt = sampleJkt();
      const bound = await save(store, makeGrant({ dpopJkt: jkt }));
      const none = await save(store, makeGrant({ clientId: bound.clientId }));
      assertRawHolds(await probe.read(bound.clientId, bound.code), [jkt], true, 'grant bound to a DPoP key');
      assertRawHolds(await probe.read(none.clientId, none.code), [jkt], false, 'grant not bound');
      assertConsumed(await store.consumeGrant(bound.clientId, bound.code), bound, 'consume');
    },
  ),
} satisfies Record<string, Check<GrantCheckContext>>;

/**
 * Registers the grant-store contract tests: one-time consume, N-way concurrency, field and Date
 * round-trips (a `null` `redirectUri`, RFC 8707 `resources` and RFC 9449 `dpopJkt` included), expiry, client
 * isolation, odd codes, and (with a probe) what the raw store holds.
 */
export function grantStoreSuite(t: TestApi, options: GrantSuiteOptions): void {
  const checks: Check<GrantCheckContext>[] = [...Object.values(grantChecks), ...(options.probe ? Object.values(grantProbeChecks) : [])];
  const title = label('GrantStore', options.name);
  const context = async (): Promise<GrantCheckContext> => {
    const store = await options.create();
    return {
      store,
      capabilities: resolveCapabilities(title, store, options.capabilities, ['detectsReplay', 'ttlGranularity']),
      ...(options.probe ? { probe: options.probe } : {}),
    };
  };
  registerSuite(t, title, checks, context, options.destroy);
}
