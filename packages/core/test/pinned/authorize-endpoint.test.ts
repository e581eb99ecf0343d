/**
 * The authorization endpoint beyond the error catalogue of descriptions.test.ts: the exact
 * descriptions of disabled response types and refused grants, PKCE required for every client, the
 * error page at `errorUri`, how a POST is read, the decision (denied, a user from `currentUser`, or
 * narrowed scopes), and what the redirect of an implicit grant carries.
 */
import { describe, expect, it } from 'vitest';
import type { OAuthRequest } from '../../src/index.js';
import {
  authorizeUrl,
  basic,
  body,
  CB,
  confidential,
  exchange,
  form,
  get,
  ISSUER,
  location,
  makeProvider,
  pkce,
  SECRET,
} from '../helpers.js';

const base = { client_id: 'conf', redirect_uri: CB, scope: 'read', state: 'st' };

async function refusal(params: Record<string, string>, options = {}, redirectUri = CB) {
  const { provider } = makeProvider(options);
  const a = await provider.authorize(get(authorizeUrl(params)));
  if (a.type !== 'response') throw new Error('expected a response');
  const loc = location(a.response);
  expect(loc.origin + loc.pathname).toBe(redirectUri);
  const values = params.response_type === 'token' ? new URLSearchParams(loc.hash.slice(1)) : loc.searchParams;
  expect(values.get('iss')).toBe(ISSUER);
  return [values.get('error'), values.get('error_description')];
}

describe('refusals by redirect', () => {
  it('names the response type the server has not enabled', async () => {
    expect(await refusal({ ...base, response_type: 'token' }, { grants: ['authorization_code'] })).toEqual([
      'unsupported_response_type',
      "response_type 'token' is not enabled",
    ]);
    expect(await refusal({ ...base, response_type: 'code' }, { grants: ['implicit'] })).toEqual([
      'unsupported_response_type',
      "response_type 'code' is not enabled",
    ]);
  });
  it('refuses the implicit grant to a client not registered for it', async () => {
    const params = { response_type: 'token', client_id: 'pub', redirect_uri: 'http://127.0.0.1:9999/cb', state: 'st' };
    expect(await refusal(params, {}, 'http://127.0.0.1:9999/cb')).toEqual([
      'unauthorized_client',
      'This client may not use the implicit grant',
    ]);
  });
  it("requires PKCE from every client with pkce.required 'all', from public ones by default, from none with 'none'", async () => {
    const code = { ...base, response_type: 'code' };
    expect(await refusal(code, { pkce: { required: 'all' } })).toEqual(['invalid_request', 'code_challenge is required (PKCE, S256)']);
    const pub = { response_type: 'code', client_id: 'pub', redirect_uri: 'http://127.0.0.1:9999/cb', state: 'st' };
    expect(await refusal(pub, {}, 'http://127.0.0.1:9999/cb')).toEqual(['invalid_request', 'code_challenge is required (PKCE, S256)']);
    const { provider } = makeProvider({ pkce: { required: 'none' } });
    expect((await provider.authorize(get(authorizeUrl(pub)))).type).toBe('consent');
    expect((await provider.authorize(get(authorizeUrl(code)))).type).toBe('consent');
  });
  it('takes a plain challenge when allowPlain is set', async () => {
    const { provider } = makeProvider({ pkce: { allowPlain: true } });
    const a = await provider.authorize(get(authorizeUrl({ ...base, response_type: 'code', code_challenge: 'p'.repeat(43) })));
    expect(a.type).toBe('consent');
    if (a.type === 'consent') expect([a.request.codeChallenge, a.request.codeChallengeMethod]).toEqual(['p'.repeat(43), 'plain']);
  });
});

describe('the error page at errorUri', () => {
  it('redirects errors that must not go to the client there, with error and description', async () => {
    const { provider } = makeProvider({ errorUri: '/oauth/error' });
    const a = await provider.authorize(get(authorizeUrl({ response_type: 'code', client_id: 'nobody' })));
    if (a.type !== 'response') throw new Error('expected a response');
    const loc = location(a.response);
    expect(loc.origin + loc.pathname).toBe(`${ISSUER}/oauth/error`);
    expect(Object.fromEntries(loc.searchParams)).toEqual({ error: 'invalid_request', error_description: 'Unknown client' });
  });
  it('is used for a malformed query too', async () => {
    const { provider } = makeProvider({ errorUri: 'https://help.example/oops' });
    const a = await provider.authorize(get('/oauth/authorize?client_id=conf&client_id=other'));
    if (a.type !== 'response') throw new Error('expected a response');
    const loc = location(a.response);
    expect(loc.origin + loc.pathname).toBe('https://help.example/oops');
    expect(loc.searchParams.get('error')).toBe('invalid_request');
    expect(loc.searchParams.get('error_description')).toBe("Parameter 'client_id' was given more than once");
  });
  it('without errorUri, a malformed query is a 400 page', async () => {
    const { provider } = makeProvider();
    const a = await provider.authorize(get('/oauth/authorize?client_id=conf&client_id=other'));
    if (a.type !== 'response') throw new Error('expected a response');
    expect(a.response.status).toBe(400);
    expect(a.response.headers.Location).toBeUndefined();
    expect(body(a.response)).toEqual({ error: 'invalid_request', error_description: "Parameter 'client_id' was given more than once" });
  });
});

