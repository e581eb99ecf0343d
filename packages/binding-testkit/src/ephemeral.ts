import assert from 'node:assert/strict';
import type { EphemeralStore } from '@portcullis/core';
import { type Check, check, concurrently, label, registerSuite, rid, sleepPast, type TestApi } from './shared.js';

/** Options of `ephemeralStoreSuite`. */
export interface EphemeralSuiteOptions {
  /** Shown in test titles. */
  name: string;
  /** Called once, in `beforeAll`; the checks share the store, each with its own random keys. */
  create: () => Promise<EphemeralStore>;
  /** Called once, in `afterAll`: close clients and servers. */
  destroy?: () => Promise<void>;
  /** Concurrent callers in the atomicity checks. Default 20. */
  concurrency?: number;
}

/** What each ephemeral-store check runs against. */
export interface EphemeralCheckContext {
  store: EphemeralStore;
  /** Concurrent callers in the atomicity checks (default 20). */
  concurrency?: number;
}

/** A key shaped like core's (`par:` and a digest), unique per call. */
export function makeEphemeralKey(prefix = 'par'): string {
  return `${prefix}:${rid('k')}`;
}

const n = (ctx: EphemeralCheckContext) => ctx.concurrency ?? 20;
const inSeconds = (s: number) => new Date(Date.now() + s * 1000);

/** Every check of the ephemeral-store suite, by key. */
export const ephemeralChecks = {
  roundTrip: check<EphemeralCheckContext>('add, then get gives the value back, as often as asked', async ({ store }) => {
    const key = makeEphemeralKey();
    const value = JSON.stringify({ c: 'client-é', q: 'scope=read%20write&state=x', t: Date.now() });
    assert.equal(await store.add(key, value, inSeconds(60)), true, 'add of a new key must answer true');
    assert.equal(await store.get(key), value, 'get after add');
    assert.equal(await store.get(key), value, 'a second get (get must not use the record up)');
    assert.equal(await store.get(makeEphemeralKey()), null, 'get of an unknown key');
  }),

  addOnce: check<EphemeralCheckContext>('add of a key a live record holds answers false and changes nothing', async ({ store }) => {
    const key = makeEphemeralKey();
    assert.equal(await store.add(key, 'first', inSeconds(60)), true);
    assert.equal(await store.add(key, 'second', inSeconds(60)), false, 'add of a held key must answer false');
    assert.equal(await store.get(key), 'first', 'the first value stays');
  }),

  addConcurrent: check<EphemeralCheckContext>('of N concurrent adds of one key exactly one answers true', async (ctx) => {
    const key = makeEphemeralKey();
    let i = 0;
    const answers = await concurrently(n(ctx), () => ctx.store.add(key, `v${i++}`, inSeconds(60)));
    const winners = answers.filter((a) => a === true).length;
    assert.equal(winners, 1, `exactly one of ${answers.length} concurrent adds must win, ${winners} did`);
    assert.match((await ctx.store.get(key)) ?? '', /^v\d+$/, 'the winner’s value is held');
  }),

  takeOnce: check<EphemeralCheckContext>('take gives the value once, then the record is absent to get and take', async ({ store }) => {
    const key = makeEphemeralKey();
    await store.add(key, 'once', inSeconds(60));
    assert.equal(await store.take(key), 'once', 'take of a live record');
    assert.equal(await store.take(key), null, 'a second take');
    assert.equal(await store.get(key), null, 'get after take');
    assert.equal(await store.take(makeEphemeralKey()), null, 'take of an unknown key');
    // The key is free again after a take.
    assert.equal(await store.add(key, 'again', inSeconds(60)), true, 'add after take');
    assert.equal(await store.get(key), 'again');
  }),

  takeConcurrent: check<EphemeralCheckContext>('of N concurrent takes of one record exactly one gets the value', async (ctx) => {
    const key = makeEphemeralKey();
    await ctx.store.add(key, 'prize', inSeconds(60));
    const answers = await concurrently(n(ctx), () => ctx.store.take(key));
    const winners = answers.filter((a) => a !== null);
    assert.equal(winners.length, 1, `exactly one of ${answers.length} concurrent takes must win, ${winners.length} did`);
    assert.equal(winners[0], 'prize');
  }),

  expiry: check<EphemeralCheckContext>(
    'a record past expiresAt is absent to get and take, and its key is free to add',
    async ({ store }) => {
      const key = makeEphemeralKey();
      const other = makeEphemeralKey();
      const expiresAt = new Date(Date.now() + 400);
      assert.equal(await store.add(key, 'short', expiresAt), true);
      assert.equal(await store.add(other, 'short', expiresAt), true);
      assert.equal(await store.get(key), 'short', 'before expiry (the store answered within 400 ms?)');
      await sleepPast(expiresAt);
      assert.equal(await store.get(key), null, 'get of an expired record');
      assert.equal(await store.take(other), null, 'take of an expired record');
      assert.equal(await store.add(key, 'new', inSeconds(60)), true, 'add over an expired record must answer true');
      assert.equal(await store.get(key), 'new');
    },
  ),

  oddValues: check<EphemeralCheckContext>(
    'keys of 200 printable characters and values up to 64 KiB of any text come back exactly',
    async ({ store }) => {
      const key = `par:${'~!@#$%^&*()_+{}|:"<>?`-=[];,./'.repeat(7)}`.slice(0, 200);
      const big = 'é€😀\u0000\n'.repeat(6000).slice(0, 65_536);
      assert.equal(await store.add(key, big, inSeconds(60)), true);
      assert.equal(await store.get(key), big, 'a 64 KiB value with NUL, newlines and astral characters');
      assert.equal(await store.take(key), big);
      const empty = makeEphemeralKey();
      assert.equal(await store.add(empty, '', inSeconds(60)), true);
      assert.equal(await store.get(empty), '', 'an empty value is a value, not null');
      assert.equal(await store.take(empty), '', 'take of an empty value');
    },
  ),

  prefixes: check<EphemeralCheckContext>('keys differing only in prefix or case are different records', async ({ store }) => {
    const base = rid('k');
    await store.add(`par:${base}`, 'a', inSeconds(60));
    await store.add(`dpop:${base}`, 'b', inSeconds(60));
    await store.add(`par:${base.toUpperCase()}`, 'c', inSeconds(60));
    assert.equal(await store.get(`par:${base}`), 'a');
    assert.equal(await store.get(`dpop:${base}`), 'b');
    assert.equal(await store.get(`par:${base.toUpperCase()}`), 'c', 'keys are case-sensitive');
  }),
} satisfies Record<string, Check<EphemeralCheckContext>>;

/**
 * The contract suite of an `EphemeralStore` (pushed authorization requests): add-if-absent, get,
 * atomic take, expiry to the millisecond, odd keys and values. About a second per run.
 */
export function ephemeralStoreSuite(t: TestApi, options: EphemeralSuiteOptions): void {
  let store: EphemeralStore | undefined;
  registerSuite<EphemeralCheckContext>(
    t,
    label('ephemeral store', options.name),
    Object.values(ephemeralChecks),
    async () => {
      store = await options.create();
      return { store, concurrency: options.concurrency };
    },
    options.destroy,
  );
}
