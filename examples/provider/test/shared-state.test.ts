/**
 * STATE_STORE=shared: sessions, pending and remembered consents and failure counts live in a store
 * every process reaches, so that any process can serve any request of a browser flow.
 *
 * 1. The key-value operations the shared state is built on, on each store it runs on: Redis, the
 *    SQL database (PostgreSQL and SQLite through Sequelize) and MongoDB (the binding's test server).
 * 2. Three app processes (children, started the way `pnpm start` runs the app) on one PostgreSQL
 *    database and one Redis: a browser flow whose every request goes to the next process, failed
 *    sign-ins counted across processes, and 200 concurrent redemptions of one code spread over
 *    the three, with exactly one winner.
 *
 * PostgreSQL and Redis come from the testkit's launchers (or `DATABASE_URL_POSTGRES` and
 * `REDIS_URL`); each run uses a database of its own, dropped in teardown.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { basicAuth } from '@portcullis/binding-testkit';
import { type RedisServer, startPostgres, startRedis } from '@portcullis/binding-testkit/servers';
import { Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MongoTestServer, startMongoServer } from '../../../packages/binding-mongoose/test/mongo-server.js';
import type { KeyValue } from '../src/state/key-value.js';
import { openRedisKeyValue } from '../src/state/redis.js';
import { openStorage, type Storage } from '../src/storage.js';
import { ALICE, authorizeThroughPages, CB, CookieClient, field, pkce, TEST_SEED, TRICKY_SECRET } from './helpers.js';
import { authorizeCode, type Proc, postForm, RoundRobinBrowser, startProcess } from './processes.js';

const ISSUER = 'http://auth.portcullis.test';
const CLIENT = 'interop-app';
const BASIC = basicAuth(CLIENT, TRICKY_SECRET);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let postgresUrl: string; // the server
let stopPostgres: (() => Promise<void>) | undefined;
let redis: RedisServer | undefined;
let redisUrl: string;
let mongo: MongoTestServer | undefined;
let mongoError: unknown;
let dir: string;
const databases: string[] = [];
const closers: (() => Promise<void>)[] = [];
const children: ChildProcess[] = [];

async function onServer(sql: string): Promise<void> {
  const db = new Sequelize(postgresUrl, { logging: false, pool: { max: 1 } });
  try {
    await db.query(sql);
  } finally {
    await db.close();
  }
}

/** An empty PostgreSQL database of this run's own. */
async function freshDatabase(): Promise<string> {
  const name = `portcullis_state_${randomBytes(6).toString('hex')}`;
  await onServer(`CREATE DATABASE "${name}"`);
  databases.push(name);
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-shared-state-'));
  const [pg, rd, mg] = await Promise.allSettled([
    process.env.DATABASE_URL_POSTGRES ? Promise.resolve(null) : startPostgres(),
    process.env.REDIS_URL ? Promise.resolve(null) : startRedis(),
    startMongoServer(),
  ]);
  if (pg.status === 'fulfilled' && pg.value) stopPostgres = () => pg.value!.stop();
  if (rd.status === 'fulfilled' && rd.value) redis = rd.value;
  if (mg.status === 'fulfilled') mongo = mg.value;
  else mongoError = mg.reason; // fails the MongoDB case only (it needs Java)
  for (const r of [pg, rd]) if (r.status === 'rejected') throw r.reason;
  postgresUrl = process.env.DATABASE_URL_POSTGRES ?? (pg as PromiseFulfilledResult<{ url: string }>).value.url;
  redisUrl = process.env.REDIS_URL ?? redis!.url;
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const close of closers) await close().catch(() => {});
  for (const name of databases) await onServer(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => {});
  await stopPostgres?.();
  await redis?.stop();
  await mongo?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the key-value records of the shared state', () => {
  const stores: Record<string, () => Promise<KeyValue>> = {
    redis: async () => {
      const kv = await openRedisKeyValue(redisUrl);
      closers.push(() => kv.close());
      // Keys of a run of its own: the Redis server may be shared (REDIS_URL).
      const p = `${randomBytes(4).toString('hex')}:`;
      return {
        ...kv,
        get: (k) => kv.get(p + k),
        set: (k, v, t) => kv.set(p + k, v, t),
        add: (k, v, t) => kv.add(p + k, v, t),
        take: (k) => kv.take(p + k),
        delete: (k) => kv.delete(p + k),
        increment: (k, w) => kv.increment(p + k, w),
        counter: (k) => kv.counter(p + k),
      };
    },
    postgres: async () => openKv(await openStorage({ kind: 'postgres', url: await freshDatabase() })),
    sqlite: async () => openKv(await openStorage({ kind: 'sqlite', storage: join(dir, 'kv.sqlite') })),
    mongodb: async () => {
      if (!mongo) throw mongoError;
      return openKv(await openStorage({ kind: 'mongodb', url: `${mongo.url}/kv_${randomBytes(4).toString('hex')}` }));
    },
  };
  async function openKv(storage: Storage): Promise<KeyValue> {
    closers.push(() => storage.close());
    return storage.openKeyValue();
  }

  for (const [name, open] of Object.entries(stores)) {
    it(`${name}: values expire, add and take have one winner, counts are exact under concurrency`, async () => {
      const kv = await open();
      await kv.ping();
      expect(await kv.get('missing')).toBeNull();
      await kv.set('a', 'one', 60_000);
      await kv.set('a', 'two', 60_000);
      expect(await kv.get('a')).toBe('two');
      await kv.delete('a');
      expect(await kv.get('a')).toBeNull();

      // Expiry, also where the store would remove the record only later (SQL, MongoDB's monitor).
      await kv.set('short', 'x', 300);
      expect(await kv.add('short', 'y', 60_000)).toBe(false);
      await sleep(450);
      expect(await kv.get('short')).toBeNull();
      expect(await kv.take('short')).toBeNull();
      expect(await kv.add('short', 'y', 60_000)).toBe(true);
      expect(await kv.get('short')).toBe('y');

      // Concurrent adds: one sets it.
      const adds = await Promise.all(Array.from({ length: 10 }, (_, i) => kv.add('once', `v${i}`, 60_000)));
      expect(adds.filter(Boolean)).toHaveLength(1);

      // Concurrent takes: one gets the value.
      await kv.set('pending', 'consent', 60_000);
      const takes = await Promise.all(Array.from({ length: 20 }, () => kv.take('pending')));
      expect(takes.filter((t) => t !== null)).toEqual(['consent']);
      expect(await kv.get('pending')).toBeNull();

      // Concurrent counts: none lost; the window is fixed from the first count.
      const before = Date.now();
      await Promise.all(Array.from({ length: 30 }, () => kv.increment('fails', 60_000)));
      const c = await kv.counter('fails');
      expect(c?.count).toBe(30);
      expect(c!.resetAt).toBeGreaterThan(before + 55_000);
      expect(c!.resetAt).toBeLessThanOrEqual(Date.now() + 60_000);
      await kv.increment('brief', 300);
      await kv.increment('brief', 300);
      expect((await kv.counter('brief'))?.count).toBe(2);
      await sleep(450);
      expect(await kv.counter('brief')).toBeNull();
      expect((await kv.increment('brief', 60_000)).count).toBe(1);
    });
  }
});

