import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Options, QueryTypes, Sequelize } from 'sequelize';
import { inject } from 'vitest';
import { defineModels, keyHash, migrate, type PortcullisModels, tableNamesFor } from '../src/index.js';

/** The four databases every suite runs on. */
export const DIALECTS = ['sqlite-memory', 'sqlite-file', 'postgres', 'mariadb'] as const;
export type DialectName = (typeof DIALECTS)[number];

export interface TestDatabase {
  dialect: DialectName;
  sequelize: Sequelize;
  models: PortcullisModels;
  tables: ReturnType<typeof tableNamesFor>;
  tablePrefix: string;
  /** The URL or file of the database, to open it again from another instance. */
  location: string;
  /** Reads raw rows with plain SQL, bypassing the models. */
  rawRows(table: keyof PortcullisModels, where: Record<string, string>): Promise<Record<string, unknown>[]>;
  /** Drops the tables and closes the connection. */
  close(): Promise<void>;
  /** Closes the connection (if still open) and removes a SQLite file, leaving server tables be. */
  discard(): Promise<void>;
}

const QUIET: Options = { logging: false };

/** Fails fast instead of waiting for a server that is gone. */
const FAST_FAIL: Options = { pool: { max: 5, acquire: 5_000 }, retry: { max: 0 } };

/** The URL of the PostgreSQL or MariaDB server the global setup started (or the env named). */
export function serverUrl(dialect: 'postgres' | 'mariadb'): string {
  return dialect === 'postgres' ? inject('postgresUrl') : inject('mariadbUrl');
}

/**
 * A new Sequelize instance for a dialect. `location` names the database: a URL for the servers
 * (default: the one the global setup started), a file for `sqlite-file` (default: a new file in
 * a temp dir).
 */
export async function connect(
  dialect: DialectName,
  location?: string,
): Promise<{ sequelize: Sequelize; location: string; cleanup: () => Promise<void> }> {
  if (dialect === 'sqlite-memory') {
    return {
      sequelize: new Sequelize({ dialect: 'sqlite', storage: ':memory:', ...QUIET }),
      location: ':memory:',
      cleanup: async () => {},
    };
  }
  if (dialect === 'sqlite-file') {
    const dir = location ? undefined : await mkdtemp(join(tmpdir(), 'portcullis-sqlite-'));
    const storage = location ?? join(dir as string, 'test.sqlite');
    return {
      sequelize: new Sequelize({ dialect: 'sqlite', storage, ...QUIET }),
      location: storage,
      cleanup: async () => {
        if (dir) await rm(dir, { recursive: true, force: true });
      },
    };
  }
  const url = location ?? serverUrl(dialect);
  const sequelize = new Sequelize(url, {
    ...QUIET,
    ...FAST_FAIL,
    timezone: '+00:00',
    // Generous: other test suites may be loading this machine.
    dialectOptions: { connectTimeout: 10_000 },
  });
  return { sequelize, location: url, cleanup: async () => {} };
}

/**
 * Creates an empty database of its own on the PostgreSQL or MariaDB server and returns its URL,
 * with `drop()` to remove it (closing any session left on it).
 */
export async function freshDatabase(dialect: 'postgres' | 'mariadb'): Promise<{ url: string; drop: () => Promise<void> }> {
  const server = serverUrl(dialect);
  const name = `portcullis_fresh_${randomBytes(6).toString('hex')}`;
  const quoted = dialect === 'postgres' ? `"${name}"` : `\`${name}\``;
  const onServer = async (sql: string) => {
    const admin = new Sequelize(server, { ...QUIET, pool: { max: 1 } });
    try {
      await admin.query(sql, { type: QueryTypes.RAW });
    } finally {
      await admin.close();
    }
  };
  await onServer(`CREATE DATABASE ${quoted}`);
  const url = new URL(server);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => onServer(`DROP DATABASE IF EXISTS ${quoted}${dialect === 'postgres' ? ' WITH (FORCE)' : ''}`),
  };
}

/** A unique table prefix, so test files sharing a server never see each other's rows. */
export function uniquePrefix(): string {
  return `t${randomBytes(4).toString('hex')}_`;
}

/**
 * Opens a database of this dialect with the default models on fresh tables (created by
 * `migrate()`, the production path) under a unique prefix.
 */
export async function openDatabase(dialect: DialectName, where: { location?: string; tablePrefix?: string } = {}): Promise<TestDatabase> {
  const { sequelize, location, cleanup } = await connect(dialect, where.location);
  const options = { tablePrefix: where.tablePrefix ?? uniquePrefix() };
  await migrate(sequelize, options);
  const models = defineModels(sequelize, options);
  const tables = tableNamesFor(options);
  const qi = sequelize.getQueryInterface();
  return {
    dialect,
    sequelize,
    models,
    tables,
    tablePrefix: options.tablePrefix,
    location,
    async rawRows(table, where) {
      const conditions = Object.keys(where).map((column) => `${qi.quoteIdentifier(column)} = :${column}`);
      const sql = `SELECT * FROM ${qi.quoteIdentifier(tables[table])} WHERE ${conditions.join(' AND ')}`;
      return sequelize.query<Record<string, unknown>>(sql, { type: QueryTypes.SELECT, replacements: where });
    },
    async discard() {
      // The test may have closed it already; SQLite refuses a second close.
      await sequelize.close().catch(() => {});
      await cleanup();
    },
    async close() {
      try {
        for (const table of Object.values(tables)) await qi.dropTable(table);
      } finally {
        await sequelize.close();
        await cleanup();
      }
    },
  };
}

/** Raw-row probes for the testkit: rows are found by the SHA-256 hex of the key, never by the key. */
export function probes(db: TestDatabase) {
  const one = async (table: 'grant' | 'token', where: Record<string, string>) => (await db.rawRows(table, where))[0] ?? null;
  return {
    grant: { read: (clientId: string, code: string) => one('grant', { codeHash: keyHash(code), clientId }) },
    token: {
      readAccess: (token: string) => one('token', { tokenHash: keyHash(token), kind: 'access' }),
      readRefresh: (token: string) => one('token', { tokenHash: keyHash(token), kind: 'refresh' }),
    },
  };
}

/**
 * A loopback TCP proxy in front of a database server. `cut()` destroys every open connection
 * and stops listening, which to the client is exactly a server that went away.
 */
export interface CuttableProxy {
  url: string;
  cut(): Promise<void>;
}

export async function proxyTo(serverUrlString: string): Promise<CuttableProxy> {
  const target = new URL(serverUrlString);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = netConnect({ host: target.hostname, port: Number(target.port) });
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = (s: Socket) => () => {
      sockets.delete(s);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', drop(client)).on('error', drop(client));
    upstream.on('close', drop(upstream)).on('error', drop(upstream));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('proxy has no port');
  const url = new URL(serverUrlString);
  url.port = String(address.port);
  return {
    url: url.toString(),
    async cut() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
