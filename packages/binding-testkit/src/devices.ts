import assert from 'node:assert/strict';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import type { DeviceCodeRecord, DeviceCodeStore } from '@portcullis/core';
import {
  assertAuthTime,
  type Check,
  check,
  concurrently,
  inMs,
  label,
  registerSuite,
  rid,
  sampleAuthTime,
  sleepPast,
  type TestApi,
} from './shared.js';

/** Options of `deviceCodeStoreSuite`. */
export interface DeviceSuiteOptions {
  /** Shown in test titles. */
  name: string;
  /** Called once, in `beforeAll`; the checks share the store, each with its own random codes. */
  create: () => Promise<DeviceCodeStore>;
  /** Called once, in `afterAll`: close clients and servers. */
  destroy?: () => Promise<void>;
  /** Concurrent callers in the atomicity checks. Default 20. */
  concurrency?: number;
}

/** What each device check runs against. */
export interface DeviceCheckContext {
  store: DeviceCodeStore;
  /** Concurrent callers in the atomicity checks (default 20). */
  concurrency?: number;
}

const ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';

/** A random normalized user code (8 letters of core's alphabet). */
export function makeUserCode(): string {
  let code = '';
  for (let i = 0; i < 8; i++) code += ALPHABET[randomInt(ALPHABET.length)];
  return code;
}

/**
 * A pending device request with random codes (the device code shaped like core's digest), a
 * client id and scopes with non-ASCII text, and an expiry with a non-zero millisecond part.
 */
export function makeDeviceCode(overrides: Partial<DeviceCodeRecord> = {}): DeviceCodeRecord {
  return {
    deviceCode: createHash('sha256').update(randomBytes(32)).digest('base64url'),
    userCode: makeUserCode(),
    clientId: rid('device-client-é'),
    scopes: ['openid', 'profile', 'scöpe:read'],
    expiresAt: inMs(600_000),
    interval: 5,
    lastPolledAt: null,
    status: 'pending',
    userId: null,
    grantId: rid('family'),
    ...overrides,
  };
}

function checkDate(actual: unknown, expected: Date | null, what: string): void {
  if (expected === null) {
    assert.equal(actual, null, `${what} must come back as null, got ${String(actual)}`);
    return;
  }
  assert.ok(actual instanceof Date, `${what} must come back as a Date, got ${typeof actual} ${String(actual)}`);
  assert.equal(
    actual.getTime(),
    expected.getTime(),
    `${what} must equal the saved Date to the millisecond (saved ${expected.toISOString()}, got ${Number.isNaN(actual.getTime()) ? 'Invalid Date' : actual.toISOString()})`,
  );
}

/** Asserts that a device record equals the expected one, field by field. */
export function assertDeviceCode(actual: DeviceCodeRecord | null | undefined, expected: DeviceCodeRecord, what: string): void {
  assert.ok(actual, `${what}: expected the device request ${expected.userCode}, got ${String(actual)}`);
  assert.equal(actual.deviceCode, expected.deviceCode, `${what}: deviceCode`);
  assert.equal(actual.userCode, expected.userCode, `${what}: userCode`);
  assert.equal(actual.clientId, expected.clientId, `${what}: clientId`);
  assert.ok(Array.isArray(actual.scopes), `${what}: scopes must be an array, got ${JSON.stringify(actual.scopes)}`);
  assert.deepEqual([...actual.scopes], [...expected.scopes], `${what}: scopes must round-trip in order`);
  checkDate(actual.expiresAt, expected.expiresAt, `${what}: expiresAt`);
  assert.equal(actual.interval, expected.interval, `${what}: interval`);
  checkDate(actual.lastPolledAt, expected.lastPolledAt, `${what}: lastPolledAt`);
  assert.equal(actual.status, expected.status, `${what}: status`);
  assert.equal(actual.userId, expected.userId, `${what}: userId`);
  assert.equal(actual.grantId, expected.grantId, `${what}: grantId`);
}

async function saved(store: DeviceCodeStore, overrides: Partial<DeviceCodeRecord> = {}): Promise<DeviceCodeRecord> {
  const record = makeDeviceCode(overrides);
  assert.equal(await store.saveDeviceCode(structuredClone(record)), true, 'saveDeviceCode of a new request must return true');
  return record;
}

