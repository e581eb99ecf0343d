/**
 * Dynamic client registration (RFC 7591/7592) end to end over HTTP on every store the example
 * runs on (issue 15): SQLite, PostgreSQL and MongoDB. For each store, two app processes (children
 * started as `pnpm start` runs the app), one with `REGISTRATION=token` and one with
 * `REGISTRATION=open`, each on a database of its own; every request goes over HTTP.
 *
 * - token: a registration without the initial access token, with a wrong one or as Basic gets
 *   401; with it, a confidential client registers (201: client_id, client_secret, registration
 *   access token, configuration URI), completes a code flow with PKCE through the login and
 *   consent pages, refreshes, and gets a client_credentials token; a replayed code and a wrong
 *   verifier are refused. Hostile metadata (bad JSON, wrong types, refused redirect URIs, another
 *   content type, an oversize body) gets invalid_client_metadata, invalid_redirect_uri or 413.
 * - The connected apps page lists the registered client under its (escaped) name; a revoke with
 *   a wrong CSRF token revokes nothing, the real one makes its access and refresh tokens fail.
 * - RFC 7592: read, update (PUT rotates the registration access token; the old one is refused;
 *   hostile updates change nothing) and delete with the registration access token; after the
 *   delete the client gets invalid_client at the token endpoint and 401 at its configuration URI,
 *   and the access tokens issued before it (client_credentials and a user's) get 401 at /api/me.
 * - A public client registering client_credentials gets invalid_client_metadata.
 * - open: a confidential and a public (native, private-use scheme) client register without a
 *   token and complete code flows; hostile metadata is refused the same way.
 * - No answer is a 5xx, and neither process's output holds the initial access token, a client
 *   secret or a registration access token.
 *
 * Then, on PostgreSQL and MongoDB (see the block at the end): allowed grants and scopes, the
 * consent page's escaped client_name, the purge of never-used registrations, the CLI's `grants
 * list|revoke` against the database with both processes seeing the revoke, and the registration
 * rate limit per address and process.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { basicAuth } from '@portcullis/binding-testkit';
import { startPostgres } from '@portcullis/binding-testkit/servers';
import { Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMongoServer } from '../../../packages/binding-mongoose/test/mongo-server.js';
import { ALICE, CB, CookieClient, field, signIn, TEST_SEED, TRICKY_SECRET } from './helpers.js';
import { authorizeCode, PACKAGE_DIR, type Proc, postForm, startProcess } from './processes.js';

/** The issuer of every process (never contacted): configuration URIs are rewritten to the process's address. */
const ISSUER = 'http://auth.portcullis.test';
const TOKEN = randomBytes(32).toString('hex');
const NAME = '<b>Dyn & Co</b>';

const children: ChildProcess[] = [];
const stops: (() => Promise<unknown>)[] = [];
let dir: string;
let seedFile: string;
let pgServer: string | undefined;
let mongoUrl: string | undefined;
/** Every secret an app answered with: none may appear in a process's output. */
const secrets = new Set<string>([TOKEN]);
/** Every answer with a 5xx status: must stay empty. */
const serverErrors: string[] = [];
/** How long each store's processes took to start and its tests to run. */
const timings: Record<string, number> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-reg-stores-'));
  seedFile = join(dir, 'seed.json');
  await writeFile(seedFile, JSON.stringify(TEST_SEED));
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const stop of stops.reverse()) await stop().catch(() => {});
  if (dir) await rm(dir, { recursive: true, force: true });
  console.info(`registration-stores timings (ms): ${JSON.stringify(timings)}`);
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
async function freshDatabase(store: Store, label: string): Promise<string> {
  const name = `portcullis_reg_${label}_${randomBytes(5).toString('hex')}`;
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

/** A fetch that records any 5xx answer (with what was asked) in `serverErrors`. */
async function call(url: string, init: RequestInit = {}): Promise<Response> {
  const r = await fetch(url, { redirect: 'manual', ...init });
  if (r.status >= 500) serverErrors.push(`${init.method ?? 'GET'} ${url} -> ${r.status}`);
  return r;
}

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function answer(r: Response): Promise<Answer> {
  const text = await r.text();
  let body: Record<string, unknown>;
  try {
    const v: unknown = JSON.parse(text);
    body = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v };
  } catch {
    body = { raw: text.slice(0, 200) };
  }
  return { status: r.status, headers: r.headers, body };
}

/** `POST /oauth/register` with a raw body. */
async function register(base: string, body: string, headers: Record<string, string> = {}): Promise<Answer> {
  return answer(
    await call(`${base}/oauth/register`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body }),
  );
}

/** A request to the client configuration endpoint (RFC 7592) at this process. */
async function configure(
  base: string,
  uri: string,
  method: 'GET' | 'PUT' | 'DELETE',
  token: string | null,
  body?: string,
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return answer(await call(uri.replace(ISSUER, base), { method, headers, ...(body !== undefined ? { body } : {}) }));
}

