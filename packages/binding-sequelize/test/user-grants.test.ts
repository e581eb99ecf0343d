/**
 * Issue 15, a user's grants: the testkit's `UserGrantStore` suite (with `issuedAt` round trips)
 * on every database; the model paths; `migrate()` adding `issuedAt` and the `(userId, clientId)`
 * index to older token tables, rows kept; and a provider wired with `bindSequelize` listing and
 * revoking what a user granted.
 */
import { randomBytes } from 'node:crypto';
import {
  authorizationCodeFlow,
  basicAuth,
  bearerRequest,
  formRequest,
  issuedAtChecks,
  jsonBody,
  redeemCode,
  userGrantChecks,
  userGrantStoreSuite,
} from '@portcullis/binding-testkit';
import { hashSecret, OAuth2Provider } from '@portcullis/core';
import { QueryTypes, type Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bindSequelize,
  createGrantStore,
  createTokenStore,
  createUserGrantStore,
  defineModels,
  migrate,
  tableNamesFor,
} from '../src/index.js';
import { columnsFor, tableOptionsFor } from '../src/models.js';
import { connect, DIALECTS, openDatabase, type TestDatabase, uniquePrefix } from './databases.js';

const t = { describe, it, beforeAll, afterAll };
const ms = { detectsReplay: true, ttlGranularity: 'ms' } as const;
const rid = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;

async function rowsOf(sequelize: Sequelize, table: string): Promise<Record<string, unknown>[]> {
  const qi = sequelize.getQueryInterface();
  return sequelize.query(`SELECT * FROM ${qi.quoteIdentifier(table)} ORDER BY ${qi.quoteIdentifier('tokenHash')}`, {
    type: QueryTypes.SELECT,
  });
}

