/**
 * `authTime` (when the user authenticated: the `auth_time` of RFC 9068) on grant, token and device
 * tables beyond the contract suites: `migrate()` adds the nullable column to tables made before it
 * (rows kept, old codes, refresh tokens and device requests read without it), models of that shape
 * store records without it (it is informational), the model paths (a model with a hook, which the
 * direct statements leave alone) keep it like the direct ones, and a column of another name
 * (`field: 'auth_time'`) is read and written through the direct statements' aliases.
 */
import { randomBytes } from 'node:crypto';
import { deviceChecks, grantChecks, makeDeviceCode, tokenChecks } from '@portcullis/binding-testkit';
import type { GrantRecord, RefreshTokenRecord } from '@portcullis/core';
import { DataTypes, QueryTypes, type Sequelize } from 'sequelize';
import { describe, expect, it } from 'vitest';
import {
  createDeviceCodeStore,
  createGrantStore,
  createTokenStore,
  defineModels,
  keyHash,
  migrate,
  type SchemaOptions,
  tableNamesFor,
} from '../src/index.js';
import { columnsFor, indexesFor, tableOptionsFor } from '../src/models.js';
import { connect, DIALECTS, openDatabase, uniquePrefix } from './databases.js';

const rid = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;
const ms = { detectsReplay: true, ttlGranularity: 'ms' } as const;
/** A past time with milliseconds, as the application would pass it. */
const past = () => new Date(Date.now() - 3_600_000 - Math.floor(Math.random() * 1_000_000));

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

function pairOf(g: GrantRecord, authTime?: Date) {
  const common = { clientId: g.clientId, userId: g.userId, scopes: ['read'], expiresAt: g.expiresAt, grantId: g.grantId };
  const refresh: RefreshTokenRecord = { token: rid('rt'), ...common, ...(authTime === undefined ? {} : { authTime }) };
  return { access: { token: rid('at'), ...common }, refresh };
}

async function indexNames(sequelize: Sequelize, table: string): Promise<string[]> {
  return ((await sequelize.getQueryInterface().showIndex(table)) as { name: string }[]).map((i) => i.name).sort();
}

async function rowsOf(sequelize: Sequelize, table: string, key: string): Promise<Record<string, unknown>[]> {
  const qi = sequelize.getQueryInterface();
  return sequelize.query(`SELECT * FROM ${qi.quoteIdentifier(table)} ORDER BY ${qi.quoteIdentifier(key)}`, { type: QueryTypes.SELECT });
}

const TABLES = ['grant', 'token', 'device'] as const;
const KEYS = { grant: 'codeHash', token: 'tokenHash', device: 'deviceCode' } as const;

