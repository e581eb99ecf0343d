import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type {
  AccessTokenRecord,
  Consumed,
  StoreCapabilities as CoreStoreCapabilities,
  GrantRecord,
  RefreshTokenRecord,
} from '@portcullis/core';

/**
 * The few functions of a test runner the suites need. Pass vitest's
 * `{ describe, it, beforeAll, afterAll }`, or node:test's
 * `{ describe, it, beforeAll: before, afterAll: after }`.
 */
export interface TestApi {
  /** Groups the tests of one suite. */
  describe(name: string, fn: () => void): unknown;
  /** Registers one test. */
  it(name: string, fn: () => Promise<void>): unknown;
  /** Runs once before the suite's tests (the suite creates the store here). */
  beforeAll(fn: () => Promise<void>): unknown;
  /** Runs once after the suite's tests (the suite calls `destroy` here). */
  afterAll(fn: () => Promise<void>): unknown;
}

/**
 * What a store can do, so the suite holds it to exactly that: core's `StoreCapabilities`, which
 * each store declares as its `capabilities` property (`ttlGranularity`, `detectsReplay`).
 * Capabilities are data, never `if`s a binding author has to read inside the tests.
 */
export type StoreCapabilities = CoreStoreCapabilities;

/** What a store may carry: its declared `capabilities` and core's older top-level `detectsReplay`. */
interface Declaring {
  readonly capabilities?: unknown;
  readonly detectsReplay?: unknown;
}

/**
 * The capabilities a suite holds `store` to: the deprecated `override` option when given, else
 * what the store declares in `capabilities`. Throws, naming the suite, when neither says, when
 * the declaration is malformed (only the fields in `need` are read), or when the store's own
 * `capabilities.detectsReplay` and top-level `detectsReplay` disagree.
 */
export function resolveCapabilities<K extends keyof StoreCapabilities>(
  suite: string,
  store: Declaring,
  override: Pick<StoreCapabilities, K> | undefined,
  need: readonly K[],
): Pick<StoreCapabilities, K> {
  const declared = store.capabilities;
  if (declared !== undefined && store.detectsReplay !== undefined) {
    const own = (declared as { detectsReplay?: unknown } | null)?.detectsReplay;
    assert.equal(
      own,
      store.detectsReplay,
      `${suite}: the store declares capabilities.detectsReplay ${String(own)} but detectsReplay ${String(store.detectsReplay)}; they must agree`,
    );
  }
  const source = override ?? declared;
  const from = override ? 'the capabilities option' : "the store's capabilities";
  assert.ok(
    source !== undefined && source !== null && typeof source === 'object',
    `${suite}: the store declares no capabilities and no capabilities option was given. Declare them on the store: ` +
      `\`capabilities: { detectsReplay: boolean, ttlGranularity: 'ms' | 's' }\` (StoreCapabilities in @portcullis/core)`,
  );
  const caps = source as Partial<Record<keyof StoreCapabilities, unknown>>;
  const out: Partial<Record<keyof StoreCapabilities, unknown>> = {};
  for (const key of need) {
    const value = caps[key];
    const valid = key === 'detectsReplay' ? typeof value === 'boolean' : value === 'ms' || value === 's';
    assert.ok(
      valid,
      `${suite}: ${from} must give ${key} as ${key === 'detectsReplay' ? 'a boolean' : "'ms' or 's'"}, got ${JSON.stringify(value)}`,
    );
    out[key] = value;
  }
  return out as Pick<StoreCapabilities, K>;
}

/** One check of a suite, exported so a test can run it on its own (e.g. against a broken store). */
export interface Check<Ctx> {
  /** The test title the suite registers it under. */
  readonly title: string;
  /** Runs the check; rejects with an `AssertionError` when the store breaks the contract. */
  run(ctx: Ctx): Promise<void>;
}

/** Makes a `Check`. */
export function check<Ctx>(title: string, run: (ctx: Ctx) => Promise<void>): Check<Ctx> {
  return { title, run };
}

/**
 * Registers one suite under `title`: `context()` runs once in `beforeAll`, `destroy` once in
 * `afterAll`, and each check becomes one test run against the context.
 */
