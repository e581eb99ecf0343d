/**
 * Protected-resource checks (RFC 6750, RFC 9449 section 7, `endpoints/resource.ts`), pinned: each
 * test fails when one of its rules is removed or loosened (mutation testing). The exact
 * `WWW-Authenticate` challenge for each refusal (the DPoP scheme offered only with DPoP on and no
 * error), the parsing of the `Bearer` and `DPoP` schemes (case, extra spaces, a scheme without a
 * token), a form body without `access_token` beside a header, the DPoP request that also sends a
 * body token, a proof naming no URL of this server, and `guardArgs`' two shapes.
 */
import { describe, expect, it } from 'vitest';
import { dpopKey, dpopProof } from '../../../binding-testkit/src/dpop.js';
import {
  createMemoryStores,
  type GuardOptions,
  guardArgs,
  OAuth2Provider,
  type OAuthRequest,
  type ProviderOptions,
  type ResourceResult,
} from '../../src/index.js';
import { basic, clients, form, json, SECRET } from '../security/fixture.js';

const ISSUER = 'https://auth.example';
const API = `${ISSUER}/api/items`;
const all = ['authorization_code', 'refresh_token', 'client_credentials'] as const;

function setup(options: Partial<ProviderOptions> = {}) {
  const stores = createMemoryStores({ clients });
  return new OAuth2Provider({ issuer: ISSUER, grants: [...all], stores, ...options });
}
async function bearer(provider: OAuth2Provider, scope = 'read') {
  const r = await provider.token(form({ grant_type: 'client_credentials', scope }, { authorization: basic('app', SECRET) }));
  expect(r.status, r.body).toBe(200);
  return json(r).access_token as string;
}
async function bound(provider: OAuth2Provider) {
  const key = await dpopKey();
  const req = form({ grant_type: 'client_credentials', scope: 'read' }, { authorization: basic('app', SECRET) });
  const r = await provider.token({ ...req, headers: { ...req.headers, dpop: await dpopProof(key, 'POST', `${ISSUER}/oauth/token`) } });
  expect(r.status, r.body).toBe(200);
  expect(json(r).token_type).toBe('DPoP');
  return { key, token: json(r).access_token as string };
}
const get = (headers: Record<string, string>): OAuthRequest => ({ method: 'GET', url: '/api/items', headers });

function refused(r: ResourceResult, status: number) {
  expect(r.ok).toBe(false);
  if (r.ok) throw new Error('unreachable');
  expect(r.response.status, r.response.body).toBe(status);
  return { body: json(r.response), challenge: r.response.headers['WWW-Authenticate'] };
}

describe('bearer challenges (RFC 6750 section 3)', () => {
  it('an unknown token: invalid_token with no DPoP offer when DPoP is off', async () => {
    const p = setup();
    const { body, challenge } = refused(await p.verifyAccessToken(get({ authorization: 'Bearer unknown-token' })), 401);
    expect(body).toEqual({ error: 'invalid_token', error_description: 'The access token is invalid or has expired' });
    expect(challenge).toBe('Bearer realm="oauth", error="invalid_token", error_description="The access token is invalid or has expired"');
  });

  it('a missing scope: 403 insufficient_scope, Bearer scheme, the scopes needed', async () => {
    const p = setup();
    const token = await bearer(p);
    const { body, challenge } = refused(await p.verifyAccessToken(get({ authorization: `Bearer ${token}` }), ['read', 'write']), 403);
    expect(body.error).toBe('insufficient_scope');
    expect(challenge).toMatch(/^Bearer realm="oauth", error="insufficient_scope", error_description="[^"]*", scope="read write"$/);
  });

  it('a realm with a quote, backslash or line break is sent without them', async () => {
    const p = setup({ realm: 'api "zone"\\\r\nX-Evil: 1' });
    const { challenge } = refused(await p.verifyAccessToken(get({})), 401);
    expect(challenge).toBe('Bearer realm="api zoneX-Evil: 1"');
  });

  it('with DPoP on, a request without a token is offered both schemes; a refused token only its own', async () => {
    const p = setup({ dpop: { enabled: true } });
    const none = refused(await p.verifyAccessToken(get({})), 401);
    expect(none.body).toEqual({ error: 'invalid_token', error_description: 'A bearer token is required' });
    expect(none.challenge).toMatch(/^Bearer realm="oauth", DPoP realm="oauth", algs="[^"]+"$/);
    const bad = refused(await p.verifyAccessToken(get({ authorization: 'Bearer unknown-token' })), 401);
    expect(bad.challenge).toBe(
      'Bearer realm="oauth", error="invalid_token", error_description="The access token is invalid or has expired"',
    );
  });
});

