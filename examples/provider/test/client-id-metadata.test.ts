/**
 * Client ID Metadata Documents (issue 15) end to end over HTTP on every store the example runs
 * on: SQLite, PostgreSQL and MongoDB, each an app process (a child started as `pnpm start` runs
 * the app) on a database of its own, with `CLIENT_ID_METADATA=on`, `CLIENT_ID_METADATA_CA` (a test
 * CA made with openssl) and `CLIENT_ID_METADATA_ALLOW_PRIVATE=on`: the documents are served by a
 * local HTTPS server on 127.0.0.1 as `https://localhost:<port>`.
 *
 * For each store:
 * - a public client described by a document (client_name with HTML special characters) completes
 *   a code flow with PKCE through the login and consent pages (the consent page shows the escaped
 *   name), its token works at /api/me and refreshes, and its code's replay gets invalid_grant;
 *   the connected apps page lists it under its document's client_name (escaped), and revoking it
 *   there kills its tokens;
 * - a client id of exactly 255 characters (what the SQL bindings' client id columns hold) does
 *   the same, the tokens written to the store; one of 256 characters is an unknown client (400
 *   page, invalid_client) and its document is never fetched;
 * - documents whose client_id is not their URL, that carry a client_secret or an http:// redirect
 *   URI, a server answering a redirect, and an oversize document are refused: the authorization
 *   request gets the unknown-client page (400), the token endpoint invalid_client.
 * A second SQLite process with `CLIENT_ID_METADATA_ALLOW_PRIVATE` off refuses a loopback document
 * URL without the document server seeing the request, and logs no warning about it. A third
 * SQLite process with `CLIENT_ID_METADATA_SCOPES=read` (the others default to their
 * `REGISTRATION_SCOPES`, `read write`) refuses a document asking for `read write` and accepts one
 * asking for `read`; it shares the first SQLite process's database, and its connected apps page
 * lists a client approved there whose document it cannot fetch by the client's URL (200, no 5xx).
 * No answer is a 5xx, and no process output holds an authorization code, access or refresh token.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres } from '@portcullis/binding-testkit/servers';
import { Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMongoServer } from '../../../packages/binding-mongoose/test/mongo-server.js';
import { CB, CookieClient, field, location, pkce, signIn, TEST_SEED } from './helpers.js';
import { authorizationRequest, type Proc, postForm, startProcess } from './processes.js';

/** A client name every page must escape. */
const NAME = `<b>Agent "Smith" & Co's</b>`;
const ESCAPED_NAME = '&lt;b&gt;Agent &quot;Smith&quot; &amp; Co&#39;s&lt;/b&gt;';
const WARNING = 'CLIENT_ID_METADATA_ALLOW_PRIVATE is on';

const children: ChildProcess[] = [];
const stops: (() => Promise<unknown>)[] = [];
let dir: string;
/** The document server: `https://localhost:<port>` (listening on 127.0.0.1). */
let base: string;
let server: Server | undefined;
/** What the document server answers, by request path. */
const documents = new Map<string, { status: number; headers: Record<string, string>; body: string }>();
/** Every path the document server was asked for. */
const fetched: string[] = [];
/** Every code and token an app answered with: none may appear in a process's output. */
const secrets = new Set<string>();
/** Every answer with a 5xx status: must stay empty. */
const serverErrors: string[] = [];
const procs: Partial<Record<Store | 'private-off' | 'read-only', Proc>> = {};
let startMs = 0;

type Store = 'sqlite' | 'postgres' | 'mongodb';
const STORES: Store[] = ['sqlite', 'postgres', 'mongodb'];

/** A browser that records any 5xx answer. */
class Browser extends CookieClient {
  override async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const r = await super.fetch(path, init);
    if (r.status >= 500) serverErrors.push(`${init.method ?? 'GET'} ${path.slice(0, 120)} -> ${r.status}`);
    return r;
  }
}

