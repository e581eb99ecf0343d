/**
 * `auth_time` in JWT access tokens (RFC 9068 section 2.2.1): the app records when a user signs in
 * on the session (`signedInAt`) and passes it as `authTime` to every approval, so the tokens of a
 * code flow (the consent page and the remembered-consent shortcut), of the device flow and of
 * their refreshes carry the sign-in time, not the time of the approval.
 *
 * With `ACCESS_TOKEN_FORMAT=jwt` and `REMEMBER_CONSENT=1`, once with `STATE_STORE=memory` and once
 * with `STATE_STORE=shared` (records in the SQLite database), over HTTP on 127.0.0.1. On the shared
 * state, a session's refresh writes keep the sign-in time, and a session record written before the
 * app kept it still works: its tokens simply have no `auth_time`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { basicAuth } from '@portcullis/binding-testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEVICE_GRANT } from '../src/routes/device.js';
import {
  ALICE,
  authorizeThroughPages,
  CB,
  CookieClient,
  field,
  location,
  type Started,
  startApp,
  TEST_SEED,
  TRICKY_SECRET,
} from './helpers.js';
import { authorizationRequest, postForm } from './processes.js';

const CLIENT = 'interop-app';
const BASIC = basicAuth(CLIENT, TRICKY_SECRET);
const DEVICE_CLIENT = 'tv-app';
const DEVICE_SECRET = 'tv-secret-auth-time';
const DEVICE_BASIC = basicAuth(DEVICE_CLIENT, DEVICE_SECRET);
const BOB = { username: 'bob', password: 'bob password 123', subject: 'u-bob' };
const SEED = {
  clients: [
    ...TEST_SEED.clients,
    { id: DEVICE_CLIENT, secret: DEVICE_SECRET, grantTypes: [DEVICE_GRANT, 'refresh_token'], scopes: ['read'] },
  ],
  users: [...TEST_SEED.users, BOB],
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The claims of a JWT access token (its signature is not the point here: the app issued it). */
function claims(token: string): Record<string, unknown> {
  const parts = token.split('.');
  expect(parts).toHaveLength(3);
  return JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** When a sign-in happened, in whole seconds: from the second before the login request to the second after it. */
interface SignInWindow {
  readonly from: number;
  readonly to: number;
}

/** Signs in through the login page; the window the sign-in time falls in. */
async function timedSignIn(b: CookieClient, user = ALICE): Promise<SignInWindow> {
  const page = await (await b.get('/login')).text();
  const before = Date.now();
  const r = await b.post('/login', { csrf: field(page, 'csrf'), username: user.username, password: user.password, return_to: '/' });
  const after = Date.now();
  expect(r.status).toBe(303);
  return { from: Math.floor(before / 1000), to: Math.floor(after / 1000) };
}

/** The `auth_time` of an access token, checked to be whole seconds within `w`. */
function authTimeIn(token: string, w: SignInWindow): number {
  const c = claims(token);
  expect(c.auth_time).toBeTypeOf('number');
  const t = c.auth_time as number;
  expect(Number.isInteger(t)).toBe(true);
  expect(t).toBeGreaterThanOrEqual(w.from);
  expect(t).toBeLessThanOrEqual(w.to);
  expect(c.iat as number).toBeGreaterThanOrEqual(t);
  return t;
}

interface Tokens {
  readonly access: string;
  readonly refresh: string;
}

/** A token request with client credentials: the access and refresh tokens of its answer. */
async function tokenRequest(base: string, authorization: string, params: Record<string, string>): Promise<Tokens> {
  const r = await postForm(`${base}/oauth/token`, authorization, params);
  expect(r.status).toBe(200);
  expect(r.body.refresh_token).toBeTypeOf('string');
  return { access: String(r.body.access_token), refresh: String(r.body.refresh_token) };
}

function redeem(base: string, code: string | null, verifier: string): Promise<Tokens> {
  expect(code).toBeTruthy();
  return tokenRequest(base, BASIC, { grant_type: 'authorization_code', code: code!, redirect_uri: CB, code_verifier: verifier });
}

function refresh(base: string, authorization: string, refreshToken: string): Promise<Tokens> {
  return tokenRequest(base, authorization, { grant_type: 'refresh_token', refresh_token: refreshToken });
}

/** A code flow for `CLIENT` through the pages (the consent page, approved): its tokens. */
async function codeFlow(b: CookieClient, user = ALICE): Promise<Tokens> {
  const { url, verifier } = authorizationRequest(CLIENT, { scope: 'read' });
  const callback = await authorizeThroughPages(b, url, 'approve', user);
  return redeem(b.base, callback.searchParams.get('code'), verifier);
}

/** A code flow for `CLIENT` answered at once from the remembered consent (no consent page): its tokens. */
async function rememberedFlow(b: CookieClient): Promise<Tokens> {
  const { url, verifier } = authorizationRequest(CLIENT, { scope: 'read' });
  const callback = new URL(location(await b.get(url)));
  expect(`${callback.origin}${callback.pathname}`).toBe(CB);
  return redeem(b.base, callback.searchParams.get('code'), verifier);
}

/** The shared state's record key of a browser's session (a digest of its cookie, as `sharedState` keys it). */
function sessionRecord(b: CookieClient): string {
  return `session:${createHash('sha256').update(b.cookies.get('pc_session')!).digest('base64url')}`;
}

for (const store of ['memory', 'shared'] as const) {
  describe(`auth_time with STATE_STORE=${store}`, () => {
    let s: Started;

    beforeAll(async () => {
      s = await startApp(
        {
          ACCESS_TOKEN_FORMAT: 'jwt',
          KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
          REMEMBER_CONSENT: '1',
          STATE_STORE: store,
          DEMO: '0',
        },
        SEED,
      );
    });
    afterAll(async () => {
      await s?.close();
    });

    it('a code flow: the sign-in time, not the approval time, kept by refreshes and the remembered consent', async () => {
      const base = s.app.url;
      expect(new URL(base).hostname).toBe('127.0.0.1');
      const b = new CookieClient(base);
      const signedIn = await timedSignIn(b);
      await sleep(1100); // the approval falls in a later second than the sign-in

      const first = await codeFlow(b);
      const authTime = authTimeIn(first.access, signedIn);
      expect(claims(first.access)).toMatchObject({ sub: ALICE.subject, client_id: CLIENT, scope: 'read' });
      expect(claims(first.access).iat as number).toBeGreaterThan(authTime);
      expect((await fetch(`${base}/api/me`, { headers: { authorization: `Bearer ${first.access}` } })).status).toBe(200);

      const refreshed = await refresh(base, BASIC, first.refresh);
      expect(refreshed.access).not.toBe(first.access);
      expect(claims(refreshed.access).auth_time).toBe(authTime);
      expect(claims((await refresh(base, BASIC, refreshed.refresh)).access).auth_time).toBe(authTime);

      // The consent is remembered: the request is answered at once, with the same sign-in time.
      const remembered = await rememberedFlow(b);
      expect(claims(remembered.access).auth_time).toBe(authTime);
      expect(claims((await refresh(base, BASIC, remembered.refresh)).access).auth_time).toBe(authTime);

      // Signing in again (a new session) moves it on.
      const again = await timedSignIn(b);
      expect(again.from).toBeGreaterThan(authTime);
      expect(authTimeIn((await rememberedFlow(b)).access, again)).toBeGreaterThan(authTime);
    });

    it('the device flow: the sign-in time of the session that approved, kept by a refresh', async () => {
      const base = s.app.url;
      const r = await fetch(`${base}/oauth/device_authorization`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: DEVICE_BASIC },
        body: new URLSearchParams({ scope: 'read' }).toString(),
      });
      expect(r.status).toBe(200);
      const d = (await r.json()) as { device_code: string; user_code: string };

      const b = new CookieClient(base);
      const signedIn = await timedSignIn(b, BOB);
      await sleep(1100);
      const entry = await b.get(`/device?user_code=${d.user_code}`);
      expect(entry.status).toBe(200);
      const consent = await b.post('/device', { csrf: field(await entry.text(), 'csrf'), user_code: d.user_code });
      expect(consent.status).toBe(200);
      const page = await consent.text();
      const done = await b.post('/device/decision', { csrf: field(page, 'csrf'), consent: field(page, 'consent'), decision: 'approve' });
      expect(done.status).toBe(200);

      const tokens = await tokenRequest(base, DEVICE_BASIC, { grant_type: DEVICE_GRANT, device_code: d.device_code });
      const authTime = authTimeIn(tokens.access, signedIn);
      expect(claims(tokens.access)).toMatchObject({ sub: BOB.subject, client_id: DEVICE_CLIENT });
      expect(claims(tokens.access).iat as number).toBeGreaterThan(authTime);
      expect(claims((await refresh(base, DEVICE_BASIC, tokens.refresh)).access).auth_time).toBe(authTime);
    });

    if (store === 'shared') {
      it('a session rewritten in the store when its expiry moves keeps its sign-in time', async () => {
        const kv = await s.app.storage.openKeyValue();
        const b = new CookieClient(s.app.url);
        const signedIn = await timedSignIn(b);
        const stored = JSON.parse((await kv.get(sessionRecord(b)))!) as Record<string, unknown>;
        expect(stored.signedInAt).toBeTypeOf('number');
        // Its expiry last moved two minutes ago: the next request writes the record again.
        await kv.set(sessionRecord(b), JSON.stringify({ ...stored, at: Date.now() - 120_000 }), 3_600_000);
        expect(await (await b.get('/')).text()).toContain(`Signed in as <strong>${ALICE.username}</strong>`);
        const rewritten = JSON.parse((await kv.get(sessionRecord(b)))!) as Record<string, unknown>;
        expect(rewritten.at as number).toBeGreaterThan(Date.now() - 60_000);
        expect(rewritten.signedInAt).toBe(stored.signedInAt);
        authTimeIn((await rememberedFlow(b)).access, signedIn);
      });

      it('a session record written before the sign-in time was kept still works: no auth_time, no error', async () => {
        const kv = await s.app.storage.openKeyValue();
        const b = new CookieClient(s.app.url);
        await timedSignIn(b, BOB);
        const { signedInAt: _dropped, ...old } = JSON.parse((await kv.get(sessionRecord(b)))!) as Record<string, unknown>;
        await kv.set(sessionRecord(b), JSON.stringify(old), 3_600_000);

        // The consent page (Bob has not approved this client yet), a refresh, then the remembered consent.
        const first = await codeFlow(b, BOB);
        expect(claims(first.access)).toMatchObject({ sub: BOB.subject, client_id: CLIENT });
        expect(claims(first.access)).not.toHaveProperty('auth_time');
        expect(claims((await refresh(s.app.url, BASIC, first.refresh)).access)).not.toHaveProperty('auth_time');
        expect(claims((await rememberedFlow(b)).access)).not.toHaveProperty('auth_time');
        expect(await (await b.get('/')).text()).toContain(`Signed in as <strong>${BOB.username}</strong>`);
      });
    }
  });
}
