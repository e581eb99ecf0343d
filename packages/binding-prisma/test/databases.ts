import { randomBytes } from 'node:crypto';
import type { Client } from '@portcullis/core';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { inject } from 'vitest';
import { keyHash, migrate } from '../src/index.js';
import { PrismaClient } from './generated/postgresql/client.js';

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
  /** A client generated from prisma/schema.prisma over its own new database, tables made by `migrate()`. */
  prisma: PrismaClient;
  /** Writes clients and users with Prisma's own `createMany`, as an application seeds them. */
  seed(clients: readonly Client[], users?: readonly UserRow[]): Promise<void>;
  /** Reads rows with plain SQL over node-postgres, bypassing Prisma and the stores. */
  rows(query: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Disconnects and drops the database. */
  close(): Promise<void>;
}

/** A new database on the server the global setup started, with the Portcullis tables. */
export async function openDatabase(): Promise<TestDatabase> {
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
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: url.toString(), max: 10, connectionTimeoutMillis: 5_000 }) });
  await migrate({ prisma });
  const raw = new pg.Pool({ connectionString: url.toString(), max: 2 });
  return {
    prisma,
    seed: async (clients, users = []) => {
      if (clients.length > 0) await prisma.portcullisClient.createMany({ data: clients.map(clientRow) });
      if (users.length > 0) await prisma.portcullisUser.createMany({ data: [...users] });
    },
    rows: async (query, params = []) => (await raw.query(query, params)).rows,
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
  const one = async (query: string, params: unknown[]) => (await db.rows(query, params))[0] ?? null;
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
