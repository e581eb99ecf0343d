/**
 * "Connected apps" (issue 15): the page `/account/apps` and the CLI's `grants list|revoke`, on
 * the default SQLite database (the Sequelize binding's user-grant store).
 *
 * - After a code flow the page lists the client (escaped), its scopes and last use; revoking it
 *   with the page's form makes its access and refresh tokens fail on the next request, at this
 *   app and at another process on the same database, and the next authorization asks for consent
 *   again although REMEMBER_CONSENT had skipped it before.
 * - Hostile revocations (no session, missing or wrong CSRF token, another origin, missing,
 *   repeated, CR/LF/NUL or oversize client ids, an oversize body, an unknown client) get 4xx,
 *   never 5xx, and revoke nothing.
 * - The CLI lists a user's apps and revokes them, per client or all, refusing bad arguments.
 */
import type { ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { basicAuth } from '@portcullis/binding-testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMongoServer } from '../../../packages/binding-mongoose/test/mongo-server.js';
import { type App, createApp } from '../src/app.js';
import { parseConfig } from '../src/config.js';
import { ALICE, CB, CookieClient, field, pkce, signIn, TEST_SEED, TRICKY_SECRET } from './helpers.js';
import { authorizeCode, PACKAGE_DIR, postForm, startProcess } from './processes.js';

const CLIENT = 'interop-app';
const BASIC = basicAuth(CLIENT, TRICKY_SECRET);
const XSS_CLIENT = 'x<script>alert(1)</script>';

const children: ChildProcess[] = [];
const stops: (() => Promise<unknown>)[] = [];
let dir: string;
let seedFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-connected-'));
  seedFile = join(dir, 'seed.json');
  await writeFile(seedFile, JSON.stringify(TEST_SEED));
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const stop of stops.reverse()) await stop().catch(() => {});
  if (dir) await rm(dir, { recursive: true, force: true });
});

function env(name: string): Record<string, string> {
  return {
    DATABASE_URL: `sqlite:${join(dir, `${name}.sqlite`)}`,
    SEED_FILE: seedFile,
    DEMO: '0',
    REMEMBER_CONSENT: '1',
    STATE_STORE: 'shared',
    GRANT_CACHE: 'database',
  };
}

async function startInProcess(name: string): Promise<App> {
  const app = await createApp(parseConfig({ PORT: '0', ...env(name) }, [], dir), { log: () => {} });
  stops.push(() => app.close());
  return app;
}

/** A code flow through the pages and the token request: the token response. */
async function codeFlow(b: CookieClient, base: string, scope = 'read write') {
  const { code, verifier } = await authorizeCode(b, CLIENT, scope);
  const t = await postForm(`${base}/oauth/token`, BASIC, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: CB,
    code_verifier: verifier,
  });
  expect(t.status).toBe(200);
  return { access: String(t.body.access_token), refresh: String(t.body.refresh_token) };
}

const me = (base: string, token: string) => fetch(`${base}/api/me`, { headers: { authorization: `Bearer ${token}` } });

/** The authorization request's first answer for a signed-in browser: 200 (consent page) or 302 (remembered). */
async function authorizeStatus(b: CookieClient): Promise<number> {
  const { challenge } = pkce();
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: CLIENT,
    redirect_uri: CB,
    scope: 'read write',
    state: 's',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  const r = await b.get(`/oauth/authorize?${q}`);
  await r.arrayBuffer();
  return r.status;
}

