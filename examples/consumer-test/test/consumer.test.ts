/**
 * The packages as a user gets them: every publishable package is built and packed (`pnpm pack`,
 * as it is published), the tarballs are installed with npm into a fresh project in a temporary
 * directory outside the workspace, and from there the root README's quick start and a
 * Sequelize-on-SQLite provider answer real token requests over HTTP on 127.0.0.1. It also
 * require()s every package from CommonJS (Node 20.19+ loads ESM that way without a flag).
 * Nothing here is skipped: a missing tool or an older Node fails the suite.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../..');
const SECRET = 'consumer-secret-0123456789-0123456789';

/** Runs a command to its end within `timeout` ms; rejects with its output on failure. */
function run(command: string, args: string[], options: { cwd: string; timeout: number; env?: NodeJS.ProcessEnv }): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      command,
      args,
      { cwd: options.cwd, timeout: options.timeout, env: options.env ?? process.env, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${command} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
        else resolvePromise(stdout);
      },
    );
  });
}

function readJson(file: string): Record<string, unknown> & { name: string; private?: boolean } {
  return JSON.parse(readFileSync(file, 'utf8'));
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  await new Promise((r) => server.close(r));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Starts `node <file>` in the app and waits (at most 30 s) until it prints `listening`. */
async function startApp(cwd: string, file: string, env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, [file], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise<void>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} did not start within 30 s:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('listening')) {
        clearTimeout(timer);
        resolvePromise();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited with ${code}:\n${output}`));
    });
  });
  return child;
}

async function stopApp(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** The first ```ts block under the README heading, the quick start users copy. */
function quickStartFromReadme(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.split('## A provider in a few lines')[1];
  const block = section?.match(/```ts\n([\s\S]*?)```/)?.[1];
  if (block === undefined) throw new Error('README.md has no ```ts block under "## A provider in a few lines"');
  return block;
}

const basic = `Basic ${Buffer.from(`app:${SECRET}`).toString('base64')}`;

async function tokenRequest(base: string, params: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('the packed packages, installed with npm outside the workspace', () => {
  let work: string;
  let app: string;
  const names: string[] = [];
  const started: ChildProcess[] = [];

  beforeAll(async () => {
    const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
    if (major < 20 || (major === 20 && minor < 19)) throw new Error(`Node ${process.versions.node}: the packages need Node 20.19 or later`);

    work = mkdtempSync(join(tmpdir(), 'portcullis-consumer-'));
    const tarballs = join(work, 'tarballs');
    app = join(work, 'app');
    mkdirSync(tarballs);
    mkdirSync(app);

    await run('pnpm', ['turbo', 'run', 'build', '--filter=./packages/*'], { cwd: root, timeout: 300_000 });
    const dependencies: Record<string, string> = {};
    for (const dir of readdirSync(join(root, 'packages'))) {
      const pkg = readJson(join(root, 'packages', dir, 'package.json'));
      if (pkg.private) continue;
      const out = await run('pnpm', ['pack', '--pack-destination', tarballs, '--json'], {
        cwd: join(root, 'packages', dir),
        timeout: 120_000,
      });
      dependencies[pkg.name] = `file:${(JSON.parse(out) as { filename: string }).filename}`;
      names.push(pkg.name);
    }
    // The third-party peers, at the ranges the workspace tests with.
    const devDependencies = (dir: string) =>
      readJson(join(root, 'packages', dir, 'package.json')).devDependencies as Record<string, string>;
    for (const [dir, dep] of [
      ['binding-sequelize', 'sequelize'],
      ['binding-sequelize', 'sqlite3'],
      ['binding-mongoose', 'mongoose'],
      ['binding-drizzle', 'drizzle-orm'],
      ['grant-cache-redis', 'redis'],
      ['grant-cache-memcached', 'memjs'],
      ['fastify', 'fastify'],
      ['koa', 'koa'],
      ['hono', 'hono'],
    ] as const) {
      dependencies[dep] = devDependencies(dir)[dep] as string;
    }
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies }, null, 2));
    cpSync(join(here, '../app'), app, { recursive: true });
    // The README's quick start, type annotations removed (as a user's build would).
    const quickStart = ts.transpileModule(quickStartFromReadme(), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    writeFileSync(join(app, 'quick-start.mjs'), quickStart);

    // sqlite3 compiles from source (about a minute): node-gyp uses the local Node headers.
    const nodedir = resolve(process.execPath, '..', '..');
    await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: app,
      timeout: 540_000,
      env: { ...process.env, npm_config_nodedir: process.env.npm_config_nodedir ?? nodedir },
    });
  });

  afterAll(async () => {
    await Promise.all(started.map(stopApp));
    if (work !== undefined && !process.env.KEEP_CONSUMER_DIR) rmSync(work, { recursive: true, force: true });
  });

  it('packs every publishable package, each without the workspace-only source condition', () => {
    expect(names.sort()).toEqual([
      '@portcullis/admin',
      '@portcullis/binding-drizzle',
      '@portcullis/binding-mongoose',
      '@portcullis/binding-prisma',
      '@portcullis/binding-sequelize',
      '@portcullis/binding-testkit',
      '@portcullis/core',
      '@portcullis/fastify',
      '@portcullis/grant-cache-memcached',
      '@portcullis/grant-cache-memory',
      '@portcullis/grant-cache-redis',
      '@portcullis/hono',
      '@portcullis/koa',
      '@portcullis/resource-server',
    ]);
    for (const name of names) {
      const pkg = readJson(join(app, 'node_modules', name, 'package.json'));
      expect(JSON.stringify(pkg.exports), name).not.toContain('source');
      expect(JSON.stringify(pkg), name).not.toContain('workspace:');
      expect(readFileSync(join(app, 'node_modules', name, 'LICENSE'), 'utf8')).toBe(readFileSync(join(root, 'LICENSE'), 'utf8'));
    }
  });

  it('require()s every package from CommonJS, with the same exports as import', async () => {
    const required = JSON.parse(await run(process.execPath, ['require-all.cjs', ...names], { cwd: app, timeout: 60_000 })) as Record<
      string,
      string[]
    >;
    const imported = JSON.parse(
      await run(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const o = {}; for (const n of ${JSON.stringify(names)}) o[n] = Object.keys(await import(n)).sort(); console.log(JSON.stringify(o));`,
        ],
        { cwd: app, timeout: 60_000 },
      ),
    ) as Record<string, string[]>;
    expect(required).toEqual(imported);
    expect(required['@portcullis/core']).toEqual(expect.arrayContaining(['OAuth2Provider', 'bindCacheGrant', 'toNodeHandler']));
    expect(required['@portcullis/binding-sequelize']).toContain('bindSequelize');
    expect(required['@portcullis/binding-mongoose']).toContain('bindMongoose');
    expect(required['@portcullis/binding-drizzle']).toEqual(expect.arrayContaining(['createDrizzleStores', 'bindDrizzle']));
    expect(required['@portcullis/binding-prisma']?.length).toBeGreaterThan(0);
    expect(required['@portcullis/grant-cache-memory']).toContain('createMemoryGrantCache');
    expect(required['@portcullis/grant-cache-redis']).toContain('createRedisGrantCache');
    expect(required['@portcullis/grant-cache-memcached']).toContain('createMemcachedGrantCache');
    expect(required['@portcullis/binding-testkit']?.length).toBeGreaterThan(0);
    expect(required['@portcullis/resource-server']).toEqual(
      expect.arrayContaining(['createVerifier', 'requireOAuth', 'requireOAuthFetch']),
    );
    expect(required['@portcullis/fastify']).toEqual(['portcullis', 'requireOAuth']);
    expect(required['@portcullis/koa']).toEqual(['oauthEndpoints', 'requireOAuth']);
    expect(required['@portcullis/hono']).toEqual(['oauthEndpoints', 'requireOAuth']);
    expect(required['@portcullis/admin']).toEqual([
      'ADMIN_BODY_LIMIT',
      'ADMIN_MAX_PAGE',
      'adminOpenApi',
      'createAdminApi',
      'createAdminFetchHandler',
      'createAdminHandler',
    ]);
  });

  it('loads the compiled JavaScript even for a tool that enables the source condition', async () => {
    const out = await run(
      process.execPath,
      [
        '--conditions=source',
        '--input-type=module',
        '-e',
        `console.log(JSON.stringify(${JSON.stringify(names)}.map((n) => import.meta.resolve(n))))`,
      ],
      { cwd: app, timeout: 30_000 },
    );
    for (const url of JSON.parse(out) as string[]) expect(url).toMatch(/\/dist\/index\.js$/);
  });

  it("runs the README's quick start: a client_credentials token, then the protected route", async () => {
    const port = await freePort();
    const file = join(app, 'quick-start.mjs');
    const source = readFileSync(file, 'utf8');
    expect(source).toContain('3000');
    writeFileSync(file, `${source.replaceAll('3000', String(port))}\nconsole.log('listening');\n`);
    started.push(await startApp(app, 'quick-start.mjs', { APP_SECRET: SECRET }));
    const base = `http://127.0.0.1:${port}`;

    const token = await tokenRequest(base, { grant_type: 'client_credentials', scope: 'read' });
    expect(token.status).toBe(200);
    expect(token.body.token_type).toBe('Bearer');
    const me = await fetch(`${base}/api/me`, { headers: { authorization: `Bearer ${token.body.access_token}` } });
    expect(me.status).toBe(200);
    expect(await me.text()).toBe('hi');
    expect((await fetch(`${base}/api/me`, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
  });

  it('runs a provider on Sequelize + SQLite with bindCacheGrant: client_credentials and authorization code with PKCE', async () => {
    const port = await freePort();
    started.push(
      await startApp(app, 'sequelize-provider.mjs', { PORT: String(port), APP_SECRET: SECRET, SQLITE_FILE: join(work, 'oauth.sqlite') }),
    );
    const base = `http://127.0.0.1:${port}`;

    const cc = await tokenRequest(base, { grant_type: 'client_credentials', scope: 'read' });
    expect(cc.status).toBe(200);
    const ccMe = await fetch(`${base}/api/me`, { headers: { authorization: `Bearer ${cc.body.access_token}` } });
    expect(await ccMe.json()).toEqual({ client: 'app', user: null });

    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const redirectUri = 'http://127.0.0.1/cb';
    const authorize = new URL(`${base}/oauth/authorize`);
    for (const [k, v] of Object.entries({
      response_type: 'code',
      client_id: 'app',
      redirect_uri: redirectUri,
      scope: 'read',
      state: 'st',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    })) {
      authorize.searchParams.set(k, v);
    }
    const redirect = await fetch(authorize, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    const location = new URL(redirect.headers.get('location') ?? '');
    expect(location.searchParams.get('state')).toBe('st');
    const code = location.searchParams.get('code') ?? '';
    expect(code).not.toBe('');

    const exchange = { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier };
    const token = await tokenRequest(base, exchange);
    expect(token.status).toBe(200);
    expect(typeof token.body.refresh_token).toBe('string');
    const me = await fetch(`${base}/api/me`, { headers: { authorization: `Bearer ${token.body.access_token}` } });
    expect(await me.json()).toEqual({ client: 'app', user: 'u-consumer' });
    const refreshed = await tokenRequest(base, { grant_type: 'refresh_token', refresh_token: token.body.refresh_token as string });
    expect(refreshed.status).toBe(200);
    const bearer = { authorization: `Bearer ${refreshed.body.access_token}` };
    expect((await fetch(`${base}/api/me`, { headers: bearer })).status).toBe(200);

    // The memory grant cache keeps a consumed marker: a replayed code is refused, and the tokens
    // minted from it (in SQLite) are revoked.
    const again = await tokenRequest(base, exchange);
    expect(again.status).toBe(400);
    expect(again.body.error).toBe('invalid_grant');
    expect((await fetch(`${base}/api/me`, { headers: bearer })).status).toBe(401);
  });
});