describe('three processes on one PostgreSQL database and one Redis, STATE_STORE=shared', () => {
  let procs: Proc[];
  let urls: string[];

  beforeAll(async () => {
    const seedFile = join(dir, 'seed.json');
    await writeFile(seedFile, JSON.stringify(TEST_SEED));
    const env = {
      ISSUER,
      DATABASE_URL: await freshDatabase(),
      GRANT_CACHE: redisUrl,
      STATE_STORE: 'shared',
      SEED_FILE: seedFile,
      RATE_LIMIT_MAX_FAILURES: '3',
      // The 200 redemptions below all come from 127.0.0.1, and all of them fail but one.
      RATE_LIMIT_MAX_FAILURES_PER_IP: '0',
    };
    // All three at the same moment: tables, seed and the shared login key are written in turn.
    procs = await Promise.all([startProcess(env, children), startProcess(env, children), startProcess(env, children)]);
    urls = procs.map((p) => p.url);
  });

  const post = async (url: string, path: string, params: Record<string, string>) => {
    const r = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: BASIC },
      body: new URLSearchParams(params).toString(),
    });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };

  async function authorize(b: RoundRobinBrowser, scope = 'read write') {
    const { verifier, challenge } = pkce();
    const state = randomBytes(8).toString('hex');
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: CLIENT,
      redirect_uri: CB,
      scope,
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const callback = await authorizeThroughPages(b, `/oauth/authorize?${query}`);
    expect(callback.searchParams.get('state')).toBe(state);
    expect(callback.searchParams.get('iss')).toBe(ISSUER);
    return { code: callback.searchParams.get('code')!, verifier };
  }

  it('serves a browser flow whose every request goes to the next process: login, consent, callback, token, refresh, revoke', async () => {
    const b = new RoundRobinBrowser(urls);
    // authorize (1) -> login page (2) -> login (3) -> authorize again (1) -> consent answer (2)
    const { code, verifier } = await authorize(b);
    expect(new Set(b.served)).toEqual(new Set(urls));
    expect(code).toBeTruthy();
    const token = await post(urls[0]!, '/oauth/token', {
      grant_type: 'authorization_code',
      code,
      redirect_uri: CB,
      code_verifier: verifier,
    });
    expect(token.status).toBe(200);
    const refreshed = await post(urls[1]!, '/oauth/token', {
      grant_type: 'refresh_token',
      refresh_token: token.body.refresh_token as string,
    });
    expect(refreshed.status).toBe(200);
    const refresh = refreshed.body.refresh_token as string;
    expect((await post(urls[2]!, '/oauth/revoke', { token: refresh })).status).toBe(200);
    expect((await post(urls[0]!, '/oauth/introspect', { token: refresh })).body).toEqual({ active: false });

    // Signed in once, on whichever process: the next authorization goes straight to consent, and
    // a consent page shown by one process is answered at another, once.
    const { challenge } = pkce();
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: CLIENT,
      redirect_uri: CB,
      scope: 'read',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const consent = await b.get(`/oauth/authorize?${query}`);
    expect(consent.status).toBe(200);
    const page = await consent.text();
    const answer = { csrf: field(page, 'csrf'), consent: field(page, 'consent'), decision: 'approve' };
    expect((await b.post('/oauth/authorize/decision', answer)).status).toBe(302);
    expect((await b.post('/oauth/authorize/decision', answer)).status).toBe(400); // answered already
  });

  it('counts failed sign-ins across processes', async () => {
    const b = new RoundRobinBrowser(urls);
    const page = await (await b.get('/login')).text();
    // A username of its own (unknown ones count like the others), so Alice can still sign in below.
    const form = { csrf: field(page, 'csrf'), username: 'mallory', password: 'wrong', return_to: '/' };
    // One failure on each process: 3 in all, the limit for this (address, username).
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await b.post('/login', form)).status);
    expect(statuses).toEqual([401, 401, 401]);
    const throttled = await b.post('/login', form);
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toMatch(/^\d+$/);
    // Another username from the same address is not throttled.
    expect((await b.post('/login', { ...form, username: ALICE.username, password: ALICE.password })).status).toBe(303);
  });

  it('200 concurrent redemptions of one code spread over the three: exactly one 200, every other 400 invalid_grant', async () => {
    const { code, verifier } = await authorize(new RoundRobinBrowser(urls), 'read');
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        post(urls[i % 3]!, '/oauth/token', { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier }),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    const losers = results.filter((r) => r.status !== 200);
    expect(losers).toHaveLength(199);
    for (const r of losers) {
      expect(r.status).toBe(400);
      expect(r.body.error).toBe('invalid_grant');
    }
  });
});

