/**
 * RFC 7591 (Dynamic Client Registration) and RFC 7592 (Dynamic Client Registration Management).
 *
 * RFC 7591 section 3.1: "To register, the client or developer sends an HTTP POST to the client
 *   registration endpoint with a content type of "application/json"."
 * RFC 7591 section 2: "The authorization server MUST ignore any client metadata sent by the client
 *   that it does not understand".
 * RFC 7591 section 2.1: the "grant_types" and "response_types" values must be consistent ("code"
 *   goes with "authorization_code").
 * RFC 7591 section 3.2.1: "The server responds with an HTTP 201 Created status code and a body of
 *   type "application/json" with content as described in Section 3.2.1." client_secret_expires_at:
 *   "REQUIRED if "client_secret" is issued. Time at which the client secret will expire or 0 if it
 *   will not expire."
 * RFC 7591 section 3.2.2: "invalid_redirect_uri: The value of one or more redirection URIs is
 *   invalid." "invalid_client_metadata: The value of one of the client metadata fields is invalid
 *   and the server has rejected this request."
 * RFC 7592 section 2: the client configuration endpoint is protected by the registration access
 *   token as a bearer token; "If the registration access token used to make this request is not
 *   valid, the server MUST respond with an error as described in OAuth 2.0 Bearer Token Usage".
 * RFC 7592 section 2.2: "This request MUST include all client metadata fields as returned to the
 *   client from a previous registration, read, or update operation." "The client MUST NOT include
 *   the "registration_access_token", "registration_client_uri", "client_secret_expires_at", or
 *   "client_id_issued_at" fields in the request." The server may issue a new registration access
 *   token; core always rotates it.
 * RFC 7592 section 2.3: "If a client has been successfully deprovisioned, the authorization server
 *   MUST respond with an HTTP 204 No Content message." "the authorization server SHOULD immediately
 *   invalidate all existing authorization grants and currently-active access tokens, refresh
 *   tokens, and other credentials" (core does, through `UserGrantStore.revokeClientGrants`).
 * RFC 6749 section 4.4: "The client credentials grant type MUST only be used by confidential
 *   clients": a public client (`token_endpoint_auth_method` none) cannot register it.
 * RFC 8252 section 7.3 (loopback http) and 7.1 (private-use schemes) for native apps.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ConfigurationError,
  createMemoryStores,
  OAuth2Provider,
  type OAuthRequest,
  type OAuthResponse,
  type ProviderOptions,
  toNodeHandler,
} from '../../src/index.js';
import { basic, DESCRIPTION, form, json, pkce } from '../security/fixture.js';

const ISSUER = 'https://auth.example';
const IAT = 'i'.repeat(40);

function setup(registration: ProviderOptions['registration'] = {}, extra: Partial<ProviderOptions> = {}) {
  const stores = createMemoryStores();
  const provider = new OAuth2Provider({
    issuer: ISSUER,
    grants: ['authorization_code', 'refresh_token', 'client_credentials'],
    scopes: ['read', 'write', 'admin'],
    stores,
    registration: {
      enabled: true,
      grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
      scopes: ['read', 'write'],
      ...registration,
    },
    ...extra,
  });
  return { provider, stores };
}
type P = ReturnType<typeof setup>['provider'];

const post = (body: unknown, headers: Record<string, string> = {}, remoteAddress = '10.0.0.1'): OAuthRequest => ({
  method: 'POST',
  url: '/oauth/register',
  headers: { 'content-type': 'application/json', ...headers },
  body: typeof body === 'string' ? body : JSON.stringify(body),
  remoteAddress,
});
const manage = (method: string, id: string, token: string | null, body?: unknown): OAuthRequest => ({
  method,
  url: `/oauth/register/${encodeURIComponent(id)}`,
  headers: {
    ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    ...(body === undefined ? {} : { 'content-type': 'application/json' }),
  },
  ...(body === undefined ? {} : { body: JSON.stringify(body) }),
});
const handle = async (p: P, req: OAuthRequest): Promise<OAuthResponse> => {
  const r = await p.handle(req);
  if (!r) throw new Error(`not routed: ${req.url}`);
  return r;
};

const WEB = { redirect_uris: ['https://app.example/cb'], client_name: 'Calendar Sync', scope: 'read' };

function expectError(r: OAuthResponse, status: number, error: string) {
  expect(r.status, r.body).toBe(status);
  const b = json(r);
  expect(b.error).toBe(error);
  expect(b.error_description).toMatch(DESCRIPTION);
}

type Registered = { client_id: string; client_secret?: string };

/** An unredeemed code of `userId` for the registered web client `c` (PKCE), with its verifier. */
async function code(p: P, c: Registered, userId: string): Promise<{ code: string; verifier: string }> {
  const { verifier, challenge } = pkce();
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: c.client_id,
    redirect_uri: WEB.redirect_uris[0]!,
    scope: 'read',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  const a = await p.authorize({ method: 'GET', url: `/oauth/authorize?${q}`, headers: {} });
  if (a.type !== 'consent') throw new Error('expected consent');
  const r = await p.completeAuthorization(a.request, { approved: true, userId });
  return { code: new URL(r.headers.Location!).searchParams.get('code')!, verifier };
}