export function registerSuite<Ctx>(
  t: TestApi,
  title: string,
  checks: readonly Check<Ctx>[],
  context: () => Promise<Ctx>,
  destroy?: () => Promise<void>,
): void {
  t.describe(title, () => {
    let ctx: Ctx | undefined;
    t.beforeAll(async () => {
      ctx = await context();
    });
    t.afterAll(async () => {
      await destroy?.();
    });
    for (const c of checks) {
      t.it(c.title, async () => {
        assert.ok(ctx, 'create() did not run or failed');
        await c.run(ctx);
      });
    }
  });
}

/** A random id, unique per call, so tests never see each other's records. */
export function rid(prefix: string): string {
  return `${prefix}-${randomBytes(9).toString('base64url')}`;
}

/** A date `ms` from now with a non-zero millisecond part (789), to catch stores that round. */
export function inMs(ms: number): Date {
  return new Date(Math.ceil((Date.now() + ms) / 1000) * 1000 + 789);
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `date` has passed by `marginMs` (bounded: the dates the suite makes are near). */
export async function sleepPast(date: Date, marginMs = 60): Promise<void> {
  const wait = date.getTime() - Date.now() + marginMs;
  assert.ok(wait < 10_000, 'sleepPast: refusing to wait more than 10 s');
  if (wait > 0) await sleep(wait);
}

/** How far ahead a short-lived record expires for each TTL granularity. */
export function shortLife(granularity: 'ms' | 's'): number {
  return granularity === 's' ? 1500 : 200;
}

/** `expiresAt` for a short-lived record: exact milliseconds, no rounding to a whole second. */
export function shortExpiry(granularity: 'ms' | 's'): Date {
  return new Date(Date.now() + shortLife(granularity));
}

/** Codes and tokens that break naive stores: empty, 8 KiB, non-ASCII, near-duplicates. */
export function oddKeys(): { label: string; key: string }[] {
  const salt = randomBytes(6).toString('hex');
  const long = `${salt}${'x'.repeat(8192 - salt.length - 1)}Y`;
  return [
    { label: 'empty', key: '' },
    { label: '8 KiB', key: long },
    { label: '8 KiB differing only in the last character', key: `${long.slice(0, -1)}Z` },
    { label: 'emoji', key: `🔑🚪-${salt}-👍🏽` },
    { label: 'CJK', key: `門の鍵-${salt}-认证码` },
    { label: 'control characters', key: `\t\x01\x1f\x7f-${salt}-\r\n` },
    { label: 'lower case', key: `abc-${salt}` },
    { label: 'upper case', key: `ABC-${salt}` },
    { label: 'trailing space', key: `abc-${salt} ` },
    { label: 'composed é', key: `caf\u00e9-${salt}` },
    { label: 'decomposed é', key: `cafe\u0301-${salt}` },
    { label: 'separator characters', key: `:|/\\%*?#{}[]"'-${salt}` },
  ];
}

/** Test-title suffix naming the store. */
export function label(kind: string, name: string): string {
  return `${kind} contract: ${name}`;
}

/**
 * Asserts an optional `authTime` came back as saved: a `Date` equal to the millisecond when
 * `expected` is set, and absent (`undefined`: not `null`) when the saved record had none. A store
 * that drops it loses the `auth_time` claim of the JWT access tokens minted from the record.
 */
export function assertAuthTime(actual: unknown, expected: Date | undefined, what: string): void {
  if (expected === undefined) {
    assert.strictEqual(actual, undefined, `${what}: authTime was not saved, so it must come back absent (not null), got ${String(actual)}`);
    return;
  }
  assert.ok(actual instanceof Date, `${what}: authTime must come back as a Date, got ${typeof actual} ${String(actual)}`);
  assert.equal(
    actual.getTime(),
    expected.getTime(),
    `${what}: authTime must equal the saved Date to the millisecond (saved ${expected.toISOString()}, got ${Number.isNaN(actual.getTime()) ? 'Invalid Date' : actual.toISOString()})`,
  );
}

/** A past time with arbitrary milliseconds, as an `authTime`. */
export function sampleAuthTime(): Date {
  return new Date(Date.now() - 3_600_000 - Math.floor(Math.random() * 1_000_000));
}

/** Absent in a raw store: `null` or `undefined`. */
export function isAbsent(raw: unknown): boolean {
  return raw === null || raw === undefined;
}

function describeKey(key: string): string {
  return key.length > 40 ? `${JSON.stringify(key.slice(0, 40))}… (${key.length} chars)` : JSON.stringify(key);
}

function checkDate(actual: unknown, expected: Date, what: string): void {
  assert.ok(actual instanceof Date, `${what}: expiresAt must come back as a Date, got ${typeof actual} ${String(actual)}`);
  assert.equal(
    actual.getTime(),
    expected.getTime(),
    `${what}: expiresAt must equal the saved Date to the millisecond (saved ${expected.toISOString()}, got ${Number.isNaN(actual.getTime()) ? 'Invalid Date' : actual.toISOString()})`,
  );
}

function checkScopes(actual: unknown, expected: readonly string[], what: string): void {
  assert.ok(Array.isArray(actual), `${what}: scopes must be an array, got ${JSON.stringify(actual)}`);
  assert.deepEqual([...actual], [...expected], `${what}: scopes must round-trip in order`);
}

/** Asserts that a returned grant equals the saved one, field by field. */
export function assertGrant(actual: GrantRecord | null | undefined, expected: GrantRecord, what: string): void {
  assert.ok(actual, `${what}: expected the grant for code ${describeKey(expected.code)}, got ${String(actual)}`);
  checkDate(actual.expiresAt, expected.expiresAt, what);
  checkScopes(actual.scopes, expected.scopes, what);
  const pick = (g: GrantRecord) => ({
    code: g.code,
    clientId: g.clientId,
    userId: g.userId,
    redirectUri: g.redirectUri,
    grantId: g.grantId,
    codeChallenge: g.codeChallenge,
    codeChallengeMethod: g.codeChallengeMethod,
  });
  assert.deepEqual(pick(actual), pick(expected), `${what}: grant fields must round-trip`);
}

/** Asserts that a returned access or refresh token equals the saved one, field by field. */
export function assertToken(
  actual: AccessTokenRecord | RefreshTokenRecord | null | undefined,
  expected: AccessTokenRecord | RefreshTokenRecord,
  what: string,
): void {
  assert.ok(actual, `${what}: expected the token ${describeKey(expected.token)}, got ${String(actual)}`);
  checkDate(actual.expiresAt, expected.expiresAt, what);
  checkScopes(actual.scopes, expected.scopes, what);
  const pick = (t: AccessTokenRecord | RefreshTokenRecord) => ({
    token: t.token,
    clientId: t.clientId,
    userId: t.userId,
    grantId: t.grantId,
  });
  assert.deepEqual(pick(actual), pick(expected), `${what}: token fields must round-trip`);
}

/**
 * Asserts that a consume handed out the live record (`consumed`) and that `assertRecord` finds
 * it equal to `expected`; `whenNull` says what a `null` means.
 */
export function assertConsumedRecord<T>(
  result: Consumed<T> | null,
  expected: T,
  assertRecord: (actual: T | null, expected: T, what: string) => void,
  whenNull: string,
  what: string,
): void {
  assert.ok(result, `${what}: ${whenNull}`);
  assert.equal(result.outcome, 'consumed', `${what}: expected outcome 'consumed', got ${JSON.stringify(result)}`);
  assertRecord(result.outcome === 'consumed' ? result.record : null, expected, what);
}

/**
 * Asserts what consuming an already consumed record gives: `{ outcome: 'replayed', grantId }`
 * when the store detects replay, else `null`. `replayed` and `spent` name the record in messages.
 */
export function assertSpentRecord(
  result: Consumed<unknown> | null,
  grantId: string,
  capabilities: StoreCapabilities,
  names: { replayed: string; spent: string },
  what: string,
): void {
  if (capabilities.detectsReplay) {
    assert.deepEqual(
      result,
      { outcome: 'replayed', grantId },
      `${what}: a store that detects replay must answer { outcome: 'replayed', grantId } for ${names.replayed}`,
    );
  } else {
    assert.equal(result, null, `${what}: ${names.spent} must give null (detectsReplay is false)`);
  }
}

/** Runs `fn` `n` times at once and returns every result. */
export function concurrently<T>(n: number, fn: () => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: n }, fn));
}

export { describeKey };
