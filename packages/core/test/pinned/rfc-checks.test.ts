/**
 * RFC rules that no other test pinned: each test fails when the check that enforces the rule is
 * removed, and asserts the exact status, `error` and the relevant header.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { OAuthRequest } from '../../src/index.js';
import { authorizeUrl, basic, body, CB, exchange, form, get, ISSUER, location, makeProvider, SECRET, type StoreKind } from '../helpers.js';

const KINDS: StoreKind[] = ['memory', 'permissive'];
const confAuth = { authorization: basic('conf', SECRET) };
const s256 = (v: string) => createHash('sha256').update(v).digest('base64url');
const UNRESERVED = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~';
/** A verifier of `n` characters drawn from every unreserved character (RFC 7636 4.1). */
const verifierOf = (n: number) => Array.from({ length: n }, (_, i) => UNRESERVED[i % UNRESERVED.length]).join('');

async function codeFor(provider: ReturnType<typeof makeProvider>['provider'], challenge: string, method = 'S256') {
  const a = await provider.authorize(
    get(
      authorizeUrl({
        response_type: 'code',
        client_id: 'conf',
        redirect_uri: CB,
        scope: 'read',
        code_challenge: challenge,
        code_challenge_method: method,
      }),
    ),
  );
  if (a.type !== 'consent') throw new Error(`expected consent, got ${a.response.status} ${a.response.headers.Location}`);
  const r = await provider.completeAuthorization(a.request, { approved: true, userId: 'u-1' });
  return location(r).searchParams.get('code')!;
}

describe('PKCE code_verifier syntax (RFC 7636 4.1: 43-128 unreserved characters)', () => {
  for (const kind of KINDS) {
    it(`accepts 43 and 128 characters of every unreserved character (${kind} stores)`, async () => {
      const { provider } = makeProvider({}, kind);
      for (const n of [43, 128]) {
        const v = verifierOf(n);
        const r = await exchange(provider, await codeFor(provider, s256(v)), v);
        expect(r.status, `${n} characters`).toBe(200);
      }
    });
  }

  it('refuses 42 and 129 characters, and a character outside the set, even when the S256 matches', async () => {
    const { provider } = makeProvider();
    const bad = [verifierOf(42), verifierOf(129), `${verifierOf(42)}!`, `${verifierOf(42)}+`, `${verifierOf(42)} `];
    for (const v of bad) {
      const r = await exchange(provider, await codeFor(provider, s256(v)), v);
      expect(r.status, v).toBe(400);
      expect(body(r), v).toEqual({ error: 'invalid_grant', error_description: 'code_verifier is malformed' });
    }
  });
});

describe('PKCE code_challenge syntax at the authorization endpoint', () => {
  it('accepts a plain challenge of 43 and 128 unreserved characters, refuses 42, 129 and other characters', async () => {
    const { provider } = makeProvider({ pkce: { allowPlain: true } });
    const ask = (challenge: string) =>
      provider.authorize(
        get(
          authorizeUrl({
            response_type: 'code',
            client_id: 'conf',
            redirect_uri: CB,
            scope: 'read',
            state: 'st',
            code_challenge: challenge,
            code_challenge_method: 'plain',
          }),
        ),
      );
    for (const n of [43, 128]) expect((await ask(verifierOf(n))).type, `${n}`).toBe('consent');
    for (const c of [verifierOf(42), verifierOf(129), `${verifierOf(42)}!`]) {
      const a = await ask(c);
      expect(a.type).toBe('response');
      if (a.type !== 'response') continue;
      const loc = location(a.response);
      expect(loc.origin + loc.pathname).toBe(CB);
      expect(loc.searchParams.get('error')).toBe('invalid_request');
      expect(loc.searchParams.get('error_description')).toBe('code_challenge is malformed');
      expect(loc.searchParams.get('state')).toBe('st');
    }
  });
});

