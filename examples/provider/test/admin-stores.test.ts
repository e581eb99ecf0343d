/**
 * The admin API (`ADMIN_OPERATOR_TOKEN`, `@portcullis/admin` at `/admin`) and expiring registered
 * client secrets (`REGISTRATION_SECRET_LIFETIME`) end to end over HTTP on every store the example
 * runs on (issue 15): SQLite, PostgreSQL and MongoDB. For each store, one app process (a child
 * started as `pnpm start` runs the app) on a database of its own, with the password grant on,
 * `REGISTRATION=open` and a 4 s secret lifetime.
 *
 * - Authentication: no token, a wrong one, one in the query: 401; access tokens of a client that
 *   is not an administrator (with or without the `admin` scope): 403.
 * - With the operator token: create a confidential client (secret shown once, never read back),
 *   which gets a token at the token endpoint; list the clients page by page; rotate the secret
 *   (the old one then gets invalid_client); list and revoke a user's grants (the revoked access
 *   token gets 401 at /api/me); delete the client (its token gets 401, its secret invalid_client).
 * - Hostile ids (CR/LF, `{"$ne":null}`, 300 characters), unknown members and query parameters,
 *   another content type: 4xx, never a 5xx, and nothing else revoked.
 * - A self-registered client's `client_secret_expires_at` is a real epoch time 4 s after issue;
 *   the secret works before and gets invalid_client after it (bounded wait).
 * - No answer was a 5xx, and the process output never holds the operator token or a secret.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { basicAuth } from '@portcullis/binding-testkit';
import { startPostgres } from '@portcullis/binding-testkit/servers';
import { Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMongoServer } from '../../../packages/binding-mongoose/test/mongo-server.js';
import { ALICE, TEST_SEED, TRICKY_SECRET } from './helpers.js';
import { type Proc, postForm, startProcess } from './processes.js';

const OPERATOR = randomBytes(32).toString('hex');
const SECRET_LIFETIME = 4;

const children: ChildProcess[] = [];
const stops: (() => Promise<unknown>)[] = [];
let dir: string;
let seedFile: string;
let pgServer: string | undefined;
let mongoUrl: string | undefined;
/** Every secret the app answered with, and the operator token: none may appear in the process output. */
const secrets = new Set<string>([OPERATOR]);
/** Every answer with a 5xx status: must stay empty. */
const serverErrors: string[] = [];
const timings: Record<string, number> = {};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-admin-stores-'));
  seedFile = join(dir, 'seed.json');
  await writeFile(seedFile, JSON.stringify(TEST_SEED));
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const stop of stops.reverse()) await stop().catch(() => {});
  if (dir) await rm(dir, { recursive: true, force: true });
  console.info(`admin-stores timings (ms): ${JSON.stringify(timings)}`);
});

/** The PostgreSQL server `DATABASE_URL_POSTGRES` names, or a throwaway one (started once). */
async function postgresServer(): Promise<string> {
  if (pgServer) return pgServer;
  const env = process.env.DATABASE_URL_POSTGRES;
  if (env) pgServer = env;
  else {
    const pg = await startPostgres();
    stops.push(() => pg.stop());
    pgServer = pg.url;
  }
  return pgServer;
}

async function onPostgres(sql: string): Promise<void> {
  const db = new Sequelize(await postgresServer(), { logging: false, pool: { max: 1 } });
  try {
    await db.query(sql);
  } finally {
    await db.close();
  }
}

type Store = 'sqlite' | 'postgres' | 'mongodb';

/** A fresh, empty database of this run on `store`: its URL. */
async function freshDatabase(store: Store): Promise<string> {
  const name = `portcullis_admin_${randomBytes(5).toString('hex')}`;
  if (store === 'sqlite') return `sqlite:${join(dir, `${name}.sqlite`)}`;
  if (store === 'mongodb') {
    if (!mongoUrl) {
      const mongo = await startMongoServer();
      stops.push(() => mongo.stop());
      mongoUrl = mongo.url;
    }
    return `${mongoUrl}/${name}`;
  }
  await onPostgres(`CREATE DATABASE "${name}"`);
  stops.push(() => onPostgres(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
  const url = new URL(await postgresServer());
  url.pathname = `/${name}`;
  return url.toString();
}

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** A request whose JSON answer is parsed; a 5xx is recorded in `serverErrors`. */
async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const r = await fetch(url, { redirect: 'manual', ...init });
  if (r.status >= 500) serverErrors.push(`${init.method ?? 'GET'} ${url.slice(0, 200)} -> ${r.status}`);
  const text = await r.text();
  let body: Record<string, unknown> = {};
  try {
    const v: unknown = JSON.parse(text);
    body = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v };
  } catch {
    body = { raw: text.slice(0, 200) };
  }
  return { status: r.status, headers: r.headers, body };
}

