/**
 * `authTime` (the `auth_time` of RFC 9068 section 2.2.1) on codes and refresh tokens: the
 * testkit's checks run in the contract suites; here `migrate()` adds `auth_time` to code and token
 * tables made before it (rows kept, old rows read back without the field), and a provider wired
 * with `bindPrisma` carries the approval's time into JWT access tokens and through refreshes.
 */
import { randomBytes } from 'node:crypto';
import { basicAuth, formRequest, jsonBody, makeGrant, pkcePair } from '@portcullis/binding-testkit';
import { createMemoryStores, digestToken, generateClientSecret, hashSecret, OAuth2Provider } from '@portcullis/core';
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

const rid = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;
const TABLES = ['portcullis_grants', 'portcullis_tokens'] as const;

/** A table's columns as the database has them. */
async function columnsOf(db: TestDatabase, table: string): Promise<string[]> {
  const rows =
    db.provider === 'sqlite'
      ? await db.rows('SELECT name FROM pragma_table_info($1)', [table])
      : await db.rows(
          'SELECT column_name AS name FROM information_schema.columns WHERE table_name = $1 AND table_schema = current_schema()',
          [table],
        );
  return rows.map((r) => String(r.name)).sort();
}

for (const provider of PROVIDERS) {
  describe(`${provider} through Prisma: auth_time`, () => {
    it('migrate() adds auth_time to code and token tables made before it, keeping their rows', async () => {
      const db = await openDatabase(provider);
      try {
        const prisma = db.prisma as unknown as MigrateOptions['prisma'];
        const stores = createPrismaStores({ prisma: db.prisma });
        // An expiry as Prisma writes it (the stored date format is Prisma's own), for the old rows.
        const probe = makeGrant({ expiresAt: new Date(Date.now() + 600_000) });
        await stores.grants.saveGrant(probe);
        const raw = (await db.rows('SELECT expires_at FROM portcullis_grants WHERE code_hash = $1', [keyHash(probe.code)]))[0]?.expires_at;
        const expires = raw instanceof Date ? raw.toISOString() : String(raw);

        // Rebuild both tables as the previous migration file made them.
        for (const table of TABLES) {
          const create = migrationStatements(provider).find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS ${table} (`));
          const old = (create as string)
            .split('\n')
            .filter((line) => !line.includes('auth_time'))
            .join('\n');
          await prisma.$executeRawUnsafe(`DROP TABLE ${table}`);
          await prisma.$executeRawUnsafe(old);
        }
        const before = await Promise.all(TABLES.map((table) => columnsOf(db, table)));
        for (const columns of before) expect(columns).not.toContain('auth_time');
        const clientId = rid('client');
        const code = rid('code');
        const refresh = rid('rt');
        await prisma.$executeRawUnsafe(
          `INSERT INTO portcullis_grants (code_hash, client_id, user_id, scopes, expires_at, grant_id) VALUES ('${keyHash(code)}', '${clientId}', 'u1', '["read"]', '${expires}', '${rid('family')}')`,
        );
        await prisma.$executeRawUnsafe(
          `INSERT INTO portcullis_tokens (token_hash, kind, client_id, user_id, scopes, expires_at, grant_id) VALUES ('${keyHash(refresh)}', 'refresh', '${clientId}', 'u1', '["read"]', '${expires}', '${rid('family')}')`,
        );

        if (provider === 'postgresql') await Promise.all(Array.from({ length: 3 }, () => migrate({ prisma, provider })));
        else for (let i = 0; i < 2; i++) await migrate({ prisma, provider });

        const after = await Promise.all(TABLES.map((table) => columnsOf(db, table)));
        after.forEach((columns, i) => {
          expect(columns, TABLES[i]).toEqual([...(before[i] as string[]), 'auth_time'].sort());
        });
        // The old rows read back without authTime (absent, not null).
        const oldGrant = await stores.grants.consumeGrant(clientId, code);
        expect(oldGrant?.outcome).toBe('consumed');
        expect(oldGrant?.outcome === 'consumed' && oldGrant.record).not.toHaveProperty('authTime');
        expect(await stores.tokens.getRefreshToken(refresh)).toMatchObject({ clientId, userId: 'u1' });
        expect(await stores.tokens.getRefreshToken(refresh)).not.toHaveProperty('authTime');
        const oldToken = await stores.tokens.consumeRefreshToken(refresh);
        expect(oldToken?.outcome).toBe('consumed');
        expect(oldToken?.outcome === 'consumed' && oldToken.record).not.toHaveProperty('authTime');

        // New records keep it to the millisecond in the added columns.
        const authTime = new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678));
        const grant = makeGrant({ clientId, expiresAt: probe.expiresAt, authTime });
        await stores.grants.saveGrant(grant);
        const consumed = await stores.grants.consumeGrant(clientId, grant.code);
        expect(consumed?.outcome === 'consumed' && consumed.record.authTime).toEqual(authTime);
        const pair = { clientId, userId: 'u1', scopes: ['read'], expiresAt: probe.expiresAt, grantId: rid('family') };
        const newRefresh = { ...pair, token: rid('rt'), authTime };
        await stores.tokens.saveTokens({ ...pair, token: rid('at') }, newRefresh);
        expect((await stores.tokens.getRefreshToken(newRefresh.token))?.authTime).toEqual(authTime);

        await migrate({ prisma, provider });
        expect(await Promise.all(TABLES.map((table) => columnsOf(db, table)))).toEqual(after);
      } finally {
        await db.close();
      }
    });
  });
}

describe('the shipped migration files', () => {
  it('add auth_time to older code and token tables (SQLite from migrate(), PostgreSQL IF NOT EXISTS)', () => {
    expect(upgradeColumns('sqlite').filter((c) => c.column === 'auth_time')).toEqual(
      TABLES.map((table) => ({ table, column: 'auth_time', statement: `ALTER TABLE ${table} ADD COLUMN auth_time datetime` })),
    );
    expect(upgradeColumns('postgresql')).toEqual([]);
    for (const table of TABLES) {
      expect(migrationStatements('postgresql')).toContain(
        `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS auth_time timestamp(3) with time zone`,
      );
    }
  });
});

/** The claims of a JWT (not verified: the provider that signed it is the one under test). */
const claimsOf = (jwt: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(jwt.split('.')[1] as string, 'base64url').toString('utf8')) as Record<string, unknown>;

for (const provider of PROVIDERS) {
  describe(`${provider}: auth_time through a provider wired with bindPrisma`, () => {
    const SECRET = 'auth-time-secret-of-at-least-32-characters';
    const CB = 'https://app.example/cb';
    let db: TestDatabase;
    let oauth: OAuth2Provider;
    beforeAll(async () => {
      db = await openDatabase(provider);
      await db.seed([
        {
          id: 'web',
          secretHash: hashSecret(SECRET),
          redirectUris: [CB],
          grantTypes: ['authorization_code', 'refresh_token'],
          scopes: ['read'],
        },
      ]);
      oauth = new OAuth2Provider({
        issuer: 'http://127.0.0.1',
        accessTokenFormat: 'jwt',
        jwt: { keyEncryptionKey: generateClientSecret() },
        logger: { warn: () => {}, error: () => {} },
      });
      bindPrisma(oauth, { prisma: db.prisma });
      // The signing keys of the JWT access tokens (this binding has no key store).
      oauth.useStores({ keys: createMemoryStores().keys });
    });
    afterAll(async () => {
      await db?.close();
    });

    const code = async (authTime?: Date) => {
      const { verifier, challenge } = pkcePair();
      const query = new URLSearchParams({
        response_type: 'code',
        client_id: 'web',
        redirect_uri: CB,
        scope: 'read',
        state: 's',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      });
      const a = await oauth.authorize({ method: 'GET', url: `/authorize?${query}`, headers: {} });
      if (a.type !== 'consent') throw new Error(`expected the consent step, got ${a.response.status}`);
      const r = await oauth.completeAuthorization(
        a.request,
        authTime === undefined ? { approved: true, userId: 'alice' } : { approved: true, userId: 'alice', authTime },
      );
      const location = new URL(r.headers.Location as string);
      const res = await oauth.token(
        formRequest(
          '/token',
          { grant_type: 'authorization_code', code: location.searchParams.get('code') ?? '', redirect_uri: CB, code_verifier: verifier },
          { authorization: basicAuth('web', SECRET) },
        ),
      );
      expect(res.status, res.body).toBe(200);
      return jsonBody(res) as { access_token: string; refresh_token: string };
    };
    const refresh = async (token: string) => {
      const res = await oauth.token(
        formRequest('/token', { grant_type: 'refresh_token', refresh_token: token }, { authorization: basicAuth('web', SECRET) }),
      );
      expect(res.status, res.body).toBe(200);
      return jsonBody(res) as { access_token: string; refresh_token: string };
    };

    it('the code, its JWT, and every JWT refreshed from it carry the approval authTime; without one, none', async () => {
      const authTime = new Date(Date.now() - 3_600_000 + 789);
      const seconds = Math.floor(authTime.getTime() / 1000);
      const stores = createPrismaStores({ prisma: db.prisma });
      const first = await code(authTime);
      expect(claimsOf(first.access_token).auth_time).toBe(seconds);
      expect((await stores.tokens.getRefreshToken(digestToken(first.refresh_token)))?.authTime).toEqual(authTime);
      const second = await refresh(first.refresh_token);
      expect(claimsOf(second.access_token).auth_time).toBe(seconds);
      const third = await refresh(second.refresh_token);
      expect(claimsOf(third.access_token).auth_time).toBe(seconds);
      expect((await stores.tokens.getRefreshToken(digestToken(third.refresh_token)))?.authTime).toEqual(authTime);

      const plain = await code();
      expect(claimsOf(plain.access_token)).not.toHaveProperty('auth_time');
      expect(await stores.tokens.getRefreshToken(digestToken(plain.refresh_token))).not.toHaveProperty('authTime');
      expect(claimsOf((await refresh(plain.refresh_token)).access_token)).not.toHaveProperty('auth_time');
    });
  });
}
