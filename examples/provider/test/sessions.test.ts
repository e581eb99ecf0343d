/** Sign-in sessions: anonymous visitors hold none, so they cannot push signed-in users out of the store. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionStore } from '../src/session.js';
import { ALICE, CB, CookieClient, field, location, pkce, type Started, signIn, startApp } from './helpers.js';

const CAP = 5;
let s: Started;
beforeAll(async () => {
  s = await startApp({ SESSION_MAX_ENTRIES: String(CAP) });
});
afterAll(async () => {
  await s?.close();
});

function authorizeUrl(): string {
  const { challenge } = pkce();
  return `/oauth/authorize?${new URLSearchParams({
    response_type: 'code',
    client_id: 'interop-public',
    redirect_uri: CB,
    scope: 'read',
    state: 'st',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  })}`;
}

describe('session store', () => {
  it('keeps a signed-in session through a flood of cookie-less requests (more than the store holds)', async () => {
    const alice = new CookieClient(s.app.url);
    await signIn(alice);
    expect(await (await alice.get('/')).text()).toContain(`Signed in as <strong>${ALICE.username}</strong>`);

    const url = authorizeUrl();
    const flood: Promise<Response>[] = [];
    for (let i = 0; i < CAP * 8; i++) {
      const path = ['/', '/login', url, '/demo', '/error?error=invalid_request', '/nope'][i % 6]!;
      flood.push(fetch(`${s.app.url}${path}`, { redirect: 'manual' }));
      // A login form posted with a token of its own but without its cookie: refused, creates nothing.
      flood.push(
        fetch(`${s.app.url}/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `csrf=x${i}&username=u${i}&password=p`,
        }),
      );
    }
    for (const r of await Promise.all(flood)) {
      expect(r.status).toBeLessThan(500);
      await r.arrayBuffer();
    }

    // Still signed in, and the session still works for an authorization request.
    expect(await (await alice.get('/')).text()).toContain(`Signed in as <strong>${ALICE.username}</strong>`);
    const consent = await alice.get(authorizeUrl());
    expect(consent.status).toBe(200);
    const page = await consent.text();
    const r = await alice.post('/oauth/authorize/decision', {
      csrf: field(page, 'csrf'),
      consent: field(page, 'consent'),
      decision: 'approve',
    });
    expect(new URL(location(r)).searchParams.get('code')).toBeTruthy();
  });

  it('signs in from an anonymous visit: the login form needs no server-side session', async () => {
    const b = new CookieClient(s.app.url);
    const to = new URL(location(await b.get(authorizeUrl())), s.app.url);
    expect(to.pathname).toBe('/login');
    expect(b.cookies.has('pc_session')).toBe(false);
    const page = await (await b.get(`${to.pathname}${to.search}`)).text();
    expect(b.cookies.has('pc_login')).toBe(true);
    // The token belongs to this browser's cookie: another browser's cookie does not fit it.
    const other = new CookieClient(s.app.url);
    await other.get('/login');
    const form = { csrf: field(page, 'csrf'), username: ALICE.username, password: ALICE.password, return_to: field(page, 'return_to') };
    expect((await other.post('/login', form)).status).toBe(403);
    const r = await b.post('/login', form);
    expect(r.status).toBe(303);
    expect(b.cookies.has('pc_session')).toBe(true);
    expect(new URL(location(r), s.app.url).pathname).toBe('/oauth/authorize');
  });
});

describe('SessionStore', () => {
  it('keeps at most maxPerUser sessions of one user, so one account cannot push others out', () => {
    const store = new SessionStore(60_000, 4, 2);
    const bob = store.signIn(null, 'u-bob', 'bob');
    const first = store.signIn(null, 'u-eve', 'eve');
    for (let i = 0; i < 10; i++) store.signIn(null, 'u-eve', 'eve');
    expect(store.get(bob.id)?.userId).toBe('u-bob');
    expect(store.get(first.id)).toBeNull();
    expect(store.size).toBe(3);
  });

  it('ends the previous session of the browser on sign-in (new id, new CSRF token)', () => {
    const store = new SessionStore(60_000, 10);
    const a = store.signIn(null, 'u-1', 'one');
    const b = store.signIn(a, 'u-2', 'two');
    expect(store.get(a.id)).toBeNull();
    expect(b.id).not.toBe(a.id);
    expect(b.csrf).not.toBe(a.csrf);
    expect(store.get(b.id)?.username).toBe('two');
  });
});
