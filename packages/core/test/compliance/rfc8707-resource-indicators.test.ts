/**
 * RFC 8707 (resource indicators): the `resource` parameter at the authorization and token
 * endpoints, `invalid_target`, and audience-restricted access tokens (JWT `aud`, introspection
 * `aud`, `verifyAccessToken(req, scopes, { audience })`).
 *
 * RFC 8707 section 2, resource: "Indicates the target service or resource to which access is being
 *   requested. Its value MUST be an absolute URI, as specified by Section 4.3 of [RFC3986]. The URI
 *   MUST NOT include a fragment component. It SHOULD NOT include a query component, but it is
 *   recognized that there are cases that make a query component a useful and necessary part of the
 *   resource parameter, such as when one or more query parameters are used to scope requests to an
 *   application. The resource parameter URI value is an identifier representing the identity of the
 *   resource, which MAY be a locator that corresponds to a network-addressable location where the
 *   target resource is hosted. Multiple resource parameters MAY be used to indicate that the
 *   requested token is intended to be used at multiple resources."
 * RFC 8707 section 2, invalid_target: "The requested resource is invalid, missing, unknown, or
 *   malformed."
 * RFC 8707 section 2: "The authorization server SHOULD audience-restrict issued access tokens to
 *   the resource(s) indicated by the resource parameter. Audience restrictions can be communicated
 *   in JSON Web Tokens [RFC7519] with the aud claim and the top-level member of the same name
 *   provides the audience restriction information in a Token Introspection [RFC7662] response."
 * RFC 8707 section 2.1: "In the code flow (Section 4.1 of OAuth 2.0 [RFC6749]) where an intermediate
 *   representation of the authorization grant (the authorization code) is returned from the
 *   authorization endpoint, the requested resource is applicable to the full authorization grant."
 * RFC 8707 section 2.1: "If the authorization server fails to parse the provided value(s) or does
 *   not consider the resource(s) acceptable, it should reject the request with an error response
 *   using the error code invalid_target as the value of the error parameter and can provide
 *   additional information regarding the reasons for the error using the error_description."
 * RFC 8707 section 2.2: "When the resource parameter is used on an access token request made to the
 *   token endpoint, for all grant types, it indicates the target service or protected resource where
 *   the client intends to use the requested access token."
 * RFC 8707 section 2.2: "In the case of a refresh_token or authorization_code grant type request,
 *   such policy may limit the acceptable resources to those that were originally granted by the
 *   resource owner or a subset thereof. In the authorization_code case where the requested resources
 *   are a subset of the set of resources originally granted, the authorization server will issue an
 *   access token based on that subset of requested resources, whereas any refresh token that is
 *   returned is bound to the full original grant."
 * RFC 8707 section 2.2: "To the extent possible, when issuing access tokens, the authorization
 *   server should downscope the scope value associated with an access token to the value the
 *   respective resource is able to process and needs to know."
 *
 * Bounds (Portcullis, not the RFC): at most `MAX_RESOURCES` (10) values per request and
 * `MAX_RESOURCE_LENGTH` (2048) characters per value; beyond either, `invalid_target`.
 */
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  type Client,
  decodeGrant,
  encodeGrant,
  generateClientSecret,
  MAX_RESOURCE_LENGTH,
  MAX_RESOURCES,
  type OAuth2Provider,
  type OAuthRequest,
  type OAuthResponse,
  type ProviderOptions,
} from '../../src/index.js';
import { basic, body, CB, confidential, get, location, makeProvider, pkce, SECRET } from '../helpers.js';

const API = 'https://api.example/';
const CAL = 'https://cal.example/';
const CONTACTS = 'https://contacts.example/app?tenant=1';
const OTHER_API = 'https://other-api.example/';
const RESOURCES: ProviderOptions['resources'] = [
  { uri: API },
  { uri: CAL, scopes: ['read'], accessTokenLifetime: 60 },
  { uri: CONTACTS, scopes: ['write'] },
  { uri: OTHER_API },
];
/** A client restricted to two resources. */
const limited: Client = { ...confidential, id: 'limited', resources: [API, CAL] };
const KEK = generateClientSecret();
const CONF = basic('conf', SECRET);

function setup(options: Partial<ProviderOptions> = {}) {
  const made = makeProvider({ resources: RESOURCES, ...options });
  made.stores.addClient(limited);
  return made;
}

