import { randomBytes } from 'node:crypto';
import mongoose, { type Connection } from 'mongoose';
import { inject } from 'vitest';
import { defineModels, type PortcullisModels } from '../src/index.js';

/** Connection options used by every test: fail fast when the server is gone. */
export const FAST_FAIL = { serverSelectionTimeoutMS: 1500, bufferTimeoutMS: 1500 } as const;

export interface TestDatabase {
  connection: Connection;
  models: PortcullisModels;
  /** Drops the database and closes the connection. */
  close(): Promise<void>;
}

/** Opens a connection to a fresh database (random name) and builds the default models with their indexes. */
export async function openTestDatabase(name: string, url: string = inject('mongoUrl')): Promise<TestDatabase> {
  const dbName = `portcullis_${name}_${randomBytes(4).toString('hex')}`;
  const connection = mongoose.createConnection(url, { dbName, ...FAST_FAIL });
  await connection.asPromise();
  const models = defineModels(connection);
  await Promise.all(Object.values(models).map((model) => model.init()));
  return {
    connection,
    models,
    async close() {
      await connection.dropDatabase();
      await connection.close();
    },
  };
}
