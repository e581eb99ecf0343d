/**
 * Dynamic client registration (RFC 7591) and its management (RFC 7592), pinned: each test fails
 * when one of core's own checks in `endpoints/registration.ts` is removed or loosened (issue 19,
 * mutation testing): the bearer parsing of initial and registration access tokens, the lookup of
 * the client a configuration request names, the update rules (server-set fields, secret, secret
 * expiry, first-use mark), the per-address limit, and metadata limits at their boundaries.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type Client,
  createMemoryStores,
  OAuth2Provider,
  type OAuthRequest,
  type OAuthResponse,
  type ProviderOptions,
  type User,
} from '../../src/index.js';

const ISSUER = 'https://auth.example';
const IAT = 'i'.repeat(40);
const IAT2 = 'j'.repeat(40);
const T0 = Date.UTC(2026, 11, 6, 12, 0, 0);
const WEB = { redirect_uris: ['https://app.example/cb'], client_name: 'Calendar Sync', scope: 'read' };
const SERVICE = { grant_types: ['client_credentials'], response_types: [] as string[], scope: 'read' };

function setup(registration: ProviderOptions['registration'] = {}, extra: Partial<ProviderOptions> = {}) {
  const stores = createMemoryStores<User, Client>({
    clients: [{ id: 'static', secretHash: null, redirectUris: ['https://app.example/cb'], grantTypes: ['authorization_code'], scopes: [] }],
  });
  const provider = new OAuth2Provider({
    issuer: ISSUER,
    grants: ['authorization_code', 'refresh_token', 'client_credentials'],
    scopes: ['read', 'write'],
    stores,
    ...extra,
    registration: {
      enabled: true,
      grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
      scopes: ['read', 'write'],
      ...registration,
    },
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
const manage = (
  method: string,
  id: string,
  authorization: string | null,
  body?: unknown,
  contentType = 'application/json',
): OAuthRequest => ({
  method,
  url: `/oauth/register/${encodeURIComponent(id)}`,
  headers: {
    ...(authorization === null ? {} : { authorization }),
    ...(body === undefined ? {} : { 'content-type': contentType }),
  },
  ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
});
async function handle(p: P, req: OAuthRequest): Promise<OAuthResponse> {
  const r = await p.handle(req);
  if (!r) throw new Error(`not routed: ${req.url}`);
  return r;
}
const json = (r: OAuthResponse) => (r.body ? (JSON.parse(r.body) as Record<string, unknown>) : {});

function expectError(r: OAuthResponse, status: number, error: string, description?: string) {
  expect(r.status, r.body).toBe(status);
  expect(json(r).error).toBe(error);
  if (description !== undefined) expect(json(r).error_description).toBe(description);
}

type Info = { client_id: string; client_secret?: string; registration_access_token: string } & Record<string, unknown>;
async function register(p: P, body: unknown = WEB): Promise<Info> {
  const r = await handle(p, post(body));
  expect(r.status, r.body).toBe(201);
  return json(r) as Info;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('the configuration of a client its store holds without a token endpoint auth method', () => {
  it("reads as client_secret_basic, RFC 7591 section 2's default", async () => {
    const { provider, stores } = setup();
    const c = await register(provider);
    const held = await stores.clients.getClient(c.client_id);
    expect(held?.tokenEndpointAuthMethod).toBe('client_secret_basic');
    // A binding may store clients without the field (the contract makes it optional).
    const { tokenEndpointAuthMethod: _dropped, ...without } = held!;
    stores.addClient(without as Client);
    const r = await handle(provider, manage('GET', c.client_id, `Bearer ${c.registration_access_token}`));
    expect(r.status, r.body).toBe(200);
    expect(json(r).token_endpoint_auth_method).toBe('client_secret_basic');
  });
});

describe('bearer tokens of the registration and configuration endpoints', () => {
  it('accepts any of the initial access tokens, and only after a Bearer scheme', async () => {
    const { provider } = setup({ initialAccessTokens: [IAT, IAT2] });
    expect((await handle(provider, post(WEB, { authorization: `Bearer ${IAT2}` }))).status).toBe(201);
    expect((await handle(provider, post(WEB, { authorization: `bEaReR ${IAT}` }))).status).toBe(201);
    // Another 7-character scheme, whatever follows it, is no bearer token.
    const other = await handle(provider, post(WEB, { authorization: `Beaver ${IAT}` }));
    expectError(other, 401, 'invalid_token', 'A valid initial access token is required');
    expect(other.headers['WWW-Authenticate']).toBe(
      'Bearer error="invalid_token", error_description="A valid initial access token is required"',
    );
  });

  it('takes the token after any run of spaces, and refuses one with characters outside token68', async () => {
    const { provider } = setup();
    const c = await register(provider);
    expect((await handle(provider, manage('GET', c.client_id, `Bearer   ${c.registration_access_token}`))).status).toBe(200);
    for (const authorization of [
      `Bearer "${c.registration_access_token}`,
      `Bearer ${c.registration_access_token}"`,
      `Bearer ${c.registration_access_token} x`,
      `Token: ${c.registration_access_token}`,
    ]) {
      expectError(
        await handle(provider, manage('GET', c.client_id, authorization)),
        401,
        'invalid_token',
        'The registration access token is invalid',
      );
    }
  });

  it('answers 401 (never 5xx) for a client that was not registered through the endpoint, or an unknown one', async () => {
    const { provider } = setup();
    const c = await register(provider);
    for (const id of ['static', 'nobody']) {
      const r = await handle(provider, manage('GET', id, `Bearer ${c.registration_access_token}`));
      expectError(r, 401, 'invalid_token', 'The registration access token is invalid');
    }
  });

  it('answers 405 with Allow: GET, PUT, DELETE to other methods', async () => {
    const { provider } = setup();
    const c = await register(provider);
    const r = await handle(provider, manage('PATCH', c.client_id, `Bearer ${c.registration_access_token}`));
    expect(r.status).toBe(405);
    expect(r.headers.Allow).toBe('GET, PUT, DELETE');
  });
});

describe('client configuration endpoint: updates and deletes (RFC 7592)', () => {
  const bearer = (c: Info) => `Bearer ${c.registration_access_token}`;

  it('refuses a PUT body that is not JSON with the JSON description, changing nothing', async () => {
    const { provider } = setup();
    const c = await register(provider);
    const r = await handle(provider, manage('PUT', c.client_id, bearer(c), 'client_id=x', 'application/x-www-form-urlencoded'));
    expectError(r, 400, 'invalid_client_metadata', 'The body must be application/json');
  });

  it('refuses each server-set field by name', async () => {
    const { provider } = setup();
    const c = await register(provider);
    for (const f of ['registration_access_token', 'registration_client_uri', 'client_secret_expires_at', 'client_id_issued_at']) {
      const r = await handle(provider, manage('PUT', c.client_id, bearer(c), { ...WEB, client_id: c.client_id, [f]: 1 }));
      expectError(r, 400, 'invalid_client_metadata', `${f} must not be sent`);
    }
  });

  it('refuses a client_secret that is not a string, or sent for a public client', async () => {
    const { provider } = setup();
    const conf = await register(provider);
    const r = await handle(provider, manage('PUT', conf.client_id, bearer(conf), { ...WEB, client_id: conf.client_id, client_secret: 12 }));
    expectError(r, 400, 'invalid_client_metadata', 'client_secret does not match');
    const pub = await register(provider, { ...WEB, token_endpoint_auth_method: 'none' });
    const body = { ...WEB, token_endpoint_auth_method: 'none', client_id: pub.client_id, client_secret: 'anything' };
    expectError(
      await handle(provider, manage('PUT', pub.client_id, bearer(pub), body)),
      400,
      'invalid_client_metadata',
      'client_secret does not match',
    );
  });

  it('a confidential client made public loses its secret: none shown, none kept', async () => {
    const { provider, stores } = setup();
    const c = await register(provider);
    const r = await handle(
      provider,
      manage('PUT', c.client_id, bearer(c), { ...WEB, client_id: c.client_id, token_endpoint_auth_method: 'none' }),
    );
    expect(r.status, r.body).toBe(200);
    expect(json(r).client_secret).toBeUndefined();
    expect(json(r).client_secret_expires_at).toBeUndefined();
    expect((await stores.clients.getClient(c.client_id))?.secretHash).toBeNull();
  });

  it('an update keeps the expiry of the secret it keeps', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const { provider } = setup({ clientSecretLifetime: 3600 });
    const c = await register(provider);
    expect(c.client_secret_expires_at).toBe(T0 / 1000 + 3600);
    vi.setSystemTime(T0 + 60_000);
    const r = await handle(
      provider,
      manage('PUT', c.client_id, bearer(c), { ...WEB, client_id: c.client_id, client_secret: c.client_secret }),
    );
    expect(r.status, r.body).toBe(200);
    expect(json(r).client_secret).toBeUndefined();
    expect(json(r).client_secret_expires_at).toBe(T0 / 1000 + 3600);
  });

  it('an update keeps the first-use mark', async () => {
    const { provider, stores } = setup();
    const c = await register(provider, SERVICE);
    const basic = `Basic ${Buffer.from(`${encodeURIComponent(c.client_id)}:${encodeURIComponent(c.client_secret!)}`).toString('base64')}`;
    const t = await provider.token({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
      body: 'grant_type=client_credentials',
    });
    expect(t.status, t.body).toBe(200);
    const used = (await stores.clients.getClient(c.client_id))?.registration?.firstUsedAt;
    expect(used).toBeInstanceOf(Date);
    const r = await handle(
      provider,
      manage('PUT', c.client_id, `Bearer ${c.registration_access_token}`, { ...SERVICE, client_id: c.client_id }),
    );
    expect(r.status, r.body).toBe(200);
    expect((await stores.clients.getClient(c.client_id))?.registration?.firstUsedAt?.getTime()).toBe(used!.getTime());
  });

  it('answers a delete 204 without caching', async () => {
    const { provider } = setup();
    const c = await register(provider);
    const r = await handle(provider, manage('DELETE', c.client_id, bearer(c)));
    expect(r.status).toBe(204);
    expect(r.headers['Cache-Control']).toBe('no-store');
    expect(r.headers.Pragma).toBe('no-cache');
    expect(r.body).toBe('');
  });
});

describe('client information: what is echoed', () => {
  it('echoes client_uri and logo_uri on registration, read and update, and leaves scope out when there is none', async () => {
    const { provider } = setup({ scopes: [] });
    const meta = { ...WEB, scope: undefined, client_uri: 'https://app.example/', logo_uri: 'https://app.example/logo.png' };
    const c = await register(provider, meta);
    expect(c.client_uri).toBe('https://app.example/');
    expect(c.logo_uri).toBe('https://app.example/logo.png');
    expect('scope' in c).toBe(false);
    const read = json(await handle(provider, manage('GET', c.client_id, `Bearer ${c.registration_access_token}`)));
    expect(read.client_uri).toBe('https://app.example/');
    expect(read.logo_uri).toBe('https://app.example/logo.png');
    expect('scope' in read).toBe(false);
  });
});

describe('registration limit per address', () => {
  it('answers 429 with the exact Retry-After, and lets the address in again when the window ends exactly', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const { provider } = setup({ rateLimit: { max: 1, window: 60 } });
    expect((await handle(provider, post(WEB))).status).toBe(201);
    const first = await handle(provider, post(WEB));
    expectError(first, 429, 'temporarily_unavailable', 'Too many registrations from this address; try again later');
    expect(first.headers['Retry-After']).toBe('60');
    vi.setSystemTime(T0 + 59_500);
    expect((await handle(provider, post(WEB))).headers['Retry-After']).toBe('1');
    vi.setSystemTime(T0 + 60_000);
    expect((await handle(provider, post(WEB))).status).toBe(201);
  });

  it('counts requests without an address together', async () => {
    const { provider } = setup({ rateLimit: { max: 1, window: 60 } });
    const noAddress = (): OAuthRequest => {
      const { remoteAddress: _r, ...req } = post(WEB);
      return req;
    };
    expect((await handle(provider, noAddress())).status).toBe(201);
    expectError(await handle(provider, noAddress()), 429, 'temporarily_unavailable');
    expect((await handle(provider, post(WEB, {}, 'unknown'))).status).toBe(429);
  });

  it('keeps at most 10,000 addresses, forgetting the oldest first', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const { provider } = setup({ rateLimit: { max: 1, window: 60 } });
    // A body that is refused after the limit is counted: fast, nothing stored.
    const hit = (addr: string) => handle(provider, post('[]', {}, addr));
    for (let i = 0; i < 10_000; i++) expect((await hit(`a${i}`)).status).toBe(400);
    expect((await hit('a9999')).status).toBe(429);
    expect((await hit('new')).status).toBe(400);
    // The oldest address was forgotten to make room; the newest ones are still counted.
    expect((await hit('a0')).status).toBe(400);
    expect((await hit('a9999')).status).toBe(429);
  });
});

describe('registration limit: making room', () => {
  it('at 10,000 addresses, forgets the expired ones before a live one', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const { provider } = setup({ rateLimit: { max: 1, window: 60 } });
    const hit = (addr: string) => handle(provider, post('[]', {}, addr));
    expect((await hit('a0')).status).toBe(400);
    vi.setSystemTime(T0 + 1_000);
    for (let i = 1; i < 9_999; i++) expect((await hit(`a${i}`)).status).toBe(400);
    // a0's window ends and a new one starts: it stays first in line, counted again.
    vi.setSystemTime(T0 + 60_000);
    expect((await hit('a0')).status).toBe(400);
    // The windows of a1..a9998 end; the table is full after x.
    vi.setSystemTime(T0 + 61_000);
    expect((await hit('x')).status).toBe(400);
    expect((await hit('y')).status).toBe(400);
    // Making room for y dropped the expired entries, not a0's live count.
    expect((await hit('a0')).status).toBe(429);
  });
});

describe('metadata limits at their boundaries', () => {
  const refused: [string, Record<string, unknown>, string, string][] = [
    ['an empty redirect URI', { redirect_uris: [''] }, 'invalid_redirect_uri', 'A redirect URI is empty or too long'],
    [
      'a redirect URI of 2001 characters',
      { redirect_uris: [`https://app.example/${'a'.repeat(1981)}`] },
      'invalid_redirect_uri',
      'A redirect URI is empty or too long',
    ],
    ['a fragment', { redirect_uris: ['https://app.example/cb#'] }, 'invalid_redirect_uri', 'A redirect URI must not have a fragment'],
    [
      'a user name only',
      { redirect_uris: ['https://u@app.example/cb'] },
      'invalid_redirect_uri',
      'A redirect URI must not carry credentials',
    ],
    [
      'a password only',
      { redirect_uris: ['https://:p@app.example/cb'] },
      'invalid_redirect_uri',
      'A redirect URI must not carry credentials',
    ],
    [
      'redirect_uris not a list of strings',
      { redirect_uris: ['https://app.example/cb', 1] },
      'invalid_redirect_uri',
      'redirect_uris must be a list of at most 10 URIs',
    ],
    [
      'an empty client name',
      { ...WEB, client_name: '' },
      'invalid_client_metadata',
      'client_name must be a string of 1 to 200 printable characters',
    ],
    [
      'a client name that is a number',
      { ...WEB, client_name: 7 },
      'invalid_client_metadata',
      'client_name must be a string of 1 to 200 printable characters',
    ],
    [
      'an empty software_id',
      { ...WEB, software_id: '' },
      'invalid_client_metadata',
      'software_id must be a string of 1 to 200 printable characters',
    ],
    ['a client_uri that is a number', { ...WEB, client_uri: 7 }, 'invalid_client_metadata', 'client_uri must be an https URI'],
    [
      'a client_uri that is a list',
      { ...WEB, client_uri: ['https://app.example/'] },
      'invalid_client_metadata',
      'client_uri must be an https URI',
    ],
    [
      'a client name that is a list',
      { ...WEB, client_name: ['Calendar'] },
      'invalid_client_metadata',
      'client_name must be a string of 1 to 200 printable characters',
    ],
    [
      'a client_uri of 2001 characters',
      { ...WEB, client_uri: `https://app.example/${'a'.repeat(1981)}` },
      'invalid_client_metadata',
      'client_uri must be an https URI',
    ],
    ['a client_uri that is no URI', { ...WEB, client_uri: 'not a uri' }, 'invalid_client_metadata', 'client_uri must be an https URI'],
    [
      'a client_uri with a user',
      { ...WEB, client_uri: 'https://u@app.example/' },
      'invalid_client_metadata',
      'client_uri must be an https URI',
    ],
    [
      'a logo_uri with a password',
      { ...WEB, logo_uri: 'https://:p@app.example/l.png' },
      'invalid_client_metadata',
      'logo_uri must be an https URI',
    ],
    ['jwks', { ...WEB, jwks: { keys: [] } }, 'invalid_client_metadata', 'jwks is not supported by this server'],
    [
      'a token_endpoint_auth_method that is a number',
      { ...WEB, token_endpoint_auth_method: 1 },
      'invalid_client_metadata',
      'token_endpoint_auth_method must be one of client_secret_basic, client_secret_post, none',
    ],
    ['no grant types', { ...WEB, grant_types: [] }, 'invalid_client_metadata', 'grant_types must be a list of grant types'],
    [
      '11 grant types',
      { ...WEB, grant_types: Array(11).fill('authorization_code') },
      'invalid_client_metadata',
      'grant_types must be a list of grant types',
    ],
    [
      'grant types that are not strings',
      { ...WEB, grant_types: [1] },
      'invalid_client_metadata',
      'grant_types must be a list of grant types',
    ],
    ['response_types not a list', { ...WEB, response_types: 'code' }, 'invalid_client_metadata', 'response_types must be a list'],
    [
      'a token response type',
      { ...WEB, response_types: ['code', 'token'] },
      'invalid_client_metadata',
      "The response type 'token' is not allowed for registered clients",
    ],
    [
      'a scope of 2001 characters',
      { ...WEB, scope: `read ${'r'.repeat(1996)}` },
      'invalid_client_metadata',
      'scope must be a space-delimited list of scopes',
    ],
    ['a scope that is a list', { ...WEB, scope: ['read'] }, 'invalid_client_metadata', 'scope must be a space-delimited list of scopes'],
    [
      'contacts not a list',
      { ...WEB, contacts: 'a@x.example' },
      'invalid_client_metadata',
      'contacts must be a list of at most 10 addresses',
    ],
    [
      'an empty contact',
      { ...WEB, contacts: ['a@x.example', ''] },
      'invalid_client_metadata',
      'contacts must be a list of at most 10 addresses',
    ],
    [
      'a contact of 321 characters',
      { ...WEB, contacts: [`${'c'.repeat(311)}@x.example`] },
      'invalid_client_metadata',
      'contacts must be a list of at most 10 addresses',
    ],
    [
      'a contact with a line break',
      { ...WEB, contacts: ['a@x.example\r\nBcc: b@x.example'] },
      'invalid_client_metadata',
      'contacts must be a list of at most 10 addresses',
    ],
  ];
  for (const [name, body, error, description] of refused) {
    it(`refuses ${name}, storing nothing`, async () => {
      const { provider } = setup();
      expectError(await handle(provider, post(body)), 400, error, description);
    });
  }

  it('accepts each limit exactly: 2000-character URIs, 200-character texts, 10 grant types, 10 URIs and contacts of 320 characters', async () => {
    const { provider } = setup();
    const uri = `https://app.example/${'a'.repeat(1980)}`;
    expect(uri).toHaveLength(2000);
    const c = await register(provider, {
      redirect_uris: [uri, ...Array.from({ length: 9 }, (_, i) => `https://app.example/${i}`)],
      grant_types: Array(10).fill('authorization_code'),
      client_name: 'n'.repeat(200),
      software_version: 'v'.repeat(200),
      client_uri: uri,
      contacts: [...Array(9).fill('a@x.example'), `${'c'.repeat(310)}@x.example`],
      scope: 'read write',
    });
    expect(c.client_name).toBe('n'.repeat(200));
    expect((c.contacts as string[])[9]).toHaveLength(320);
    expect(c.client_uri).toBe(uri);
  });

  it('a registration with no scope gets the policy scopes; with null fields, none of them', async () => {
    const { provider } = setup();
    const c = await register(provider, { ...WEB, scope: null, client_name: null, client_uri: null, contacts: null });
    expect(c.scope).toBe('read write');
    expect('client_name' in c || 'client_uri' in c || 'contacts' in c).toBe(false);
  });
});

describe('the request body and the registration store', () => {
  it('takes application/json whatever its case and parameters, and refuses a request without a content type', async () => {
    const { provider } = setup();
    expect((await handle(provider, post(WEB, { 'content-type': 'Application/JSON ; charset=utf-8' }))).status).toBe(201);
    const { headers: _h, ...bare } = post(WEB);
    const r = await handle(provider, { ...bare, headers: {} });
    expectError(r, 400, 'invalid_client_metadata', 'The body must be application/json');
  });

  it('takes a body a framework already parsed, and tells invalid JSON from JSON that is no object', async () => {
    const { provider } = setup();
    const { body: _b, ...req } = post(WEB);
    expect((await handle(provider, { ...req, parsedBody: WEB })).status).toBe(201);
    expectError(await handle(provider, post('{')), 400, 'invalid_client_metadata', 'The body is not valid JSON');
    for (const body of ['5', '"x"', 'null', '[]']) {
      expectError(await handle(provider, post(body)), 400, 'invalid_client_metadata', 'The body must be a JSON object');
    }
  });

  it('refuses a scope when the registration policy names none, and accepts a scope of exactly 2000 characters', async () => {
    const { provider } = setup({ scopes: undefined }, { scopes: undefined });
    expectError(
      await handle(provider, post(WEB)),
      400,
      'invalid_client_metadata',
      "The scope 'read' is not allowed for registered clients",
    );
    const scope = `write${' read'.repeat(399)}`;
    expect(scope).toHaveLength(2000);
    const c = await register(setup().provider, { ...WEB, scope });
    expect(c.scope).toBe('write read');
  });

  it('refuses a grant the registration policy allows but the server does not serve', async () => {
    const { provider } = setup({}, { grants: ['authorization_code', 'refresh_token'] });
    const r = await handle(provider, post(SERVICE));
    expectError(r, 400, 'invalid_client_metadata', "The grant type 'client_credentials' is not allowed for registered clients");
  });

  it('draws a client id 3 times at most, then answers 500', async () => {
    const { provider, stores } = setup();
    const ids: string[] = [];
    stores.registrations.createClient = async (client) => {
      ids.push(client.id);
      return false;
    };
    const r = await handle(provider, post(WEB));
    expectError(r, 500, 'server_error', 'Could not draw a free client id');
    expect(json(r).client_id).toBeUndefined();
    expect(new Set(ids).size).toBe(3);
  });

  it('hands the store the first-use mark on update, and answers 401 when the client is gone meanwhile', async () => {
    const { provider, stores } = setup();
    const c = await register(provider);
    const at = new Date(T0);
    const held = await stores.clients.getClient(c.client_id);
    await stores.registrations.updateClient({ ...held!, registration: { ...held!.registration!, firstUsedAt: at } });
    const seen: Client[] = [];
    const update = stores.registrations.updateClient.bind(stores.registrations);
    stores.registrations.updateClient = async (client) => {
      seen.push(client);
      return update(client);
    };
    const r = await handle(
      provider,
      manage('PUT', c.client_id, `Bearer ${c.registration_access_token}`, { ...WEB, client_id: c.client_id }),
    );
    expect(r.status, r.body).toBe(200);
    expect(seen[0]?.registration?.firstUsedAt?.getTime()).toBe(T0);
    const next = json(r) as Info;
    stores.registrations.updateClient = async () => false;
    const gone = await handle(
      provider,
      manage('PUT', c.client_id, `Bearer ${next.registration_access_token}`, { ...WEB, client_id: c.client_id }),
    );
    expectError(gone, 401, 'invalid_token', 'The registration access token is invalid');
  });
});

describe('defaults of left-out metadata', () => {
  it('a client without the code grant and without response_types gets none; without a scope policy, no scopes', async () => {
    const { provider } = setup({ scopes: undefined }, { scopes: undefined });
    const c = await register(provider, { grant_types: ['client_credentials'] });
    expect(c.response_types).toEqual([]);
    expect('scope' in c).toBe(false);
  });
});
