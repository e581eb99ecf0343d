import { type AccessTokenRecord, isStoreUnavailable, StoreUnavailableError, toOAuthError } from '@portcullis/core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createClientStore,
  createGrantStore,
  createTokenStore,
  createUserStore,
  defineModels,
  keyHash,
  type PortcullisModels,
  purgeExpired,
} from '../src/index.js';
import { connect, openDatabase, proxyTo, serverUrl, type TestDatabase, uniquePrefix } from './databases.js';

const SECRET = 'secret-token-value-9f8e7d';

/** Every store method (and purgeExpired), each a call that needs the database. */
function calls(models: PortcullisModels): [string, () => Promise<unknown>][] {
  const clients = createClientStore(models.client);
  const users = createUserStore(models.user);
  const grants = createGrantStore(models.grant);
  const tokens = createTokenStore(models.token);
  const expiresAt = new Date(Date.now() + 60_000);
  const access: AccessTokenRecord = { token: `${SECRET}-new`, clientId: 'c1', userId: 'u1', scopes: ['read'], expiresAt, grantId: 'f-new' };
  const grant = { ...access, code: SECRET, userId: 'u1', redirectUri: 'https://a/cb', codeChallenge: null, codeChallengeMethod: null };
  return [
    ['getClient', () => clients.getClient('c1')],
    ['getUserByUsername', () => users.getUserByUsername('alice')],
    ['saveGrant', () => grants.saveGrant(grant)],
    ['consumeGrant', () => grants.consumeGrant('c1', SECRET)],
    ['saveTokens', () => tokens.saveTokens(access, { ...access, token: `${SECRET}-new-refresh` })],
    ['getAccessToken', async () => tokens.getAccessToken(SECRET)],
    ['getRefreshToken', () => tokens.getRefreshToken(SECRET)],
    ['consumeRefreshToken', () => tokens.consumeRefreshToken(SECRET)],
    ['revokeAccessToken', () => tokens.revokeAccessToken(SECRET)],
    ['revokeFamily', () => tokens.revokeFamily('f1')],
    ['purgeExpired', () => purgeExpired(models)],
  ];
}

async function expectAllUnavailable(models: PortcullisModels): Promise<void> {
  // One at a time, so each call meets the dead connection on its own.
  for (const [name, call] of calls(models)) {
    const result = await call().then(
      () => 'resolved',
      (err: unknown) => err,
    );
    expect(result, `${name} must reject with StoreUnavailableError`).toBeInstanceOf(StoreUnavailableError);
    const err = result as StoreUnavailableError;
    expect(err.message, name).not.toContain(SECRET);
    expect(err.cause, `${name} keeps the cause`).toBeInstanceOf(Error);
    expect(isStoreUnavailable(err), name).toBe(true);
    expect(toOAuthError(err).error, name).toBe('temporarily_unavailable');
  }
}

/** Saves a live token so the stores have something to find before the connection goes. */
async function seed(models: PortcullisModels): Promise<void> {
  const tokens = createTokenStore(models.token);
  const expiresAt = new Date(Date.now() + 60_000);
  await tokens.saveTokens({ token: SECRET, clientId: 'c1', userId: 'u1', scopes: ['read'], expiresAt, grantId: 'f1' }, null);
  expect(await tokens.getAccessToken(SECRET)).toMatchObject({ token: SECRET });
}

/** Rows written during the outage by `saveGrant` and `saveTokens` (there must be none). */
async function rowsWrittenDuringOutage(db: TestDatabase): Promise<number> {
  const rows = [
    ...(await db.rawRows('token', { tokenHash: keyHash(`${SECRET}-new`), kind: 'access' })),
    ...(await db.rawRows('token', { tokenHash: keyHash(`${SECRET}-new-refresh`), kind: 'refresh' })),
    ...(await db.rawRows('grant', { codeHash: keyHash(SECRET), clientId: 'c1' })),
  ];
  return rows.length;
}

for (const dialect of ['postgres', 'mariadb'] as const) {
  describe(`${dialect}: a lost connection`, () => {
    const opened: TestDatabase[] = [];
    afterAll(async () => {
      await Promise.all(opened.map((db) => db.close()));
    });

    it('(server gone with connections in the pool) makes every store method throw StoreUnavailableError and writes nothing', async () => {
      const direct = await openDatabase(dialect);
      opened.push(direct);
      const proxy = await proxyTo(serverUrl(dialect));
      // A second instance on the same tables, through a proxy that can be cut.
      const viaProxy = await openDatabase(dialect, { location: proxy.url, tablePrefix: direct.tablePrefix });
      try {
        await seed(viaProxy.models);
        // Several pooled connections, so the first failures hit dead sockets rather than refusals.
        await Promise.all(Array.from({ length: 4 }, () => viaProxy.models.token.count()));
        await proxy.cut();
        await expectAllUnavailable(viaProxy.models);
        expect(await rowsWrittenDuringOutage(direct), 'rows saved during the outage').toBe(0);
      } finally {
        await viaProxy.sequelize.close();
      }
    });

    it('(server refusing connections) makes every store method throw StoreUnavailableError', async () => {
      const proxy = await proxyTo(serverUrl(dialect));
      await proxy.cut(); // nothing listens on its port any more
      const { sequelize } = await connect(dialect, proxy.url);
      try {
        await expectAllUnavailable(defineModels(sequelize, { tablePrefix: uniquePrefix() }));
      } finally {
        await sequelize.close();
      }
    });

    it('(pool closed by the application) makes every store method throw StoreUnavailableError', async () => {
      const db = await openDatabase(dialect);
      const direct = await openDatabase(dialect, { tablePrefix: db.tablePrefix });
      opened.push(direct);
      await seed(db.models);
      await db.sequelize.close();
      await expectAllUnavailable(db.models);
      expect(await rowsWrittenDuringOutage(direct), 'rows saved after close').toBe(0);
    });
  });
}

describe.each(['sqlite-memory', 'sqlite-file'] as const)('%s: a closed database', (dialect) => {
  it('makes every store method throw StoreUnavailableError', async () => {
    const db = await openDatabase(dialect);
    try {
      await seed(db.models);
      await db.sequelize.close();
      await expectAllUnavailable(db.models);
    } finally {
      await db.discard();
    }
  });
});
