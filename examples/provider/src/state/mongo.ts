import type { Connection } from 'mongoose';
import type { KeyValue } from './key-value.js';

interface Doc {
  _id: string;
  value: string | null;
  count: number;
  expiresAt: Date;
}

/**
 * The shared app state's records in one MongoDB collection; a TTL index removes expired ones
 * (MongoDB's monitor runs about once a minute, so reads also ignore expired documents).
 */
export async function openMongoKeyValue(connection: Connection): Promise<KeyValue> {
  const col = connection.collection<Doc>('portcullis_app_state');
  await col.createIndex({ expiresAt: 1 }, { expireAfterSeconds: 0 });
  const live = (key: string) => ({ _id: key, expiresAt: { $gt: new Date() } });
  const isDuplicate = (err: unknown) => (err as { code?: unknown } | null)?.code === 11000;
  /** Writes `fields` where there is no live document; `false` when a live one is there. */
  const insert = async (key: string, fields: Omit<Doc, '_id'>): Promise<boolean> => {
    try {
      await col.updateOne({ _id: key, expiresAt: { $lte: new Date() } }, { $set: fields }, { upsert: true });
      return true;
    } catch (err) {
      if (isDuplicate(err)) return false; // a live one exists (the filter did not match, the upsert collided)
      throw err;
    }
  };
  return {
    description: 'database (mongodb)',
    async get(key) {
      return (await col.findOne(live(key)))?.value ?? null;
    },
    async set(key, value, ttlMs) {
      await col.updateOne({ _id: key }, { $set: { value, count: 0, expiresAt: new Date(Date.now() + ttlMs) } }, { upsert: true });
    },
    add: (key, value, ttlMs) => insert(key, { value, count: 0, expiresAt: new Date(Date.now() + ttlMs) }),
    async take(key) {
      return (await col.findOneAndDelete(live(key)))?.value ?? null;
    },
    async delete(key) {
      await col.deleteOne({ _id: key });
    },
    async increment(key, windowMs) {
      for (let i = 0; i < 3; i++) {
        const r = await col.findOneAndUpdate(live(key), { $inc: { count: 1 } }, { returnDocument: 'after' });
        if (r) return { count: r.count, resetAt: r.expiresAt.getTime() };
        const expiresAt = new Date(Date.now() + windowMs);
        if (await insert(key, { value: null, count: 1, expiresAt })) return { count: 1, resetAt: expiresAt.getTime() };
      }
      throw new Error('the counter could not be written');
    },
    async counter(key) {
      const r = await col.findOne(live(key));
      return r ? { count: r.count, resetAt: r.expiresAt.getTime() } : null;
    },
    async ping() {
      await connection.db!.admin().ping();
    },
    close: async () => {}, // the storage closes the connection
  };
}
