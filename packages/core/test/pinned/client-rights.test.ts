/**
 * Who may do what with a token: client authentication held to the registered method, malformed
 * Basic credentials, introspection rights, revocation's answer, and what a refused refresh
 * request leaves behind. Run on the memory stores and on the permissive reference.
 */
import { describe, expect, it } from 'vitest';
import type { OAuthResponse } from '../../src/index.js';
import {
  basic,
  body,
  confidential,
  exchange,
  form,
  getCode,
  makeProvider,
  OTHER_SECRET,
  publicClient,
  SECRET,
  SECRET_HASH,
  type StoreKind,
} from '../helpers.js';

const KINDS: StoreKind[] = ['memory', 'permissive'];
const confAuth = { authorization: basic('conf', SECRET) };

function expectError(r: OAuthResponse, status: number, error: string): void {
  expect(r.status, r.body).toBe(status);
  expect(body(r).error).toBe(error);
  expect(r.headers['Cache-Control']).toBe('no-store');
}

async function tokensOf(kind: StoreKind, options: Parameters<typeof makeProvider>[0] = {}) {
  const { provider, stores } = makeProvider(options, kind);
  const { code, verifier } = await getCode(provider, { scope: 'read write' });
  const r = await exchange(provider, code, verifier);
  expect(r.status).toBe(200);
  return { provider, stores, ...(body(r) as { access_token: string; refresh_token: string }) };
}

describe('a registered tokenEndpointAuthMethod is the only method accepted', () => {
  function setup() {
    const { provider, stores } = makeProvider();
    const base = { redirectUris: [], grantTypes: ['client_credentials' as const], scopes: ['read'], secretHash: SECRET_HASH };
    stores.addClient({ ...base, id: 'basic-only', tokenEndpointAuthMethod: 'client_secret_basic' });
    stores.addClient({ ...base, id: 'post-only', tokenEndpointAuthMethod: 'client_secret_post' });
    stores.addClient({ ...base, id: 'either' });
    const viaBasic = (id: string) => provider.token(form({ grant_type: 'client_credentials' }, { authorization: basic(id, SECRET) }));
    const viaPost = (id: string) => provider.token(form({ grant_type: 'client_credentials', client_id: id, client_secret: SECRET }));
    return { viaBasic, viaPost };
  }
  it('refuses client_secret_post from a client registered for client_secret_basic', async () => {
    const r = await setup().viaPost('basic-only');
    expectError(r, 401, 'invalid_client');
    expect(r.headers['WWW-Authenticate']).toBeUndefined();
  });
  it('refuses client_secret_basic from a client registered for client_secret_post, with a Basic challenge', async () => {
    const r = await setup().viaBasic('post-only');
    expectError(r, 401, 'invalid_client');
    expect(r.headers['WWW-Authenticate']).toBe('Basic realm="oauth"');
  });
  it('accepts a public client that registered none, with client_id alone', async () => {
    const { provider, stores } = makeProvider();
    stores.addClient({ ...publicClient, id: 'pub-none', tokenEndpointAuthMethod: 'none' });
    const r = await provider.token(form({ grant_type: 'refresh_token', refresh_token: 'unknown', client_id: 'pub-none' }));
    // Authenticated: the refusal is about the token, not the client.
    expectError(r, 400, 'invalid_grant');
  });
  it('accepts either secret method from a client that registered none', async () => {
    const { viaBasic, viaPost } = setup();
    expect((await viaBasic('either')).status).toBe(200);
    expect((await viaPost('either')).status).toBe(200);
  });
});

describe('malformed Basic credentials: 401 invalid_client with a Basic challenge', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  for (const header of [
    'Basic',
    'Basic ',
    'Basic !!!',
    `Basic ${b64('no-colon')}`,
    `Basic ${b64(':secret')}`,
    `Basic\t${b64(`conf:${SECRET}`)}`,
    `Basic ${b64(`conf%zz:${SECRET}`)}`,
    `Basic ${b64('conf:%zz')}`,
  ]) {
    it(JSON.stringify(header), async () => {
      const { provider } = makeProvider();
      const r = await provider.token(form({ grant_type: 'client_credentials' }, { authorization: header }));
      expectError(r, 401, 'invalid_client');
      expect(body(r).error_description).toBe('Malformed Basic credentials');
      expect(r.headers['WWW-Authenticate']).toBe('Basic realm="oauth"');
    });
  }
  it('accepts spaces around the credentials, and another scheme is no Basic header at all', async () => {
    const { provider } = makeProvider();
    const creds = basic('conf', SECRET).slice('Basic '.length);
    const ok = await provider.token(form({ grant_type: 'client_credentials' }, { authorization: `Basic   ${creds}  ` }));
    expect(ok.status).toBe(200);
    const other = await provider.token(form({ grant_type: 'client_credentials' }, { authorization: `Digest ${creds}` }));
    expectError(other, 401, 'invalid_client');
    expect(body(other).error_description).toBe('Client authentication is required');
    expect(other.headers['WWW-Authenticate']).toBeUndefined();
  });
});

