/** Starts the example as `pnpm start` does (a child process on a free loopback port) and uses it over HTTP. */
import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { generateClientSecret } from '@portcullis/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const cwd = fileURLToPath(new URL('..', import.meta.url));
const SECRET = generateClientSecret();
const BASIC = `Basic ${Buffer.from(`demo-app:${SECRET}`).toString('base64')}`;

function run(env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'src/main.ts'], {
    cwd,
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', ...env },
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
  proc = run({ APP_SECRET: SECRET });
  const end = Date.now() + 45_000;
  for (;;) {
    const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(proc.output());
    if (m) {
      url = m[1]!;
      break;
    }
    if (Date.now() > end || proc.child.exitCode !== null) throw new Error(`the example did not start:\n${proc.output()}`);
    await sleep(50);
  }
});

afterAll(async () => {
  if (proc && proc.child.exitCode === null && proc.child.signalCode === null) {
    proc.child.kill('SIGTERM');
    const code = await Promise.race([proc.exited, sleep(5000).then(() => 'timeout' as const)]);
    if (code === 'timeout') proc.child.kill('SIGKILL');
  }
});

describe('examples/hono', () => {
  it('issues a client_credentials token and answers the protected route with it (200), without it 401', async () => {
    const t = await fetch(`${url}/oauth/token`, {
      method: 'POST',
      headers: { authorization: BASIC, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&scope=read',
    });
    expect(t.status).toBe(200);
    const { access_token, token_type } = (await t.json()) as { access_token: string; token_type: string };
    expect(token_type).toBe('Bearer');

    const me = await fetch(`${url}/api/me`, { headers: { authorization: `Bearer ${access_token}` } });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ client: 'demo-app', scopes: ['read'] });

    const none = await fetch(`${url}/api/me`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm="/);
  });

  it('advertises its endpoints at the address it listens on', async () => {
    const m = await fetch(`${url}/.well-known/oauth-authorization-server`);
    expect(m.status).toBe(200);
    expect(await m.json()).toMatchObject({ issuer: url, token_endpoint: `${url}/oauth/token` });
  });

  it('refuses a wrong secret (401 invalid_client), a repeated parameter and a JSON body (400), and never prints the secret', async () => {
    const wrong = await fetch(`${url}/oauth/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`demo-app:${generateClientSecret()}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials',
    });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { error: string }).error).toBe('invalid_client');
    const repeated = await fetch(`${url}/oauth/token`, {
      method: 'POST',
      headers: { authorization: BASIC, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&grant_type=client_credentials',
    });
    expect(repeated.status).toBe(400);
    const json = await fetch(`${url}/oauth/token`, {
      method: 'POST',
      headers: { authorization: BASIC, 'content-type': 'application/json' },
      body: '{"grant_type":"client_credentials"}',
    });
    expect(json.status).toBe(400);
    expect(proc!.output()).not.toContain(SECRET);
  });

  it('will not start without APP_SECRET, and says why without a stack trace', async () => {
    const bad = run({ APP_SECRET: 'short' });
    expect(await bad.exited).toBe(1);
    expect(bad.output()).toContain('set APP_SECRET');
    expect(bad.output()).not.toContain('short');
  });
});