async function token(base: string, authorization: string, params: Record<string, string>): Promise<Answer> {
  const r = await postForm(`${base}/oauth/token`, authorization, params);
  if (r.status >= 500) serverErrors.push(`POST ${base}/oauth/token (${params.grant_type}) -> ${r.status}`);
  return { status: r.status, headers: new Headers(), body: r.body };
}

const me = async (base: string, access: string) =>
  (await call(`${base}/api/me`, { headers: { authorization: `Bearer ${access}` } })).status;

interface Registered {
  client_id: string;
  client_secret?: string;
  registration_access_token: string;
  registration_client_uri: string;
  [k: string]: unknown;
}

/** Checks a 201 registration answer and notes its secrets. */
function registered(a: Answer, confidential: boolean): Registered {
  expect(a.status, JSON.stringify(a.body).slice(0, 200)).toBe(201);
  expect(a.headers.get('cache-control')).toContain('no-store');
  const c = a.body as Registered;
  expect(c.client_id).toMatch(/^[A-Za-z0-9_-]{16,}$/);
  expect(c.registration_access_token).toMatch(/^[A-Za-z0-9\-._~+/]+=*$/);
  expect(c.registration_client_uri).toBe(`${ISSUER}/oauth/register/${encodeURIComponent(c.client_id)}`);
  expect(c.client_id_issued_at).toBeTypeOf('number');
  if (confidential) {
    expect(c.client_secret).toBeTypeOf('string');
    expect(c.client_secret!.length).toBeGreaterThanOrEqual(32);
    expect(c.client_secret_expires_at).toBe(0);
    secrets.add(c.client_secret!);
  } else expect(c.client_secret).toBeUndefined();
  secrets.add(c.registration_access_token);
  return c;
}

/** Metadata of a confidential web client using every registrable grant. */
const webClient = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    redirect_uris: [CB],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'read write',
    client_name: NAME,
    ...extra,
  });

/**
 * Hostile registrations: each with the error it must get (413 for the oversize body). They go
 * through the registration rate limit (20 per address and process) except the 413, so keep few.
 */
const HOSTILE: [string, string, number, string | null][] = [
  ['bad JSON', '{"redirect_uris": [', 400, 'invalid_client_metadata'],
  ['an array', '[]', 400, 'invalid_client_metadata'],
  ['grant_types as a string', webClient({ grant_types: 'authorization_code' }), 400, 'invalid_client_metadata'],
  ['scope as a number', webClient({ scope: 42 }), 400, 'invalid_client_metadata'],
  ['client_name as an object', webClient({ client_name: { x: 1 } }), 400, 'invalid_client_metadata'],
  ['redirect_uris as a string', webClient({ redirect_uris: CB }), 400, 'invalid_redirect_uri'],
  ['a javascript: redirect', webClient({ redirect_uris: ['javascript:alert(1)'] }), 400, 'invalid_redirect_uri'],
  ['http on a public host', webClient({ redirect_uris: ['http://evil.example/cb'] }), 400, 'invalid_redirect_uri'],
  ['CR/LF in a redirect', webClient({ redirect_uris: [`${CB}\r\nX-Injected: 1`] }), 400, 'invalid_redirect_uri'],
  ['code without redirect_uris', webClient({ redirect_uris: [] }), 400, 'invalid_redirect_uri'],
  ['an oversize body', webClient({ client_name: 'x'.repeat(200_000) }), 413, null],
];

/** Sends the hostile registrations; none registers anything. */
async function refusesHostile(base: string, headers: Record<string, string>): Promise<void> {
  for (const [what, body, status, error] of HOSTILE) {
    const a = await register(base, body, headers);
    expect(a.status, what).toBe(status);
    if (error) expect(a.body.error, what).toBe(error);
    expect(a.body.client_id, what).toBeUndefined();
    expect(JSON.stringify(a.body), what).not.toContain('X-Injected');
  }
  // Another content type.
  const text = await answer(
    await call(`${base}/oauth/register`, { method: 'POST', headers: { 'content-type': 'text/plain', ...headers }, body: webClient() }),
  );
  expect(text.status).toBe(400);
  expect(text.body.error).toBe('invalid_client_metadata');
}

/**
 * A code flow with PKCE through the pages, then a refresh: the tokens. Beside it: a code with a
 * wrong verifier is refused, and a replayed code is refused and revokes what it had issued.
 */
