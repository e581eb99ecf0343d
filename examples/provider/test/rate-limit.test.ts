/** The rate limit on failed client authentication (built on beforeRequest/afterRequest). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimedClientId, FailureCounter } from '../src/rate-limit.js';
import { ALICE, CookieClient, field, type Started, startApp, TRICKY_SECRET } from './helpers.js';

const OTHER = { id: 'other-svc', secret: 'other secret value 123' };
const seed = {
  clients: [
    {
      id: 'svc',
      secret: TRICKY_SECRET,
      grantTypes: ['client_credentials'],
      scopes: ['read'],
    },
    { id: OTHER.id, secret: OTHER.secret, grantTypes: ['client_credentials'], scopes: ['read'] },
  ],
  users: [ALICE],
};

let s: Started;
beforeAll(async () => {
  s = await startApp({ RATE_LIMIT_MAX_FAILURES: '3', RATE_LIMIT_WINDOW: '10m', TRUST_PROXY: '1', DEMO: '0' }, seed);
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
    body: await r.json().catch(() => null),
  };
}

describe('429 after repeated invalid_client', () => {
  it('blocks an IP after 3 failures within the window, with JSON and Retry-After', async () => {
    expect((await cc('10.0.0.1', 'svc', TRICKY_SECRET)).status).toBe(200);
    // Different client ids each time, so only the IP reaches the limit.
    for (let i = 0; i < 3; i++) expect((await cc('10.0.0.1', `ghost-${i}`, 'wrong')).status).toBe(401);
    const blocked = await cc('10.0.0.1', 'svc', TRICKY_SECRET);
    expect(blocked.status).toBe(429);
    expect(blocked.type).toContain('application/json');
    expect(Number(blocked.retryAfter)).toBeGreaterThan(0);
    expect(Number(blocked.retryAfter)).toBeLessThanOrEqual(600);
    expect(blocked.body).toMatchObject({ error: 'temporarily_unavailable' });
    // The same IP is blocked for another client and at the other client-authenticating endpoints.
    expect((await cc('10.0.0.1', OTHER.id, OTHER.secret)).status).toBe(429);
    expect((await cc('10.0.0.1', OTHER.id, OTHER.secret, '/oauth/introspect')).status).toBe(429);
    expect((await cc('10.0.0.1', OTHER.id, OTHER.secret, '/oauth/revoke')).status).toBe(429);
    // Metadata and other IPs are not affected.
    expect(
      (await fetch(`${s.app.url}/.well-known/oauth-authorization-server`, { headers: { 'x-forwarded-for': '10.0.0.1' } })).status,
    ).toBe(200);
    expect((await cc('10.0.0.9', 'svc', TRICKY_SECRET)).status).toBe(200);
  });

  it('blocks a client id guessed from many IPs, and only that client id', async () => {
    for (let i = 0; i < 3; i++) expect((await cc(`10.1.0.${i}`, OTHER.id, 'wrong')).status).toBe(401);
    expect((await cc('10.1.1.1', OTHER.id, OTHER.secret)).status).toBe(429);
    expect((await cc('10.1.1.1', 'svc', TRICKY_SECRET)).status).toBe(200);
  });

  it('counts failures of client_secret_post (client_id in the body) too', async () => {
    const post = (ip: string, secret: string) =>
      fetch(`${s.app.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'svc', client_secret: secret }).toString(),
      }).then((r) => r.status);
    for (let i = 0; i < 3; i++) expect(await post(`10.2.0.${i}`, 'wrong')).toBe(401);
    expect(await post('10.2.1.1', TRICKY_SECRET)).toBe(429);
  });
});

describe('sign-in limit', () => {
  it('answers 429 on the login page after repeated wrong passwords from one IP', async () => {
    const b = new CookieClient(s.app.url);
    const page = await (await b.get('/login')).text();
    const form = (password: string) => ({ csrf: field(page, 'csrf'), username: ALICE.username, password, return_to: '/' });
    const ip = { 'x-forwarded-for': '10.3.0.1' };
    for (let i = 0; i < 3; i++) expect((await b.post('/login', form('wrong'), ip)).status).toBe(401);
    const blocked = await b.post('/login', form(ALICE.password), ip);
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await b.post('/login', form(ALICE.password), { 'x-forwarded-for': '10.3.0.2' })).status).toBe(303);
  });
});

describe('FailureCounter', () => {
  it('keeps at most maxEntries keys, dropping expired then oldest', () => {
    const c = new FailureCounter(2, 1000, 5);
    for (let i = 0; i < 1000; i++) c.fail(`k${i}`, 0);
    expect(c.size).toBe(5);
    c.fail('k999', 0);
    expect(c.retryAfter('k999', 0)).toBe(1);
    expect(c.retryAfter('k0', 0)).toBe(0); // evicted
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

  it('reads the claimed client id from Basic credentials or the form body', () => {
    const req = (headers: Record<string, string>, body?: string) => ({ method: 'POST', url: '/oauth/token', headers, body });
    expect(claimedClientId(req({ authorization: basic('a b+c', 'x') }))).toBe('a b+c');
    expect(claimedClientId(req({}, 'grant_type=x&client_id=z%20y'))).toBe('z y');
    expect(claimedClientId(req({}, 'grant_type=x'))).toBeNull();
  });
});
