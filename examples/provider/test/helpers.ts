import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { type App, createApp } from '../src/app.js';
import { parseConfig } from '../src/config.js';

/** A client secret with every character strict clients must form-encode in Basic credentials. */
export const TRICKY_SECRET = 'se:cr+et/%&= x';
export const ALICE = { username: 'alice', password: 'correct horse battery', subject: 'u-alice' };
/** Redirect URI of the test clients: never visited (tests read the Location header). */
export const CB = 'http://127.0.0.1:9/cb';

/** The seed every test app starts with. */
export const TEST_SEED = {
  clients: [
    {
      id: 'interop-app',
      secret: TRICKY_SECRET,
      redirectUris: [CB],
      grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
      tokenEndpointAuthMethod: 'client_secret_basic',
      scopes: ['read', 'write', 'admin'],
    },
    {
      id: 'interop-public',
      public: true,
      redirectUris: [CB],
      grantTypes: ['authorization_code', 'refresh_token'],
      scopes: ['read'],
    },
    {
      id: 'x<script>alert(1)</script>',
      public: true,
      redirectUris: [CB],
      grantTypes: ['authorization_code'],
      scopes: ['read', '<script>alert(2)</script>'],
    },
  ],
  users: [ALICE],
};

export interface Started {
  app: App;
  logs: string[];
  dir: string;
  close(): Promise<void>;
}

/** Starts the app on a free loopback port with a throwaway SQLite file and the test seed. */
export async function startApp(env: Record<string, string> = {}, seed: unknown = TEST_SEED): Promise<Started> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-example-'));
  const seedFile = join(dir, 'seed.json');
  await writeFile(seedFile, JSON.stringify(seed));
  const logs: string[] = [];
  const config = parseConfig({ PORT: '0', DATABASE_URL: `sqlite:${join(dir, 'db.sqlite')}`, SEED_FILE: seedFile, ...env }, [], dir);
  const app = await createApp(config, { log: (line) => logs.push(line) });
  return {
    app,
    logs,
    dir,
    close: async () => {
      await app.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" };

/** The value of a hidden input in a page. */
export function field(page: string, name: string): string {
  const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(page);
  if (!m) throw new Error(`no field ${name} in page`);
  return m[1]!.replace(/&(amp|lt|gt|quot|#39);/g, (e) => ENTITIES[e]!);
}

/** A minimal browser: keeps cookies, never follows redirects by itself. */
export class CookieClient {
  readonly cookies = new Map<string, string>();
  constructor(readonly base: string) {}

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const url = path.startsWith('http') ? path : `${this.base}${path}`;
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (/max-age=0/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  get(path: string): Promise<Response> {
    return this.fetch(path);
  }

  post(path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
    return this.fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form).toString(),
    });
  }
}

export function location(res: Response): string {
  expect([302, 303]).toContain(res.status);
  return res.headers.get('location')!;
}

/** Signs in through the login page. */
export async function signIn(b: CookieClient, username = ALICE.username, password = ALICE.password): Promise<void> {
  const page = await (await b.get('/login')).text();
  const r = await b.post('/login', { csrf: field(page, 'csrf'), username, password, return_to: '/' });
  expect(r.status).toBe(303);
}

export function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/**
 * Drives the authorization request through login (if needed) and the consent page, answering
 * `decision`. Returns the redirect back to the client.
 */
export async function authorizeThroughPages(
  b: CookieClient,
  authorizationUrl: string,
  decision: 'approve' | 'deny' = 'approve',
  user = ALICE,
): Promise<URL> {
  let r = await b.get(authorizationUrl);
  if (r.status === 302 && new URL(location(r), b.base).pathname === '/login') {
    const loginUrl = location(r);
    const page = await (await b.get(loginUrl)).text();
    r = await b.post('/login', {
      csrf: field(page, 'csrf'),
      username: user.username,
      password: user.password,
      return_to: field(page, 'return_to'),
    });
    r = await b.get(location(r));
  }
  expect(r.status).toBe(200);
  const consent = await r.text();
  r = await b.post('/oauth/authorize/decision', {
    csrf: field(consent, 'csrf'),
    consent: field(consent, 'consent'),
    decision,
  });
  return new URL(location(r));
}
