/**
 * `REGISTRATION_UNUSED_WINDOW` (issue 15): the purge removes self-registered clients that never
 * got a token within the window of registering, on the default SQLite database, over HTTP.
 *
 * - Two clients register; one gets a token, the other never. The clock is moved past the window
 *   (only `Date` is faked: sockets and timers run as usual) and the purge runs: the unused
 *   client's registration access token now gets 401 and its secret `invalid_client`; the used
 *   one, a client registered since, and the seeded clients stay.
 * - `REGISTRATION_UNUSED_WINDOW=off` keeps them all.
 * - Bad values are refused by `parseConfig` and at start (exit 1), naming the setting.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { basicAuth } from '@portcullis/binding-testkit';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, parseConfig } from '../src/config.js';
import { type Started, startApp } from './helpers.js';
import { PACKAGE_DIR, postForm } from './processes.js';

const DAY = 86_400_000;
const started: Started[] = [];

afterEach(() => {
  vi.useRealTimers();
});
afterAll(async () => {
  for (const s of started) await s.close().catch(() => {});
});

async function start(env: Record<string, string>): Promise<Started> {
  const s = await startApp({ DEMO: '0', REGISTRATION: 'open', ...env });
  started.push(s);
  return s;
}

type Registered = { client_id: string; client_secret: string; registration_access_token: string; registration_client_uri: string };

async function register(s: Started): Promise<Registered> {
  const r = await fetch(`${s.app.url}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_types: ['client_credentials'], scope: 'read' }),
  });
  expect(r.status).toBe(201);
  return (await r.json()) as Registered;
}

const token = (s: Started, c: Registered) =>
  postForm(`${s.app.url}/oauth/token`, basicAuth(c.client_id, c.client_secret), { grant_type: 'client_credentials', scope: 'read' });
const readConfiguration = (s: Started, c: Registered) =>
  fetch(c.registration_client_uri.replace(s.app.issuer, s.app.url), {
    headers: { authorization: `Bearer ${c.registration_access_token}` },
  });

/** Moves `Date` (only) `ms` ahead of the real clock. */
function advance(ms: number): void {
  const now = Date.now();
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(now + ms);
}

describe('REGISTRATION_UNUSED_WINDOW', () => {
  it('the purge removes a never-used registered client after the window (default 7 days); used, young and seeded clients stay', async () => {
    const s = await start({});
    const seeded = (await s.app.storage.listClients()).map((c) => c.id);
    const unused = await register(s);
    const used = await register(s);
    expect((await token(s, used)).status).toBe(200);

    // Six days on: still within the window.
    advance(6 * DAY);
    expect(await s.app.purge()).toMatchObject({ ran: true, unusedClients: 0 });
    expect((await readConfiguration(s, unused)).status).toBe(200);

    advance(8 * DAY);
    const young = await register(s);
    expect(await s.app.purge()).toMatchObject({ ran: true, unusedClients: 1 });

    const gone = await readConfiguration(s, unused);
    expect(gone.status).toBe(401);
    expect(gone.headers.get('www-authenticate')).toMatch(/invalid_token/);
    const refused = await token(s, unused);
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe('invalid_client');

    expect((await readConfiguration(s, used)).status).toBe(200);
    expect((await token(s, used)).status).toBe(200);
    expect((await readConfiguration(s, young)).status).toBe(200);
    const left = (await s.app.storage.listClients()).map((c) => c.id);
    for (const id of [...seeded, used.client_id, young.client_id]) expect(left).toContain(id);
    expect(left).not.toContain(unused.client_id);
    expect(s.logs.join('\n')).toMatch(/purged never-used registered clients/);
    for (const secret of [unused.client_secret, unused.registration_access_token]) expect(s.logs.join('\n')).not.toContain(secret);
  });

  it('a window of 1h removes the client an hour on; off keeps it', async () => {
    const short = await start({ REGISTRATION_UNUSED_WINDOW: '1h' });
    const never = await start({ REGISTRATION_UNUSED_WINDOW: 'off' });
    const a = await register(short);
    const b = await register(never);
    advance(2 * 3_600_000);
    expect(await short.app.purge()).toMatchObject({ ran: true, unusedClients: 1 });
    expect((await readConfiguration(short, a)).status).toBe(401);
    advance(3650 * DAY);
    expect(await never.app.purge()).toMatchObject({ ran: true, unusedClients: 0 });
    expect((await readConfiguration(never, b)).status).toBe(200);
  });
});

describe('bad REGISTRATION_UNUSED_WINDOW values', () => {
  it('parseConfig refuses them naming the setting', () => {
    const bad = ['-1', '7 days', '1e3', 'soon', '1.5d', '3651d', '99999999999999999999d', `7d${'\u0000'}`, '0x10', '', 'x'.repeat(100)];
    for (const v of bad) {
      let err: unknown;
      try {
        parseConfig({ REGISTRATION_UNUSED_WINDOW: v }, [], '/tmp');
      } catch (e) {
        err = e;
      }
      if (v === '') {
        // An empty value is the same as unset (as for every setting): the default.
        expect(err).toBeUndefined();
        continue;
      }
      expect(err, JSON.stringify(v)).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(/REGISTRATION_UNUSED_WINDOW must be/);
    }
    const at = (v?: string) => parseConfig(v === undefined ? {} : { REGISTRATION_UNUSED_WINDOW: v }, [], '/tmp').registration.unusedWindow;
    expect(at()).toBe(7 * 86_400);
    expect(at('')).toBe(7 * 86_400);
    expect(at('0')).toBe(0);
    expect(at('OFF')).toBe(0);
    expect(at('90m')).toBe(5400);
    expect(at('3650d')).toBe(3650 * 86_400);
  });

  it('the app exits 1 at start with a clear message', async () => {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'src/main.ts'], {
      cwd: PACKAGE_DIR,
      env: {
        ...process.env,
        PORT: '0',
        HOST: '127.0.0.1',
        DEMO: '0',
        DATABASE_URL: `sqlite:${join(tmpdir(), `portcullis-never-${randomBytes(4).toString('hex')}.sqlite`)}`,
        REGISTRATION: 'open',
        REGISTRATION_UNUSED_WINDOW: 'a week',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    clearTimeout(timer);
    expect(code).toBe(1);
    expect(out).toMatch(/Configuration error: .*REGISTRATION_UNUSED_WINDOW must be/);
  });
});