async function codeFlow(base: string, c: Registered, scope = 'read write') {
  const auth = c.client_secret ? basicAuth(c.client_id, c.client_secret) : '';
  const idParam: Record<string, string> = c.client_secret ? {} : { client_id: c.client_id };
  const exchange = (code: string, verifier: string) =>
    token(base, auth, { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier, ...idParam });
  const b = new CookieClient(base);
  const { code, verifier, returnedState, state, iss } = await authorizeCode(b, c.client_id, scope);
  expect(code).toBeTruthy();
  expect(returnedState).toBe(state);
  expect(iss).toBe(ISSUER);
  const t = await exchange(code, verifier);
  expect(t.status, JSON.stringify(t.body)).toBe(200);
  expect(String(t.body.scope).split(' ').sort()).toEqual(scope.split(' ').sort());
  expect(t.body.refresh_token).toBeTypeOf('string');
  const me1 = await call(`${base}/api/me`, { headers: { authorization: `Bearer ${String(t.body.access_token)}` } });
  expect(me1.status).toBe(200);
  expect(((await me1.json()) as { client_id: string }).client_id).toBe(c.client_id);
  const r = await token(base, auth, { grant_type: 'refresh_token', refresh_token: String(t.body.refresh_token), ...idParam });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  const access = String(r.body.access_token);
  const refresh = String(r.body.refresh_token ?? t.body.refresh_token);
  expect(await me(base, access)).toBe(200);

  // A code with a wrong verifier: refused.
  const second = await authorizeCode(b, c.client_id, scope);
  const wrong = await exchange(second.code, `${second.verifier.slice(0, -2)}${second.verifier.endsWith('AA') ? 'BB' : 'AA'}`);
  expect(wrong.status).toBe(400);
  expect(wrong.body.error).toBe('invalid_grant');
  // A replayed code: refused, and the token it had issued is revoked; the first flow's is not.
  const third = await authorizeCode(b, c.client_id, scope);
  const once = await exchange(third.code, third.verifier);
  expect(once.status).toBe(200);
  const replay = await exchange(third.code, third.verifier);
  expect(replay.status).toBe(400);
  expect(replay.body.error).toBe('invalid_grant');
  expect(await me(base, String(once.body.access_token))).toBe(401);
  expect(await me(base, access)).toBe(200);
  return { b, access, refresh };
}

/** Fails unless neither process printed a secret. */
function noSecretsIn(procs: readonly Proc[]): void {
  for (const p of procs) {
    const out = p.output();
    for (const s of secrets) expect(out.includes(s), 'a secret reached the log').toBe(false);
  }
}

const STORES: Store[] = ['sqlite', 'postgres', 'mongodb'];