describe('the connected apps page', () => {
  let app: App;
  let b: CookieClient;
  let tokens: { access: string; refresh: string };

  beforeAll(async () => {
    app = await startInProcess('page');
    b = new CookieClient(app.url);
  });

  it('sends an anonymous visitor to sign in, and lists nothing before any flow', async () => {
    const anon = await fetch(`${app.url}/account/apps`, { redirect: 'manual' });
    expect(anon.status).toBe(302);
    expect(anon.headers.get('location')).toBe('/login?return_to=%2Faccount%2Fapps');
    await signIn(b);
    const page = await (await b.get('/account/apps')).text();
    expect(page).toContain('id="no-apps"');
  });

  it('lists an app after a code flow, escaped, with its scopes and last use', async () => {
    tokens = await codeFlow(b, app.url);
    // A client whose id is markup: shown escaped.
    const xss = await authorizeCode(b, XSS_CLIENT, 'read');
    const t = await fetch(`${app.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: xss.code,
        redirect_uri: CB,
        code_verifier: xss.verifier,
        client_id: XSS_CLIENT,
      }).toString(),
    });
    expect(t.status).toBe(200);
    const r = await b.get('/account/apps');
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-store');
    const page = await r.text();
    expect(page).toContain(`value="${CLIENT}"`);
    expect(page).toContain('<code class="scope">read</code>');
    expect(page).toContain('<code class="scope">write</code>');
    expect(page).toMatch(/class="last-used">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</);
    expect(page).toContain('x&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).not.toContain('<script>');
    // REMEMBER_CONSENT: the next authorization skips the consent page.
    expect(await authorizeStatus(b)).toBe(302);
  });

  it('refuses hostile revocations with 4xx, never 5xx, and revokes nothing', async () => {
    const page = await (await b.get('/account/apps')).text();
    const csrf = field(page, 'csrf');
    const anon = new CookieClient(app.url);
    const cases: [CookieClient, Record<string, string> | string, Record<string, string>, number][] = [
      [anon, { csrf, client_id: CLIENT }, {}, 403],
      [b, { client_id: CLIENT }, {}, 403],
      [b, { csrf: `${csrf}x`, client_id: CLIENT }, {}, 403],
      [b, { csrf: '', client_id: CLIENT }, {}, 403],
      [b, { csrf, client_id: CLIENT }, { origin: 'https://evil.example' }, 403],
      [b, { csrf }, {}, 400],
      [b, `csrf=${encodeURIComponent(csrf)}&client_id=${CLIENT}&client_id=other`, {}, 400],
      [b, { csrf, client_id: `${CLIENT}\r\nX-Injected: 1` }, {}, 400],
      [b, { csrf, client_id: `${CLIENT}\u0000` }, {}, 400],
      [b, { csrf, client_id: 'x'.repeat(600) }, {}, 400],
      [b, { csrf, client_id: 'no-such-client' }, {}, 404],
      [b, { csrf, client_id: CLIENT, pad: 'y'.repeat(40_000) }, {}, 413],
    ];
    for (const [client, form, headers, status] of cases) {
      const r =
        typeof form === 'string'
          ? await client.fetch('/account/apps/revoke', {
              method: 'POST',
              headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
              body: form,
            })
          : await client.post('/account/apps/revoke', form, headers);
      const text = await r.text();
      expect(r.status, JSON.stringify(form).slice(0, 80)).toBe(status);
      expect(text).not.toContain('X-Injected: 1');
    }
    expect((await me(app.url, tokens.access)).status).toBe(200);
    expect(await authorizeStatus(b)).toBe(302);
  });

  it('revoke: the tokens fail on the next request and the next authorization asks for consent again', async () => {
    const page = await (await b.get('/account/apps')).text();
    const r = await b.post('/account/apps/revoke', { csrf: field(page, 'csrf'), client_id: CLIENT });
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe('/account/apps?revoked=1');
    expect((await me(app.url, tokens.access)).status).toBe(401);
    const refresh = await postForm(`${app.url}/oauth/token`, BASIC, { grant_type: 'refresh_token', refresh_token: tokens.refresh });
    expect(refresh.status).toBe(400);
    expect(refresh.body.error).toBe('invalid_grant');
    const after = await (await b.get('/account/apps?revoked=1')).text();
    expect(after).not.toContain(`value="${CLIENT}"`);
    expect(after).toContain('Access revoked.');
    // The other app is left alone.
    expect(after).toContain('x&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(await authorizeStatus(b)).toBe(200);
    // Revoking it again: nothing left, 404.
    const again = await b.post('/account/apps/revoke', { csrf: field(after, 'csrf'), client_id: CLIENT });
    expect(again.status).toBe(404);
  });
});

describe('revoked at one process, refused at another', () => {
  it('the token works at both processes, then fails at the other one after a revoke at the first', async () => {
    const [a, c] = [await startProcess(env('procs'), children), await startProcess(env('procs'), children)];
    const b = new CookieClient(a.url);
    const tokens = await codeFlow(b, a.url);
    expect((await me(c.url, tokens.access)).status).toBe(200);
    const page = await (await b.get('/account/apps')).text();
    expect(page).toContain(`value="${CLIENT}"`);
    const r = await b.post('/account/apps/revoke', { csrf: field(page, 'csrf'), client_id: CLIENT });
    expect(r.status).toBe(303);
    expect((await me(c.url, tokens.access)).status).toBe(401);
    const refresh = await postForm(`${c.url}/oauth/token`, BASIC, { grant_type: 'refresh_token', refresh_token: tokens.refresh });
    expect(refresh.status).toBe(400);
    // The consent remembered by the shared state is forgotten for the other process too.
    const other = new CookieClient(c.url);
    other.cookies.set(...([...b.cookies].find(([k]) => k === 'pc_session') as [string, string]));
    expect(await authorizeStatus(other)).toBe(200);
  }, 180_000);
});

describe('on the other storages', () => {
  /** A code flow, the page lists it, revoke: the token fails. */
  async function listAndRevoke(app: App): Promise<void> {
    const b = new CookieClient(app.url);
    const tokens = await codeFlow(b, app.url);
    const page = await (await b.get('/account/apps')).text();
    expect(page).toContain(`value="${CLIENT}"`);
    expect((await me(app.url, tokens.access)).status).toBe(200);
    const r = await b.post('/account/apps/revoke', { csrf: field(page, 'csrf'), client_id: CLIENT });
    expect(r.status).toBe(303);
    expect((await me(app.url, tokens.access)).status).toBe(401);
    expect(await (await b.get('/account/apps')).text()).toContain('id="no-apps"');
  }

  it('MongoDB (memory grant cache)', async () => {
    const mongo = await startMongoServer();
    stops.push(() => mongo.stop());
    const config = parseConfig(
      { PORT: '0', DATABASE_URL: `${mongo.url}/connected_${randomBytes(4).toString('hex')}`, SEED_FILE: seedFile, DEMO: '0' },
      [],
      dir,
    );
    const app = await createApp(config, { log: () => {} });
    stops.push(() => app.close());
    await listAndRevoke(app);
  }, 120_000);

  it('DATABASE_DRIVER=drizzle on SQLite', async () => {
    const config = parseConfig(
      { PORT: '0', DATABASE_URL: `sqlite:${join(dir, 'drizzle.sqlite')}`, DATABASE_DRIVER: 'drizzle', SEED_FILE: seedFile, DEMO: '0' },
      [],
      dir,
    );
    const saved = process.env.DATABASE_DRIVER;
    process.env.DATABASE_DRIVER = 'drizzle';
    let app: App;
    try {
      app = await createApp(config, { log: () => {} });
    } finally {
      if (saved === undefined) delete process.env.DATABASE_DRIVER;
      else process.env.DATABASE_DRIVER = saved;
    }
    stops.push(() => app.close());
    expect(app.storage.driver).toBe('drizzle');
    await listAndRevoke(app);
  }, 120_000);
});

describe('the CLI', () => {
  interface Run {
    code: number;
    stdout: string;
    stderr: string;
  }
  function cli(args: string[], name: string): Promise<Run> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        ['--conditions=source', '--import', 'tsx', 'src/cli.ts', ...args],
        { cwd: PACKAGE_DIR, env: { ...process.env, ...env(name) }, timeout: 60_000 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
          resolve({ code, stdout: String(stdout), stderr: String(stderr) });
        },
      );
    });
  }

  it('lists and revokes a user grants, per client and all; refuses bad arguments', async () => {
    const app = await startInProcess('cli');
    const b = new CookieClient(app.url);
    const first = await codeFlow(b, app.url);
    const list = await cli(['grants', 'list', '--user', ALICE.subject, '--json'], 'cli');
    expect(list.code, list.stderr).toBe(0);
    const rows = JSON.parse(list.stdout) as { clientId: string; scopes: string[]; grants: number; lastIssuedAt: string }[];
    expect(rows).toHaveLength(1);
    expect(rows[0]!.clientId).toBe(CLIENT);
    expect([...rows[0]!.scopes].sort()).toEqual(['read', 'write']);
    expect(rows[0]!.grants).toBe(1);
    expect(Date.parse(rows[0]!.lastIssuedAt)).toBeGreaterThan(Date.now() - 600_000);
    const text = await cli(['grants', 'list', '--user', ALICE.subject], 'cli');
    expect(text.stdout).toContain(`"${CLIENT}"`);
    expect(text.stdout).not.toContain(first.access);

    const revoked = await cli(['grants', 'revoke', '--user', ALICE.subject, '--client', CLIENT], 'cli');
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toMatch(/Revoked 1 grant of user "u-alice" for client "interop-app"; remembered consents forgotten/);
    expect((await me(app.url, first.access)).status).toBe(401);
    // The consent the app remembered (shared state on the same database) is gone too.
    expect(await authorizeStatus(b)).toBe(200);
    expect(JSON.parse((await cli(['grants', 'list', '--user', ALICE.subject, '--json'], 'cli')).stdout)).toEqual([]);

    // All clients at once.
    const second = await codeFlow(b, app.url);
    const all = await cli(['grants', 'revoke', '--user', ALICE.subject], 'cli');
    expect(all.code, all.stderr).toBe(0);
    expect((await me(app.url, second.access)).status).toBe(401);
    const none = await cli(['grants', 'list', '--user', 'u-nobody'], 'cli');
    expect(none.stdout).toContain('No connected apps for user "u-nobody"');
    // Ids may start with "-" (generated client ids are base64url): taken as values, not options.
    const dash = await cli(['grants', 'revoke', '--user', '-u-dash', '--client', '-Xc9'], 'cli');
    expect(dash.code, dash.stderr).toBe(0);
    expect(dash.stdout).toMatch(/Revoked 0 grants? of user "-u-dash" for client "-Xc9"/);

    const nul = `u-${randomBytes(2).toString('hex')}\u0001`;
    for (const args of [
      ['grants', 'list'],
      ['grants', 'revoke', '--client', CLIENT],
      ['grants', 'list', '--user', 'x'.repeat(600)],
      ['grants', 'revoke', '--user', nul],
      ['grants', 'revoke', '--user', ALICE.subject, '--bogus'],
      ['grants', 'list', '--user', ALICE.subject, 'extra'],
    ]) {
      const r = await cli(args, 'cli');
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^Error: /);
    }
  }, 180_000);
});
