/**
 * `DATABASE_DRIVER=drizzle`: the app's storage on `@portcullis/binding-drizzle`, over the same
 * `DATABASE_URL`s as the Sequelize default: `sqlite:` through `@libsql/client`, `postgres://`
 * through `pg`, `mariadb://` and `mysql://` through `mysql2`. The binding's default tables
 * (`portcullis_clients`, `portcullis_users`, ...) are created by its `migrate()`; they are not the
 * Sequelize binding's tables, so switching drivers starts from an empty database (seed again).
 *
 * What the Drizzle storage has no table for is refused at start with a message naming the
 * setting: the shared app state on the database (`STATE_STORE=shared` needs a Redis grant cache
 * here). The Drizzle binding keeps pushed requests and DPoP proof ids in its ephemeral table, but
 * has no signing-key table: with JWT access tokens the provider setup falls back to this
 * process's memory and warns, where the Sequelize and Mongoose storages keep keys in the database.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type DatabaseConfig, type DatabasePoolConfig, DEFAULT_DATABASE_POOL } from './config.js';
import { clientFields, once, type Storage, subjectClash } from './storage.js';

/** Locks are taken by name: hashed on PostgreSQL (`hashtext`), as is by MariaDB's `GET_LOCK`. */
const SEED_LOCK = 'portcullis-example-seed';
/** How long `exclusive` waits for the seed lock before giving up, in seconds. */
const LOCK_WAIT_SECONDS = 60;

type Dialect = 'postgresql' | 'mysql' | 'sqlite';

/** One connection held for a lock: a query with positional parameters, and giving it back. */
interface Held {
  query(text: string, params: unknown[]): Promise<Record<string, unknown>[]>;
  /** Gives the connection back; `broken`: closes it instead (its transaction is in an unknown state). */
  release(broken?: boolean): void;
}

interface Opened {
  dialect: Dialect;
  db: unknown;
  /** A connection of its own (PostgreSQL, MariaDB), for session locks. */
  hold?: () => Promise<Held>;
  close(): Promise<void>;
}

async function connect(db: DatabaseConfig, p: DatabasePoolConfig): Promise<Opened> {
  if (db.kind === 'sqlite') {
    const { createClient } = await import('@libsql/client');
    const { drizzle } = await import('drizzle-orm/libsql');
    const memory = db.storage === ':memory:';
    if (!memory) await mkdir(dirname(db.storage), { recursive: true });
    const client = createClient({ url: memory ? ':memory:' : pathToFileURL(db.storage).href });
    try {
      // The CLI may write while the server runs, and several processes may share the file.
      await client.execute('PRAGMA busy_timeout = 5000');
      if (!memory) await client.execute('PRAGMA journal_mode = WAL');
    } catch (err) {
      client.close();
      throw err;
    }
    return { dialect: 'sqlite', db: drizzle({ client }), close: async () => client.close() };
  }
  if (db.kind === 'postgres') {
    const { default: pg } = await import('pg');
    const { drizzle } = await import('drizzle-orm/node-postgres');
    // pg's connectionTimeoutMillis bounds both the wait for a free client and opening one.
    const pool = new pg.Pool({ connectionString: db.url, max: p.max, connectionTimeoutMillis: Math.max(p.acquireMs, p.connectTimeoutMs) });
    // An idle connection the server drops must not crash the process; the next query reconnects.
    pool.on('error', () => {});
    return {
      dialect: 'postgresql',
      db: drizzle({ client: pool }),
      hold: async () => {
        const c = await pool.connect();
        return { query: async (text, params) => (await c.query(text, params)).rows, release: (broken) => c.release(broken === true) };
      },
      close: () => pool.end(),
    };
  }
  if (db.kind === 'mariadb') {
    const mysql = await import('mysql2/promise');
    const { drizzle } = await import('drizzle-orm/mysql2');
    // The binding's DATETIME(3) columns are read and written in UTC.
    const pool = mysql.createPool({
      uri: db.url.replace(/^mariadb:/i, 'mysql:'),
      timezone: 'Z',
      connectionLimit: p.max,
      connectTimeout: p.connectTimeoutMs,
    });
    return {
      dialect: 'mysql',
      db: drizzle({ client: pool }),
      hold: async () => {
        const c = await pool.getConnection();
        return {
          query: async (text, params) => (await c.query(text, params))[0] as Record<string, unknown>[],
          release: (broken) => (broken ? c.destroy() : c.release()),
        };
      },
      close: () => pool.end(),
    };
  }
  throw new Error(`the Drizzle storage does not handle ${db.kind}`);
}

