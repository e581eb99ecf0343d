/** `purgeExpired`: expired grants and tokens go in batches, live ones stay. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purgeExpired } from '../src/index.js';
import { openTestDatabase, type TestDatabase } from './connect.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await openTestDatabase('purge');
});
afterAll(async () => {
  await db?.close();
});

describe('purgeExpired', () => {
  it('deletes expired grants and tokens (consumed and revoked ones too) in batches, and keeps live ones', async () => {
    const now = Date.now();
    const at = (ms: number) => new Date(now + ms);
    const grant = (key: string, expiresAt: Date, consumedAt: Date | null = null) => ({
      key,
      clientId: 'c',
      userId: 'u',
      redirectUri: null,
      scopes: ['read'],
      expiresAt,
      grantId: `g-${key}`,
      consumedAt,
    });
    const token = (key: string, expiresAt: Date, extra: { consumedAt?: Date; revokedAt?: Date } = {}) => ({
      key,
      kind: 'refresh' as const,
      clientId: 'c',
      userId: 'u',
      scopes: ['read'],
      expiresAt,
      grantId: `g-${key}`,
      ...extra,
    });
    await db.models.grant.insertMany([
      ...Array.from({ length: 7 }, (_, i) => grant(`old-${i}`, at(-60_000 - i), i % 2 ? at(-90_000) : null)),
      grant('live', at(60_000)),
      grant('live-consumed', at(60_000), at(-1000)),
    ]);
    await db.models.token.insertMany([
      ...Array.from({ length: 5 }, (_, i) => token(`old-${i}`, at(-1000 - i), i === 0 ? { revokedAt: at(-5000) } : {})),
      token('live', at(3_600_000)),
      token('live-revoked', at(3_600_000), { revokedAt: at(-5000) }),
    ]);

    expect(await purgeExpired({ grant: db.models.grant, token: db.models.token }, { batchSize: 3 })).toBe(12);
    expect((await db.models.grant.find().lean()).map((d) => d.key).sort()).toEqual(['live', 'live-consumed']);
    expect((await db.models.token.find().lean()).map((d) => d.key).sort()).toEqual(['live', 'live-revoked']);
    expect(await purgeExpired({ grant: db.models.grant, token: db.models.token })).toBe(0);

    // `now` moves the cut: the live ones are expired an hour and a minute from now.
    expect(await purgeExpired({ token: db.models.token }, { now: at(3_600_001) })).toBe(2);
    expect(await db.models.grant.countDocuments()).toBe(2);
    await expect(purgeExpired({ grant: db.models.grant }, { batchSize: 0 })).rejects.toThrow(RangeError);
  });

  it('deletes expired ephemeral records (string _id) and keeps live ones', async () => {
    const now = Date.now();
    const at = (ms: number) => new Date(now + ms);
    const { ephemeral } = db.models;
    await ephemeral.collection.insertMany([
      ...Array.from({ length: 4 }, (_, i) => ({ _id: `par:old-${i}`, value: 'x', expiresAt: at(-1000 - i) })),
      { _id: 'par:live', value: 'y', expiresAt: at(60_000) },
    ] as never[]);
    expect(await purgeExpired({ ephemeral }, { batchSize: 3 })).toBe(4);
    expect((await ephemeral.collection.find({}).toArray()).map((d) => d._id)).toEqual(['par:live']);
  });
});
