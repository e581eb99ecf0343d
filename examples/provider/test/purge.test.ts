/**
 * The periodic purge of expired rows: two instances on one PostgreSQL database, purging every
 * second in batches of 10, one at a time under an advisory lock. Expired tokens and shared-state
 * rows go, live ones stay; while another session holds the lock, nothing goes.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { basicAuth } from '@portcullis/binding-testkit';
import { type DatabaseServer, startPostgres } from '@portcullis/binding-testkit/servers';
import { QueryTypes, Sequelize, type Transaction } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.js';
import { parseConfig } from '../src/config.js';
import { PURGE_LOCK } from '../src/purge.js';
import { STATE_TABLE } from '../src/state/sql.js';
import { TEST_SEED, TRICKY_SECRET } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: DatabaseServer | undefined;
let serverUrl: string;
let name: string;
let db: Sequelize | undefined;
let dir: string;
const apps: App[] = [];
const logs: string[] = [];
/** Ends the transaction holding the purge lock from outside (also when the test failed). */
let release: () => void = () => {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-purge-'));
  if (process.env.DATABASE_URL_POSTGRES) serverUrl = process.env.DATABASE_URL_POSTGRES;
  else {
    server = await startPostgres();
    serverUrl = server.url;
  }
  name = `portcullis_purge_${randomBytes(6).toString('hex')}`;
  const admin = new Sequelize(serverUrl, { logging: false, pool: { max: 1 } });
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.close();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  db = new Sequelize(url.toString(), { logging: false, pool: { max: 2 } });
});

afterAll(async () => {
  release();
  await Promise.allSettled(apps.map((a) => a.close()));
  await db?.close();
  if (name) {
    const admin = new Sequelize(serverUrl, { logging: false, pool: { max: 1 } });
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => {});
    await admin.close();
  }
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const count = async (sql: string) => Number((await db!.query<{ n: string }>(sql, { type: QueryTypes.SELECT }))[0]!.n);
const expiredTokens = () => count(`SELECT count(*) AS n FROM oauth_tokens WHERE "expiresAt" <= now()`);
const liveTokens = () => count(`SELECT count(*) AS n FROM oauth_tokens WHERE "expiresAt" > now()`);
const expiredState = () => count(`SELECT count(*) AS n FROM ${STATE_TABLE} WHERE "expiresAt" <= ${Date.now()}`);
const liveState = () => count(`SELECT count(*) AS n FROM ${STATE_TABLE} WHERE "expiresAt" > ${Date.now()}`);

describe('the periodic purge', () => {
  it('deletes expired tokens and state rows in batches, one process at a time, and keeps live ones', async () => {
    // Hold the purge lock from outside, as a third process in the middle of a purge would.
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => {
      locked = r;
    });
    const holder = db!.transaction(async (t: Transaction) => {
      await db!.query('SELECT pg_advisory_xact_lock(hashtext(:name))', { replacements: { name: PURGE_LOCK }, transaction: t });
      locked();
      await new Promise<void>((r) => {
        release = r;
      });
    });
    await isLocked;

    const seedFile = join(dir, 'seed.json');
    await writeFile(seedFile, JSON.stringify(TEST_SEED));
    const url = new URL(serverUrl);
    url.pathname = `/${name}`;
    const config = parseConfig(
      {
        PORT: '0',
        DATABASE_URL: url.toString(),
        GRANT_CACHE: 'database',
        STATE_STORE: 'shared',
        SEED_FILE: seedFile,
        DEMO: '0',
        PURGE_INTERVAL: '1s',
        PURGE_BATCH_SIZE: '10',
      },
      [],
      dir,
    );
    for (let i = 0; i < 2; i++) apps.push(await createApp(config, { log: (l) => logs.push(l) }));

    // 30 tokens, 25 of them made expired; 15 expired state rows and the live ones the apps wrote.
    const basic = basicAuth('interop-app', TRICKY_SECRET);
    for (let i = 0; i < 30; i++) {
      const r = await fetch(`${apps[i % 2]!.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
        body: 'grant_type=client_credentials',
      });
      expect(r.status).toBe(200);
    }
    await db!.query(
      `UPDATE oauth_tokens SET "expiresAt" = now() - interval '1 hour' WHERE "tokenHash" IN (SELECT "tokenHash" FROM oauth_tokens ORDER BY "tokenHash" LIMIT 25)`,
    );
    const past = Date.now() - 60_000;
    for (let i = 0; i < 15; i++) {
      await db!.query(`INSERT INTO ${STATE_TABLE} (key, value, count, "expiresAt") VALUES (:key, 'x', 0, :at)`, {
        replacements: { key: `old-${i}`, at: past - i },
      });
    }
    const liveStateBefore = await liveState();
    expect(liveStateBefore).toBeGreaterThanOrEqual(1); // the login CSRF key
    expect(await expiredTokens()).toBe(25);
    expect(await expiredState()).toBe(15);

    // While the lock is held elsewhere, both apps skip their runs: nothing goes.
    await sleep(2500);
    expect(await apps[0]!.purge()).toEqual({ ran: false });
    expect(await expiredTokens()).toBe(25);
    expect(await expiredState()).toBe(15);

    release();
    await holder;
    const end = Date.now() + 15_000;
    while ((await expiredTokens()) + (await expiredState()) > 0 && Date.now() < end) await sleep(200);
    expect(await expiredTokens()).toBe(0);
    expect(await expiredState()).toBe(0);
    expect(await liveTokens()).toBe(5);
    expect(await liveState()).toBe(liveStateBefore);
    const purged = logs.map((l) => JSON.parse(l) as { msg: string; deleted?: number }).filter((l) => l.msg === 'purged expired rows');
    expect(purged.reduce((n, l) => n + l.deleted!, 0)).toBe(40);
  });
});
