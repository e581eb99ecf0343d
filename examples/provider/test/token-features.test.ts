/**
 * PAR and DPoP across processes, and the token settings at start.
 *
 * Two app instances on one SQLite file and one grant cache (a throwaway Redis, then a throwaway
 * memcached), each with its own memory: a request pushed to one is shown, decided and used up by
 * the other, and a DPoP proof accepted by one is refused as a replay by the other. They share
 * nothing but the grant cache's server, so this holds only because the ephemeral store lives there.
 *
 * Then the app as `pnpm start` runs it, with bad token settings (a malformed key-encryption key,
 * a nonce secret with CR LF, an unknown RESOURCES entry): it exits 1 at once naming the setting,
 * and never prints the secret.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type MemcachedServer, type RedisServer, startMemcached, startRedis } from '@portcullis/binding-testkit/servers';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.js';
import { parseConfig } from '../src/config.js';
import { authorizeThroughPages, CB, CookieClient, TEST_SEED, TRICKY_SECRET } from './helpers.js';
import { PACKAGE_DIR } from './processes.js';

const ISSUER = 'http://auth.portcullis.test';
const QUIET = { log: () => {} };
const app: oauth.Client = { client_id: 'interop-app' };
const basic = oauth.ClientSecretBasic(TRICKY_SECRET);

let dir: string;
let seedFile: string;
const stops: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-token-features-'));
  seedFile = join(dir, 'seed.json');
  await writeFile(seedFile, JSON.stringify(TEST_SEED));
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Two instances on one database file and the grant cache `grantCache`, one after the other. */
async function twoInstances(name: string, grantCache: string): Promise<[App, App]> {
  const config = parseConfig(
    { PORT: '0', ISSUER, DATABASE_URL: `sqlite:${join(dir, `${name}.sqlite`)}`, GRANT_CACHE: grantCache, SEED_FILE: seedFile, DEMO: '0' },
    [],
    dir,
  );
  const a = await createApp(config, QUIET);
  stops.push(() => a.close());
  const b = await createApp(config, QUIET);
  stops.push(() => b.close());
  return [a, b];
}

/** oauth4webapi options sending every request to `to` instead of the issuer's host. */
function via(to: App, capture?: (headers: Headers) => void) {
  return {
    [oauth.allowInsecureRequests]: true,
    [oauth.customFetch]: (input: string | URL | Request, init?: RequestInit) => {
      capture?.(new Headers(init?.headers));
      return fetch(String(input instanceof Request ? input.url : input).replace(ISSUER, to.url), init);
    },
  } as const;
}

