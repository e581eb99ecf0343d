/**
 * The device authorization grant (RFC 8628) through the example app over real HTTP: the device
 * authorization endpoint, the `/device` verification page (sign-in, code entry, consent,
 * decision), polling the token endpoint, the page's hostile inputs, and its lookup limits.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDeviceFlow } from '../src/device-client.js';
import { DEVICE_DEMO_CLIENT_ID, DEVICE_GRANT } from '../src/routes/device.js';
import { ALICE, CookieClient, field, location, type Started, signIn, startApp, TEST_SEED } from './helpers.js';

const TV_SECRET = 'tv:se+cret/%& x';
const BOB = { username: 'bob', password: 'bob password 123', subject: 'u-bob' };
const SEED = {
  clients: [
    ...TEST_SEED.clients,
    { id: 'tv-app', secret: TV_SECRET, grantTypes: [DEVICE_GRANT, 'refresh_token'], scopes: ['read', 'write'] },
    { id: 'tv-<b>"x"</b>', public: true, grantTypes: [DEVICE_GRANT], scopes: ['read', '<i>scope</i>'] },
  ],
  users: [...TEST_SEED.users, BOB],
};

interface DeviceStart {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  expires_in: number;
  interval: number;
}

function basic(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

function clientAuth(clientId: string): { headers: Record<string, string>; fields: Record<string, string> } {
  return clientId === 'tv-app'
    ? { headers: { authorization: basic('tv-app', TV_SECRET) }, fields: {} }
    : { headers: {}, fields: { client_id: clientId } };
}

async function startDevice(base: string, clientId = 'tv-app', scope = 'read'): Promise<DeviceStart> {
  const a = clientAuth(clientId);
  const r = await fetch(`${base}/oauth/device_authorization`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...a.headers },
    body: new URLSearchParams({ ...a.fields, scope }).toString(),
  });
  expect(r.status).toBe(200);
  return (await r.json()) as DeviceStart;
}

async function poll(base: string, deviceCode: string, clientId = 'tv-app'): Promise<{ status: number; body: Record<string, unknown> }> {
  const a = clientAuth(clientId);
  const r = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...a.headers },
    body: new URLSearchParams({ ...a.fields, grant_type: DEVICE_GRANT, device_code: deviceCode }).toString(),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

/** The signed-in page's CSRF token. */
async function csrfOf(b: CookieClient): Promise<string> {
  const r = await b.get('/device');
  expect(r.status).toBe(200);
  return field(await r.text(), 'csrf');
}

/** Types `code` on the page; returns the answer (the consent page when the code is good). */
async function enterCode(b: CookieClient, code: string): Promise<Response> {
  return b.post('/device', { csrf: await csrfOf(b), user_code: code });
}

/** Types the code and answers the consent page; returns the decision's answer. */
async function decide(b: CookieClient, code: string, decision: 'approve' | 'deny'): Promise<Response> {
  const r = await enterCode(b, code);
  expect(r.status).toBe(200);
  const page = await r.text();
  return b.post('/device/decision', { csrf: field(page, 'csrf'), consent: field(page, 'consent'), decision });
}

async function signedIn(base: string, user = ALICE): Promise<CookieClient> {
  const b = new CookieClient(base);
  await signIn(b, user.username, user.password);
  return b;
}

