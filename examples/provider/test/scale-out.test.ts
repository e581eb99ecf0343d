/**
 * Scale-out (DESIGN.md): "Provider processes hold no state of their own ... A code issued by one
 * process is redeemed on another; a race between processes still has one winner." Two instances
 * of the app, A and B, on different loopback ports share one PostgreSQL database, one Redis grant
 * cache and one issuer, as they would behind a load balancer. Sign-in sessions are per process,
 * so the browser part of a flow stays on one instance (sticky sessions); everything OAuth keeps
 * must work across them.
 *
 * PostgreSQL, MariaDB and Redis come from the testkit's launchers, or from `DATABASE_URL_POSTGRES`,
 * `DATABASE_URL_MARIADB` and `REDIS_URL` when set. Each deployment gets a database of its own,
 * dropped in teardown.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { basicAuth } from '@portcullis/binding-testkit';
import { type RedisServer, startMariadb, startPostgres, startRedis } from '@portcullis/binding-testkit/servers';
import { Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.js';
import { parseConfig } from '../src/config.js';
import { ALICE, authorizeThroughPages, CB, CookieClient, pkce, TEST_SEED, TRICKY_SECRET } from './helpers.js';

/** The issuer both instances share: the load balancer's address. No request is ever sent to it. */
const ISSUER = 'http://auth.portcullis.test';
const CLIENT = 'interop-app';
const BASIC = basicAuth(CLIENT, TRICKY_SECRET);
const QUIET = { log: () => {} };

/** A database server the tests create throwaway databases on. */
interface SqlServer {
  readonly dialect: 'postgres' | 'mariadb';
  /** Where to connect to create and drop databases. */
  readonly url: string;
  /** Databases created by this run, dropped in teardown. */
  readonly created: string[];
  /** Stops the server when this run started it. */
  stop(): Promise<void>;
}

/** The server an env var names, or a throwaway one from the testkit's launcher. */
async function sqlServer(dialect: SqlServer['dialect']): Promise<SqlServer> {
  const env = dialect === 'postgres' ? process.env.DATABASE_URL_POSTGRES : process.env.DATABASE_URL_MARIADB;
  if (env) return { dialect, url: env, created: [], stop: async () => {} };
  const server = await (dialect === 'postgres' ? startPostgres() : startMariadb());
  return { dialect, url: server.url, created: [], stop: () => server.stop() };
}

/** Runs one statement on the server. */
async function onServer(server: SqlServer, sql: string): Promise<void> {
  const db = new Sequelize(server.url, { logging: false, pool: { max: 1 } });
  try {
    await db.query(sql);
  } finally {
    await db.close();
  }
}

const quote = (server: SqlServer, name: string) => (server.dialect === 'postgres' ? `"${name}"` : `\`${name}\``);

/** Creates an empty database of this run's own and returns its URL. */
async function freshDatabase(server: SqlServer): Promise<string> {
  const name = `portcullis_scale_${randomBytes(6).toString('hex')}`;
  await onServer(server, `CREATE DATABASE ${quote(server, name)}`);
  server.created.push(name);
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return url.toString();
}

async function dropDatabases(server: SqlServer): Promise<void> {
  for (const name of server.created) {
    await onServer(server, `DROP DATABASE IF EXISTS ${quote(server, name)}${server.dialect === 'postgres' ? ' WITH (FORCE)' : ''}`);
  }
}

let postgres: SqlServer | undefined;
let mariadb: SqlServer | undefined;
let redis: RedisServer | undefined;
let redisUrl: string;
let dir: string | undefined;
let seedFile: string;
let a: App;
let b: App;
/** A browser signed in on A (sessions stay on the instance that created them). */
let browserA: CookieClient;