/** A form POST whose body may repeat names (the test helpers build each name once). */
function post(pairs: readonly (readonly [string, string])[], headers: Record<string, string> = {}, url = '/oauth/token'): OAuthRequest {
  const q = new URLSearchParams();
  for (const [k, v] of pairs) q.append(k, v);
  return { method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: q.toString() };
}

function authorizeGet(client: Client, resources: readonly string[], extra: Record<string, string> = {}) {
  const { verifier, challenge } = pkce();
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: client.id,
    redirect_uri: CB,
    scope: 'read write',
    state: 'st',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  });
  for (const r of resources) q.append('resource', r);
  return { req: get(`/oauth/authorize?${q.toString()}`), verifier };
}

async function codeFor(provider: OAuth2Provider, resources: readonly string[], client: Client = confidential) {
  const { req, verifier } = authorizeGet(client, resources);
  const a = await provider.authorize(req);
  if (a.type !== 'consent') throw new Error(`expected consent, got ${a.response.status} ${a.response.headers.Location}`);
  const r = await provider.completeAuthorization(a.request, { approved: true, userId: 'u-alice' });
  return { code: location(r).searchParams.get('code')!, verifier, request: a.request };
}

function exchange(provider: OAuth2Provider, code: string, verifier: string, resources: readonly string[] = [], auth = CONF) {
  const pairs: [string, string][] = [
    ['grant_type', 'authorization_code'],
    ['code', code],
    ['redirect_uri', CB],
    ['code_verifier', verifier],
  ];
  for (const r of resources) pairs.push(['resource', r]);
  return provider.token(post(pairs, { authorization: auth }));
}

function refresh(provider: OAuth2Provider, token: string, resources: readonly string[] = [], extra: [string, string][] = []) {
  const pairs: [string, string][] = [['grant_type', 'refresh_token'], ['refresh_token', token], ...extra];
  for (const r of resources) pairs.push(['resource', r]);
  return provider.token(post(pairs, { authorization: CONF }));
}

function clientCredentials(provider: OAuth2Provider, resources: readonly string[], scope = 'read', client = 'conf') {
  const pairs: [string, string][] = [
    ['grant_type', 'client_credentials'],
    ['scope', scope],
  ];
  for (const r of resources) pairs.push(['resource', r]);
  return provider.token(post(pairs, { authorization: basic(client, SECRET) }));
}

async function introspect(provider: OAuth2Provider, token: string) {
  return body(await provider.introspect(post([['token', token]], { authorization: CONF }, '/oauth/introspect')));
}

function expectTarget(r: OAuthResponse, description?: RegExp) {
  expect(r.status).toBe(400);
  const b = body(r);
  expect(b.error).toBe('invalid_target');
  if (description) expect(b.error_description).toMatch(description);
  // The description never repeats what was sent, and stays in the RFC 6749 section 5.2 set.
  expect(String(b.error_description)).toMatch(/^[\x20\x21\x23-\x5b\x5d-\x7e]+$/);
  expect(String(b.error_description)).not.toContain('evil');
}

describe('RFC 8707: registered resources (options)', () => {
  it('accepts absolute URIs, with a query, and answers no metadata field for them (RFC 8414 has none)', () => {
    const { provider } = setup();
    const doc = provider.metadataDocument();
    expect(JSON.stringify(doc)).not.toContain('api.example');
  });

  it.each([
    ['a relative URI', '/api'],
    ['a URI with a fragment', 'https://api.example/#x'],
    ['no scheme', 'api.example'],
    ['a space', 'https://api.example/a b'],
    ['an empty string', ''],
  ])('refuses %s at startup', (_what, uri) => {
    expect(() => makeProvider({ resources: [{ uri }] })).toThrow(/absolute URI without a fragment/);
  });

  it('refuses a duplicate resource, a bad format and a bad lifetime at startup', () => {
    expect(() => makeProvider({ resources: [{ uri: API }, { uri: API }] })).toThrow(/twice/);
    expect(() => makeProvider({ resources: [{ uri: API, accessTokenFormat: 'paseto' as 'jwt' }] })).toThrow(/accessTokenFormat/);
    expect(() => makeProvider({ resources: [{ uri: API, accessTokenLifetime: -1 }] })).toThrow(/positive/);
  });
});

