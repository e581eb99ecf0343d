import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type {
  Client,
  ClientAuthMethod,
  ClientStore,
  CurrentUser,
  GrantStore,
  GrantType,
  StoreRegistry,
  User,
  UserGrantStore,
  UserStore,
} from '@portcullis/core';
import { ConfigError, type DatabaseConfig, type DatabasePoolConfig, DEFAULT_DATABASE_POOL } from './config.js';
import type { KeyValue } from './state/key-value.js';

/** A user as the seed file and the CLI create it. */
export interface UserInput {
  readonly username: string;
  /** The stable user id (`sub`) recorded on tokens. */
  readonly subject: string;
  /** From `hashPassword()`. */
  readonly passwordHash: string;
}

/**
 * The database the app keeps clients, users and tokens in, through the Sequelize binding
 * (SQLite, PostgreSQL, MariaDB; the default), the Drizzle binding (`DATABASE_DRIVER=drizzle`:
 * SQLite through libSQL, PostgreSQL through pg, MariaDB/MySQL through mysql2) or the Mongoose
 * binding (MongoDB). Writing clients and users (seed file, CLI) goes through the binding's own
 * models or tables.
 */
export interface Storage {
  readonly kind: DatabaseConfig['kind'];
  /** The binding in use. */
  readonly driver: 'sequelize' | 'drizzle' | 'mongoose';
  readonly clients: ClientStore;
  readonly users: UserStore;
  /** The binding's grant store, for `GRANT_CACHE=database`. */
  readonly grants: GrantStore;
  /**
   * A user's grants ("connected apps": listed and revoked per client) on the token table, for the
   * CLI and the connected apps page; registered by `bind` whatever `GRANT_CACHE`.
   */
  readonly userGrants: UserGrantStore;
  /**
   * Registers the binding on the provider: clients, users and tokens, plus grants when
   * `withGrants` (otherwise the app registers a grant cache itself).
   */
  bind(provider: StoreRegistry, options: { currentUser: CurrentUser; withGrants: boolean }): void;
  /** Creates or replaces a client. */
  putClient(client: Client): Promise<'created' | 'updated'>;
  listClients(): Promise<Client[]>;
  /** Removes a client and revokes every token it holds. `false` when there was none. */
  removeClient(id: string): Promise<boolean>;
  /** Creates a user, or sets the password of the user with this username (the subject must match). */
  putUser(user: UserInput): Promise<'created' | 'updated'>;
  /**
   * Deletes expired codes and tokens, `batchSize` rows per statement (the bindings'
   * `purgeExpired`; on MongoDB the TTL indexes do it too, this does not wait for their monitor).
   */
  purgeExpired(batchSize: number): Promise<number>;
  /**
   * Removes at most `limit` self-registered clients that never got a token and registered before
   * `registeredBefore` (the binding's `ClientRegistrationStore.purgeUnusedClients`); clients from
   * the seed file or the CLI are never removed. Returns how many.
   */
  purgeUnusedClients(registeredBefore: Date, limit: number): Promise<number>;
  /**
   * Runs `fn` unless another process holds the lock `name`, in which case it returns
   * `{ ran: false }` at once: a PostgreSQL advisory lock (`pg_try_advisory_xact_lock`), a MariaDB
   * `GET_LOCK(name, 0)`, a lock document with a lease on MongoDB. SQLite runs `fn` directly.
   */
  tryExclusive<T>(name: string, fn: () => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }>;
  /**
   * Runs `fn` while holding a database-wide lock (the Sequelize binding's `withMigrationLock`:
   * a PostgreSQL advisory lock, a MariaDB `GET_LOCK`, the lock its `migrate()` takes), so that
   * processes starting at the same moment on one database write the seed one after the other
   * instead of racing on unique constraints. SQLite and MongoDB run `fn` directly.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * The shared app state's records (`STATE_STORE=shared` without a Redis grant cache) on this
   * database's connection: a table of their own on SQL, a collection with a TTL index on MongoDB.
   */
  openKeyValue(): Promise<KeyValue & { purgeExpired?(batchSize?: number): Promise<number> }>;
  /** One cheap round trip to the database (`SELECT 1`, MongoDB's `ping`); throws when it is unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type Row = Record<string, unknown>;

/** How long a MongoDB lock document holds when its process dies without removing it. */
const LOCK_LEASE_MS = 10 * 60_000;

/** `fn` run on the first call only; later calls get the same promise (closing twice is harmless). */
export function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    done ??= fn();
    return done;
  };
}

