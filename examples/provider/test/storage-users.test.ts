/**
 * The seeding of users on each storage: `putUser` creates, updates the same user, and refuses a
 * username held under another subject or a subject held under another username. Several processes
 * starting at once seed the same users, so a user written by another process between the two
 * reads is the same user ("updated"), never a clash.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startMongoServer } from '../../../packages/binding-mongoose/test/mongo-server.js';
import { openStorage, type Storage } from '../src/storage.js';

const stops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
});

async function exercise(storage: Storage) {
  expect(await storage.putUser({ username: 'u', subject: 'sub-1', passwordHash: 'h1' })).toBe('created');
  expect(await storage.putUser({ username: 'u', subject: 'sub-1', passwordHash: 'h2' })).toBe('updated');
  await expect(storage.putUser({ username: 'u', subject: 'other', passwordHash: 'h' })).rejects.toThrow(/another subject/);
  await expect(storage.putUser({ username: 'v', subject: 'sub-1', passwordHash: 'h' })).rejects.toThrow(/another subject/);
  // Many "processes" seeding the same user at once: every one succeeds, none clashes.
  const results = await Promise.all(
    Array.from({ length: 8 }, () => storage.putUser({ username: 'w', subject: 'sub-w', passwordHash: 'h' })),
  );
  expect(results.filter((r) => r === 'created').length).toBeLessThanOrEqual(1);
  expect(results.every((r) => r === 'created' || r === 'updated')).toBe(true);
  // A hostile username or subject is data, not a query.
  expect(await storage.putUser({ username: "x' OR '1'='1", subject: '{"$ne":null}', passwordHash: 'h' })).toBe('created');
  await expect(storage.putUser({ username: 'y', subject: '{"$ne":null}', passwordHash: 'h' })).rejects.toThrow(/another subject/);
}

describe('putUser on each storage', () => {
  it('SQLite through Sequelize', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-users-'));
    stops.push(() => rm(dir, { recursive: true, force: true }));
    const storage = await openStorage({ kind: 'sqlite', storage: join(dir, 'a.sqlite') }, 'sequelize');
    stops.push(() => storage.close());
    await exercise(storage);
  });

  it('SQLite through Drizzle', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-users-'));
    stops.push(() => rm(dir, { recursive: true, force: true }));
    const storage = await openStorage({ kind: 'sqlite', storage: join(dir, 'b.sqlite') }, 'drizzle');
    stops.push(() => storage.close());
    await exercise(storage);
  });

  it('MongoDB through Mongoose', async () => {
    const mongo = await startMongoServer();
    stops.push(() => mongo.stop());
    const storage = await openStorage({ kind: 'mongodb', url: `${mongo.url}/users_test` }, 'mongoose');
    stops.push(() => storage.close());
    await exercise(storage);
  });
});