describe('finding the bearer token', () => {
  it('the scheme is case-insensitive and extra spaces before the token are skipped', async () => {
    const p = setup();
    const token = await bearer(p);
    for (const authorization of [`bearer ${token}`, `BEARER ${token}`, `Bearer   ${token}`]) {
      const r = await p.verifyAccessToken(get({ authorization }), ['read']);
      expect(r.ok ? 'ok' : r.response.body).toBe('ok');
    }
  });

  it('a verified bearer token carries no dpopJkt member', async () => {
    const p = setup();
    const token = await bearer(p);
    const r = await p.verifyAccessToken(get({ authorization: `Bearer ${token}` }));
    if (!r.ok) throw new Error(r.response.body);
    expect(Object.hasOwn(r.token, 'dpopJkt')).toBe(false);
    expect(r.token).toMatchObject({ clientId: 'app', userId: null, scopes: ['read'] });
  });

  it('a scheme glued to the token ("Bearerxyz", "BearerX") is no bearer token: the plain challenge', async () => {
    const p = setup();
    const token = await bearer(p);
    for (const authorization of [`Bearer${token}`, 'bearer', 'BearerX', `bearerx${token}`, ` Bearer ${token}`]) {
      const { body, challenge } = refused(await p.verifyAccessToken(get({ authorization })), 401);
      expect(body).toEqual({ error: 'invalid_token', error_description: 'A bearer token is required' });
      expect(challenge).toBe('Bearer realm="oauth"');
    }
  });

  it('a form body without access_token beside the header is one method, not two', async () => {
    const p = setup();
    const token = await bearer(p);
    const req: OAuthRequest = {
      method: 'POST',
      url: '/api/items',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'name=x',
    };
    const r = await p.verifyAccessToken(req, ['read']);
    expect(r.ok ? 'ok' : r.response.body).toBe('ok');
    // Both: refused as two methods.
    const both = refused(await p.verifyAccessToken({ ...req, body: `access_token=${token}` }), 400);
    expect(both.body).toEqual({ error: 'invalid_request', error_description: 'Use one method to send the bearer token' });
  });
});

