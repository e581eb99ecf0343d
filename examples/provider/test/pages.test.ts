/** The provider's pages: security headers, cookies, CSRF, escaping, error page, consent memory. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { safeReturnTo } from '../src/app.js';
import { escapeHtml, html } from '../src/html.js';
import { ALICE, authorizeThroughPages, CB, CookieClient, field, location, pkce, type Started, signIn, startApp } from './helpers.js';

let s: Started;
beforeAll(async () => {
  s = await startApp();
});
afterAll(async () => {
  await s?.close();
});

function authorizeUrl(params: Record<string, string> = {}): string {
  const { challenge } = pkce();
  return `/oauth/authorize?${new URLSearchParams({
    response_type: 'code',
    client_id: 'interop-public',
    redirect_uri: CB,
    scope: 'read',
    state: 'st-1',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...params,
  }).toString()}`;
}

function expectSecurityHeaders(r: Response): void {
  expect(r.headers.get('x-frame-options')).toBe('DENY');
  const csp = r.headers.get('content-security-policy') ?? '';
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).toContain("default-src 'none'");
  expect(r.headers.get('referrer-policy')).toBe('no-referrer');
}

/** A signed-in client sitting on the consent page. */
async function onConsentPage(url = authorizeUrl()) {
  const b = new CookieClient(s.app.url);
  await signIn(b);
  const r = await b.get(url);
  expect(r.status).toBe(200);
  return { b, page: await r.text() };
}

describe('security headers and cookies', () => {
  it('puts X-Frame-Options, CSP frame-ancestors and Referrer-Policy on every page', async () => {
    const b = new CookieClient(s.app.url);
    for (const path of ['/', '/login', '/error?error=invalid_request', '/demo', '/nope']) {
      expectSecurityHeaders(await b.get(path));
    }
    const { page } = await onConsentPage();
    expect(page).toContain('id="approve"');
    expectSecurityHeaders(await new CookieClient(s.app.url).get(authorizeUrl()));
    expectSecurityHeaders(await b.get('/.well-known/oauth-authorization-server'));
  });

  it('sets HttpOnly SameSite cookies, not Secure on an http issuer', async () => {
    const r = await fetch(`${s.app.url}/login`);
    const [cookie] = r.headers.getSetCookie();
    expect(cookie).toMatch(/^pc_session=[\w-]+; Path=\/; HttpOnly; SameSite=Lax$/);
  });

  it('marks cookies Secure when the issuer is https', async () => {
    const t = await startApp({ ISSUER: 'https://auth.example', DEMO: '0' });
    try {
      const r = await fetch(`${t.app.url}/`);
      expect(r.headers.getSetCookie()[0]).toMatch(/; HttpOnly; SameSite=Lax; Secure$/);
    } finally {
      await t.close();
    }
  });
});

