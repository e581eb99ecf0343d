/**
 * Dynamic client registration (RFC 7591/7592) on SQLite, PostgreSQL and MariaDB: the testkit's
 * `ClientRegistrationStore` suite, client tables made before the registration columns upgraded by
 * `migrate()` with their rows kept, and the whole flow through a provider bound with `bindDrizzle`.
 */
import {
  assertClientExactly,
  clientRegistrationStoreSuite,
  makeRegisteredClient,
  REGISTRATION_FLOW_OPTIONS,
  registrationFlow,
} from '@portcullis/binding-testkit';
import { OAuth2Provider } from '@portcullis/core';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindDrizzle, createDrizzleStores, migrate, upgradeColumns } from '../src/index.js';
import { DIALECTS, openDatabase, type TestDatabase } from './databases.js';

const t = { describe, it, beforeAll, afterAll };

/** The client table as versions before dynamic client registration created it. */
const OLD_CLIENT_COLUMNS = [
  'id',
  'secret_hash',
  'redirect_uris',
  'grant_types',
  'scopes',
  'default_scopes',
  'token_endpoint_auth_method',
  'resource_server',
  'resources',
];

for (const dialect of DIALECTS) {
  describe(dialect, () => {
    let suiteDb: TestDatabase | undefined;
    clientRegistrationStoreSuite(t, {
      name: `drizzle ${dialect}`,
      create: async () => {
        suiteDb = await openDatabase(dialect);
        const stores = createDrizzleStores(suiteDb.options);
        return { clients: stores.clients, registrations: stores.registrations };
      },
      destroy: async () => {
        await suiteDb?.close();
      },
    });

    it('migrate() adds the registration columns to an older client table, keeping its rows', async () => {
      const db = await openDatabase(dialect);
      try {
        // Rebuild the client table as the previous migration file made it, with one client.
        await db.rows(sql.raw('DROP TABLE portcullis_clients'));
        const idType = dialect === 'mysql' ? 'varchar(255) NOT NULL' : 'text NOT NULL';
        const flagType = dialect === 'sqlite' ? 'integer' : 'boolean';
        const tail = dialect === 'mysql' ? ' DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin' : '';
        await db.rows(
          sql.raw(
            `CREATE TABLE portcullis_clients (id ${idType} PRIMARY KEY, secret_hash text, redirect_uris text NOT NULL, grant_types text NOT NULL, scopes text NOT NULL, default_scopes text, token_endpoint_auth_method ${dialect === 'mysql' ? 'varchar(32)' : 'text'}, resource_server ${flagType}, resources text)${tail}`,
          ),
        );
        await db.rows(
          sql.raw(
            `INSERT INTO portcullis_clients (id, secret_hash, redirect_uris, grant_types, scopes) VALUES ('old-ü', 'hmac-sha256$s$d', '["https://app.example/cb"]', '["authorization_code"]', '["read"]')`,
          ),
        );
        const stores = createDrizzleStores(db.options);
        await expect(stores.clients.getClient('old-ü'), 'this version cannot read the old table').rejects.toThrow();

        await Promise.all(Array.from({ length: 3 }, () => migrate(db.options)));

        const columns =
          dialect === 'sqlite'
            ? await db.rows(sql.raw("SELECT name FROM pragma_table_info('portcullis_clients')"))
            : dialect === 'mysql'
              ? await db.rows(
                  sql.raw(
                    "SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'portcullis_clients'",
                  ),
                )
              : await db.rows(
                  sql.raw(
                    "SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'portcullis_clients' AND table_schema = current_schema()",
                  ),
                );
        const added = [
          'require_pushed_authorization_requests',
          'dpop_bound_access_tokens',
          'name',
          'uri',
          'logo_uri',
          'client_secret_expires_at',
          'secret_never_expires',
          'registration',
          'registered_at',
          'first_used_at',
        ];
        expect(columns.map((c) => String(c.name)).sort()).toEqual([...OLD_CLIENT_COLUMNS, ...added].sort());
        assertClientExactly(
          await stores.clients.getClient('old-ü'),
          {
            id: 'old-ü',
            secretHash: 'hmac-sha256$s$d',
            redirectUris: ['https://app.example/cb'],
            grantTypes: ['authorization_code'],
            scopes: ['read'],
          },
          'the old client after the upgrade',
        );
        const registered = makeRegisteredClient();
        expect(await stores.registrations.createClient(registered)).toBe(true);
        assertClientExactly(await stores.clients.getClient(registered.id), registered, 'registered on the upgraded table');
      } finally {
        await db.close();
      }
    });

    it('registers, uses, updates and deletes a client through a provider; neither secret at rest', async () => {
      const db = await openDatabase(dialect);
      try {
        const provider = new OAuth2Provider({
          issuer: 'http://127.0.0.1',
          grants: ['authorization_code', 'refresh_token', 'client_credentials'],
          scopes: ['read', 'write'],
          logger: { warn: () => {}, error: () => {} },
          registration: { enabled: true, grantTypes: [...REGISTRATION_FLOW_OPTIONS.grantTypes], scopes: ['read', 'write'] },
        });
        bindDrizzle(provider, { ...db.options, currentUser: () => null });
        const row = (id: string) => db.rows(sql`SELECT * FROM portcullis_clients WHERE id = ${id}`);
        const { clientId } = await registrationFlow(provider, {
          inspect: async (step, s) => {
            const rows = await row(s.clientId);
            expect(rows).toHaveLength(1);
            const text = JSON.stringify(rows[0]);
            expect(text).not.toContain(s.clientSecret);
            expect(text).not.toContain(s.registrationAccessToken);
            expect(rows[0]?.name).toBe(step === 'registered' ? 'Café client ✓' : 'Renamed');
            expect(String(rows[0]?.registration)).toMatch(/"accessTokenHash"/);
          },
        });
        expect(await row(clientId)).toHaveLength(0);
      } finally {
        await db.close();
      }
    });
  });
}

describe('the shipped migration files', () => {
  it('list the same upgrade columns as the client table has (MySQL and SQLite run them from migrate())', async () => {
    for (const dialect of ['mysql', 'sqlite'] as const) {
      const clientColumns = (await upgradeColumns(dialect)).filter((c) => c.table === 'portcullis_clients');
      expect(clientColumns.map((c) => c.column)).toEqual([
        'require_pushed_authorization_requests',
        'dpop_bound_access_tokens',
        'name',
        'uri',
        'logo_uri',
        'client_secret_expires_at',
        'secret_never_expires',
        'registration',
        'registered_at',
        'first_used_at',
      ]);
      const time = dialect === 'mysql' ? 'datetime(3)' : 'integer';
      expect((await upgradeColumns(dialect)).filter((c) => c.table !== 'portcullis_clients')).toEqual([
        {
          table: 'portcullis_tokens',
          column: 'issued_at',
          statement: `ALTER TABLE portcullis_tokens ADD COLUMN issued_at ${time}`,
        },
        ...['portcullis_grants', 'portcullis_tokens', 'portcullis_device_codes'].map((table) => ({
          table,
          column: 'auth_time',
          statement: `ALTER TABLE ${table} ADD COLUMN auth_time ${time}`,
        })),
      ]);
    }
    expect(await upgradeColumns('postgresql'), 'PostgreSQL runs ADD COLUMN IF NOT EXISTS from the file').toEqual([]);
  });
});
