import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@libsql/client';
import type { Client } from '@portcullis/core';
import { type SQL, sql } from 'drizzle-orm';
import { drizzle as drizzleLibsql } from 'drizzle-orm/libsql';
import { drizzle as drizzleMysql } from 'drizzle-orm/mysql2';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { inject } from 'vitest';
import {
  type DrizzleStoresOptions,
  driverFor,
  keyHash,
  migrate,
  mysqlClients,
  mysqlUsers,
  pgClients,
  pgUsers,
  sqliteClients,
  sqliteUsers,
} from '../src/index.js';

/** A user to seed: the user store's row. */
export interface UserRow {
  id: string;
  username: string;
  passwordHash: string;
}

/** A client as a row of the default client table (lists as JSON text). */
export function clientRow(c: Client) {
  return {
    id: c.id,
    secretHash: c.secretHash,
    redirectUris: JSON.stringify(c.redirectUris),
    grantTypes: JSON.stringify(c.grantTypes),
    scopes: JSON.stringify(c.scopes),
    defaultScopes: c.defaultScopes ? JSON.stringify(c.defaultScopes) : null,
    tokenEndpointAuthMethod: c.tokenEndpointAuthMethod ?? null,
    resourceServer: c.resourceServer ?? null,
    resources: c.resources ? JSON.stringify(c.resources) : null,
  };
}

/** The databases every suite runs on. */
export const DIALECTS = ['sqlite', 'postgresql', 'mysql'] as const;
export type DialectName = (typeof DIALECTS)[number];

export interface TestDatabase {
  dialect: DialectName;
  /** What `createDrizzleStores` / `bindDrizzle` / `migrate` take. */
  options: DrizzleStoresOptions;
  /** Writes clients and users with Drizzle's own insert builder, as an application seeds them. */
  seed(clients: readonly Client[], users?: readonly UserRow[]): Promise<void>;
  /** Reads rows with plain SQL, bypassing the stores. */
  rows(query: SQL): Promise<Record<string, unknown>[]>;
  /** Closes the connections and drops the database. */
  close(): Promise<void>;
}

/** The URL of the PostgreSQL or MariaDB server the global setup started. */
export function serverUrl(dialect: 'postgresql' | 'mysql'): string {
  return dialect === 'postgresql' ? inject('postgresUrl') : inject('mariadbUrl');
}

const newName = () => `portcullis_drizzle_${randomBytes(6).toString('hex')}`;

function mysqlConfig(url: string, database?: string): mysql.PoolOptions {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port),
    user: decodeURIComponent(u.username) || 'root',
    password: decodeURIComponent(u.password),
    database: database ?? u.pathname.slice(1),
    timezone: 'Z',
    connectionLimit: 10,
    connectTimeout: 10_000,
  };
}

/**
 * A Drizzle database of this dialect on a database of its own (a new file for SQLite, a new
 * database on the server otherwise), with the tables made by `migrate()`, the production path.
 * `server` points PostgreSQL/MySQL at another address (a proxy) of the same server and database.
 */
export async function openDatabase(dialect: DialectName, where: { server?: string; database?: string } = {}): Promise<TestDatabase> {
  if (dialect === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-drizzle-'));
    const client = createClient({ url: `file:${join(dir, 'test.sqlite')}` });
    const db = drizzleLibsql({ client });
    const options: DrizzleStoresOptions = { dialect, db };
    await migrate(options);
    return {
      dialect,
      options,
      seed: async (clients, users = []) => {
        if (clients.length > 0) await db.insert(sqliteClients).values(clients.map(clientRow));
        if (users.length > 0) await db.insert(sqliteUsers).values([...users]);
      },
      rows: async (query) => (await db.all(query)) as Record<string, unknown>[],
      close: async () => {
        client.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  const server = serverUrl(dialect);
  const name = where.database ?? newName();
  const owned = where.database === undefined;
  if (dialect === 'postgresql') {
    const admin = new pg.Client({ connectionString: server });
    await admin.connect();
    try {
      if (owned) await admin.query(`CREATE DATABASE "${name}"`);
    } finally {
      await admin.end();
    }
    const url = new URL(where.server ?? server);
    url.pathname = `/${name}`;
    const pool = new pg.Pool({ connectionString: url.toString(), max: 10, connectionTimeoutMillis: 5_000 });
    pool.on('error', () => {}); // an idle client whose server went away: the next query reports it
    const db = drizzlePg({ client: pool });
    const options: DrizzleStoresOptions = { dialect, db };
    if (owned) await migrate(options);
    return {
      dialect,
      options,
      seed: async (clients, users = []) => {
        if (clients.length > 0) await db.insert(pgClients).values(clients.map(clientRow));
        if (users.length > 0) await db.insert(pgUsers).values([...users]);
      },
      rows: async (query) => (await db.execute(query)).rows,
      close: async () => {
        await pool.end();
        if (!owned) return;
        const dropper = new pg.Client({ connectionString: server });
        await dropper.connect();
        try {
          await dropper.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        } finally {
          await dropper.end();
        }
      },
    };
  }
  const admin = await mysql.createConnection(mysqlConfig(server));
  try {
    if (owned) await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  } finally {
    await admin.end();
  }
  const pool = mysql.createPool(mysqlConfig(where.server ?? server, name));
  const db = drizzleMysql({ client: pool });
  const options: DrizzleStoresOptions = { dialect, db };
  if (owned) await migrate(options);
  return {
    dialect,
    options,
    seed: async (clients, users = []) => {
      if (clients.length > 0) await db.insert(mysqlClients).values(clients.map(clientRow));
      if (users.length > 0) await db.insert(mysqlUsers).values([...users]);
    },
    rows: async (query) => {
      const driver = driverFor('mysql', db);
      return driver.rows(query);
    },
    close: async () => {
      await pool.end();
      if (!owned) return;
      const dropper = await mysql.createConnection(mysqlConfig(server));
      try {
        await dropper.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await dropper.end();
      }
    },
  };
}

/** Raw-row probes for the testkit: rows are found by the SHA-256 hex of the key, never by the key. */
export function probes(db: TestDatabase) {
  const one = async (query: SQL) => (await db.rows(query))[0] ?? null;
  return {
    grant: {
      read: (clientId: string, code: string) =>
        one(sql`SELECT * FROM portcullis_grants WHERE code_hash = ${keyHash(code)} AND client_id = ${clientId}`),
    },
    token: {
      readAccess: (token: string) => one(sql`SELECT * FROM portcullis_tokens WHERE token_hash = ${keyHash(token)} AND kind = 'access'`),
      readRefresh: (token: string) => one(sql`SELECT * FROM portcullis_tokens WHERE token_hash = ${keyHash(token)} AND kind = 'refresh'`),
    },
  };
}
