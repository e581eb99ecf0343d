/** The limits on failed client authentication and failed sign-ins, and the client address they count by. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressBucket, clientAddress, parseAddress } from '../src/client-address.js';
import { createClientAuthRateLimit, FailureCounter } from '../src/rate-limit.js';
import { memoryState } from '../src/state/app-state.js';
import { ALICE, CookieClient, field, type Started, startApp, TRICKY_SECRET } from './helpers.js';

const OTHER = { id: 'other-svc', secret: 'other secret value 123' };
const POST_CLIENT = { id: 'post-svc', secret: 'post secret value 456' };
const user = (username: string) => ({ username, password: `${username} password 1`, subject: `u-${username}` });
const BOB = user('bob');
const CAROL = user('carol');
const DAVE = user('dave');
const seed = {
  clients: [
    { id: 'svc', secret: TRICKY_SECRET, grantTypes: ['client_credentials', 'password'], scopes: ['read'] },
    { id: OTHER.id, secret: OTHER.secret, grantTypes: ['client_credentials'], scopes: ['read'] },
    {
      id: POST_CLIENT.id,
      secret: POST_CLIENT.secret,
      tokenEndpointAuthMethod: 'client_secret_post',
      grantTypes: ['client_credentials'],
      scopes: ['read'],
    },
  ],
  users: [ALICE, BOB, CAROL, DAVE],
};

// Per (address, client id or username): 3. Per address: 8. Per username: 5.
const LIMITS = {
  RATE_LIMIT_MAX_FAILURES: '3',
  RATE_LIMIT_MAX_FAILURES_PER_IP: '8',
  LOGIN_MAX_FAILURES_PER_USER: '5',
  RATE_LIMIT_WINDOW: '10m',
};

let s: Started;
beforeAll(async () => {
  s = await startApp({ ...LIMITS, TRUST_PROXY: '1', DEMO: '0', GRANTS: 'client_credentials,password' }, seed);
});
afterAll(async () => {
  await s?.close();
});

const basic = (id: string, secret: string) => {
  const enc = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
};

async function cc(ip: string, id: string, secret: string, path = '/oauth/token') {
  const r = await fetch(`${s.app.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(id, secret), 'x-forwarded-for': ip },
    body: path === '/oauth/token' ? 'grant_type=client_credentials&scope=read' : 'token=abc',
  });
  return {
    status: r.status,
    retryAfter: r.headers.get('retry-after'),
    type: r.headers.get('content-type'),
    cacheControl: r.headers.get('cache-control'),
    body: await r.json().catch(() => null),
  };
}

/** A 429 as RFC 6585 and the token endpoint's error format want it. */
function expectThrottled(r: Awaited<ReturnType<typeof cc>>): void {
  expect(r.status).toBe(429);
  expect(r.type).toContain('application/json');
  expect(r.cacheControl).toBe('no-store');
  expect(r.retryAfter).toMatch(/^[1-9]\d*$/); // delay-seconds: digits only
  expect(Number(r.retryAfter)).toBeLessThanOrEqual(600);
  expect(r.body).toMatchObject({ error: 'temporarily_unavailable' });
}

