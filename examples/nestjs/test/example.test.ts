/**
 * Builds the example with tsc (type-checked against the workspace sources, then emitted to dist/)
 * and runs dist/main.js as a child process on a free loopback port, then uses it over HTTP.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { generateClientSecret } from '@portcullis/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const cwd = fileURLToPath(new URL('..', import.meta.url));
const tsc = fileURLToPath(new URL('../../../node_modules/typescript/bin/tsc', import.meta.url));
const SECRET = generateClientSecret();
const BASIC = `Basic ${Buffer.from(`demo-app:${SECRET}`).toString('base64')}`;
const FORM = { authorization: BASIC, 'content-type': 'application/x-www-form-urlencoded' };

/** A port free on 127.0.0.1 right now (the app needs it up front: it is part of the issuer). */
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

function run(env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  // The workspace packages are loaded from their sources (tsx), so no package needs building first;
  // the example itself runs as tsc emitted it.
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'dist/main.js'], {
    cwd,
    env: { ...process.env, HOST: '127.0.0.1', ...env },
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

let proc: ReturnType<typeof run> | undefined;
let url = '';

beforeAll(async () => {
  const exec = promisify(execFile);
  rmSync(`${cwd}/dist`, { recursive: true, force: true });
  // Type-check against the workspace sources, then emit (--noCheck: the check is the line before,
  // and the emit must not need the packages' own dist/ builds).
  await exec(process.execPath, [tsc, '-p', 'tsconfig.json', '--noEmit'], { cwd, timeout: 180_000 });
  await exec(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--noCheck'], { cwd, timeout: 60_000 });

  const port = await freePort();
  proc = run({ APP_SECRET: SECRET, PORT: String(port) });
  const end = Date.now() + 45_000;
  while (!/listening on http:\/\/127\.0\.0\.1:\d+/.test(proc.output())) {
    if (Date.now() > end || proc.child.exitCode !== null) throw new Error(`the example did not start:\n${proc.output()}`);
    await sleep(50);
  }
  url = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  if (proc && proc.child.exitCode === null && proc.child.signalCode === null) {
    proc.child.kill('SIGTERM');
    const code = await Promise.race([proc.exited, sleep(5000).then(() => 'timeout' as const)]);
    if (code === 'timeout') proc.child.kill('SIGKILL');
  }
});

async function token(scope: string): Promise<string> {
  const r = await fetch(`${url}/oauth/token`, { method: 'POST', headers: FORM, body: `grant_type=client_credentials&scope=${scope}` });
  expect(r.status).toBe(200);
  const body = (await r.json()) as { access_token: string; token_type: string; scope: string };
  expect(body.token_type).toBe('Bearer');
  expect(body.scope).toBe(scope);
  return body.access_token;
}

describe('examples/nestjs', () => {
  it('issues a client_credentials token through the Express adapter and OAuthGuard lets it in (request.oauth)', async () => {
    const t = await token('read');
    const me = await fetch(`${url}/api/me`, { headers: { authorization: `Bearer ${t}` } });
    expect(me.status).toBe(200);
    expect(await me.json()).toEqual({ client: 'demo-app', scopes: ['read'] });
  });

  it('answers RFC 6750 errors from the guard: 401 without or with a bad token, 403 insufficient_scope', async () => {
    const none = await fetch(`${url}/api/me`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm="/);
    expect(await none.json()).toEqual({ error: 'invalid_token', error_description: 'A bearer token is required' });

    const bad = await fetch(`${url}/api/me`, { headers: { authorization: 'Bearer not-a-token' } });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toContain('error="invalid_token"');

    const t = await token('read');
    const admin = await fetch(`${url}/api/admin`, { headers: { authorization: `Bearer ${t}` } });
    expect(admin.status).toBe(403);
    expect(admin.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    expect(((await admin.json()) as { error: string }).error).toBe('insufficient_scope');
    const w = await token('write');
    expect((await fetch(`${url}/api/admin`, { headers: { authorization: `Bearer ${w}` } })).status).toBe(200);
  });

  it('serves introspection, revocation and metadata at the issuer it was given', async () => {
    const t = await token('read');
    const active = await fetch(`${url}/oauth/introspect`, { method: 'POST', headers: FORM, body: `token=${t}` });
    expect(await active.json()).toMatchObject({ active: true, client_id: 'demo-app' });
    expect((await fetch(`${url}/oauth/revoke`, { method: 'POST', headers: FORM, body: `token=${t}` })).status).toBe(200);
    expect((await fetch(`${url}/api/me`, { headers: { authorization: `Bearer ${t}` } })).status).toBe(401);
    const m = await fetch(`${url}/.well-known/oauth-authorization-server`);
    expect(await m.json()).toMatchObject({ issuer: url, token_endpoint: `${url}/oauth/token` });
  });

  it('refuses hostile token requests with OAuth errors, not Nest errors', async () => {
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
      body: 'a%0D%0AX-Evil:%201=1&grant_type=client_credentials',
    });
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
    const get = await fetch(`${url}/oauth/token`);
    expect(get.status).toBe(405);
  });

  it("answers a throwing handler with Nest's generic 500, not its message, and keeps the secret out of the output", async () => {
    const t = await token('read');
    const r = await fetch(`${url}/api/boom`, { headers: { authorization: `Bearer ${t}` } });
    expect(r.status).toBe(500);
    expect(await r.text()).not.toContain('route handler failed');
    expect(proc!.output()).not.toContain(SECRET);
  });
});
