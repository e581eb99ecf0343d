/**
 * `authTime` (the `auth_time` of RFC 9068 section 2.2.1) on codes, refresh tokens and device
 * requests: the testkit's checks run in the contract suites; here `migrate()` adds `auth_time` to
 * code, token and device tables made before it (rows kept, old rows read back without the field),
 * tables of your own without the column store records without it, and a provider wired with
 * `bindDrizzle` carries the time from the approval into JWT access tokens, through refreshes and
 * the device grant.
 */
import { randomBytes } from 'node:crypto';
import { basicAuth, formRequest, jsonBody, makeDeviceCode, makeGrant, makeUserCode, pkcePair } from '@portcullis/binding-testkit';
import { createMemoryStores, digestToken, generateClientSecret, hashSecret, OAuth2Provider } from '@portcullis/core';
import { sql } from 'drizzle-orm';
import { integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindDrizzle, createDrizzleStores, keyHash, migrate, migrationStatements, upgradeColumns } from '../src/index.js';
import { DIALECTS, type DialectName, openDatabase, type TestDatabase } from './databases.js';

const rid = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;
const TABLES = ['portcullis_grants', 'portcullis_tokens', 'portcullis_device_codes'] as const;
const TYPES: Record<DialectName, string> = { postgresql: 'timestamp(3) with time zone', mysql: 'datetime(3)', sqlite: 'integer' };

/** A table's columns as the database has them. */
async function columnsOf(db: TestDatabase, table: string): Promise<string[]> {
  const names = (rows: Record<string, unknown>[]) => rows.map((r) => String(r.name ?? r.NAME)).sort();
  if (db.dialect === 'sqlite') return names(await db.rows(sql`SELECT name FROM pragma_table_info(${table})`));
  if (db.dialect === 'mysql') {
    return names(
      await db.rows(
        sql`SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ${table}`,
      ),
    );
  }
  return names(
    await db.rows(
      sql`SELECT column_name AS name FROM information_schema.columns WHERE table_name = ${table} AND table_schema = current_schema()`,
    ),
  );
}

