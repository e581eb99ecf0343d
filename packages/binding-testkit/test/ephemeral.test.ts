import assert from 'node:assert/strict';
import { ephemeralChecks, ephemeralStoreSuite } from '@portcullis/binding-testkit';
import { createMemoryStores, type EphemeralStore } from '@portcullis/core';
import { afterAll, beforeAll, describe, it } from 'vitest';

const t = { describe, it, beforeAll, afterAll };

// Core's memory store (createMemoryStores().ephemeral).
ephemeralStoreSuite(t, { name: 'core memory store', create: async () => createMemoryStores().ephemeral });

/**
 * An ephemeral store that reads, waits a tick, then writes: right step by step, but concurrent
 * callers all read the same state (a SELECT then an unconditional INSERT or DELETE).
 */
function racyStore(atomic: ReadonlySet<'add' | 'take'>, honourExpiry = true): EphemeralStore {
  const rows = new Map<string, { value: string; expiresAt: number }>();
  const live = (k: string) => {
    const r = rows.get(k);
    return r && (!honourExpiry || r.expiresAt > Date.now()) ? r : undefined;
  };
  const tick = () => new Promise((r) => setTimeout(r, 2));
  return {
    async add(key, value, expiresAt) {
      if (live(key)) return false;
      if (!atomic.has('add')) await tick();
      rows.set(key, { value, expiresAt: expiresAt.getTime() });
      return true;
    },
    async get(key) {
      return live(key)?.value ?? null;
    },
    async take(key) {
      const r = live(key);
      if (!r) return null;
      if (!atomic.has('take')) await tick();
      rows.delete(key);
      return r.value;
    },
  };
}

describe('the ephemeral suite catches broken stores', () => {
  const all = new Set(['add', 'take'] as const);

  it('passes every check on the racy store made atomic', async () => {
    for (const c of Object.values(ephemeralChecks)) await c.run({ store: racyStore(all), concurrency: 10 });
  });

  it('catches an add that lets two concurrent callers win', async () => {
    await assert.rejects(
      ephemeralChecks.addConcurrent.run({ store: racyStore(new Set(['take'])), concurrency: 10 }),
      /exactly one of 10 concurrent adds must win, 10 did/,
    );
  });

  it('catches a take with more than one winner', async () => {
    await assert.rejects(
      ephemeralChecks.takeConcurrent.run({ store: racyStore(new Set(['add'])), concurrency: 10 }),
      /exactly one of 10 concurrent takes must win, 10 did/,
    );
  });

  it('catches a store that ignores expiresAt', async () => {
    await assert.rejects(ephemeralChecks.expiry.run({ store: racyStore(all, false) }), /get of an expired record/);
  });

  it('catches a get that uses the record up, and an empty value read as null', async () => {
    const inner = racyStore(all);
    await assert.rejects(ephemeralChecks.roundTrip.run({ store: { ...inner, get: inner.take } }), /a second get/);
    const nulling: EphemeralStore = { ...inner, get: async (k) => (await inner.get(k)) || null };
    await assert.rejects(ephemeralChecks.oddValues.run({ store: nulling }), /an empty value is a value/);
  });
});