/** Saves a request that expires in `ms` (at least 300 ms: room for the store to answer first). */
async function shortLived(store: DeviceCodeStore, ms = 400, overrides: Partial<DeviceCodeRecord> = {}): Promise<DeviceCodeRecord> {
  return saved(store, { expiresAt: new Date(Date.now() + ms), ...overrides });
}

const n = (ctx: DeviceCheckContext) => ctx.concurrency ?? 20;

/** Every check of the device suite, by key. */
export const deviceChecks = {
  fieldsRoundTrip: check<DeviceCheckContext>(
    'every field round-trips through save, find, recordPoll, decide and consume (Dates to the millisecond)',
    async ({ store }) => {
      const record = await saved(store, { interval: 7 });
      assertDeviceCode(await store.findDeviceCode(record.userCode), record, 'findDeviceCode after saveDeviceCode');
      const polledAt = new Date(Date.now() - 60_000 + 321);
      assertDeviceCode(
        await store.recordPoll(record.clientId, record.deviceCode, polledAt),
        record,
        'recordPoll (the record before the poll)',
      );
      const polled = { ...record, lastPolledAt: polledAt };
      assertDeviceCode(await store.findDeviceCode(record.userCode), polled, 'findDeviceCode after recordPoll');
      const approved = { ...polled, status: 'approved' as const, userId: 'user-Zoë 🔑', scopes: ['profile'] };
      assertDeviceCode(
        await store.decideDeviceCode(record.userCode, { approved: true, userId: approved.userId, scopes: ['profile'] }),
        approved,
        'decideDeviceCode (approved, fewer scopes granted)',
      );
      assertDeviceCode(await store.findDeviceCode(record.userCode), approved, 'findDeviceCode after the approval');
      assertDeviceCode(await store.consumeDeviceCode(record.clientId, record.deviceCode), approved, 'consumeDeviceCode');
      assertDeviceCode(await store.findDeviceCode(record.userCode), { ...approved, status: 'consumed' }, 'findDeviceCode after consume');

      const denied = await saved(store, { scopes: [] });
      assertDeviceCode(await store.findDeviceCode(denied.userCode), denied, 'a request with no scopes');
      const expected = { ...denied, status: 'denied' as const, userId: null };
      assertDeviceCode(await store.decideDeviceCode(denied.userCode, { approved: false, userId: null }), expected, 'a denial with no user');
      assertDeviceCode(await store.findDeviceCode(denied.userCode), expected, 'findDeviceCode after the denial');
    },
  ),

  authTime: check<DeviceCheckContext>(
    "an approval's authTime (the auth_time of RFC 9068) is kept to the millisecond through decide, find and consume; one without it leaves none",
    async ({ store }) => {
      const authTime = sampleAuthTime();
      const known = await saved(store);
      assertAuthTime((await store.findDeviceCode(known.userCode))?.authTime, undefined, 'a pending request');
      const decided = await store.decideDeviceCode(known.userCode, { approved: true, userId: 'u1', scopes: [...known.scopes], authTime });
      assertAuthTime(decided?.authTime, authTime, 'decideDeviceCode (approved with authTime)');
      assertAuthTime((await store.findDeviceCode(known.userCode))?.authTime, authTime, 'findDeviceCode after the approval');
      assertAuthTime((await store.consumeDeviceCode(known.clientId, known.deviceCode))?.authTime, authTime, 'consumeDeviceCode');

      const unknown = await saved(store);
      const plain = await store.decideDeviceCode(unknown.userCode, { approved: true, userId: 'u2', scopes: [] });
      assertAuthTime(plain?.authTime, undefined, 'decideDeviceCode (approved without authTime)');
      assertAuthTime(
        (await store.consumeDeviceCode(unknown.clientId, unknown.deviceCode))?.authTime,
        undefined,
        'consumeDeviceCode without authTime',
      );

      const denied = await saved(store);
      assertAuthTime((await store.decideDeviceCode(denied.userCode, { approved: false, userId: 'u3' }))?.authTime, undefined, 'a denial');
    },
  ),

  saveAndFind: check<DeviceCheckContext>(
    'saveDeviceCode refuses a user code a live request holds; findDeviceCode finds by user code only',
    async ({ store }) => {
      const first = await saved(store);
      const clash = makeDeviceCode({ userCode: first.userCode });
      assert.equal(await store.saveDeviceCode(clash), false, 'saveDeviceCode must return false for a user code a live request holds');
      assertDeviceCode(await store.findDeviceCode(first.userCode), first, 'the first request after a refused save');
      assert.equal(
        await store.recordPoll(clash.clientId, clash.deviceCode, new Date()),
        null,
        'a refused save must save nothing (its device code is unknown)',
      );
      assert.equal(await store.findDeviceCode(makeUserCode()), null, 'findDeviceCode of an unknown user code must give null');
      assert.equal(await store.findDeviceCode(first.deviceCode), null, 'findDeviceCode must not find a request by its device code');
      assert.equal(await store.findDeviceCode(first.userCode.toLowerCase()), null, 'findDeviceCode must match the user code exactly');
      // Two requests side by side stay apart.
      const second = await saved(store, { clientId: first.clientId });
      assertDeviceCode(await store.findDeviceCode(second.userCode), second, 'a second request of the same client');
      assertDeviceCode(await store.findDeviceCode(first.userCode), first, 'the first request beside the second');
    },
  ),

  recordPoll: check<DeviceCheckContext>(
    'recordPoll returns the record before the poll and adds 5 s to the interval only for a poll that came too soon',
    async ({ store }) => {
      const record = await saved(store);
      assert.equal(await store.recordPoll(record.clientId, makeDeviceCode().deviceCode, new Date()), null, 'an unknown device code');
      assert.equal(await store.recordPoll(rid('other-client'), record.deviceCode, new Date()), null, "another client's device code");
      assertDeviceCode(await store.findDeviceCode(record.userCode), record, 'the record after polls that named it wrongly');
      const t0 = Date.now() - 120_000 + 17;
      const at = (ms: number) => new Date(t0 + ms);
      assertDeviceCode(await store.recordPoll(record.clientId, record.deviceCode, at(0)), record, 'the first poll');
      // Exactly the interval later: not too soon.
      assertDeviceCode(
        await store.recordPoll(record.clientId, record.deviceCode, at(5000)),
        { ...record, lastPolledAt: at(0) },
        'a poll exactly 5 s after the first',
      );
      // 1 ms short of the interval: too soon, the interval grows to 10.
      assertDeviceCode(
        await store.recordPoll(record.clientId, record.deviceCode, at(9999)),
        { ...record, lastPolledAt: at(5000) },
        'a poll 4.999 s after the previous',
      );
      assertDeviceCode(
        await store.findDeviceCode(record.userCode),
        { ...record, lastPolledAt: at(9999), interval: 10 },
        'after a poll that came too soon (interval + 5)',
      );
      // 9.999 s later is too soon for 10 s; 15 s after that is not.
      await store.recordPoll(record.clientId, record.deviceCode, at(19_998));
      assertDeviceCode(
        await store.recordPoll(record.clientId, record.deviceCode, at(34_998)),
        { ...record, lastPolledAt: at(19_998), interval: 15 },
        'the interval grows again and then holds',
      );
      assertDeviceCode(
        await store.findDeviceCode(record.userCode),
        { ...record, lastPolledAt: at(34_998), interval: 15 },
        'after a poll that waited the grown interval',
      );
    },
  ),

  recordPollConcurrent: check<DeviceCheckContext>(
    'recordPoll is atomic: of N concurrent polls each sees the state the one before left',
    async (ctx) => {
      const { store } = ctx;
      const count = n(ctx);
      const record = await saved(store);
      const base = Date.now() - 30_000;
      const times = Array.from({ length: count }, (_, i) => new Date(base + i * 7 + 1));
      let i = 0;
      const seen = await concurrently(count, () => store.recordPoll(record.clientId, record.deviceCode, times[i++]!));
      for (const s of seen) assert.ok(s, 'every concurrent poll of a known device code must get the record');
      const previous = seen.map((s) => s!.lastPolledAt?.getTime() ?? null);
      assert.equal(
        previous.filter((p) => p === null).length,
        1,
        `exactly one poll must see no previous poll, got ${JSON.stringify(previous)}`,
      );
      const prior = previous.filter((p): p is number => p !== null);
      assert.equal(
        new Set(prior).size,
        prior.length,
        `each poll must see a distinct previous poll (lost updates), got ${JSON.stringify(prior)}`,
      );
      const polled = new Set(times.map((d) => d.getTime()));
      for (const p of prior) assert.ok(polled.has(p), `a previous poll time must be one of the polls, got ${p}`);
      // All polls are within ms of each other: every one after the first came too soon.
      const intervals = seen.map((s) => s!.interval).sort((a, b) => a - b);
      const expected = [5, ...Array.from({ length: count - 1 }, (_, k) => 5 + k * 5)];
      assert.deepEqual(intervals, expected, 'the intervals seen must grow by 5 per poll after the first (no lost update)');
      const after = await store.findDeviceCode(record.userCode);
      assert.equal(after?.interval, 5 * count, `after ${count} polls in a burst the interval must be ${5 * count}`);
      const last = after?.lastPolledAt?.getTime();
      assert.ok(last !== undefined && polled.has(last) && !prior.includes(last), 'lastPolledAt must be the poll no other poll saw');
    },
  ),

  decideOnce: check<DeviceCheckContext>('decideDeviceCode decides once; a second decision is refused', async (ctx) => {
    const { store } = ctx;
    const record = await saved(store);
    const approved = await store.decideDeviceCode(record.userCode, { approved: true, userId: 'u1', scopes: ['openid'] });
    assertDeviceCode(approved, { ...record, status: 'approved', userId: 'u1', scopes: ['openid'] }, 'the first decision');
    assert.equal(await store.decideDeviceCode(record.userCode, { approved: false, userId: 'u2' }), null, 'a denial after an approval');
    assert.equal(
      await store.decideDeviceCode(record.userCode, { approved: true, userId: 'u2', scopes: ['profile'] }),
      null,
      'a second approval',
    );
    assertDeviceCode(
      await store.findDeviceCode(record.userCode),
      { ...record, status: 'approved', userId: 'u1', scopes: ['openid'] },
      'after refused decisions',
    );
    assert.equal(await store.decideDeviceCode(makeUserCode(), { approved: false, userId: null }), null, 'an unknown user code');

    const denied = await saved(store);
    assert.ok(await store.decideDeviceCode(denied.userCode, { approved: false, userId: 'u3' }), 'a denial');
    assert.equal(
      await store.decideDeviceCode(denied.userCode, { approved: true, userId: 'u3', scopes: [] }),
      null,
      'an approval after a denial',
    );

    // N concurrent decisions: exactly one lands.
    const raced = await saved(store);
    let k = 0;
    const answers = await concurrently(n(ctx), () => {
      const j = k++;
      return store.decideDeviceCode(
        raced.userCode,
        j % 2 ? { approved: false, userId: `u-${j}` } : { approved: true, userId: `u-${j}`, scopes: ['openid'] },
      );
    });
    const winners = answers.filter((a) => a !== null);
    assert.equal(winners.length, 1, `exactly one of ${answers.length} concurrent decisions must land, ${winners.length} did`);
    assertDeviceCode(await store.findDeviceCode(raced.userCode), winners[0]!, 'the stored decision is the winner');
  }),

  consumeOnce: check<DeviceCheckContext>(
    'consumeDeviceCode: of N concurrent consumers exactly one gets the approved record',
    async (ctx) => {
      const { store } = ctx;
      const record = await saved(store);
      assert.equal(await store.consumeDeviceCode(record.clientId, record.deviceCode), null, 'consuming a pending request');
      await store.decideDeviceCode(record.userCode, { approved: true, userId: 'u1', scopes: ['openid', 'profile'] });
      const approved = { ...record, status: 'approved' as const, userId: 'u1', scopes: ['openid', 'profile'] };
      assert.equal(await store.consumeDeviceCode(rid('other-client'), record.deviceCode), null, "another client's device code");
      assert.equal(await store.consumeDeviceCode(record.clientId, makeDeviceCode().deviceCode), null, 'an unknown device code');
      const answers = await concurrently(n(ctx), () => store.consumeDeviceCode(record.clientId, record.deviceCode));
      const winners = answers.filter((a) => a !== null);
      assert.equal(winners.length, 1, `exactly one of ${answers.length} concurrent consumers must win, ${winners.length} did`);
      assertDeviceCode(winners[0], approved, 'the winner gets the approved record');
      assert.equal(await store.consumeDeviceCode(record.clientId, record.deviceCode), null, 'a consume after the winner');
      const polled = await store.recordPoll(record.clientId, record.deviceCode, new Date());
      assert.equal(polled?.status, 'consumed', 'a poll after the consume must see the status consumed');

      const denied = await saved(store);
      await store.decideDeviceCode(denied.userCode, { approved: false, userId: 'u1' });
      assert.equal(await store.consumeDeviceCode(denied.clientId, denied.deviceCode), null, 'consuming a denied request');
    },
  ),

  expiry: check<DeviceCheckContext>(
    'an expired request is absent to find, decide, consume and saveDeviceCode; recordPoll may still return it',
    async ({ store }) => {
      const pending = await shortLived(store);
      const approved = await shortLived(store);
      assert.ok(
        await store.decideDeviceCode(approved.userCode, { approved: true, userId: 'u1', scopes: [] }),
        'deciding before expiry (the store answered within 300 ms?)',
      );
      assertDeviceCode(await store.findDeviceCode(pending.userCode), pending, 'before expiry');
      await sleepPast(approved.expiresAt);
      assert.equal(await store.findDeviceCode(pending.userCode), null, 'findDeviceCode of an expired request');
      assert.equal(await store.decideDeviceCode(pending.userCode, { approved: false, userId: null }), null, 'deciding an expired request');
      assert.equal(await store.consumeDeviceCode(approved.clientId, approved.deviceCode), null, 'consuming an expired approved request');
      const polled = await store.recordPoll(pending.clientId, pending.deviceCode, new Date());
      if (polled !== null) assertDeviceCode(polled, pending, 'recordPoll of an expired request (kept so core answers expired_token)');
      // The user code of an expired request is free again.
      const reuse = makeDeviceCode({ userCode: pending.userCode });
      assert.equal(await store.saveDeviceCode(reuse), true, 'saveDeviceCode with the user code of an expired request');
      assertDeviceCode(await store.findDeviceCode(pending.userCode), reuse, 'the new request holding the freed user code');
      const old = await store.recordPoll(pending.clientId, pending.deviceCode, new Date());
      if (old !== null) assert.equal(old.deviceCode, pending.deviceCode, 'a poll of the expired request must not give the new one');
    },
  ),

  copies: check<DeviceCheckContext>('records given to or taken from the store are copies', async ({ store }) => {
    const record = makeDeviceCode();
    const kept = structuredClone(record);
    await store.saveDeviceCode(record);
    (record.scopes as string[]).push('admin');
    record.expiresAt.setTime(Date.now() + 999_999_999);
    assertDeviceCode(await store.findDeviceCode(kept.userCode), kept, 'after the caller changed the record it saved');
    const out = (await store.findDeviceCode(kept.userCode))!;
    (out.scopes as string[]).push('admin');
    out.expiresAt.setTime(0);
    (out as { status: string }).status = 'approved';
    assertDeviceCode(await store.findDeviceCode(kept.userCode), kept, 'after the caller changed a record findDeviceCode gave');
    const prev = (await store.recordPoll(kept.clientId, kept.deviceCode, new Date(Date.now() - 1000)))!;
    const polledAt = new Date(Date.now() + 3);
    await store.recordPoll(kept.clientId, kept.deviceCode, polledAt);
    prev.lastPolledAt?.setTime(0);
    const decided = (await store.decideDeviceCode(kept.userCode, { approved: true, userId: 'u', scopes: ['a'] }))!;
    (decided.scopes as string[]).push('admin');
    const expected = { ...kept, status: 'approved' as const, userId: 'u', scopes: ['a'], lastPolledAt: polledAt, interval: 10 };
    assertDeviceCode(await store.findDeviceCode(kept.userCode), expected, 'after the caller changed records recordPoll and decide gave');
  }),
} satisfies Record<string, Check<DeviceCheckContext>>;

/** Registers the device-code-store contract tests (RFC 8628 device authorization requests). */
export function deviceCodeStoreSuite(t: TestApi, options: DeviceSuiteOptions): void {
  registerSuite(
    t,
    label('DeviceCodeStore', options.name),
    Object.values(deviceChecks),
    async () => ({ store: await options.create(), concurrency: options.concurrency }),
    options.destroy,
  );
}
