/**
 * Every error answer by its exact status, `error` and `error_description` (RFC 6749 5.2, 4.1.2.1;
 * RFC 6750 3.1), for the descriptions that quote no request data. A description is what a client
 * developer reads when a request fails; each one is pinned to the case that produces it.
 */
import { describe, expect, it } from 'vitest';
import type { OAuthRequest, OAuthResponse } from '../../src/index.js';
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
  location,
  makeProvider,
  pkce,
  publicClient,
  SECRET,
} from '../helpers.js';

const auth = { authorization: basic('conf', SECRET) };

function expectAnswer(r: OAuthResponse, status: number, error: string, description: string): void {
  expect(r.status, r.body).toBe(status);
  expect(body(r)).toEqual({ error, error_description: description });
  expect(r.headers['Cache-Control']).toBe('no-store');
}

describe('token endpoint descriptions', () => {
  const cases: [string, () => OAuthRequest, number, string, string][] = [
    ['GET', () => ({ method: 'GET', url: '/oauth/token', headers: {} }), 405, 'invalid_request', 'Use POST'],
    [
      'a JSON body',
      () => ({ method: 'POST', url: '/oauth/token', headers: { 'content-type': 'application/json', ...auth }, body: '{}' }),
      400,
      'invalid_request',
      'The body must be application/x-www-form-urlencoded',
    ],
    ['no grant_type', () => form({}, auth), 400, 'invalid_request', 'grant_type is required'],
    ['an unknown grant_type', () => form({ grant_type: 'device_code' }, auth), 400, 'unsupported_grant_type', 'Unsupported grant_type'],
    [
      'Basic and client_secret',
      () => form({ grant_type: 'client_credentials', client_secret: SECRET }, auth),
      400,
      'invalid_request',
      'Use one client authentication method, not both Basic and client_secret',
    ],
    [
      'a client_id other than the Basic one',
      () => form({ grant_type: 'client_credentials', client_id: 'other' }, auth),
      400,
      'invalid_request',
      'client_id does not match the Basic credentials',
    ],
    ['no client', () => form({ grant_type: 'client_credentials' }), 401, 'invalid_client', 'Client authentication is required'],
    [
      'an unknown client',
      () => form({ grant_type: 'client_credentials', client_id: 'nobody', client_secret: 'x' }),
      401,
      'invalid_client',
      'Client authentication failed',
    ],
    [
      'client_credentials from a public client',
      () => form({ grant_type: 'client_credentials', client_id: 'pub' }),
      400,
      'unauthorized_client',
      'This client may not use this grant type',
    ],
    [
      'password without a password',
      () => form({ grant_type: 'password', username: 'alice' }, auth),
      400,
      'invalid_request',
      'username and password are required',
    ],
    [
      'a wrong password',
      () => form({ grant_type: 'password', username: 'alice', password: 'wrong' }, auth),
      400,
      'invalid_grant',
      'Invalid username or password',
    ],
    [
      'an unknown user',
      () => form({ grant_type: 'password', username: 'mallory', password: 'correct horse' }, auth),
      400,
      'invalid_grant',
      'Invalid username or password',
    ],
    [
      'a malformed scope',
      () => form({ grant_type: 'client_credentials', scope: 'a  b' }, auth),
      400,
      'invalid_scope',
      'The scope parameter is malformed',
    ],
    ['no refresh_token', () => form({ grant_type: 'refresh_token' }, auth), 400, 'invalid_request', 'refresh_token is required'],
    [
      'an unknown refresh_token',
      () => form({ grant_type: 'refresh_token', refresh_token: 'nope' }, auth),
      400,
      'invalid_grant',
      'The refresh token is invalid, expired or revoked',
    ],
    [
      'a malformed refresh scope',
      () => form({ grant_type: 'refresh_token', refresh_token: 'nope', scope: 'a"b' }, auth),
      400,
      'invalid_scope',
      'The scope parameter is malformed',
    ],
    [
      'an unknown code',
      () => form({ grant_type: 'authorization_code', code: 'made-up', redirect_uri: CB }, auth),
      400,
      'invalid_grant',
      'The authorization code is invalid, expired or already used',
    ],
  ];
  for (const [what, req, status, error, description] of cases) {
    it(what, async () => {
      const { provider } = makeProvider();
      expectAnswer(await provider.token(req()), status, error, description);
    });
  }

  it('a confidential client without a secret', async () => {
    const { provider } = makeProvider();
    expectAnswer(
      await provider.token(form({ grant_type: 'client_credentials', client_id: 'conf' })),
      401,
      'invalid_client',
      'Client authentication failed',
    );
  });

  it('client_credentials from a public client registered for it', async () => {
    const { provider, stores } = makeProvider();
    stores.addClient({ ...publicClient, id: 'pub-cc', grantTypes: ['client_credentials'] });
    expectAnswer(
      await provider.token(form({ grant_type: 'client_credentials', client_id: 'pub-cc' })),
      400,
      'unauthorized_client',
      'Public clients may not use client_credentials',
    );
  });

  it('refresh: rotated, then replayed', async () => {
    const { provider } = makeProvider();
    const { code, verifier } = await getCode(provider);
    const t = body(await exchange(provider, code, verifier)) as { refresh_token: string };
    const refresh = () => provider.token(form({ grant_type: 'refresh_token', refresh_token: t.refresh_token }, auth));
    expect((await refresh()).status).toBe(200);
    const r = await refresh();
    expect(r.status).toBe(400);
    expect(body(r).error).toBe('invalid_grant');
    expect([
      'The refresh token was already used; its token family is revoked',
      'The refresh token is invalid, expired or revoked',
    ]).toContain(body(r).error_description);
  });
});