describe('a POST to the authorization endpoint', () => {
  const params = { ...base, response_type: 'code', code_challenge: pkce().challenge, code_challenge_method: 'S256' };
  it('reads a form body, not the query', async () => {
    const { provider } = makeProvider();
    const a = await provider.authorize(form(params, {}, '/oauth/authorize?client_id=other'));
    expect(a.type).toBe('consent');
    if (a.type === 'consent') expect(a.request.client.id).toBe('conf');
  });
  it('reads the query when the body is not a form', async () => {
    const { provider } = makeProvider();
    const req: OAuthRequest = { method: 'POST', url: authorizeUrl(params), headers: { 'content-type': 'application/json' }, body: '{}' };
    const a = await provider.authorize(req);
    expect(a.type).toBe('consent');
    if (a.type === 'consent') expect(a.request.scopes).toEqual(['read']);
  });
  it('refuses a form body that repeats a parameter', async () => {
    const { provider } = makeProvider();
    const req: OAuthRequest = {
      method: 'POST',
      url: '/oauth/authorize',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'client_id=conf&scope=read&scope=write',
    };
    const a = await provider.authorize(req);
    if (a.type !== 'response') throw new Error('expected a response');
    expect(a.response.status).toBe(400);
    expect(body(a.response)).toEqual({ error: 'invalid_request', error_description: "Parameter 'scope' was given more than once" });
  });
});

describe('the decision', () => {
  const params = { ...base, scope: 'read write', response_type: 'code', code_challenge: pkce().challenge, code_challenge_method: 'S256' };
  it('denied: access_denied with its description and state, by redirect', async () => {
    const { provider } = makeProvider();
    const a = await provider.authorize(get(authorizeUrl(params)));
    if (a.type !== 'consent') throw new Error('expected consent');
    const loc = location(await provider.completeAuthorization(a.request, { approved: false }));
    expect(loc.origin + loc.pathname).toBe(CB);
    expect(Object.fromEntries(loc.searchParams)).toEqual({
      error: 'access_denied',
      error_description: 'The resource owner denied the request',
      state: 'st',
      iss: ISSUER,
    });
  });
  it('approved without userId: the user from currentUser, or access_denied when it names none', async () => {
    for (const [user, want] of [
      [{ id: 'u-alice' }, 'code'],
      [null, 'error'],
      [{ id: '' }, 'error'],
    ] as const) {
      const { provider } = makeProvider();
      provider.setCurrentUser(() => user);
      const a = await provider.authorize(get(authorizeUrl(params)));
      if (a.type !== 'consent') throw new Error('expected consent');
      const loc = location(await provider.completeAuthorization(a.request, { approved: true }, get('/consent')));
      expect(loc.searchParams.has(want), JSON.stringify(user)).toBe(true);
      if (want === 'error') expect(loc.searchParams.get('error')).toBe('access_denied');
    }
  });
  it('takes the query string, with or without its ?; anything else is a 500 whose cause is logged', async () => {
    const logged: string[] = [];
    const logger = {
      warn: () => undefined,
      error: (m: string, meta?: Record<string, unknown>) => void logged.push(`${m} ${JSON.stringify(meta)}`),
    };
    const { provider } = makeProvider({ logger });
    const a = await provider.authorize(get(authorizeUrl(params)));
    if (a.type !== 'consent') throw new Error('expected consent');
    for (const q of [a.request.query, `?${a.request.query}`]) {
      const loc = location(await provider.completeAuthorization(q, { approved: true, userId: 'u-alice' }));
      expect(loc.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    }
    const r = await provider.completeAuthorization(42 as unknown as string, { approved: true, userId: 'u-alice' });
    expect(r.status).toBe(500);
    expect(body(r).error).toBe('server_error');
    expect(logged.join('\n')).toContain('completeAuthorization needs the AuthorizationRequest or its query string');
  });
  it('narrows the scopes to those the user granted', async () => {
    const { provider } = makeProvider();
    const { verifier, challenge } = pkce();
    const a = await provider.authorize(get(authorizeUrl({ ...params, code_challenge: challenge })));
    if (a.type !== 'consent') throw new Error('expected consent');
    const loc = location(
      await provider.completeAuthorization(a.request, { approved: true, userId: 'u-alice', scopes: ['write', 'admin'] }),
    );
    const r = await exchange(provider, loc.searchParams.get('code')!, verifier, CB, basic('conf', SECRET));
    expect(r.status, r.body).toBe(200);
    expect(body(r).scope).toBe('write');
  });
});

describe('the implicit grant redirect', () => {
  it('carries the token, its type, lifetime, scope, state and iss in the fragment only', async () => {
    const { provider } = makeProvider();
    const a = await provider.authorize(get(authorizeUrl({ ...base, scope: 'read write', response_type: 'token' })));
    if (a.type !== 'consent') throw new Error('expected consent');
    const loc = location(await provider.completeAuthorization(a.request, { approved: true, userId: 'u-alice' }));
    expect(loc.search).toBe('');
    const f = Object.fromEntries(new URLSearchParams(loc.hash.slice(1)));
    expect(Object.keys(f).sort()).toEqual(['access_token', 'expires_in', 'iss', 'scope', 'state', 'token_type']);
    expect(f).toMatchObject({ token_type: 'Bearer', expires_in: '3600', scope: 'read write', state: 'st', iss: ISSUER });
    const v = await provider.verifyAccessToken(get('/api', { authorization: `Bearer ${f.access_token}` }));
    expect(v.ok).toBe(true);
    if (v.ok) expect(v.token).toMatchObject({ clientId: confidential.id, userId: 'u-alice', scopes: ['read', 'write'] });
  });
});
