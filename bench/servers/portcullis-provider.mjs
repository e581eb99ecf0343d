/**
 * Builds the Portcullis provider every Portcullis benchmark server uses, from the environment:
 * - `STORES=memory` (default): `createMemoryStores` (the memory binding: clients, codes, tokens).
 * - `STORES=pg`, `mariadb` or `sqlite`: clients and tokens in SQL through `bindSequelize`
 *   (`DATABASE_URL`; for SQLite a file path), codes in Redis through `createRedisGrantCache`
 *   (`REDIS_URL`). On PostgreSQL every SQL statement the `pg` driver sends is counted (see
 *   `counters`), and on every store every Redis command, so the benchmark can report round trips.
 * - `STORES=mongo`: clients and tokens in MongoDB through `bindMongoose` (`DATABASE_URL`,
 *   database `MONGO_DB`), codes in Redis.
 * - `JWT_ALG=ES256` or `EdDSA`: access tokens are RFC 9068 JWTs (`accessTokenFormat: 'jwt'`)
 *   signed with that algorithm; the signing key is made on the first token.
 * - `DPOP=1`: `dpop: { enabled: true }` (group `dpop`).
 * - `TELEMETRY=off`: `telemetry: false` (group `telemetry`; the default is on, and records only
 *   when an SDK is registered: `OTEL_SDK=1` in servers/portcullis.mjs).
 */
import { createMemoryStores, hashPassword, hashSecret, OAuth2Provider } from '@portcullis/core';
import { BENCH_KEK } from '../lib/workspace.mjs';

export const SECRET = 's3cret-for-the-benchmark-0123456789';
export const REDIRECT_URI = 'https://app.example/cb';

/** Round trips seen by this process since the last reset. */
export const counters = { sql: 0, sqlSelect: 0, sqlInsert: 0, sqlUpdate: 0, sqlOther: 0, redis: 0, redisCommands: {} };

export function resetCounters() {
  counters.sql = counters.sqlSelect = counters.sqlInsert = counters.sqlUpdate = counters.sqlOther = counters.redis = 0;
  counters.redisCommands = {};
}

function countSql(text) {
  const sql = typeof text === 'string' ? text : (text?.text ?? '');
  counters.sql++;
  const verb = sql.trimStart().slice(0, 6).toUpperCase();
  if (verb === 'SELECT') counters.sqlSelect++;
  else if (verb === 'INSERT') counters.sqlInsert++;
  else if (verb === 'UPDATE') counters.sqlUpdate++;
  else counters.sqlOther++;
}

function countRedis(name) {
  counters.redis++;
  counters.redisCommands[name] = (counters.redisCommands[name] ?? 0) + 1;
}

async function clients() {
  return [
    {
      id: 'c1',
      secretHash: hashSecret(SECRET),
      redirectUris: [REDIRECT_URI],
      grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
      scopes: ['read', 'write'],
    },
    // Same client with a slow password hash (scrypt), to show what it costs per token request.
    {
      id: 'c-scrypt',
      secretHash: await hashPassword(SECRET),
      redirectUris: [REDIRECT_URI],
      grantTypes: ['client_credentials'],
      scopes: ['read', 'write'],
    },
  ];
}

/** @returns {Promise<{ provider: OAuth2Provider, close(): Promise<void> }>} */
export async function createBenchProvider() {
  const alg = process.env.JWT_ALG;
  const provider = new OAuth2Provider({
    issuer: 'http://127.0.0.1',
    ...(alg ? { accessTokenFormat: 'jwt', jwt: { algorithm: alg, keyEncryptionKey: BENCH_KEK } } : {}),
    ...(process.env.DPOP === '1' ? { dpop: { enabled: true } } : {}),
    ...(process.env.TELEMETRY === 'off' ? { telemetry: false } : {}),
  });
  const seed = await clients();
  const stores = process.env.STORES ?? 'memory';
  if (stores === 'memory') {
    provider.useStores(createMemoryStores({ clients: seed }));
    provider.validate();
    return { provider, close: async () => {} };
  }
  if (!['pg', 'mariadb', 'sqlite', 'mongo'].includes(stores))
    throw new Error(`STORES must be memory, pg, mariadb, sqlite or mongo, not ${stores}`);

  // Loaded only here: a memory-store server does not carry Sequelize, the drivers and redis in
  // its heap (a bigger heap makes every garbage collection, and so every request, a little slower).
  const { createRedisGrantCache } = await import('@portcullis/grant-cache-redis');
  const { createClient } = await import('redis');
  let closeDb;
  if (stores === 'mongo') {
    const { bindMongoose, defineModels } = await import('@portcullis/binding-mongoose');
    const { default: mongoose } = await import('mongoose');
    const connection = mongoose.createConnection(process.env.DATABASE_URL, {
      dbName: process.env.MONGO_DB ?? 'bench_portcullis',
      maxPoolSize: Number(process.env.DB_POOL ?? 10),
    });
    await connection.asPromise();
    const models = defineModels(connection);
    await Promise.all([models.client.createIndexes(), models.token.createIndexes()]);
    for (const c of seed) {
      const { id, ...rest } = c;
      await models.client.replaceOne({ clientId: id }, { clientId: id, ...rest }, { upsert: true });
    }
    bindMongoose(provider, { client: models.client, token: models.token });
    closeDb = () => connection.close();
  } else {
    const { bindSequelize, defineModels } = await import('@portcullis/binding-sequelize');
    const { Sequelize } = await import('sequelize');
    if (stores === 'pg') {
      // Count every statement the pg driver sends (whatever Sequelize does around it).
      const { default: pg } = await import('pg');
      const query = pg.Client.prototype.query;
      pg.Client.prototype.query = function (...args) {
        countSql(args[0]);
        return query.apply(this, args);
      };
    }
    const pool = { max: Number(process.env.DB_POOL ?? process.env.PG_POOL ?? 10), min: 0 };
    const sequelize =
      stores === 'sqlite'
        ? new Sequelize({ dialect: 'sqlite', storage: process.env.DATABASE_URL, logging: false, pool })
        : new Sequelize(process.env.DATABASE_URL, { logging: false, pool });
    if (stores === 'sqlite') await sequelize.query('PRAGMA journal_mode = WAL');
    const models = defineModels(sequelize);
    await sequelize.sync();
    for (const c of seed) {
      await models.client.upsert({
        id: c.id,
        secretHash: c.secretHash,
        redirectUris: c.redirectUris,
        grantTypes: c.grantTypes,
        scopes: c.scopes,
      });
    }
    bindSequelize(provider, { sequelize, client: models.client, token: models.token });
    closeDb = () => sequelize.close();
  }

  const redis = createClient({ url: process.env.REDIS_URL });
  redis.on('error', (err) => console.error('redis:', err.message));
  await redis.connect();
  const inner = redis.withCommandOptions({ timeout: 1000 });
  const counted = {
    withCommandOptions: () => ({
      set: (...args) => {
        countRedis('SET');
        return inner.set(...args);
      },
      eval: (...args) => {
        countRedis('EVAL');
        return inner.eval(...args);
      },
    }),
  };
  provider.useStores({ grants: createRedisGrantCache({ client: counted }) });
  provider.validate();
  resetCounters();
  return {
    provider,
    close: async () => {
      redis.destroy();
      await closeDb();
    },
  };
}