describe('RFC 8707 section 2.1: the authorization request', () => {
  it('takes several resource parameters and binds them to the whole grant', async () => {
    const { provider } = setup();
    const { code, verifier, request } = await codeFor(provider, [API, OTHER_API]);
    expect(request.resources).toEqual([API, OTHER_API]);
    // No resource at the token request: the token is for every resource of the grant.
    const t = body(await exchange(provider, code, verifier));
    expect((await introspect(provider, t.access_token as string)).aud).toEqual([API, OTHER_API]);
  });

  it('keeps the resources through a consent that comes back as a query string', async () => {
    const { provider } = setup();
    const { req } = authorizeGet(confidential, [API, OTHER_API]);
    const a = await provider.authorize(req);
    if (a.type !== 'consent') throw new Error('expected consent');
    expect(new URLSearchParams(a.request.query).getAll('resource')).toEqual([API, OTHER_API]);
    const r = await provider.completeAuthorization(a.request.query, { approved: true, userId: 'u-alice' });
    expect(location(r).searchParams.get('code')).toBeTruthy();
  });

  it.each([
    ['a relative URI', ['/api'], /absolute URI/],
    ['a fragment', ['https://api.example/#evil'], /fragment/],
    ['an unregistered resource', ['https://evil.example/'], /not known/],
    ['a huge value', [`https://api.example/${'evil'.repeat(MAX_RESOURCE_LENGTH)}`], /longer than 2048/],
    ['too many values', Array.from({ length: MAX_RESOURCES + 1 }, () => API), /At most 10/],
  ])('redirects invalid_target for %s', async (_what, resources, description) => {
    const { provider } = setup();
    const a = await provider.authorize(authorizeGet(confidential, resources).req);
    expect(a.type).toBe('response');
    if (a.type !== 'response') return;
    const loc = location(a.response);
    expect(`${loc.origin}${loc.pathname}`).toBe(CB);
    expect(loc.searchParams.get('error')).toBe('invalid_target');
    expect(loc.searchParams.get('error_description')).toMatch(description);
    expect(loc.searchParams.get('state')).toBe('st');
  });

  it('accepts MAX_RESOURCES values (repeats kept once)', async () => {
    const { provider } = setup();
    const a = await provider.authorize(
      authorizeGet(
        confidential,
        Array.from({ length: MAX_RESOURCES }, () => API),
      ).req,
    );
    expect(a.type).toBe('consent');
    if (a.type === 'consent') expect(a.request.resources).toEqual([API]);
  });

  it('refuses a resource the client is not allowed, and lets it use its own', async () => {
    const { provider } = setup();
    const a = await provider.authorize(authorizeGet(limited, [OTHER_API]).req);
    if (a.type !== 'response') throw new Error('expected an error');
    expect(location(a.response).searchParams.get('error')).toBe('invalid_target');
    expect(location(a.response).searchParams.get('error_description')).toMatch(/not allowed for this client/);
    expect((await provider.authorize(authorizeGet(limited, [API, CAL]).req)).type).toBe('consent');
  });

  it('still refuses every other repeated parameter', async () => {
    const { provider } = setup();
    const a = await provider.authorize(get(`/oauth/authorize?client_id=conf&client_id=conf&resource=${encodeURIComponent(API)}`));
    if (a.type !== 'response') throw new Error('expected an error');
    expect(body(a.response).error).toBe('invalid_request');
    const r = await provider.token(
      post(
        [
          ['grant_type', 'client_credentials'],
          ['scope', 'read'],
          ['scope', 'read'],
          ['resource', API],
          ['resource', API],
        ],
        { authorization: CONF },
      ),
    );
    expect(body(r).error_description).toBe("Parameter 'scope' was given more than once");
  });

  it('gives an implicit token the resources as its audience', async () => {
    const { provider } = setup();
    const q = new URLSearchParams({ response_type: 'token', client_id: 'conf', redirect_uri: CB, scope: 'read write', resource: CAL });
    const a = await provider.authorize(get(`/oauth/authorize?${q.toString()}`));
    if (a.type !== 'consent') throw new Error('expected consent');
    const r = await provider.completeAuthorization(a.request, { approved: true, userId: 'u-alice' });
    const frag = new URLSearchParams(location(r).hash.slice(1));
    expect(frag.get('scope')).toBe('read');
    expect(frag.get('expires_in')).toBe('60');
    expect((await introspect(provider, frag.get('access_token')!)).aud).toBe(CAL);
  });
});

