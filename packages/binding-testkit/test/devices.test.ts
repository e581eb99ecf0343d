import assert from 'node:assert/strict';
import { deviceChecks, deviceCodeStoreSuite } from '@portcullis/binding-testkit';
import { createMemoryStores, type DeviceCodeRecord, type DeviceCodeStore } from '@portcullis/core';
import { afterAll, beforeAll, describe, it } from 'vitest';

const t = { describe, it, beforeAll, afterAll };

// Core's memory store (createMemoryStores().devices).
deviceCodeStoreSuite(t, { name: 'core memory store', create: async () => createMemoryStores().devices });

/**
 * A device store whose every operation reads, waits a tick, then writes: each step is right on
 * its own, but concurrent callers all read the same state (the mistake a binding makes with a
 * SELECT followed by an unconditional UPDATE). `atomic` names the operations done correctly.
 */
function racyStore(atomic: ReadonlySet<'poll' | 'decide' | 'consume'>): DeviceCodeStore {
  const rows = new Map<string, DeviceCodeRecord>();
  const live = (d: DeviceCodeRecord) => d.expiresAt.getTime() > Date.now();
  const byUser = (code: string) => [...rows.values()].find((d) => d.userCode === code && live(d));
  // Awaited only when not atomic: even `await undefined` would let other callers in.
  const tick = () => new Promise((r) => setTimeout(r, 2));
  return {
    async saveDeviceCode(record) {
      if (byUser(record.userCode)) return false;
      rows.set(record.deviceCode, structuredClone(record));
      return true;
    },
    async findDeviceCode(userCode) {
      const d = byUser(userCode);
      return d ? structuredClone(d) : null;
    },
    async recordPoll(clientId, deviceCode, polledAt) {
      const d = rows.get(deviceCode);
      if (d?.clientId !== clientId) return null;
      if (!atomic.has('poll')) await tick();
      const tooSoon = d.lastPolledAt !== null && polledAt.getTime() - d.lastPolledAt.getTime() < d.interval * 1000;
      rows.set(deviceCode, { ...d, lastPolledAt: new Date(polledAt), interval: tooSoon ? d.interval + 5 : d.interval });
      return structuredClone(d);
    },
    async decideDeviceCode(userCode, decision) {
      const d = byUser(userCode);
      if (d?.status !== 'pending') return null;
      if (!atomic.has('decide')) await tick();
      const next: DeviceCodeRecord = decision.approved
        ? {
            ...d,
            status: 'approved',
            userId: decision.userId,
            scopes: [...decision.scopes],
            ...(decision.authTime ? { authTime: decision.authTime } : {}),
          }
        : { ...d, status: 'denied', userId: decision.userId };
      rows.set(d.deviceCode, next);
      return structuredClone(next);
    },
    async consumeDeviceCode(clientId, deviceCode) {
      const d = rows.get(deviceCode);
      if (d?.clientId !== clientId || d.status !== 'approved' || !live(d)) return null;
      if (!atomic.has('consume')) await tick();
      rows.set(deviceCode, { ...d, status: 'consumed' });
      return structuredClone(d);
    },
  };
}

describe('the device suite catches broken stores', () => {
  const all = new Set(['poll', 'decide', 'consume'] as const);

  it('passes every check on the racy store made atomic (the broken variants below differ in one step)', async () => {
    for (const c of Object.values(deviceChecks)) await c.run({ store: racyStore(all), concurrency: 10 });
  });

  it('catches a recordPoll that loses concurrent updates', async () => {
    const store = racyStore(new Set(['decide', 'consume']));
    await assert.rejects(deviceChecks.recordPollConcurrent.run({ store, concurrency: 10 }), /exactly one poll must see no previous poll/);
  });

  it('catches a decideDeviceCode that lets two concurrent decisions land', async () => {
    const store = racyStore(new Set(['poll', 'consume']));
    await assert.rejects(
      deviceChecks.decideOnce.run({ store, concurrency: 10 }),
      /exactly one of 10 concurrent decisions must land, 10 did/,
    );
  });

  it('catches a store that drops the authTime of an approval', async () => {
    const store = racyStore(new Set(['poll', 'decide', 'consume']));
    const forgetful: DeviceCodeStore = {
      ...store,
      async decideDeviceCode(userCode, decision) {
        if (!decision.approved) return store.decideDeviceCode(userCode, decision);
        const { authTime: _dropped, ...rest } = decision;
        return store.decideDeviceCode(userCode, rest);
      },
    };
    await assert.rejects(
      deviceChecks.authTime.run({ store: forgetful }),
      /decideDeviceCode \(approved with authTime\): authTime must come back as a Date/,
    );
  });

  it('catches a consumeDeviceCode with more than one winner', async () => {
    const store = racyStore(new Set(['poll', 'decide']));
    await assert.rejects(
      deviceChecks.consumeOnce.run({ store, concurrency: 10 }),
      /exactly one of 10 concurrent consumers must win, 10 did/,
    );
  });

  it('catches a recordPoll that returns the record after the poll', async () => {
    const inner = racyStore(all);
    const store: DeviceCodeStore = {
      ...inner,
      recordPoll: async (clientId, deviceCode, at) => {
        const before = await inner.recordPoll(clientId, deviceCode, at);
        return before && { ...before, lastPolledAt: new Date(at) };
      },
    };
    await assert.rejects(deviceChecks.recordPoll.run({ store }), /the first poll: lastPolledAt must come back as null/);
  });

  it('catches an expired request still found by its user code, and Dates rounded to the second', async () => {
    const inner = racyStore(all);
    // A find that ignores expiresAt: answers from the saved records whatever their expiry.
    const saved = new Map<string, DeviceCodeRecord>();
    const immortal: DeviceCodeStore = {
      ...inner,
      saveDeviceCode: async (r) => {
        saved.set(r.userCode, structuredClone(r));
        return inner.saveDeviceCode(r);
      },
      findDeviceCode: async (code) => (saved.has(code) ? structuredClone(saved.get(code)!) : null),
    };
    await assert.rejects(deviceChecks.expiry.run({ store: immortal }), /findDeviceCode of an expired request/);
    const round = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);
    const rounding: DeviceCodeStore = {
      ...inner,
      findDeviceCode: async (code) => {
        const d = await inner.findDeviceCode(code);
        return d && { ...d, expiresAt: round(d.expiresAt) };
      },
    };
    await assert.rejects(deviceChecks.fieldsRoundTrip.run({ store: rounding }), /expiresAt must equal the saved Date to the millisecond/);
  });

  it('catches a store that hands out what it holds', async () => {
    const rows = new Map<string, DeviceCodeRecord>();
    const inner = racyStore(all);
    const store: DeviceCodeStore = {
      ...inner,
      saveDeviceCode: async (r) => {
        rows.set(r.userCode, r);
        return true;
      },
      findDeviceCode: async (code) => rows.get(code) ?? null,
    };
    await assert.rejects(deviceChecks.copies.run({ store }), /after the caller changed the record it saved/);
  });
});
