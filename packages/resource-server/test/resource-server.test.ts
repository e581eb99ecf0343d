/**
 * The resource server against a real core provider over HTTP on 127.0.0.1.
 * RFC 6750 section 3.1: invalid_request 400, invalid_token 401, insufficient_scope 403.
 * RFC 9068 section 4: iss, aud, exp, typ at+jwt and the signature are checked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, protectedResourceMetadataUrl, requireOAuthFetch, type Verifier } from '../src/index.js';
import { API_SECRET, rawGet, startApi, startOwnIssuer, startProvider } from './servers.js';

const AUD = 'https://api.example';
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c();
});

async function get(url: string, token?: string, headers: Record<string, string> = {}) {
  const r = await fetch(url, { headers: token === undefined ? headers : { authorization: `Bearer ${token}`, ...headers } });
  return { status: r.status, challenge: r.headers.get('www-authenticate'), body: (await r.json()) as Record<string, unknown> };
}

function expectChallenge(r: Awaited<ReturnType<typeof get>>, status: number, error: string) {
  expect(r.status).toBe(status);
  expect(r.body.error).toBe(error);
  expect(r.challenge).toMatch(new RegExp(`^Bearer realm="api", error="${error}", error_description="[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]*"`));
}

describe('JWT access tokens from a core provider', () => {
  let as: Awaited<ReturnType<typeof startProvider>>;
  let api: Awaited<ReturnType<typeof startApi>>;
  let verifier: Verifier;

  beforeAll(async () => {
    as = await startProvider({ audience: AUD });
    closers.push(as.close);
    verifier = createVerifier({ issuer: as.issuer, audience: AUD, resourceMetadata: protectedResourceMetadataUrl(AUD) });
    api = await startApi(verifier, as.issuer);
    closers.push(api.close);
  });

  it('accepts a client_credentials token (JWKS found through RFC 8414 metadata), with req.oauth set', async () => {
    const token = await as.token('read write');
    const r = await get(`${api.url}/api/read`, token);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ clientId: 'app', userId: null, subject: 'app', scopes: ['read', 'write'], source: 'jwt' });
    expect((await get(`${api.url}/api/write`, token)).status).toBe(200);
  });

  it('no token: 401 without an error code, with resource_metadata (RFC 9728)', async () => {
    const r = await get(`${api.url}/api/read`);
    expect(r.status).toBe(401);
    expect(r.challenge).toBe(`Bearer realm="api", resource_metadata="https://api.example/.well-known/oauth-protected-resource"`);
  });

  it('missing scope: 403 insufficient_scope naming the scope', async () => {
    const r = await get(`${api.url}/api/write`, await as.token('read'));
    expectChallenge(r, 403, 'insufficient_scope');
    expect(r.challenge).toContain('scope="write"');
  });

  it('wrong audience: 401 invalid_token', async () => {
    const other = createVerifier({ issuer: as.issuer, audience: 'https://other.example' });
    const check = requireOAuthFetch(other);
    const r = await check(new Request('http://127.0.0.1/x', { headers: { authorization: `Bearer ${await as.token()}` } }));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.response.status).toBe(401);
      expect(r.response.headers.get('www-authenticate')).toContain('error="invalid_token"');
    }
  });

  it('tampered signature and tampered payload: 401 invalid_token', async () => {
    const [h, p, s] = (await as.token()).split('.') as [string, string, string];
    const flipped = s.slice(0, 10) + (s[10] === 'A' ? 'B' : 'A') + s.slice(11);
    expectChallenge(await get(`${api.url}/api/read`, `${h}.${p}.${flipped}`), 401, 'invalid_token');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    const more = Buffer.from(JSON.stringify({ ...claims, scope: 'read write admin' })).toString('base64url');
    expectChallenge(await get(`${api.url}/api/write`, `${h}.${more}.${s}`), 401, 'invalid_token');
  });

  it('alg none: 401 invalid_token', async () => {
    const [, p] = (await as.token()).split('.') as [string, string];
    const h = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url');
    expectChallenge(await get(`${api.url}/api/read`, `${h}.${p}.`), 401, 'invalid_token');
  });

  it('hostile input: huge token, non-token68 header, token in the query too, two Authorization headers', async () => {
    expectChallenge(await get(`${api.url}/api/read`, 'a'.repeat(10_000)), 401, 'invalid_token');
    expectChallenge(await get(`${api.url}/api/read`, 'abc def"\\'), 400, 'invalid_request');
    const token = await as.token();
    expectChallenge(await get(`${api.url}/api/read?access_token=${token}`, token), 400, 'invalid_request');
    expectChallenge(await get(`${api.url}/api/read?access_token=${token}`), 400, 'invalid_request');
    const two = await rawGet(`${api.url}/api/read`, [
      ['Authorization', `Bearer ${token}`],
      ['Authorization', 'Bearer other'],
    ]);
    expect(two.status).toBe(400);
    expect(JSON.parse(two.body).error).toBe('invalid_request');
    // Over Node's own header limit: refused by Node (431), the process stays up.
    const huge = await rawGet(`${api.url}/api/read`, [['Authorization', `Bearer ${'a'.repeat(20_000)}`]]);
    expect(huge.status).toBe(431);
    // Garbage that looks like a JWT; a non-Bearer scheme is no token at all.
    expectChallenge(await get(`${api.url}/api/read`, 'a.b.c'), 401, 'invalid_token');
    expect((await get(`${api.url}/api/read`, undefined, { authorization: 'Basic YTpi' })).status).toBe(401);
    expect((await get(`${api.url}/api/read`, token)).status).toBe(200);
  });

  it('a throwing route handler and an unreachable JWKS never leave an unhandled error', async () => {
    const r = await get(`${api.url}/api/boom`, await as.token());
    expect(r.status).toBe(500);
    expect(r.body.error).toBe('server_error');
    const down = createVerifier({ issuer: as.issuer, audience: AUD, jwksUri: 'http://127.0.0.1:1/jwks' });
    const api2 = await startApi(down, as.issuer);
    closers.push(api2.close);
    // requireOAuth with next: next(err); the Fetch adapter: JSON 500.
    const viaNext = await fetch(`${api2.url}/api/read`, { headers: { authorization: `Bearer ${await as.token()}` } });
    expect(viaNext.status).toBe(502);
    expect(await viaNext.json()).toEqual({ from: 'next(err)' });
    const f = await requireOAuthFetch(down)(
      new Request('http://127.0.0.1/x', { headers: { authorization: `Bearer ${await as.token()}` } }),
    );
    expect(f.ok).toBe(false);
    if (!f.ok) expect(f.response.status).toBe(500);
  });

  it('serves RFC 9728 protected resource metadata', async () => {
    const r = await fetch(`${api.url}/.well-known/oauth-protected-resource`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({
      resource: AUD,
      authorization_servers: [as.issuer],
      scopes_supported: ['read', 'write'],
      bearer_methods_supported: ['header'],
    });
  });
});

describe('expiry and key rotation', () => {
  it('an expired token (1 s lifetime, no skew allowed): 401 invalid_token, "expired"', async () => {
    const as = await startProvider({ audience: AUD, lifetimes: { accessToken: 1 } });
    closers.push(as.close);
    const verifier = createVerifier({ issuer: as.issuer, audience: AUD, clockTolerance: 0 });
    const token = await as.token();
    expect((await verifier.verify(token)).ok).toBe(true);
    await new Promise((r) => setTimeout(r, 2100));
    const api = await startApi(verifier, as.issuer);
    closers.push(api.close);
    const r = await get(`${api.url}/api/read`, token);
    expectChallenge(r, 401, 'invalid_token');
    expect(r.body.error_description).toBe('The access token expired');
  });

  it('after rotateSigningKey, tokens with the new kid verify (unknown kid: the JWKS is fetched again)', async () => {
    const as = await startProvider({ audience: AUD, rotationLeadTime: 0.4, keyCacheTtl: 0.1 });
    closers.push(as.close);
    const verifier = createVerifier({ issuer: as.issuer, audience: AUD, jwks: { cooldownDuration: 0 } });
    const before = await as.token();
    expect((await verifier.verify(before)).ok).toBe(true);
    const { kid, activatesAt } = await as.provider.rotateSigningKey();
    await new Promise((r) => setTimeout(r, activatesAt.getTime() - Date.now() + 150));
    const after = await as.token();
    expect(JSON.parse(Buffer.from(after.split('.')[0]!, 'base64url').toString()).kid).toBe(kid);
    expect((await verifier.verify(after)).ok).toBe(true);
    expect((await verifier.verify(before)).ok).toBe(true);
  });
});

describe('tokens signed with jose directly (a JWKS of the test own)', () => {
  it('typ JWT, wrong issuer, nbf ahead, missing claims: 401; at+jwt and application/at+jwt pass', async () => {
    const own = await startOwnIssuer();
    closers.push(own.close);
    const verifier = createVerifier({ issuer: own.issuer, audience: AUD, jwksUri: own.jwksUri });
    const check = async (t: string) => verifier.verify(t, ['read']);
    expect((await check(await own.sign())).ok).toBe(true);
    expect((await check(await own.sign({}, { typ: 'application/at+jwt' }))).ok).toBe(true);
    for (const bad of [
      await own.sign({}, { typ: 'JWT' }),
      await own.sign({}, { typ: undefined }),
      await own.sign({ iss: 'https://evil.example' }),
      await own.sign({ aud: 'https://other.example' }),
      await own.sign({ nbf: Math.floor(Date.now() / 1000) + 120 }),
      await own.sign({ exp: Math.floor(Date.now() / 1000) - 120 }),
      await own.sign({ client_id: undefined }),
      await own.sign({}, { kid: 'unknown' }),
    ]) {
      expect(await check(bad)).toMatchObject({ ok: false, status: 401, error: 'invalid_token' });
    }
    // Within the default 30 s skew.
    expect((await check(await own.sign({ exp: Math.floor(Date.now() / 1000) - 5 }))).ok).toBe(true);
    expect(() => createVerifier({ issuer: own.issuer, audience: AUD, clockTolerance: 301 })).toThrow(TypeError);
    expect(() => createVerifier({ issuer: own.issuer, audience: AUD, algorithms: ['HS256'] })).toThrow(TypeError);
  });
});

describe('opaque tokens through introspection (RFC 7662)', () => {
  it('are verified by the provider; a revoked one is refused once its cache entry is gone', async () => {
    const as = await startProvider({ format: 'opaque' });
    closers.push(as.close);
    const verifier = createVerifier({
      issuer: as.issuer,
      audience: AUD,
      introspection: { url: `${as.issuer}/oauth/introspect`, clientId: 'api', clientSecret: API_SECRET, cacheTtl: 0.5 },
    });
    const api = await startApi(verifier, as.issuer);
    closers.push(api.close);
    const token = await as.token('read');
    expect(token).not.toContain('.');
    const ok = await get(`${api.url}/api/read`, token);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ clientId: 'app', scopes: ['read'], source: 'introspection' });
    expectChallenge(await get(`${api.url}/api/write`, token), 403, 'insufficient_scope');
    await as.revoke(token);
    // Still cached: the cache is what bounds how late a revocation is seen.
    expect((await get(`${api.url}/api/read`, token)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 600));
    expectChallenge(await get(`${api.url}/api/read`, token), 401, 'invalid_token');
    expectChallenge(await get(`${api.url}/api/read`, 'not-a-token'), 401, 'invalid_token');
  });

  it('wrong introspection credentials: the token cannot be checked (500, never a 200)', async () => {
    const as = await startProvider({ format: 'opaque' });
    closers.push(as.close);
    const verifier = createVerifier({
      issuer: as.issuer,
      audience: AUD,
      introspection: { url: `${as.issuer}/oauth/introspect`, clientId: 'api', clientSecret: 'wrong' },
    });
    const f = await requireOAuthFetch(
      verifier,
      'read',
    )(new Request('http://127.0.0.1/x', { headers: { authorization: `Bearer ${await as.token()}` } }));
    expect(f.ok).toBe(false);
    if (!f.ok) expect(f.response.status).toBe(500);
  });
});