describe('RFC 8707 section 2.2: the token request', () => {
  it('authorization_code: a subset of the grant; the refresh token keeps the whole grant', async () => {
    const { provider } = setup();
    const { code, verifier } = await codeFor(provider, [API, CAL]);
    const r = await exchange(provider, code, verifier, [CAL]);
    expect(r.status).toBe(200);
    const t = body(r);
    // Downscoped to what CAL takes, with CAL's lifetime.
    expect(t.scope).toBe('read');
    expect(t.expires_in).toBe(60);
    expect(await introspect(provider, t.access_token as string)).toMatchObject({ active: true, aud: CAL, scope: 'read' });
    // The refresh token is bound to the full grant: it may now ask for API, with every scope.
    const r2 = body(await refresh(provider, t.refresh_token as string, [API]));
    expect(r2.scope).toBe('read write');
    expect((await introspect(provider, r2.access_token as string)).aud).toBe(API);
  });

  it('authorization_code: a resource outside the grant is invalid_target', async () => {
    const { provider } = setup();
    const { code, verifier } = await codeFor(provider, [API]);
    expectTarget(await exchange(provider, code, verifier, [OTHER_API]), /not part of the original grant/);
  });

  it('authorization_code: any resource is invalid_target when the grant named none', async () => {
    const { provider } = setup();
    const { code, verifier } = await codeFor(provider, []);
    expectTarget(await exchange(provider, code, verifier, [API]), /not part of the original grant/);
  });

  it('authorization_code: a malformed resource is refused before the code is used', async () => {
    const { provider } = setup();
    const { code, verifier } = await codeFor(provider, [API]);
    expectTarget(await exchange(provider, code, verifier, ['https://api.example/#evil']), /fragment/);
    expect((await exchange(provider, code, verifier, [API])).status).toBe(200);
  });

  it('refresh_token: may narrow, never widen; a refused request leaves the token usable', async () => {
    const { provider } = setup();
    const { code, verifier } = await codeFor(provider, [API, CAL]);
    const t = body(await exchange(provider, code, verifier));
    const rt = t.refresh_token as string;
    expectTarget(await refresh(provider, rt, [OTHER_API]), /not part of the original grant/);
    expectTarget(await refresh(provider, rt, [API, OTHER_API]), /not part of the original grant/);
    expectTarget(await refresh(provider, rt, ['relative/evil']), /absolute URI/);
    const ok = await refresh(provider, rt, [API]);
    expect(ok.status).toBe(200);
    // The rotated token is still bound to both resources.
    const next = body(await refresh(provider, body(ok).refresh_token as string));
    expect((await introspect(provider, next.access_token as string)).aud).toEqual([API, CAL]);
  });

  it('refresh_token: a token whose grant named no resource cannot gain one', async () => {
    const { provider } = setup();
    const { code, verifier } = await codeFor(provider, []);
    const t = body(await exchange(provider, code, verifier));
    expect((await introspect(provider, t.access_token as string)).aud).toBeUndefined();
    expectTarget(await refresh(provider, t.refresh_token as string, [API]));
  });

  it('client_credentials: any allowed resource, with its scopes and lifetime', async () => {
    const { provider } = setup();
    const t = body(await clientCredentials(provider, [CAL], 'read write'));
    expect(t).toMatchObject({ scope: 'read', expires_in: 60 });
    const two = body(await clientCredentials(provider, [CAL, CONTACTS], 'read write admin'));
    expect(two.scope).toBe('read write');
    expect((await introspect(provider, two.access_token as string)).aud).toEqual([CAL, CONTACTS]);
  });

  it('client_credentials: unregistered, not allowed, malformed, too many', async () => {
    const { provider } = setup();
    expectTarget(await clientCredentials(provider, ['https://evil.example/']), /not known/);
    expectTarget(await clientCredentials(provider, [OTHER_API], 'read', 'limited'), /not allowed for this client/);
    expectTarget(await clientCredentials(provider, ['urn:evil#frag']), /fragment/);
    expectTarget(await clientCredentials(provider, ['evil']), /absolute URI/);
    expectTarget(await clientCredentials(provider, [`${API}${'evil'.repeat(600)}`]), /longer than/);
    expectTarget(
      await clientCredentials(
        provider,
        Array.from({ length: 11 }, (_, i) => `${API}${i}`),
      ),
      /At most 10/,
    );
    expect((await clientCredentials(provider, [API, CAL], 'read', 'limited')).status).toBe(200);
  });

  it('password: the resource is the audience', async () => {
    const { provider } = setup();
    const r = await provider.token(
      post(
        [
          ['grant_type', 'password'],
          ['username', 'alice'],
          ['password', 'correct horse'],
          ['resource', API],
        ],
        { authorization: CONF },
      ),
    );
    expect((await introspect(provider, body(r).access_token as string)).aud).toBe(API);
  });

  it('takes resource values from a framework-parsed body (an array), and refuses a non-string one', async () => {
    const { provider } = setup();
    const parsed = (resource: unknown): OAuthRequest => ({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: CONF },
      parsedBody: { grant_type: 'client_credentials', scope: 'read', resource },
    });
    const t = body(await provider.token(parsed([API, CAL])));
    expect((await introspect(provider, t.access_token as string)).aud).toEqual([API, CAL]);
    expect(body(await provider.token(parsed([API, { evil: 1 }]))).error).toBe('invalid_request');
    expect(
      body(await provider.token({ ...parsed(API), parsedBody: { grant_type: 'client_credentials', scope: ['read', 'read'] } })).error,
    ).toBe('invalid_request');
  });
});