for (const store of STORES) {
  describe(`dynamic registration on ${store}`, () => {
    let tokenApp: Proc;
    let openApp: Proc;
    let started: number;

    beforeAll(async () => {
      started = Date.now();
      const [tokenDb, openDb] = [await freshDatabase(store, 'token'), await freshDatabase(store, 'open')];
      const common = { ISSUER, SEED_FILE: seedFile, REGISTRATION_SCOPES: 'read write' };
      [tokenApp, openApp] = await Promise.all([
        startProcess({ ...common, DATABASE_URL: tokenDb, REGISTRATION: 'token', REGISTRATION_TOKEN: TOKEN }, children),
        startProcess({ ...common, DATABASE_URL: openDb, REGISTRATION: 'open' }, children),
      ]);
      timings[`${store} start`] = Date.now() - started;
    }, 120_000);

    afterAll(() => {
      timings[`${store} total`] = Date.now() - started;
    });

    describe('REGISTRATION=token', () => {
      let c: Registered;
      let tokens: { b: CookieClient; access: string; refresh: string };

      it('refuses a missing, wrong or Basic initial access token with 401, and hostile metadata with 400 or 413', async () => {
        const meta = (await (await call(`${tokenApp.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
        expect(meta.registration_endpoint).toBe(`${ISSUER}/oauth/register`);
        const tries: Record<string, string>[] = [
          {},
          { authorization: `Bearer ${TOKEN.slice(0, -1)}${TOKEN.endsWith('0') ? '1' : '0'}` },
          { authorization: `Bearer ${TOKEN} x` },
          { authorization: `Basic ${Buffer.from(`a:${TOKEN}`).toString('base64')}` },
          { authorization: 'Bearer' },
        ];
        for (const headers of tries) {
          const a = await register(tokenApp.url, webClient(), headers);
          expect(a.status, JSON.stringify(headers).slice(0, 40)).toBe(401);
          expect(a.body.error).toBe('invalid_token');
          expect(a.headers.get('www-authenticate')).toMatch(/^Bearer /);
        }
        await refusesHostile(tokenApp.url, { authorization: `Bearer ${TOKEN}` });
      });

      it('registers a client with the token (201), which completes a code flow with PKCE, a refresh and client_credentials', async () => {
        c = registered(await register(tokenApp.url, webClient(), { authorization: `Bearer ${TOKEN}` }), true);
        expect(c.client_name).toBe(NAME);
        expect(c.redirect_uris).toEqual([CB]);
        expect(c.scope).toBe('read write');
        tokens = await codeFlow(tokenApp.url, c);
        const cc = await token(tokenApp.url, basicAuth(c.client_id, c.client_secret!), {
          grant_type: 'client_credentials',
          scope: 'write',
        });
        expect(cc.status).toBe(200);
        expect(cc.body.scope).toBe('write');
        // A wrong secret, and a scope the registration did not grant: refused.
        const wrong = await token(tokenApp.url, basicAuth(c.client_id, `${c.client_secret}x`), { grant_type: 'client_credentials' });
        expect(wrong.status).toBe(401);
        expect(wrong.body.error).toBe('invalid_client');
        const admin = await token(tokenApp.url, basicAuth(c.client_id, c.client_secret!), {
          grant_type: 'client_credentials',
          scope: 'admin',
        });
        expect(admin.status).toBe(400);
        expect(admin.body.error).toBe('invalid_scope');
      });

      it('the connected apps page lists it by its escaped name; a forged revoke changes nothing, a real one kills its tokens', async () => {
        const { b } = tokens;
        const page = await (await b.get('/account/apps')).text();
        expect(page).toContain(`value="${c.client_id}"`);
        expect(page).toContain('&lt;b&gt;Dyn &amp; Co&lt;/b&gt;');
        expect(page).not.toContain(NAME);
        const csrf = field(page, 'csrf');
        for (const [form, headers, status] of [
          [{ csrf: `${csrf}x`, client_id: c.client_id }, {}, 403],
          [{ csrf, client_id: c.client_id }, { origin: 'https://evil.example' }, 403],
          [{ csrf, client_id: `${c.client_id}x` }, {}, 404],
          [{ csrf, client_id: `${c.client_id}\r\nX: 1` }, {}, 400],
        ] as [Record<string, string>, Record<string, string>, number][]) {
          const r = await b.post('/account/apps/revoke', form, headers);
          await r.arrayBuffer();
          if (r.status >= 500) serverErrors.push(`revoke -> ${r.status}`);
          expect(r.status, JSON.stringify(form).slice(0, 80)).toBe(status);
        }
        expect(await me(tokenApp.url, tokens.access)).toBe(200);
        const r = await b.post('/account/apps/revoke', { csrf, client_id: c.client_id });
        expect(r.status).toBe(303);
        expect(await me(tokenApp.url, tokens.access)).toBe(401);
        const refresh = await token(tokenApp.url, basicAuth(c.client_id, c.client_secret!), {
          grant_type: 'refresh_token',
          refresh_token: tokens.refresh,
        });
        expect(refresh.status).toBe(400);
        expect(refresh.body.error).toBe('invalid_grant');
        expect(await (await b.get('/account/apps')).text()).toContain('id="no-apps"');
      });

      it('RFC 7592: reads and updates with the registration access token; wrong tokens get 401, hostile updates change nothing', async () => {
        const read = await configure(tokenApp.url, c.registration_client_uri, 'GET', c.registration_access_token);
        expect(read.status).toBe(200);
        expect(read.headers.get('cache-control')).toContain('no-store');
        expect(read.body.client_id).toBe(c.client_id);
        expect(read.body.client_name).toBe(NAME);
        expect(read.body.client_secret).toBeUndefined();
        expect(read.body.registration_access_token).toBeUndefined();
        // Wrong, missing or another client's token; the initial access token is no registration access token.
        const uri = c.registration_client_uri;
        const other = `${ISSUER}/oauth/register/interop-app`;
        for (const [u, t] of [
          [uri, null],
          [uri, `${c.registration_access_token}x`],
          [uri, TOKEN],
          [other, c.registration_access_token],
          [`${ISSUER}/oauth/register/%00%0d%0a`, c.registration_access_token],
        ] as [string, string | null][]) {
          for (const method of ['GET', 'PUT', 'DELETE'] as const) {
            const a = await configure(tokenApp.url, u, method, t, method === 'PUT' ? webClient({ client_id: c.client_id }) : undefined);
            expect(a.status, `${method} ${u.slice(-30)}`).toBe(401);
            expect(a.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
          }
        }
        // Paths that name no client (too long, bad percent-encoding, a further segment): 404.
        for (const id of ['x'.repeat(300), '%E0%A4%A', `${c.client_id}/x`]) {
          const a = await configure(tokenApp.url, `${ISSUER}/oauth/register/${id}`, 'GET', c.registration_access_token);
          expect(a.status, id.slice(0, 30)).toBe(404);
        }
        // Hostile updates with the right token: refused, nothing changed.
        const rat = c.registration_access_token;
        const hostile: [string, string, number, string | null][] = [
          ['bad JSON', '{"client_id":', 400, 'invalid_client_metadata'],
          ['no client_id', webClient(), 400, 'invalid_client_metadata'],
          ['another client_id', webClient({ client_id: 'interop-app' }), 400, 'invalid_client_metadata'],
          [
            'a registration_access_token',
            webClient({ client_id: c.client_id, registration_access_token: 'x' }),
            400,
            'invalid_client_metadata',
          ],
          ['a wrong client_secret', webClient({ client_id: c.client_id, client_secret: 'nope' }), 400, 'invalid_client_metadata'],
          ['scope as an array', webClient({ client_id: c.client_id, scope: ['read'] }), 400, 'invalid_client_metadata'],
          ['a scope not allowed', webClient({ client_id: c.client_id, scope: 'admin' }), 400, 'invalid_client_metadata'],
          [
            'a javascript: redirect',
            webClient({ client_id: c.client_id, redirect_uris: ['javascript:alert(1)'] }),
            400,
            'invalid_redirect_uri',
          ],
          ['an oversize body', webClient({ client_id: c.client_id, client_name: 'y'.repeat(200_000) }), 413, null],
        ];
        for (const [what, body, status, error] of hostile) {
          const a = await configure(tokenApp.url, uri, 'PUT', rat, body);
          expect(a.status, what).toBe(status);
          if (error) expect(a.body.error, what).toBe(error);
        }
        const unchanged = await configure(tokenApp.url, uri, 'GET', rat);
        expect(unchanged.status).toBe(200);
        expect(unchanged.body).toEqual(read.body);

        // The update: fewer scopes, a second redirect URI, a new name; the secret is kept, the token rotated.
        const put = await configure(
          tokenApp.url,
          uri,
          'PUT',
          rat,
          webClient({
            client_id: c.client_id,
            client_secret: c.client_secret,
            scope: 'read',
            client_name: 'Renamed',
            redirect_uris: [CB, 'https://app.example/cb2'],
          }),
        );
        expect(put.status, JSON.stringify(put.body)).toBe(200);
        expect(put.body.client_secret).toBeUndefined();
        expect(put.body.scope).toBe('read');
        expect(put.body.client_name).toBe('Renamed');
        expect(put.body.redirect_uris).toEqual([CB, 'https://app.example/cb2']);
        const rotated = String(put.body.registration_access_token);
        expect(rotated).not.toBe(rat);
        secrets.add(rotated);
        c = { ...c, registration_access_token: rotated };
        expect((await configure(tokenApp.url, uri, 'GET', rat)).status).toBe(401);
        const after = await configure(tokenApp.url, uri, 'GET', rotated);
        expect(after.status).toBe(200);
        expect(after.body.client_name).toBe('Renamed');
        // The update holds at the token endpoint: read only, with the secret it had.
        const auth = basicAuth(c.client_id, c.client_secret!);
        const readOnly = await token(tokenApp.url, auth, { grant_type: 'client_credentials', scope: 'read' });
        expect(readOnly.status).toBe(200);
        const write = await token(tokenApp.url, auth, { grant_type: 'client_credentials', scope: 'write' });
        expect(write.status).toBe(400);
        expect(write.body.error).toBe('invalid_scope');
      });

      it('RFC 7592: delete with the registration access token; then invalid_client at the token endpoint and 401 at the configuration URI', async () => {
        const uri = c.registration_client_uri;
        const auth = basicAuth(c.client_id, c.client_secret!);
        const machine = await token(tokenApp.url, auth, { grant_type: 'client_credentials', scope: 'read' });
        expect(machine.status).toBe(200);
        // A user's tokens of the client, through the pages, issued before the delete.
        const flow = await authorizeCode(tokens.b, c.client_id, 'read');
        const user = await token(tokenApp.url, auth, {
          grant_type: 'authorization_code',
          code: flow.code,
          redirect_uri: CB,
          code_verifier: flow.verifier,
        });
        expect(user.status, JSON.stringify(user.body)).toBe(200);
        const live = [String(machine.body.access_token), String(user.body.access_token)];
        for (const access of live) expect(await me(tokenApp.url, access)).toBe(200);
        const del = await configure(tokenApp.url, uri, 'DELETE', c.registration_access_token);
        expect(del.status).toBe(204);
        // RFC 7592 section 2.3: the access tokens issued before the delete stop working at once,
        // the client_credentials one and the user's; the user's refresh token is dead too.
        for (const access of live) expect(await me(tokenApp.url, access)).toBe(401);
        const refreshed = await token(tokenApp.url, auth, { grant_type: 'refresh_token', refresh_token: String(user.body.refresh_token) });
        expect(refreshed.status).toBe(401);
        expect(refreshed.body.access_token).toBeUndefined();
        const cc = await token(tokenApp.url, auth, { grant_type: 'client_credentials', scope: 'read' });
        expect(cc.status).toBe(401);
        expect(cc.body.error).toBe('invalid_client');
        for (const method of ['GET', 'PUT', 'DELETE'] as const) {
          const a = await configure(
            tokenApp.url,
            uri,
            method,
            c.registration_access_token,
            method === 'PUT' ? webClient({ client_id: c.client_id }) : undefined,
          );
          expect(a.status, method).toBe(401);
        }
        // Its authorization requests are refused on the app's own error page, never sent to its redirect URI.
        const q = new URLSearchParams({
          response_type: 'code',
          client_id: c.client_id,
          redirect_uri: CB,
          code_challenge: 'x'.repeat(43),
          code_challenge_method: 'S256',
        });
        const az = await call(`${tokenApp.url}/oauth/authorize?${q}`);
        expect(az.status).toBe(400);
        expect(az.headers.get('location')).toBeNull();
      });
    });

    describe('REGISTRATION=open', () => {
      it('registers without a token; the client completes a code flow with PKCE and a refresh; hostile metadata is refused', async () => {
        const c = registered(await register(openApp.url, webClient({ client_name: 'Open app' })), true);
        await codeFlow(openApp.url, c);
        // A stray bearer is no initial access token here: ignored.
        const c2 = registered(await register(openApp.url, webClient({ scope: 'read' }), { authorization: 'Bearer whatever' }), true);
        const read = await configure(openApp.url, c2.registration_client_uri, 'GET', c2.registration_access_token);
        expect(read.status).toBe(200);
        expect(read.body.scope).toBe('read');
        // One client's registration access token does not open another's configuration.
        expect((await configure(openApp.url, c2.registration_client_uri, 'GET', c.registration_access_token)).status).toBe(401);
        await refusesHostile(openApp.url, {});
      });

      it('a public native client (private-use scheme, no secret) registers and completes a code flow; a confidential one may not use that scheme', async () => {
        const native = JSON.stringify({
          redirect_uris: [CB, 'com.example.app:/cb'],
          grant_types: ['authorization_code', 'refresh_token'],
          token_endpoint_auth_method: 'none',
          scope: 'read',
        });
        const c = registered(await register(openApp.url, native), false);
        await codeFlow(openApp.url, c, 'read');
        const confidential = await register(openApp.url, webClient({ redirect_uris: ['com.example.app:/cb'] }));
        expect(confidential.status).toBe(400);
        expect(confidential.body.error).toBe('invalid_redirect_uri');
        // A public client cannot register the client_credentials grant (RFC 6749 section 4.4).
        const cc = await register(
          openApp.url,
          JSON.stringify({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'none', scope: 'read' }),
        );
        expect(cc.status).toBe(400);
        expect(cc.body.error).toBe('invalid_client_metadata');
        expect(cc.body.client_id).toBeUndefined();
      });
    });

    it('no answer was a 5xx, and no secret reached either process output', () => {
      expect(serverErrors).toEqual([]);
      noSecretsIn([tokenApp, openApp]);
    });
  });
}

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI (`pnpm cli ...`: node + tsx on the source) as a child process on `databaseUrl`. */
function cli(databaseUrl: string, args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', 'src/cli.ts', ...args],
      { cwd: PACKAGE_DIR, env: { ...process.env, DATABASE_URL: databaseUrl }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The rest of issue 15 on PostgreSQL and MongoDB (SQLite has its own tests: registration,
 * registration-purge, connected-apps, pages): two processes with `REGISTRATION=open` on one
 * database, with a 3 s `REGISTRATION_UNUSED_WINDOW` and a 1 s `PURGE_INTERVAL`.
 * - Allowed grants and scopes of self-registered clients; the secret never expires at the default
 *   `REGISTRATION_SECRET_LIFETIME` (`client_secret_expires_at` is 0; admin-stores.test.ts covers a
 *   lifetime that runs out).
 * - The consent page names the registered client by its escaped client_name.
 * - The purge (run by the processes under the database lock) removes a never-used registration
 *   and keeps a used one.
 * - The CLI's `grants list|revoke --user [--client]` on that database; the revoke holds at the
 *   next request on both processes; hostile ids change nothing and never crash it.
 * - The registration rate limit per address and process: 429 with Retry-After, not bypassed by
 *   X-Forwarded-For; the other process still counts from zero.
 * The admin API (@portcullis/admin, mounted with `ADMIN_OPERATOR_TOKEN`) has its own file on the
 * three stores: admin-stores.test.ts.
 */
const POLICY_STORES: Store[] = ['postgres', 'mongodb'];

for (const store of POLICY_STORES) {
  describe(`registration policy, purge and CLI grants on ${store}`, () => {
    let a: Proc;
    let b: Proc;
    let db: string;
    let started: number;
    /** A registered client that completed a code flow (so it is used). */
    let client: Registered;

    beforeAll(async () => {
      started = Date.now();
      db = await freshDatabase(store, 'policy');
      const env = {
        ISSUER,
        SEED_FILE: seedFile,
        DATABASE_URL: db,
        REGISTRATION: 'open',
        REGISTRATION_SCOPES: 'read write',
        REGISTRATION_UNUSED_WINDOW: '3',
        PURGE_INTERVAL: '1',
      };
      [a, b] = await Promise.all([startProcess(env, children), startProcess(env, children)]);
      timings[`${store} policy start`] = Date.now() - started;
    }, 120_000);

    afterAll(() => {
      timings[`${store} policy total`] = Date.now() - started;
    });

    it('self-registered clients get only the allowed grants and scopes; their secret does not expire', async () => {
      for (const [what, body] of [
        ['the password grant', webClient({ grant_types: ['authorization_code', 'password'] })],
        ['the implicit grant', webClient({ grant_types: ['implicit'], response_types: ['token'] })],
        ['the device grant', webClient({ grant_types: ['urn:ietf:params:oauth:grant-type:device_code'] })],
        ['an unknown grant', webClient({ grant_types: ['authorization_code', 'urn:x:evil'] })],
        ['a scope not allowed', webClient({ scope: 'read admin' })],
        ['a scope with a control character', webClient({ scope: 'read\u0000' })],
      ] as [string, string][]) {
        const r = await register(a.url, body);
        expect(r.status, what).toBe(400);
        expect(r.body.error, what).toBe('invalid_client_metadata');
        expect(r.body.client_id, what).toBeUndefined();
      }
      const c = registered(
        await register(a.url, JSON.stringify({ grant_types: ['client_credentials'], scope: 'read', client_name: 'Machine' })),
        true,
      );
      expect(c.client_secret_expires_at).toBe(0);
      const auth = basicAuth(c.client_id, c.client_secret!);
      expect((await token(b.url, auth, { grant_type: 'client_credentials', scope: 'read' })).status).toBe(200);
      // Not registered for the code flow, nor for write, nor for the password grant.
      const w = await token(b.url, auth, { grant_type: 'client_credentials', scope: 'write' });
      expect(w.status).toBe(400);
      expect(w.body.error).toBe('invalid_scope');
      const pw = await token(b.url, auth, { grant_type: 'password', username: ALICE.username, password: ALICE.password });
      expect(pw.status).toBe(400);
      expect(['unauthorized_client', 'unsupported_grant_type']).toContain(pw.body.error);
      const q = new URLSearchParams({
        response_type: 'code',
        client_id: c.client_id,
        redirect_uri: CB,
        code_challenge: 'x'.repeat(43),
        code_challenge_method: 'S256',
      });
      const az = await call(`${a.url}/oauth/authorize?${q}`);
      expect(az.status).toBe(400);
      expect(az.headers.get('location')).toBeNull();
    });

    it('the consent page shows the registered client_name, escaped', async () => {
      const hostileName = `${NAME} "><img src=x onerror=alert(1)>`;
      client = registered(await register(a.url, webClient({ client_name: hostileName })), true);
      // The code flow first, on one process (its codes live in the process's state store): the
      // client is used before the 3 s window ends, so the purge keeps it.
      const flow = await authorizeCode(new CookieClient(a.url), client.client_id, 'read');
      const t = await token(a.url, basicAuth(client.client_id, client.client_secret!), {
        grant_type: 'authorization_code',
        code: flow.code,
        redirect_uri: CB,
        code_verifier: flow.verifier,
      });
      expect(t.status, JSON.stringify(t.body)).toBe(200);
      // The consent page on the other process.
      const browser = new CookieClient(b.url);
      await signIn(browser);
      const q = new URLSearchParams({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: CB,
        scope: 'read write',
        state: 's',
        code_challenge: 'x'.repeat(43),
        code_challenge_method: 'S256',
      });
      const page = await browser.get(`/oauth/authorize?${q}`);
      expect(page.status).toBe(200);
      const html = await page.text();
      expect(html).toContain('&lt;b&gt;Dyn &amp; Co&lt;/b&gt; &quot;&gt;&lt;img src=x onerror=alert(1)&gt;');
      expect(html).not.toContain('<b>Dyn');
      expect(html).not.toContain('<img src=x');
    });

    it('the purge removes a never-used registration after REGISTRATION_UNUSED_WINDOW and keeps a used one', async () => {
      const meta = JSON.stringify({ grant_types: ['client_credentials'], scope: 'read' });
      const unused = registered(await register(a.url, meta), true);
      const used = registered(await register(b.url, meta), true);
      expect(
        (await token(a.url, basicAuth(used.client_id, used.client_secret!), { grant_type: 'client_credentials', scope: 'read' })).status,
      ).toBe(200);
      expect((await configure(b.url, unused.registration_client_uri, 'GET', unused.registration_access_token)).status).toBe(200);
      // The window is 3 s and the processes purge every second: wait (30 s at most) for it to go.
      const end = Date.now() + 30_000;
      let status = 200;
      while (status === 200 && Date.now() < end) {
        await sleep(500);
        status = (await configure(b.url, unused.registration_client_uri, 'GET', unused.registration_access_token)).status;
      }
      expect(status).toBe(401);
      const refused = await token(a.url, basicAuth(unused.client_id, unused.client_secret!), {
        grant_type: 'client_credentials',
        scope: 'read',
      });
      expect(refused.status).toBe(401);
      expect(refused.body.error).toBe('invalid_client');
      // Well past the window: the used ones stay, on both processes; so does the seeded client.
      for (const p of [a, b]) {
        expect((await configure(p.url, used.registration_client_uri, 'GET', used.registration_access_token)).status).toBe(200);
        expect(
          (await token(p.url, basicAuth(used.client_id, used.client_secret!), { grant_type: 'client_credentials', scope: 'read' })).status,
        ).toBe(200);
        expect((await configure(p.url, client.registration_client_uri, 'GET', client.registration_access_token)).status).toBe(200);
      }
      expect(`${a.output()}${b.output()}`).toMatch(/purged never-used registered clients/);
    });

    it('CLI grants list|revoke --user [--client] on the database; the revoke holds at the next request on both processes', async () => {
      const flow = async (clientId: string, secret: string) => {
        const auth = basicAuth(clientId, secret);
        const f = await authorizeCode(new CookieClient(a.url), clientId, 'read');
        const t = await token(a.url, auth, { grant_type: 'authorization_code', code: f.code, redirect_uri: CB, code_verifier: f.verifier });
        expect(t.status, JSON.stringify(t.body)).toBe(200);
        const access = String(t.body.access_token);
        for (const p of [a, b]) expect(await me(p.url, access)).toBe(200);
        return { access, refresh: String(t.body.refresh_token), auth };
      };
      const first = await flow(client.client_id, client.client_secret!);
      // A grant of the same user to the seeded client: a revoke for the registered one keeps it.
      const seeded = await flow('interop-app', TRICKY_SECRET);
      // The list, and hostile ids beside it (the CLI runs are slow to start: side by side): exit 0
      // with nothing found and nothing revoked, or exit 2 for what is no id; never a crash. A
      // client id may start with "-": `--client=<id>` takes it.
      const found: string[][] = [
        ['grants', 'list', '--user={"$ne":null}', '--json'],
        ['grants', 'revoke', "--user=u-alice' OR '1'='1", `--client=${client.client_id}`],
        ['grants', 'revoke', `--user=${ALICE.subject}`, '--client={"$ne":null}'],
      ];
      const usage: string[][] = [['grants', 'revoke', `--user=${ALICE.subject}`, `--client=${client.client_id}\r\nX: 1`]];
      const [list, ...runs] = await Promise.all(
        [['grants', 'list', '--user', ALICE.subject, '--json'], ...found, ...usage].map((args) => cli(db, args)),
      );
      expect(list!.code, list!.stderr).toBe(0);
      const rows = JSON.parse(list!.stdout) as { clientId: string; scopes: string[] }[];
      expect(rows.map((r) => r.clientId)).toContain(client.client_id);
      expect(list!.stdout).not.toContain(first.access);
      found.forEach((args, i) => {
        const r = runs[i]!;
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
        if (args[1] === 'list') expect(JSON.parse(r.stdout)).toEqual([]);
        else expect(r.stdout, args.join(' ')).toMatch(/^Revoked 0 grants /);
      });
      usage.forEach((args, i) => {
        const r = runs[found.length + i]!;
        expect(r.code, args.join(' ').slice(0, 60)).toBe(2);
        expect(r.stderr).toMatch(/^Error: /);
      });
      for (const p of [a, b]) expect(await me(p.url, first.access)).toBe(200);

      const revoked = await cli(db, ['grants', 'revoke', '--user', ALICE.subject, `--client=${client.client_id}`]);
      expect(revoked.code, revoked.stderr).toBe(0);
      // Two grants: the code flow of the consent page test and this one.
      expect(revoked.stdout).toMatch(/^Revoked 2 grants of user "u-alice" for client /);
      for (const p of [a, b]) expect(await me(p.url, first.access)).toBe(401);
      const refreshed = await token(a.url, first.auth, { grant_type: 'refresh_token', refresh_token: first.refresh });
      expect(refreshed.status).toBe(400);
      expect(refreshed.body.error).toBe('invalid_grant');

      for (const p of [a, b]) expect(await me(p.url, seeded.access)).toBe(200);
      // Every client at once.
      const second = await flow(client.client_id, client.client_secret!);
      const all = await cli(db, ['grants', 'revoke', '--user', ALICE.subject]);
      expect(all.code, all.stderr).toBe(0);
      expect(all.stdout).toMatch(/^Revoked 2 grants of user "u-alice";/);
      for (const p of [a, b]) for (const t of [second, seeded]) expect(await me(p.url, t.access)).toBe(401);
    }, 120_000);

    it('rate limit per address and process: 429 with Retry-After after the limit, not bypassed by X-Forwarded-For', async () => {
      const meta = JSON.stringify({ grant_types: ['client_credentials'], scope: 'read' });
      let limited: Answer | null = null;
      let accepted = 0;
      for (let i = 0; i < 25 && limited === null; i++) {
        const r = await register(a.url, meta);
        if (r.status === 429) limited = r;
        else {
          registered(r, true);
          accepted++;
        }
      }
      expect(limited).not.toBeNull();
      // Process a counted nine registrations in the tests above (the refused ones count too); the
      // limit is 20 an hour.
      expect(accepted).toBe(11);
      expect(limited!.body.error).toBe('temporarily_unavailable');
      const wait = Number(limited!.headers.get('retry-after'));
      expect(Number.isInteger(wait)).toBe(true);
      expect(wait).toBeGreaterThan(0);
      expect(wait).toBeLessThanOrEqual(3600);
      const spoofs: Record<string, string>[] = [
        { 'x-forwarded-for': '203.0.113.9' },
        { forwarded: 'for=203.0.113.9' },
        { 'x-real-ip': '198.51.100.1' },
      ];
      for (const headers of spoofs) {
        const r = await register(a.url, meta, headers);
        expect(r.status, JSON.stringify(headers)).toBe(429);
        expect(r.body.client_id).toBeUndefined();
      }
      // A hostile body is limited too (the limit comes before parsing).
      expect((await register(a.url, '{"redirect_uris": [')).status).toBe(429);
      // The other process counts on its own.
      registered(await register(b.url, meta), true);
    });

    it('no answer was a 5xx, and no secret reached either process output', () => {
      expect(serverErrors).toEqual([]);
      noSecretsIn([a, b]);
    });
  });
}