for (const dialect of DIALECTS) {
  describe(dialect, () => {
    let db: TestDatabase | undefined;
    userGrantStoreSuite(t, {
      name: `sequelize ${dialect}`,
      create: async () => {
        db = await openDatabase(dialect);
        return {
          userGrants: createUserGrantStore(db.models.token, db.models.grant),
          tokens: createTokenStore(db.models.token),
          grants: createGrantStore(db.models.grant),
        };
      },
      destroy: async () => {
        await db?.close();
      },
    });

    it('the model paths (models with hooks, no direct statements) keep issuedAt and serve the user-grant checks', async () => {
      const hooked = await openDatabase(dialect);
      try {
        const seen: string[] = [];
        hooked.models.token.addHook('beforeBulkCreate', 'probe', () => {
          seen.push('bulkCreate');
        });
        const tokens = createTokenStore(hooked.models.token);
        await issuedAtChecks.issuedAtRoundTrips.run({ store: tokens });
        const ctx = {
          userGrants: createUserGrantStore(hooked.models.token, hooked.models.grant),
          tokens,
          grants: createGrantStore(hooked.models.grant),
          capabilities: ms,
        };
        for (const c of [userGrantChecks.summaries, userGrantChecks.onlyLive, userGrantChecks.revokeOneClient]) await c.run(ctx);
        expect(seen, 'the writes went through the model').toContain('bulkCreate');
      } finally {
        await hooked.close();
      }
    });

    it('migrate() adds issuedAt and the (userId, clientId) index to token tables made before them, keeping rows; old tokens list with null dates', async () => {
      const { sequelize, cleanup } = await connect(dialect);
      try {
        const tablePrefix = uniquePrefix();
        const names = tableNamesFor({ tablePrefix });
        const qi = sequelize.getQueryInterface();
        const { issuedAt: _, ...tokenColumns } = columnsFor('token');
        await qi.createTable(names.token, tokenColumns, tableOptionsFor(sequelize));
        await qi.createTable(names.grant, columnsFor('grant'), tableOptionsFor(sequelize));
        const oldToken = sequelize.define(`${tablePrefix}old_token`, tokenColumns, { tableName: names.token, timestamps: false });
        const oldGrant = sequelize.define(`${tablePrefix}old_grant`, columnsFor('grant'), { tableName: names.grant, timestamps: false });
        const oldTokens = createTokenStore(oldToken);
        const user = rid('user');
        const client = rid('client');
        const common = {
          clientId: client,
          userId: user,
          scopes: ['read'],
          expiresAt: new Date(Date.now() + 600_000),
          grantId: rid('family'),
        };
        // A model without the column stores tokens without it (issuedAt is informational).
        const pair = {
          access: { token: rid('at'), ...common, issuedAt: new Date() },
          refresh: { token: rid('rt'), ...common, issuedAt: new Date() },
        };
        await oldTokens.saveTokens(pair.access, pair.refresh);
        const found = await oldTokens.getAccessToken(pair.access.token);
        expect(found).toMatchObject({ clientId: client, userId: user });
        expect(found).not.toHaveProperty('issuedAt');
        const old = createUserGrantStore(oldToken, oldGrant);
        expect(await old.listUserGrants(user)).toEqual([
          { clientId: client, scopes: ['read'], grants: 1, firstIssuedAt: null, lastIssuedAt: null },
        ]);

        const before = await qi.describeTable(names.token);
        const rowsBefore = await rowsOf(sequelize, names.token);
        expect(rowsBefore).toHaveLength(2);
        await migrate(sequelize, { tablePrefix, tables: ['grant', 'token'] });
        const after = await qi.describeTable(names.token);
        expect(after.issuedAt?.allowNull).toBe(true);
        expect(after.issuedAt?.defaultValue ?? null).toBeNull();
        const { issuedAt: __, ...rest } = after;
        expect(rest, 'every other column as it was').toEqual(before);
        expect(await rowsOf(sequelize, names.token)).toEqual(rowsBefore.map((r) => ({ ...r, issuedAt: null })));
        const indexes = ((await qi.showIndex(names.token)) as { name?: string; fields?: { attribute: string }[] }[]).find(
          (i) => i.name === `${names.token}_user_client`,
        );
        expect(
          indexes?.fields?.map((f) => f.attribute),
          'the (userId, clientId) index',
        ).toEqual(['userId', 'clientId']);

        const models = defineModels(sequelize, { tablePrefix });
        const tokens = createTokenStore(models.token);
        const userGrants = createUserGrantStore(models.token, models.grant);
        const stamped = { ...common, grantId: rid('family') };
        const at = new Date(Date.UTC(2026, 5, 7, 8, 9, 10, 456));
        await tokens.saveTokens({ token: rid('at'), ...stamped, issuedAt: at }, { token: rid('rt'), ...stamped, issuedAt: at });
        expect(await tokens.getAccessToken(pair.access.token), 'an old token reads without issuedAt').not.toHaveProperty('issuedAt');
        expect(await userGrants.listUserGrants(user)).toEqual([
          { clientId: client, scopes: ['read'], grants: 2, firstIssuedAt: at, lastIssuedAt: at },
        ]);
        expect(await userGrants.revokeUserGrants(user, client)).toBe(2);
        expect(await tokens.getRefreshToken(pair.refresh.token)).toBeNull();

        // Idempotent.
        await migrate(sequelize, { tablePrefix, tables: ['grant', 'token'] });
        expect(await qi.describeTable(names.token)).toEqual(after);
        for (const table of [names.grant, names.token]) await qi.dropTable(table);
      } finally {
        await sequelize.close();
        await cleanup();
      }
    });
  });
}

describe('sqlite-memory: a provider wired with bindSequelize', () => {
  const SECRET = 'user-grants-secret-of-at-least-32-characters';
  const CB = 'https://app.example/cb';
  let db: TestDatabase;
  let provider: OAuth2Provider;
  beforeAll(async () => {
    db = await openDatabase('sqlite-memory');
    await db.models.client.bulkCreate(
      ['mail', 'photos'].map((id) => ({
        id,
        secretHash: hashSecret(SECRET),
        redirectUris: [CB],
        grantTypes: ['authorization_code', 'refresh_token'],
        scopes: ['read', 'write'],
      })),
    );
    provider = new OAuth2Provider({ issuer: 'http://127.0.0.1', logger: { warn: () => {}, error: () => {} } });
    bindSequelize(provider, { sequelize: db.sequelize, ...db.models, currentUser: () => ({ id: 'u-alice' }) });
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