describe('authorization code redemption descriptions', () => {
  async function code(withPkce = true) {
    const { provider } = makeProvider();
    const c = await getCode(provider, { withPkce });
    return { provider, ...c };
  }
  const redeem = (provider: ReturnType<typeof makeProvider>['provider'], params: Record<string, string>) =>
    provider.token(form({ grant_type: 'authorization_code', ...params }, auth));

  it('a replayed code', async () => {
    const { provider, code: c, verifier } = await code();
    expect((await exchange(provider, c, verifier)).status).toBe(200);
    expectAnswer(
      await exchange(provider, c, verifier),
      400,
      'invalid_grant',
      'The authorization code was already used; tokens issued with it are revoked',
    );
  });
  it('another redirect_uri', async () => {
    const { provider, code: c, verifier } = await code();
    expectAnswer(
      await redeem(provider, { code: c, redirect_uri: 'https://app.example/other', code_verifier: verifier }),
      400,
      'invalid_grant',
      'redirect_uri does not match the authorization request',
    );
  });
  it('no code_verifier', async () => {
    const { provider, code: c } = await code();
    expectAnswer(await redeem(provider, { code: c, redirect_uri: CB }), 400, 'invalid_grant', 'code_verifier is required');
  });
  it('a code_verifier without a challenge', async () => {
    const { provider, code: c } = await code(false);
    expectAnswer(
      await redeem(provider, { code: c, redirect_uri: CB, code_verifier: pkce().verifier }),
      400,
      'invalid_grant',
      'code_verifier sent but no code_challenge was',
    );
  });
  it('a wrong code_verifier', async () => {
    const { provider, code: c } = await code();
    expectAnswer(
      await redeem(provider, { code: c, redirect_uri: CB, code_verifier: pkce().verifier }),
      400,
      'invalid_grant',
      'code_verifier does not match the code_challenge',
    );
  });
});

