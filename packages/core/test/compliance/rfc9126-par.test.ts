/**
 * RFC 9126 (OAuth 2.0 Pushed Authorization Requests).
 *
 * RFC 9126 section 2: "The pushed authorization request endpoint is an HTTP API at the
 *   authorization server that accepts HTTP POST requests with parameters in the HTTP request
 *   message body using the application/x-www-form-urlencoded format."
 * RFC 9126 section 2.1: "The "request_uri" authorization request parameter is one exception, and it
 *   MUST NOT be provided."
 * RFC 9126 section 2.1, processing: "1. Authenticate the client in the same way as at the token
 *   endpoint (Section 2.3 of [RFC6749]). 2. Reject the request if the "request_uri" authorization
 *   request parameter is provided. 3. Validate the pushed request as it would an authorization
 *   request sent to the authorization endpoint. For example, the authorization server checks
 *   whether the redirect URI matches one of the redirect URIs configured for the client and also
 *   checks whether the client is authorized for the scope for which it is requesting access."
 * RFC 9126 section 2.2: "If the verification is successful, the server MUST generate a request URI
 *   and provide it in the response with a 201 HTTP status code."
 * RFC 9126 section 2.2, request_uri: "The request URI corresponding to the authorization request
 *   posted. This URI is a single-use reference to the respective request data in the subsequent
 *   authorization request."
 * RFC 9126 section 2.2, expires_in: "A JSON number that represents the lifetime of the request URI
 *   in seconds as a positive integer."
 * RFC 9126 section 2.2: "The authorization server MAY construct the request_uri value using the form
 *   urn:ietf:params:oauth:request_uri:<reference-value> with <reference-value> as the random part of
 *   the URI that references the respective authorization request data."
 * RFC 9126 section 2.3: "In those cases where Section 4.1.2.1 of [RFC6749] prohibits automatic
 *   redirection with an error back to the requesting client and hence doesn't define an error code
 *   (for example, when the request fails due to a missing, invalid, or mismatching redirection
 *   URI), the "invalid_request" error code can be used as the default error code."
 * RFC 9126 section 4: "Since parts of the request content, e.g., the "code_challenge" parameter
 *   value, is unique to a certain authorization request, the client MUST only use a "request_uri"
 *   value once. Authorization servers SHOULD treat "request_uri" values as one-time use but MAY
 *   allow for duplicate requests due to a user reloading/refreshing their user agent. An expired
 *   "request_uri" MUST be rejected as invalid."
 * RFC 9126 section 5, require_pushed_authorization_requests: "Boolean parameter indicating whether
 *   the authorization server accepts authorization request data only via PAR. If omitted, the
 *   default value is false."
 * RFC 9126 section 6, require_pushed_authorization_requests (client metadata): "Boolean parameter
 *   indicating whether the only means of initiating an authorization request the client is allowed
 *   to use is PAR."
 * RFC 9101 section 7, invalid_request_uri: "The request_uri in the authorization request returns an
 *   error or contains invalid data."
 *
 * How core reads section 4: the authorization endpoint reads a pushed request without using it up
 * (a reload shows the consent page again); the decision (`completeAuthorization`) uses it once,
 * atomically. `expires_in` bounds when an authorization may start; `par.consentWindow` more
 * seconds bound the decision. Other parameters sent beside `request_uri` must equal the pushed ones.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type Client,
  ConfigurationError,
  createMemoryStores,
  generateClientSecret,
  hashSecret,
  OAuth2Provider,
  type OAuthRequest,
  type ProviderOptions,
} from '../../src/index.js';
import { basic, DESCRIPTION, form, json, pkce, raw } from '../security/fixture.js';

const CB = 'https://app.example/cb';
const SECRET = generateClientSecret();
const REQUEST_URI = /^urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]{43}$/;

const clients: Client[] = [
  {
    id: 'app',
    secretHash: hashSecret(SECRET),
    redirectUris: [CB],
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: ['read', 'write'],
  },
  { id: 'spa', secretHash: null, redirectUris: [CB, `${CB}2`], grantTypes: ['authorization_code'], scopes: ['read'] },
  {
    id: 'strict',
    secretHash: null,
    redirectUris: [CB],
    grantTypes: ['authorization_code'],
    scopes: ['read'],
    requirePushedAuthorizationRequests: true,
  },
  { id: 'cc', secretHash: hashSecret(SECRET), redirectUris: [], grantTypes: ['client_credentials'], scopes: ['read'] },
];

function setup(options: Partial<ProviderOptions> = {}) {
  const stores = createMemoryStores({ clients });
  const provider = new OAuth2Provider({
    issuer: 'https://auth.example',
    grants: ['authorization_code', 'refresh_token', 'client_credentials'],
    stores,
    par: { enabled: true },
    ...options,
  });
  return { provider, stores };
}
type P = ReturnType<typeof setup>['provider'];

const push = (p: P, params: Record<string, string>, headers: Record<string, string> = {}) =>
  p.pushedAuthorizationRequest(form(params, headers, '/oauth/par'));
const get = (url: string): OAuthRequest => ({ method: 'GET', url, headers: {} });
const authorizeUrl = (params: Record<string, string>) => `/oauth/authorize?${new URLSearchParams(params)}`;

/** Pushes a code request for the public client `spa` and returns its request_uri and PKCE pair. */
async function pushed(p: P, extra: Record<string, string> = {}) {
  const pair = pkce();
  const r = await push(p, {
    client_id: 'spa',
    response_type: 'code',
    redirect_uri: CB,
    scope: 'read',
    state: 'xyz',
    code_challenge: pair.challenge,
    code_challenge_method: 'S256',
    ...extra,
  });
  expect(r.status).toBe(201);
  const body = json(r) as { request_uri: string; expires_in: number };
  return { ...body, pair };
}

