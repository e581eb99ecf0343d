/**
 * Core's own security checks, each pinned by a test that fails when the check is removed. Most run
 * on the permissive reference store, which hands back what the memory stores would filter
 * (expired records, another client's code), so the refusal can only come from core. Each test
 * asserts the exact status, `error` and the relevant header.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { safeEqual } from '../../src/crypto.js';
import type { OAuthResponse } from '../../src/index.js';
import {
  authorizeUrl,
  basic,
  body,
  CB,
  confidential,
  exchange,
  form,
  get,
  getCode,
  ISSUER,
  location,
  makeProvider,
  OTHER_SECRET,
  SECRET,
  SECRET_HASH,
  type StoreKind,
} from '../helpers.js';

const KINDS: StoreKind[] = ['memory', 'permissive'];
const confAuth = { authorization: basic('conf', SECRET) };
const otherAuth = { authorization: basic('other', OTHER_SECRET) };

function expectError(r: OAuthResponse, status: number, error: string): void {
  expect(r.status, r.body).toBe(status);
  expect(body(r).error).toBe(error);
  expect(r.headers['Cache-Control']).toBe('no-store');
}

/** A permissive provider, its stores, and a code + tokens of `conf`. */
async function permissiveTokens(options: Parameters<typeof makeProvider>[0] = {}) {
  const { provider, stores } = makeProvider(options, 'permissive');
  const { code, verifier } = await getCode(provider);
  const r = await exchange(provider, code, verifier);
  expect(r.status).toBe(200);
  const t = body(r) as { access_token: string; refresh_token: string };
  return { provider, stores: stores as unknown as { expireAll(at?: Date): void }, ...t };
}

const refresh = (provider: ReturnType<typeof makeProvider>['provider'], token: string, headers = confAuth, extra = {}) =>
  provider.token(form({ grant_type: 'refresh_token', refresh_token: token, ...extra }, headers));

const bearer = (token: string) => get('/api', { authorization: `Bearer ${token}` });

describe('the client check of authorization codes', () => {
  it('refuses a code redeemed by another client, even when the store hands it over', async () => {
    const { provider } = makeProvider({}, 'permissive');
    const { code, verifier } = await getCode(provider);
    // Same redirect URI and the right verifier: only the client check stands in the way.
    const r = await exchange(provider, code, verifier, CB, basic('other', OTHER_SECRET));
    expectError(r, 400, 'invalid_grant');
    expect(body(r).error_description).toBe('The authorization code was issued to another client');
  });
});

describe('the client check of refresh tokens', () => {
  for (const rotation of [false, true]) {
    for (const kind of KINDS) {
      it(`refuses another client's refresh token (${rotation ? 'with' : 'without'} rotation, ${kind} stores)`, async () => {
        const { provider } = makeProvider({ refreshTokenRotation: rotation }, kind);
        const { code, verifier } = await getCode(provider);
        const t = body(await exchange(provider, code, verifier)) as { access_token: string; refresh_token: string };
        const r = await refresh(provider, t.refresh_token, otherAuth);
        expectError(r, 400, 'invalid_grant');
        expect(body(r).error_description).toBe('The refresh token was issued to another client');
        if (rotation) {
          // Rotation on: the token is treated as stolen and its family revoked.
          expect((await provider.verifyAccessToken(bearer(t.access_token))).ok).toBe(false);
          expectError(await refresh(provider, t.refresh_token), 400, 'invalid_grant');
        } else {
          // Rotation off: the rightful client keeps using it.
          expect((await refresh(provider, t.refresh_token)).status).toBe(200);
        }
      });
    }
  }
});