describe('Redis restarted empty under processes sharing their state', () => {
  let own: RedisServer;
  let env: Record<string, string>;
  let procs: Proc[];

  beforeAll(async () => {
    own = await startRedis(); // a Redis of its own: the restart must not disturb the other cases
    closers.push(() => own.stop());
    const seedFile = join(dir, 'seed-restart.json');
    await writeFile(seedFile, JSON.stringify(TEST_SEED));
    env = {
      ISSUER,
      DATABASE_URL: await freshDatabase(),
      GRANT_CACHE: own.url,
      STATE_STORE: 'shared',
      SEED_FILE: seedFile,
      RATE_LIMIT_MAX_FAILURES_PER_IP: '0',
    };
    procs = await Promise.all([startProcess(env, children), startProcess(env, children)]);
  });

  /**
   * A fresh browser per rotation of `urls`: the login page from one process, the sign-in posted
   * to the next, the session seen by the one after. The statuses, `[200, 303, 302]` each when
   * every process takes every other's login form and sessions.
   */
  async function signInRound(urls: readonly string[]): Promise<number[][]> {
    const out: number[][] = [];
    for (let i = 0; i < urls.length; i++) {
      const b = new RoundRobinBrowser([...urls.slice(i), ...urls.slice(0, i)]);
      const page = await b.get('/login');
      const text = await page.text();
      const csrf = /name="csrf" value="([^"]*)"/.exec(text)?.[1] ?? '';
      const signed = await b.post('/login', { csrf, username: ALICE.username, password: ALICE.password, return_to: '/' });
      const seen = await b.get('/login?return_to=%2F'); // a signed-in session is sent on
      out.push([page.status, signed.status, seen.status]);
    }
    return out;
  }

  it('a process started after the restart does not leave the others on another login key: sign-in across processes works again within seconds, and a form shown before still posts', async () => {
    const urls = () => procs.map((p) => p.url);
    expect(await signInRound(urls())).toEqual([
      [200, 303, 302],
      [200, 303, 302],
    ]);
    // A login form shown by the first process before the restart, posted after it.
    const before = new CookieClient(urls()[0]!);
    const beforePage = await (await before.get('/login')).text();

    await own.restart(); // empty: `--save ''`
    // A process starting now finds no key (as a process replaced during a Redis outage does).
    procs.push(await startProcess(env, children));
    const expected = urls().map(() => [200, 303, 302]);
    const deadline = Date.now() + 15_000;
    let last: number[][] = [];
    while (Date.now() < deadline) {
      last = await signInRound(urls()).catch(() => []);
      if (JSON.stringify(last) === JSON.stringify(expected)) break;
      await sleep(200);
    }
    expect(last).toEqual(expected);

    const posted = await before.post('/login', {
      csrf: field(beforePage, 'csrf'),
      username: ALICE.username,
      password: ALICE.password,
      return_to: '/',
    });
    expect(posted.status).toBe(303);
    // A whole code flow across the three.
    const { code, verifier } = await authorizeCode(new RoundRobinBrowser(urls()), CLIENT, 'read');
    const token = await postForm(`${urls()[2]}/oauth/token`, BASIC, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: CB,
      code_verifier: verifier,
    });
    expect(token.status).toBe(200);
  });

  it('a login form whose token was made with no shared key is refused with 403, on every process', async () => {
    for (const url of procs.map((p) => p.url)) {
      const b = new CookieClient(url);
      await b.get('/login'); // the nonce cookie
      const r = await b.post('/login', { csrf: 'A'.repeat(43), username: ALICE.username, password: ALICE.password, return_to: '/' });
      expect(r.status).toBe(403);
    }
  });
});

