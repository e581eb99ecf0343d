/**
 * Issue 15, a user's grants: the testkit's `UserGrantStore` suite (with `issuedAt` round trips)
 * on SQLite, PostgreSQL and MariaDB; `migrate()` adding `issued_at` and the `(user_id, client_id)`
 * index to a token table made before them, rows kept; a token table of your own without
 * `issuedAt`; and a provider wired with `bindDrizzle` listing and revoking what a user granted.
 */
import { randomBytes } from 'node:crypto';
import {
  authorizationCodeFlow,
  basicAuth,
  bearerRequest,
  formRequest,
  jsonBody,
  redeemCode,
  userGrantStoreSuite,
} from '@portcullis/binding-testkit';
import { hashSecret, OAuth2Provider } from '@portcullis/core';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindDrizzle, createDrizzleStores, keyHash, migrate, migrationStatements, upgradeIndexes } from '../src/index.js';
import { DIALECTS, openDatabase, type TestDatabase } from './databases.js';

const t = { describe, it, beforeAll, afterAll };
const rid = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;

/** The token table's columns and indexes as the database has them. */
async function tokenShape(db: TestDatabase): Promise<{ columns: string[]; indexes: string[] }> {
  const q = (text: string) => db.rows(sql.raw(text));
  const names = (rows: Record<string, unknown>[]) => rows.map((r) => String(r.name ?? r.NAME)).sort();
  if (db.dialect === 'sqlite') {
    return {
      columns: names(await q("SELECT name FROM pragma_table_info('portcullis_tokens')")),
      indexes: names(await q("SELECT name FROM pragma_index_list('portcullis_tokens')")),
    };
  }
  if (db.dialect === 'mysql') {
    const where = "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'portcullis_tokens'";
    return {
      columns: names(await q(`SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE ${where}`)),
      indexes: [...new Set(names(await q(`SELECT INDEX_NAME AS name FROM information_schema.STATISTICS WHERE ${where}`)))],
    };
  }
  return {
    columns: names(
      await q(
        "SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'portcullis_tokens' AND table_schema = current_schema()",
      ),
    ),
    indexes: names(
      await q("SELECT indexname AS name FROM pg_indexes WHERE tablename = 'portcullis_tokens' AND schemaname = current_schema()"),
    ),
  };
}

for (const dialect of DIALECTS) {
  describe(dialect, () => {
    let suiteDb: TestDatabase | undefined;
    userGrantStoreSuite(t, {
      name: `drizzle ${dialect}`,
      create: async () => {
        suiteDb = await openDatabase(dialect);
        const stores = createDrizzleStores(suiteDb.options);
        return { userGrants: stores.userGrants, tokens: stores.tokens, grants: stores.grants };
      },
      destroy: async () => {
        await suiteDb?.close();
      },
    });

    it('migrate() adds issued_at and the (user_id, client_id) index to an older token table, keeping its rows', async () => {
      const db = await openDatabase(dialect);
      try {
        // Rebuild the token table as the previous migration file made it, with one token.
        const create = (await migrationStatements(dialect)).find((s) => s.startsWith('CREATE TABLE IF NOT EXISTS portcullis_tokens ('));
        const old = (create as string)
          .split('\n')
          .filter((line) => !/issued_at|portcullis_tokens_user_client/.test(line))
          .join('\n')
          .replace(/,\n\)/, '\n)');
        await db.rows(sql.raw('DROP TABLE portcullis_tokens'));
        await db.rows(sql.raw(old));
        const before = await tokenShape(db);
        expect(before.columns).not.toContain('issued_at');
        expect(before.indexes).not.toContain('portcullis_tokens_user_client');
        const userId = rid('user');
        const clientId = rid('client');
        const token = rid('at');
        const expires = new Date(Date.now() + 600_000);
        const expiresAt = dialect === 'sqlite' ? expires.getTime() : dialect === 'mysql' ? expires : expires.toISOString();
        await db.rows(
          sql`INSERT INTO portcullis_tokens (token_hash, kind, client_id, user_id, scopes, expires_at, grant_id) VALUES (${keyHash(token)}, ${'access'}, ${clientId}, ${userId}, ${'["read"]'}, ${expiresAt}, ${rid('family')})`,
        );

        await Promise.all(Array.from({ length: 3 }, () => migrate(db.options)));

        const after = await tokenShape(db);
        expect(after.columns).toEqual([...before.columns, 'issued_at'].sort());
        // (PostgreSQL and SQLite also get back the other indexes, which DROP TABLE took with it.)
        expect(after.indexes).toEqual(expect.arrayContaining([...before.indexes, 'portcullis_tokens_user_client']));
        const stores = createDrizzleStores(db.options);
        expect(await stores.tokens.getAccessToken(token), 'the old token reads without issuedAt').toMatchObject({ clientId, userId });
        expect(await stores.tokens.getAccessToken(token)).not.toHaveProperty('issuedAt');
        expect(await stores.userGrants.listUserGrants(userId)).toEqual([
          { clientId, scopes: ['read'], grants: 1, firstIssuedAt: null, lastIssuedAt: null },
        ]);
        const at = new Date(Date.UTC(2026, 5, 7, 8, 9, 10, 456));
        const fresh = { token: rid('at'), clientId, userId, scopes: ['write'], expiresAt: expires, grantId: rid('family'), issuedAt: at };
        await stores.tokens.saveTokens(fresh, null);
        expect((await stores.tokens.getAccessToken(fresh.token))?.issuedAt).toEqual(at);
        // Scopes are a set: sorted here, since rows come back in no set order.
        const both = (await stores.userGrants.listUserGrants(userId)).map((g) => ({ ...g, scopes: [...g.scopes].sort() }));
        expect(both).toEqual([{ clientId, scopes: ['read', 'write'], grants: 2, firstIssuedAt: at, lastIssuedAt: at }]);
        expect(await stores.userGrants.revokeUserGrants(userId, clientId)).toBe(2);
        expect(await stores.tokens.getAccessToken(token)).toBeNull();
        await migrate(db.options);
        expect(await tokenShape(db)).toEqual(after);
      } finally {
        await db.close();
      }
    });
  });
}