/** Drops the default table and makes it again as the file made it before `auth_time`. */
async function rebuildWithoutAuthTime(db: TestDatabase, table: string): Promise<void> {
  const create = (await migrationStatements(db.dialect)).find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS ${table} (`));
  const old = (create as string)
    .split('\n')
    .filter((line) => !line.includes('auth_time'))
    .join('\n')
    .replace(/,\n\)/, '\n)');
  await db.rows(sql.raw(`DROP TABLE ${table}`));
  await db.rows(sql.raw(old));
}

for (const dialect of DIALECTS) {
  describe(`${dialect}: auth_time`, () => {
    it('migrate() adds auth_time to code, token and device tables made before it, keeping their rows', async () => {
      const db = await openDatabase(dialect);
      try {
        for (const table of TABLES) await rebuildWithoutAuthTime(db, table);
        const before = await Promise.all(TABLES.map((table) => columnsOf(db, table)));
        for (const columns of before) expect(columns).not.toContain('auth_time');

        // One row of each, written as the previous version wrote them.
        const expires = new Date(Date.now() + 600_000);
        const at = dialect === 'sqlite' ? expires.getTime() : dialect === 'mysql' ? expires : expires.toISOString();
        const clientId = rid('client');
        const code = rid('code');
        const refresh = rid('rt');
        const deviceCode = rid('dc');
        const oldUserCode = makeUserCode();
        await db.rows(
          sql`INSERT INTO portcullis_grants (code_hash, client_id, user_id, scopes, expires_at, grant_id) VALUES (${keyHash(code)}, ${clientId}, ${'u1'}, ${'["read"]'}, ${at}, ${rid('family')})`,
        );
        await db.rows(
          sql`INSERT INTO portcullis_tokens (token_hash, kind, client_id, user_id, scopes, expires_at, grant_id) VALUES (${keyHash(refresh)}, ${'refresh'}, ${clientId}, ${'u1'}, ${'["read"]'}, ${at}, ${rid('family')})`,
        );
        await db.rows(
          sql`INSERT INTO portcullis_device_codes (device_code, user_code, active_user_code, client_id, scopes, expires_at, poll_interval, status, user_id, grant_id) VALUES (${deviceCode}, ${oldUserCode}, ${oldUserCode}, ${clientId}, ${'["read"]'}, ${at}, ${5}, ${'approved'}, ${'u1'}, ${rid('family')})`,
        );

        await Promise.all(Array.from({ length: 3 }, () => migrate(db.options)));

        const after = await Promise.all(TABLES.map((table) => columnsOf(db, table)));
        after.forEach((columns, i) => {
          expect(columns, TABLES[i]).toEqual([...(before[i] as string[]), 'auth_time'].sort());
        });
        const stores = createDrizzleStores(db.options);
        // The old rows read back without authTime (absent, not null).
        const oldGrant = await stores.grants.consumeGrant(clientId, code);
        expect(oldGrant?.outcome).toBe('consumed');
        expect(oldGrant?.outcome === 'consumed' && oldGrant.record).not.toHaveProperty('authTime');
        expect(await stores.tokens.getRefreshToken(refresh)).toMatchObject({ clientId, userId: 'u1' });
        expect(await stores.tokens.getRefreshToken(refresh)).not.toHaveProperty('authTime');
        const oldToken = await stores.tokens.consumeRefreshToken(refresh);
        expect(oldToken?.outcome === 'consumed' && oldToken.record).not.toHaveProperty('authTime');
        expect(await stores.devices.findDeviceCode(oldUserCode)).not.toHaveProperty('authTime');
        const oldDevice = await stores.devices.consumeDeviceCode(clientId, deviceCode);
        expect(oldDevice).toMatchObject({ deviceCode, status: 'approved' });
        expect(oldDevice).not.toHaveProperty('authTime');

        // New records keep it to the millisecond in the added columns.
        const authTime = new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678));
        const grant = makeGrant({ clientId, expiresAt: expires, authTime });
        await stores.grants.saveGrant(grant);
        const consumed = await stores.grants.consumeGrant(clientId, grant.code);
        expect(consumed?.outcome === 'consumed' && consumed.record.authTime).toEqual(authTime);
        const pair = { clientId, userId: 'u1', scopes: ['read'], expiresAt: expires, grantId: rid('family') };
        const newRefresh = { ...pair, token: rid('rt'), authTime };
        await stores.tokens.saveTokens({ ...pair, token: rid('at') }, newRefresh);
        expect((await stores.tokens.getRefreshToken(newRefresh.token))?.authTime).toEqual(authTime);
        const device = makeDeviceCode({ clientId });
        expect(await stores.devices.saveDeviceCode(device)).toBe(true);
        await stores.devices.decideDeviceCode(device.userCode, { approved: true, userId: 'u1', scopes: ['read'], authTime });
        expect((await stores.devices.consumeDeviceCode(clientId, device.deviceCode))?.authTime).toEqual(authTime);

        await migrate(db.options);
        expect(await Promise.all(TABLES.map((table) => columnsOf(db, table)))).toEqual(after);
      } finally {
        await db.close();
      }
    });
  });
}

describe('sqlite: tables of your own without authTime', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await openDatabase('sqlite');
    for (const table of TABLES) await rebuildWithoutAuthTime(db, table);
  });
  afterAll(async () => {
    await db?.close();
  });

  // The application's own tables: the keys the stores need, under the same SQL names, no authTime.
  const time = (name: string) => integer(name, { mode: 'timestamp_ms' });
  const grants = sqliteTable(
    'portcullis_grants',
    {
      codeHash: text('code_hash').notNull(),
      clientId: text('client_id').notNull(),
      userId: text('user_id').notNull(),
      redirectUri: text('redirect_uri'),
      scopes: text('scopes').notNull(),
      expiresAt: time('expires_at').notNull(),
      grantId: text('grant_id').notNull(),
      codeChallenge: text('code_challenge'),
      codeChallengeMethod: text('code_challenge_method'),
      resources: text('resources'),
      dpopJkt: text('dpop_jkt'),
      consumedAt: time('consumed_at'),
    },
    (t) => [primaryKey({ columns: [t.codeHash, t.clientId] })],
  );
  const tokens = sqliteTable(
    'portcullis_tokens',
    {
      tokenHash: text('token_hash').notNull(),
      kind: text('kind').notNull(),
      clientId: text('client_id').notNull(),
      userId: text('user_id'),
      scopes: text('scopes').notNull(),
      expiresAt: time('expires_at').notNull(),
      grantId: text('grant_id').notNull(),
      audience: text('audience'),
      resources: text('resources'),
      dpopJkt: text('dpop_jkt'),
      consumedAt: time('consumed_at'),
      revokedAt: time('revoked_at'),
    },
    (t) => [primaryKey({ columns: [t.tokenHash, t.kind] })],
  );
  const devices = sqliteTable('portcullis_device_codes', {
    deviceCode: text('device_code').primaryKey(),
    userCode: text('user_code').notNull(),
    activeUserCode: text('active_user_code').unique(),
    clientId: text('client_id').notNull(),
    scopes: text('scopes').notNull(),
    expiresAt: time('expires_at').notNull(),
    interval: integer('poll_interval').notNull(),
    lastPolledAt: time('last_polled_at'),
    status: text('status').notNull(),
    userId: text('user_id'),
    grantId: text('grant_id').notNull(),
    version: integer('version').notNull().default(0),
  });

  it('store and return codes, refresh tokens and device approvals without it', async () => {
    if (db.options.dialect !== 'sqlite') throw new Error('unreachable');
    const stores = createDrizzleStores({ dialect: 'sqlite', db: db.options.db, tables: { grants, tokens, devices } });
    const authTime = new Date(Date.now() - 60_000);
    const expiresAt = new Date(Date.now() + 600_000);

    const grant = makeGrant({ authTime });
    await stores.grants.saveGrant(grant);
    const consumed = await stores.grants.consumeGrant(grant.clientId, grant.code);
    expect(consumed?.outcome).toBe('consumed');
    expect(consumed?.outcome === 'consumed' && consumed.record).toMatchObject({ grantId: grant.grantId, userId: grant.userId });
    expect(consumed?.outcome === 'consumed' && consumed.record).not.toHaveProperty('authTime');

    const pair = { clientId: 'c1', userId: 'u1', scopes: ['read'], expiresAt, grantId: rid('family'), issuedAt: new Date() };
    const refresh = { ...pair, token: rid('rt'), authTime };
    await stores.tokens.saveTokens({ ...pair, token: rid('at') }, refresh);
    const found = await stores.tokens.getRefreshToken(refresh.token);
    expect(found).toMatchObject({ clientId: 'c1', grantId: pair.grantId });
    expect(found).not.toHaveProperty('authTime');
    expect(found, 'a token table without issuedAt stores tokens without it').not.toHaveProperty('issuedAt');

    const device = makeDeviceCode({ clientId: 'tv' });
    expect(await stores.devices.saveDeviceCode(device)).toBe(true);
    const decided = await stores.devices.decideDeviceCode(device.userCode, { approved: true, userId: 'u1', scopes: ['read'], authTime });
    expect(decided).toMatchObject({ status: 'approved', userId: 'u1' });
    expect(decided).not.toHaveProperty('authTime');
    const taken = await stores.devices.consumeDeviceCode('tv', device.deviceCode);
    expect(taken).toMatchObject({ status: 'approved', userId: 'u1' });
    expect(taken).not.toHaveProperty('authTime');
  });
});

describe('the shipped migration files', () => {
  it('add auth_time to older code, token and device tables (MySQL and SQLite from migrate(), PostgreSQL IF NOT EXISTS)', async () => {
    for (const dialect of ['mysql', 'sqlite'] as const) {
      expect((await upgradeColumns(dialect)).filter((c) => c.column === 'auth_time')).toEqual(
        TABLES.map((table) => ({ table, column: 'auth_time', statement: `ALTER TABLE ${table} ADD COLUMN auth_time ${TYPES[dialect]}` })),
      );
    }
    const statements = await migrationStatements('postgresql');
    for (const table of TABLES) {
      expect(statements).toContain(`ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS auth_time ${TYPES.postgresql}`);
    }
  });
});

/** The claims of a JWT (not verified: the provider that signed it is the one under test). */
const claimsOf = (jwt: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(jwt.split('.')[1] as string, 'base64url').toString('utf8')) as Record<string, unknown>;

for (const dialect of DIALECTS) {
  describe(`${dialect}: auth_time through a provider wired with bindDrizzle`, () => {
    const SECRET = 'auth-time-secret-of-at-least-32-characters';
    const CB = 'https://app.example/cb';
    const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
    let db: TestDatabase;
    let provider: OAuth2Provider;
    beforeAll(async () => {
      db = await openDatabase(dialect);
      await db.seed([
        {
          id: 'web',
          secretHash: hashSecret(SECRET),
          redirectUris: [CB],
          grantTypes: ['authorization_code', 'refresh_token'],
          scopes: ['read'],
        },
        { id: 'tv', secretHash: null, redirectUris: [], grantTypes: [DEVICE, 'refresh_token'], scopes: ['read'] },
      ]);
      provider = new OAuth2Provider({
        issuer: 'http://127.0.0.1',
        grants: ['authorization_code', 'refresh_token', DEVICE],
        accessTokenFormat: 'jwt',
        jwt: { keyEncryptionKey: generateClientSecret() },
        logger: { warn: () => {}, error: () => {} },
      });
      bindDrizzle(provider, db.options);
      // The signing keys of the JWT access tokens (this binding has no key store).
      provider.useStores({ keys: createMemoryStores().keys });
    });
    afterAll(async () => {
      await db?.close();
    });

    const refreshWith = async (token: string, client: { id: string; secret?: string }) => {
      const res = await provider.token(
        client.secret === undefined
          ? formRequest('/token', { grant_type: 'refresh_token', refresh_token: token, client_id: client.id })
          : formRequest(
              '/token',
              { grant_type: 'refresh_token', refresh_token: token },
              { authorization: basicAuth(client.id, client.secret) },
            ),
      );
      expect(res.status, res.body).toBe(200);
      return jsonBody(res) as { access_token: string; refresh_token: string };
    };

    it('the code, its JWT, and every JWT refreshed from it carry the approval authTime; without one, none', async () => {
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
        const a = await provider.authorize({ method: 'GET', url: `/authorize?${query}`, headers: {} });
        if (a.type !== 'consent') throw new Error(`expected the consent step, got ${a.response.status}`);
        const r = await provider.completeAuthorization(
          a.request,
          authTime === undefined ? { approved: true, userId: 'alice' } : { approved: true, userId: 'alice', authTime },
        );
        const location = new URL(r.headers.Location as string);
        const res = await provider.token(
          formRequest(
            '/token',
            { grant_type: 'authorization_code', code: location.searchParams.get('code') ?? '', redirect_uri: CB, code_verifier: verifier },
            { authorization: basicAuth('web', SECRET) },
          ),
        );
        expect(res.status, res.body).toBe(200);
        return jsonBody(res) as { access_token: string; refresh_token: string };
      };
      const authTime = new Date(Date.now() - 3_600_000 + 789);
      const seconds = Math.floor(authTime.getTime() / 1000);
      const first = await code(authTime);
      expect(claimsOf(first.access_token).auth_time).toBe(seconds);
      const stores = createDrizzleStores(db.options);
      expect((await stores.tokens.getRefreshToken(digestToken(first.refresh_token)))?.authTime).toEqual(authTime);
      const second = await refreshWith(first.refresh_token, { id: 'web', secret: SECRET });
      expect(claimsOf(second.access_token).auth_time).toBe(seconds);
      const third = await refreshWith(second.refresh_token, { id: 'web', secret: SECRET });
      expect(claimsOf(third.access_token).auth_time).toBe(seconds);
      expect((await stores.tokens.getRefreshToken(digestToken(third.refresh_token)))?.authTime).toEqual(authTime);

      const plain = await code();
      expect(claimsOf(plain.access_token)).not.toHaveProperty('auth_time');
      expect(await stores.tokens.getRefreshToken(digestToken(plain.refresh_token))).not.toHaveProperty('authTime');
      expect(claimsOf((await refreshWith(plain.refresh_token, { id: 'web', secret: SECRET })).access_token)).not.toHaveProperty(
        'auth_time',
      );
    });

    it("the device grant's tokens carry the approval's authTime", async () => {
      const started = await provider.deviceAuthorization(formRequest('/oauth/device_authorization', { client_id: 'tv', scope: 'read' }));
      expect(started.status, started.body).toBe(200);
      const { device_code: deviceCode, user_code: code } = jsonBody(started) as { device_code: string; user_code: string };
      const authTime = new Date(Date.now() - 120_000 + 321);
      expect(await provider.completeDeviceAuthorization(code, { approved: true, userId: 'bob', scopes: ['read'], authTime })).toBe(true);
      const res = await provider.token(formRequest('/oauth/token', { grant_type: DEVICE, device_code: deviceCode, client_id: 'tv' }));
      expect(res.status, res.body).toBe(200);
      const body = jsonBody(res) as { access_token: string; refresh_token: string };
      expect(claimsOf(body.access_token).auth_time).toBe(Math.floor(authTime.getTime() / 1000));
      const stores = createDrizzleStores(db.options);
      expect((await stores.tokens.getRefreshToken(digestToken(body.refresh_token)))?.authTime).toEqual(authTime);
      expect(claimsOf((await refreshWith(body.refresh_token, { id: 'tv' })).access_token).auth_time).toBe(
        Math.floor(authTime.getTime() / 1000),
      );
    });
  });
}
