import assert from 'node:assert/strict';
import { keyChecks, keyStoreSuite, makeSigningKey } from '@portcullis/binding-testkit';
import { createMemoryStores, type KeyStore, type SigningKeyRecord } from '@portcullis/core';
import { afterAll, beforeAll, describe, it } from 'vitest';

const t = { describe, it, beforeAll, afterAll };

/** A correct key store: deep copies in and out. */
function referenceKeyStore(): KeyStore {
  const keys = new Map<string, SigningKeyRecord>();
  return {
    listKeys: async () => [...keys.values()].map((k) => structuredClone(k)),
    addKey: async (k) => {
      if (!keys.has(k.kid)) keys.set(k.kid, structuredClone(k));
    },
    retireKey: async (kid, at) => {
      const k = keys.get(kid);
      if (k) keys.set(kid, { ...k, retiresAt: new Date(at) });
    },
    removeRetiredKeys: async (before) => {
      let n = 0;
      for (const [kid, k] of keys) if (k.retiresAt && k.retiresAt < before && keys.delete(kid)) n++;
      return n;
    },
  };
}

keyStoreSuite(t, { name: 'reference (deep copies)', create: async () => referenceKeyStore() });

// Core's memory store (createMemoryStores().keys): records are deep copies going in and out.
keyStoreSuite(t, { name: 'core memory store', create: async () => createMemoryStores().keys });

// The checks must fail on broken stores: a suite that cannot fail proves nothing.
describe('the key suite catches broken stores', () => {
  const broken = (patch: Partial<KeyStore>): KeyStore => ({ ...referenceKeyStore(), ...patch });

  it('catches an addKey that overwrites an existing kid (an upsert)', async () => {
    const keys = new Map<string, SigningKeyRecord>();
    const upsert: KeyStore = {
      ...referenceKeyStore(),
      listKeys: async () => [...keys.values()].map((k) => structuredClone(k)),
      addKey: async (k) => void keys.set(k.kid, structuredClone(k)),
    };
    await assert.rejects(keyChecks.addKeyKeepsExisting.run({ store: upsert }), /after a second addKey with the same kid/);
  });

  it('catches Dates rounded to the second', async () => {
    const inner = referenceKeyStore();
    const round = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);
    const store = broken({
      addKey: inner.addKey,
      listKeys: async () => (await inner.listKeys()).map((k) => ({ ...k, createdAt: round(k.createdAt) })),
    });
    await assert.rejects(keyChecks.fieldsRoundTrip.run({ store }), /createdAt must equal the saved Date to the millisecond/);
  });

  it('catches a removeRetiredKeys that counts or compares wrongly', async () => {
    const inner = referenceKeyStore();
    const inclusive = { ...referenceKeyStore() };
    // Removes keys retired at the cutoff too (<= instead of <).
    const keys = new Map<string, SigningKeyRecord>();
    Object.assign(inclusive, {
      listKeys: async () => [...keys.values()].map((k) => structuredClone(k)),
      addKey: async (k: SigningKeyRecord) => void (keys.has(k.kid) || keys.set(k.kid, structuredClone(k))),
      retireKey: async (kid: string, at: Date) => {
        const k = keys.get(kid);
        if (k) keys.set(kid, { ...k, retiresAt: at });
      },
      removeRetiredKeys: async (before: Date) => {
        let n = 0;
        for (const [kid, k] of keys) if (k.retiresAt && k.retiresAt <= before && keys.delete(kid)) n++;
        return n;
      },
    });
    await assert.rejects(keyChecks.removeRetiredKeys.run({ store: inclusive }), /removeRetiredKeys must return the number removed/);
    // Removes the right keys but always answers 0.
    const noCount: KeyStore = {
      ...inner,
      removeRetiredKeys: async (before) => {
        await inner.removeRetiredKeys(before);
        return 0;
      },
    };
    await assert.rejects(keyChecks.removeRetiredKeys.run({ store: noCount }), /must return the number removed \(2\), got 0/);
  });

  it('catches a retireKey of an unknown kid that adds a key', async () => {
    const inner = referenceKeyStore();
    const store: KeyStore = {
      ...inner,
      retireKey: async (kid, at) => {
        if (!(await inner.listKeys()).some((k) => k.kid === kid)) await inner.addKey(makeSigningKey({ kid, retiresAt: at }));
        else await inner.retireKey(kid, at);
      },
    };
    await assert.rejects(keyChecks.retireKey.run({ store }), /must not add a key/);
  });

  it('catches a listKeys that hands out the stored records themselves', async () => {
    const keys = new Map<string, SigningKeyRecord>();
    const store: KeyStore = {
      ...referenceKeyStore(),
      listKeys: async () => [...keys.values()],
      addKey: async (k) => void (keys.has(k.kid) || keys.set(k.kid, structuredClone(k))),
    };
    await assert.rejects(keyChecks.listKeysGivesCopies.run({ store }), /after the caller changed a record listKeys gave/);
  });

  it('catches lost concurrent adds (read-modify-write of the whole set)', async () => {
    let blob = '[]';
    const read = () => (JSON.parse(blob) as SigningKeyRecord[]).map((k) => ({ ...k, createdAt: new Date(k.createdAt) }));
    const store: KeyStore = {
      ...referenceKeyStore(),
      listKeys: async () => read() as SigningKeyRecord[],
      addKey: async (k) => {
        const all = read();
        await new Promise((r) => setTimeout(r, 5));
        blob = JSON.stringify([...all, k]);
      },
    };
    await assert.rejects(keyChecks.concurrentAddKey.run({ store }), /is missing/);
  });
});
