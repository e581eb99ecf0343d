/**
 * RFC 9449 `dpopJkt` on grant and token tables beyond the contract suite: `migrate()` adds the
 * nullable column to tables made before it (rows kept, old codes and tokens unbound), the model
 * paths (a model with a hook, which the direct statements leave alone) keep it like the direct
 * ones, and a model of your own without the column refuses a bound record instead of dropping it.
 */
import { randomBytes } from 'node:crypto';
import { grantChecks, tokenChecks } from '@portcullis/binding-testkit';
import type { GrantRecord } from '@portcullis/core';
import { QueryTypes, type Sequelize } from 'sequelize';
import { describe, expect, it } from 'vitest';
import { createGrantStore, createTokenStore, defineModels, migrate, tableNamesFor } from '../src/index.js';
import { columnsFor, tableOptionsFor } from '../src/models.js';
import { connect, DIALECTS, openDatabase, uniquePrefix } from './databases.js';

const rid = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;
const jkt = () => randomBytes(32).toString('base64url');
const ms = { detectsReplay: true, ttlGranularity: 'ms' } as const;

function grant(overrides: Partial<GrantRecord> = {}): GrantRecord {
  return {
    code: rid('code'),
    clientId: rid('client'),
    userId: rid('user'),
    redirectUri: 'https://app.example/cb',
    scopes: ['read'],
    expiresAt: new Date(Date.now() + 600_000),
    grantId: rid('family'),
    codeChallenge: null,
    codeChallengeMethod: null,
    ...overrides,
  };
}

function pairOf(g: GrantRecord, dpopJkt?: string) {
  const common = { clientId: g.clientId, userId: g.userId, scopes: ['read'], expiresAt: g.expiresAt, grantId: g.grantId };
  const bound = dpopJkt === undefined ? {} : { dpopJkt };
  return { access: { token: rid('at'), ...common, ...bound }, refresh: { token: rid('rt'), ...common, ...bound } };
}

async function rowsOf(sequelize: Sequelize, table: string, key: string): Promise<Record<string, unknown>[]> {
  const qi = sequelize.getQueryInterface();
  return sequelize.query(`SELECT * FROM ${qi.quoteIdentifier(table)} ORDER BY ${qi.quoteIdentifier(key)}`, { type: QueryTypes.SELECT });
}