async function consent(p: P, params: Record<string, string>) {
  const a = await p.authorize(get(authorizeUrl(params)));
  if (a.type !== 'consent') throw new Error(`expected consent, got ${a.response.status} ${a.response.body}`);
  return a.request;
}

function expectPageError(r: { status: number; headers: Record<string, string>; body: string }, error: string) {
  expect(r.status).toBe(400);
  expect(r.headers.Location).toBeUndefined();
  const b = json(r);
  expect(b.error).toBe(error);
  expect(b.error_description).toMatch(DESCRIPTION);
}

afterEach(() => {
  vi.useRealTimers();
});

describe('RFC 9126 section 2: the pushed authorization request endpoint', () => {
  it('answers 201 with a single-use request_uri URN and expires_in, never cached', async () => {
    const { provider } = setup();
    const r = await push(
      provider,
      { response_type: 'code', redirect_uri: CB, scope: 'read write', state: 's1' },
      { authorization: basic('app', SECRET) },
    );
    expect(r.status).toBe(201);
    expect(r.headers['Cache-Control']).toBe('no-store');
    const b = json(r);
    expect(b.request_uri).toMatch(REQUEST_URI);
    expect(b.expires_in).toBe(60);
    expect(Object.keys(b).sort()).toEqual(['expires_in', 'request_uri']);
  });

  it('is routed by handle() and advertised in metadata (section 5), with require_pushed_authorization_requests', async () => {
    const { provider } = setup();
    const pair = pkce();
    const params = {
      client_id: 'spa',
      response_type: 'code',
      redirect_uri: CB,
      code_challenge: pair.challenge,
      code_challenge_method: 'S256',
    };
    const r = await provider.handle(form(params, {}, '/oauth/par'));
    expect(r?.status).toBe(201);
    const m = json((await provider.handle(get('/.well-known/oauth-authorization-server')))!);
    expect(m.pushed_authorization_request_endpoint).toBe('https://auth.example/oauth/par');
    expect(m.require_pushed_authorization_requests).toBe(false);
    const strict = setup({ par: { required: true } }).provider;
    const m2 = json((await strict.handle(get('/.well-known/oauth-authorization-server')))!);
    expect(m2.require_pushed_authorization_requests).toBe(true);
    expect(m2.pushed_authorization_request_endpoint).toBe('https://auth.example/oauth/par');
  });

  it('is off by default: not routed, not advertised, and request_uri at the authorization endpoint is refused', async () => {
    const { provider } = setup({ par: undefined });
    expect(provider.handles('/oauth/par')).toBe(false);
    expect(await provider.handle(form({ client_id: 'spa' }, {}, '/oauth/par'))).toBeNull();
    const m = json((await provider.handle(get('/.well-known/oauth-authorization-server')))!);
    expect(m).not.toHaveProperty('pushed_authorization_request_endpoint');
    expect(m).not.toHaveProperty('require_pushed_authorization_requests');
    const a = await provider.authorize(
      get(authorizeUrl({ client_id: 'spa', request_uri: `urn:ietf:params:oauth:request_uri:${'a'.repeat(43)}` })),
    );
    expect(a.type).toBe('response');
    if (a.type === 'response') {
      expectPageError(a.response, 'invalid_request');
      expect(json(a.response).error_description).toBe('request_uri is not supported');
    }
  });

  it('authenticates the client as the token endpoint does (section 2.1 step 1)', async () => {
    const { provider } = setup();
    const wrong = await push(provider, { response_type: 'code', redirect_uri: CB }, { authorization: basic('app', 'x'.repeat(43)) });
    expect(wrong.status).toBe(401);
    expect(json(wrong).error).toBe('invalid_client');
    expect(wrong.headers['WWW-Authenticate']).toBe('Basic realm="oauth"');
    const none = await push(provider, { response_type: 'code', redirect_uri: CB });
    expect(none.status).toBe(401);
    expect(json(none).error).toBe('invalid_client');
    // A confidential client cannot push as if it were public.
    const asPublic = await push(provider, { client_id: 'app', response_type: 'code', redirect_uri: CB });
    expect(asPublic.status).toBe(401);
    const mismatch = await push(
      provider,
      { client_id: 'spa', response_type: 'code', redirect_uri: CB },
      { authorization: basic('app', SECRET) },
    );
    expect(mismatch.status).toBe(400);
    expect(json(mismatch).error).toBe('invalid_request');
  });

  it('refuses request_uri in the pushed request (section 2.1 step 2) and request objects', async () => {
    const { provider } = setup();
    const r = await push(provider, {
      client_id: 'spa',
      response_type: 'code',
      redirect_uri: CB,
      request_uri: `urn:ietf:params:oauth:request_uri:${'a'.repeat(43)}`,
    });
    expect(r.status).toBe(400);
    expect(json(r)).toEqual({
      error: 'invalid_request',
      error_description: 'request_uri must not be sent to the pushed authorization request endpoint',
    });
    const jar = await push(provider, { client_id: 'spa', response_type: 'code', redirect_uri: CB, request: 'eyJ.x.y' });
    expect(jar.status).toBe(400);
    expect(json(jar)).toEqual({ error: 'invalid_request', error_description: 'Request objects (request) are not supported' });
  });

  it('validates the request as the authorization endpoint would, answering JSON errors (sections 2.1 step 3, 2.3)', async () => {
    const { provider } = setup();
    const cases: [Record<string, string>, number, string, string][] = [
      [
        { redirect_uri: 'https://evil.example/cb', response_type: 'code' },
        400,
        'invalid_request',
        'redirect_uri is not registered for this client',
      ],
      [{ redirect_uri: CB }, 400, 'invalid_request', 'response_type is required'],
      [{ redirect_uri: CB, response_type: 'token' }, 400, 'unsupported_response_type', "response_type 'token' is not enabled"],
      [{ redirect_uri: CB, response_type: 'code', scope: 'admin' }, 400, 'invalid_scope', ''],
      [
        { redirect_uri: CB, response_type: 'code', code_challenge: 'short', code_challenge_method: 'S256' },
        400,
        'invalid_request',
        'code_challenge is malformed',
      ],
      [{ redirect_uri: CB, response_type: 'code', resource: 'https://api.example/' }, 400, 'invalid_target', ''],
    ];
    for (const [params, status, error, description] of cases) {
      const r = await push(provider, { client_id: 'spa', ...params });
      expect(r.status, JSON.stringify(params)).toBe(status);
      expect(r.headers.Location).toBeUndefined();
      const b = json(r);
      expect(b.error, JSON.stringify(params)).toBe(error);
      expect(b.error_description).toMatch(DESCRIPTION);
      if (description) expect(b.error_description).toBe(description);
    }
    // A client that may not use the code grant.
    const cc = await push(provider, { response_type: 'code' }, { authorization: basic('cc', SECRET) });
    expect(cc.status).toBe(400);
    expect(json(cc).error).toBe('invalid_request');
    expect(json(cc).error_description).toBe('redirect_uri is required');
  });

  it('keeps no client credentials with the pushed parameters', async () => {
    const { provider, stores } = setup();
    const seen: string[] = [];
    const add = stores.ephemeral.add.bind(stores.ephemeral);
    stores.ephemeral.add = async (k, v, at) => {
      seen.push(v);
      return add(k, v, at);
    };
    const r = await push(provider, { client_id: 'app', client_secret: SECRET, response_type: 'code', redirect_uri: CB, scope: 'read' });
    expect(r.status).toBe(201);
    expect(seen).toHaveLength(1);
    expect(seen[0]).not.toContain(SECRET);
    expect(seen[0]).not.toContain('client_secret');
    expect(seen[0]).toContain('response_type=code');
  });

  it('answers hostile requests with RFC errors, never a 5xx', async () => {
    const { provider } = setup();
    const ok = { client_id: 'spa', response_type: 'code', redirect_uri: CB };
    const requests: OAuthRequest[] = [
      { method: 'GET', url: '/oauth/par?client_id=spa', headers: {} },
      { method: 'POST', url: '/oauth/par', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ok) },
      raw('client_id=spa&client_id=spa&response_type=code', {}, '/oauth/par'),
      raw(`client_id=spa&response_type=code&redirect_uri=${encodeURIComponent(CB)}&state=a%0D%0Ab`, {}, '/oauth/par'),
      raw(`client_id=spa&response_type=code&x%0D%0Ay=1&redirect_uri=${encodeURIComponent(CB)}`, {}, '/oauth/par'),
      raw(`client_id=spa%00&response_type=code`, {}, '/oauth/par'),
      raw(`client_id=spa&response_type=code&redirect_uri=${encodeURIComponent(CB)}&scope=${'a'.repeat(70_000)}`, {}, '/oauth/par'),
      raw('%zz=1', {}, '/oauth/par'),
    ];
    for (const req of requests) {
      const r = (await provider.handle(req))!;
      expect(r.status, req.body?.slice(0, 80)).toBeLessThan(500);
      if (r.status !== 201) {
        const b = json(r);
        expect(typeof b.error).toBe('string');
        expect(b.error_description).toMatch(DESCRIPTION);
      }
    }
    expect((await provider.handle(requests[0]!))!.status).toBe(405);
    expect((await provider.handle(requests[1]!))!.status).toBe(400);
    expect(json((await provider.handle(requests[2]!))!).error).toBe('invalid_request');
  });
});