describe('one process at a time: Storage.tryExclusive', () => {
  const twoConnections: Record<string, () => Promise<[Storage, Storage]>> = {
    postgres: async () => {
      const url = await freshDatabase();
      return [await openStorage({ kind: 'postgres', url }), await openStorage({ kind: 'postgres', url })];
    },
    mongodb: async () => {
      if (!mongo) throw mongoError;
      const url = `${mongo.url}/lock_${randomBytes(4).toString('hex')}`;
      return [await openStorage({ kind: 'mongodb', url }), await openStorage({ kind: 'mongodb', url })];
    },
  };
  for (const [name, open] of Object.entries(twoConnections)) {
    it(`${name}: of two overlapping callers one runs and the other is told at once; the lock is free afterwards`, async () => {
      const [a, b] = await open();
      closers.push(
        () => a.close(),
        () => b.close(),
      );
      let entered!: () => void;
      let release!: () => void;
      const inside = new Promise<void>((r) => {
        entered = r;
      });
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const first = a.tryExclusive('test-lock', async () => {
        entered();
        await gate;
        return 'first';
      });
      await inside;
      const t = Date.now();
      let ran = false;
      expect(
        await b.tryExclusive('test-lock', async () => {
          ran = true;
        }),
      ).toEqual({ ran: false });
      expect(ran).toBe(false);
      expect(Date.now() - t).toBeLessThan(2000);
      release();
      expect(await first).toEqual({ ran: true, value: 'first' });
      expect(await b.tryExclusive('test-lock', async () => 'second')).toEqual({ ran: true, value: 'second' });
      // A failing run releases the lock too.
      await expect(
        a.tryExclusive('test-lock', async () => {
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await b.tryExclusive('test-lock', async () => 'third')).toEqual({ ran: true, value: 'third' });
    });
  }
});