function toArray(value: unknown): string[] {
  const v: unknown = typeof value === 'string' ? JSON.parse(value) : value;
  return Array.isArray(v) ? v.map(String) : [];
}

/** A client from a database row or document, whatever the binding named its id. */
export function toClient(v: Row, idField: 'id' | 'clientId'): Client {
  const c: {
    -readonly [K in keyof Client]: Client[K];
  } = {
    id: String(v[idField]),
    secretHash: v.secretHash === null || v.secretHash === undefined ? null : String(v.secretHash),
    redirectUris: toArray(v.redirectUris),
    grantTypes: toArray(v.grantTypes) as GrantType[],
    scopes: toArray(v.scopes),
  };
  if (v.defaultScopes !== null && v.defaultScopes !== undefined) c.defaultScopes = toArray(v.defaultScopes);
  if (v.tokenEndpointAuthMethod) c.tokenEndpointAuthMethod = String(v.tokenEndpointAuthMethod) as ClientAuthMethod;
  // SQLite and MariaDB keep booleans as 1/0.
  if (v.resourceServer === true || v.resourceServer === 1) c.resourceServer = true;
  return c;
}

export function clientFields(c: Client) {
  return {
    secretHash: c.secretHash,
    redirectUris: [...c.redirectUris],
    grantTypes: [...c.grantTypes],
    scopes: [...c.scopes],
    defaultScopes: c.defaultScopes ? [...c.defaultScopes] : null,
    tokenEndpointAuthMethod: c.tokenEndpointAuthMethod ?? null,
    resourceServer: c.resourceServer === true ? true : null,
  };
}

export function subjectClash(username: string): Error {
  return new Error(`User "${username}" exists with another subject, or the subject belongs to another user`);
}

/** `DATABASE_DRIVER`: the binding SQL databases go through. MongoDB always uses Mongoose. */
export type DatabaseDriver = 'sequelize' | 'drizzle' | 'mongoose';

/**
 * Parses `DATABASE_DRIVER` (`sequelize`, the default, or `drizzle`) for the database `db`;
 * throws `ConfigError` for another value or for `drizzle` on MongoDB.
 */
export function parseDatabaseDriver(text: string | undefined, db: DatabaseConfig): DatabaseDriver {
  const v = text?.trim().toLowerCase() || 'sequelize';
  if (v !== 'sequelize' && v !== 'drizzle') {
    throw new ConfigError('DATABASE_DRIVER must be sequelize (the default) or drizzle');
  }
  if (db.kind === 'mongodb') {
    if (v === 'drizzle')
      throw new ConfigError('DATABASE_DRIVER=drizzle needs an SQL database (sqlite:, postgres://, mysql://, mariadb://), not MongoDB');
    return 'mongoose';
  }
  return v;
}

/**
 * Connects to the database, creates the tables or indexes if missing, and returns the storage.
 * `driver` defaults to the `DATABASE_DRIVER` environment variable; `pool` sizes the SQL
 * connection pool (`DATABASE_POOL_MAX` and the rest; MongoDB keeps its driver's own pool).
 */
export async function openStorage(
  db: DatabaseConfig,
  driver = parseDatabaseDriver(process.env.DATABASE_DRIVER, db),
  pool: DatabasePoolConfig = DEFAULT_DATABASE_POOL,
): Promise<Storage> {
  if (db.kind === 'mongodb') return openMongo(db.url);
  if (driver === 'drizzle') {
    const { openDrizzle } = await import('./drizzle-storage.js');
    return openDrizzle(db, pool);
  }
  return openSql(db, pool);
}