async function token(app: Proc, params: Record<string, string>) {
  const r = await postForm(`${app.url}/oauth/token`, '', params);
  if (r.status >= 500) serverErrors.push(`POST /oauth/token (${params.grant_type}) -> ${r.status}`);
  for (const k of ['access_token', 'refresh_token']) if (typeof r.body[k] === 'string') secrets.add(r.body[k] as string);
  return r;
}

async function me(app: Proc, access: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(`${app.url}/api/me`, { headers: { authorization: `Bearer ${access}` } });
  if (r.status >= 500) serverErrors.push(`GET /api/me -> ${r.status}`);
  if (r.status !== 200) {
    await r.arrayBuffer();
    return { status: r.status, body: {} };
  }
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

/** A valid metadata document of a public web client at `clientId`. */
function metadata(clientId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    client_id: clientId,
    client_name: NAME,
    redirect_uris: [CB],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    scope: 'read write',
    ...extra,
  };
}

/** Serves `doc` (a valid document unless given) at `path`; the client id. */
function publish(path: string, doc?: Record<string, unknown>): string {
  const clientId = `${base}${path}`;
  documents.set(path, {
    status: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(doc ?? metadata(clientId)),
  });
  return clientId;
}

/** A client id of exactly `length` characters under `prefix`. */
function idOfLength(prefix: string, length: number): string {
  const id = `${base}${prefix}${'a'.repeat(length - base.length - prefix.length)}`;
  expect(id).toHaveLength(length);
  return id;
}

const pathOf = (clientId: string) => clientId.slice(base.length);