describe('RFC 9126 section 4: the authorization request with request_uri', () => {
  it('takes the pushed parameters and completes a code flow with PKCE', async () => {
    const { provider } = setup();
    const { request_uri, pair } = await pushed(provider);
    const request = await consent(provider, { client_id: 'spa', request_uri });
    expect(request.pushed).toBe(true);
    expect(request.client.id).toBe('spa');
    expect(request.scopes).toEqual(['read']);
    expect(request.state).toBe('xyz');
    expect(request.redirectUri).toBe(CB);
    expect(request.codeChallengeMethod).toBe('S256');
    expect(new URLSearchParams(request.query).get('request_uri')).toBe(request_uri);
    expect([...new URLSearchParams(request.query).keys()].sort()).toEqual(['client_id', 'request_uri']);
    const done = await provider.completeAuthorization(request, { approved: true, userId: 'u1' });
    expect(done.status).toBe(302);
    const loc = new URL(done.headers.Location!);
    expect(loc.origin + loc.pathname).toBe(CB);
    expect(loc.searchParams.get('state')).toBe('xyz');
    const code = loc.searchParams.get('code')!;
    const t = await provider.token(
      form({ grant_type: 'authorization_code', code, redirect_uri: CB, client_id: 'spa', code_verifier: pair.verifier }),
    );
    expect(t.status).toBe(200);
    expect(json(t).scope).toBe('read');
  });

  it('the request that was not pushed has pushed: false', async () => {
    const { provider } = setup();
    const r = await consent(provider, {
      client_id: 'spa',
      response_type: 'code',
      redirect_uri: CB,
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
    });
    expect(r.pushed).toBe(false);
  });

  it('allows reloads before the decision, then uses the request_uri once', async () => {
    const { provider } = setup();
    const { request_uri } = await pushed(provider);
    await consent(provider, { client_id: 'spa', request_uri });
    const request = await consent(provider, { client_id: 'spa', request_uri });
    const first = await provider.completeAuthorization(request.query, { approved: true, userId: 'u1' });
    expect(first.status).toBe(302);
    const again = await provider.completeAuthorization(request.query, { approved: true, userId: 'u1' });
    expectPageError(again, 'invalid_request_uri');
    const reload = await provider.authorize(get(authorizeUrl({ client_id: 'spa', request_uri })));
    expect(reload.type).toBe('response');
    if (reload.type === 'response') expectPageError(reload.response, 'invalid_request_uri');
  });

  it('a denial uses the request_uri up too', async () => {
    const { provider } = setup();
    const { request_uri } = await pushed(provider);
    const request = await consent(provider, { client_id: 'spa', request_uri });
    const denied = await provider.completeAuthorization(request, { approved: false });
    expect(new URL(denied.headers.Location!).searchParams.get('error')).toBe('access_denied');
    expectPageError(await provider.completeAuthorization(request, { approved: true, userId: 'u1' }), 'invalid_request_uri');
  });

  it('of 20 concurrent decisions on one pushed request exactly one gets a code', async () => {
    const { provider } = setup();
    const { request_uri } = await pushed(provider);
    const request = await consent(provider, { client_id: 'spa', request_uri });
    const results = await Promise.all(
      Array.from({ length: 20 }, () => provider.completeAuthorization(request.query, { approved: true, userId: 'u1' })),
    );
    const codes = results.filter((r) => r.status === 302 && new URL(r.headers.Location!).searchParams.has('code'));
    expect(codes).toHaveLength(1);
    for (const r of results) if (r !== codes[0]) expectPageError(r, 'invalid_request_uri');
  });

  it('an expired request_uri is refused; the decision has the consent window after expires_in', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { provider } = setup({ par: { enabled: true, expiresIn: 30, consentWindow: 100 } });
    const t0 = Date.now();
    const { request_uri, expires_in } = await pushed(provider);
    expect(expires_in).toBe(30);
    const request = await consent(provider, { client_id: 'spa', request_uri });
    vi.setSystemTime(t0 + 30_000);
    const late = await provider.authorize(get(authorizeUrl({ client_id: 'spa', request_uri })));
    expect(late.type).toBe('response');
    if (late.type === 'response') expectPageError(late.response, 'invalid_request_uri');
    vi.setSystemTime(t0 + 129_000);
    const decided = await provider.completeAuthorization(request.query, { approved: true, userId: 'u1' });
    expect(decided.status).toBe(302);
    // Past expires_in + consentWindow even the decision is refused.
    const other = await pushed(provider);
    const r2 = await consent(provider, { client_id: 'spa', request_uri: other.request_uri });
    vi.setSystemTime(Date.now() + 130_000);
    expectPageError(await provider.completeAuthorization(r2.query, { approved: true, userId: 'u1' }), 'invalid_request_uri');
  });

  it("refuses another client's request_uri, and malformed ones", async () => {
    const { provider } = setup();
    const { request_uri } = await pushed(provider);
    const stolen = await provider.authorize(get(authorizeUrl({ client_id: 'strict', request_uri })));
    expect(stolen.type).toBe('response');
    if (stolen.type === 'response') expectPageError(stolen.response, 'invalid_request_uri');
    const bad = [
      'urn:ietf:params:oauth:request_uri:short',
      `urn:ietf:params:oauth:request_uri:${'a'.repeat(44)}`,
      `https://auth.example/${'a'.repeat(43)}`,
      `urn:ietf:params:oauth:request_uri:${'a'.repeat(41)}\r\n`,
      'x'.repeat(5000),
    ];
    for (const request_uri of bad) {
      const a = await provider.authorize(get(authorizeUrl({ client_id: 'spa', request_uri })));
      expect(a.type).toBe('response');
      if (a.type === 'response') {
        expectPageError(a.response, 'invalid_request_uri');
        expect(json(a.response).error_description).toBe('request_uri is malformed');
      }
    }
    const noClient = await provider.authorize(get(authorizeUrl({ request_uri })));
    expect(noClient.type).toBe('response');
    if (noClient.type === 'response') expectPageError(noClient.response, 'invalid_request');
    // The pushed request is still there for its client.
    expect((await consent(provider, { client_id: 'spa', request_uri })).pushed).toBe(true);
  });

  it('refuses parameters beside request_uri that differ from the pushed ones, accepts equal ones', async () => {
    const { provider } = setup();
    const { request_uri } = await pushed(provider);
    for (const [k, v] of [
      ['scope', 'read write'],
      ['redirect_uri', `${CB}2`],
      ['state', 'other'],
      ['resource', 'https://api.example/'],
    ]) {
      const a = await provider.authorize(get(authorizeUrl({ client_id: 'spa', request_uri, [k!]: v! })));
      expect(a.type, k).toBe('response');
      if (a.type === 'response') {
        expectPageError(a.response, 'invalid_request');
        expect(json(a.response).error_description).toBe(`Parameter '${k}' differs from the pushed authorization request`);
      }
    }
    const same = await consent(provider, { client_id: 'spa', request_uri, response_type: 'code', scope: 'read', state: 'xyz' });
    expect(same.pushed).toBe(true);
  });

  it('keeps several resource values of the pushed request (RFC 8707)', async () => {
    const { provider } = setup({ resources: [{ uri: 'https://a.example/' }, { uri: 'https://b.example/' }] });
    const pair = pkce();
    const r = await provider.pushedAuthorizationRequest(
      raw(
        new URLSearchParams([
          ['client_id', 'spa'],
          ['response_type', 'code'],
          ['redirect_uri', CB],
          ['code_challenge', pair.challenge],
          ['code_challenge_method', 'S256'],
          ['resource', 'https://a.example/'],
          ['resource', 'https://b.example/'],
        ]).toString(),
        {},
        '/oauth/par',
      ),
    );
    expect(r.status).toBe(201);
    const request = await consent(provider, { client_id: 'spa', request_uri: json(r).request_uri as string });
    expect(request.resources).toEqual(['https://a.example/', 'https://b.example/']);
  });
});