async function openSql(db: DatabaseConfig, pool: DatabasePoolConfig): Promise<Storage> {
  const { Sequelize, QueryTypes } = await import('sequelize');
  const b = await import('@portcullis/binding-sequelize');
  let sequelize: InstanceType<typeof Sequelize>;
  if (db.kind === 'sqlite') {
    if (db.storage !== ':memory:') await mkdir(dirname(db.storage), { recursive: true });
    sequelize = new Sequelize({
      dialect: 'sqlite',
      storage: db.storage,
      logging: false,
      // The CLI may write while the server runs.
      retry: { match: [/SQLITE_BUSY/], max: 10 },
    });
  } else {
    sequelize = new Sequelize((db as { url: string }).url, {
      logging: false,
      timezone: '+00:00',
      // A burst queues for a free connection for up to `acquire` ms rather than failing. Opening a
      // connection gets `connectTimeoutMs`: the mariadb driver's own default (1 s) is shorter than
      // a handshake takes on a loaded machine, and a failed attempt fails a queued request (503).
      // A stopped database refuses the connection, which fails at once whatever the timeout.
      pool: { max: pool.max, min: 0, acquire: pool.acquireMs },
      dialectOptions:
        db.kind === 'mariadb' ? { connectTimeout: pool.connectTimeoutMs } : { connectionTimeoutMillis: pool.connectTimeoutMs },
    });
  }
  try {
    await sequelize.authenticate();
    if (db.kind === 'sqlite' && db.storage !== ':memory:') await sequelize.query('PRAGMA journal_mode=WAL');
    // Takes the binding's migration lock itself on PostgreSQL and MariaDB.
    await b.migrate(sequelize);
  } catch (err) {
    await sequelize.close().catch(() => {});
    throw err;
  }
  const models = b.defineModels(sequelize);
  const clients = b.createClientStore(models.client);
  const registrations = b.createClientRegistrationStore(models.client);
  const users = b.createUserStore(models.user);
  const grants = b.createGrantStore(models.grant);
  // On the token rows whether or not codes are in the database (GRANT_CACHE): registered always.
  const userGrants = b.createUserGrantStore(models.token, models.grant);
  const plain = (row: { get(o: { plain: true }): unknown }) => row.get({ plain: true }) as Row;

  return {
    kind: db.kind,
    driver: 'sequelize',
    clients,
    users,
    grants,
    userGrants,
    bind(provider, { currentUser, withGrants }) {
      b.bindSequelize(provider, {
        sequelize,
        client: models.client,
        user: models.user,
        token: models.token,
        device: models.device,
        // Signing keys, pushed requests and DPoP proof ids in the database, shared by every process.
        key: models.key,
        ephemeral: models.ephemeral,
        ...(withGrants ? { grant: models.grant } : {}),
        currentUser,
      });
      provider.useStores({ userGrants }, { source: 'binding' });
    },
    async putClient(c) {
      const existing = await models.client.findByPk(c.id);
      if (existing) {
        await existing.update(clientFields(c));
        return 'updated';
      }
      await models.client.create({ id: c.id, ...clientFields(c) });
      return 'created';
    },
    async listClients() {
      const rows = await models.client.findAll({ order: [['id', 'ASC']] });
      return rows.map((r) => toClient(plain(r), 'id'));
    },
    async removeClient(id) {
      const n = await models.client.destroy({ where: { id } });
      await models.token.update({ revokedAt: new Date() }, { where: { clientId: id, revokedAt: null } });
      return n > 0;
    },
    async putUser(u) {
      const existing = await models.user.findOne({ where: { username: u.username } });
      if (existing) {
        if (String(plain(existing).id) !== u.subject) throw subjectClash(u.username);
        await existing.update({ passwordHash: u.passwordHash });
        return 'updated';
      }
      const bySubject = await models.user.findByPk(u.subject);
      if (bySubject) {
        // Another process seeding at the same moment wrote this very user between the two reads.
        if (String(plain(bySubject).username) !== u.username) throw subjectClash(u.username);
        await bySubject.update({ passwordHash: u.passwordHash });
        return 'updated';
      }
      try {
        await models.user.create({ id: u.subject, username: u.username, passwordHash: u.passwordHash });
      } catch (err) {
        // Another process inserted a user under this name or subject a moment before: the same
        // user is fine ("updated"), anything else is the usual clash or the original failure.
        const now = await models.user.findOne({ where: { username: u.username } });
        if (!now) throw err;
        if (String(plain(now).id) !== u.subject) throw subjectClash(u.username);
        return 'updated';
      }
      return 'created';
    },
    purgeExpired: (batchSize) =>
      b.purgeExpired({ grant: models.grant, token: models.token, device: models.device, ephemeral: models.ephemeral }, { batchSize }),
    purgeUnusedClients: (registeredBefore, limit) => registrations.purgeUnusedClients!(registeredBefore, limit),
    async tryExclusive(name, fn) {
      if (db.kind === 'sqlite') return { ran: true, value: await fn() };
      // A transaction pins one connection: the lock is taken and released on it, while `fn`'s
      // queries run on others.
      return sequelize.transaction(async (transaction) => {
        const take =
          db.kind === 'postgres' ? 'SELECT pg_try_advisory_xact_lock(hashtext(:name)) AS got' : 'SELECT GET_LOCK(:name, 0) AS got';
        const [row] = await sequelize.query<{ got: unknown }>(take, { replacements: { name }, transaction, type: QueryTypes.SELECT });
        if (row?.got !== true && Number(row?.got) !== 1) return { ran: false as const };
        try {
          return { ran: true as const, value: await fn() };
        } finally {
          // PostgreSQL releases the transaction's lock at its end.
          if (db.kind === 'mariadb') {
            await sequelize.query('SELECT RELEASE_LOCK(:name)', { replacements: { name }, transaction, type: QueryTypes.SELECT });
          }
        }
      });
    },
    exclusive: (fn) => b.withMigrationLock(sequelize, fn),
    async openKeyValue() {
      const { openSqlKeyValue } = await import('./state/sql.js');
      return openSqlKeyValue(sequelize, (fn) => b.withMigrationLock(sequelize, fn));
    },
    async ping() {
      // As a SELECT: a raw query's result on MariaDB (mariadb 3.x driver) makes Sequelize throw.
      await sequelize.query('SELECT 1', { type: QueryTypes.SELECT });
    },
    close: once(() => sequelize.close()),
  };
}