for (const dialect of DIALECTS) {
  describe(`${dialect}: authTime columns`, () => {
    it('migrate() adds a nullable authTime column to grant, token and device tables made before it, keeping their rows', async () => {
      const { sequelize, cleanup } = await connect(dialect);
      try {
        const tablePrefix = uniquePrefix();
        const names = tableNamesFor({ tablePrefix });
        const qi = sequelize.getQueryInterface();
        const { authTime: _g, ...grantColumns } = columnsFor('grant');
        const { authTime: _t, ...tokenColumns } = columnsFor('token');
        const { authTime: _d, ...deviceColumns } = columnsFor('device');
        // The tables as the version before made them: every column but authTime, every index.
        const old = { grant: grantColumns, token: tokenColumns, device: deviceColumns };
        for (const table of TABLES) {
          await qi.createTable(names[table], old[table], tableOptionsFor(sequelize));
          for (const index of indexesFor(table, names[table])) await qi.addIndex(names[table], index);
        }
        const define = (name: string, columns: object, table: string) =>
          sequelize.define(`${tablePrefix}${name}`, columns as never, { tableName: table, timestamps: false });
        const oldGrants = createGrantStore(define('old_grant', old.grant, names.grant));
        const oldTokens = createTokenStore(define('old_token', old.token, names.token));
        const oldDevices = createDeviceCodeStore(define('old_device', old.device, names.device));

        // A model without the column stores records without it (authTime is informational).
        const live = grant({ authTime: past(), resources: ['https://api.example/'] });
        const spent = grant();
        for (const g of [live, spent]) await oldGrants.saveGrant(g);
        expect((await oldGrants.consumeGrant(spent.clientId, spent.code))?.outcome).toBe('consumed');
        const pair = pairOf(live, past());
        await oldTokens.saveTokens(pair.access, pair.refresh);
        expect(await oldTokens.getRefreshToken(pair.refresh.token), 'not kept by a model without the column').not.toHaveProperty(
          'authTime',
        );
        const device = makeDeviceCode();
        expect(await oldDevices.saveDeviceCode(device)).toBe(true);
        const approved = await oldDevices.decideDeviceCode(device.userCode, {
          approved: true,
          userId: 'u1',
          scopes: [...device.scopes],
          authTime: past(),
        });
        expect(approved?.status).toBe('approved');
        expect(approved, 'decide answers what the row holds').not.toHaveProperty('authTime');

        const before = {
          grant: await qi.describeTable(names.grant),
          token: await qi.describeTable(names.token),
          device: await qi.describeTable(names.device),
        };
        const indexesBefore = await Promise.all(TABLES.map((t) => indexNames(sequelize, names[t])));
        const rowsBefore = {
          grant: await rowsOf(sequelize, names.grant, KEYS.grant),
          token: await rowsOf(sequelize, names.token, KEYS.token),
          device: await rowsOf(sequelize, names.device, KEYS.device),
        };
        expect(rowsBefore.grant).toHaveLength(2);
        expect(rowsBefore.token).toHaveLength(2);
        expect(rowsBefore.device).toHaveLength(1);
        // The reason for the upgrade: this version's models cannot use the old tables.
        const models = defineModels(sequelize, { tablePrefix });
        await expect(createTokenStore(models.token).getRefreshToken(pair.refresh.token)).rejects.toThrow();

        await migrate(sequelize, { tablePrefix, tables: ['grant', 'token', 'device'] });

        for (const table of TABLES) {
          const after = await qi.describeTable(names[table]);
          expect(after.authTime?.allowNull, table).toBe(true);
          expect(after.authTime?.defaultValue ?? null, table).toBeNull();
          const { authTime: _, ...rest } = after;
          expect(rest, `${table}: every other column as it was`).toEqual(before[table]);
          expect(await rowsOf(sequelize, names[table], KEYS[table]), `${table}: every row as it was, the new column NULL`).toEqual(
            rowsBefore[table].map((r) => ({ ...r, authTime: null })),
          );
        }
        expect(await Promise.all(TABLES.map((t) => indexNames(sequelize, names[t]))), 'every index as it was').toEqual(indexesBefore);

        const grants = createGrantStore(models.grant);
        const tokens = createTokenStore(models.token);
        const devices = createDeviceCodeStore(models.device);
        const taken = await grants.consumeGrant(live.clientId, live.code);
        expect(taken?.outcome).toBe('consumed');
        expect(taken?.outcome === 'consumed' && taken.record, 'an old code carries no authTime').not.toHaveProperty('authTime');
        expect(taken?.outcome === 'consumed' && taken.record.resources).toEqual(['https://api.example/']);
        expect(await grants.consumeGrant(spent.clientId, spent.code)).toEqual({ outcome: 'replayed', grantId: spent.grantId });
        expect(await tokens.getRefreshToken(pair.refresh.token), 'an old refresh token carries none').not.toHaveProperty('authTime');
        expect(await tokens.getAccessToken(pair.access.token)).toMatchObject({ clientId: live.clientId });
        const rotated = await tokens.consumeRefreshToken(pair.refresh.token);
        expect(rotated?.outcome).toBe('consumed');
        expect(rotated?.outcome === 'consumed' && rotated.record).not.toHaveProperty('authTime');
        const found = await devices.findDeviceCode(device.userCode);
        expect(found?.status).toBe('approved');
        expect(found, 'an old approval carries none').not.toHaveProperty('authTime');
        expect(await devices.consumeDeviceCode(device.clientId, device.deviceCode)).not.toHaveProperty('authTime');

        // New records keep theirs, to the millisecond.
        const fresh = grant({ authTime: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)) });
        await grants.saveGrant(fresh);
        const got = await grants.consumeGrant(fresh.clientId, fresh.code);
        expect(got?.outcome === 'consumed' && got.record.authTime).toEqual(fresh.authTime);
        const timed = pairOf(fresh, past());
        await tokens.saveTokens(timed.access, timed.refresh);
        expect((await tokens.getRefreshToken(timed.refresh.token))?.authTime).toEqual(timed.refresh.authTime);
        expect(await tokens.getAccessToken(timed.access.token), 'an access token has no authTime').not.toHaveProperty('authTime');
        const tokenRows = (await rowsOf(sequelize, names.token, KEYS.token)).filter(
          (r) => r.tokenHash === keyHash(timed.access.token) || r.tokenHash === keyHash(timed.refresh.token),
        );
        expect(
          tokenRows.map((r) => [r.kind, r.authTime === null ? null : new Date(r.authTime as string | Date).getTime()]).sort(),
          'the refresh row holds it, the access row NULL',
        ).toEqual([
          ['access', null],
          ['refresh', timed.refresh.authTime?.getTime()],
        ]);
        const newer = makeDeviceCode();
        const authTime = past();
        expect(await devices.saveDeviceCode(newer)).toBe(true);
        const decided = await devices.decideDeviceCode(newer.userCode, { approved: true, userId: 'u2', scopes: [], authTime });
        expect(decided?.authTime).toEqual(authTime);
        expect((await devices.findDeviceCode(newer.userCode))?.authTime).toEqual(authTime);
        expect((await devices.consumeDeviceCode(newer.clientId, newer.deviceCode))?.authTime).toEqual(authTime);

        // Idempotent.
        const shapes = await Promise.all(TABLES.map((t) => qi.describeTable(names[t])));
        await migrate(sequelize, { tablePrefix, tables: ['grant', 'token', 'device'] });
        expect(await Promise.all(TABLES.map((t) => qi.describeTable(names[t])))).toEqual(shapes);
        for (const table of TABLES) await qi.dropTable(names[table]);
      } finally {
        await sequelize.close();
        await cleanup();
      }
    });

    it('the model paths (models with a hook, no direct statements) keep authTime like the direct ones', async () => {
      const db = await openDatabase(dialect);
      try {
        const seen: string[] = [];
        db.models.token.addHook('beforeBulkCreate', 'probe', () => {
          seen.push('bulkCreate');
        });
        db.models.grant.addHook('beforeCreate', 'probe', () => {
          seen.push('create');
        });
        await tokenChecks.authTime.run({ store: createTokenStore(db.models.token), capabilities: ms });
        await grantChecks.authTime.run({ store: createGrantStore(db.models.grant), capabilities: ms });
        expect(seen, 'the writes went through the models').toContain('bulkCreate');
        expect(seen).toContain('create');
      } finally {
        await db.close();
      }
    });

    it('keeps authTime in a column of another name (field: auth_time), through the direct statements and the models', async () => {
      const { sequelize, cleanup } = await connect(dialect);
      try {
        const tablePrefix = uniquePrefix();
        const authTime = { type: DataTypes.DATE(3), allowNull: true, field: 'auth_time' };
        const options: SchemaOptions = { tablePrefix, extend: { grant: { authTime }, token: { authTime }, device: { authTime } } };
        const names = tableNamesFor(options);
        await migrate(sequelize, { ...options, tables: ['grant', 'token', 'device'] });
        const qi = sequelize.getQueryInterface();
        for (const table of TABLES) {
          const columns = await qi.describeTable(names[table]);
          expect(columns, table).toHaveProperty('auth_time');
          expect(columns, table).not.toHaveProperty('authTime');
        }
        const models = defineModels(sequelize, options);
        await tokenChecks.authTime.run({ store: createTokenStore(models.token), capabilities: ms });
        await grantChecks.authTime.run({ store: createGrantStore(models.grant), capabilities: ms });
        await deviceChecks.authTime.run({ store: createDeviceCodeStore(models.device) });
        const held = await sequelize.query<{ n: number | string }>(
          `SELECT count(*) AS n FROM ${qi.quoteIdentifier(names.token)} WHERE ${qi.quoteIdentifier('auth_time')} IS NOT NULL`,
          { type: QueryTypes.SELECT },
        );
        expect(Number(held[0]?.n), 'the refresh rows with authTime hold it in auth_time').toBe(3);
        for (const table of TABLES) await qi.dropTable(names[table]);
      } finally {
        await sequelize.close();
        await cleanup();
      }
    });
  });
}