describe('RFC 9126 sections 5 and 6: requiring pushed requests', () => {
  it("par.required refuses a request that was not pushed (redirected: the redirect URI is the client's)", async () => {
    const { provider } = setup({ par: { required: true } });
    const a = await provider.authorize(
      get(
        authorizeUrl({
          client_id: 'spa',
          response_type: 'code',
          redirect_uri: CB,
          state: 's',
          code_challenge: pkce().challenge,
          code_challenge_method: 'S256',
        }),
      ),
    );
    expect(a.type).toBe('response');
    if (a.type !== 'response') return;
    expect(a.response.status).toBe(302);
    const loc = new URL(a.response.headers.Location!);
    expect(loc.searchParams.get('error')).toBe('invalid_request');
    expect(loc.searchParams.get('error_description')).toBe('This client must use a pushed authorization request (request_uri)');
    expect(loc.searchParams.get('state')).toBe('s');
    // A query string handed to completeAuthorization cannot go around it either.
    const q = new URLSearchParams({
      client_id: 'spa',
      response_type: 'code',
      redirect_uri: CB,
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
    });
    const c = await provider.completeAuthorization(q.toString(), { approved: true, userId: 'u1' });
    expect(new URL(c.headers.Location!).searchParams.get('error')).toBe('invalid_request');
    // Pushed, it works.
    const { request_uri } = await pushed(provider);
    expect((await consent(provider, { client_id: 'spa', request_uri })).pushed).toBe(true);
  });

  it('a client registered with requirePushedAuthorizationRequests must push; others need not', async () => {
    const { provider } = setup();
    const plain = { response_type: 'code', redirect_uri: CB, code_challenge: pkce().challenge, code_challenge_method: 'S256' };
    const a = await provider.authorize(get(authorizeUrl({ client_id: 'strict', ...plain })));
    expect(a.type).toBe('response');
    if (a.type === 'response') expect(new URL(a.response.headers.Location!).searchParams.get('error')).toBe('invalid_request');
    expect((await consent(provider, { client_id: 'spa', ...plain })).pushed).toBe(false);
    const r = await push(provider, { client_id: 'strict', ...plain });
    expect(r.status).toBe(201);
    expect((await consent(provider, { client_id: 'strict', request_uri: json(r).request_uri as string })).pushed).toBe(true);
  });
});