describe('CSRF', () => {
  it('refuses the login form without a token, with a wrong one, and from another origin (403)', async () => {
    const b = new CookieClient(s.app.url);
    const page = await (await b.get('/login')).text();
    const creds = { username: ALICE.username, password: ALICE.password, return_to: '/' };
    expect((await b.post('/login', creds)).status).toBe(403);
    expect((await b.post('/login', { ...creds, csrf: 'wrong' })).status).toBe(403);
    expect((await b.post('/login', { ...creds, csrf: field(page, 'csrf') }, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await b.post('/login', { ...creds, csrf: field(page, 'csrf') }, { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    // The right token works, and a token from another session does not.
    const other = new CookieClient(s.app.url);
    expect((await other.post('/login', { ...creds, csrf: field(page, 'csrf') })).status).toBe(403);
    expect((await b.post('/login', { ...creds, csrf: field(page, 'csrf') })).status).toBe(303);
  });

  it('refuses the consent decision without a token or with a wrong one (403), and issues no code', async () => {
    const { b, page } = await onConsentPage();
    const consent = field(page, 'consent');
    for (const csrf of [undefined, 'wrong', `${field(page, 'csrf')}x`]) {
      const form: Record<string, string> = { consent, decision: 'approve' };
      if (csrf !== undefined) form.csrf = csrf;
      const r = await b.post('/oauth/authorize/decision', form);
      expect(r.status).toBe(403);
      expect(r.headers.get('location')).toBeNull();
    }
    const r = await b.post('/oauth/authorize/decision', { csrf: field(page, 'csrf'), consent, decision: 'approve' });
    expect(new URL(location(r)).searchParams.get('code')).toBeTruthy();
  });

  it('refuses logout and the demo client forms without the right token (403)', async () => {
    const b = new CookieClient(s.app.url);
    await signIn(b);
    expect((await b.post('/logout', { csrf: 'wrong' })).status).toBe(403);
    await b.get('/demo');
    expect((await b.post('/demo/start', {})).status).toBe(403);
    expect((await b.post('/demo/start', { csrf: 'wrong' })).status).toBe(403);
    const home = await (await b.get('/')).text();
    expect(home).toContain(ALICE.username);
    expect((await b.post('/logout', { csrf: field(home, 'csrf') })).status).toBe(303);
    expect(await (await b.get('/')).text()).toContain('Not signed in');
  });
});

describe('escaping', () => {
  it('renders a client id and a scope holding <script> escaped on the consent page', async () => {
    const { page } = await onConsentPage(
      authorizeUrl({ client_id: 'x<script>alert(1)</script>', scope: 'read <script>alert(2)</script>' }),
    );
    expect(page).not.toContain('<script');
    expect(page).toContain('x&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).toContain('<code>&lt;script&gt;alert(2)&lt;/script&gt;</code>');
  });

  it('renders the error page parameters escaped', async () => {
    const r = await fetch(
      `${s.app.url}/error?${new URLSearchParams({ error: '<script>x</script>', error_description: '"><img src=x onerror=alert(1)>' })}`,
    );
    expect(r.status).toBe(400);
    const page = await r.text();
    expect(page).not.toContain('<script');
    expect(page).not.toContain('<img');
    expect(page).toContain('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;');
  });

  it('escapes every interpolated value, keeps nested templates', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    const inner = html`<b>${'<i>'}</b>`;
    expect(html`<p>${inner}${['<', html`<br>`]}${null}</p>`.value).toBe('<p><b>&lt;i&gt;</b>&lt;<br></p>');
  });
});

describe('authorization pages', () => {
  it('sends requests that must not be redirected to the error page (unknown client, unregistered redirect URI)', async () => {
    const cases: Record<string, string>[] = [{ client_id: 'nobody' }, { redirect_uri: 'https://evil.example/cb' }];
    for (const params of cases) {
      const r = await fetch(`${s.app.url}${authorizeUrl(params)}`, { redirect: 'manual' });
      const to = new URL(location(r), s.app.url);
      expect(to.origin).toBe(s.app.issuer);
      expect(to.pathname).toBe('/error');
      const page = await (await fetch(to)).text();
      expect(page).toContain('invalid_request');
    }
  });

  it('redirects other errors to the client with state and iss', async () => {
    const r = await fetch(`${s.app.url}${authorizeUrl({ scope: 'admin' })}`, { redirect: 'manual' });
    const to = new URL(location(r));
    expect(`${to.origin}${to.pathname}`).toBe(CB);
    expect(to.searchParams.get('error')).toBe('invalid_scope');
    expect(to.searchParams.get('state')).toBe('st-1');
    expect(to.searchParams.get('iss')).toBe(s.app.issuer);
  });

  it('sends an anonymous user to login and back to the same request', async () => {
    const b = new CookieClient(s.app.url);
    const url = authorizeUrl();
    const to = new URL(location(await b.get(url)), s.app.url);
    expect(to.pathname).toBe('/login');
    expect(to.searchParams.get('return_to')).toContain('/oauth/authorize?');
    const back = await authorizeThroughPages(b, url);
    expect(back.searchParams.get('state')).toBe('st-1');
    expect(back.searchParams.get('code')).toBeTruthy();
  });

  it('refuses a wrong password (401) and never redirects login off-site', async () => {
    const b = new CookieClient(s.app.url);
    const page = await (await b.get('/login')).text();
    const bad = await b.post('/login', { csrf: field(page, 'csrf'), username: ALICE.username, password: 'nope', return_to: '/' });
    expect(bad.status).toBe(401);
    expect(await bad.text()).toContain('Invalid username or password');
    const ok = await b.post('/login', {
      csrf: field(page, 'csrf'),
      username: ALICE.username,
      password: ALICE.password,
      return_to: '//evil.example/x',
    });
    expect(location(ok)).toBe('/');
    for (const bad of ['https://evil.example', '//evil.example', '/\\evil.example', 'javascript:alert(1)', '/ok\nx']) {
      expect(safeReturnTo(bad)).toBe('/');
    }
    expect(safeReturnTo('/oauth/authorize?a=1')).toBe('/oauth/authorize?a=1');
  });

  it('lets a consent be answered once only', async () => {
    const { b, page } = await onConsentPage();
    const form = { csrf: field(page, 'csrf'), consent: field(page, 'consent'), decision: 'approve' };
    expect((await b.post('/oauth/authorize/decision', form)).status).toBe(302);
    expect((await b.post('/oauth/authorize/decision', form)).status).toBe(400);
  });

  it('asks for consent on every request by default', async () => {
    const b = new CookieClient(s.app.url);
    await authorizeThroughPages(b, authorizeUrl());
    const again = await b.get(authorizeUrl());
    expect(again.status).toBe(200);
    expect(await again.text()).toContain('id="approve"');
  });

  it('skips consent for scopes already approved when REMEMBER_CONSENT=1', async () => {
    const t = await startApp({ REMEMBER_CONSENT: '1', DEMO: '0' });
    try {
      const b = new CookieClient(t.app.url);
      const { challenge } = pkce();
      const url = (scope: string) =>
        `/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: 'interop-app', redirect_uri: CB, scope, state: 's', code_challenge: challenge, code_challenge_method: 'S256' })}`;
      await authorizeThroughPages(b, url('read'));
      const again = await b.get(url('read'));
      expect(new URL(location(again)).searchParams.get('code')).toBeTruthy();
      // A scope not approved yet shows the consent page again.
      expect((await b.get(url('read write'))).status).toBe(200);
    } finally {
      await t.close();
    }
  });
});
