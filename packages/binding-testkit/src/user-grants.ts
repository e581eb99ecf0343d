import assert from 'node:assert/strict';
import type { AccessTokenRecord, GrantStore, RefreshTokenRecord, TokenStore, UserGrantStore, UserGrantSummary } from '@portcullis/core';
import { makeGrant } from './grant.js';
import {
  assertToken,
  type Check,
  check,
  inMs,
  label,
  registerSuite,
  resolveCapabilities,
  rid,
  type StoreCapabilities,
  shortLife,
  sleepPast,
  type TestApi,
} from './shared.js';
import { makePair, type TokenCheckContext, type TokenPair } from './token.js';

/** The three stores the user-grant checks use: tokens and codes saved through two, viewed and revoked through the third. */
export interface UserGrantStores {
  /** The per-user views under test (`ProviderStores.userGrants`). */
  userGrants: UserGrantStore;
  /** The token store over the same records (`ProviderStores.tokens`). */
  tokens: TokenStore;
  /** The authorization-code store over the same records (`ProviderStores.grants`). */
  grants: GrantStore;
}

/** Options of `userGrantStoreSuite`. */
export interface UserGrantSuiteOptions {
  /** Shown in test titles. */
  name: string;
  /** Called once, in `beforeAll`; the checks share the stores, each with its own random users and clients. */
  create: () => UserGrantStores | Promise<UserGrantStores>;
  /** Called once, in `afterAll`: close everything `create` opened. */
  destroy?: () => Promise<void>;
  /**
   * `false` for a store without the optional `revokeClientGrants` (revocation of a deleted
   * client's tokens, RFC 7592 section 2.3): the check of it is left out. Default `true`.
   */
  clientRevocation?: boolean;
}

/** What each user-grant check runs against. */
export interface UserGrantCheckContext extends UserGrantStores {
  /** What the token store declares (its `ttlGranularity` paces the expiry check). */
  capabilities: StoreCapabilities;
}

/** A date `offsetMs` after a fixed instant, with a millisecond part, so rounding stores fail. */
function at(offsetMs: number): Date {
  return new Date(Date.UTC(2026, 10, 3, 4, 5, 6, 123) + offsetMs);
}

/** A live pair of `userId` for `clientId`, both tokens issued at `issuedAt` (left out when `undefined`). */
function pairOf(userId: string | null, clientId: string, scopes: string[], issuedAt: Date | undefined, grantId = rid('family')): TokenPair {
  const pair = makePair({ userId, clientId, scopes, grantId });
  if (issuedAt === undefined) return pair;
  return { access: { ...pair.access, issuedAt }, refresh: { ...pair.refresh, issuedAt } };
}

async function save(tokens: TokenStore, pair: TokenPair): Promise<TokenPair> {
  await tokens.saveTokens(pair.access, pair.refresh);
  return pair;
}

function iso(d: Date | null | undefined): string {
  return d instanceof Date ? (Number.isNaN(d.getTime()) ? 'Invalid Date' : d.toISOString()) : String(d);
}

function assertWhen(actual: unknown, expected: Date | null, what: string): void {
  if (expected === null) {
    assert.equal(actual, null, `${what} must be null when no live token has issuedAt, got ${String(actual)}`);
    return;
  }
  assert.ok(actual instanceof Date, `${what} must be a Date, got ${typeof actual} ${String(actual)}`);
  assert.equal(actual.getTime(), expected.getTime(), `${what} must be ${iso(expected)} to the millisecond, got ${iso(actual)}`);
}

/** Asserts the one summary for `expected.clientId` in `list` equals `expected` (scopes as a set, without repeats). */
function assertSummary(list: readonly UserGrantSummary[], expected: UserGrantSummary, what: string): void {
  const found = list.filter((s) => s.clientId === expected.clientId);
  assert.equal(
    found.length,
    1,
    `${what}: expected one summary for client ${expected.clientId}, got ${found.length}: ${JSON.stringify(list)}`,
  );
  const s = found[0] as UserGrantSummary;
  assert.ok(Array.isArray(s.scopes), `${what}: scopes must be an array, got ${JSON.stringify(s.scopes)}`);
  assert.equal(new Set(s.scopes).size, s.scopes.length, `${what}: scopes must not repeat, got ${JSON.stringify(s.scopes)}`);
  assert.deepEqual([...s.scopes].sort(), [...expected.scopes].sort(), `${what}: scopes must be the union of the live tokens' scopes`);
  assert.equal(s.grants, expected.grants, `${what}: grants must count the distinct live token families`);
  assertWhen(s.firstIssuedAt, expected.firstIssuedAt, `${what}: firstIssuedAt`);
  assertWhen(s.lastIssuedAt, expected.lastIssuedAt, `${what}: lastIssuedAt`);
}