describe('PAR configuration', () => {
  it('needs an ephemeral store, and says so', () => {
    const { ephemeral: _, ...rest } = createMemoryStores({ clients });
    expect(() => new OAuth2Provider({ issuer: 'https://auth.example', stores: rest, par: { enabled: true } })).toThrow(ConfigurationError);
    expect(() => new OAuth2Provider({ issuer: 'https://auth.example', stores: rest, par: { enabled: true } })).toThrow(/ephemeral/);
  });

  it('checks its options', () => {
    const stores = createMemoryStores({ clients });
    const make = (par: unknown) => new OAuth2Provider({ issuer: 'https://auth.example', stores, par: par as ProviderOptions['par'] });
    expect(() => make({ expiresIn: 601 })).toThrow(/at most 600/);
    expect(() => make({ expiresIn: 0 })).toThrow(TypeError);
    expect(() => make({ consentWindow: 1.5 })).toThrow(TypeError);
    expect(() => make({ enabled: 'yes' })).toThrow(TypeError);
    expect(make({ required: true }).handles('/oauth/par')).toBe(true);
    expect(
      new OAuth2Provider({
        issuer: 'https://auth.example',
        stores,
        par: { enabled: true },
        endpoints: { pushedAuthorizationRequest: '/par' },
      }).handles('/par'),
    ).toBe(true);
  });
});
