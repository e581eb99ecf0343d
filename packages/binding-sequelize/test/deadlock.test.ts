/**
 * Deadlocks on MariaDB: a store operation whose statement InnoDB picks as a deadlock's victim is run
 * again (the victim changed nothing), and one that stays the victim is `StoreUnavailableError`
 * (503), never a 500. The case that showed it: of 10 concurrent rotations of one refresh token, the
 * winner's INSERT of the new pair, or a loser's revocation of the family (the replay), deadlocked
 * with the other, 2 times in 100: a 500, and either no success or a replay whose family was not
 * revoked.
 */
import { authorizationCodeFlow, basicAuth, formRequest, jsonBody, redeemCode } from '@portcullis/binding-testkit';
import { hashPassword, hashSecret, isStoreUnavailable, OAuth2Provider } from '@portcullis/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindSequelize } from '../src/index.js';
import { DEADLOCK_ATTEMPTS, guard, isDeadlock } from '../src/stores.js';
import { openDatabase, type TestDatabase } from './databases.js';

const SECRET = 'se:cr+et/%&= x-with-every-odd-character';
const CB = 'https://app.example/cb';

let db: TestDatabase;
let deadlock: unknown;

/** Two transactions that each lock one row, then ask for the other's: InnoDB kills one of them. */
async function realDeadlock(): Promise<unknown> {
  const q = db.sequelize;
  const table = `dl_${db.tablePrefix}`;
  await q.query(`CREATE TABLE ${table} (id INT PRIMARY KEY, v INT) ENGINE=InnoDB`);
  await q.query(`INSERT INTO ${table} VALUES (1, 0), (2, 0)`);
  let arrived = 0;
  let open: () => void = () => {};
  const both = new Promise<void>((resolve) => {
    open = resolve;
  });
  const meet = async () => {
    if (++arrived === 2) open();
    await both;
  };
  const results = await Promise.allSettled([
    q.transaction(async (transaction) => {
      await q.query(`UPDATE ${table} SET v = 1 WHERE id = 1`, { transaction });
      await meet();
      await q.query(`UPDATE ${table} SET v = 1 WHERE id = 2`, { transaction });
    }),
    q.transaction(async (transaction) => {
      await q.query(`UPDATE ${table} SET v = 2 WHERE id = 2`, { transaction });
      await meet();
      await q.query(`UPDATE ${table} SET v = 2 WHERE id = 1`, { transaction });
    }),
  ]);
  await q.query(`DROP TABLE ${table}`);
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  expect(failed).toHaveLength(1);
  return failed[0]!.reason;
}

beforeAll(async () => {
  db = await openDatabase('mariadb');
  deadlock = await realDeadlock();
}, 60_000);
afterAll(async () => {
  await db?.close();
});

describe('a deadlock victim on MariaDB', () => {
  it('is recognised from the Sequelize error (errno 1213), and an ordinary failure is not', async () => {
    expect(isDeadlock(deadlock)).toBe(true);
    const other = await db.sequelize.query('SELECT * FROM no_such_table_here').then(
      () => null,
      (e: unknown) => e,
    );
    expect(other).not.toBeNull();
    expect(isDeadlock(other)).toBe(false);
  });

  it('an operation that was the victim runs again; other failures are not retried; a lasting deadlock is a 503', async () => {
    let calls = 0;
    expect(
      await guard(async () => {
        if (++calls === 1) throw deadlock;
        return 'done';
      }),
    ).toBe('done');
    expect(calls).toBe(2);

    calls = 0;
    const other = new Error('duplicate');
    await expect(
      guard(async () => {
        calls++;
        throw other;
      }),
    ).rejects.toBe(other);
    expect(calls).toBe(1);

    calls = 0;
    const lasting = await guard(async () => {
      calls++;
      throw deadlock;
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(calls).toBe(DEADLOCK_ATTEMPTS);
    expect(isStoreUnavailable(lasting)).toBe(true);
  });

  it('10 concurrent rotations of one refresh token give exactly one success, 30 times over', async () => {
    await db.models.client.create({
      id: 'conf',
      secretHash: hashSecret(SECRET),
      redirectUris: [CB],
      grantTypes: ['authorization_code', 'refresh_token'],
      scopes: ['read'],
    });
    await db.models.user.create({ id: 'u-alice', username: 'alice', passwordHash: await hashPassword('correct horse') });
    const errors: unknown[] = [];
    const provider = new OAuth2Provider({
      issuer: 'http://127.0.0.1',
      grants: ['authorization_code', 'refresh_token'],
      logger: { warn: () => {}, error: (...a: unknown[]) => errors.push(a) },
    });
    bindSequelize(provider, { sequelize: db.sequelize, ...db.models, currentUser: () => ({ id: 'u-alice' }) });
    const client = {
      clientId: 'conf',
      clientSecret: SECRET,
      redirectUri: CB,
      scope: 'read',
      state: 's',
      authorizeUrl: '/oauth/authorize',
      tokenUrl: '/oauth/token',
    };
    for (let i = 0; i < 30; i++) {
      const { code, verifier } = await authorizationCodeFlow(provider, client);
      const first = jsonBody(await redeemCode(provider, client, code, verifier)) as { refresh_token: string };
      const results = await Promise.all(
        Array.from({ length: 10 }, () =>
          provider.token(
            formRequest(
              '/oauth/token',
              { grant_type: 'refresh_token', refresh_token: first.refresh_token },
              { authorization: basicAuth('conf', SECRET) },
            ),
          ),
        ),
      );
      expect(results.map((r) => r.status).sort()).toEqual([200, 400, 400, 400, 400, 400, 400, 400, 400, 400]);
    }
    expect(errors).toEqual([]);
  }, 60_000);
});