/** Asserts `list` names exactly `clientIds` (in any order). */
function assertClients(list: readonly UserGrantSummary[], clientIds: readonly string[], what: string): void {
  assert.ok(Array.isArray(list), `${what}: listUserGrants must give an array, got ${String(list)}`);
  assert.deepEqual(
    list.map((s) => s.clientId).sort(),
    [...clientIds].sort(),
    `${what}: listUserGrants must give one summary per client with live tokens, exactly`,
  );
}

async function assertPairDead(tokens: TokenStore, pair: TokenPair, what: string): Promise<void> {
  assert.equal(await tokens.getAccessToken(pair.access.token), null, `${what}: the access token must be gone after revokeUserGrants`);
  assert.equal(await tokens.getRefreshToken(pair.refresh.token), null, `${what}: the refresh token must be gone after revokeUserGrants`);
  const late = await tokens.consumeRefreshToken(pair.refresh.token);
  assert.notEqual(late?.outcome, 'consumed', `${what}: a revoked refresh token must not be consumed`);
}

async function assertPairLive(tokens: TokenStore, pair: TokenPair, what: string): Promise<void> {
  assertToken(await tokens.getAccessToken(pair.access.token), pair.access, `${what}: access token`);
  assertToken(await tokens.getRefreshToken(pair.refresh.token), pair.refresh, `${what}: refresh token`);
}

