/**
 * Issue 15, a user's grants: the testkit's `UserGrantStore` suite (with `issuedAt` round trips)
 * on PostgreSQL and SQLite through Prisma; `migrate()` adding `issued_at` and the
 * `(user_id, client_id)` index to a token table made before them, rows kept; and a provider wired
 * with `bindPrisma` listing and revoking what a user granted.
 */
import { randomBytes } from 'node:crypto';
import {
  authorizationCodeFlow,
  basicAuth,
  bearerRequest,
  formRequest,
  jsonBody,
  makeGrant,
  redeemCode,
  userGrantStoreSuite,
} from '@portcullis/binding-testkit';
import { hashSecret, OAuth2Provider } from '@portcullis/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bindPrisma,
  createPrismaStores,
  keyHash,
  type MigrateOptions,
  migrate,
  migrationStatements,
  upgradeColumns,
} from '../src/index.js';
import { openDatabase, PROVIDERS, type TestDatabase } from './databases.js';

const t = { describe, it, beforeAll, afterAll };
const rid = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;

/** The token table's columns and indexes as the database has them. */
async function tokenShape(db: TestDatabase): Promise<{ columns: string[]; indexes: string[] }> {
  const names = (rows: Record<string, unknown>[]) => rows.map((r) => String(r.name)).sort();
  if (db.provider === 'sqlite') {
    return {
      columns: names(await db.rows("SELECT name FROM pragma_table_info('portcullis_tokens')")),
      indexes: names(await db.rows("SELECT name FROM pragma_index_list('portcullis_tokens')")),
    };
  }
  return {
    columns: names(
      await db.rows(
        "SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'portcullis_tokens' AND table_schema = current_schema()",
      ),
    ),
    indexes: names(
      await db.rows("SELECT indexname AS name FROM pg_indexes WHERE tablename = 'portcullis_tokens' AND schemaname = current_schema()"),
    ),
  };
}

for (const provider of PROVIDERS) {
  describe(`${provider} through Prisma`, () => {
    let suiteDb: TestDatabase | undefined;
    userGrantStoreSuite(t, {
      name: `prisma ${provider}`,
      create: async () => {
        suiteDb = await openDatabase(provider);
        const stores = createPrismaStores({ prisma: suiteDb.prisma });
        return { userGrants: stores.userGrants, tokens: stores.tokens, grants: stores.grants };
      },
      destroy: async () => {
        await suiteDb?.close();
      },
    });

    it('migrate() adds issued_at and the (user_id, client_id) index to an older token table, keeping its rows', async () => {
      const db = await openDatabase(provider);
      try {
        const prisma = db.prisma as unknown as MigrateOptions['prisma'];
        // Rebuild the token table as the previous migration file made it.
        const create = migrationStatements(provider).find((s) => s.startsWith('CREATE TABLE IF NOT EXISTS portcullis_tokens ('));
        const old = (create as string)
          .split('\n')
          .filter((line) => !line.includes('issued_at'))
          .join('\n');
        await prisma.$executeRawUnsafe('DROP TABLE portcullis_tokens');
        await prisma.$executeRawUnsafe(old);
        const before = await tokenShape(db);
        expect(before.columns).not.toContain('issued_at');
        expect(before.indexes).not.toContain('portcullis_tokens_user_client');
        // One old token, its expiry copied from a code Prisma wrote (so the stored date format is Prisma's own).
        const stores = createPrismaStores({ prisma: db.prisma });
        const code = makeGrant({ expiresAt: new Date(Date.now() + 600_000) });
        await stores.grants.saveGrant(code);
        const token = rid('at');
        await prisma.$executeRawUnsafe(
          `INSERT INTO portcullis_tokens (token_hash, kind, client_id, user_id, scopes, expires_at, grant_id) SELECT '${keyHash(token)}', 'access', client_id, user_id, '["read"]', expires_at, grant_id FROM portcullis_grants WHERE code_hash = '${keyHash(code.code)}'`,
        );

        if (provider === 'postgresql') await Promise.all(Array.from({ length: 3 }, () => migrate({ prisma, provider })));
        else for (let i = 0; i < 2; i++) await migrate({ prisma, provider });

        const after = await tokenShape(db);
        expect(after.columns).toEqual([...before.columns, 'issued_at'].sort());
        // (The other indexes come back too: DROP TABLE took them with it.)
        expect(after.indexes).toEqual(expect.arrayContaining([...before.indexes, 'portcullis_tokens_user_client']));
        const { clientId, userId } = code;
        expect(await stores.tokens.getAccessToken(token), 'the old token reads without issuedAt').toMatchObject({ clientId, userId });
        expect(await stores.tokens.getAccessToken(token)).not.toHaveProperty('issuedAt');
        expect(await stores.userGrants.listUserGrants(userId)).toEqual([
          { clientId, scopes: ['read'], grants: 1, firstIssuedAt: null, lastIssuedAt: null },
        ]);
        const at = new Date(Date.UTC(2026, 5, 7, 8, 9, 10, 456));
        const fresh = {
          token: rid('at'),
          clientId,
          userId,
          scopes: ['write'],
          expiresAt: code.expiresAt,
          grantId: rid('family'),
          issuedAt: at,
        };
        await stores.tokens.saveTokens(fresh, null);
        expect((await stores.tokens.getAccessToken(fresh.token))?.issuedAt).toEqual(at);
        // Scopes are a set: sorted here, since rows come back in no set order.
        const both = (await stores.userGrants.listUserGrants(userId)).map((g) => ({ ...g, scopes: [...g.scopes].sort() }));
        expect(both).toEqual([{ clientId, scopes: ['read', 'write'], grants: 2, firstIssuedAt: at, lastIssuedAt: at }]);
        // Two families and the user's unredeemed code.
        expect(await stores.userGrants.revokeUserGrants(userId, clientId)).toBe(3);
        expect(await stores.tokens.getAccessToken(token)).toBeNull();
        expect(await stores.grants.consumeGrant(clientId, code.code)).toBeNull();
        await migrate({ prisma, provider });
        expect(await tokenShape(db)).toEqual(after);
      } finally {
        await db.close();
      }
    });
  });
}

describe('the shipped migration files', () => {
  it('list the column migrate() adds to older SQLite token tables (PostgreSQL adds it IF NOT EXISTS)', () => {
    expect(upgradeColumns('sqlite').filter((c) => c.column === 'issued_at')).toEqual([
      { table: 'portcullis_tokens', column: 'issued_at', statement: 'ALTER TABLE portcullis_tokens ADD COLUMN issued_at datetime' },
    ]);
    expect(upgradeColumns('postgresql')).toEqual([]);
    expect(migrationStatements('postgresql')).toContain(
      'ALTER TABLE portcullis_tokens ADD COLUMN IF NOT EXISTS issued_at timestamp(3) with time zone',
    );
  });
});

describe('sqlite: a provider wired with bindPrisma', () => {
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
    bindPrisma(provider, { prisma: db.prisma, currentUser: () => ({ id: 'u-alice' }) });
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