describe('client authentication: 429 per (address, client id), with a higher ceiling per address', () => {
  it('throttles a probe from one address while the client keeps getting tokens from another', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await cc('10.0.0.1', 'svc', `wrong-${i}`)).status).toBe(401);
      expect((await cc('10.0.0.2', 'svc', TRICKY_SECRET)).status).toBe(200);
    }
    const blocked = await cc('10.0.0.1', 'svc', 'wrong-again');
    expectThrottled(blocked);
    // Throttled before the secret is checked: the right secret from that address waits too.
    expectThrottled(await cc('10.0.0.1', 'svc', TRICKY_SECRET));
    for (let i = 0; i < 5; i++) {
      expect((await cc('10.0.0.1', 'svc', 'still-wrong')).status).toBe(429);
      expect((await cc('10.0.0.2', 'svc', TRICKY_SECRET)).status).toBe(200);
    }
    // The lockout is for that client id only: the address is below its ceiling.
    expect((await cc('10.0.0.1', OTHER.id, OTHER.secret)).status).toBe(200);
  });

  it('never locks a client out for other addresses, however many addresses fail for it', async () => {
    for (let i = 0; i < 12; i++) expect((await cc(`10.1.0.${i}`, OTHER.id, 'wrong')).status).toBe(401);
    expect((await cc('10.1.1.1', OTHER.id, OTHER.secret)).status).toBe(200);
  });

  it('lets one address fail against throw-away client ids up to its ceiling before it blocks the address', async () => {
    for (let i = 0; i < 7; i++) expect((await cc('10.2.0.1', `ghost-${i}`, 'wrong')).status).toBe(401);
    // Seven failures, each for another id: other clients behind that address are not locked out.
    expect((await cc('10.2.0.1', 'svc', TRICKY_SECRET)).status).toBe(200);
    expect((await cc('10.2.0.1', 'ghost-7', 'wrong')).status).toBe(401);
    // The eighth reached the ceiling: the address waits, for every client and endpoint.
    expectThrottled(await cc('10.2.0.1', 'svc', TRICKY_SECRET));
    expectThrottled(await cc('10.2.0.1', OTHER.id, OTHER.secret, '/oauth/introspect'));
    expect((await cc('10.2.0.1', OTHER.id, OTHER.secret, '/oauth/revoke')).status).toBe(429);
    // Metadata and other addresses are not affected.
    const meta = await fetch(`${s.app.url}/.well-known/oauth-authorization-server`, { headers: { 'x-forwarded-for': '10.2.0.1' } });
    expect(meta.status).toBe(200);
    expect((await cc('10.2.0.2', 'svc', TRICKY_SECRET)).status).toBe(200);
  });

  it('counts client_secret_post failures (client_id in the body) per address too', async () => {
    const post = (ip: string, secret: string) =>
      fetch(`${s.app.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: POST_CLIENT.id, client_secret: secret }).toString(),
      }).then((r) => r.status);
    expect(await post('10.3.0.1', POST_CLIENT.secret)).toBe(200);
    for (let i = 0; i < 3; i++) expect(await post('10.3.0.1', 'wrong')).toBe(401);
    expect(await post('10.3.0.1', POST_CLIENT.secret)).toBe(429);
    expect(await post('10.3.0.2', POST_CLIENT.secret)).toBe(200);
  });

  it('counts by the right-most X-Forwarded-For entry: rotating the left-most one does not reset the count', async () => {
    for (let i = 0; i < 3; i++) expect((await cc(`203.0.113.${i}, 10.4.0.1`, 'svc', 'wrong')).status).toBe(401);
    expectThrottled(await cc('203.0.113.99, 10.4.0.1', 'svc', TRICKY_SECRET));
    // The forged entry is not the address: 203.0.113.0 itself is not throttled.
    expect((await cc('203.0.113.0', 'svc', TRICKY_SECRET)).status).toBe(200);
  });
});

/** A browser that has loaded the login page, posting as coming from `ip` (via X-Forwarded-For). */
async function loginForm() {
  const b = new CookieClient(s.app.url);
  const page = await (await b.get('/login')).text();
  const csrf = field(page, 'csrf');
  return async (xff: string, username: string, password: string) => {
    const r = await b.post('/login', { csrf, username, password, return_to: '/' }, { 'x-forwarded-for': xff });
    return { status: r.status, retryAfter: r.headers.get('retry-after'), text: await r.text() };
  };
}

describe('sign-in limit', () => {
  it('answers 429 with Retry-After on the login page after repeated wrong passwords from one address', async () => {
    const login = await loginForm();
    for (let i = 0; i < 3; i++) expect((await login('10.5.0.1', ALICE.username, 'wrong')).status).toBe(401);
    const blocked = await login('10.5.0.1', ALICE.username, ALICE.password);
    expect(blocked.status).toBe(429);
    expect(blocked.retryAfter).toMatch(/^[1-9]\d*$/);
    expect(blocked.text).toContain('Too many failed sign-ins');
    expect((await login('10.5.0.2', ALICE.username, ALICE.password)).status).toBe(303);
  });

  it('with TRUST_PROXY=1 counts by the right-most X-Forwarded-For entry, never the left-most a client can forge', async () => {
    const login = await loginForm();
    for (let i = 0; i < 3; i++) expect((await login(`198.51.100.${i}, 10.6.0.1`, CAROL.username, 'wrong')).status).toBe(401);
    expect((await login('198.51.100.50, 10.6.0.1', CAROL.username, CAROL.password)).status).toBe(429);
    // The address logged is the right-most one as well; the forged entries appear nowhere.
    const lines = s.logs.filter((l) => l.includes('"path":"/login"') && l.includes('10.6.0.1'));
    expect(lines.length).toBeGreaterThanOrEqual(4);
    expect(s.logs.join('\n')).not.toContain('198.51.100.');
  });

  it('limits failed sign-ins per username from all addresses together (unknown usernames alike)', async () => {
    const login = await loginForm();
    // Five addresses, one failure each: no (address, username) pair is near its limit of 3.
    for (let i = 0; i < 5; i++) {
      const name = i % 2 === 0 ? BOB.username : BOB.username.toUpperCase(); // one count, whatever the case
      expect((await login(`10.7.0.${i}`, name, 'wrong')).status).toBe(401);
    }
    const blocked = await login('10.7.1.1', BOB.username, BOB.password);
    expect(blocked.status).toBe(429);
    expect(blocked.retryAfter).toMatch(/^[1-9]\d*$/);
    // Another user signs in from the same addresses.
    expect((await login('10.7.0.1', DAVE.username, DAVE.password)).status).toBe(303);
    // A username that does not exist is throttled the same way, so 429 reveals nothing.
    for (let i = 0; i < 5; i++) expect((await login(`10.7.2.${i}`, 'nobody-here', 'wrong')).status).toBe(401);
    expect((await login('10.7.3.1', 'nobody-here', 'wrong')).status).toBe(429);
  });

  it('applies to the password grant: 429 JSON with Retry-After, shared with the login page', async () => {
    const grant = (ip: string, password: string) =>
      fetch(`${s.app.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('svc', TRICKY_SECRET), 'x-forwarded-for': ip },
        body: new URLSearchParams({ grant_type: 'password', username: DAVE.username, password, scope: 'read' }).toString(),
      });
    for (let i = 0; i < 3; i++) expect((await grant('10.8.0.1', 'wrong')).status).toBe(400);
    const r = await grant('10.8.0.1', DAVE.password);
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(r.headers.get('content-type')).toContain('application/json');
    expect(await r.json()).toMatchObject({ error: 'temporarily_unavailable' });
    const login = await loginForm();
    expect((await login('10.8.0.1', DAVE.username, DAVE.password)).status).toBe(429);
    expect((await grant('10.8.0.2', DAVE.password)).status).toBe(200);
  });
});

