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
    expect(cookie).toMatch(/^pc_login=[\w-]{43}; Path=\/login; HttpOnly; SameSite=Lax; Max-Age=3600$/);
    const b = new CookieClient(s.app.url);
    const page = await (await b.get('/login')).text();
    const signedIn = await b.post('/login', {
      csrf: field(page, 'csrf'),
      username: ALICE.username,
      password: ALICE.password,
      return_to: '/',
    });
    expect(signedIn.headers.getSetCookie()).toEqual([expect.stringMatching(/^pc_session=[\w-]{43}; Path=\/; HttpOnly; SameSite=Lax$/)]);
  });

  it('marks cookies Secure when the issuer is https', async () => {
    const t = await startApp({ ISSUER: 'https://auth.example', DEMO: '0' });
    try {
      const b = new CookieClient(t.app.url);
      const r = await b.get('/login');
      expect(r.headers.getSetCookie()[0]).toMatch(/; HttpOnly; SameSite=Lax; Max-Age=3600; Secure$/);
      const page = await r.text();
      const signedIn = await b.post('/login', {
        csrf: field(page, 'csrf'),
        username: ALICE.username,
        password: ALICE.password,
        return_to: '/',
      });
      expect(signedIn.headers.getSetCookie()[0]).toMatch(/^pc_session=.*; HttpOnly; SameSite=Lax; Secure$/);
    } finally {
      await t.close();
    }
  });

  it('sets no session cookie for anonymous visitors', async () => {
    for (const path of ['/', '/login', authorizeUrl(), '/error', '/nope']) {
      const r = await fetch(`${s.app.url}${path}`, { redirect: 'manual' });
      expect(r.headers.getSetCookie().filter((c) => c.startsWith('pc_session='))).toEqual([]);
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

  it('shows neither an unknown error code nor any error_description from the /error query string', async () => {
    const r = await fetch(
      `${s.app.url}/error?${new URLSearchParams({ error: '<script>alert(1)</script>', error_description: 'anything INJECTED-7f3 "><img src=x>' })}`,
    );
    expect(r.status).toBe(400);
    const page = await r.text();
    expect(page).not.toMatch(/<script|&lt;script/);
    expect(page).not.toContain('alert(1)');
    expect(page).not.toContain('INJECTED-7f3');
    expect(page).not.toContain('img');
    expect(page).not.toContain('class="error-code"');
  });

  it('shows a known error code from /error with its own text, never the description sent with it', async () => {
    for (const code of ['invalid_request', 'access_denied', 'invalid_token', 'unsupported_token_type']) {
      const page = await (
        await fetch(`${s.app.url}/error?${new URLSearchParams({ error: code, error_description: 'Call +1 555 0100 INJECTED-9q2' })}`)
      ).text();
      expect(page).toContain(`<code class="error-code">${code}</code>`);
      expect(page).not.toContain('INJECTED-9q2');
    }
    for (const code of ['invalid_request ', 'INVALID_REQUEST', 'not_a_code', 'toString', '__proto__']) {
      const page = await (await fetch(`${s.app.url}/error?${new URLSearchParams({ error: code })}`)).text();
      expect(page).not.toContain('class="error-code"');
    }
  });

  it('escapes every interpolated value, keeps nested templates', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    const inner = html`<b>${'<i>'}</b>`;
    expect(html`<p>${inner}${['<', html`<br>`]}${null}</p>`.value).toBe('<p><b>&lt;i&gt;</b>&lt;<br></p>');
  });
});

describe('authorization pages', () => {
  it('answers requests that must not be redirected with an error page (unknown client, unregistered redirect URI)', async () => {
    const cases: Record<string, string>[] = [{ client_id: 'nobody' }, { redirect_uri: 'https://evil.example/cb' }];
    for (const params of cases) {
      const r = await fetch(`${s.app.url}${authorizeUrl(params)}`, { redirect: 'manual' });
      expect(r.status).toBe(400);
      expect(r.headers.get('location')).toBeNull();
      expect(r.headers.get('content-type')).toContain('text/html');
      const page = await r.text();
      expect(page).toContain('<code class="error-code">invalid_request</code>');
      // Core's own description of this request (its wording is core's to choose).
      expect(page).toMatch(/<span class="error-description">[^<]+<\/span>/);
      expect(page).not.toContain('evil.example');
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
    for (const bad of [
      'https://evil.example',
      '//evil.example',
      '/\\evil.example',
      'javascript:alert(1)',
      '/ok\nx',
      '/caf\u00e9',
      '/\u0100',
    ]) {
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

describe('bodies larger than the limit', () => {
  // Core's default limit (64 KiB) for the OAuth endpoints and the authorization endpoint; 16 KiB
  // for the forms of the app's own pages.
  const big = (bytes: number) => `csrf=x&pad=${'a'.repeat(bytes)}`;
  const post = (b: CookieClient, path: string, bytes: number) =>
    b.fetch(path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: big(bytes) });

  it('answers 413 JSON at the token, revocation and introspection endpoints', async () => {
    const b = new CookieClient(s.app.url);
    for (const path of ['/oauth/token', '/oauth/revoke', '/oauth/introspect']) {
      const r = await post(b, path, 70_000);
      expect(r.status).toBe(413);
      expect(r.headers.get('content-type')).toContain('application/json');
      expect(r.headers.get('connection')).toBe('close');
      expect(await r.json()).toMatchObject({ error: 'invalid_request' });
    }
  });

  it('answers a 413 page on the login, consent, logout, authorization and demo forms, never 500', async () => {
    const b = new CookieClient(s.app.url);
    await signIn(b);
    await b.get('/demo');
    const cases: [string, number][] = [
      ['/login', 20_000],
      ['/logout', 20_000],
      ['/oauth/authorize/decision', 20_000],
      ['/oauth/authorize', 70_000],
      ['/demo/start', 20_000],
      ['/demo/reset', 20_000],
    ];
    for (const [path, bytes] of cases) {
      const r = await post(b, path, bytes);
      expect([path, r.status]).toEqual([path, 413]);
      expect(r.headers.get('content-type')).toContain('text/html');
      expectSecurityHeaders(r);
      expect(await r.text()).toContain('too large');
    }
    // Still signed in, and a form under the limit is read (and refused for its CSRF token).
    expect(await (await b.get('/')).text()).toContain(ALICE.username);
    expect((await post(b, '/login', 10_000)).status).toBe(403);
  });
});