describe("core's expiry re-checks (a store may return expired records)", () => {
  const NOW = new Date('2031-05-06T07:08:09.500Z');
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('refuses an authorization code whose expiresAt is now', async () => {
    const { provider, stores } = makeProvider({}, 'permissive');
    const { code, verifier } = await getCode(provider);
    (stores as unknown as { expireAll(at?: Date): void }).expireAll(new Date(Date.now()));
    const r = await exchange(provider, code, verifier);
    expectError(r, 400, 'invalid_grant');
    expect(body(r).error_description).toBe('The authorization code has expired');
  });

  it('accepts an authorization code until its last millisecond', async () => {
    const { provider, stores } = makeProvider({}, 'permissive');
    const { code, verifier } = await getCode(provider);
    (stores as unknown as { expireAll(at?: Date): void }).expireAll(new Date(Date.now() + 1));
    expect((await exchange(provider, code, verifier)).status).toBe(200);
  });

  it('refuses an access token whose expiresAt is now: 401 invalid_token with a Bearer challenge', async () => {
    const { provider, stores, access_token } = await permissiveTokens();
    stores.expireAll(new Date(Date.now() + 1));
    expect((await provider.verifyAccessToken(bearer(access_token))).ok).toBe(true);
    stores.expireAll(new Date(Date.now()));
    const r = await provider.verifyAccessToken(bearer(access_token));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.response.status).toBe(401);
    expect(body(r.response)).toEqual({ error: 'invalid_token', error_description: 'The access token is invalid or has expired' });
    expect(r.response.headers['WWW-Authenticate']).toBe(
      'Bearer realm="oauth", error="invalid_token", error_description="The access token is invalid or has expired"',
    );
  });

  it('answers {"active":false} at introspection for a token whose expiresAt is now', async () => {
    const { provider, stores, access_token, refresh_token } = await permissiveTokens();
    const introspect = (token: string) => provider.introspect(form({ token }, confAuth, '/oauth/introspect'));
    stores.expireAll(new Date(Date.now() + 1));
    expect(body(await introspect(access_token)).active).toBe(true);
    stores.expireAll(new Date(Date.now()));
    for (const token of [access_token, refresh_token]) {
      const r = await introspect(token);
      expect(r.status).toBe(200);
      expect(r.body).toBe('{"active":false}');
      expect(r.headers['Cache-Control']).toBe('no-store');
    }
  });

  it('gives exp in seconds since the epoch (RFC 7662 2.2), not milliseconds', async () => {
    const { provider, access_token } = await permissiveTokens();
    const r = body(await provider.introspect(form({ token: access_token }, confAuth, '/oauth/introspect')));
    expect(r.exp).toBe(Math.floor(NOW.getTime() / 1000) + 3600);
  });

  for (const rotation of [true, false]) {
    it(`refuses a refresh token whose expiresAt is now (${rotation ? 'with' : 'without'} rotation)`, async () => {
      const { provider, stores, refresh_token } = await permissiveTokens({ refreshTokenRotation: rotation });
      stores.expireAll(new Date(Date.now()));
      const r = await refresh(provider, refresh_token);
      expectError(r, 400, 'invalid_grant');
      expect(body(r).error_description).toBe('The refresh token has expired');
    });
    it(`accepts a refresh token until its last millisecond (${rotation ? 'with' : 'without'} rotation)`, async () => {
      const { provider, stores, refresh_token } = await permissiveTokens({ refreshTokenRotation: rotation });
      stores.expireAll(new Date(Date.now() + 1));
      expect((await refresh(provider, refresh_token)).status).toBe(200);
    });
  }
});

describe('the implicit permission check', () => {
  for (const kind of KINDS) {
    it(`refuses response_type=token to a client not registered for implicit (${kind} stores)`, async () => {
      const { provider, stores } = makeProvider({}, kind);
      stores.addClient({ ...confidential, id: 'no-implicit', grantTypes: ['authorization_code'] });
      const a = await provider.authorize(
        get(authorizeUrl({ response_type: 'token', client_id: 'no-implicit', redirect_uri: CB, scope: 'read', state: 'st' })),
      );
      expect(a.type).toBe('response');
      if (a.type !== 'response') return;
      const loc = location(a.response);
      expect(loc.origin + loc.pathname).toBe(CB);
      // The implicit flow answers in the fragment, never in the query.
      expect(loc.search).toBe('');
      const f = new URLSearchParams(loc.hash.slice(1));
      expect(f.get('error')).toBe('unauthorized_client');
      expect(f.get('error_description')).toBe('This client may not use the implicit grant');
      expect(f.get('state')).toBe('st');
      expect(f.get('iss')).toBe(ISSUER);
      expect(f.get('access_token')).toBeNull();
    });
  }
});

describe('the scope check of the password grant', () => {
  it('refuses a scope the client may not ask for: 400 invalid_scope, and issues nothing', async () => {
    const { provider } = makeProvider();
    const pw = (scope: string) =>
      provider.token(form({ grant_type: 'password', username: 'alice', password: 'correct horse', scope }, confAuth));
    for (const scope of ['delete', 'read delete', 'bad"scope']) {
      const r = await pw(scope);
      expectError(r, 400, 'invalid_scope');
      expect(body(r).access_token).toBeUndefined();
    }
    const ok = await pw('read');
    expect(ok.status).toBe(200);
    expect(body(ok).scope).toBe('read');
  });
});