describe('the shipped migration files', () => {
  it('list the index MySQL adds to older token tables (PostgreSQL and SQLite create it IF NOT EXISTS)', async () => {
    expect(await upgradeIndexes('mysql')).toEqual([
      {
        table: 'portcullis_tokens',
        index: 'portcullis_tokens_user_client',
        statement: 'CREATE INDEX portcullis_tokens_user_client ON portcullis_tokens (user_id, client_id)',
      },
    ]);
    expect(await upgradeIndexes('postgresql')).toEqual([]);
    expect(await upgradeIndexes('sqlite')).toEqual([]);
  });
});

describe('sqlite: a provider wired with bindDrizzle', () => {
  const SECRET = 'user-grants-secret-of-at-least-32-characters';
  const CB = 'https://app.example/cb';
  let db: TestDatabase;
  let provider: OAuth2Provider;
  beforeAll(async () => {
    db = await openDatabase('sqlite');
    await db.seed(
      ['mail', 'photos'].map((id) => ({
        id,
        secretHash: hashSecret(SECRET),
        redirectUris: [CB],
        grantTypes: ['authorization_code', 'refresh_token'],
        scopes: ['read', 'write'],
      })),
    );
    provider = new OAuth2Provider({ issuer: 'http://127.0.0.1', logger: { warn: () => {}, error: () => {} } });
    bindDrizzle(provider, { ...db.options, currentUser: () => ({ id: 'u-alice' }) });
  });
  afterAll(async () => {
    await db?.close();
  });

  const flow = async (clientId: string, scope: string) => {
    const client = { clientId, clientSecret: SECRET, redirectUri: CB, scope };
    const { code, verifier } = await authorizationCodeFlow(provider, client);
    const res = await redeemCode(provider, client, code, verifier);
    expect(res.status).toBe(200);
    return jsonBody(res) as { access_token: string; refresh_token: string };
  };

  it('lists the apps alice connected and revokes one of them on the next request', async () => {
    const started = Date.now();
    const mail = await flow('mail', 'read');
    await flow('mail', 'write');
    const photos = await flow('photos', 'read');
    const list = await provider.listUserGrants('u-alice');
    expect(list.map((g) => g.clientId)).toEqual(['mail', 'photos']);
    expect(list[0]).toMatchObject({ grants: 2 });
    expect([...(list[0]?.scopes ?? [])].sort()).toEqual(['read', 'write']);
    const last = list[0]?.lastIssuedAt?.getTime() ?? 0;
    expect(last, 'core stamped issuedAt, the binding kept it').toBeGreaterThanOrEqual(started - 1000);
    expect(last).toBeLessThanOrEqual(Date.now());

    expect(await provider.revokeUserGrants('u-alice', 'mail')).toBe(2);
    expect((await provider.verifyAccessToken(bearerRequest(mail.access_token))).ok).toBe(false);
    const refresh = await provider.token(
      formRequest(
        '/token',
        { grant_type: 'refresh_token', refresh_token: mail.refresh_token },
        { authorization: basicAuth('mail', SECRET) },
      ),
    );
    expect(refresh.status).toBe(400);
    expect((await provider.verifyAccessToken(bearerRequest(photos.access_token))).ok).toBe(true);
    expect((await provider.listUserGrants('u-alice')).map((g) => g.clientId)).toEqual(['photos']);
  });
});