const gotLock = (row: Record<string, unknown> | undefined) => row?.got === true || Number(row?.got) === 1;

/** Connects, creates the binding's tables where missing, and returns the storage. */
export async function openDrizzle(config: DatabaseConfig, pool: DatabasePoolConfig = DEFAULT_DATABASE_POOL): Promise<Storage> {
  const b = await import('@portcullis/binding-drizzle');
  const { sql } = await import('drizzle-orm');
  const opened = await connect(config, pool);
  const { dialect, hold } = opened;
  // `migrate` checks the database's kind against the dialect; the union is the binding's own.
  const options = { db: opened.db, dialect } as Parameters<typeof b.createDrizzleStores>[0];
  const driver = b.driverFor(dialect, opened.db as Parameters<typeof b.driverFor>[1]);

  /**
   * Runs `fn` holding the lock `name` on a connection of its own, waiting `wait` seconds at most
   * (0: `{ ran: false }` at once when another process holds it). PostgreSQL: a transaction's
   * advisory lock (`pg_try_advisory_xact_lock`, or `pg_advisory_xact_lock` under `lock_timeout`),
   * released when the transaction ends, also when the connection dies. MariaDB: `GET_LOCK(name,
   * wait)` and `RELEASE_LOCK`. SQLite: `fn` runs directly.
   */
  async function withLock<T>(name: string, wait: number, fn: () => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }> {
    if (!hold) return { ran: true, value: await fn() };
    const c = await hold();
    let broken = false;
    try {
      if (dialect === 'postgresql') {
        await c.query('BEGIN', []);
        try {
          let got = true;
          if (wait === 0) got = gotLock((await c.query('SELECT pg_try_advisory_xact_lock(hashtext($1)) AS got', [name]))[0]);
          else {
            // SET LOCAL takes no parameters: the wait is a whole number of seconds from this module.
            await c.query(`SET LOCAL lock_timeout = '${Math.trunc(wait)}s'`, []);
            await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [name]);
          }
          const result = got ? { ran: true as const, value: await fn() } : { ran: false as const };
          await c.query('COMMIT', []);
          return result;
        } catch (err) {
          await c.query('ROLLBACK', []).catch(() => {
            broken = true;
          });
          throw err;
        }
      }
      if (!gotLock((await c.query('SELECT GET_LOCK(?, ?) AS got', [name, wait]))[0])) {
        if (wait === 0) return { ran: false };
        throw new Error(`could not take the database lock "${name}" within ${wait} s`);
      }
      try {
        return { ran: true, value: await fn() };
      } finally {
        await c.query('SELECT RELEASE_LOCK(?)', [name]);
      }
    } finally {
      c.release(broken);
    }
  }

  try {
    // PostgreSQL's migrate takes an advisory lock itself; MariaDB's runs under ours, so processes
    // starting together do not create the same table at once.
    if (dialect === 'mysql') await withLock(SEED_LOCK, LOCK_WAIT_SECONDS, () => b.migrate(options as Parameters<typeof b.migrate>[0]));
    else await b.migrate(options as Parameters<typeof b.migrate>[0]);
  } catch (err) {
    await opened.close().catch(() => {});
    throw err;
  }
  const stores = b.createDrizzleStores(options);
  const json = (v: readonly string[] | null) => (v === null ? null : JSON.stringify(v));
  const bool = (v: boolean | null) => (v !== true ? null : dialect === 'sqlite' ? 1 : true);

  return {
    kind: config.kind,
    driver: 'drizzle',
    clients: stores.clients,
    users: stores.users,
    grants: stores.grants,
    userGrants: stores.userGrants,
    bind(provider, { currentUser, withGrants }) {
      const { grants, ...rest } = stores;
      provider.useStores(withGrants ? stores : rest, { source: 'binding' });
      provider.setCurrentUser(currentUser, { source: 'binding' });
    },
    async putClient(c) {
      const f = clientFields(c);
      const values = {
        secretHash: f.secretHash,
        redirectUris: json(f.redirectUris),
        grantTypes: json(f.grantTypes),
        scopes: json(f.scopes),
        defaultScopes: json(f.defaultScopes),
        tokenEndpointAuthMethod: f.tokenEndpointAuthMethod,
        resourceServer: bool(f.resourceServer),
      };
      const changed = await driver.run(sql`UPDATE portcullis_clients SET secret_hash = ${values.secretHash},
        redirect_uris = ${values.redirectUris}, grant_types = ${values.grantTypes}, scopes = ${values.scopes},
        default_scopes = ${values.defaultScopes}, token_endpoint_auth_method = ${values.tokenEndpointAuthMethod},
        resource_server = ${values.resourceServer} WHERE id = ${c.id}`);
      // MariaDB counts changed rows only: an UPDATE that set the same values answers 0.
      if (changed > 0 || (await driver.rows(sql`SELECT id FROM portcullis_clients WHERE id = ${c.id}`)).length > 0) return 'updated';
      await driver.run(sql`INSERT INTO portcullis_clients (id, secret_hash, redirect_uris, grant_types, scopes, default_scopes,
        token_endpoint_auth_method, resource_server) VALUES (${c.id}, ${values.secretHash}, ${values.redirectUris},
        ${values.grantTypes}, ${values.scopes}, ${values.defaultScopes}, ${values.tokenEndpointAuthMethod}, ${values.resourceServer})`);
      return 'created';
    },
    async listClients() {
      const rows = await driver.rows(sql`SELECT id FROM portcullis_clients ORDER BY id`);
      const clients = await Promise.all(rows.map((r) => stores.clients.getClient(String(r.id))));
      return clients.filter((c) => c !== null);
    },
    async removeClient(id) {
      const n = await driver.run(sql`DELETE FROM portcullis_clients WHERE id = ${id}`);
      await driver.run(
        sql`UPDATE portcullis_tokens SET revoked_at = ${driver.time(new Date())} WHERE client_id = ${id} AND revoked_at IS NULL`,
      );
      return n > 0;
    },
    async putUser(u) {
      const [existing] = await driver.rows(sql`SELECT id FROM portcullis_users WHERE username = ${u.username}`);
      if (existing) {
        if (String(existing.id) !== u.subject) throw subjectClash(u.username);
        await driver.run(sql`UPDATE portcullis_users SET password_hash = ${u.passwordHash} WHERE username = ${u.username}`);
        return 'updated';
      }
      const [bySubject] = await driver.rows(sql`SELECT username FROM portcullis_users WHERE id = ${u.subject}`);
      if (bySubject) {
        // Another process seeding at the same moment wrote this very user between the two reads.
        if (String(bySubject.username) !== u.username) throw subjectClash(u.username);
        await driver.run(sql`UPDATE portcullis_users SET password_hash = ${u.passwordHash} WHERE id = ${u.subject}`);
        return 'updated';
      }
      try {
        await driver.run(
          sql`INSERT INTO portcullis_users (id, username, password_hash) VALUES (${u.subject}, ${u.username}, ${u.passwordHash})`,
        );
      } catch (err) {
        // Another process inserted a user under this name or subject a moment before: the same
        // user is fine ("updated"), anything else is the usual clash or the original failure.
        const [now] = await driver.rows(sql`SELECT id FROM portcullis_users WHERE username = ${u.username}`);
        if (!now) throw err;
        if (String(now.id) !== u.subject) throw subjectClash(u.username);
        return 'updated';
      }
      return 'created';
    },
    // The binding deletes every expired row in one statement per table; `batchSize` does not apply.
    purgeExpired: () => b.purgeExpired(options),
    purgeUnusedClients: (registeredBefore, limit) => stores.registrations.purgeUnusedClients!(registeredBefore, limit),
    tryExclusive: (name, fn) => withLock(name, 0, fn),
    async exclusive(fn) {
      const r = await withLock(SEED_LOCK, LOCK_WAIT_SECONDS, fn);
      if (!r.ran) throw new Error('unreachable: a waiting lock either runs or throws');
      return r.value;
    },
    async openKeyValue() {
      throw new Error(
        'STATE_STORE=shared with DATABASE_DRIVER=drizzle needs GRANT_CACHE=redis://... (the shared state then lives in Redis): the Drizzle storage keeps no app state in the database',
      );
    },
    async ping() {
      await driver.rows(sql`SELECT 1 AS one`);
    },
    close: once(opened.close),
  };
}