/** The configuration every instance of a deployment shares. */
function deployment(databaseUrl: string) {
  return parseConfig({ PORT: '0', ISSUER, DATABASE_URL: databaseUrl, GRANT_CACHE: redisUrl, SEED_FILE: seedFile }, [], dir);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-scale-out-'));
  seedFile = join(dir, 'seed.json');
  await writeFile(seedFile, JSON.stringify(TEST_SEED));
  const servers = await Promise.allSettled([sqlServer('postgres'), sqlServer('mariadb')]);
  postgres = servers[0].status === 'fulfilled' ? servers[0].value : undefined;
  mariadb = servers[1].status === 'fulfilled' ? servers[1].value : undefined;
  for (const s of servers) if (s.status === 'rejected') throw s.reason;
  if (process.env.REDIS_URL) {
    redisUrl = process.env.REDIS_URL;
  } else {
    redis = await startRedis();
    redisUrl = redis.url;
  }
  const config = deployment(await freshDatabase(postgres!));
  // One after the other, like a rolling start: the second finds the tables and seed in place.
  a = await createApp(config, QUIET);
  b = await createApp(config, QUIET);
  browserA = new CookieClient(a.url);
});

afterAll(async () => {
  await Promise.allSettled([a?.close(), b?.close()]);
  for (const server of [postgres, mariadb]) {
    if (!server) continue;
    await dropDatabases(server).finally(() => server.stop());
  }
  await redis?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

type Json = Record<string, unknown>;

/** POSTs a form to one instance, authenticated as the confidential test client. */
async function post(app: App, path: string, params: Record<string, string>): Promise<{ status: number; body: Json }> {
  const r = await fetch(`${app.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: BASIC },
    body: new URLSearchParams(params).toString(),
  });
  return { status: r.status, body: (await r.json()) as Json };
}

/** GET /api/me on one instance with a bearer token. */
async function me(app: App, token: string): Promise<{ status: number; body: Json }> {
  const r = await fetch(`${app.url}/api/me`, { headers: { authorization: `Bearer ${token}` } });
  return { status: r.status, body: (await r.json()) as Json };
}

/** Signs in and approves on A (login and consent pages), returning the code and its PKCE verifier. */
async function codeFromA(scope = 'read write'): Promise<{ code: string; verifier: string }> {
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
  const callback = await authorizeThroughPages(browserA, `/oauth/authorize?${query}`);
  expect(callback.searchParams.get('state')).toBe(state);
  expect(callback.searchParams.get('iss')).toBe(ISSUER);
  const code = callback.searchParams.get('code');
  expect(code).toBeTruthy();
  return { code: code!, verifier };
}

const redeem = (app: App, code: string, verifier: string) =>
  post(app, '/oauth/token', { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier });

describe('two instances on one PostgreSQL database and one Redis grant cache', () => {
  it('run on different ports and publish the same issuer and endpoints', async () => {
    expect(a.url).not.toBe(b.url);
    const [ma, mb] = await Promise.all(
      [a, b].map(async (app) => (await fetch(`${app.url}/.well-known/oauth-authorization-server`)).json()),
    );
    expect(ma).toEqual(mb);
    expect((ma as Json).issuer).toBe(ISSUER);
    expect((ma as Json).token_endpoint).toBe(`${ISSUER}/oauth/token`);
  });

  it('a code issued through A is redeemed at B, once', async () => {
    const { code, verifier } = await codeFromA();
    const res = await redeem(b, code, verifier);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_type: 'Bearer', scope: 'read write' });
    expect(typeof res.body.access_token).toBe('string');
    expect(typeof res.body.refresh_token).toBe('string');
    const again = await redeem(a, code, verifier);
    expect(again.status).toBe(400);
    expect(again.body.error).toBe('invalid_grant');
  });

  it("a token issued by B is accepted by A's /api/me and introspection", async () => {
    const { code, verifier } = await codeFromA('read');
    const issued = await redeem(b, code, verifier);
    expect(issued.status).toBe(200);
    const token = issued.body.access_token as string;
    const seen = await me(a, token);
    expect(seen.status).toBe(200);
    expect(seen.body).toEqual({ sub: ALICE.subject, client_id: CLIENT, scopes: ['read'] });
    const info = await post(a, '/oauth/introspect', { token });
    expect(info.status).toBe(200);
    expect(info.body).toMatchObject({ active: true, client_id: CLIENT, sub: ALICE.subject, scope: 'read', iss: ISSUER });
    // Client credentials too: issued by B, checked by A.
    const cc = await post(b, '/oauth/token', { grant_type: 'client_credentials', scope: 'read' });
    expect(cc.status).toBe(200);
    expect((await me(a, cc.body.access_token as string)).status).toBe(200);
  });

  it('a refresh token rotated on A is refused on B, and that replay revokes the family on A too', async () => {
    const { code, verifier } = await codeFromA('read');
    const first = await redeem(a, code, verifier);
    expect(first.status).toBe(200);
    const oldRefresh = first.body.refresh_token as string;

    const rotated = await post(a, '/oauth/token', { grant_type: 'refresh_token', refresh_token: oldRefresh });
    expect(rotated.status).toBe(200);
    const access = rotated.body.access_token as string;
    const newRefresh = rotated.body.refresh_token as string;
    expect(newRefresh).not.toBe(oldRefresh);
    expect((await me(a, access)).status).toBe(200);
    expect((await me(b, access)).status).toBe(200);

    const replay = await post(b, '/oauth/token', { grant_type: 'refresh_token', refresh_token: oldRefresh });
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe('invalid_grant');

    const refused = await me(a, access);
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe('invalid_token');
    expect((await me(a, first.body.access_token as string)).status).toBe(401);
    expect((await post(a, '/oauth/introspect', { token: newRefresh })).body).toEqual({ active: false });
    const next = await post(a, '/oauth/token', { grant_type: 'refresh_token', refresh_token: newRefresh });
    expect(next.status).toBe(400);
    expect(next.body.error).toBe('invalid_grant');
  });

  it('20 concurrent redemptions of one code, split across A and B, give exactly one 200', async () => {
    const { code, verifier } = await codeFromA('read');
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => redeem(i % 2 === 0 ? a : b, code, verifier)));
    const winners = results.filter((r) => r.status === 200);
    expect(winners).toHaveLength(1);
    // Every loser, on A and on B, met the code already consumed in the shared cache (a cache of
    // B's own would not know the code at all: "invalid, expired or already used").
    const losers = results.filter((x) => x.status !== 200);
    expect(losers).toHaveLength(19);
    for (const r of losers) {
      expect(r.status).toBe(400);
      expect(r.body.error).toBe('invalid_grant');
      expect(r.body.error_description).toMatch(/was already used/);
    }
    // Whatever the race did to it, a replay after it revokes the winner's tokens on both instances.
    const replay = await redeem(b, code, verifier);
    expect(replay.status).toBe(400);
    const token = winners[0]!.body.access_token as string;
    expect((await me(a, token)).status).toBe(401);
    expect((await me(b, token)).status).toBe(401);
  });
});

describe('instances starting at the same moment', () => {
  for (const dialect of ['postgres', 'mariadb'] as const) {
    it(`both come up on a fresh ${dialect} database: tables and seed are written in turn`, async () => {
      const server = dialect === 'postgres' ? postgres! : mariadb!;
      const config = deployment(await freshDatabase(server));
      const started = await Promise.allSettled([createApp(config, QUIET), createApp(config, QUIET)]);
      const apps = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      try {
        for (const r of started) if (r.status === 'rejected') throw r.reason;
        const [c, d] = apps as [App, App];
        // The seed, the demo client and the device demo client, each written once.
        expect(await c.storage.listClients()).toHaveLength(TEST_SEED.clients.length + 2);
        // Both serve the seeded client: a token issued by one is accepted by the other.
        const cc = await post(d, '/oauth/token', { grant_type: 'client_credentials', scope: 'read' });
        expect(cc.status).toBe(200);
        expect((await me(c, cc.body.access_token as string)).status).toBe(200);
      } finally {
        await Promise.allSettled(apps.map((app) => app.close()));
      }
    });
  }
});