describe('RFC 8707 section 2: audience-restricted access tokens', () => {
  it('JWT aud: one resource a string, several an array, none the configured audience', async () => {
    const { provider } = setup({ accessTokenFormat: 'jwt', jwt: { keyEncryptionKey: KEK } });
    expect(decodeJwt(body(await clientCredentials(provider, [API])).access_token as string).aud).toBe(API);
    expect(decodeJwt(body(await clientCredentials(provider, [API, OTHER_API])).access_token as string).aud).toEqual([API, OTHER_API]);
    expect(decodeJwt(body(await clientCredentials(provider, [])).access_token as string).aud).toBe('https://auth.example');
  });

  it('per-resource format: JWTs for one resource only, and opaque for one under a JWT provider', async () => {
    const resources = [{ uri: API, accessTokenFormat: 'jwt' as const }, { uri: OTHER_API }];
    const opaque = makeProvider({ resources, jwt: { keyEncryptionKey: KEK } }).provider;
    expect(decodeJwt(body(await clientCredentials(opaque, [API])).access_token as string).aud).toBe(API);
    expect(String(body(await clientCredentials(opaque, [OTHER_API])).access_token)).not.toContain('.');
    expect(String(body(await clientCredentials(opaque, [])).access_token)).not.toContain('.');
    const jwt = makeProvider({
      accessTokenFormat: 'jwt',
      jwt: { keyEncryptionKey: KEK },
      resources: [{ uri: API, accessTokenFormat: 'opaque' }],
    }).provider;
    expect(String(body(await clientCredentials(jwt, [API])).access_token)).not.toContain('.');
  });

  it('verifyAccessToken checks the audience when asked', async () => {
    const { provider } = setup();
    const at = body(await clientCredentials(provider, [API])).access_token as string;
    const none = body(await clientCredentials(provider, [])).access_token as string;
    const bearer = (t: string) => get('/api', { authorization: `Bearer ${t}` });
    expect((await provider.verifyAccessToken(bearer(at), ['read'], { audience: API })).ok).toBe(true);
    expect((await provider.verifyAccessToken(bearer(at))).ok).toBe(true);
    for (const [t, audience] of [
      [at, OTHER_API],
      [none, API],
    ] as const) {
      const r = await provider.verifyAccessToken(bearer(t), [], { audience });
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.response.status).toBe(401);
        expect(r.response.headers['WWW-Authenticate']).toContain('error="invalid_token"');
      }
    }
    const direct = await provider.checkAccessToken(bearer(at), [], { audience: OTHER_API });
    expect(direct.ok).toBe(false);
  });

  it('the grant codec carries the resources, and refuses them of the wrong type', () => {
    const grant = {
      code: 'c',
      clientId: 'conf',
      userId: 'u',
      redirectUri: null,
      scopes: ['read'],
      expiresAt: new Date(1_900_000_000_000),
      grantId: 'g',
      codeChallenge: null,
      codeChallengeMethod: null,
    };
    expect(decodeGrant('conf', 'c', encodeGrant({ ...grant, resources: [API, CAL] }))).toEqual({ ...grant, resources: [API, CAL] });
    expect(decodeGrant('conf', 'c', encodeGrant(grant))).toEqual(grant);
    const bad = JSON.parse(encodeGrant(grant)) as Record<string, unknown>;
    expect(decodeGrant('conf', 'c', JSON.stringify({ ...bad, resources: API }))).toBeNull();
    expect(decodeGrant('conf', 'c', JSON.stringify({ ...bad, resources: [1] }))).toBeNull();
  });
});
