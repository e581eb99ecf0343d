/** Request logs: one JSON line per request, with nothing secret in them. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pathOnly } from '../src/log.js';
import { ALICE, authorizeThroughPages, CB, CookieClient, field, pkce, type Started, startApp, TRICKY_SECRET } from './helpers.js';

let s: Started;
beforeAll(async () => {
  s = await startApp();
});
afterAll(async () => {
  await s?.close();
});

const basic = (id: string, secret: string) => {
  const enc = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
};

async function token(params: Record<string, string>, auth = basic('interop-app', TRICKY_SECRET)) {
  const r = await fetch(`${s.app.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth },
    body: new URLSearchParams(params).toString(),
  });
  return { status: r.status, body: (await r.json()) as Record<string, string> };
}

it('logs one JSON line per request and none of the secrets, tokens, codes or passwords of a full flow', async () => {
  const secrets: string[] = [ALICE.password, TRICKY_SECRET, encodeURIComponent(TRICKY_SECRET), basic('interop-app', TRICKY_SECRET)];
  const before = s.logs.length;

  // Browser part: a failed sign-in, then the code flow through the pages.
  const b = new CookieClient(s.app.url);
  const loginPage = await (await b.get('/login')).text();
  secrets.push(field(loginPage, 'csrf'), b.cookies.get('pc_login')!);
  await b.post('/login', { csrf: field(loginPage, 'csrf'), username: ALICE.username, password: 'wrong-password-7Hq', return_to: '/' });
  secrets.push('wrong-password-7Hq');
  const { verifier, challenge } = pkce();
  const state = 'state-Zx81kq';
  secrets.push(verifier, challenge, state);
  const url = `/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: 'interop-app', redirect_uri: CB, scope: 'read write', state, code_challenge: challenge, code_challenge_method: 'S256' })}`;
  const callback = await authorizeThroughPages(b, url);
  const code = callback.searchParams.get('code')!;
  secrets.push(code, b.cookies.get('pc_session')!);

  // Back channel: code exchange, refresh, introspection, revocation, API calls.
  const t1 = await token({ grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier });
  expect(t1.status).toBe(200);
  const t2 = await token({ grant_type: 'refresh_token', refresh_token: t1.body.refresh_token! });
  expect(t2.status).toBe(200);
  const cc = await token({ grant_type: 'client_credentials', scope: 'read' });
  expect(cc.status).toBe(200);
  secrets.push(t1.body.access_token!, t1.body.refresh_token!, t2.body.access_token!, t2.body.refresh_token!, cc.body.access_token!);
  const replay = await token({ grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier });
  expect(replay.status).toBe(400);
  const wrong = await token({ grant_type: 'client_credentials' }, basic('interop-app', 'not-the-secret-Q9'));
  expect(wrong.status).toBe(401);
  secrets.push('not-the-secret-Q9');
  for (const path of ['/oauth/introspect', '/oauth/revoke']) {
    const r = await fetch(`${s.app.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('interop-app', TRICKY_SECRET) },
      body: new URLSearchParams({ token: t2.body.access_token! }).toString(),
    });
    expect(r.status).toBe(200);
  }
  expect((await fetch(`${s.app.url}/api/me`, { headers: { authorization: `Bearer ${t1.body.access_token}` } })).status).toBe(401);
  expect((await fetch(`${s.app.url}/api/me`, { headers: { authorization: `Bearer ${cc.body.access_token}` } })).status).toBe(200);
  // A token in the query string (refused) must not reach the log through the path either.
  expect((await fetch(`${s.app.url}/api/me?access_token=${cc.body.access_token}`)).status).toBe(400);

  const lines = s.logs.slice(before);
  const text = lines.join('\n');
  for (const secret of secrets) {
    expect(secret.length).toBeGreaterThan(5);
    expect(text).not.toContain(secret);
  }
  const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.msg === 'request');
  // 2 (login page, failed login) + 5 (authorize, login page, login, authorize, decision)
  // + 5 token + introspect + revoke + 3 API calls: one line each.
  expect(entries).toHaveLength(17);
  for (const e of entries) {
    expect(Object.keys(e).sort()).toEqual(expect.arrayContaining(['time', 'level', 'msg', 'method', 'path', 'status', 'durationMs']));
    expect(e.path).not.toContain('?');
    expect(typeof e.status).toBe('number');
    expect(typeof e.durationMs).toBe('number');
  }
  const tokenLines = entries.filter((e) => e.path === '/oauth/token');
  expect(tokenLines).toHaveLength(5);
  expect(tokenLines.map((e) => [e.status, e.clientId])).toEqual([
    [200, 'interop-app'],
    [200, 'interop-app'],
    [200, 'interop-app'],
    [400, 'interop-app'],
    [401, 'interop-app'], // failed client authentication of a client that exists: its id
  ]);
  const authorizeLines = entries.filter((e) => e.path === '/oauth/authorize');
  expect(authorizeLines.length).toBeGreaterThan(0);
  expect(authorizeLines.every((e) => e.clientId === 'interop-app')).toBe(true);
});

it('logs paths without query strings or fragments, capped in length', () => {
  expect(pathOnly('/demo/callback?code=abc&state=x')).toBe('/demo/callback');
  expect(pathOnly('/a#frag')).toBe('/a');
  expect(pathOnly(`/${'x'.repeat(500)}`)).toHaveLength(203);
});

it('never logs a client id that names no client (it may be a secret pasted into the wrong field)', async () => {
  const pasted = {
    basic: 'pasted-secret-Basic-4fQx9',
    post: 'pasted-secret-Post-Lm27a',
    revoke: 'pasted-secret-Revoke-Pz81',
    authorize: 'pasted-secret-Authorize-Kd03',
    body: 'pasted-secret-Body-Wq55z',
  };
  const before = s.logs.length;
  const post = (path: string, body: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${s.app.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(body).toString(),
    });
  expect((await token({ grant_type: 'client_credentials' }, basic(pasted.basic, 'x'))).status).toBe(401);
  expect((await post('/oauth/token', { grant_type: 'client_credentials', client_id: pasted.post, client_secret: 'x' })).status).toBe(401);
  expect((await post('/oauth/revoke', { token: 'abc' }, { authorization: basic(pasted.revoke, 'x') })).status).toBe(401);
  expect((await post('/oauth/introspect', { token: 'abc', client_id: pasted.body })).status).toBe(401);
  const authz = await fetch(
    `${s.app.url}/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: pasted.authorize, redirect_uri: CB })}`,
    { redirect: 'manual' },
  );
  expect(authz.status).toBe(400);
  // A client that exists but may not introspect (a public client): refused, and its id is logged.
  expect((await post('/oauth/introspect', { token: 'abc', client_id: 'interop-public' })).status).toBeGreaterThanOrEqual(400);

  const lines = s.logs.slice(before);
  const text = lines.join('\n');
  for (const v of Object.values(pasted)) expect(text).not.toContain(v);
  const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.msg === 'request');
  expect(entries.map((e) => [e.path, e.clientId])).toEqual([
    ['/oauth/token', undefined],
    ['/oauth/token', undefined],
    ['/oauth/revoke', undefined],
    ['/oauth/introspect', undefined],
    ['/oauth/authorize', undefined],
    ['/oauth/introspect', 'interop-public'],
  ]);
});