async function openMongo(url: string): Promise<Storage> {
  const mongoose = await import('mongoose');
  const b = await import('@portcullis/binding-mongoose');
  const connection = await mongoose.createConnection(url, { serverSelectionTimeoutMS: 5000 }).asPromise();
  const models = b.defineModels(connection);
  try {
    await Promise.all([
      models.client.init(),
      models.user.init(),
      models.grant.init(),
      models.token.init(),
      models.device.init(),
      models.key.init(),
      models.ephemeral.init(),
    ]);
  } catch (err) {
    await connection.close().catch(() => {});
    throw err;
  }
  const clients = b.createClientStore(models.client);
  const registrations = b.createClientRegistrationStore(models.client);
  const users = b.createUserStore<User>(models.user);
  const grants = b.createGrantStore(models.grant);
  const userGrants = b.createUserGrantStore(models.token, models.grant);
  return {
    kind: 'mongodb',
    driver: 'mongoose',
    clients,
    users,
    grants,
    userGrants,
    bind(provider, { currentUser, withGrants }) {
      b.bindMongoose(provider, {
        client: models.client,
        user: models.user,
        token: models.token,
        device: models.device,
        key: models.key,
        ephemeral: models.ephemeral,
        ...(withGrants ? { grant: models.grant } : {}),
        currentUser,
      });
      provider.useStores({ userGrants }, { source: 'binding' });
    },
    async putClient(c) {
      const { defaultScopes, tokenEndpointAuthMethod, resourceServer, ...fields } = clientFields(c);
      const set: Row = { ...fields };
      const unset: Record<string, ''> = {};
      if (defaultScopes) set.defaultScopes = defaultScopes;
      else unset.defaultScopes = '';
      if (tokenEndpointAuthMethod) set.tokenEndpointAuthMethod = tokenEndpointAuthMethod;
      else unset.tokenEndpointAuthMethod = '';
      if (resourceServer) set.resourceServer = true;
      else unset.resourceServer = '';
      const r = await models.client.updateOne({ clientId: c.id }, { $set: set, $unset: unset }, { upsert: true });
      return r.upsertedCount > 0 ? 'created' : 'updated';
    },
    async listClients() {
      const docs = await models.client.find().sort({ clientId: 1 }).lean();
      return docs.map((d) => toClient(d as unknown as Row, 'clientId'));
    },
    async removeClient(id) {
      const r = await models.client.deleteOne({ clientId: id });
      await models.token.updateMany({ clientId: id, revokedAt: null }, { $set: { revokedAt: new Date() } });
      return r.deletedCount > 0;
    },
    async putUser(u) {
      const existing = await models.user.findOne({ username: u.username }).lean();
      if (existing) {
        if (existing.userId !== u.subject) throw subjectClash(u.username);
        await models.user.updateOne({ username: u.username }, { $set: { passwordHash: u.passwordHash } });
        return 'updated';
      }
      const bySubject = await models.user.findOne({ userId: u.subject }).lean();
      if (bySubject) {
        // Another process seeding at the same moment wrote this very user between the two reads.
        if (bySubject.username !== u.username) throw subjectClash(u.username);
        await models.user.updateOne({ userId: u.subject }, { $set: { passwordHash: u.passwordHash } });
        return 'updated';
      }
      try {
        await models.user.create({ userId: u.subject, username: u.username, passwordHash: u.passwordHash });
      } catch (err) {
        // Another process wrote the same user a moment before (a lease that ran out under load):
        // the same user is fine, a different subject under that name is the usual clash.
        if ((err as { code?: unknown } | null)?.code !== 11000) throw err;
        const now = await models.user.findOne({ username: u.username }).lean();
        if (now?.userId !== u.subject) throw subjectClash(u.username);
        return 'updated';
      }
      return 'created';
    },
    purgeExpired: (batchSize) => b.purgeExpired({ grant: models.grant, token: models.token, ephemeral: models.ephemeral }, { batchSize }),
    purgeUnusedClients: (registeredBefore, limit) => registrations.purgeUnusedClients!(registeredBefore, limit),
    async tryExclusive(name, fn) {
      // A lock document with a lease, so a process that dies holding it does not block the others for long.
      const locks = connection.collection<{ _id: string; owner: string; expiresAt: Date }>('portcullis_locks');
      const owner = randomBytes(16).toString('hex');
      const lease = () => ({ owner, expiresAt: new Date(Date.now() + LOCK_LEASE_MS) });
      try {
        await locks.updateOne({ _id: name, expiresAt: { $lte: new Date() } }, { $set: lease() }, { upsert: true });
      } catch (err) {
        if ((err as { code?: unknown } | null)?.code === 11000) return { ran: false };
        throw err;
      }
      try {
        return { ran: true, value: await fn() };
      } finally {
        await locks.deleteOne({ _id: name, owner });
      }
    },
    exclusive: (fn) => fn(),
    async openKeyValue() {
      const { openMongoKeyValue } = await import('./state/mongo.js');
      return openMongoKeyValue(connection);
    },
    async ping() {
      const db = connection.db;
      if (!db || connection.readyState !== 1) throw new Error('not connected');
      await db.admin().ping();
    },
    close: once(() => connection.close()),
  };
}
