/**
 * `DATABASE_DRIVER=drizzle` (issue 17): the example app on `@portcullis/binding-drizzle`.
 *
 * - The storage on SQLite (libSQL): clients and users written, listed, replaced and removed in the
 *   binding's own tables.
 * - One app process on SQLite and one on MariaDB (mysql:// through mysql2): client_credentials,
 *   a code flow and a refresh, with digests only at rest in `portcullis_tokens`.
 * - Three processes on PostgreSQL + Redis with STATE_STORE=shared: a browser flow whose every
 *   request goes to the next process, and 200 concurrent redemptions of one code with one winner.
 * - Three processes on PostgreSQL with GRANT_CACHE=database, so the codes are the Drizzle grant
 *   store's rows: 200 concurrent redemptions of one code spread over them, one winner.
 * - What the Drizzle storage cannot do is refused at start with a message naming the setting.
 *
 * PostgreSQL, MariaDB and Redis come from the testkit's launchers on loopback ports.
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createClient } from '@libsql/client';
import { basicAuth } from '@portcullis/binding-testkit';
import { type DatabaseServer, startMariadb, startPostgres, startRedis } from '@portcullis/binding-testkit/servers';
import { generateClientSecret, hashSecret } from '@portcullis/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseDatabaseUrl } from '../src/config.js';
import { PURGE_LOCK } from '../src/purge.js';
import { openStorage, parseDatabaseDriver } from '../src/storage.js';
import { CB, CookieClient, TEST_SEED, TRICKY_SECRET } from './helpers.js';
import { authorizeCode, PACKAGE_DIR, type Proc, postForm, RoundRobinBrowser, startProcess } from './processes.js';

const ISSUER = 'http://auth.portcullis.test';
const CLIENT = 'interop-app';
const BASIC = basicAuth(CLIENT, TRICKY_SECRET);

const children: ChildProcess[] = [];
const stops: (() => Promise<void>)[] = [];
let dir: string;
let seedFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-drizzle-'));
  seedFile = join(dir, 'seed.json');
  await writeFile(seedFile, JSON.stringify(TEST_SEED));
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const stop of stops.reverse()) await stop().catch(() => {});
  if (dir) await rm(dir, { recursive: true, force: true });
});

const drizzleEnv = (extra: Record<string, string>) => ({
  DATABASE_DRIVER: 'drizzle',
  ISSUER,
  SEED_FILE: seedFile,
  // The concurrent redemptions all come from 127.0.0.1, and all of them fail but one.
  RATE_LIMIT_MAX_FAILURES_PER_IP: '0',
  RATE_LIMIT_MAX_FAILURES: '0',
  ...extra,
});

/** A database of its own on a PostgreSQL server, for one deployment. */
async function pgDatabase(server: DatabaseServer, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  return procsDatabase(server, name);
}

/** client_credentials, a code flow and a refresh on one process; the tokens. */
async function singleProcessFlows(url: string): Promise<string[]> {
  const cc = await postForm(`${url}/oauth/token`, BASIC, { grant_type: 'client_credentials', scope: 'read' });
  expect(cc.status).toBe(200);
  const { code, verifier } = await authorizeCode(new CookieClient(url), CLIENT);
  const ac = await postForm(`${url}/oauth/token`, BASIC, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: CB,
    code_verifier: verifier,
  });
  expect(ac.status).toBe(200);
  const refreshed = await postForm(`${url}/oauth/token`, BASIC, {
    grant_type: 'refresh_token',
    refresh_token: ac.body.refresh_token as string,
  });
  expect(refreshed.status).toBe(200);
  expect((await postForm(`${url}/oauth/introspect`, BASIC, { token: refreshed.body.access_token as string })).body).toMatchObject({
    active: true,
    client_id: CLIENT,
  });
  // A replayed code is refused and revokes the family it started, refreshed tokens included.
  const again = await postForm(`${url}/oauth/token`, BASIC, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: CB,
    code_verifier: verifier,
  });
  expect([again.status, again.body.error]).toEqual([400, 'invalid_grant']);
  expect((await postForm(`${url}/oauth/introspect`, BASIC, { token: refreshed.body.access_token as string })).body).toEqual({
    active: false,
  });
  return [
    cc.body.access_token,
    ac.body.access_token,
    ac.body.refresh_token,
    refreshed.body.access_token,
    refreshed.body.refresh_token,
  ] as string[];
}