/** Every check of the user-grant suite, by key; `userGrantStoreSuite` registers each as one test. */
export const userGrantChecks = {
  summaries: check<UserGrantCheckContext>(
    'one summary per client: union of scopes, distinct families, first and last issuedAt to the millisecond',
    async ({ userGrants, tokens }) => {
      const user = rid('user');
      const [a, b] = [rid('client-a'), rid('client-b')];
      const family = rid('family');
      await save(tokens, pairOf(user, a, ['read'], at(0), family));
      // A later pair of the same family (a rotation) and a second family with other scopes.
      await save(tokens, pairOf(user, a, ['read'], at(90_001), family));
      await save(tokens, pairOf(user, a, ['write', 'read'], at(30_000)));
      await save(tokens, pairOf(user, b, ['https://api.example/profile:read'], at(5)));
      // Another user's tokens for the same client, and a client_credentials token of it: not this user's.
      await save(tokens, pairOf(rid('user'), a, ['admin'], at(-50_000)));
      const { access: machine } = pairOf(null, a, ['machine'], at(200_000));
      await tokens.saveTokens(machine, null);

      const list = await userGrants.listUserGrants(user);
      assertClients(list, [a, b], 'two clients');
      assertSummary(
        list,
        { clientId: a, scopes: ['read', 'write'], grants: 2, firstIssuedAt: at(0), lastIssuedAt: at(90_001) },
        'client a',
      );
      assertSummary(
        list,
        { clientId: b, scopes: ['https://api.example/profile:read'], grants: 1, firstIssuedAt: at(5), lastIssuedAt: at(5) },
        'client b',
      );
      assert.deepEqual(await userGrants.listUserGrants(rid('user')), [], 'a user without tokens has no grants');
    },
  ),

  issuedAtMissing: check<UserGrantCheckContext>(
    'tokens stored without issuedAt count, with null dates when none of them has one',
    async ({ userGrants, tokens }) => {
      const user = rid('user');
      const [none, mixed] = [rid('client-none'), rid('client-mixed')];
      await save(tokens, pairOf(user, none, ['read'], undefined));
      await save(tokens, pairOf(user, mixed, ['read'], undefined));
      await save(tokens, pairOf(user, mixed, ['write'], at(7)));
      const list = await userGrants.listUserGrants(user);
      assertClients(list, [none, mixed], 'tokens without issuedAt');
      assertSummary(list, { clientId: none, scopes: ['read'], grants: 1, firstIssuedAt: null, lastIssuedAt: null }, 'no issuedAt');
      assertSummary(
        list,
        { clientId: mixed, scopes: ['read', 'write'], grants: 2, firstIssuedAt: at(7), lastIssuedAt: at(7) },
        'some with issuedAt',
      );
    },
  ),

  onlyLive: check<UserGrantCheckContext>(
    'expired, revoked and consumed tokens are left out; a client with one live kind is listed from it alone',
    async ({ userGrants, tokens }) => {
      const user = rid('user');
      const expired = rid('client-expired');
      const old = pairOf(user, expired, ['old'], at(0));
      await save(tokens, {
        access: { ...old.access, expiresAt: new Date(Date.now() - 1000) },
        refresh: { ...old.refresh, expiresAt: new Date('2001-01-01T00:00:00.001Z') },
      });
      const revoked = rid('client-revoked');
      const family = pairOf(user, revoked, ['gone'], at(1));
      await save(tokens, family);
      await tokens.revokeFamily(family.access.grantId);
      const spent = rid('client-spent');
      const used = await save(tokens, pairOf(user, spent, ['spent'], at(2)));
      await tokens.revokeAccessToken(used.access.token);
      assert.equal((await tokens.consumeRefreshToken(used.refresh.token))?.outcome, 'consumed', 'consume a live refresh token');
      // Refresh token live, access token expired: listed from the refresh token alone.
      const refreshOnly = rid('client-refresh-only');
      const r = pairOf(user, refreshOnly, ['offline'], at(3_000));
      await save(tokens, {
        access: { ...r.access, scopes: ['gone'], issuedAt: at(-9_000), expiresAt: new Date(Date.now() - 1000) },
        refresh: r.refresh,
      });
      // Access token live, its refresh token consumed (rotated away): listed from the access token alone.
      const accessOnly = rid('client-access-only');
      const x = pairOf(user, accessOnly, ['now'], at(4_000));
      await save(tokens, { access: x.access, refresh: { ...x.refresh, scopes: ['rotated'], issuedAt: at(-8_000) } });
      assert.equal((await tokens.consumeRefreshToken(x.refresh.token))?.outcome, 'consumed', 'consume a live refresh token');

      const list = await userGrants.listUserGrants(user);
      assertClients(list, [refreshOnly, accessOnly], 'live tokens only');
      assertSummary(
        list,
        { clientId: refreshOnly, scopes: ['offline'], grants: 1, firstIssuedAt: at(3_000), lastIssuedAt: at(3_000) },
        'refresh token live only',
      );
      assertSummary(
        list,
        { clientId: accessOnly, scopes: ['now'], grants: 1, firstIssuedAt: at(4_000), lastIssuedAt: at(4_000) },
        'access token live only',
      );
    },
  ),

  expiresWhileListed: check<UserGrantCheckContext>(
    'a client drops out of the list once its last token expires',
    async ({ userGrants, tokens, capabilities }) => {
      // The "before" listing must finish before the expiry for its answer to mean anything: on a
      // busy machine the short life is stretched (x4 per try, up to about 3 s) rather than skipped.
      for (let life = shortLife(capabilities.ttlGranularity); ; life *= 4) {
        const user = rid('user');
        const client = rid('client');
        const expiresAt = new Date(Date.now() + life);
        const p = pairOf(user, client, ['read'], at(0));
        await save(tokens, { access: { ...p.access, expiresAt }, refresh: { ...p.refresh, expiresAt } });
        const before = await userGrants.listUserGrants(user);
        if (Date.now() >= expiresAt.getTime()) {
          assert.ok(life < 3_000, 'saving and listing took longer than the 3 s life of the tokens');
          continue;
        }
        assertClients(before, [client], 'before expiry');
        await sleepPast(expiresAt);
        assertClients(await userGrants.listUserGrants(user), [], 'after expiry');
        return;
      }
    },
  ),

  noMachineTokens: check<UserGrantCheckContext>(
    'client_credentials tokens (userId null) are never listed, not even for user ids "", "null" or "undefined"',
    async ({ userGrants, tokens }) => {
      const user = rid('user');
      const own = rid('client');
      const machineClient = rid('client-machine');
      await save(tokens, pairOf(user, own, ['read'], at(0)));
      const { access: machine } = pairOf(null, machineClient, ['machine'], at(0));
      await tokens.saveTokens(machine, null);
      assertClients(await userGrants.listUserGrants(user), [own], 'a user');
      for (const id of ['', 'null', 'undefined']) {
        const list = await userGrants.listUserGrants(id);
        assert.ok(!list.some((s) => s.clientId === machineClient), `user id ${JSON.stringify(id)} must not see client_credentials tokens`);
      }
      assert.equal(await userGrants.revokeUserGrants('null', machineClient), 0, 'revoking for user "null" revokes nothing');
      assertToken(await tokens.getAccessToken(machine.token), machine, 'the client_credentials token');
    },
  ),

  revokeOneClient: check<UserGrantCheckContext>(
    "revoking one client's grants removes the user's tokens and unredeemed codes for it, nothing else, and counts them",
    async ({ userGrants, tokens, grants }) => {
      const [user, other] = [rid('user'), rid('user')];
      const [a, b] = [rid('client-a'), rid('client-b')];
      const a1 = await save(tokens, pairOf(user, a, ['read'], at(0)));
      const a1b = await save(tokens, pairOf(user, a, ['read'], at(1), a1.access.grantId));
      const a2 = await save(tokens, pairOf(user, a, ['write'], at(2)));
      const { access: aAlone } = pairOf(user, a, ['read'], at(3));
      await tokens.saveTokens(aAlone, null);
      const codeA = makeGrant({ clientId: a, userId: user });
      const redeemed = makeGrant({ clientId: a, userId: user });
      await grants.saveGrant(codeA);
      await grants.saveGrant(redeemed);
      assert.equal((await grants.consumeGrant(a, redeemed.code))?.outcome, 'consumed', 'redeem a code');
      const b1 = await save(tokens, pairOf(user, b, ['read'], at(4)));
      const codeB = makeGrant({ clientId: b, userId: user });
      await grants.saveGrant(codeB);
      const otherA = await save(tokens, pairOf(other, a, ['read'], at(5)));
      const codeOtherA = makeGrant({ clientId: a, userId: other });
      await grants.saveGrant(codeOtherA);

      // Three families (a1, a2, aAlone) and one unredeemed code.
      assert.equal(await userGrants.revokeUserGrants(user, a), 4, 'revokeUserGrants must count the families and codes it revoked');
      await assertPairDead(tokens, a1, 'first family');
      await assertPairDead(tokens, a1b, 'first family, second pair');
      await assertPairDead(tokens, a2, 'second family');
      assert.equal(await tokens.getAccessToken(aAlone.token), null, 'an access token saved without refresh token');
      const late = await grants.consumeGrant(a, codeA.code);
      assert.notEqual(late?.outcome, 'consumed', "the user's unredeemed code for the client must no longer be consumable");
      assertClients(await userGrants.listUserGrants(user), [b], 'after revoking client a');

      await assertPairLive(tokens, b1, 'another client of the user');
      await assertPairLive(tokens, otherA, 'another user of the client');
      assertClients(await userGrants.listUserGrants(other), [a], 'the other user');
      assert.equal((await grants.consumeGrant(b, codeB.code))?.outcome, 'consumed', "the user's code for another client");
      assert.equal((await grants.consumeGrant(a, codeOtherA.code))?.outcome, 'consumed', "another user's code for the client");

      assert.equal(await userGrants.revokeUserGrants(user, a), 0, 'revoking again revokes nothing');
      assert.equal(await userGrants.revokeUserGrants(user, rid('client')), 0, 'an unknown client');
      await assertPairLive(tokens, b1, 'another client of the user, after the no-op revocations');
      // Revocation is of what exists: a new authorization afterwards works.
      const again = await save(tokens, pairOf(user, a, ['read'], at(6)));
      await assertPairLive(tokens, again, 'a pair saved after the revocation');
      assertClients(await userGrants.listUserGrants(user), [a, b], 'after a new authorization');
    },
  ),

  revokeAll: check<UserGrantCheckContext>(
    'revoking with a null client removes everything the user granted, to every client, and nothing of other users',
    async ({ userGrants, tokens, grants }) => {
      const [user, other] = [rid('user'), rid('user')];
      const [a, b] = [rid('client-a'), rid('client-b')];
      const a1 = await save(tokens, pairOf(user, a, ['read'], at(0)));
      const b1 = await save(tokens, pairOf(user, b, ['read'], at(1)));
      const b2 = await save(tokens, pairOf(user, b, ['write'], at(2)));
      const codes = [makeGrant({ clientId: a, userId: user }), makeGrant({ clientId: b, userId: user })];
      for (const c of codes) await grants.saveGrant(c);
      const otherB = await save(tokens, pairOf(other, b, ['read'], at(3)));
      const codeOther = makeGrant({ clientId: b, userId: other });
      await grants.saveGrant(codeOther);

      assert.equal(await userGrants.revokeUserGrants(user, null), 5, 'three families and two codes');
      await assertPairDead(tokens, a1, 'client a');
      await assertPairDead(tokens, b1, 'client b, first family');
      await assertPairDead(tokens, b2, 'client b, second family');
      for (const c of codes) {
        const late = await grants.consumeGrant(c.clientId, c.code);
        assert.notEqual(late?.outcome, 'consumed', "the user's unredeemed codes must no longer be consumable");
      }
      assert.deepEqual(await userGrants.listUserGrants(user), [], 'nothing left to list');
      assert.equal(await userGrants.revokeUserGrants(user, null), 0, 'revoking again revokes nothing');
      await assertPairLive(tokens, otherB, "another user's tokens");
      assert.equal((await grants.consumeGrant(b, codeOther.code))?.outcome, 'consumed', "another user's code");
    },
  ),

  revokeClient: check<UserGrantCheckContext>(
    "revokeClientGrants (a deleted client) removes the client's tokens of every user and of none, and its unredeemed codes, nothing of other clients, and counts them",
    async ({ userGrants, tokens, grants }) => {
      assert.equal(
        typeof userGrants.revokeClientGrants,
        'function',
        'the store must implement revokeClientGrants (or pass clientRevocation: false)',
      );
      const revoke = userGrants.revokeClientGrants!.bind(userGrants);
      const [u1, u2] = [rid('user'), rid('user')];
      const [a, b] = [rid('client-a'), rid('client-b')];
      // Client a: a rotated family of u1, a family of u2, a client_credentials token (userId null)
      // saved alone, a redeemed code and two unredeemed ones.
      const a1 = await save(tokens, pairOf(u1, a, ['read'], at(0)));
      const a1b = await save(tokens, pairOf(u1, a, ['read'], at(1), a1.access.grantId));
      const a2 = await save(tokens, pairOf(u2, a, ['write'], at(2)));
      const { access: machineA } = pairOf(null, a, ['machine'], at(3));
      await tokens.saveTokens(machineA, null);
      const codesA = [makeGrant({ clientId: a, userId: u1 }), makeGrant({ clientId: a, userId: u2 })];
      for (const c of codesA) await grants.saveGrant(c);
      const redeemed = makeGrant({ clientId: a, userId: u1 });
      await grants.saveGrant(redeemed);
      assert.equal((await grants.consumeGrant(a, redeemed.code))?.outcome, 'consumed', 'redeem a code');
      // Client b, same users: untouched.
      const b1 = await save(tokens, pairOf(u1, b, ['read'], at(4)));
      const { access: machineB } = pairOf(null, b, ['machine'], at(5));
      await tokens.saveTokens(machineB, null);
      const codeB = makeGrant({ clientId: b, userId: u1 });
      await grants.saveGrant(codeB);

      // Ids that are not a's (SQL patterns, another case, a prefix, empty) revoke nothing.
      for (const id of ['', `${a}%`, '%', a.toUpperCase(), a.slice(0, -1), 'null']) {
        assert.equal(await revoke(id), 0, `revokeClientGrants(${JSON.stringify(id)}) must revoke nothing`);
      }
      await assertPairLive(tokens, a1b, 'client a, before its revocation');
      assertToken(await tokens.getAccessToken(machineA.token), machineA, "client a's client_credentials token, before its revocation");

      // Three families (u1's, u2's, the client_credentials one) and two unredeemed codes.
      assert.equal(await revoke(a), 5, 'revokeClientGrants must count the families and codes it revoked');
      await assertPairDead(tokens, a1, "u1's family");
      await assertPairDead(tokens, a1b, "u1's family, second pair");
      await assertPairDead(tokens, a2, "u2's family");
      assert.equal(await tokens.getAccessToken(machineA.token), null, 'the client_credentials token (userId null) must be gone');
      for (const c of codesA) {
        const late = await grants.consumeGrant(a, c.code);
        assert.notEqual(late?.outcome, 'consumed', "the client's unredeemed codes must no longer be consumable");
      }
      assertClients(await userGrants.listUserGrants(u1), [b], 'u1 after revoking client a');
      assertClients(await userGrants.listUserGrants(u2), [], 'u2 after revoking client a');

      await assertPairLive(tokens, b1, 'another client');
      assertToken(await tokens.getAccessToken(machineB.token), machineB, "another client's client_credentials token");
      assert.equal((await grants.consumeGrant(b, codeB.code))?.outcome, 'consumed', "another client's code");
      assert.equal(await revoke(a), 0, 'revoking again revokes nothing');
      assert.equal(await revoke(rid('client')), 0, 'an unknown client');
    },
  ),
} satisfies Record<string, Check<UserGrantCheckContext>>;