describe('device flow through the /device page', () => {
  let s: Started;
  let base: string;

  beforeAll(async () => {
    // A high app limit here (the limits have their own tests below); core's own stays at 30 a minute.
    s = await startApp({ RATE_LIMIT_MAX_FAILURES: '1000' }, SEED);
    base = s.app.url;
  });
  afterAll(async () => {
    await s?.close();
  });

  it('advertises the device endpoint, and its verification_uri is this app\u2019s /device page', async () => {
    const meta = (await (await fetch(`${base}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(meta.device_authorization_endpoint).toBe(`${s.app.issuer}/oauth/device_authorization`);
    expect(meta.grant_types_supported).toContain(DEVICE_GRANT);
    const d = await startDevice(base);
    expect(d.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    expect(d.verification_uri).toBe(`${s.app.issuer}/device`);
    expect(d.verification_uri_complete).toBe(`${s.app.issuer}/device?user_code=${d.user_code}`);
    expect(d.interval).toBe(5);
  });

  it('sends a visitor who is not signed in to the login page and back, with the code pre-filled', async () => {
    const d = await startDevice(base);
    const b = new CookieClient(base);
    let r = await b.get(new URL(d.verification_uri_complete).pathname + new URL(d.verification_uri_complete).search);
    expect(r.status).toBe(302);
    const login = location(r);
    expect(login).toBe(`/login?return_to=${encodeURIComponent(`/device?user_code=${d.user_code}`)}`);
    const page = await (await b.get(login)).text();
    r = await b.post('/login', {
      csrf: field(page, 'csrf'),
      username: ALICE.username,
      password: ALICE.password,
      return_to: field(page, 'return_to'),
    });
    const back = location(r);
    expect(back).toBe(`/device?user_code=${d.user_code}`);
    r = await b.get(back);
    expect(r.status).toBe(200);
    expect(field(await r.text(), 'user_code')).toBe(d.user_code);
  });

  it('happy path: pending, then approved on the page (code typed in lower case without dash), one token', async () => {
    const d = await startDevice(base, 'tv-app', 'read write');
    expect((await poll(base, d.device_code)).body.error).toBe('authorization_pending');
    const b = await signedIn(base);
    const typed = ` ${d.user_code.replace('-', '').toLowerCase().slice(0, 4)} ${d.user_code.slice(5).toLowerCase()} `;
    const consent = await enterCode(b, typed);
    expect(consent.status).toBe(200);
    const page = await consent.text();
    expect(page).toContain('<code class="client-id">tv-app</code>');
    expect(page).toContain(`<code class="user-code">${d.user_code}</code>`);
    expect([...page.matchAll(/<li><code>([^<]*)<\/code><\/li>/g)].map((m) => m[1])).toEqual(['read', 'write']);
    const done = await b.post('/device/decision', { csrf: field(page, 'csrf'), consent: field(page, 'consent'), decision: 'approve' });
    expect(done.status).toBe(200);
    expect(await done.text()).toContain('Device connected');
    // The same consent answered again: refused, nothing changes.
    const again = await b.post('/device/decision', { csrf: field(page, 'csrf'), consent: field(page, 'consent'), decision: 'deny' });
    expect(again.status).toBe(400);

    // Ten polls at once right after the approval: exactly one gets the tokens.
    const polls = await Promise.all(Array.from({ length: 10 }, () => poll(base, d.device_code)));
    const won = polls.filter((p) => p.status === 200);
    expect(won).toHaveLength(1);
    expect(polls.filter((p) => p.status === 400 && p.body.error === 'invalid_grant')).toHaveLength(9);
    const tokens = won[0]!.body;
    expect(tokens.token_type).toBe('Bearer');
    expect(tokens.scope).toBe('read write');
    expect(tokens.refresh_token).toBeTypeOf('string');
    const me = await fetch(`${base}/api/me`, { headers: { authorization: `Bearer ${tokens.access_token as string}` } });
    expect(await me.json()).toEqual({ sub: ALICE.subject, client_id: 'tv-app', scopes: ['read', 'write'] });
    // Later polls, and typing the used code on the page, fail.
    expect(await poll(base, d.device_code)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const used = await enterCode(b, d.user_code);
    expect(used.status).toBe(400);
    expect(await used.text()).toContain('This code is not valid');
  });

  it('deny path: the device gets access_denied, and the code cannot be approved afterwards', async () => {
    const d = await startDevice(base);
    const b = await signedIn(base, BOB);
    const r = await decide(b, d.user_code, 'deny');
    expect(r.status).toBe(200);
    expect(await r.text()).toContain('Device denied');
    expect(await poll(base, d.device_code)).toMatchObject({ status: 400, body: { error: 'access_denied' } });
    expect((await enterCode(b, d.user_code)).status).toBe(400);
  });

  it('answers slow_down to a device polling faster than the interval', async () => {
    const d = await startDevice(base);
    expect((await poll(base, d.device_code)).body.error).toBe('authorization_pending');
    expect(await poll(base, d.device_code)).toMatchObject({ status: 400, body: { error: 'slow_down' } });
  });

  it('the CLI client waits `interval`, polls until approved, and returns the token response (public demo client)', async () => {
    const lines: string[] = [];
    let code: string | null = null;
    let seen!: () => void;
    const shown = new Promise<void>((resolve) => {
      seen = resolve;
    });
    const flow = runDeviceFlow({
      issuer: base,
      clientId: DEVICE_DEMO_CLIENT_ID,
      clientSecret: null,
      scope: 'profile read',
      timeoutSeconds: 40,
      print: (line) => {
        lines.push(line);
        const m = /enter the code: ([A-Z]{4}-[A-Z]{4})$/.exec(line);
        if (m) {
          code = m[1]!;
          seen();
        }
      },
    });
    await shown;
    const b = await signedIn(base);
    expect((await decide(b, code!, 'approve')).status).toBe(200);
    const result = await flow;
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    // It waited the interval between polls: never told to slow down.
    expect(result.polls).toBeGreaterThanOrEqual(1);
    expect(lines.some((l) => l.includes('slow_down'))).toBe(false);
    expect(result.tokens).toMatchObject({ token_type: 'Bearer', scope: 'profile read' });
    expect(lines[0]).toBe(`To sign in, open ${s.app.issuer}/device and enter the code: ${code}`);
    expect(lines[1]).toBe(`Or open: ${s.app.issuer}/device?user_code=${code}`);
  });

  it('the CLI client reports access_denied, and never prints the client secret', async () => {
    const lines: string[] = [];
    let code: string | null = null;
    let seen!: () => void;
    const shown = new Promise<void>((resolve) => {
      seen = resolve;
    });
    const flow = runDeviceFlow({
      issuer: base,
      clientId: 'tv-app',
      clientSecret: TV_SECRET,
      timeoutSeconds: 40,
      print: (line) => {
        lines.push(line);
        const m = /enter the code: ([A-Z]{4}-[A-Z]{4})$/.exec(line);
        if (m) {
          code = m[1]!;
          seen();
        }
      },
    });
    await shown;
    const b = await signedIn(base);
    expect((await decide(b, code!, 'deny')).status).toBe(200);
    const result = await flow;
    expect(result).toMatchObject({ ok: false, error: 'access_denied' });
    expect(lines.join('\n')).not.toContain(TV_SECRET);
    expect(s.logs.join('\n')).not.toContain(TV_SECRET);
  });

  it('escapes the client id and scopes it shows', async () => {
    const d = await startDevice(base, 'tv-<b>"x"</b>', 'read <i>scope</i>');
    const b = await signedIn(base);
    const r = await enterCode(b, d.user_code);
    expect(r.status).toBe(200);
    const page = await r.text();
    expect(page).toContain('tv-&lt;b&gt;&quot;x&quot;&lt;/b&gt;');
    expect(page).toContain('<code>&lt;i&gt;scope&lt;/i&gt;</code>');
    expect(page).not.toContain('<b>"x"</b>');
    expect(page).not.toContain('<i>scope</i>');
  });

  describe('hostile input on the page (never a 5xx)', () => {
    let b: CookieClient;
    let csrf: string;
    beforeAll(async () => {
      b = await signedIn(base);
      csrf = await csrfOf(b);
    });

    it.each([
      ['CR/LF', 'BCDF\r\nGHJK'],
      ['NUL', 'BCDF\u0000GHJK'],
      ['oversize (5000 chars)', 'B'.repeat(5000)],
      ['markup', '<script>alert(1)</script>'],
      ['unknown code', 'BCDF-GHJK'],
      ['empty', ''],
    ])('POST /device with %s: 400 with the message, nothing echoed', async (_name, code) => {
      const r = await b.post('/device', { csrf, user_code: code });
      expect(r.status).toBe(400);
      const page = await r.text();
      expect(page).toContain('This code is not valid');
      expect(page).not.toContain('<script>alert(1)');
      expect(page).not.toContain('\u0000');
      expect(field(page, 'user_code')).toMatch(/^([A-Z]{4}-[A-Z]{4})?$/);
    });

    it('POST /device with user_code twice: 400', async () => {
      const r = await b.fetch('/device', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `csrf=${encodeURIComponent(csrf)}&user_code=BCDF-GHJK&user_code=BCDF-GHJK`,
      });
      expect(r.status).toBe(400);
      expect(await r.text()).toContain('once');
    });

    it('a body larger than the page limit: 413', async () => {
      const r = await b.post('/device', { csrf, user_code: 'B'.repeat(40_000) });
      expect(r.status).toBe(413);
    });

    it('missing, wrong or cross-site CSRF, or another content type: 403', async () => {
      const d = await startDevice(base);
      expect((await b.post('/device', { user_code: d.user_code })).status).toBe(403);
      expect((await b.post('/device', { csrf: `${csrf}x`, user_code: d.user_code })).status).toBe(403);
      expect((await b.post('/device', { csrf, user_code: d.user_code }, { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
      expect((await b.post('/device', { csrf, user_code: d.user_code }, { origin: 'https://evil.example' })).status).toBe(403);
      const json = await b.fetch('/device', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ csrf, user_code: d.user_code }),
      });
      expect(json.status).toBe(403);
      // Another user's CSRF token does not work with this session, nor does none at all.
      const other = await signedIn(base, BOB);
      expect((await other.post('/device', { csrf, user_code: d.user_code })).status).toBe(403);
      expect((await new CookieClient(base).post('/device', { csrf, user_code: d.user_code })).status).toBe(403);
      // The code is still pending and usable.
      expect((await poll(base, d.device_code)).body.error).toBe('authorization_pending');
      expect((await enterCode(b, d.user_code)).status).toBe(200);
    });

    it('the decision needs the session CSRF token, a known consent and approve or deny', async () => {
      const d = await startDevice(base);
      const page = await (await enterCode(b, d.user_code)).text();
      const consent = field(page, 'consent');
      expect((await b.post('/device/decision', { consent, decision: 'approve' })).status).toBe(403);
      expect((await b.post('/device/decision', { csrf, consent, decision: 'maybe' })).status).toBe(400);
      const twice = await b.fetch('/device/decision', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `csrf=${encodeURIComponent(csrf)}&consent=${consent}&decision=deny&decision=approve`,
      });
      expect(twice.status).toBe(400);
      expect((await b.post('/device/decision', { csrf, consent: 'no-such-consent', decision: 'approve' })).status).toBe(400);
      expect((await b.post('/device/decision', { csrf, consent: `${consent}\r\n`, decision: 'approve' })).status).toBe(400);
      // Another user cannot answer this session's consent.
      const other = await signedIn(base, BOB);
      const otherCsrf = await csrfOf(other);
      expect((await other.post('/device/decision', { csrf: otherCsrf, consent, decision: 'approve' })).status).toBe(400);
      // Still pending; the real answer works.
      expect((await poll(base, d.device_code)).body.error).toBe('authorization_pending');
      expect((await b.post('/device/decision', { csrf, consent, decision: 'approve' })).status).toBe(200);
    });

    it('a device consent posted to the authorization decision is refused without a 5xx', async () => {
      const d = await startDevice(base);
      const page = await (await enterCode(b, d.user_code)).text();
      const r = await b.post('/oauth/authorize/decision', { csrf, consent: field(page, 'consent'), decision: 'approve' });
      expect(r.status).toBeLessThan(500);
      expect((await poll(base, d.device_code)).body.error).toBe('authorization_pending');
    });

    it.each([
      ['CR/LF', '%0D%0ASet-Cookie:%20x=1'],
      ['NUL', 'BCDF%00GHJK'],
      ['oversize', 'B'.repeat(10_000)],
      ['markup', '%3Cscript%3Ealert(1)%3C/script%3E'],
    ])('GET /device?user_code= with %s: 400, nothing echoed; not signed in: login without it', async (_name, q) => {
      const r = await b.get(`/device?user_code=${q}`);
      expect(r.status).toBe(400);
      const page = await r.text();
      expect(field(page, 'user_code')).toBe('');
      expect(page).not.toContain('<script>alert(1)');
      const anon = await new CookieClient(base).get(`/device?user_code=${q}`);
      expect(anon.status).toBe(302);
      expect(anon.headers.get('location')).toBe(`/login?return_to=${encodeURIComponent('/device')}`);
      expect(anon.headers.get('set-cookie')).toBeNull();
    });

    it('GET /device with user_code twice: 400; HEAD: 200 without a body', async () => {
      expect((await b.get('/device?user_code=BCDF-GHJK&user_code=BCDF-GHJK')).status).toBe(400);
      const head = await b.fetch('/device', { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(await head.text()).toBe('');
    });

    it('wrong methods: 405 with Allow', async () => {
      for (const method of ['PUT', 'DELETE', 'PATCH']) {
        const r = await b.fetch('/device', { method });
        expect(r.status).toBe(405);
        expect(r.headers.get('allow')).toBe('GET, HEAD, POST');
      }
      const r = await b.get('/device/decision');
      expect(r.status).toBe(405);
      expect(r.headers.get('allow')).toBe('POST');
    });
  });
});

describe('limits on wrong codes', () => {
  it('the app limit: past RATE_LIMIT_MAX_FAILURES wrong codes from one address, 429 with Retry-After, even for a good code', async () => {
    const s = await startApp({ RATE_LIMIT_MAX_FAILURES: '3' }, SEED);
    try {
      const d = await startDevice(s.app.url);
      const b = await signedIn(s.app.url);
      for (const wrong of ['BCDF-GHJK', 'bcdfghjl', 'nope']) expect((await enterCode(b, wrong)).status).toBe(400);
      const r = await enterCode(b, d.user_code);
      expect(r.status).toBe(429);
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await r.text()).toContain('Too many wrong codes');
      // Another account from the same address is held back too; the device is still pending.
      const other = await signedIn(s.app.url, BOB);
      expect((await enterCode(other, d.user_code)).status).toBe(429);
      expect((await poll(s.app.url, d.device_code)).body.error).toBe('authorization_pending');
    } finally {
      await s.close();
    }
  });

  it("core's provider-wide limit (30 a minute) holds with the app limit off", async () => {
    const s = await startApp({ RATE_LIMIT_MAX_FAILURES: '0' }, SEED);
    try {
      const d = await startDevice(s.app.url);
      const b = await signedIn(s.app.url);
      const csrf = await csrfOf(b);
      for (let i = 0; i < 30; i++) expect((await b.post('/device', { csrf, user_code: 'BCDF-GHJK' })).status).toBe(400);
      // The good code is refused now too (core looks nothing up until its window ends).
      const r = await b.post('/device', { csrf, user_code: d.user_code });
      expect(r.status).toBe(400);
      expect(await r.text()).toContain('This code is not valid');
      expect(s.logs.join('\n')).toContain('device user code lookups');
    } finally {
      await s.close();
    }
  });
});