describe('the DPoP scheme (RFC 9449 section 7.1)', () => {
  it('a bound token works with the scheme in any case and extra spaces; the result names the key', async () => {
    const p = setup({ dpop: { enabled: true } });
    const { key, token } = await bound(p);
    for (const scheme of ['DPoP ', 'dpop ', 'DPoP   ']) {
      const r = await p.verifyAccessToken(
        get({ authorization: `${scheme}${token}`, dpop: await dpopProof(key, 'GET', API, { accessToken: token }) }),
        ['read'],
      );
      if (!r.ok) throw new Error(`${scheme}: ${r.response.body}`);
      expect(r.token.dpopJkt).toBe(key.jkt);
    }
  });

  it('with DPoP on, a bearer token still works through the Bearer scheme', async () => {
    const p = setup({ dpop: { enabled: true } });
    const token = await bearer(p);
    const r = await p.verifyAccessToken(get({ authorization: `Bearer ${token}` }), ['read']);
    expect(r.ok ? 'ok' : r.response.body).toBe('ok');
  });

  it('refusals carry their own descriptions and the DPoP challenge', async () => {
    const p = setup({ dpop: { enabled: true } });
    const { key, token } = await bound(p);
    const proof = () => dpopProof(key, 'GET', API, { accessToken: token });

    const malformed = refused(await p.verifyAccessToken(get({ authorization: 'DPoP a"b', dpop: await proof() })), 400);
    expect(malformed.body).toEqual({ error: 'invalid_request', error_description: 'The Authorization header is malformed' });
    expect(malformed.challenge).toMatch(/^DPoP realm="oauth", error="invalid_request", /);

    const twice = refused(
      await p.verifyAccessToken({
        method: 'POST',
        url: '/api/items',
        headers: {
          authorization: `DPoP ${token}`,
          dpop: await dpopProof(key, 'POST', API, { accessToken: token }),
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: `access_token=${token}`,
      }),
      400,
    );
    expect(twice.body).toEqual({ error: 'invalid_request', error_description: 'Use one method to send the access token' });

    const plain = await bearer(p);
    const unbound = refused(
      await p.verifyAccessToken(get({ authorization: `DPoP ${plain}`, dpop: await dpopProof(key, 'GET', API, { accessToken: plain }) })),
      401,
    );
    expect(unbound.body).toEqual({
      error: 'invalid_token',
      error_description: 'The access token is not DPoP-bound: use the Bearer scheme',
    });
    expect(unbound.challenge).toMatch(/^DPoP realm="oauth", error="invalid_token", /);
  });

  it('"DPoP " without a token is an invalid token, not a missing one', async () => {
    const p = setup({ dpop: { enabled: true } });
    const { body, challenge } = refused(await p.verifyAccessToken(get({ authorization: 'DPoP ' })), 401);
    expect(body.error).toBe('invalid_token');
    expect(challenge).toMatch(/^DPoP realm="oauth", error="invalid_token", /);
  });

  it('a proof whose htu is no URL of this server is refused (hostile htu)', async () => {
    const p = setup({ dpop: { enabled: true } });
    const { key, token } = await bound(p);
    for (const htu of ['Stryker was here', 'https://evil.example/api/items', '']) {
      const r = refused(
        await p.verifyAccessToken(get({ authorization: `DPoP ${token}`, dpop: await dpopProof(key, 'GET', htu, { accessToken: token }) })),
        401,
      );
      expect(r.body.error).toBe('invalid_dpop_proof');
    }
  });
});

describe('guardArgs', () => {
  it('scope names: the scopes, no options', () => {
    expect(guardArgs(['read', 'write'])).toStrictEqual({ scopes: ['read', 'write'], options: undefined });
    expect(guardArgs(['read'])).toStrictEqual({ scopes: ['read'], options: undefined });
    expect(guardArgs([])).toStrictEqual({ scopes: [], options: undefined });
  });

  it('one options object, alone or in a list: its scopes and audience; no audience, no options', () => {
    expect(guardArgs({ scopes: ['read'], audience: 'https://api.example' })).toStrictEqual({
      scopes: ['read'],
      options: { audience: 'https://api.example' },
    });
    expect(guardArgs([{ audience: 'https://api.example' }])).toStrictEqual({ scopes: [], options: { audience: 'https://api.example' } });
    expect(guardArgs([{ scopes: ['write'] }])).toStrictEqual({ scopes: ['write'], options: undefined });
  });

  it('a mix of names and an object, two objects or null is a TypeError', () => {
    const message = 'Portcullis: a guard takes scope names, or one { scopes, audience } object';
    expect(() => guardArgs(['read', { scopes: ['write'] }])).toThrow(new TypeError(message));
    expect(() => guardArgs([{ scopes: ['read'] }, { scopes: ['write'] }])).toThrow(new TypeError(message));
    expect(() => guardArgs([null as unknown as GuardOptions])).toThrow(new TypeError(message));
  });
});
