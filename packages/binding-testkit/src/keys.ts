import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { KeyStore, SigningKeyRecord } from '@portcullis/core';
import { type Check, check, concurrently, label, registerSuite, rid, type TestApi } from './shared.js';

/** Options of `keyStoreSuite`. */
export interface KeySuiteOptions {
  /** Shown in test titles. */
  name: string;
  /**
   * Called once, in `beforeAll`; the suite's tests share the store. Each check touches only the
   * keys it adds (random kids) and removes them again, but `removeRetiredKeys` works on the whole
   * set: give the suite a store no provider signs from at the same time.
   */
  create: () => Promise<KeyStore>;
  /** Called once, in `afterAll`: close clients and servers. */
  destroy?: () => Promise<void>;
}

/** What each key check runs against. */
export interface KeyCheckContext {
  store: KeyStore;
}

/** Long ago: the checks retire their keys here to remove them, far before any real key's retirement. */
const EPOCH = Date.UTC(2001, 2, 3, 4, 5, 6, 789);

const b64u = (bytes: number) => randomBytes(bytes).toString('base64url');

/**
 * A signing key with a random kid, a P-256 public JWK (as core publishes it) and a compact-JWE
 * shaped private key; dates with a non-zero millisecond part, to catch stores that round.
 */
export function makeSigningKey(overrides: Partial<SigningKeyRecord> = {}): SigningKeyRecord {
  const kid = overrides.kid ?? rid('kid');
  const now = Date.now();
  return {
    kid,
    alg: 'ES256',
    publicJwk: { kty: 'EC', crv: 'P-256', x: b64u(32), y: b64u(32), kid, alg: 'ES256', use: 'sig' },
    // `dir` + A256GCM: header.(empty encrypted key).iv.ciphertext.tag, about the size of an RSA key's.
    privateKey: `eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..${b64u(12)}.${b64u(2400)}.${b64u(16)}`,
    createdAt: new Date(Math.floor(now / 1000) * 1000 + 123),
    activatesAt: new Date(Math.floor(now / 1000) * 1000 + 120_456),
    retiresAt: null,
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

/** Asserts that a listed key equals the added one, field by field. */
export function assertSigningKey(actual: SigningKeyRecord | null | undefined, expected: SigningKeyRecord, what: string): void {
  assert.ok(actual, `${what}: expected the key ${JSON.stringify(expected.kid)} in listKeys(), it is missing`);
  assert.equal(actual.kid, expected.kid, `${what}: kid`);
  assert.equal(actual.alg, expected.alg, `${what}: alg`);
  assert.deepEqual(actual.publicJwk, expected.publicJwk, `${what}: publicJwk must round-trip (deep-equal)`);
  assert.equal(typeof actual.privateKey, 'string', `${what}: privateKey must come back as a string`);
  assert.ok(
    Buffer.from(actual.privateKey, 'utf8').equals(Buffer.from(expected.privateKey, 'utf8')),
    `${what}: privateKey must round-trip byte for byte (saved ${expected.privateKey.length} chars, got ${actual.privateKey.length})`,
  );
  checkDate(actual.createdAt, expected.createdAt, `${what}: createdAt`);
  checkDate(actual.activatesAt, expected.activatesAt, `${what}: activatesAt`);
  checkDate(actual.retiresAt, expected.retiresAt, `${what}: retiresAt`);
}

async function find(store: KeyStore, kid: string): Promise<SigningKeyRecord | undefined> {
  const keys = await store.listKeys();
  assert.ok(Array.isArray(keys), `listKeys() must give an array, got ${typeof keys}`);
  const matches = keys.filter((k) => k.kid === kid);
  assert.ok(matches.length <= 1, `listKeys() must give each kid once, ${JSON.stringify(kid)} came ${matches.length} times`);
  return matches[0];
}

/** Removes the keys a check added: retires them long ago, then removes what retired before then. */
async function cleanUp(store: KeyStore, kids: readonly string[]): Promise<void> {
  for (const kid of kids) await store.retireKey(kid, new Date(EPOCH));
  await store.removeRetiredKeys(new Date(EPOCH + 1));
}

async function added(store: KeyStore, ...keys: SigningKeyRecord[]): Promise<SigningKeyRecord[]> {
  for (const k of keys) await store.addKey(k);
  return keys;
}

/** Every check of the key suite, by key. */
export const keyChecks = {
  fieldsRoundTrip: check<KeyCheckContext>('addKey then listKeys gives every field back (Dates to the millisecond)', async ({ store }) => {
    const live = makeSigningKey();
    const retired = makeSigningKey({ alg: 'EdDSA', retiresAt: new Date(Date.now() + 3_600_000 + 7) });
    const rsa = makeSigningKey({
      alg: 'RS256',
      publicJwk: { kty: 'RSA', n: b64u(256), e: 'AQAB', kid: 'rsa', alg: 'RS256', use: 'sig', key_ops: ['verify'], 'x-note': 'Zoë 🔑' },
    });
    await added(store, live, retired, rsa);
    assertSigningKey(await find(store, live.kid), live, 'an active key');
    assertSigningKey(await find(store, retired.kid), retired, 'a key with retiresAt');
    assertSigningKey(await find(store, rsa.kid), rsa, 'an RS256 key with a large, nested publicJwk');
    await cleanUp(store, [live.kid, retired.kid, rsa.kid]);
  }),

  addKeyKeepsExisting: check<KeyCheckContext>('addKey with a kid that exists resolves and does not overwrite it', async ({ store }) => {
    const first = makeSigningKey();
    await store.addKey(first);
    const second = makeSigningKey({ kid: first.kid, alg: 'RS256', createdAt: new Date(EPOCH), retiresAt: new Date(EPOCH + 5) });
    await store.addKey(second);
    assertSigningKey(await find(store, first.kid), first, 'after a second addKey with the same kid');
    await cleanUp(store, [first.kid]);
  }),

  retireKey: check<KeyCheckContext>('retireKey sets retiresAt of that key only; an unknown kid is a no-op', async ({ store }) => {
    const [a, b] = await added(store, makeSigningKey(), makeSigningKey());
    const at = new Date(Date.now() + 120_000 + 321);
    await store.retireKey(a!.kid, at);
    assertSigningKey(await find(store, a!.kid), { ...a!, retiresAt: at }, 'the retired key');
    assertSigningKey(await find(store, b!.kid), b!, 'the other key');
    const before = (await store.listKeys()).map((k) => k.kid).sort();
    const unknown = rid('kid');
    await store.retireKey(unknown, at);
    assert.equal(await find(store, unknown), undefined, 'retireKey of an unknown kid must not add a key');
    assert.deepEqual((await store.listKeys()).map((k) => k.kid).sort(), before, 'retireKey of an unknown kid must change nothing');
    assertSigningKey(await find(store, b!.kid), b!, 'the other key after retiring an unknown kid');
    // Retiring again moves the date (core retires once, but the store must not ignore it).
    const later = new Date(at.getTime() + 1);
    await store.retireKey(a!.kid, later);
    assertSigningKey(await find(store, a!.kid), { ...a!, retiresAt: later }, 'a key retired twice');
    await cleanUp(store, [a!.kid, b!.kid]);
  }),

  removeRetiredKeys: check<KeyCheckContext>(
    'removeRetiredKeys removes only keys retired before the cutoff and returns how many',
    async ({ store }) => {
      const cutoff = new Date(EPOCH + 86_400_000);
      await store.removeRetiredKeys(cutoff); // leftovers of an earlier, interrupted run
      const longBefore = makeSigningKey({ retiresAt: new Date(EPOCH + 10) });
      const justBefore = makeSigningKey({ retiresAt: new Date(cutoff.getTime() - 1) });
      const atCutoff = makeSigningKey({ retiresAt: new Date(cutoff.getTime()) });
      const justAfter = makeSigningKey({ retiresAt: new Date(cutoff.getTime() + 1) });
      const live = makeSigningKey();
      await added(store, longBefore, justBefore, atCutoff, justAfter, live);
      const removed = await store.removeRetiredKeys(cutoff);
      assert.equal(removed, 2, `removeRetiredKeys must return the number removed (2), got ${String(removed)}`);
      assert.equal(await find(store, longBefore.kid), undefined, 'a key retired long before the cutoff must be removed');
      assert.equal(await find(store, justBefore.kid), undefined, 'a key retired 1 ms before the cutoff must be removed');
      assertSigningKey(await find(store, atCutoff.kid), atCutoff, 'a key retired exactly at the cutoff stays (before is strict)');
      assertSigningKey(await find(store, justAfter.kid), justAfter, 'a key retired 1 ms after the cutoff stays');
      assertSigningKey(await find(store, live.kid), live, 'a key not retired stays');
      assert.equal(await store.removeRetiredKeys(cutoff), 0, 'a second removeRetiredKeys with the same cutoff must return 0');
      await cleanUp(store, [atCutoff.kid, justAfter.kid, live.kid]);
    },
  ),

  listKeysGivesCopies: check<KeyCheckContext>(
    'records given to addKey or taken from listKeys are copies: changing them does not change the store',
    async ({ store }) => {
      const key = makeSigningKey({ retiresAt: new Date(Date.now() + 60_000 + 1) });
      const saved = structuredClone(key);
      await store.addKey(key);
      // The caller changes what it passed in.
      const given = key as unknown as Record<string, unknown> & { publicJwk: Record<string, unknown> };
      given.publicJwk.x = 'changed-after-addKey';
      key.createdAt.setTime(EPOCH);
      given.privateKey = 'changed';
      assertSigningKey(await find(store, key.kid), saved, 'after the caller changed the record it added');
      // The caller changes what it was given.
      const out = (await find(store, key.kid)) as unknown as Record<string, unknown> & {
        publicJwk: Record<string, unknown>;
        activatesAt: Date;
        retiresAt: Date;
      };
      out.publicJwk.x = 'changed-after-listKeys';
      out.activatesAt.setTime(EPOCH);
      out.retiresAt.setTime(EPOCH);
      out.alg = 'none';
      out.retiresAt = null as unknown as Date;
      assertSigningKey(await find(store, key.kid), saved, 'after the caller changed a record listKeys gave');
      await cleanUp(store, [key.kid]);
    },
  ),

  concurrentAddKey: check<KeyCheckContext>('20 concurrent addKey calls with distinct kids all land', async ({ store }) => {
    const keys = Array.from({ length: 20 }, () => makeSigningKey());
    let i = 0;
    await concurrently(keys.length, () => store.addKey(keys[i++]!));
    const listed = await store.listKeys();
    for (const k of keys) {
      assertSigningKey(
        listed.find((l) => l.kid === k.kid),
        k,
        'a key added concurrently',
      );
    }
    await cleanUp(
      store,
      keys.map((k) => k.kid),
    );
  }),
} satisfies Record<string, Check<KeyCheckContext>>;

/** Registers the signing-key-store contract tests. */
export function keyStoreSuite(t: TestApi, options: KeySuiteOptions): void {
  registerSuite(
    t,
    label('KeyStore', options.name),
    Object.values(keyChecks),
    async () => ({ store: await options.create() }),
    options.destroy,
  );
}
