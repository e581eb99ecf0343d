import type { EphemeralStore } from '@portcullis/core';
import type { Model, mongo } from 'mongoose';
import type { EphemeralDocument } from './schemas.js';
import { runStoreCall as run } from './stores.js';

const isString = (value: unknown): value is string => typeof value === 'string';

/** `true` for MongoDB's duplicate-key error (E11000), whichever driver copy threw it. */
function isDuplicateKey(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    if ((e as { code?: unknown }).code === 11000) return true;
    e = (e as { errorResponse?: unknown; cause?: unknown }).errorResponse ?? (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Core's `EphemeralStore` (pushed authorization requests, RFC 9126; DPoP proof ids, RFC 9449) over
 * a model with the fields of `ephemeralSchema`: the key is the document's `_id`.
 *
 * - `add`: `insertOne`; when the `_id` is taken (duplicate key), an `updateOne` that replaces the
 *   document only if it has expired (`expiresAt <= now`). Each step is atomic on one document, so
 *   of N concurrent adds exactly one inserts or replaces, and every other one answers `false`.
 * - `get`: `findOne` of the live document.
 * - `take`: `findOneAndDelete` of the live document: the one caller whose delete removed it gets
 *   the value.
 *
 * The TTL index on `expiresAt` only cleans up; every call filters on `expiresAt` itself.
 */
export function createEphemeralStore<D extends EphemeralDocument = EphemeralDocument>(model: Model<D>): EphemeralStore {
  // The driver's collection, typed with a string `_id`: no document hydration or casting per call.
  const records = {
    collection: (model as unknown as Model<EphemeralDocument>).collection as unknown as mongo.Collection<EphemeralDocument>,
  };
  const live = (key: string) => ({ _id: { $eq: key }, expiresAt: { $gt: new Date() } });
  return {
    add: (key, value, expiresAt) =>
      run('ephemeral add', async () => {
        if (!isString(key) || !isString(value)) throw new TypeError('add: key and value must be strings');
        const at = new Date(expiresAt.getTime());
        try {
          await records.collection.insertOne({ _id: key, value, expiresAt: at });
          return true;
        } catch (err) {
          if (!isDuplicateKey(err)) throw err;
        }
        // The key is held: take it over only from an expired record (one replacer wins).
        const replaced = await records.collection.updateOne(
          { _id: { $eq: key }, expiresAt: { $lte: new Date() } },
          { $set: { value, expiresAt: at } },
        );
        return replaced.modifiedCount === 1;
      }),
    get: (key) =>
      run('ephemeral get', async () => {
        if (!isString(key)) return null;
        const doc = await records.collection.findOne(live(key));
        return doc && isString(doc.value) ? doc.value : null;
      }),
    take: (key) =>
      run('ephemeral take', async () => {
        if (!isString(key)) return null;
        const doc = await records.collection.findOneAndDelete(live(key));
        return doc && isString(doc.value) ? doc.value : null;
      }),
  };
}