function crossProcessCases(instances: () => readonly [App, App]) {
  let as: oauth.AuthorizationServer;
  beforeAll(async () => {
    const [a] = instances();
    as = await oauth.processDiscoveryResponse(
      new URL(ISSUER),
      await oauth.discoveryRequest(new URL(ISSUER), { algorithm: 'oauth2', ...via(a) }),
    );
  });

  it('a request pushed to one instance is shown, decided and used up by the other; the code is redeemed at the first', async () => {
    const [a, b] = instances();
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const pushed = await oauth.processPushedAuthorizationResponse(
      as,
      app,
      await oauth.pushedAuthorizationRequest(
        as,
        app,
        basic,
        {
          response_type: 'code',
          redirect_uri: CB,
          scope: 'read',
          state,
          code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
        },
        via(a),
      ),
    );
    const authorize = `/oauth/authorize?${new URLSearchParams({ client_id: app.client_id, request_uri: pushed.request_uri })}`;
    const callback = await authorizeThroughPages(new CookieClient(b.url), authorize);
    const params = oauth.validateAuthResponse(as, app, callback, state);
    const tokens = await oauth.processAuthorizationCodeResponse(
      as,
      app,
      await oauth.authorizationCodeGrantRequest(as, app, basic, params, CB, verifier, via(a)),
    );
    expect(tokens.scope).toBe('read');
    // Used up by b: a refuses it too (an error page, no redirect).
    const again = await fetch(`${a.url}${authorize}`, { redirect: 'manual' });
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('invalid_request_uri');
  });

  it('a DPoP proof accepted by one instance is refused as a replay by the other', async () => {
    const [a, b] = instances();
    let proof = '';
    const dpop = oauth.DPoP(app, await oauth.generateKeyPair('ES256'));
    const first = await oauth.processClientCredentialsResponse(
      as,
      app,
      await oauth.clientCredentialsGrantRequest(
        as,
        app,
        basic,
        { scope: 'read' },
        { DPoP: dpop, ...via(a, (h) => (proof = h.get('dpop') ?? '')) },
      ),
    );
    expect(first.token_type).toBe('dpop');
    expect(proof.split('.')).toHaveLength(3);
    const replay = await fetch(`${b.url}/oauth/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`interop-app:${encodeURIComponent(TRICKY_SECRET).replace(/%20/g, '+')}`).toString('base64')}`,
        dpop: proof,
      },
      body: 'grant_type=client_credentials&scope=read',
    });
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as { error: string }).error).toBe('invalid_dpop_proof');
    // A fresh proof by the same key is fine at the other instance.
    const second = await oauth.processClientCredentialsResponse(
      as,
      app,
      await oauth.clientCredentialsGrantRequest(as, app, basic, { scope: 'read' }, { DPoP: dpop, ...via(b) }),
    );
    expect(second.token_type).toBe('dpop');
  });
}

describe('PAR and DPoP across instances on a Redis grant cache', () => {
  let redis: RedisServer | undefined;
  let pair: [App, App];
  beforeAll(async () => {
    let url = process.env.REDIS_URL;
    if (!url) {
      redis = await startRedis();
      stops.push(() => redis!.stop());
      url = redis.url;
    }
    pair = await twoInstances('redis', url);
  });
  crossProcessCases(() => pair);
});

describe('PAR and DPoP across instances on a memcached grant cache', () => {
  let memcached: MemcachedServer;
  let pair: [App, App];
  beforeAll(async () => {
    memcached = await startMemcached();
    stops.push(() => memcached.stop());
    pair = await twoInstances('memcached', `memcached://${memcached.address}`);
  });
  crossProcessCases(() => pair);
});

describe('bad token settings at start', () => {
  /** Runs the app as `pnpm start` does; its exit code and output (20 s at most). */
  async function start(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'src/main.ts'], {
      cwd: PACKAGE_DIR,
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DEMO: '0', DATABASE_URL: `sqlite:${join(dir, 'bad.sqlite')}`, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    clearTimeout(timer);
    return { code, out };
  }

  it('exits 1 naming the setting, without printing the secret', async () => {
    const key = `${randomBytes(32).toString('base64url').slice(0, 40)}!!!`;
    const nonce = `${randomBytes(24).toString('base64url')}\r\nX-Injected: 1`;
    const cases: [Record<string, string>, RegExp, string | null][] = [
      [{ ACCESS_TOKEN_FORMAT: 'jwt' }, /KEY_ENCRYPTION_KEY is required/, null],
      [{ ACCESS_TOKEN_FORMAT: 'jwt', KEY_ENCRYPTION_KEY: key }, /KEY_ENCRYPTION_KEY must be 32 random bytes/, key],
      [{ DPOP_NONCE_SECRET: nonce }, /DPOP_NONCE_SECRET holds/, nonce],
      [{ RESOURCES: 'https://api.example/#x' }, /RESOURCES: .* fragment/, null],
      [{ PAR: 'maybe' }, /PAR must be off, on, required/, null],
    ];
    for (const [env, message, secret] of cases) {
      const r = await start(env);
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/Configuration error: /);
      expect(r.out).toMatch(message);
      if (secret) {
        expect(r.out).not.toContain(secret);
        expect(r.out).not.toContain(secret.slice(0, 16));
      }
    }
  });
});