describe('authorization endpoint descriptions', () => {
  const base = { client_id: 'conf', redirect_uri: CB, scope: 'read', state: 'st' };
  async function redirected(params: Record<string, string>, options = {}) {
    const { provider, stores } = makeProvider(options);
    stores.addClient({ ...confidential, id: 'token-only', grantTypes: ['implicit'] });
    const a = await provider.authorize(get(authorizeUrl(params)));
    expect(a.type).toBe('response');
    if (a.type !== 'response') throw new Error('expected a response');
    const loc = location(a.response);
    expect(loc.origin + loc.pathname).toBe(CB);
    const values = params.response_type === 'token' ? new URLSearchParams(loc.hash.slice(1)) : loc.searchParams;
    expect(values.get('state')).toBe('st');
    return [values.get('error'), values.get('error_description')];
  }
  async function page(url: string) {
    const { provider } = makeProvider();
    const a = await provider.authorize(get(url));
    expect(a.type).toBe('response');
    if (a.type !== 'response') throw new Error('expected a response');
    expect(a.response.headers.Location).toBeUndefined();
    return a.response;
  }

  it('no client_id, an unknown client, an unregistered or missing redirect_uri: an error page', async () => {
    expectAnswer(await page('/oauth/authorize?response_type=code'), 400, 'invalid_request', 'client_id is required');
    expectAnswer(await page(authorizeUrl({ response_type: 'code', client_id: 'nobody' })), 400, 'invalid_request', 'Unknown client');
    expectAnswer(
      await page(authorizeUrl({ response_type: 'code', client_id: 'conf', redirect_uri: 'https://evil.example/cb' })),
      400,
      'invalid_request',
      'redirect_uri is not registered for this client',
    );
    expectAnswer(
      await page(authorizeUrl({ response_type: 'code', client_id: 'conf' })),
      400,
      'invalid_request',
      'redirect_uri is required',
    );
  });

  it('an unsupported method: 405 with Allow', async () => {
    const { provider } = makeProvider();
    const a = await provider.authorize({ method: 'PUT', url: authorizeUrl({ response_type: 'code', ...base }), headers: {} });
    expect(a.type).toBe('response');
    if (a.type !== 'response') return;
    expect(a.response.status).toBe(405);
    expect(a.response.headers.Allow).toBe('GET, POST');
    expect(body(a.response).error).toBe('invalid_request');
  });

  it('by redirect: response_type missing, unknown, not allowed; PKCE method errors', async () => {
    expect(await redirected(base)).toEqual(['invalid_request', 'response_type is required']);
    expect(await redirected({ ...base, response_type: 'code id_token' })).toEqual([
      'unsupported_response_type',
      'Unsupported response_type',
    ]);
    expect(await redirected({ ...base, response_type: 'code', client_id: 'token-only' })).toEqual([
      'unauthorized_client',
      'This client may not use the authorization code grant',
    ]);
    expect(await redirected({ ...base, response_type: 'code', code_challenge_method: 'S256' })).toEqual([
      'invalid_request',
      'code_challenge_method without code_challenge',
    ]);
    const challenge = pkce().challenge;
    for (const method of ['S512', 'plain']) {
      expect(await redirected({ ...base, response_type: 'code', code_challenge: challenge, code_challenge_method: method })).toEqual([
        'invalid_request',
        'code_challenge_method must be S256',
      ]);
    }
    // Without a method, plain is meant (RFC 7636 4.3), and plain is off by default.
    expect(await redirected({ ...base, response_type: 'code', code_challenge: challenge })).toEqual([
      'invalid_request',
      'code_challenge_method must be S256',
    ]);
  });

  it('by redirect: a response type whose grant the server has not enabled', async () => {
    const [error] = await redirected({ ...base, response_type: 'token' }, { grants: ['authorization_code'] });
    expect(error).toBe('unsupported_response_type');
    const [error2] = await redirected(
      { ...base, response_type: 'code', code_challenge: pkce().challenge, code_challenge_method: 'S256' },
      { grants: ['client_credentials', 'implicit'] },
    );
    expect(error2).toBe('unsupported_response_type');
  });
});

describe('introspection and revocation descriptions', () => {
  it('no token', async () => {
    const { provider } = makeProvider();
    expectAnswer(await provider.introspect(form({}, auth, '/oauth/introspect')), 400, 'invalid_request', 'token is required');
    expectAnswer(await provider.revoke(form({}, auth, '/oauth/revoke')), 400, 'invalid_request', 'token is required');
  });
  it('a public client at introspection', async () => {
    const { provider } = makeProvider();
    expectAnswer(
      await provider.introspect(form({ token: 'x', client_id: 'pub' }, {}, '/oauth/introspect')),
      401,
      'invalid_client',
      'Public clients may not introspect tokens',
    );
  });
});

describe('resource descriptions (RFC 6750 3.1)', () => {
  async function verify(req: OAuthRequest, options = {}) {
    const { provider } = makeProvider(options);
    const r = await provider.verifyAccessToken(req);
    expect(r.ok).toBe(false);
    if (r.ok) throw new Error('expected a refusal');
    return r.response;
  }
  it('a token in the query string when that is off', async () => {
    const r = await verify(get('/api?access_token=abc'));
    expectAnswer(r, 400, 'invalid_request', 'Bearer tokens are not accepted in the query string');
    expect(r.headers['WWW-Authenticate']).toBe(
      'Bearer realm="oauth", error="invalid_request", error_description="Bearer tokens are not accepted in the query string"',
    );
  });
  it('two transports at once', async () => {
    const r = await verify(get('/api?access_token=abc', { authorization: 'Bearer abc' }), { allowBearerInQuery: true });
    expectAnswer(r, 400, 'invalid_request', 'Use one method to send the bearer token');
  });
  it('a query that merely mentions access_token is no token', async () => {
    const r = await verify(get('/api?x=access_token'));
    expectAnswer(r, 401, 'invalid_token', 'A bearer token is required');
    expect(r.headers['WWW-Authenticate']).toBe('Bearer realm="oauth"');
  });
});