describe('TRUST_PROXY with two proxies', () => {
  it('takes the entry two hops from the right, and the socket address without a header', async () => {
    const t = await startApp({ ...LIMITS, TRUST_PROXY: '2', DEMO: '0' }, seed);
    try {
      const b = new CookieClient(t.app.url);
      const page = await (await b.get('/login')).text();
      const post = (xff?: string) =>
        b.post(
          '/login',
          { csrf: field(page, 'csrf'), username: ALICE.username, password: 'wrong', return_to: '/' },
          xff ? { 'x-forwarded-for': xff } : {},
        );
      // forged, client (added by the outer proxy), outer proxy (added by the inner one)
      for (let i = 0; i < 3; i++) expect((await post(`192.0.2.${i}, 10.9.0.1, 10.255.0.1`)).status).toBe(401);
      expect((await post('192.0.2.77, 10.9.0.1, 10.255.0.2')).status).toBe(429);
      expect((await post('10.9.0.2, 10.255.0.1')).status).toBe(401);
      expect((await post()).status).toBe(401);
      const ips = t.logs.map((l) => JSON.parse(l) as { path?: string; ip?: string }).filter((e) => e.path === '/login');
      expect(ips.map((e) => e.ip)).toEqual(['127.0.0.1', '10.9.0.1', '10.9.0.1', '10.9.0.1', '10.9.0.1', '10.9.0.2', '127.0.0.1']);
    } finally {
      await t.close();
    }
  });
});