/** An admin API request with `token` as the bearer token (none when `null`) and a JSON body. */
function admin(base: string, method: string, path: string, token: string | null = OPERATOR, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return call(`${base}/admin${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
}

async function token(base: string, authorization: string, params: Record<string, string>) {
  const r = await postForm(`${base}/oauth/token`, authorization, params);
  if (r.status >= 500) serverErrors.push(`POST /oauth/token (${params.grant_type}) -> ${r.status}`);
  return r;
}

/** An access token from `grant` (which must succeed). */
async function accessToken(base: string, authorization: string, params: Record<string, string>): Promise<string> {
  const r = await token(base, authorization, params);
  expect(r.status, JSON.stringify(r.body).slice(0, 200)).toBe(200);
  return r.body.access_token as string;
}

const me = async (base: string, access: string) =>
  (await call(`${base}/api/me`, { headers: { authorization: `Bearer ${access}` } })).status;

const HOSTILE_IDS = ['\r\nX-Injected: 1', '{"$ne":null}', 'a'.repeat(300), '../interop-app', '%00', '{"$gt":""}'];

const STORES: Store[] = ['sqlite', 'postgres', 'mongodb'];

for (const store of STORES) {
  describe(`admin API and expiring registered secrets on ${store}`, () => {
    let app: Proc;
    let base: string;
    let started: number;
    /** The client created through the admin API, and its current secret. */
    let id: string;
    let secret: string;

    beforeAll(async () => {
      started = Date.now();
      const db = await freshDatabase(store);
      app = await startProcess(
        {
          SEED_FILE: seedFile,
          DATABASE_URL: db,
          GRANTS: 'authorization_code refresh_token client_credentials password',
          REGISTRATION: 'open',
          REGISTRATION_SCOPES: 'read',
          REGISTRATION_SECRET_LIFETIME: String(SECRET_LIFETIME),
          ADMIN_OPERATOR_TOKEN: OPERATOR,
        },
        children,
      );
      base = app.url;
      timings[`${store} start`] = Date.now() - started;
    }, 120_000);

    afterAll(() => {
      timings[`${store} total`] = Date.now() - started;
    });

    it('no token, a wrong one or one in the query: 401; a non-administrator client token: 403', async () => {
      for (const t of [null, `${OPERATOR.slice(0, -1)}x`, 'short', OPERATOR.toUpperCase()]) {
        const a = await admin(base, 'GET', '/clients', t);
        expect(a.status).toBe(401);
        expect(a.headers.get('www-authenticate')).toMatch(/^Bearer/);
        expect(a.body.clients).toBeUndefined();
      }
      expect((await call(`${base}/admin/clients?access_token=${OPERATOR}`)).status).toBe(401);
      const basic = await call(`${base}/admin/clients`, { headers: { authorization: basicAuth('operator', OPERATOR) } });
      expect(basic.status).toBe(401);
      const seeded = basicAuth('interop-app', TRICKY_SECRET);
      for (const scope of ['read', 'admin']) {
        const access = await accessToken(base, seeded, { grant_type: 'client_credentials', scope });
        const a = await admin(base, 'GET', '/clients', access);
        expect(a.status, scope).toBe(403);
        expect(a.body.error).toBe('insufficient_scope');
      }
    });

    it('creates a confidential client (secret shown once) that gets a token at the token endpoint', async () => {
      const a = await admin(base, 'POST', '/clients', OPERATOR, {
        grant_types: ['client_credentials', 'password'],
        scopes: ['read', 'write'],
        client_name: 'Admin made',
      });
      expect(a.status, JSON.stringify(a.body).slice(0, 200)).toBe(201);
      id = a.body.client_id as string;
      secret = a.body.client_secret as string;
      expect(id).toMatch(/^[A-Za-z0-9_-]{16,}$/);
      expect(secret.length).toBeGreaterThanOrEqual(32);
      secrets.add(secret);
      const got = await admin(base, 'GET', `/clients/${encodeURIComponent(id)}`);
      expect(got.status).toBe(200);
      expect(got.body.client_name).toBe('Admin made');
      expect(got.body.client_secret).toBeUndefined();
      expect(JSON.stringify(got.body)).not.toMatch(/secretHash|secret_hash/);
      expect((await token(base, basicAuth(id, secret), { grant_type: 'client_credentials', scope: 'read' })).status).toBe(200);
    });

    it('lists the clients page by page, each once', async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 20; page++) {
        const a = await admin(base, 'GET', `/clients?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        expect(a.status).toBe(200);
        const clients = a.body.clients as { client_id: string; client_secret?: string }[];
        expect(clients.length).toBeLessThanOrEqual(2);
        for (const c of clients) {
          expect(c.client_secret).toBeUndefined();
          seen.push(c.client_id);
        }
        cursor = a.body.next_cursor as string | null;
        if (cursor === null) break;
      }
      expect(cursor).toBeNull();
      expect(new Set(seen).size).toBe(seen.length);
      for (const c of ['interop-app', 'interop-public', 'x<script>alert(1)</script>', id]) expect(seen).toContain(c);
      expect(seen.length).toBeGreaterThan(2); // more than one page
    });

    it('rotates the secret: the old one gets invalid_client, the new one works', async () => {
      const old = secret;
      const a = await admin(base, 'POST', `/clients/${encodeURIComponent(id)}/secret`);
      expect(a.status).toBe(200);
      secret = a.body.client_secret as string;
      secrets.add(secret);
      expect(secret).not.toBe(old);
      const refused = await token(base, basicAuth(id, old), { grant_type: 'client_credentials', scope: 'read' });
      expect(refused.status).toBe(401);
      expect(refused.body.error).toBe('invalid_client');
      expect((await token(base, basicAuth(id, secret), { grant_type: 'client_credentials', scope: 'read' })).status).toBe(200);
      // A public client has no secret to rotate.
      expect((await admin(base, 'POST', '/clients/interop-public/secret')).status).toBe(409);
    });

    it("lists and revokes a user's grants: the revoked token gets 401 at /api/me, hostile user ids revoke nothing", async () => {
      const auth = basicAuth(id, secret);
      const pw = { grant_type: 'password', username: ALICE.username, password: ALICE.password, scope: 'read' };
      const revoked = await accessToken(base, auth, pw);
      expect(await me(base, revoked)).toBe(200);
      const list = await admin(base, 'GET', `/users/${ALICE.subject}/grants?limit=10`);
      expect(list.status, JSON.stringify(list.body).slice(0, 200)).toBe(200);
      expect(list.body.user_id).toBe(ALICE.subject);
      expect(JSON.stringify(list.body.grants)).toContain(id);
      // Hostile user ids: never a 5xx, never an operator reaching the database, nothing revoked.
      for (const bad of HOSTILE_IDS) {
        for (const [method, path] of [
          ['GET', `/users/${encodeURIComponent(bad)}/grants`],
          ['DELETE', `/users/${encodeURIComponent(bad)}/grants`],
          ['DELETE', `/users/${encodeURIComponent(bad)}/grants/${encodeURIComponent(id)}`],
          ['DELETE', `/users/${ALICE.subject}/grants/${encodeURIComponent(bad)}`],
        ] as const) {
          const a = await admin(base, method, path);
          expect(a.status, `${method} ${path.slice(0, 60)}`).toBeLessThan(500);
          if (a.status === 200) {
            if (method === 'GET') expect(a.body.grants).toEqual([]);
            else expect(a.body.revoked).toBe(0);
          } else expect(a.status).toBeGreaterThanOrEqual(400);
        }
      }
      expect(await me(base, revoked)).toBe(200);
      const del = await admin(base, 'DELETE', `/users/${ALICE.subject}/grants/${encodeURIComponent(id)}`);
      expect(del.status).toBe(200);
      expect(del.body.revoked).toBeGreaterThanOrEqual(1);
      expect(await me(base, revoked)).toBe(401);
      const after = await admin(base, 'GET', `/users/${ALICE.subject}/grants`);
      expect(JSON.stringify(after.body.grants)).not.toContain(id);
    });

    it('refuses hostile client ids, unknown members and parameters and another content type with 4xx', async () => {
      for (const bad of HOSTILE_IDS) {
        const p = `/clients/${encodeURIComponent(bad)}`;
        for (const [method, path, body] of [
          ['GET', p, undefined],
          ['DELETE', p, undefined],
          ['POST', `${p}/secret`, undefined],
          ['PUT', p, { grant_types: ['client_credentials'] }],
        ] as const) {
          const a = await admin(base, method, path, OPERATOR, body);
          expect(a.status, `${method} ${bad.slice(0, 20)}`).toBeGreaterThanOrEqual(400);
          expect(a.status, `${method} ${bad.slice(0, 20)}`).toBeLessThan(500);
        }
      }
      const unknown = await admin(base, 'POST', '/clients', OPERATOR, { grant_types: ['client_credentials'], evil: true });
      expect(unknown.status).toBe(400);
      const hashed = await admin(base, 'POST', '/clients', OPERATOR, { grant_types: ['client_credentials'], secretHash: 'x' });
      expect(hashed.status).toBe(400);
      const put = await admin(base, 'PUT', `/clients/${encodeURIComponent(id)}`, OPERATOR, {
        grant_types: ['client_credentials'],
        administrator: true,
        evil: { $ne: null },
      });
      expect(put.status).toBe(400);
      expect((await admin(base, 'GET', `/clients/${encodeURIComponent(id)}`)).body.administrator).not.toBe(true);
      for (const q of ['?limit=1&evil=1', '?limit=1000', '?limit=0', '?limit=1&limit=2', `?cursor=${encodeURIComponent('{"$ne":null}')}`]) {
        const a = await admin(base, 'GET', `/clients${q}`);
        expect(a.status, q).toBe(400);
      }
      const text = await call(`${base}/admin/clients`, {
        method: 'POST',
        headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'text/plain' },
        body: JSON.stringify({ grant_types: ['client_credentials'] }),
      });
      expect(text.status).toBe(415);
      // The secret still works: nothing above changed the client.
      expect((await token(base, basicAuth(id, secret), { grant_type: 'client_credentials', scope: 'read' })).status).toBe(200);
    });

    it('deletes the client: its access token gets 401 at /api/me and its secret invalid_client', async () => {
      const access = await accessToken(base, basicAuth(id, secret), { grant_type: 'client_credentials', scope: 'read' });
      expect(await me(base, access)).toBe(200);
      const del = await admin(base, 'DELETE', `/clients/${encodeURIComponent(id)}`);
      expect(del.status).toBe(204);
      expect(await me(base, access)).toBe(401);
      const refused = await token(base, basicAuth(id, secret), { grant_type: 'client_credentials', scope: 'read' });
      expect(refused.status).toBe(401);
      expect(refused.body.error).toBe('invalid_client');
      expect((await admin(base, 'GET', `/clients/${encodeURIComponent(id)}`)).status).toBe(404);
      expect((await admin(base, 'DELETE', `/clients/${encodeURIComponent(id)}`)).status).toBe(404);
    });

    it('REGISTRATION_SECRET_LIFETIME: client_secret_expires_at is a real time; the secret works before it and gets invalid_client after', async () => {
      const r = await call(`${base}/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ grant_types: ['client_credentials'], scope: 'read', client_name: 'Short lived' }),
      });
      expect(r.status, JSON.stringify(r.body).slice(0, 200)).toBe(201);
      const clientId = r.body.client_id as string;
      const clientSecret = r.body.client_secret as string;
      secrets.add(clientSecret);
      secrets.add(r.body.registration_access_token as string);
      const issued = r.body.client_id_issued_at as number;
      const expires = r.body.client_secret_expires_at as number;
      expect(Number.isInteger(issued)).toBe(true);
      expect(Math.abs(issued - Date.now() / 1000)).toBeLessThan(60);
      expect(expires).toBeGreaterThanOrEqual(issued + SECRET_LIFETIME - 1);
      expect(expires).toBeLessThanOrEqual(issued + SECRET_LIFETIME + 1);
      const auth = basicAuth(clientId, clientSecret);
      const params = { grant_type: 'client_credentials', scope: 'read' };
      expect((await token(base, auth, params)).status).toBe(200);
      // The same answer from the configuration endpoint (RFC 7592).
      const read = await call(`${base}/oauth/register/${encodeURIComponent(clientId)}`, {
        headers: { authorization: `Bearer ${r.body.registration_access_token as string}` },
      });
      if (read.status === 200) expect(read.body.client_secret_expires_at).toBe(expires);
      // Bounded wait: until the expiry has passed, then at most 10 s for the refusal.
      await sleep(Math.max(0, expires * 1000 - Date.now()) + 200);
      const deadline = Date.now() + 10_000;
      let last = await token(base, auth, params);
      while (last.status === 200 && Date.now() < deadline) {
        await sleep(250);
        last = await token(base, auth, params);
      }
      expect(last.status).toBe(401);
      expect(last.body.error).toBe('invalid_client');
      expect(Date.now() / 1000).toBeGreaterThanOrEqual(expires);
    });

    it('no answer was a 5xx, and the process output holds neither the operator token nor a secret', () => {
      expect(serverErrors).toEqual([]);
      const out = app.output();
      expect(out).toContain('provider on');
      for (const s of secrets) expect(out.includes(s), 'a secret reached the log').toBe(false);
    });
  });
}