describe('introspection rights (RFC 7662 4)', () => {
  for (const kind of KINDS) {
    it(`answers {"active":false} to another client, the truth to the owner and to a resource server (${kind} stores)`, async () => {
      const { provider, stores, access_token } = await tokensOf(kind);
      stores.addClient({ ...confidential, id: 'rs', secretHash: SECRET_HASH, resourceServer: true });
      const ask = (authorization: string) => provider.introspect(form({ token: access_token }, { authorization }, '/oauth/introspect'));
      const foreign = await ask(basic('other', OTHER_SECRET));
      expect(foreign.status).toBe(200);
      expect(foreign.body).toBe('{"active":false}');
      expect(body(await ask(basic('conf', SECRET)))).toMatchObject({ active: true, client_id: 'conf' });
      expect(body(await ask(basic('rs', SECRET)))).toMatchObject({ active: true, client_id: 'conf' });
    });
  }
});

describe('revocation answers 200 with a JSON body (RFC 7009 2.2)', () => {
  it('for a token revoked, unknown, or of another client', async () => {
    const { provider, access_token } = await tokensOf('memory');
    for (const [token, auth] of [
      [access_token, basic('other', OTHER_SECRET)],
      ['unknown', basic('conf', SECRET)],
      [access_token, basic('conf', SECRET)],
    ] as const) {
      const r = await provider.revoke(form({ token }, { authorization: auth }, '/oauth/revoke'));
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body)).toEqual({});
      expect(r.headers['Content-Type']).toMatch(/^application\/json/);
      expect(r.headers['Cache-Control']).toBe('no-store');
    }
  });
});

describe('a refused refresh request leaves the refresh token usable', () => {
  for (const kind of KINDS) {
    for (const rotation of [true, false]) {
      it(`invalid_scope does not use up the token (${rotation ? 'with' : 'without'} rotation, ${kind} stores)`, async () => {
        const { provider, refresh_token } = await tokensOf(kind, { refreshTokenRotation: rotation });
        const refresh = (extra: Record<string, string> = {}) =>
          provider.token(form({ grant_type: 'refresh_token', refresh_token, ...extra }, confAuth));
        const r = await refresh({ scope: 'read admin' });
        expectError(r, 400, 'invalid_scope');
        expect(body(r).error_description).toMatch(/^Scope .admin. was not granted originally$/);
        const ok = await refresh();
        expect(ok.status).toBe(200);
        expect(body(ok).scope).toBe('read write');
      });
    }
    it(`a narrower scope narrows the access token only (${kind} stores)`, async () => {
      const { provider, refresh_token } = await tokensOf(kind);
      const narrowed = body(await provider.token(form({ grant_type: 'refresh_token', refresh_token, scope: 'read' }, confAuth)));
      expect(narrowed.scope).toBe('read');
      const denied = await provider.verifyAccessToken(
        { method: 'GET', url: '/api', headers: { authorization: `Bearer ${narrowed.access_token}` } },
        ['write'],
      );
      expect(denied.ok).toBe(false);
      // The new refresh token still carries the original grant.
      const again = await provider.token(form({ grant_type: 'refresh_token', refresh_token: String(narrowed.refresh_token) }, confAuth));
      expect(again.status).toBe(200);
      expect(body(again).scope).toBe('read write');
    });
  }
});

describe('a token store whose reads lag behind its consumes', () => {
  // getRefreshToken may miss a token that consumeRefreshToken then finds (a replica behind its
  // primary): core checks what it consumed as well as what it read.
  function lagging(kind: StoreKind) {
    const made = makeProvider({}, kind);
    const laggingTokens = { ...made.stores.tokens, getRefreshToken: async () => null };
    return makeProvider({ stores: { ...made.stores, tokens: laggingTokens } }, kind).provider;
  }
  for (const kind of KINDS) {
    it(`refuses another client's refresh token and revokes its family (${kind} stores)`, async () => {
      const provider = lagging(kind);
      const { code, verifier } = await getCode(provider);
      const t = body(await exchange(provider, code, verifier)) as { access_token: string; refresh_token: string };
      const r = await provider.token(
        form({ grant_type: 'refresh_token', refresh_token: t.refresh_token }, { authorization: basic('other', OTHER_SECRET) }),
      );
      expectError(r, 400, 'invalid_grant');
      expect(body(r).error_description).toBe('The refresh token was issued to another client');
      const again = await provider.verifyAccessToken({
        method: 'GET',
        url: '/api',
        headers: { authorization: `Bearer ${t.access_token}` },
      });
      expect(again.ok).toBe(false);
    });
  }
});