/** 200 concurrent redemptions of one code spread over `urls`: exactly one 200, 199 `400 invalid_grant`. */
async function oneWinner(urls: readonly string[], code: string, verifier: string): Promise<void> {
  const results = await Promise.all(
    Array.from({ length: 200 }, (_, i) =>
      postForm(`${urls[i % urls.length]}/oauth/token`, BASIC, {
        grant_type: 'authorization_code',
        code,
        redirect_uri: CB,
        code_verifier: verifier,
      }),
    ),
  );
  expect(results.filter((r) => r.status === 200)).toHaveLength(1);
  const losers = results.filter((r) => r.status !== 200);
  expect(losers).toHaveLength(199);
  for (const r of losers) expect([r.status, r.body.error]).toEqual([400, 'invalid_grant']);
}

describe('DATABASE_DRIVER', () => {
  const sqlite = parseDatabaseUrl('sqlite::memory:');
  it('is sequelize by default, drizzle when asked, mongoose on MongoDB', () => {
    expect(parseDatabaseDriver(undefined, sqlite)).toBe('sequelize');
    expect(parseDatabaseDriver('', sqlite)).toBe('sequelize');
    expect(parseDatabaseDriver(' Drizzle ', sqlite)).toBe('drizzle');
    expect(parseDatabaseDriver(undefined, parseDatabaseUrl('mongodb://db/x'))).toBe('mongoose');
  });
  it('refuses other values, hostile ones included, without echoing them; drizzle on MongoDB is refused', () => {
    for (const v of ['prisma', 'drizzle\r\nX: 1', 'drizzle\u0000', 'd'.repeat(5000), 'postgres://u:s3cret-pw@h/db']) {
      let err: unknown;
      try {
        parseDatabaseDriver(v, sqlite);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toBe('DATABASE_DRIVER must be sequelize (the default) or drizzle');
    }
    let mongo: unknown;
    try {
      parseDatabaseDriver('drizzle', parseDatabaseUrl('mongodb://u:s3cret-pw@db/x'));
    } catch (e) {
      mongo = e;
    }
    expect(mongo).toBeInstanceOf(ConfigError);
    expect((mongo as Error).message).toMatch(/^DATABASE_DRIVER=drizzle needs an SQL database/);
    expect((mongo as Error).message).not.toContain('s3cret-pw');
  });
});

describe('the Drizzle storage on SQLite', () => {
  it('writes, lists, replaces and removes clients and users in the binding tables', async () => {
    const file = join(dir, 'storage.sqlite');
    const storage = await openStorage({ kind: 'sqlite', storage: file }, 'drizzle');
    try {
      expect(storage.driver).toBe('drizzle');
      const client = {
        id: 'c1',
        secretHash: hashSecret(generateClientSecret()),
        redirectUris: [CB],
        grantTypes: ['authorization_code' as const],
        scopes: ['read'],
      };
      expect(await storage.putClient(client)).toBe('created');
      expect(await storage.putClient(client)).toBe('updated');
      expect(await storage.putClient({ ...client, id: 'c0', secretHash: null, defaultScopes: ['read'], resourceServer: true })).toBe(
        'created',
      );
      expect(await storage.listClients()).toEqual([
        { ...client, id: 'c0', secretHash: null, defaultScopes: ['read'], resourceServer: true },
        client,
      ]);
      expect(await storage.putUser({ username: 'u', subject: 'sub-1', passwordHash: 'h1' })).toBe('created');
      expect(await storage.putUser({ username: 'u', subject: 'sub-1', passwordHash: 'h2' })).toBe('updated');
      await expect(storage.putUser({ username: 'u', subject: 'other', passwordHash: 'h' })).rejects.toThrow(/another subject/);
      await expect(storage.putUser({ username: 'v', subject: 'sub-1', passwordHash: 'h' })).rejects.toThrow(/another subject/);
      expect(await storage.removeClient('c0')).toBe(true);
      expect(await storage.removeClient('c0')).toBe(false);
      expect((await storage.listClients()).map((c) => c.id)).toEqual(['c1']);
      expect(await storage.tryExclusive('x', async () => 7)).toEqual({ ran: true, value: 7 });
      await storage.ping();
      await expect(storage.openKeyValue()).rejects.toThrow(/STATE_STORE=shared with DATABASE_DRIVER=drizzle needs GRANT_CACHE=redis/);
    } finally {
      await storage.close();
    }
    const raw = createClient({ url: pathToFileURL(file).href });
    try {
      const tables = (await raw.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")).rows.map((r) => r.name);
      expect(tables).toEqual(expect.arrayContaining(['portcullis_clients', 'portcullis_users', 'portcullis_tokens', 'portcullis_grants']));
      expect((await raw.execute('SELECT password_hash FROM portcullis_users')).rows.map((r) => r.password_hash)).toEqual(['h2']);
    } finally {
      raw.close();
    }
  });
});

describe('one process on SQLite, DATABASE_DRIVER=drizzle', () => {
  it('serves client_credentials, a code flow and a refresh, with only digests at rest', async () => {
    const file = join(dir, 'app.sqlite');
    const p = await startProcess(drizzleEnv({ DATABASE_URL: `sqlite:${file}` }), children);
    expect(p.output()).toMatch(/database: +sqlite:\S+ \(drizzle\)/);
    const tokens = await singleProcessFlows(p.url);
    const raw = createClient({ url: pathToFileURL(file).href });
    try {
      const rows = (await raw.execute('SELECT token_hash FROM portcullis_tokens')).rows.map((r) => String(r.token_hash));
      expect(rows.length).toBeGreaterThanOrEqual(tokens.length);
      for (const t of tokens) expect(rows.some((h) => h.includes(t))).toBe(false);
      // Nothing went through Sequelize's tables.
      const tables = (await raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")).rows.map((r) => String(r.name));
      expect(tables.filter((t) => !t.startsWith('portcullis_'))).toEqual([]);
    } finally {
      raw.close();
    }
    // The CLI reads DATABASE_DRIVER too: it sees the seeded clients in the Drizzle tables.
    const cli = (driver: string) =>
      spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', 'src/cli.ts', 'clients', 'list', '--json'], {
        cwd: PACKAGE_DIR,
        env: { ...process.env, DATABASE_DRIVER: driver, DATABASE_URL: `sqlite:${file}` },
        encoding: 'utf8',
        timeout: 30_000,
      });
    const listed = cli('drizzle');
    expect(listed.status).toBe(0);
    expect((JSON.parse(listed.stdout) as { id: string }[]).map((c) => c.id)).toEqual(expect.arrayContaining([CLIENT, 'interop-public']));
  });
});

describe('one process on MariaDB (mysql:// through mysql2), DATABASE_DRIVER=drizzle', () => {
  let proc: Proc;
  beforeAll(async () => {
    const maria = await startMariadb();
    stops.push(() => maria.stop());
    proc = await startProcess(drizzleEnv({ DATABASE_URL: maria.url.replace(/^mariadb:/, 'mysql:') }), children);
    expect(proc.output()).toMatch(/database: +mariadb:\/\/\S+ \(drizzle\)/);
  });
  it('serves client_credentials, a code flow and a refresh', async () => {
    await singleProcessFlows(proc.url);
  });
  it('gives one winner of 200 concurrent redemptions of one code (GRANT_CACHE is memory: one process)', async () => {
    const { code, verifier } = await authorizeCode(new CookieClient(proc.url), CLIENT, 'read');
    await oneWinner([proc.url], code, verifier);
  });
});

describe('three processes on PostgreSQL (Drizzle) and Redis, STATE_STORE=shared', () => {
  let procs: Proc[] = [];
  let server: DatabaseServer;
  beforeAll(async () => {
    const [postgres, redis] = await Promise.allSettled([startPostgres(), startRedis()]);
    if (postgres.status === 'fulfilled') stops.push(() => postgres.value.stop());
    if (redis.status === 'fulfilled') stops.push(() => redis.value.stop());
    for (const r of [postgres, redis]) if (r.status === 'rejected') throw r.reason;
    server = (postgres as PromiseFulfilledResult<DatabaseServer>).value;
    const env = drizzleEnv({
      DATABASE_URL: await pgDatabase(server, 'drizzle_shared'),
      GRANT_CACHE: (redis as PromiseFulfilledResult<{ url: string }>).value.url,
      STATE_STORE: 'shared',
    });
    // Started together on a fresh database: the migration and the seed run one process at a time.
    procs = await Promise.all([0, 1, 2].map(() => startProcess(env, children)));
    for (const p of procs) {
      expect(p.output()).toMatch(/database: +postgres:\/\/\S+ \(drizzle\)/);
      expect(p.output()).toMatch(/"database":"postgres".*"grantCache":"redis.*"state":"redis/);
    }
  });

  it('serves a browser flow whose every request goes to the next process: login, consent, callback, token, refresh, revoke', async () => {
    const urls = procs.map((p) => p.url);
    const b = new RoundRobinBrowser(urls);
    const { code, verifier, state, returnedState, iss } = await authorizeCode(b, CLIENT);
    expect([returnedState, iss]).toEqual([state, ISSUER]);
    expect(new Set(b.served)).toEqual(new Set(urls));
    const token = await postForm(`${urls[0]}/oauth/token`, BASIC, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: CB,
      code_verifier: verifier,
    });
    expect(token.status).toBe(200);
    expect((await postForm(`${urls[1]}/oauth/introspect`, BASIC, { token: token.body.access_token as string })).body).toMatchObject({
      active: true,
      client_id: CLIENT,
    });
    const refreshed = await postForm(`${urls[1]}/oauth/token`, BASIC, {
      grant_type: 'refresh_token',
      refresh_token: token.body.refresh_token as string,
    });
    expect(refreshed.status).toBe(200);
    const refresh = refreshed.body.refresh_token as string;
    expect((await postForm(`${urls[2]}/oauth/revoke`, BASIC, { token: refresh })).status).toBe(200);
    expect((await postForm(`${urls[0]}/oauth/introspect`, BASIC, { token: refresh })).body).toEqual({ active: false });
  });

  it('200 concurrent redemptions of one code spread over the three: exactly one 200, every other 400 invalid_grant', async () => {
    const urls = procs.map((p) => p.url);
    const { code, verifier } = await authorizeCode(new RoundRobinBrowser(urls), CLIENT, 'read');
    await oneWinner(urls, code, verifier);
  });

  it('keeps the tokens in the binding tables, as digests', async () => {
    const db = new pg.Client({ connectionString: procsDatabase(server, 'drizzle_shared') });
    await db.connect();
    try {
      const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM portcullis_tokens');
      expect(Number(rows[0]!.n)).toBeGreaterThanOrEqual(4);
    } finally {
      await db.end();
    }
  });

  it('takes the purge lock once across processes, waits for the seed lock, and purges expired rows', async () => {
    const url = procsDatabase(server, 'drizzle_shared');
    const storage = await openStorage({ kind: 'postgres', url }, 'drizzle');
    const outside = new pg.Client({ connectionString: url });
    await outside.connect();
    try {
      // Another process in the middle of a purge: the lock is held, this one skips its run.
      await outside.query('BEGIN');
      await outside.query('SELECT pg_advisory_xact_lock(hashtext($1))', [PURGE_LOCK]);
      let ran = 0;
      expect(await storage.tryExclusive(PURGE_LOCK, async () => ++ran)).toEqual({ ran: false });
      await outside.query('ROLLBACK');
      expect(await storage.tryExclusive(PURGE_LOCK, async () => ++ran)).toEqual({ ran: true, value: 1 });
      // The seed lock is waited for, not skipped.
      await outside.query('BEGIN');
      await outside.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['portcullis-example-seed']);
      let seeded = false;
      const seeding = storage.exclusive(async () => {
        seeded = true;
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(seeded).toBe(false);
      await outside.query('COMMIT');
      await seeding;
      expect(seeded).toBe(true);
      // Five expired tokens and one live one, written as the binding would (digest keys).
      const insert = (hash: string, expires: string) =>
        outside.query(
          `INSERT INTO portcullis_tokens (token_hash, kind, client_id, scopes, expires_at, grant_id) VALUES ($1, 'access', $2, '[]', now() + $3::interval, 'g-purge')`,
          [hash, CLIENT, expires],
        );
      for (let n = 0; n < 5; n++) await insert(`${n}`.repeat(64), '-1 minute');
      await insert('f'.repeat(64), '1 hour');
      expect(await storage.purgeExpired(1000)).toBeGreaterThanOrEqual(5);
      const { rows } = await outside.query<{ h: string }>(`SELECT token_hash AS h FROM portcullis_tokens WHERE grant_id = 'g-purge'`);
      expect(rows.map((r) => r.h)).toEqual(['f'.repeat(64)]);
    } finally {
      await outside.end();
      await storage.close();
    }
  });

  describe('and three more with GRANT_CACHE=database: the codes are the Drizzle grant store rows', () => {
    let urls: string[] = [];
    beforeAll(async () => {
      const env = drizzleEnv({ DATABASE_URL: await pgDatabase(server, 'drizzle_codes'), GRANT_CACHE: 'database' });
      const three = await Promise.all([0, 1, 2].map(() => startProcess(env, children)));
      for (const p of three) expect(p.output()).toMatch(/"grantCache":"database"/);
      urls = three.map((p) => p.url);
    });
    it('200 concurrent redemptions of one code spread over the three: exactly one 200', async () => {
      // Sign-in sessions are per process here (STATE_STORE=memory): the browser part stays on one.
      const { code, verifier } = await authorizeCode(new CookieClient(urls[0]!), CLIENT, 'read');
      await oneWinner(urls, code, verifier);
      const db = new pg.Client({ connectionString: procsDatabase(server, 'drizzle_codes') });
      await db.connect();
      try {
        const { rows } = await db.query<{ consumed: Date | null }>('SELECT consumed_at AS consumed FROM portcullis_grants');
        expect(rows).toHaveLength(1);
        expect(rows[0]!.consumed).toBeInstanceOf(Date);
      } finally {
        await db.end();
      }
    });
  });
});

/** The URL of a database made by `pgDatabase`. */
function procsDatabase(server: DatabaseServer, name: string): string {
  const u = new URL(server.url);
  u.pathname = `/${name}`;
  return u.toString();
}

describe('refused at start', () => {
  const start = (env: Record<string, string>) =>
    spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', 'src/main.ts'], {
      cwd: PACKAGE_DIR,
      env: { ...process.env, PORT: '0', DEMO: '0', ...env },
      encoding: 'utf8',
      timeout: 30_000,
    });
  it('STATE_STORE=shared on the Drizzle storage without a Redis grant cache', () => {
    const r = start({ DATABASE_DRIVER: 'drizzle', DATABASE_URL: `sqlite:${join(dir, 'refused.sqlite')}`, STATE_STORE: 'shared' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Could not start: Error: STATE_STORE=shared with DATABASE_DRIVER=drizzle needs GRANT_CACHE=redis/);
  });
  it('DATABASE_DRIVER=drizzle on MongoDB, and an unknown driver, without echoing the URL', () => {
    const r = start({ DATABASE_DRIVER: 'drizzle', DATABASE_URL: 'mongodb://u:s3cret-pw@127.0.0.1:1/x' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Configuration error: DATABASE_DRIVER=drizzle needs an SQL database/);
    expect(r.stderr).not.toContain('s3cret-pw');
    const bad = start({ DATABASE_DRIVER: 'knex', DATABASE_URL: 'sqlite::memory:' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/Configuration error: DATABASE_DRIVER must be sequelize \(the default\) or drizzle/);
  });
});
