/**
 * The introspection cache against a fake RFC 7662 endpoint that counts its calls, and the Fetch
 * adapter's request handling.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createVerifier, requireOAuthFetch } from '../src/index.js';
import { listen } from './servers.js';

const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers) await c();
});

async function fakeIntrospection(answer: (token: string) => Record<string, unknown>) {
  const l = await listen();
  const seen: { token: string; authorization: string | undefined; contentType: string | undefined }[] = [];
  l.use((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const token = new URLSearchParams(body).get('token') ?? '';
      seen.push({ token, authorization: req.headers.authorization, contentType: req.headers['content-type'] });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer(token)));
    });
  });
  closers.push(l.close);
  return { url: `${l.url}/introspect`, issuer: l.url, seen };
}

describe('introspection cache', () => {
  it('sends client_secret_basic with form-encoded credentials; reuses answers; never past exp; bounded size', async () => {
    const exp = Math.floor(Date.now() / 1000) + 2;
    const fake = await fakeIntrospection((token) =>
      token.startsWith('short') ? { active: true, scope: 'read', client_id: 'c', exp } : { active: token !== 'dead', scope: 'read' },
    );
    const verifier = createVerifier({
      issuer: fake.issuer,
      audience: 'https://api.example',
      clockTolerance: 0,
      introspection: { url: fake.url, clientId: 'api:1', clientSecret: 's+e/c%r t', cacheTtl: 60, cacheSize: 2 },
    });
    expect((await verifier.verify('tok-a', ['read'])).ok).toBe(true);
    expect(fake.seen[0]!.authorization).toBe(`Basic ${Buffer.from('api%3A1:s%2Be%2Fc%25r+t').toString('base64')}`);
    expect(fake.seen[0]!.contentType).toBe('application/x-www-form-urlencoded');
    expect((await verifier.verify('tok-a')).ok).toBe(true);
    expect(fake.seen).toHaveLength(1);
    // Concurrent checks of one token share one request.
    await Promise.all([verifier.verify('tok-b'), verifier.verify('tok-b'), verifier.verify('tok-b')]);
    expect(fake.seen).toHaveLength(2);
    // Size 2: a third token pushes the oldest (tok-a) out.
    expect(await verifier.verify('dead')).toMatchObject({ ok: false, status: 401, error: 'invalid_token' });
    await verifier.verify('tok-a');
    expect(fake.seen.filter((s) => s.token === 'tok-a')).toHaveLength(2);
    // An entry ends at the token's exp, not after cacheTtl.
    expect((await verifier.verify('short-1')).ok).toBe(true);
    expect((await verifier.verify('short-1')).ok).toBe(true);
    expect(fake.seen.filter((s) => s.token === 'short-1')).toHaveLength(1);
    await new Promise((r) => setTimeout(r, exp * 1000 - Date.now() + 100));
    // Asked again (the entry ended at exp), and the answer's own exp is now past.
    expect((await verifier.verify('short-1')).ok).toBe(false);
    expect(fake.seen.filter((s) => s.token === 'short-1')).toHaveLength(2);
  });

  it('refuses an active answer for another issuer or audience', async () => {
    const fake = await fakeIntrospection((token) =>
      token === 'iss' ? { active: true, iss: 'https://evil.example' } : { active: true, aud: 'https://other.example' },
    );
    const verifier = createVerifier({
      issuer: fake.issuer,
      audience: 'https://api.example',
      introspection: { url: fake.url, clientId: 'a', clientSecret: 'b' },
    });
    expect((await verifier.verify('iss')).ok).toBe(false);
    expect((await verifier.verify('aud')).ok).toBe(false);
    expect(() =>
      createVerifier({
        issuer: fake.issuer,
        audience: 'x',
        introspection: { url: fake.url, clientId: 'a', clientSecret: 'b', cacheTtl: 301 },
      }),
    ).toThrow(TypeError);
  });
});

describe('requireOAuthFetch', () => {
  it('takes the header only: a query token, a joined duplicate header and a huge token are refused', async () => {
    const fake = await fakeIntrospection(() => ({ active: true, scope: 'read' }));
    const check = requireOAuthFetch(
      createVerifier({
        issuer: fake.issuer,
        audience: 'https://api.example',
        introspection: { url: fake.url, clientId: 'a', clientSecret: 'b' },
      }),
      'read',
    );
    const req = (url: string, auth?: string) => new Request(url, auth ? { headers: { authorization: auth } } : {});
    const ok = await check(req('http://127.0.0.1/x', 'Bearer abc'));
    expect(ok.ok && ok.token.scopes).toEqual(['read']);
    const statusOf = async (r: Request) => {
      const out = await check(r);
      return out.ok ? 200 : out.response.status;
    };
    expect(await statusOf(req('http://127.0.0.1/x?access_token=abc'))).toBe(400);
    expect(await statusOf(req('http://127.0.0.1/x?access_token=abc', 'Bearer abc'))).toBe(400);
    const dup = new Headers();
    dup.append('authorization', 'Bearer abc');
    dup.append('authorization', 'Bearer def');
    expect(await statusOf(new Request('http://127.0.0.1/x', { headers: dup }))).toBe(400);
    expect(await statusOf(req('http://127.0.0.1/x', `Bearer ${'a'.repeat(9000)}`))).toBe(401);
    expect(await statusOf(req('http://127.0.0.1/x'))).toBe(401);
  });
});