/** Checks of a token store's `issuedAt`; run by the token suite with `issuedAt: true` and by the user-grant suite. */
export const issuedAtChecks = {
  issuedAtRoundTrips: check<Pick<TokenCheckContext, 'store'>>(
    'issuedAt comes back to the millisecond from every read path; a token saved without it comes back without it',
    async ({ store }) => {
      const pair = pairOf(rid('user'), rid('client'), ['read'], undefined);
      const given: { access: AccessTokenRecord; refresh: RefreshTokenRecord } = {
        access: { ...pair.access, issuedAt: inMs(-5_000) },
        refresh: { ...pair.refresh, issuedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, 1)) },
      };
      await store.saveTokens(given.access, given.refresh);
      const without = await save(store, pairOf(rid('user'), rid('client'), ['read'], undefined));
      const { access: alone } = pairOf(null, rid('client'), [], at(42));
      await store.saveTokens(alone, null);
      assertWhen((await store.getAccessToken(given.access.token))?.issuedAt, given.access.issuedAt ?? null, 'getAccessToken: issuedAt');
      assertWhen((await store.getRefreshToken(given.refresh.token))?.issuedAt, given.refresh.issuedAt ?? null, 'getRefreshToken: issuedAt');
      assertWhen((await store.getAccessToken(alone.token))?.issuedAt, at(42), 'access token without refresh token: issuedAt');
      const consumed = await store.consumeRefreshToken(given.refresh.token);
      assert.equal(consumed?.outcome, 'consumed', 'consume a live refresh token');
      assertWhen(
        consumed?.outcome === 'consumed' ? consumed.record.issuedAt : undefined,
        given.refresh.issuedAt ?? null,
        'consumeRefreshToken: issuedAt',
      );
      const a = await store.getAccessToken(without.access.token);
      const r = await store.getRefreshToken(without.refresh.token);
      assertToken(a, without.access, 'saved without issuedAt');
      assert.equal(a?.issuedAt, undefined, 'an access token saved without issuedAt must come back without it (absent, not null)');
      assert.equal(r?.issuedAt, undefined, 'a refresh token saved without issuedAt must come back without it (absent, not null)');
    },
  ),
} satisfies Record<string, Check<Pick<TokenCheckContext, 'store'>>>;