for (const dialect of DIALECTS) {
  describe(`${dialect}: dpopJkt columns`, () => {
    it('migrate() adds a nullable dpopJkt column to grant and token tables made before it, keeping their rows', async () => {
      const { sequelize, cleanup } = await connect(dialect);
      try {
        const tablePrefix = uniquePrefix();
        const names = tableNamesFor({ tablePrefix });
        const qi = sequelize.getQueryInterface();
        const { dpopJkt: _g, ...grantColumns } = columnsFor('grant');
        const { dpopJkt: _t, ...tokenColumns } = columnsFor('token');
        await qi.createTable(names.grant, grantColumns, tableOptionsFor(sequelize));
        await qi.createTable(names.token, tokenColumns, tableOptionsFor(sequelize));
        const oldGrant = sequelize.define(`${tablePrefix}old_grant`, grantColumns, { tableName: names.grant, timestamps: false });
        const oldToken = sequelize.define(`${tablePrefix}old_token`, tokenColumns, { tableName: names.token, timestamps: false });
        const oldGrants = createGrantStore(oldGrant);
        const oldTokens = createTokenStore(oldToken);
        const live = grant({ resources: ['https://api.example/'] });
        const spent = grant();
        for (const g of [live, spent]) await oldGrants.saveGrant(g);
        expect((await oldGrants.consumeGrant(spent.clientId, spent.code))?.outcome).toBe('consumed');
        const pair = pairOf(live);
        await oldTokens.saveTokens(pair.access, pair.refresh);
        // A model without the column refuses a bound record rather than dropping its binding.
        await expect(oldGrants.saveGrant(grant({ dpopJkt: jkt() }))).rejects.toThrow(/lacks the attribute dpopJkt/);
        const bound = pairOf(live, jkt());
        await expect(oldTokens.saveTokens(bound.access, bound.refresh)).rejects.toThrow(/lacks the attribute dpopJkt/);
        await expect(oldTokens.saveTokens(bound.access, null)).rejects.toThrow(/lacks the attribute dpopJkt/);
        expect(await oldTokens.getAccessToken(bound.access.token), 'nothing of a refused pair was written').toBeNull();

        const before = { grant: await qi.describeTable(names.grant), token: await qi.describeTable(names.token) };
        const rowsBefore = {
          grant: await rowsOf(sequelize, names.grant, 'codeHash'),
          token: await rowsOf(sequelize, names.token, 'tokenHash'),
        };
        expect(rowsBefore.grant).toHaveLength(2);
        expect(rowsBefore.token).toHaveLength(2);

        await migrate(sequelize, { tablePrefix, tables: ['grant', 'token'] });

        for (const table of ['grant', 'token'] as const) {
          const after = await qi.describeTable(names[table]);
          expect(after.dpopJkt?.allowNull).toBe(true);
          expect(after.dpopJkt?.defaultValue ?? null).toBeNull();
          const { dpopJkt: _, ...rest } = after;
          expect(rest, `${table}: every other column as it was`).toEqual(before[table]);
        }
        expect(await rowsOf(sequelize, names.grant, 'codeHash')).toEqual(rowsBefore.grant.map((r) => ({ ...r, dpopJkt: null })));
        expect(await rowsOf(sequelize, names.token, 'tokenHash')).toEqual(rowsBefore.token.map((r) => ({ ...r, dpopJkt: null })));

        const models = defineModels(sequelize, { tablePrefix });
        const grants = createGrantStore(models.grant);
        const tokens = createTokenStore(models.token);
        const taken = await grants.consumeGrant(live.clientId, live.code);
        expect(taken?.outcome === 'consumed' && taken.record, 'an old code is not bound').not.toHaveProperty('dpopJkt');
        expect(taken?.outcome === 'consumed' && taken.record.resources).toEqual(['https://api.example/']);
        expect(await grants.consumeGrant(spent.clientId, spent.code)).toEqual({ outcome: 'replayed', grantId: spent.grantId });
        expect(await tokens.getAccessToken(pair.access.token), 'an old access token stays a bearer token').not.toHaveProperty('dpopJkt');
        expect(await tokens.getAccessToken(pair.access.token)).toMatchObject({ clientId: live.clientId });
        // New records keep theirs.
        const fresh = grant({ dpopJkt: jkt() });
        await grants.saveGrant(fresh);
        const got = await grants.consumeGrant(fresh.clientId, fresh.code);
        expect(got?.outcome === 'consumed' && got.record.dpopJkt).toBe(fresh.dpopJkt);
        await tokens.saveTokens(bound.access, bound.refresh);
        expect((await tokens.getAccessToken(bound.access.token))?.dpopJkt).toBe(bound.access.dpopJkt);

        // Idempotent.
        const shapeAfter = await qi.describeTable(names.token);
        await migrate(sequelize, { tablePrefix, tables: ['grant', 'token'] });
        expect(await qi.describeTable(names.token)).toEqual(shapeAfter);
        for (const table of [names.grant, names.token]) await qi.dropTable(table);
      } finally {
        await sequelize.close();
        await cleanup();
      }
    });

    it('the model paths (a model with a hook, no direct statements) keep dpopJkt like the direct ones', async () => {
      const db = await openDatabase(dialect);
      try {
        const seen: string[] = [];
        db.models.token.addHook('beforeBulkCreate', 'probe', () => {
          seen.push('bulkCreate');
        });
        db.models.grant.addHook('beforeCreate', 'probe', () => {
          seen.push('create');
        });
        const tokens = createTokenStore(db.models.token);
        const grants = createGrantStore(db.models.grant);
        for (const c of [tokenChecks.dpopJkt, tokenChecks.dpopJktThroughRotation, tokenChecks.dpopJktConcurrentConsume]) {
          await c.run({ store: tokens, capabilities: ms });
        }
        for (const c of [grantChecks.dpopJkt, grantChecks.dpopJktConcurrentConsume]) await c.run({ store: grants, capabilities: ms });
        expect(seen, 'the writes went through the models').toContain('bulkCreate');
        expect(seen).toContain('create');
      } finally {
        await db.close();
      }
    });
  });
}