describe('client address', () => {
  it('parses and normalizes IP addresses, refusing anything else', () => {
    expect(parseAddress(' 192.0.2.1 ')).toBe('192.0.2.1');
    expect(parseAddress('192.0.2.1:443')).toBe('192.0.2.1');
    expect(parseAddress('[2001:DB8::1]:443')).toBe('2001:db8::1');
    expect(parseAddress('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(parseAddress('fe80::1%eth0')).toBe('fe80::1');
    for (const bad of ['unknown', '_hidden', '', '999.1.1.1', '1.2.3.4 <script>', 'a'.repeat(100), '"1.2.3.4"']) {
      expect(parseAddress(bad)).toBeNull();
    }
  });

  it('takes the entry the trusted hop count names, the socket peer otherwise', () => {
    expect(clientAddress('10.0.0.9', '1.1.1.1, 2.2.2.2', 0)).toBe('10.0.0.9');
    expect(clientAddress('10.0.0.9', '1.1.1.1, 2.2.2.2', 1)).toBe('2.2.2.2');
    expect(clientAddress('10.0.0.9', '1.1.1.1, 2.2.2.2', 2)).toBe('1.1.1.1');
    expect(clientAddress('10.0.0.9', '2.2.2.2', 3)).toBe('2.2.2.2');
    expect(clientAddress('10.0.0.9', ['1.1.1.1', '2.2.2.2'], 1)).toBe('2.2.2.2');
    expect(clientAddress('10.0.0.9', '1.1.1.1, unknown', 1)).toBe('10.0.0.9');
    expect(clientAddress('10.0.0.9', undefined, 1)).toBe('10.0.0.9');
    expect(clientAddress('::ffff:10.0.0.9', undefined, 0)).toBe('10.0.0.9');
  });

  it('counts IPv6 addresses by their /64', () => {
    expect(addressBucket('192.0.2.1')).toBe('192.0.2.1');
    expect(addressBucket('2001:db8:1:2:a:b:c:d')).toBe('2001:db8:1:2::/64');
    expect(addressBucket('2001:db8:1:2::ffff')).toBe('2001:db8:1:2::/64');
    expect(addressBucket('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressBucket('::1')).toBe('0:0:0:0::/64');
    expect(addressBucket('64:ff9b::192.0.2.1')).toBe('64:ff9b:0:0::/64');
  });
});

describe('FailureCounter', () => {
  it('keeps at most maxEntries keys, dropping expired then least recently failing', () => {
    const c = new FailureCounter(2, 1000, 5);
    for (let i = 0; i < 1000; i++) c.fail(`k${i}`, 0);
    expect(c.size).toBe(5);
    c.fail('k999', 0);
    expect(c.retryAfter('k999', 0)).toBe(1);
    expect(c.retryAfter('k0', 0)).toBe(0); // evicted
    // k995 failing again makes it the most recent: k996 is dropped before it.
    c.fail('k995', 0);
    c.fail('new', 0);
    expect(c.retryAfter('k995', 0)).toBe(1);
  });

  it('blocks at maxFailures and forgets after the window', () => {
    const c = new FailureCounter(3, 60_000, 100);
    c.fail('a', 0);
    c.fail('a', 1000);
    expect(c.retryAfter('a', 1000)).toBe(0);
    c.fail('a', 2000);
    expect(c.retryAfter('a', 2000)).toBe(58);
    expect(c.retryAfter('a', 60_000)).toBe(0);
    c.fail('a', 60_001);
    expect(c.retryAfter('a', 60_001)).toBe(0);
  });

  it('counts nothing with maxFailures 0 (the limit is off)', () => {
    const c = new FailureCounter(0, 60_000, 100);
    for (let i = 0; i < 10; i++) c.fail('a', 0);
    expect(c.retryAfter('a', 0)).toBe(0);
    expect(c.size).toBe(0);
  });

  it('keys the client lockout on the client id core says the request claims (HookContext.claimedClientId)', async () => {
    const limit = createClientAuthRateLimit(
      { maxFailures: 2, maxFailuresPerIp: 100, maxSignInFailuresPerUser: 0, windowSeconds: 60, maxEntries: 100 },
      () => '192.0.2.1',
      memoryState({ sessionTtlMs: 60_000, sessionMaxEntries: 10 }),
    );
    // The request names no client itself: only what core reports can key the count.
    const request = { method: 'POST', url: '/oauth/token', headers: {}, body: 'grant_type=client_credentials' };
    const ctx = (id: string | null) => ({ endpoint: 'token' as const, request, claimedClientId: () => id });
    const failed = {
      valid: false,
      error: 'invalid_client' as const,
      clientId: null,
      userId: null,
      grantType: 'client_credentials',
      scopes: null,
      response: null,
    };
    for (let i = 0; i < 2; i++) await limit.afterRequest(ctx('a b+c'), failed);
    expect((await limit.beforeRequest(ctx('a b+c')))?.status).toBe(429);
    expect(await limit.beforeRequest(ctx('another'))).toBeUndefined();
    expect(await limit.beforeRequest(ctx(null))).toBeUndefined();
  });
});