/** Access and refresh tokens of `userId` for the registered confidential web client `c`, through the code flow. */
async function codeTokens(p: P, c: Registered, userId: string): Promise<{ access_token: string; refresh_token: string }> {
  const { code: value, verifier } = await code(p, c, userId);
  const t = await p.token(
    form(
      { grant_type: 'authorization_code', code: value, redirect_uri: WEB.redirect_uris[0]!, code_verifier: verifier },
      { authorization: basic(c.client_id, c.client_secret!) },
    ),
  );
  if (t.status !== 200) throw new Error(`token exchange failed: ${t.body}`);
  return json(t) as { access_token: string; refresh_token: string };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('RFC 7591 section 3: registration', () => {
  it('registers a confidential web client: 201 with id, secret (0 = never expires), registration token and URI', async () => {
    const { provider } = setup();
    const r = await handle(
      provider,
      post({ ...WEB, contacts: ['ops@app.example'], software_id: 'cal-sync', software_version: '2.1', unknown_field: 1 }),
    );
    expect(r.status).toBe(201);
    expect(r.headers['Cache-Control']).toBe('no-store');
    const b = json(r);
    expect(b).toMatchObject({
      redirect_uris: ['https://app.example/cb'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'read',
      client_name: 'Calendar Sync',
      contacts: ['ops@app.example'],
      software_id: 'cal-sync',
      software_version: '2.1',
      client_secret_expires_at: 0,
    });
    expect(b).not.toHaveProperty('unknown_field');
    expect(b.client_id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(b.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(b.registration_access_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(b.registration_client_uri).toBe(`${ISSUER}/oauth/register/${b.client_id}`);
    expect(Math.abs((b.client_id_issued_at as number) - Date.now() / 1000)).toBeLessThan(5);
    // The consent page can show the client's name.
    const pair = pkce();
    const q = new URLSearchParams({
      client_id: b.client_id as string,
      response_type: 'code',
      redirect_uri: 'https://app.example/cb',
      code_challenge: pair.challenge,
      code_challenge_method: 'S256',
    });
    const a = await provider.authorize({ method: 'GET', url: `/oauth/authorize?${q}`, headers: {} });
    expect(a.type).toBe('consent');
    if (a.type === 'consent') expect(a.request.client.name).toBe('Calendar Sync');
  });

  it('the registered secret works at the token endpoint, and is stored only as a hash', async () => {
    const { provider, stores } = setup();
    const b = json(await handle(provider, post({ grant_types: ['client_credentials'], response_types: [], scope: 'read write' })));
    const t = await provider.token(
      form({ grant_type: 'client_credentials', scope: 'read' }, { authorization: basic(b.client_id as string, b.client_secret as string) }),
    );
    expect(t.status).toBe(200);
    const stored = await stores.clients.getClient(b.client_id as string);
    expect(JSON.stringify(stored)).not.toContain(b.client_secret as string);
    expect(JSON.stringify(stored)).not.toContain(b.registration_access_token as string);
  });

  it('registers public native clients with loopback http and private-use redirect URIs (RFC 8252)', async () => {
    const { provider } = setup();
    const r = await handle(
      provider,
      post({
        token_endpoint_auth_method: 'none',
        redirect_uris: ['http://127.0.0.1/cb', 'http://[::1]:8080/cb', 'com.example.app:/oauth2redirect'],
      }),
    );
    expect(r.status).toBe(201);
    const b = json(r);
    expect(b).not.toHaveProperty('client_secret');
    expect(b).not.toHaveProperty('client_secret_expires_at');
    expect(b.token_endpoint_auth_method).toBe('none');
  });

  it('is advertised as registration_endpoint, off by default, and needs a registration store', async () => {
    const { provider } = setup();
    expect(json(await provider.metadata()).registration_endpoint).toBe(`${ISSUER}/oauth/register`);
    const off = new OAuth2Provider({ issuer: ISSUER, stores: createMemoryStores() });
    expect(off.handles('/oauth/register')).toBe(false);
    expect(json(await off.metadata())).not.toHaveProperty('registration_endpoint');
    const { registrations: _, ...rest } = createMemoryStores();
    expect(() => new OAuth2Provider({ issuer: ISSUER, stores: rest, registration: { enabled: true } })).toThrow(ConfigurationError);
  });

  const refused: [string, unknown, string, string][] = [
    [
      'an http redirect URI that is not loopback',
      { redirect_uris: ['http://app.example/cb'] },
      'invalid_redirect_uri',
      'http redirect URIs are allowed for loopback addresses only',
    ],
    ['a fragment', { redirect_uris: ['https://app.example/cb#x'] }, 'invalid_redirect_uri', 'A redirect URI must not have a fragment'],
    [
      'javascript:',
      { redirect_uris: ['javascript:alert(1)'] },
      'invalid_redirect_uri',
      'The scheme javascript: is not allowed for redirect URIs',
    ],
    ['data:', { redirect_uris: ['data:text/html,x'] }, 'invalid_redirect_uri', 'The scheme data: is not allowed for redirect URIs'],
    [
      'credentials in the URI',
      { redirect_uris: ['https://u:p@app.example/cb'] },
      'invalid_redirect_uri',
      'A redirect URI must not carry credentials',
    ],
    ['a relative URI', { redirect_uris: ['/cb'] }, 'invalid_redirect_uri', 'A redirect URI is not an absolute URI'],
    [
      'CR LF in a redirect URI',
      { redirect_uris: ['https://app.example/cb\r\nX: 1'] },
      'invalid_redirect_uri',
      'A redirect URI holds characters outside RFC 3986',
    ],
    [
      'a tab in a redirect URI',
      { redirect_uris: ['https://app.exa\tmple/cb'] },
      'invalid_redirect_uri',
      'A redirect URI holds characters outside RFC 3986',
    ],
    [
      'a space in a redirect URI',
      { redirect_uris: ['https://app.example/c b'] },
      'invalid_redirect_uri',
      'A redirect URI holds characters outside RFC 3986',
    ],
    [
      'a private-use scheme for a confidential client',
      { redirect_uris: ['com.example.app:/cb'] },
      'invalid_redirect_uri',
      'Private-use redirect URI schemes are for public (native) clients',
    ],
    [
      'a private-use scheme without a dot',
      { token_endpoint_auth_method: 'none', redirect_uris: ['myapp:/cb'] },
      'invalid_redirect_uri',
      'A private-use redirect URI scheme must be a reverse domain name (com.example.app:/cb)',
    ],
    [
      'no redirect URI for the code grant',
      { client_name: 'x' },
      'invalid_redirect_uri',
      'redirect_uris is required for the authorization code grant',
    ],
    [
      '11 redirect URIs',
      { redirect_uris: Array.from({ length: 11 }, (_, i) => `https://app.example/${i}`) },
      'invalid_redirect_uri',
      'redirect_uris must be a list of at most 10 URIs',
    ],
    [
      'a grant not allowed for registered clients',
      { ...WEB, grant_types: ['authorization_code', 'password'] },
      'invalid_client_metadata',
      "The grant type 'password' is not allowed for registered clients",
    ],
    [
      'the implicit grant',
      { ...WEB, grant_types: ['implicit'], response_types: ['token'] },
      'invalid_client_metadata',
      "The grant type 'implicit' is not allowed for registered clients",
    ],
    [
      'response_types without the code grant',
      { grant_types: ['client_credentials'], response_types: ['code'] },
      'invalid_client_metadata',
      'response_types code goes with grant_types authorization_code, and the other way round',
    ],
    [
      'a scope outside the registration policy',
      { ...WEB, scope: 'read admin' },
      'invalid_client_metadata',
      "The scope 'admin' is not allowed for registered clients",
    ],
    ['a malformed scope', { ...WEB, scope: 'read  write' }, 'invalid_client_metadata', 'scope must be a space-delimited list of scopes'],
    [
      'private_key_jwt',
      { ...WEB, token_endpoint_auth_method: 'private_key_jwt' },
      'invalid_client_metadata',
      'token_endpoint_auth_method must be one of client_secret_basic, client_secret_post, none',
    ],
    ['jwks_uri', { ...WEB, jwks_uri: 'https://app.example/jwks' }, 'invalid_client_metadata', 'jwks_uri is not supported by this server'],
    [
      'a software statement',
      { ...WEB, software_statement: 'eyJ.x.y' },
      'invalid_client_metadata',
      'software_statement is not supported by this server',
    ],
    [
      'a client name with CR LF',
      { ...WEB, client_name: 'Evil\r\nX-Injected: 1' },
      'invalid_client_metadata',
      'client_name must be a string of 1 to 200 printable characters',
    ],
    [
      'a client name with NUL',
      { ...WEB, client_name: 'a\u0000b' },
      'invalid_client_metadata',
      'client_name must be a string of 1 to 200 printable characters',
    ],
    [
      'a client name of 201 characters',
      { ...WEB, client_name: 'n'.repeat(201) },
      'invalid_client_metadata',
      'client_name must be a string of 1 to 200 printable characters',
    ],
    ['an http logo', { ...WEB, logo_uri: 'http://app.example/logo.png' }, 'invalid_client_metadata', 'logo_uri must be an https URI'],
    [
      '11 contacts',
      { ...WEB, contacts: Array.from({ length: 11 }, (_, i) => `${i}@x.example`) },
      'invalid_client_metadata',
      'contacts must be a list of at most 10 addresses',
    ],
    [
      'grant_types that is not a list',
      { ...WEB, grant_types: 'authorization_code' },
      'invalid_client_metadata',
      'grant_types must be a list of grant types',
    ],
  ];
  for (const [name, body, error, description] of refused) {
    it(`refuses ${name} (section 3.2.2)`, async () => {
      const { provider, stores } = setup();
      const r = await handle(provider, post(body));
      expectError(r, 400, error);
      expect(json(r).error_description).toBe(description);
      expect(r.headers.Location).toBeUndefined();
      void stores;
    });
  }

  it('refuses a public client (token_endpoint_auth_method none) with the client_credentials grant, storing nothing (RFC 6749 section 4.4)', async () => {
    const { provider, stores } = setup();
    const bodies = [
      { grant_types: ['client_credentials'], response_types: [], token_endpoint_auth_method: 'none' },
      { ...WEB, grant_types: ['authorization_code', 'client_credentials'], token_endpoint_auth_method: 'none' },
      { ...WEB, grant_types: ['authorization_code', 'refresh_token', 'client_credentials'], token_endpoint_auth_method: 'none' },
    ];
    for (const body of bodies) {
      const r = await handle(provider, post(body));
      expectError(r, 400, 'invalid_client_metadata');
      expect(json(r).error_description).toBe(
        'The client_credentials grant needs client authentication: not with token_endpoint_auth_method none',
      );
      expect(json(r)).not.toHaveProperty('client_id');
    }
    expect((await stores.registrations.listClients!(null, 100)).clients).toEqual([]);
    // The same grant with client authentication, and a public client without it, are fine.
    expect((await handle(provider, post({ grant_types: ['client_credentials'], response_types: [] }))).status).toBe(201);
    expect((await handle(provider, post({ ...WEB, token_endpoint_auth_method: 'none' }))).status).toBe(201);
    expect((await stores.registrations.listClients!(null, 100)).clients).toHaveLength(2);
  });

  it('refuses bodies that are not a JSON object, other content types and methods', async () => {
    const { provider } = setup();
    expectError(await handle(provider, post('{"redirect_uris": [')), 400, 'invalid_client_metadata');
    expectError(await handle(provider, post('[]')), 400, 'invalid_client_metadata');
    expectError(await handle(provider, post('null')), 400, 'invalid_client_metadata');
    expectError(
      await handle(provider, {
        method: 'POST',
        url: '/oauth/register',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'redirect_uris=x',
      }),
      400,
      'invalid_client_metadata',
    );
    const get = await handle(provider, { method: 'GET', url: '/oauth/register', headers: {} });
    expect(get.status).toBe(405);
    expect(get.headers.Allow).toBe('POST');
    // __proto__ in JSON is an own key, ignored as an unknown field; it changes nothing.
    const proto = await handle(provider, post(`{"__proto__": {"grant_types": ["password"]}, "redirect_uris": ["https://app.example/cb"]}`));
    expect(proto.status).toBe(201);
    expect(json(proto).grant_types).toEqual(['authorization_code']);
  });

  it('needs an initial access token when the operator sets some (401 with a Bearer challenge otherwise)', async () => {
    const { provider } = setup({ initialAccessTokens: [IAT] });
    const cases: Record<string, string>[] = [
      {},
      { authorization: `Bearer ${'x'.repeat(40)}` },
      { authorization: `Basic ${IAT}` },
      { authorization: `Bearer ${IAT}x` },
    ];
    for (const headers of cases) {
      const r = await handle(provider, post(WEB, headers));
      expectError(r, 401, 'invalid_token');
      expect(r.headers['WWW-Authenticate']).toMatch(/^Bearer error="invalid_token"/);
    }
    expect((await handle(provider, post(WEB, { authorization: `Bearer ${IAT}` }))).status).toBe(201);
    expect(() => setup({ initialAccessTokens: ['short'] })).toThrow(TypeError);
    // A token that could never be sent as a Bearer token68 is refused when configured.
    for (const bad of [`${'a'.repeat(32)} b`, `${'a'.repeat(32)}"`, `${'a'.repeat(32)}\n`, `=${'a'.repeat(32)}`, `${'é'.repeat(32)}`]) {
      expect(() => setup({ initialAccessTokens: [IAT, bad] })).toThrow(/must be bearer tokens/);
    }
  });

  it('limits registrations per client address (429 with Retry-After)', async () => {
    const { provider } = setup({ rateLimit: { max: 2, window: 60 } });
    expect((await handle(provider, post(WEB, {}, '10.0.0.9'))).status).toBe(201);
    expect((await handle(provider, post(WEB, {}, '10.0.0.9'))).status).toBe(201);
    const third = await handle(provider, post(WEB, {}, '10.0.0.9'));
    expectError(third, 429, 'temporarily_unavailable');
    expect(Number(third.headers['Retry-After'])).toBeGreaterThan(0);
    expect((await handle(provider, post(WEB, {}, '10.0.0.10'))).status).toBe(201);
  });

  it('generated secrets expire after registration.clientSecretLifetime', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { provider } = setup({ clientSecretLifetime: 3600 });
    const b = json(await handle(provider, post({ grant_types: ['client_credentials'], response_types: [] })));
    expect(b.client_secret_expires_at).toBe(Math.floor(Date.now() / 1000) + 3600);
    const cc = () =>
      provider.token(
        form({ grant_type: 'client_credentials' }, { authorization: basic(b.client_id as string, b.client_secret as string) }),
      );
    expect((await cc()).status).toBe(200);
    vi.setSystemTime(Date.now() + 3601_000);
    const late = await cc();
    expectError(late, 401, 'invalid_client');
    expect(json(late).error_description).toBe('The client secret has expired');
  });

  it('over HTTP through the node adapter (JSON body read, 413 past the body limit)', async () => {
    const { provider } = setup();
    const server = createServer(toNodeHandler(provider));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const ok = await fetch(`${base}/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(WEB),
      });
      expect(ok.status).toBe(201);
      const big = await fetch(`${base}/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...WEB, pad: 'x'.repeat(70_000) }),
      });
      expect(big.status).toBe(413);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('RFC 7592: the client configuration endpoint', () => {
  async function registered(p: P, body: unknown = WEB) {
    const r = await handle(p, post(body));
    expect(r.status).toBe(201);
    return json(r) as Record<string, unknown> & { client_id: string; registration_access_token: string; client_secret?: string };
  }

  it('reads the registration with its token (no secret), and refuses other tokens and clients alike with 401', async () => {
    const { provider } = setup();
    const c = await registered(provider);
    const other = await registered(provider);
    const r = await handle(provider, manage('GET', c.client_id, c.registration_access_token));
    expect(r.status).toBe(200);
    const b = json(r);
    expect(b).toMatchObject({
      client_id: c.client_id,
      client_name: 'Calendar Sync',
      redirect_uris: WEB.redirect_uris,
      client_secret_expires_at: 0,
    });
    expect(b).not.toHaveProperty('client_secret');
    expect(b).not.toHaveProperty('registration_access_token');
    for (const [id, token] of [
      [c.client_id, null],
      [c.client_id, other.registration_access_token],
      [c.client_id, 'x'.repeat(43)],
      ['unknown-client', c.registration_access_token],
    ] as const) {
      const bad = await handle(provider, manage('GET', id, token));
      expectError(bad, 401, 'invalid_token');
      expect(bad.headers['WWW-Authenticate']).toMatch(/^Bearer /);
    }
    const post405 = await handle(provider, manage('POST', c.client_id, c.registration_access_token, {}));
    expect(post405.status).toBe(405);
  });

  it('updates the metadata and rotates the registration access token', async () => {
    const { provider } = setup();
    const c = await registered(provider);
    const r = await handle(
      provider,
      manage('PUT', c.client_id, c.registration_access_token, {
        ...WEB,
        client_id: c.client_id,
        client_name: 'Calendar Sync 2',
        redirect_uris: ['https://app.example/cb2'],
      }),
    );
    expect(r.status).toBe(200);
    const b = json(r);
    expect(b.client_name).toBe('Calendar Sync 2');
    expect(b.redirect_uris).toEqual(['https://app.example/cb2']);
    expect(b).not.toHaveProperty('client_secret');
    expect(b.registration_access_token).not.toBe(c.registration_access_token);
    // Fields the update leaves out are removed (RFC 7592 section 2.2).
    const bare = await handle(
      provider,
      manage('PUT', c.client_id, b.registration_access_token as string, {
        redirect_uris: ['https://app.example/cb2'],
        client_id: c.client_id,
      }),
    );
    expect(bare.status).toBe(200);
    expect(json(bare)).not.toHaveProperty('client_name');
    // Left out, the scope is the registration default again.
    expect(json(bare).scope).toBe('read write');
    b.registration_access_token = json(bare).registration_access_token;
    expectError(await handle(provider, manage('GET', c.client_id, c.registration_access_token)), 401, 'invalid_token');
    expect((await handle(provider, manage('GET', c.client_id, b.registration_access_token as string))).status).toBe(200);
    // The secret still works: an update keeps it.
    const t = await provider.token(
      form(
        { grant_type: 'authorization_code', code: 'x', redirect_uri: 'https://app.example/cb2' },
        { authorization: basic(c.client_id, c.client_secret!) },
      ),
    );
    expectError(t, 400, 'invalid_grant');
  });

  it('refuses updates that change client_id, send server-set fields, a wrong secret or bad metadata', async () => {
    const { provider } = setup();
    const c = await registered(provider);
    const put = (body: unknown) => handle(provider, manage('PUT', c.client_id, c.registration_access_token, body));
    const cases: [unknown, string, string][] = [
      [{ ...WEB }, 'invalid_client_metadata', 'client_id must be the registered client id'],
      [{ ...WEB, client_id: 'other' }, 'invalid_client_metadata', 'client_id must be the registered client id'],
      [
        { ...WEB, client_id: c.client_id, registration_access_token: 'x' },
        'invalid_client_metadata',
        'registration_access_token must not be sent',
      ],
      [{ ...WEB, client_id: c.client_id, client_id_issued_at: 1 }, 'invalid_client_metadata', 'client_id_issued_at must not be sent'],
      [{ ...WEB, client_id: c.client_id, client_secret: 'wrong' }, 'invalid_client_metadata', 'client_secret does not match'],
      [
        { ...WEB, client_id: c.client_id, redirect_uris: ['http://evil.example/cb'] },
        'invalid_redirect_uri',
        'http redirect URIs are allowed for loopback addresses only',
      ],
    ];
    for (const [body, error, description] of cases) {
      const r = await put(body);
      expectError(r, 400, error);
      expect(json(r).error_description).toBe(description);
    }
    // Nothing changed, and the token was not rotated by the refused updates.
    expect(json(await handle(provider, manage('GET', c.client_id, c.registration_access_token))).redirect_uris).toEqual(WEB.redirect_uris);
    expect((await put({ ...WEB, client_id: c.client_id, client_secret: c.client_secret })).status).toBe(200);
  });

  it('refuses an update to a public client that keeps or adds client_credentials, changing nothing (RFC 6749 section 4.4)', async () => {
    const { provider, stores } = setup();
    const machine = await registered(provider, { grant_types: ['client_credentials'], response_types: [] });
    const web = await registered(provider, { ...WEB, token_endpoint_auth_method: 'none' });
    const before = [await stores.clients.getClient(machine.client_id), await stores.clients.getClient(web.client_id)];
    const cases: [typeof machine, Record<string, unknown>][] = [
      // A confidential client_credentials client that turns public.
      [machine, { grant_types: ['client_credentials'], response_types: [], token_endpoint_auth_method: 'none' }],
      // A public client that asks for client_credentials too.
      [web, { ...WEB, grant_types: ['authorization_code', 'client_credentials'], token_endpoint_auth_method: 'none' }],
    ];
    for (const [c, body] of cases) {
      const r = await handle(provider, manage('PUT', c.client_id, c.registration_access_token, { ...body, client_id: c.client_id }));
      expectError(r, 400, 'invalid_client_metadata');
      expect(json(r).error_description).toBe(
        'The client_credentials grant needs client authentication: not with token_endpoint_auth_method none',
      );
      expect(json(r)).not.toHaveProperty('registration_access_token');
    }
    // Nothing stored changed, the registration access tokens were not rotated, the secret still works.
    expect([await stores.clients.getClient(machine.client_id), await stores.clients.getClient(web.client_id)]).toEqual(before);
    for (const c of [machine, web]) {
      expect((await handle(provider, manage('GET', c.client_id, c.registration_access_token))).status).toBe(200);
    }
    const t = await provider.token(
      form({ grant_type: 'client_credentials' }, { authorization: basic(machine.client_id, machine.client_secret!) }),
    );
    expect(t.status).toBe(200);
  });

  it('a public client that becomes confidential gets a secret, shown once', async () => {
    const { provider } = setup();
    const c = await registered(provider, { ...WEB, token_endpoint_auth_method: 'none' });
    expect(c).not.toHaveProperty('client_secret');
    const r = await handle(provider, manage('PUT', c.client_id, c.registration_access_token, { ...WEB, client_id: c.client_id }));
    expect(r.status).toBe(200);
    expect(json(r).client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(json(r).token_endpoint_auth_method).toBe('client_secret_basic');
  });

  it('deletes the client: 204, then its token and its secret stop working', async () => {
    const { provider } = setup();
    const c = await registered(provider, { grant_types: ['client_credentials'], response_types: [] });
    const d = await handle(provider, manage('DELETE', c.client_id, c.registration_access_token));
    expect(d.status).toBe(204);
    expect(d.body).toBe('');
    expectError(await handle(provider, manage('GET', c.client_id, c.registration_access_token)), 401, 'invalid_token');
    const t = await provider.token(form({ grant_type: 'client_credentials' }, { authorization: basic(c.client_id, c.client_secret!) }));
    expectError(t, 401, 'invalid_client');
  });

  it("deleting a client revokes at once its access and refresh tokens, users' and its own, and its unredeemed codes (section 2.3)", async () => {
    const { provider, stores } = setup();
    const all = { ...WEB, scope: 'read', grant_types: ['authorization_code', 'refresh_token', 'client_credentials'] };
    const c = await registered(provider, all);
    const other = await registered(provider, all);
    const bearerOk = async (token: string) =>
      (await provider.verifyAccessToken({ method: 'GET', url: '/api', headers: { authorization: `Bearer ${token}` } })).ok;
    const user = await codeTokens(provider, c, 'u1');
    const user2 = await codeTokens(provider, c, 'u2');
    const machine = json(
      await provider.token(form({ grant_type: 'client_credentials' }, { authorization: basic(c.client_id, c.client_secret!) })),
    );
    const pending = await code(provider, c, 'u3');
    const kept = await codeTokens(provider, other, 'u1');
    const keptMachine = json(
      await provider.token(form({ grant_type: 'client_credentials' }, { authorization: basic(other.client_id, other.client_secret!) })),
    );
    for (const t of [user.access_token, user2.access_token, machine.access_token as string]) expect(await bearerOk(t)).toBe(true);
    const record = await stores.clients.getClient(c.client_id);

    expect((await handle(provider, manage('DELETE', c.client_id, c.registration_access_token))).status).toBe(204);
    for (const t of [user.access_token, user2.access_token, machine.access_token as string]) expect(await bearerOk(t)).toBe(false);
    expect((await provider.listUserGrants('u1')).map((g) => g.clientId)).toEqual([other.client_id]);
    expect(await provider.listUserGrants('u2')).toEqual([]);
    // Even a client coming back under the same id (restored from a backup, say) finds its refresh
    // tokens and its pending code dead.
    stores.addClient(record!);
    const auth = { authorization: basic(c.client_id, c.client_secret!) };
    for (const t of [user.refresh_token, user2.refresh_token]) {
      expectError(await provider.token(form({ grant_type: 'refresh_token', refresh_token: t }, auth)), 400, 'invalid_grant');
    }
    const redeem = form(
      { grant_type: 'authorization_code', code: pending.code, redirect_uri: WEB.redirect_uris[0]!, code_verifier: pending.verifier },
      auth,
    );
    expectError(await provider.token(redeem), 400, 'invalid_grant');
    expect(await bearerOk(user.access_token)).toBe(false);
    // Another client's tokens are untouched.
    expect(await bearerOk(kept.access_token)).toBe(true);
    expect(await bearerOk(keptMachine.access_token as string)).toBe(true);
    const refreshed = await provider.token(
      form(
        { grant_type: 'refresh_token', refresh_token: kept.refresh_token },
        { authorization: basic(other.client_id, other.client_secret!) },
      ),
    );
    expect(refreshed.status).toBe(200);
  });

  it('deleting a client works without a userGrants store, or with one that cannot revoke per client', async () => {
    const memory = createMemoryStores();
    const { revokeClientGrants: _, ...partial } = memory.userGrants;
    for (const stores of [
      { ...memory, userGrants: undefined },
      { ...memory, userGrants: partial },
    ]) {
      const { provider } = setup({}, { stores: stores as unknown as ProviderOptions['stores'] });
      const c = await registered(provider, { grant_types: ['client_credentials'], response_types: [] });
      const d = await handle(provider, manage('DELETE', c.client_id, c.registration_access_token));
      expect(d.status).toBe(204);
      expectError(await handle(provider, manage('GET', c.client_id, c.registration_access_token)), 401, 'invalid_token');
    }
  });

  it('never answers 5xx to hostile configuration requests', async () => {
    const { provider } = setup();
    const c = await registered(provider);
    const reqs: OAuthRequest[] = [
      { method: 'GET', url: `/oauth/register/${'%zz'}`, headers: { authorization: `Bearer ${c.registration_access_token}` } },
      { method: 'GET', url: `/oauth/register/${'a'.repeat(300)}`, headers: { authorization: `Bearer ${c.registration_access_token}` } },
      {
        method: 'PUT',
        url: `/oauth/register/${c.client_id}`,
        headers: { authorization: `Bearer ${c.registration_access_token}`, 'content-type': 'application/json' },
        body: '{',
      },
      { method: 'GET', url: `/oauth/register/${c.client_id}`, headers: { authorization: 'Bearer a\r\nb' } },
      { method: 'GET', url: `/oauth/register/${c.client_id}%00`, headers: { authorization: `Bearer ${c.registration_access_token}` } },
    ];
    for (const req of reqs) {
      const r = await provider.handle(req);
      if (r) expect(r.status, req.url).toBeLessThan(500);
    }
  });
});