/**
 * Registers the `UserGrantStore` contract tests (a user's "connected apps"): one summary per
 * client from live tokens only (scopes, families, first and last `issuedAt`), client_credentials
 * tokens never listed, revocation per client or for all clients of tokens and unredeemed codes
 * (absent from `getAccessToken`/`getRefreshToken`, codes no longer consumable, other users and
 * clients untouched) with its count; revocation of everything of one client, of every user and of
 * none (`revokeClientGrants`; leave it out with `clientRevocation: false`); and `issuedAt` round
 * trips through the token store.
 */
export function userGrantStoreSuite(t: TestApi, options: UserGrantSuiteOptions): void {
  const title = label('UserGrantStore', options.name);
  const checks: Check<UserGrantCheckContext>[] = [
    ...Object.values(userGrantChecks).filter((c) => options.clientRevocation !== false || c !== userGrantChecks.revokeClient),
    ...Object.values(issuedAtChecks).map((c) => check<UserGrantCheckContext>(c.title, (ctx) => c.run({ store: ctx.tokens }))),
  ];
  const context = async (): Promise<UserGrantCheckContext> => {
    const stores = await options.create();
    return { ...stores, capabilities: resolveCapabilities(title, stores.tokens, undefined, ['detectsReplay', 'ttlGranularity']) };
  };
  registerSuite(t, title, checks, context, options.destroy);
}
