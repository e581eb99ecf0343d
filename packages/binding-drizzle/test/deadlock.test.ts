/**
 * Deadlocks on MariaDB: a statement InnoDB picks as a deadlock's victim is run again (it changed
 * nothing), and one that stays the victim is `StoreUnavailableError` (503), never a 500. The case
 * that showed it: of 10 concurrent rotations of one refresh token, the winner's INSERT of the new
 * pair deadlocked with a loser's revocation of the family (the replay), and the winner got a 500,
 * so no request succeeded. Also: a failed statement surfaces as the driver's error, without
 * Drizzle's "Failed query ... params: ..." text (digests, ids) that would reach the logs.
 */
import { authorizationCodeFlow, basicAuth, formRequest, jsonBody, redeemCode } from '@portcullis/binding-testkit';
import { hashPassword, hashSecret, isStoreUnavailable, OAuth2Provider } from '@portcullis/core';
import { sql } from 'drizzle-orm';
import type { MySql2Database } from 'drizzle-orm/mysql2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { againOnDeadlock, DEADLOCK_ATTEMPTS, guard, isDeadlock, queryCause } from '../src/driver.js';
import { bindDrizzle, createDrizzleStores } from '../src/index.js';
import { openDatabase, type TestDatabase } from './databases.js';

const SECRET = 'se:cr+et/%&= x-with-every-odd-character';
const CB = 'https://app.example/cb';

let db: TestDatabase;
let deadlock: unknown;

/** Two transactions that each lock one row, then ask for the other's: InnoDB kills one of them. */
async function realDeadlock(d: MySql2Database): Promise<unknown> {
  await d.execute(sql`CREATE TABLE dl (id INT PRIMARY KEY, v INT) ENGINE=InnoDB`);
  await d.execute(sql`INSERT INTO dl VALUES (1, 0), (2, 0)`);
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
    d.transaction(async (tx) => {
      await tx.execute(sql`UPDATE dl SET v = 1 WHERE id = 1`);
      await meet();
      await tx.execute(sql`UPDATE dl SET v = 1 WHERE id = 2`);
    }),
    d.transaction(async (tx) => {
      await tx.execute(sql`UPDATE dl SET v = 2 WHERE id = 2`);
      await meet();
      await tx.execute(sql`UPDATE dl SET v = 2 WHERE id = 1`);
    }),
  ]);
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  expect(failed).toHaveLength(1);
  return failed[0]!.reason;
}

beforeAll(async () => {
  db = await openDatabase('mysql');
  deadlock = await realDeadlock(db.options.db as MySql2Database);
}, 60_000);
afterAll(async () => {
  await db?.close();
});

describe('a deadlock victim on MariaDB', () => {
  it('is recognised from the driver error (errno 1213), and an ordinary failure is not', async () => {
    expect(isDeadlock(deadlock)).toBe(true);
    const dup = await (db.options.db as MySql2Database).execute(sql`INSERT INTO dl VALUES (1, 9)`).then(
      () => null,
      (e: unknown) => e,
    );
    expect(dup).not.toBeNull();
    expect(isDeadlock(dup)).toBe(false);
  });

  it('a statement that was the victim runs again; other failures are not retried; retries are bounded', async () => {
    let calls = 0;
    expect(
      await againOnDeadlock(async () => {
        if (++calls === 1) throw deadlock;
        return 'done';
      }),
    ).toBe('done');
    expect(calls).toBe(2);

    calls = 0;
    const other = new Error('duplicate');
    await expect(
      againOnDeadlock(async () => {
        calls++;
        throw other;
      }),
    ).rejects.toBe(other);
    expect(calls).toBe(1);

    calls = 0;
    await expect(
      againOnDeadlock(async () => {
        calls++;
        throw deadlock;
      }),
    ).rejects.toBe(deadlock);
    expect(calls).toBe(DEADLOCK_ATTEMPTS);
  });

  it('a store operation still the victim after every attempt answers StoreUnavailableError (503), not a 500', async () => {
    const err = await guard(async () => {
      throw deadlock;
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isStoreUnavailable(err)).toBe(true);
    expect(String((err as Error).message)).not.toMatch(/params|Failed query/);
  });

  it('10 concurrent rotations of one refresh token give exactly one success, 30 times over', async () => {
    await db.seed(
      [
        {
          id: 'conf',
          secretHash: hashSecret(SECRET),
          redirectUris: [CB],
          grantTypes: ['authorization_code', 'refresh_token'],
          scopes: ['read'],
        },
      ],
      [{ id: 'u-alice', username: 'alice', passwordHash: await hashPassword('correct horse') }],
    );
    const errors: unknown[] = [];
    const provider = new OAuth2Provider({
      issuer: 'http://127.0.0.1',
      grants: ['authorization_code', 'refresh_token'],
      logger: { warn: () => {}, error: (...a: unknown[]) => errors.push(a) },
    });
    bindDrizzle(provider, { ...db.options, currentUser: () => ({ id: 'u-alice' }) });
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

describe('a failed statement', () => {
  it('surfaces as the driver error, without the statement parameters Drizzle adds to its message', async () => {
    const stores = createDrizzleStores(db.options);
    const access = {
      token: 'tok-secretish',
      clientId: 'conf',
      userId: 'u-alice',
      scopes: ['read'],
      expiresAt: new Date(Date.now() + 60_000),
      grantId: 'family-1',
    };
    await stores.tokens.saveTokens(access, null);
    const err = await stores.tokens.saveTokens(access, null).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    const text = `${(err as Error).message} ${String((err as Error).cause ?? '')}`;
    expect(text).toMatch(/Duplicate entry/i);
    expect(text).not.toMatch(/Failed query|params:|family-1/);
    expect(queryCause(err)).toBe(err);
  });
});