async function freshDatabase(store: Store, pg: () => Promise<string>, mongo: () => Promise<string>): Promise<string> {
  const name = `portcullis_cimd_${randomBytes(5).toString('hex')}`;
  if (store === 'sqlite') return `sqlite:${join(dir, `${name}.sqlite`)}`;
  if (store === 'mongodb') return `${await mongo()}/${name}`;
  const server = await pg();
  const sql = async (q: string) => {
    const db = new Sequelize(server, { logging: false, pool: { max: 1 } });
    try {
      await db.query(q);
    } finally {
      await db.close();
    }
  };
  await sql(`CREATE DATABASE "${name}"`);
  stops.push(() => sql(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
  const url = new URL(server);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A test CA and a server certificate for `localhost` and 127.0.0.1, made with openssl in `dir`. */
function makeCertificates(): void {
  const o = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe', timeout: 30_000 });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  o(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=Portcullis CIMD Test CA']);
  o(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  const ca = ['-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial'];
  o(['x509', '-req', '-in', 'server.csr', ...ca, '-out', 'server.pem', '-days', '1', '-extfile', 'ext.cnf']);
}

beforeAll(async () => {
  startMs = Date.now();
  dir = await mkdtemp(join(tmpdir(), 'portcullis-cimd-'));
  makeCertificates();
  server = createServer({ key: await readFile(join(dir, 'server.key')), cert: await readFile(join(dir, 'server.pem')) }, (req, res) => {
    fetched.push(req.url ?? '');
    const d = documents.get(req.url ?? '');
    if (!d) res.writeHead(404).end();
    else res.writeHead(d.status, d.headers).end(d.body);
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  base = `https://localhost:${(server.address() as AddressInfo).port}`;

  const seedFile = join(dir, 'seed.json');
  await writeFile(seedFile, JSON.stringify(TEST_SEED));
  // The servers start once, in parallel with each other.
  let pgUrl: Promise<string> | undefined;
  const pg = () =>
    (pgUrl ??= process.env.DATABASE_URL_POSTGRES
      ? Promise.resolve(process.env.DATABASE_URL_POSTGRES)
      : startPostgres().then((p) => {
          stops.push(() => p.stop());
          return p.url;
        }));
  let mongoUrl: Promise<string> | undefined;
  const mongo = () =>
    (mongoUrl ??= startMongoServer().then((m) => {
      stops.push(() => m.stop());
      return m.url;
    }));
  const common = {
    SEED_FILE: seedFile,
    REGISTRATION_SCOPES: 'read write',
    CLIENT_ID_METADATA: 'on',
    CLIENT_ID_METADATA_CA: join(dir, 'ca.pem'),
  };
  const start = async (name: Store | 'private-off' | 'read-only', store: Store, env: Record<string, string>, database?: string) => {
    procs[name] = await startProcess({ ...common, DATABASE_URL: database ?? (await freshDatabase(store, pg, mongo)), ...env }, children);
  };
  const sqlite = await freshDatabase('sqlite', pg, mongo);
  await Promise.all([
    ...STORES.map((s) => start(s, s, { CLIENT_ID_METADATA_ALLOW_PRIVATE: 'on' }, s === 'sqlite' ? sqlite : undefined)),
    start('private-off', 'sqlite', { CLIENT_ID_METADATA_ALLOW_PRIVATE: 'off' }),
  ]);
  // On the SQLite process's database, started once that process has migrated it.
  await start('read-only', 'sqlite', { CLIENT_ID_METADATA_ALLOW_PRIVATE: 'on', CLIENT_ID_METADATA_SCOPES: 'read' }, sqlite);
  console.info(`client-id-metadata: processes started in ${Date.now() - startMs} ms`);
}, 180_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const stop of stops.reverse()) await stop().catch(() => {});
  if (server) await new Promise((r) => server!.close(r));
  if (dir) await rm(dir, { recursive: true, force: true });
  console.info(`client-id-metadata: ${Date.now() - startMs} ms in all`);
});

/**
 * Approves an authorization request for `clientId` on the consent page (which must show the
 * escaped client name) and exchanges the code without a secret.
 */
async function approveAndExchange(app: Proc, b: Browser, clientId: string) {
  const req = authorizationRequest(clientId);
  let r = await b.get(req.url);
  expect(r.status).toBe(200);
  const consent = await r.text();
  expect(consent).toContain(ESCAPED_NAME);
  expect(consent).not.toContain(NAME);
  r = await b.post('/oauth/authorize/decision', { csrf: field(consent, 'csrf'), consent: field(consent, 'consent'), decision: 'approve' });
  const callback = new URL(location(r));
  expect(`${callback.origin}${callback.pathname}`).toBe(CB);
  expect(callback.searchParams.get('state')).toBe(req.state);
  const code = callback.searchParams.get('code')!;
  expect(code).toBeTruthy();
  secrets.add(code);
  const exchange = () =>
    token(app, { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: req.verifier, client_id: clientId });
  const t = await exchange();
  expect(t.status, JSON.stringify(t.body)).toBe(200);
  expect(String(t.body.scope).split(' ').sort()).toEqual(['read', 'write']);
  expect(t.body.access_token).toBeTypeOf('string');
  expect(t.body.refresh_token).toBeTypeOf('string');
  return { exchange, access: String(t.body.access_token), refresh: String(t.body.refresh_token) };
}

/**
 * A signed-in code flow with PKCE through the pages, /api/me, a refresh, and the code's replay
 * (refused, and what the code had issued revoked); then a second approval whose tokens stay live:
 * the browser and those tokens.
 */
async function codeFlow(app: Proc, clientId: string) {
  const b = new Browser(app.url);
  await signIn(b);
  const first = await approveAndExchange(app, b, clientId);
  const who = await me(app, first.access);
  expect(who.status).toBe(200);
  expect(who.body.client_id).toBe(clientId);
  expect(who.body.sub).toBe('u-alice');
  const refreshed = await token(app, { grant_type: 'refresh_token', refresh_token: first.refresh, client_id: clientId });
  expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
  const access = String(refreshed.body.access_token);
  expect((await me(app, access)).status).toBe(200);
  // The code again: refused, and the tokens it had issued are revoked.
  const replay = await first.exchange();
  expect(replay.status).toBe(400);
  expect(replay.body.error).toBe('invalid_grant');
  expect((await me(app, access)).status).toBe(401);
  const second = await approveAndExchange(app, b, clientId);
  expect((await me(app, second.access)).status).toBe(200);
  return { b, access: second.access, refresh: second.refresh };
}

/**
 * The connected apps page of `b` lists `clientId` under the document's name, escaped (its id
 * beside it), never the raw name.
 */
async function listedByName(b: Browser, clientId: string): Promise<string> {
  const page = await (await b.get('/account/apps')).text();
  expect(page).toContain(`value="${clientId}"`);
  expect(page).toContain(`<strong class="client-name">${ESCAPED_NAME}</strong> <code class="client-id">${clientId}</code>`);
  expect(page).not.toContain(NAME);
  return page;
}

/**
 * `clientId` is an unknown client: its authorization request gets the error page (400; a known
 * client would be sent to the login page), and the token endpoint invalid_client (a known client
 * would get invalid_grant for the made-up code).
 */
async function refusedAsUnknown(app: Proc, clientId: string, redirectUri = CB, what = clientId.slice(-30)): Promise<void> {
  const r = await new Browser(app.url).get(authorizationRequest(clientId, { redirectUri }).url);
  expect(r.status, what).toBe(400);
  expect(await r.text(), what).toContain('Unknown client');
  const t = await token(app, {
    grant_type: 'authorization_code',
    code: 'made-up-code',
    redirect_uri: redirectUri,
    code_verifier: 'v'.repeat(43),
    client_id: clientId,
  });
  expect(t.status, what).toBe(401);
  expect(t.body.error, what).toBe('invalid_client');
}

for (const store of STORES) {
  describe(`Client ID Metadata Documents on ${store}`, () => {
    const app = () => procs[store]!;

    it('advertises client_id_metadata_document_supported and warns at start that private addresses are allowed', async () => {
      const meta = (await (await fetch(`${app().url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
      expect(meta.client_id_metadata_document_supported).toBe(true);
      expect(app().output()).toContain(WARNING);
    });

    it('a document client completes a code flow with PKCE through the pages, refreshes, and its code replay is refused', async () => {
      const clientId = publish(`/${store}/app.json`);
      const { b, access, refresh } = await codeFlow(app(), clientId);
      expect(fetched).toContain(`/${store}/app.json`);
      // The connected apps page lists it by its document's name; revoking it there kills its tokens.
      const page = await listedByName(b, clientId);
      const r = await b.post('/account/apps/revoke', { csrf: field(page, 'csrf'), client_id: clientId });
      expect(r.status).toBe(303);
      expect((await me(app(), access)).status).toBe(401);
      const again = await token(app(), { grant_type: 'refresh_token', refresh_token: refresh, client_id: clientId });
      expect(again.status).toBe(400);
      expect(again.body.error).toBe('invalid_grant');
    });

    it('a client id of exactly 255 characters works (its tokens are stored); one of 256 is unknown and never fetched', async () => {
      const id255 = idOfLength(`/${store}/long/`, 255);
      publish(pathOf(id255));
      const { b } = await codeFlow(app(), id255);
      await listedByName(b, id255);

      const id256 = idOfLength(`/${store}/longer/`, 256);
      publish(pathOf(id256));
      await refusedAsUnknown(app(), id256);
      expect(fetched).not.toContain(pathOf(id256));
    });

    it('refuses a document whose client_id is not its URL, with a client_secret or an http redirect URI, a redirect, and an oversize one', async () => {
      const p = `/${store}/hostile`;
      const cases: [string, string, string][] = [];
      const mismatch = `${base}${p}/mismatch.json`;
      publish(pathOf(mismatch), metadata(`${base}${p}/someone-else.json`));
      cases.push(['client_id not its URL', mismatch, CB]);
      const secret = `${base}${p}/secret.json`;
      publish(pathOf(secret), metadata(secret, { client_secret: randomBytes(24).toString('hex') }));
      cases.push(['a client_secret', secret, CB]);
      const http = `${base}${p}/http.json`;
      publish(pathOf(http), metadata(http, { redirect_uris: ['http://evil.example/cb'] }));
      cases.push(['an http redirect URI', http, 'http://evil.example/cb']);
      const redirected = `${base}${p}/moved.json`;
      const target = publish(`${p}/target.json`, metadata(redirected));
      documents.set(pathOf(redirected), { status: 302, headers: { location: target }, body: '' });
      cases.push(['a redirect', redirected, CB]);
      const oversize = `${base}${p}/oversize.json`;
      // Valid but for its size: 6000 bytes of a field core ignores, over the default 5120.
      publish(pathOf(oversize), metadata(oversize, { padding: 'x'.repeat(6000) }));
      cases.push(['an oversize document', oversize, CB]);
      for (const [what, clientId, redirectUri] of cases) {
        await refusedAsUnknown(app(), clientId, redirectUri, what);
        expect(fetched, what).toContain(pathOf(clientId));
      }
      expect(fetched).not.toContain(`${p}/target.json`);
      // Each refusal is logged by the document's origin only.
      const out = app().output();
      expect(out).toContain(`client metadata document at ${base} refused`);
      for (const [, clientId] of cases) expect(out).not.toContain(pathOf(clientId));
    });
  });
}

describe('CLIENT_ID_METADATA_ALLOW_PRIVATE off (SQLite)', () => {
  it('refuses a loopback document URL without fetching it, and logs no warning', async () => {
    const app = procs['private-off']!;
    const clientId = publish('/private-off/app.json');
    await refusedAsUnknown(app, clientId);
    expect(fetched).not.toContain('/private-off/app.json');
    expect(app.output()).not.toContain(WARNING);
  });
});

describe('CLIENT_ID_METADATA_SCOPES=read (SQLite)', () => {
  it('refuses a document asking for a scope outside it, logging why, and accepts one within it', async () => {
    const app = procs['read-only']!;
    const wide = publish('/read-only/wide.json');
    await refusedAsUnknown(app, wide);
    expect(fetched).toContain('/read-only/wide.json');
    expect(app.output()).toContain(
      `client metadata document at ${base} refused: invalid_client_metadata: The scope 'write' is not allowed`,
    );
    // The same document asking for read only is a known client: the sign-in page, and invalid_grant for a made-up code.
    const narrowUrl = `${base}/read-only/narrow.json`;
    const narrow = publish('/read-only/narrow.json', metadata(narrowUrl, { scope: 'read' }));
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: narrow,
      redirect_uri: CB,
      scope: 'read',
      state: 's',
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
    });
    const r = await new Browser(app.url).get(`/oauth/authorize?${query}`);
    expect(r.status).toBe(302);
    expect(location(r)).toMatch(/^\/login\?/);
    const t = await token(app, {
      grant_type: 'authorization_code',
      code: 'made-up-code',
      redirect_uri: CB,
      code_verifier: 'v'.repeat(43),
      client_id: narrow,
    });
    expect(t.status, JSON.stringify(t.body)).toBe(400);
    expect(t.body.error).toBe('invalid_grant');
  });

  it('the connected apps page lists a client whose document cannot be fetched by its URL, without a 5xx', async () => {
    const app = procs['read-only']!;
    // Approved at the first SQLite process (its tokens are in the shared database); this process
    // never fetched its document, and now the document server fails.
    const id255 = idOfLength('/sqlite/long/', 255);
    documents.set(pathOf(id255), { status: 500, headers: {}, body: '' });
    const b = new Browser(app.url);
    await signIn(b);
    const r = await b.get('/account/apps');
    expect(r.status).toBe(200);
    const page = await r.text();
    expect(page).toContain(`value="${id255}"`);
    expect(page).toContain(`<strong class="client-name">${id255}</strong>`);
    expect(page).not.toContain(ESCAPED_NAME);
    // It did ask for the document.
    expect(app.output()).toContain(`client metadata document at ${base} refused: the server answered 500`);
  });
});

describe('every process', () => {
  it('answered no request with a 5xx, and printed no code or token', () => {
    expect(serverErrors).toEqual([]);
    expect(secrets.size).toBeGreaterThan(20);
    for (const [name, p] of Object.entries(procs)) {
      const out = p!.output();
      for (const s of secrets) expect(out.includes(s), `a code or token in the output of ${name}`).toBe(false);
    }
  });
});
