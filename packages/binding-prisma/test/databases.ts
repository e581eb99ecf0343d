import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@libsql/client';
import type { Client } from '@portcullis/core';
import { PrismaLibSql } from '@prisma/adapter-libsql';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { inject } from 'vitest';
import { keyHash, migrate, type PortcullisPrisma, type Provider } from '../src/index.js';
import { PrismaClient as PgClient } from './generated/postgresql/client.js';
import { PrismaClient as LiteClient } from './generated/sqlite/client.js';

/** The databases every suite runs on. */
export const PROVIDERS: readonly Provider[] = ['postgresql', 'sqlite'];

/** A client as a row of the client table (lists as JSON text). */
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

/** A user to seed: the user table's row. */
export interface UserRow {
  id: string;
  username: string;
  passwordHash: string;
}

export interface TestDatabase {
  provider: Provider;
  /** A client generated from prisma/<provider> schema over a database of its own, tables made by `migrate()`. */
  prisma: PortcullisPrisma & { $disconnect(): Promise<void> };
  /** Writes clients and users with Prisma's own `createMany`, as an application seeds them. */
  seed(clients: readonly Client[], users?: readonly UserRow[]): Promise<void>;
  /** Reads rows with plain SQL over the driver itself (node-postgres, libsql), bypassing Prisma and the stores. */
  rows(query: string, params?: (string | number)[]): Promise<Record<string, unknown>[]>;
  /** Disconnects and drops the database. */
  close(): Promise<void>;
}

/** SQL placeholders: `$1` on PostgreSQL, `?` on SQLite. */
const params = (provider: Provider, query: string) => (provider === 'sqlite' ? query.replace(/\$\d+/g, '?') : query);

/** A new database (a new file for SQLite, a new database on the server the global setup started otherwise), with the tables. */
export async function openDatabase(provider: Provider): Promise<TestDatabase> {
  if (provider === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-prisma-'));
    const url = `file:${join(dir, 'test.sqlite')}`;
    const prisma = new LiteClient({ adapter: new PrismaLibSql({ url }) });
    await migrate({ prisma, provider });
    const raw = createClient({ url });
    return {
      provider,
      prisma,
      seed: async (clients, users = []) => {
        if (clients.length > 0) await prisma.portcullisClient.createMany({ data: clients.map(clientRow) });
        if (users.length > 0) await prisma.portcullisUser.createMany({ data: [...users] });
      },
      rows: async (query, args = []) =>
        (await raw.execute({ sql: params(provider, query), args })).rows.map((row) => ({ ...row }) as Record<string, unknown>),
      close: async () => {
        await prisma.$disconnect();
        raw.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  const server = inject('postgresUrl');
  const name = `portcullis_prisma_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(server);
  url.pathname = `/${name}`;
  const prisma = new PgClient({ adapter: new PrismaPg({ connectionString: url.toString(), max: 10, connectionTimeoutMillis: 5_000 }) });
  await migrate({ prisma, provider });
  const raw = new pg.Pool({ connectionString: url.toString(), max: 2 });
  return {
    provider,
    prisma,
    seed: async (clients, users = []) => {
      if (clients.length > 0) await prisma.portcullisClient.createMany({ data: clients.map(clientRow) });
      if (users.length > 0) await prisma.portcullisUser.createMany({ data: [...users] });
    },
    rows: async (query, args = []) => (await raw.query(query, args)).rows,
    close: async () => {
      await prisma.$disconnect();
      await raw.end();
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

/** Raw-row probes for the testkit: rows are found by the SHA-256 hex of the key, never by the key. */
export function probes(db: TestDatabase) {
  const one = async (query: string, args: string[]) => (await db.rows(query, args))[0] ?? null;
  return {
    grant: {
      read: (clientId: string, code: string) =>
        one('SELECT * FROM portcullis_grants WHERE code_hash = $1 AND client_id = $2', [keyHash(code), clientId]),
    },
    token: {
      readAccess: (token: string) => one(`SELECT * FROM portcullis_tokens WHERE token_hash = $1 AND kind = 'access'`, [keyHash(token)]),
      readRefresh: (token: string) => one(`SELECT * FROM portcullis_tokens WHERE token_hash = $1 AND kind = 'refresh'`, [keyHash(token)]),
    },
  };
}
