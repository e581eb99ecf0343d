/**
 * Runs `next build` and `next start` on a free loopback port (as `pnpm build && pnpm start` does)
 * and calls the route handlers over HTTP.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { generateClientSecret } from '@portcullis/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const cwd = fileURLToPath(new URL('..', import.meta.url));
const next = fileURLToPath(new URL('../node_modules/next/dist/bin/next', import.meta.url));
const SECRET = generateClientSecret();
const BASIC = `Basic ${Buffer.from(`demo-app:${SECRET}`).toString('base64')}`;
const FORM = { authorization: BASIC, 'content-type': 'application/x-www-form-urlencoded' };

/** A port free on 127.0.0.1 right now (the issuer must be known before the server starts). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

type Proc = { child: ChildProcess; output: () => string; exited: Promise<number | null> };

function run(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, [next, ...args], {
    cwd,
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

async function stop(p: Proc | undefined): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const r = await Promise.race([p.exited, sleep(5000).then(() => 'timeout' as const)]);
  if (r === 'timeout') p.child.kill('SIGKILL');
}

let build: Proc | undefined;
let server: Proc | undefined;
let url = '';

beforeAll(async () => {
  rmSync(`${cwd}/.next`, { recursive: true, force: true });
  // No APP_SECRET at build time: the provider is made on the first request, not when Next imports the routes.
  build = run(['build'], { APP_SECRET: '' });
  const code = await Promise.race([build.exited, sleep(400_000).then(() => 'timeout' as const)]);
  if (code !== 0) {
    await stop(build);
    throw new Error(`next build ${code === 'timeout' ? 'timed out' : `exited ${code}`}:\n${build.output()}`);
  }

  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  server = run(['start', '-p', String(port), '-H', '127.0.0.1'], { APP_SECRET: SECRET, ISSUER: url });
  const end = Date.now() + 60_000;
  for (;;) {
    if (server.child.exitCode !== null) throw new Error(`next start exited:\n${server.output()}`);
    const ok = await fetch(`${url}/.well-known/oauth-authorization-server`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (Date.now() > end) throw new Error(`next start did not answer in 60 s:\n${server.output()}`);
    await sleep(200);
  }
});

afterAll(async () => {
  await stop(server);
  await stop(build);
});

async function token(scope: string): Promise<string> {
  const r = await fetch(`${url}/oauth/token`, { method: 'POST', headers: FORM, body: `grant_type=client_credentials&scope=${scope}` });
  expect(r.status).toBe(200);
  expect(r.headers.get('cache-control')).toBe('no-store');
  const body = (await r.json()) as { access_token: string; token_type: string; scope: string };
  expect(body.token_type).toBe('Bearer');
  expect(body.scope).toBe(scope);
  return body.access_token;
}

describe('examples/nextjs', () => {
  it('issues a client_credentials token from the route handler and the protected route handler answers 200 with it', async () => {
    const t = await token('read');
    const me = await fetch(`${url}/api/me`, { headers: { authorization: `Bearer ${t}` } });
    expect(me.status).toBe(200);
    expect(await me.json()).toEqual({ client: 'demo-app', scopes: ['read'] });
  });

  it('answers the protected route 401 without or with a bad token and 403 insufficient_scope without the scope', async () => {
    const none = await fetch(`${url}/api/me`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm="/);
    const bad = await fetch(`${url}/api/me`, { headers: { authorization: 'Bearer not-a-token' } });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toContain('error="invalid_token"');
    const w = await token('write');
    const scope = await fetch(`${url}/api/me`, { headers: { authorization: `Bearer ${w}` } });
    expect(scope.status).toBe(403);
    expect(scope.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
  });

  it('serves metadata at the issuer, introspection and revocation', async () => {
    const m = await fetch(`${url}/.well-known/oauth-authorization-server`);
    expect(await m.json()).toMatchObject({ issuer: url, token_endpoint: `${url}/oauth/token` });
    const t = await token('read');
    const active = await fetch(`${url}/oauth/introspect`, { method: 'POST', headers: FORM, body: `token=${t}` });
    expect(await active.json()).toMatchObject({ active: true, client_id: 'demo-app' });
    expect((await fetch(`${url}/oauth/revoke`, { method: 'POST', headers: FORM, body: `token=${t}` })).status).toBe(200);
    expect((await fetch(`${url}/api/me`, { headers: { authorization: `Bearer ${t}` } })).status).toBe(401);
  });

  it('answers hostile requests with OAuth errors: repeat, CR/LF name, 70 KB body, JSON body, wrong method, unknown path', async () => {
    const repeated = await fetch(`${url}/oauth/token`, {
      method: 'POST',
      headers: FORM,
      body: 'grant_type=client_credentials&scope=read&scope=read',
    });
    expect(repeated.status).toBe(400);
    expect(await repeated.json()).toMatchObject({ error: 'invalid_request' });
    const cr = await fetch(`${url}/oauth/token`, {
      method: 'POST',
      headers: FORM,
      body: 'a%0D%0AX-Evil:%201=1&a%0D%0AX-Evil:%201=2&grant_type=client_credentials',
    });
    expect(cr.status).toBe(400);
    expect(cr.headers.get('x-evil')).toBeNull();
    const big = await fetch(`${url}/oauth/token`, {
      method: 'POST',
      headers: FORM,
      body: `grant_type=client_credentials&pad=${'x'.repeat(70_000)}`,
    });
    expect(big.status).toBe(413);
    const json = await fetch(`${url}/oauth/token`, {
      method: 'POST',
      headers: { authorization: BASIC, 'content-type': 'application/json' },
      body: '{"grant_type":"client_credentials"}',
    });
    expect(json.status).toBe(400);
    expect(await json.json()).toMatchObject({ error: 'invalid_request' });
    expect((await fetch(`${url}/oauth/token`)).status).toBe(405);
    const unknown = await fetch(`${url}/oauth/nothing-here`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: 'not_found' });
    expect(server!.output()).not.toContain(SECRET);
  });
});