describe('authorization redirects (RFC 6749 4.1.2, 4.2.2)', () => {
  it('leaves state out when the request had none, in successes and errors', async () => {
    const { provider } = makeProvider();
    const base = { response_type: 'code', client_id: 'conf', redirect_uri: CB, scope: 'read' };
    const ok = await provider.authorize(
      get(authorizeUrl({ ...base, code_challenge: s256(verifierOf(43)), code_challenge_method: 'S256' })),
    );
    expect(ok.type).toBe('consent');
    if (ok.type !== 'consent') return;
    const approved = location(await provider.completeAuthorization(ok.request, { approved: true, userId: 'u' }));
    expect(approved.searchParams.has('state')).toBe(false);
    expect([...approved.searchParams.keys()].sort()).toEqual(['code', 'iss']);
    const denied = location(await provider.completeAuthorization(ok.request, { approved: false }));
    expect(denied.searchParams.has('state')).toBe(false);
    expect(denied.searchParams.get('error')).toBe('access_denied');
    const bad = await provider.authorize(get(authorizeUrl({ ...base, scope: 'nope' })));
    expect(bad.type).toBe('response');
    if (bad.type === 'response') {
      const loc = location(bad.response);
      expect(loc.searchParams.get('error')).toBe('invalid_scope');
      expect(loc.searchParams.has('state')).toBe(false);
    }
  });

  it('answers the code flow in the query only, and the implicit flow in the fragment only', async () => {
    const { provider } = makeProvider();
    const code = await provider.authorize(
      get(
        authorizeUrl({
          response_type: 'code',
          client_id: 'conf',
          redirect_uri: CB,
          scope: 'read',
          state: 'st',
          code_challenge: s256(verifierOf(43)),
          code_challenge_method: 'S256',
        }),
      ),
    );
    if (code.type !== 'consent') throw new Error('expected consent');
    const c = location(await provider.completeAuthorization(code.request, { approved: true, userId: 'u' }));
    expect(c.hash).toBe('');
    expect(c.searchParams.get('state')).toBe('st');
    const deniedCode = location(await provider.completeAuthorization(code.request, { approved: false }));
    expect(deniedCode.hash).toBe('');
    expect(deniedCode.searchParams.get('error')).toBe('access_denied');

    const implicit = await provider.authorize(
      get(authorizeUrl({ response_type: 'token', client_id: 'conf', redirect_uri: CB, scope: 'read', state: 'st' })),
    );
    if (implicit.type !== 'consent') throw new Error('expected consent');
    const t = location(await provider.completeAuthorization(implicit.request, { approved: true, userId: 'u' }));
    expect(t.search).toBe('');
    const f = new URLSearchParams(t.hash.slice(1));
    expect(f.get('token_type')).toBe('Bearer');
    expect(f.get('state')).toBe('st');
    expect(f.get('iss')).toBe(ISSUER);
    expect(f.get('expires_in')).toBe('3600');
    expect((await provider.verifyAccessToken(get('/api', { authorization: `Bearer ${f.get('access_token')}` }))).ok).toBe(true);
    const deniedToken = location(await provider.completeAuthorization(implicit.request, { approved: false }));
    expect(deniedToken.search).toBe('');
    expect(new URLSearchParams(deniedToken.hash.slice(1)).get('error')).toBe('access_denied');
  });
});

describe('bearer token transport (RFC 6750 2)', () => {
  async function setup(kind: StoreKind) {
    const { provider } = makeProvider({}, kind);
    const t = body(await provider.token(form({ grant_type: 'client_credentials', scope: 'read' }, confAuth)));
    return { provider, token: t.access_token as string };
  }
  function expectNoToken(r: Awaited<ReturnType<ReturnType<typeof makeProvider>['provider']['verifyAccessToken']>>, what: string) {
    expect(r.ok, what).toBe(false);
    if (r.ok) return;
    expect(r.response.status, what).toBe(401);
    expect(body(r.response), what).toEqual({ error: 'invalid_token', error_description: 'A bearer token is required' });
    // No token found: no error code in the challenge (RFC 6750 3.1).
    expect(r.response.headers['WWW-Authenticate'], what).toBe('Bearer realm="oauth"');
  }

  for (const kind of KINDS) {
    it(`does not take a token from an Authorization header of another scheme (${kind} stores)`, async () => {
      const { provider, token } = await setup(kind);
      expect((await provider.verifyAccessToken(get('/api', { authorization: `Bearer ${token}` }))).ok).toBe(true);
      for (const scheme of ['Token', 'Basic', 'Bearerx', 'MAC', 'DPoP']) {
        expectNoToken(await provider.verifyAccessToken(get('/api', { authorization: `${scheme} ${token}` })), scheme);
      }
      expectNoToken(await provider.verifyAccessToken(get('/api', { authorization: token })), 'no scheme');
    });

    it(`does not take a form-body token on GET or HEAD (${kind} stores)`, async () => {
      const { provider, token } = await setup(kind);
      for (const method of ['GET', 'HEAD']) {
        const req: OAuthRequest = {
          method,
          url: '/api',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `access_token=${token}`,
        };
        expectNoToken(await provider.verifyAccessToken(req), method);
      }
      // The same body on POST is a valid transport.
      const post = await provider.verifyAccessToken({
        method: 'POST',
        url: '/api',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `access_token=${token}`,
      });
      expect(post.ok).toBe(true);
      // And only a form body: the same text as JSON or plain text is no token.
      const plain = await provider.verifyAccessToken({
        method: 'POST',
        url: '/api',
        headers: { 'content-type': 'text/plain' },
        body: `access_token=${token}`,
      });
      expectNoToken(plain, 'text/plain');
    });
  }
});