describe('tokenEndpointAuthMethod', () => {
  function setup() {
    const { provider, stores } = makeProvider();
    const base = { redirectUris: [], grantTypes: ['client_credentials' as const], scopes: ['read'] };
    stores.addClient({ ...base, id: 'pub-claims-basic', secretHash: null, tokenEndpointAuthMethod: 'client_secret_basic' });
    stores.addClient({ ...base, id: 'conf-says-none', secretHash: SECRET_HASH, tokenEndpointAuthMethod: 'none' });
    stores.addClient({ ...base, id: 'basic-only', secretHash: SECRET_HASH, tokenEndpointAuthMethod: 'client_secret_basic' });
    stores.addClient({ ...base, id: 'post-only', secretHash: SECRET_HASH, tokenEndpointAuthMethod: 'client_secret_post' });
    const viaBasic = (id: string) => provider.token(form({ grant_type: 'client_credentials' }, { authorization: basic(id, SECRET) }));
    const viaPost = (id: string) => provider.token(form({ grant_type: 'client_credentials', client_id: id, client_secret: SECRET }));
    return { provider, viaBasic, viaPost };
  }

  it('refuses a client without a secret that registered a secret method', async () => {
    const { provider } = setup();
    const r = await provider.token(form({ grant_type: 'client_credentials', client_id: 'pub-claims-basic' }));
    expectError(r, 401, 'invalid_client');
    expect(r.headers['WWW-Authenticate']).toBeUndefined();
  });

  it('refuses a client with a secret that registered none, whichever secret method it uses', async () => {
    const { viaBasic, viaPost } = setup();
    const b = await viaBasic('conf-says-none');
    expectError(b, 401, 'invalid_client');
    expect(b.headers['WWW-Authenticate']).toBe('Basic realm="oauth"');
    const p = await viaPost('conf-says-none');
    expectError(p, 401, 'invalid_client');
    expect(p.headers['WWW-Authenticate']).toBeUndefined();
  });

  it('accepts the registered secret method', async () => {
    const { viaBasic, viaPost } = setup();
    expect((await viaBasic('basic-only')).status).toBe(200);
    expect((await viaPost('post-only')).status).toBe(200);
  });
});

describe('the length guard of safeEqual', () => {
  it('answers false for strings of different lengths instead of throwing', () => {
    expect(safeEqual('abc', 'abcd')).toBe(false);
    expect(safeEqual('abcd', 'abc')).toBe(false);
    expect(safeEqual('', 'a')).toBe(false);
    expect(safeEqual('abc', 'abc')).toBe(true);
  });

  it('refuses a plain PKCE verifier longer than the challenge with invalid_grant, not a 500', async () => {
    const { provider } = makeProvider({ pkce: { allowPlain: true } });
    const challenge = 'a'.repeat(43);
    const a = await provider.authorize(
      get(
        authorizeUrl({
          response_type: 'code',
          client_id: 'conf',
          redirect_uri: CB,
          scope: 'read',
          code_challenge: challenge,
          code_challenge_method: 'plain',
        }),
      ),
    );
    expect(a.type).toBe('consent');
    if (a.type !== 'consent') return;
    const code = location(await provider.completeAuthorization(a.request, { approved: true, userId: 'u' })).searchParams.get('code')!;
    const r = await exchange(provider, code, `${challenge}a`);
    expectError(r, 400, 'invalid_grant');
    expect(body(r).error_description).toBe('code_verifier does not match the code_challenge');
  });

  it('refuses a client whose stored secret hash has a digest of another length with invalid_client, not a 500', async () => {
    const { provider, stores } = makeProvider();
    const [prefix, salt] = SECRET_HASH.split('$');
    stores.addClient({ ...confidential, id: 'short-hash', secretHash: `${prefix}$${salt}$short` });
    const r = await provider.token(form({ grant_type: 'client_credentials' }, { authorization: basic('short-hash', SECRET) }));
    expectError(r, 401, 'invalid_client');
    expect(r.headers['WWW-Authenticate']).toBe('Basic realm="oauth"');
  });
});

describe('the cleaning of parameter names in error descriptions', () => {
  const repeated = (name: string) => {
    const k = encodeURIComponent(name);
    return `grant_type=client_credentials&${k}=1&${k}=2`;
  };
  async function describeRepeat(name: string): Promise<string> {
    const { provider } = makeProvider();
    const r = await provider.token({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...confAuth },
      body: repeated(name),
    });
    expectError(r, 400, 'invalid_request');
    return String(body(r).error_description);
  }

  it('replaces control and non-ASCII characters of a repeated name', async () => {
    const d = await describeRepeat('a\u00e9\n\u0000b');
    expect(d).toContain('a???b');
    expect(d).not.toMatch(/[^\x20-\x7e]/);
  });

  it('replaces spaces, quotes and backslashes of a repeated name, which descriptions may carry elsewhere', async () => {
    const d = await describeRepeat('x y\'z"w\\v');
    expect(d).toContain('x?y?z?w?v');
  });

  it('cuts a long repeated name to 40 characters', async () => {
    const d = await describeRepeat(`${'n'.repeat(40)}TAIL`);
    expect(d).toContain(`${'n'.repeat(40)}...`);
    expect(d).not.toContain('TAIL');
  });
});
