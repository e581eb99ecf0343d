/**
 * Every endpoint of the admin API over real HTTP (node:http on 127.0.0.1) with core's memory
 * stores; every answer is held to the OpenAPI document (status documented, body valid against
 * its schema), and the last test checks every documented operation was answered successfully.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import {
  type Client,
  ConfigurationError,
  createMemoryStores,
  generateClientSecret,
  hashPassword,
  hashSecret,
  OAuth2Provider,
  toNodeHandler,
} from '@portcullis/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_BODY_LIMIT, adminOpenApi, createAdminApi, createAdminFetchHandler, createAdminHandler } from '../src/index.js';
import { openApiChecker } from './openapi-check.js';

const KEK = generateClientSecret();
const OPERATOR = generateClientSecret();
const ADMIN_SECRET = generateClientSecret();
const PLAIN_SECRET = generateClientSecret();
const USER_APP_SECRET = generateClientSecret();
const base = (id: string, secret: string, extra: Partial<Client> = {}): Client => ({
  id,
  secretHash: hashSecret(secret),
  redirectUris: [],
  grantTypes: ['client_credentials', 'password', 'refresh_token'],
  scopes: ['admin', 'read'],
  ...extra,
});

const checker = openApiChecker(adminOpenApi);
let server: Server;
let origin: string;
let stores: ReturnType<typeof createMemoryStores>;
let provider: OAuth2Provider;

/** The token of a client_credentials (or password) request at the provider's token endpoint. */
async function token(
  clientId: string,
  secret: string,
  params: Record<string, string>,
): Promise<{ status: number; body: Record<string, string> }> {
  const r = await fetch(`${origin}/oauth/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${secret}`).toString('base64')}`,
    },
    body: new URLSearchParams(params).toString(),
  });
  return { status: r.status, body: (await r.json()) as Record<string, string> };
}

async function ccToken(clientId: string, secret: string, scope = 'admin'): Promise<string> {
  const r = await token(clientId, secret, { grant_type: 'client_credentials', scope });
  expect(r.status).toBe(200);
  return r.body.access_token!;
}

type Answer = { status: number; headers: Headers; text: string; json: Record<string, unknown> };

/**
 * A request to the admin API under `mount`, checked against the OpenAPI document unless the
 * path is not a documented one (`unchecked`).
 */
async function api(
  method: string,
  path: string,
  opts: { auth?: string | null; body?: unknown; headers?: Record<string, string>; mount?: string; unchecked?: boolean } = {},
): Promise<Answer> {
  const mount = opts.mount ?? '/admin';
  const headers: Record<string, string> = { ...opts.headers };
  const auth = opts.auth === undefined ? OPERATOR : opts.auth;
  if (auth !== null) headers.authorization = `Bearer ${auth}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    headers['content-type'] ??= 'application/json';
  }
  const r = await fetch(`${origin}${mount}${path}`, { method, headers, body });
  const text = await r.text();
  if (!opts.unchecked) checker.check(method, path.split('?')[0]!, r.status, r.headers.get('content-type'), text);
  return { status: r.status, headers: r.headers, text, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

/** A raw HTTP/1.1 exchange, for requests fetch refuses to send. */
async function raw(request: string): Promise<{ status: number; text: string }> {
  const { port } = server.address() as AddressInfo;
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.end(request);
  const chunks: Buffer[] = [];
  for await (const c of socket) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text };
}

function expectError(a: Answer, status: number, error: string) {
  expect(a.status).toBe(status);
  expect(a.json.error).toBe(error);
  expect(String(a.json.error_description ?? '')).toMatch(/^[\x20\x21\x23-\x5b\x5d-\x7e]*$/);
}

const neverLeaks = (text: string) => {
  expect(text).not.toMatch(/sha256\$|scrypt\$|secretHash|secret_hash|accessTokenHash|access_token_hash|privateKey|"d":/);
};

beforeAll(async () => {
  stores = createMemoryStores({
    clients: [
      base('admin-app', ADMIN_SECRET, { administrator: true }),
      base('plain-app', PLAIN_SECRET),
      base('user-app', USER_APP_SECRET, { scopes: ['read'] }),
      base('other-app', USER_APP_SECRET, { scopes: ['read'] }),
    ],
    users: [{ username: 'alice', user: { id: 'alice' }, passwordHash: await hashPassword('correct horse') }],
  });
  provider = new OAuth2Provider({
    issuer: 'https://auth.example',
    grants: ['client_credentials', 'password', 'refresh_token'],
    scopes: ['admin', 'read'],
    stores,
    accessTokenFormat: 'jwt',
    jwt: { keyEncryptionKey: KEK },
    logger: { warn() {}, error() {} },
  });
  // A second provider with opaque tokens and no per-user store, and a client store that cannot list.
  const s2 = createMemoryStores();
  const limited = new OAuth2Provider({
    issuer: 'https://auth.example',
    grants: ['client_credentials'],
    stores: { clients: s2.clients, tokens: s2.tokens },
    logger: { warn() {}, error() {} },
  });
  const { createClient, updateClient, deleteClient } = s2.registrations;
  const admin = createAdminHandler({ provider, stores, operatorTokens: [OPERATOR] });
  const admin2 = createAdminHandler({
    provider: limited,
    stores: { clients: s2.clients, registrations: { createClient, updateClient, deleteClient } },
    operatorTokens: [OPERATOR],
    basePath: '/limited/',
  });
  const oauth = toNodeHandler(provider);
  server = createServer((req, res) => {
    void admin(req, res, () => void admin2(req, res, () => void oauth(req, res)));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('OpenAPI document', () => {
  it('is served without a token, with the mount point as its server', async () => {
    const a = await api('GET', '/openapi.json', { auth: null });
    expect(a.status).toBe(200);
    expect(a.json).toEqual({ ...JSON.parse(JSON.stringify(adminOpenApi)), servers: [{ url: '/admin' }] });
    const b = await api('GET', '/openapi.json', { auth: null, mount: '/limited' });
    expect((b.json.servers as unknown[])[0]).toEqual({ url: '/limited' });
  });
  it('the checker refuses a body that breaks the schema and an undocumented status', () => {
    const bad = JSON.stringify({ client_id: 'x', secretHash: 'sha256$a$b' });
    expect(() => checker.check('GET', '/clients/x', 200, 'application/json', bad)).toThrow(/does not match/);
    expect(() => checker.check('GET', '/clients/x', 418, 'application/json', '{}')).toThrow(/not documented/);
    expect(() => checker.check('GET', '/keys', 200, 'application/json', '{"keys":[{"kid":"k"}]}')).toThrow(/does not match/);
    expect(() => checker.check('GET', '/nope', 200, 'application/json', '{}')).toThrow(/no documented path/);
    expect(() => checker.check('PATCH', '/clients/x', 200, 'application/json', '{}')).toThrow(/not documented/);
    expect(() => checker.check('PATCH', '/clients/x', 405, 'application/json', '{"error":"x","extra":1}')).toThrow(/does not match/);
    expect(() => checker.check('DELETE', '/clients/x', 204, null, '{}')).toThrow(/no body/);
    expect(() => checker.check('GET', '/clients/x', 200, 'text/html', '{}')).toThrow(/content type/);
  });
});

describe('authentication', () => {
  it('no token: 401 with a Bearer challenge', async () => {
    const a = await api('GET', '/clients', { auth: null });
    expect(a.status).toBe(401);
    expect(a.headers.get('www-authenticate')).toMatch(/^Bearer realm="oauth"/);
  });
  it('a wrong, truncated or extended operator token: 401 invalid_token', async () => {
    for (const t of [
      OPERATOR.slice(0, -1),
      `${OPERATOR}A`,
      `${OPERATOR.slice(0, -1)}${OPERATOR.endsWith('A') ? 'B' : 'A'}`,
      'x'.repeat(43),
    ]) {
      const a = await api('GET', '/clients', { auth: t });
      expectError(a, 401, 'invalid_token');
      expect(a.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    }
  });
  it('the operator token with another scheme, or in the query, is refused', async () => {
    const basic = await fetch(`${origin}/admin/clients`, { headers: { authorization: `Basic ${OPERATOR}` } });
    expect(basic.status).toBe(401);
    const q = await api('GET', `/clients?access_token=${OPERATOR}`, { auth: null });
    expect(q.status).toBe(401);
  });
  it('an admin-scoped token of a client that is not an administrator: 403 insufficient_scope', async () => {
    const a = await api('GET', '/clients', { auth: await ccToken('plain-app', PLAIN_SECRET) });
    expectError(a, 403, 'insufficient_scope');
    expect(a.headers.get('www-authenticate')).toMatch(/error="insufficient_scope"/);
  });
  it("an administrator's token without the admin scope: 403 insufficient_scope", async () => {
    const a = await api('GET', '/clients', { auth: await ccToken('admin-app', ADMIN_SECRET, 'read') });
    expectError(a, 403, 'insufficient_scope');
  });
  it("an administrator's admin-scoped token is accepted", async () => {
    const a = await api('GET', '/clients', { auth: await ccToken('admin-app', ADMIN_SECRET) });
    expect(a.status).toBe(200);
  });
  it('bad options are refused at creation', () => {
    const provider = new OAuth2Provider({ issuer: 'https://auth.example', grants: ['client_credentials'], stores: createMemoryStores() });
    expect(() => createAdminApi({ provider, stores: {}, operatorTokens: ['short'] })).toThrow(ConfigurationError);
    expect(() => createAdminApi({ provider, stores: {}, operatorTokens: [`${'a'.repeat(40)} b`] })).toThrow(ConfigurationError);
    expect(() => createAdminApi({ provider, stores: {}, basePath: 'admin' })).toThrow(ConfigurationError);
    expect(() => createAdminApi({ provider, stores: {}, bodyLimit: ADMIN_BODY_LIMIT + 1 })).toThrow(ConfigurationError);
  });
});

describe('clients', () => {
  let created: Record<string, unknown>;
  it('creates a confidential client: the secret is shown once and works at the token endpoint', async () => {
    const a = await api('POST', '/clients', {
      body: { client_id: 'svc-1', grant_types: ['client_credentials'], scopes: ['read'], client_name: 'Service one' },
    });
    expect(a.status).toBe(201);
    expect(a.headers.get('location')).toBe('/admin/clients/svc-1');
    created = a.json;
    expect(created.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(created.confidential).toBe(true);
    expect((await token('svc-1', created.client_secret as string, { grant_type: 'client_credentials', scope: 'read' })).status).toBe(200);
    const got = await api('GET', '/clients/svc-1');
    expect(got.json.client_secret).toBeUndefined();
    expect(got.json.client_name).toBe('Service one');
    neverLeaks(got.text);
    expect((await stores.clients.getClient('svc-1'))!.secretHash).not.toContain(created.client_secret as string);
  });
  it('creates a public client (no secret) and draws an id when none is given', async () => {
    const a = await api('POST', '/clients', {
      body: { grant_types: ['authorization_code'], redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'none' },
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
    expect(a.status).toBe(201);
    expect(a.json.client_secret).toBeUndefined();
    expect(a.json.confidential).toBe(false);
    expect(a.json.client_id).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });
  it('an existing id: 409', async () => {
    expectError(await api('POST', '/clients', { body: { client_id: 'svc-1', grant_types: ['client_credentials'] } }), 409, 'conflict');
  });
  it('refuses bad metadata with 400, naming the member but never the value', async () => {
    const before = (await stores.registrations.listClients!(null, 1000)).clients.map((c) => c.id);
    const cases: [unknown, string][] = [
      [{ grant_types: ['authorization_code'], redirect_uris: ['javascript:alert(1)'] }, 'invalid_client_metadata'],
      [{ grant_types: ['authorization_code'], redirect_uris: ['http://evil.example/cb'] }, 'invalid_client_metadata'],
      [{ grant_types: ['authorization_code'], redirect_uris: ['https://a.example/cb#frag'] }, 'invalid_client_metadata'],
      [{ grant_types: ['authorization_code'] }, 'invalid_redirect_uri'],
      [{ grant_types: [] }, 'invalid_client_metadata'],
      [{ grant_types: ['magic'] }, 'invalid_client_metadata'],
      [{ grant_types: 'client_credentials' }, 'invalid_client_metadata'],
      [{ scopes: ['read'] }, 'invalid_client_metadata'],
      [{ grant_types: ['client_credentials'], scopes: ['a b'] }, 'invalid_client_metadata'],
      [{ grant_types: ['client_credentials'], scopes: ['read', 'read'] }, 'invalid_client_metadata'],
      [{ grant_types: ['client_credentials'], scopes: ['read'], default_scopes: ['write'] }, 'invalid_client_metadata'],
      [{ grant_types: ['client_credentials'], token_endpoint_auth_method: 'none' }, 'invalid_client_metadata'],
      [{ grant_types: ['client_credentials'], administrator: 'yes' }, 'invalid_client_metadata'],
      [{ grant_types: ['client_credentials'], client_name: 'evil\r\nX-Injected: 1' }, 'invalid_client_metadata'],
      [{ grant_types: ['client_credentials'], client_id: 'bad\u0000id' }, 'invalid_client_metadata'],
      [{ grant_types: ['client_credentials'], client_id: 'x'.repeat(201) }, 'invalid_client_metadata'],
      [{ grant_types: ['client_credentials'], logo_uri: 'http://a.example/logo.png' }, 'invalid_client_metadata'],
      [{ grant_types: ['client_credentials'], client_secret_expires_at: 'tomorrow' }, 'invalid_client_metadata'],
      [{ grant_types: ['client_credentials'], secretHash: 'sha256$x$y' }, 'invalid_client_metadata'],
      [JSON.parse('{"grant_types":["client_credentials"],"__proto__":{"administrator":true}}'), 'invalid_client_metadata'],
      [[{ grant_types: ['client_credentials'] }], 'invalid_request'],
      ['null', 'invalid_request'],
      ['{"grant_types":', 'invalid_request'],
    ];
    for (const [body, error] of cases) {
      const a = await api('POST', '/clients', { body });
      expectError(a, 400, error);
      expect(a.text).not.toMatch(/javascript|evil|X-Injected|magic|tomorrow/);
    }
    const after = (await stores.registrations.listClients!(null, 1000)).clients;
    expect(after.filter((c) => c.administrator === true).map((c) => c.id)).toEqual(['admin-app']);
    expect(after.map((c) => c.id)).toEqual(before);
  });
  it('refuses a wrong content type (415), an oversize body (413) and bodies that are not UTF-8 JSON', async () => {
    const body = { grant_types: ['client_credentials'] };
    expectError(
      await api('POST', '/clients', { body, headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
      415,
      'invalid_request',
    );
    expectError(await api('POST', '/clients', { body, headers: { 'content-type': 'text/plain' } }), 415, 'invalid_request');
    const noType = await fetch(`${origin}/admin/clients`, {
      method: 'POST',
      headers: { authorization: `Bearer ${OPERATOR}` },
      body: new Blob(['{}']),
    });
    expect(noType.status).toBe(415);
    const big = { grant_types: ['client_credentials'], client_name: 'x'.repeat(ADMIN_BODY_LIMIT) };
    expectError(await api('POST', '/clients', { body: big }), 413, 'invalid_request');
    // Chunked, without Content-Length: counted while it streams.
    const chunked = await raw(
      `POST /admin/clients HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${OPERATOR}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
        `${(70000).toString(16)}\r\n${'x'.repeat(70000)}\r\n0\r\n\r\n`,
    );
    expect(chunked.status).toBe(413);
  });
  it('lists clients a page at a time with an opaque cursor', async () => {
    for (let i = 0; i < 12; i++) {
      const a = await api('POST', '/clients', {
        body: { client_id: `page-${String(i).padStart(2, '0')}`, grant_types: ['client_credentials'] },
      });
      expect(a.status).toBe(201);
    }
    const ids: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const a = await api('GET', `/clients?limit=5${cursor ? `&cursor=${cursor}` : ''}`);
      expect(a.status).toBe(200);
      const list = a.json.clients as { client_id: string }[];
      expect(list.length).toBeLessThanOrEqual(5);
      ids.push(...list.map((c) => c.client_id));
      cursor = a.json.next_cursor as string | null;
      neverLeaks(a.text);
      pages++;
    } while (cursor !== null && pages < 20);
    const all = [...(await stores.registrations.listClients!(null, 1000)).clients.map((c) => c.id)];
    expect(ids).toEqual(all);
    expect(new Set(ids).size).toBe(ids.length);
    expect(pages).toBeGreaterThanOrEqual(Math.ceil(all.length / 5));
    expect(ids).toContain('page-11');
  });
  it('refuses bad paging parameters', async () => {
    const good = (await api('GET', '/clients?limit=1')).json.next_cursor as string;
    for (const q of [
      'limit=0',
      'limit=101',
      'limit=abc',
      'limit=1e1',
      'limit=5&limit=6',
      'cursor=!!',
      `cursor=${good}x`,
      'cursor=',
      'sort=id',
    ]) {
      expectError(await api('GET', `/clients?${q}`), 400, 'invalid_request');
    }
    expectError(await api('GET', `/clients?cursor=${Buffer.from('v2:x').toString('base64url')}`), 400, 'invalid_request');
  });
  it('replaces metadata, keeping the secret; a client made confidential gets one', async () => {
    const a = await api('PUT', '/clients/svc-1', {
      body: { grant_types: ['client_credentials'], scopes: ['read', 'admin'], client_name: 'Renamed' },
    });
    expect(a.status).toBe(200);
    expect(a.json.client_name).toBe('Renamed');
    expect(a.json.client_secret).toBeUndefined();
    expect((await token('svc-1', created.client_secret as string, { grant_type: 'client_credentials', scope: 'admin' })).status).toBe(200);
    await api('POST', '/clients', {
      body: {
        client_id: 'pub-1',
        grant_types: ['authorization_code'],
        redirect_uris: ['https://a.example/cb'],
        token_endpoint_auth_method: 'none',
      },
    });
    const b = await api('PUT', '/clients/pub-1', { body: { grant_types: ['client_credentials'] } });
    expect(b.status).toBe(200);
    expect(b.json.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await token('pub-1', b.json.client_secret as string, { grant_type: 'client_credentials' })).status).toBe(200);
    expectError(
      await api('PUT', '/clients/svc-1', { body: { client_id: 'other', grant_types: ['client_credentials'] } }),
      400,
      'invalid_client_metadata',
    );
    expectError(await api('PUT', '/clients/nobody', { body: { grant_types: ['client_credentials'] } }), 404, 'not_found');
  });
  it('rotates a secret: the old one stops working, the new one works', async () => {
    const a = await api('POST', '/clients/svc-1/secret');
    expect(a.status).toBe(200);
    expect(a.json.client_secret).not.toBe(created.client_secret);
    expect((await token('svc-1', created.client_secret as string, { grant_type: 'client_credentials' })).status).toBe(401);
    expect((await token('svc-1', a.json.client_secret as string, { grant_type: 'client_credentials' })).status).toBe(200);
    expectError(await api('POST', '/clients/nobody/secret'), 404, 'not_found');
    const pub = await api('POST', '/clients', {
      body: {
        client_id: 'pub-2',
        grant_types: ['authorization_code'],
        redirect_uris: ['https://a.example/cb'],
        token_endpoint_auth_method: 'none',
      },
    });
    expect(pub.status).toBe(201);
    expectError(await api('POST', '/clients/pub-2/secret'), 409, 'conflict');
  });
  it('shows a self-registered client without its registration token digest', async () => {
    await stores.registrations.createClient({
      ...base('reg-1', generateClientSecret()),
      registration: {
        accessTokenHash: 'DIGEST-OF-REGISTRATION-TOKEN',
        issuedAt: new Date(),
        responseTypes: ['code'],
        contacts: ['ops@a.example'],
      },
    });
    const a = await api('GET', '/clients/reg-1');
    expect(a.status).toBe(200);
    expect((a.json.registration as Record<string, unknown>).contacts).toEqual(['ops@a.example']);
    expect(a.text).not.toContain('DIGEST-OF-REGISTRATION-TOKEN');
    neverLeaks(a.text);
  });
  it('ids in the path are decoded safely and length-limited', async () => {
    expect((await api('POST', '/clients', { body: { client_id: 'a/b', grant_types: ['client_credentials'] } })).status).toBe(201);
    expect((await api('GET', '/clients/a%2Fb')).json.client_id).toBe('a/b');
    expectError(await api('GET', '/clients/%E0%A4%A'), 400, 'invalid_request');
    expectError(await api('GET', '/clients/a%00b'), 400, 'invalid_request');
    expectError(await api('GET', '/clients/a%0D%0ASet-Cookie:x'), 400, 'invalid_request');
    expectError(await api('GET', `/clients/${'a'.repeat(257)}`), 400, 'invalid_request');
    expectError(await api('GET', `/clients?x=${'a'.repeat(5000)}`), 400, 'invalid_request');
    expectError(await api('GET', '/clients/nobody'), 404, 'not_found');
  });
  it('deletes a client', async () => {
    expect((await api('DELETE', '/clients/svc-1')).status).toBe(204);
    expectError(await api('GET', '/clients/svc-1'), 404, 'not_found');
    expectError(await api('DELETE', '/clients/svc-1'), 404, 'not_found');
  });
  it("deleting a client revokes at once the access tokens issued to it, its own and a user's, and no other client's", async () => {
    const secret = generateClientSecret();
    await stores.registrations.createClient(base('del-1', secret, { scopes: ['read'] }));
    const own = await ccToken('del-1', secret, 'read');
    const users = await token('del-1', secret, { grant_type: 'password', username: 'alice', password: 'correct horse', scope: 'read' });
    expect(users.status).toBe(200);
    const other = await ccToken('other-app', USER_APP_SECRET, 'read');
    const verify = (t: string) => provider.verifyAccessToken({ method: 'GET', url: '/api/me', headers: { authorization: `Bearer ${t}` } });
    for (const t of [own, users.body.access_token!]) expect((await verify(t)).ok).toBe(true);

    expect((await api('DELETE', '/clients/del-1')).status).toBe(204);
    for (const t of [own, users.body.access_token!]) {
      const after = await verify(t);
      expect(after.ok).toBe(false);
      if (!after.ok) expect(after.response.status).toBe(401);
    }
    const refreshed = await token('del-1', secret, { grant_type: 'refresh_token', refresh_token: users.body.refresh_token! });
    expect(refreshed.status).toBe(401);
    expect((await verify(other)).ok).toBe(true);
  });
  it('deleting an unknown or hostile client id: the right 4xx, and nothing deleted or revoked', async () => {
    const secret = generateClientSecret();
    await stores.registrations.createClient(base('keep-1', secret, { scopes: ['read'] }));
    const kept = await ccToken('keep-1', secret, 'read');
    for (const path of [
      '/clients/nobody',
      '/clients/KEEP-1',
      '/clients/keep-',
      '/clients/keep-1%25',
      '/clients/keep-*',
      '/clients/%20keep-1',
    ]) {
      expectError(await api('DELETE', path), 404, 'not_found');
    }
    for (const path of [
      '/clients/keep-1%00',
      '/clients/keep-1%0D%0ASet-Cookie:x',
      '/clients/%E0%A4%A',
      `/clients/${'k'.repeat(257)}`,
      '/clients/keep-1?x=1',
    ]) {
      expectError(await api('DELETE', path), 400, 'invalid_request');
    }
    const anonymous = await api('DELETE', '/clients/keep-1', { auth: null });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer realm="oauth"/);
    expectError(await api('DELETE', '/clients/keep-1', { auth: await ccToken('plain-app', PLAIN_SECRET) }), 403, 'insufficient_scope');
    expect((await api('GET', '/clients/keep-1')).status).toBe(200);
    const still = await provider.verifyAccessToken({ method: 'GET', url: '/api/me', headers: { authorization: `Bearer ${kept}` } });
    expect(still.ok).toBe(true);
  });
});

describe('routing and hostile requests', () => {
  it('unknown paths: 404; wrong methods: 405 with Allow', async () => {
    expectError(await api('GET', '/nothing', { unchecked: true }), 404, 'not_found');
    expectError(await api('GET', '/clients//secret', { unchecked: true }), 404, 'not_found');
    const a = await api('PATCH', '/clients/x', { body: {} });
    expectError(a, 405, 'invalid_request');
    expect(a.headers.get('allow')).toBe('GET, PUT, DELETE');
    expectError(await api('DELETE', '/clients'), 405, 'invalid_request');
    expectError(await api('GET', '/keys/rotate'), 405, 'invalid_request');
  });
  it('a CR/LF in a header or a raw NUL in the path never reaches a 500', async () => {
    const crlf = await raw(`GET /admin/clients HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\rb\r\nConnection: close\r\n\r\n`);
    expect(crlf.status).toBe(400);
    const nul = await raw(`GET /admin/clients/a\u0000b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(nul.status).toBe(400);
    const dup = await raw(
      `GET /admin/clients HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${OPERATOR}\r\nAuthorization: Bearer nope\r\nConnection: close\r\n\r\n`,
    );
    expect([200, 400]).toContain(dup.status);
  });
  it('paths outside the mount point go to the next handler', async () => {
    const r = await fetch(`${origin}/administrator`, { headers: { authorization: `Bearer ${OPERATOR}` } });
    expect(r.status).toBe(404);
    expect(await r.json()).toEqual({ error: 'not_found' }); // core's answer, not ours
  });
});

describe("users' grants", () => {
  async function aliceToken(clientId: string) {
    const r = await token(clientId, USER_APP_SECRET, {
      grant_type: 'password',
      username: 'alice',
      password: 'correct horse',
      scope: 'read',
    });
    expect(r.status).toBe(200);
    return r.body.access_token!;
  }
  it('lists, pages and revokes per client, then all', async () => {
    const t1 = await aliceToken('user-app');
    await aliceToken('user-app');
    await aliceToken('other-app');
    const a = await api('GET', '/users/alice/grants');
    expect(a.status).toBe(200);
    const grants = a.json.grants as { client_id: string; grants: number; scopes: string[] }[];
    expect(grants.map((g) => g.client_id)).toEqual(['other-app', 'user-app']);
    expect(grants[1]!.grants).toBe(2);
    const p1 = await api('GET', '/users/alice/grants?limit=1');
    expect((p1.json.grants as unknown[]).length).toBe(1);
    const p2 = await api('GET', `/users/alice/grants?limit=1&cursor=${p1.json.next_cursor}`);
    expect((p2.json.grants as { client_id: string }[])[0]!.client_id).toBe('user-app');
    expect(p2.json.next_cursor).toBeNull();

    const r = await api('DELETE', '/users/alice/grants/user-app');
    expect(r.status).toBe(200);
    expect(r.json.revoked).toBeGreaterThanOrEqual(2);
    const introspect = await stores.tokens.getAccessToken((await import('@portcullis/core')).digestToken(t1));
    expect(introspect).toBeNull();
    expect(((await api('GET', '/users/alice/grants')).json.grants as { client_id: string }[]).map((g) => g.client_id)).toEqual([
      'other-app',
    ]);
    const all = await api('DELETE', '/users/alice/grants');
    expect(all.json.revoked).toBeGreaterThanOrEqual(1);
    expect((await api('GET', '/users/alice/grants')).json.grants).toEqual([]);
    expect((await api('DELETE', '/users/nobody/grants')).json.revoked).toBe(0);
  });
  it('refuses hostile user ids and paging', async () => {
    expectError(await api('GET', '/users/a%0Ab/grants'), 400, 'invalid_request');
    expectError(await api('GET', `/users/${'u'.repeat(300)}/grants`), 400, 'invalid_request');
    expectError(await api('GET', '/users/alice/grants?limit=1&limit=2'), 400, 'invalid_request');
  });
  it('answers 501 when the provider has no per-user grant store', async () => {
    expectError(await api('GET', '/users/alice/grants', { mount: '/limited' }), 501, 'not_implemented');
    expectError(await api('DELETE', '/users/alice/grants', { mount: '/limited' }), 501, 'not_implemented');
    expectError(await api('DELETE', '/users/alice/grants/app', { mount: '/limited' }), 501, 'not_implemented');
  });
});

describe('signing keys', () => {
  it('lists the public keys with activation and retirement, and rotates', async () => {
    await ccToken('admin-app', ADMIN_SECRET); // the first key is made on first use
    const a = await api('GET', '/keys');
    expect(a.status).toBe(200);
    const keys = a.json.keys as { kid: string; status: string; jwk: Record<string, string> }[];
    expect(keys.length).toBeGreaterThanOrEqual(1);
    expect(keys.some((k) => k.status === 'active')).toBe(true);
    neverLeaks(a.text);
    const r = await api('POST', '/keys/rotate');
    expect(r.status).toBe(201);
    const after = (await api('GET', '/keys')).json.keys as { kid: string; status: string; retires_at: string | null }[];
    expect(after.find((k) => k.kid === r.json.kid)?.status).toBe('next');
    expect(after.filter((k) => k.kid !== r.json.kid).every((k) => k.retires_at !== null)).toBe(true);
    const jwks = (await (await fetch(`${origin}/oauth/jwks`)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid).sort()).toEqual(after.map((k) => k.kid).sort());
  });
  it('404 when the provider does not sign JWTs', async () => {
    expectError(await api('GET', '/keys', { mount: '/limited' }), 404, 'not_found');
    expectError(await api('POST', '/keys/rotate', { mount: '/limited' }), 404, 'not_found');
  });
});

describe('limited stores', () => {
  it('501 when the store cannot list clients; writes still work', async () => {
    expectError(await api('GET', '/clients', { mount: '/limited' }), 501, 'not_implemented');
    expect(
      (await api('POST', '/clients', { mount: '/limited', body: { client_id: 'l1', grant_types: ['client_credentials'] } })).status,
    ).toBe(201);
  });
});

describe('Fetch handler and store failures', () => {
  async function fetchCall(handler: ReturnType<typeof createAdminFetchHandler>, method: string, path: string, body?: string) {
    const headers: Record<string, string> = { authorization: `Bearer ${OPERATOR}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const r = await handler(new Request(`http://127.0.0.1/ops${path}`, { method, headers, body }));
    if (r === null) return null;
    const text = await r.text();
    checker.check(method, path.split('?')[0]!, r.status, r.headers.get('content-type'), text);
    return { status: r.status, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>), text };
  }
  const provider = () =>
    new OAuth2Provider({
      issuer: 'https://auth.example',
      grants: ['client_credentials'],
      stores: createMemoryStores(),
      logger: { warn() {}, error() {} },
    });

  it('serves the same API, and null outside the mount point', async () => {
    const s = createMemoryStores();
    const h = createAdminFetchHandler({ provider: provider(), stores: s, operatorTokens: [OPERATOR], basePath: '/ops' });
    const c = await fetchCall(h, 'POST', '/clients', JSON.stringify({ client_id: 'f1', grant_types: ['client_credentials'] }));
    expect(c?.status).toBe(201);
    expect((await fetchCall(h, 'GET', '/clients'))?.json.clients).toHaveLength(1);
    expect(await h(new Request('http://127.0.0.1/elsewhere'))).toBeNull();
    const big = await fetchCall(h, 'POST', '/clients', 'x'.repeat(ADMIN_BODY_LIMIT + 1));
    expect(big?.status).toBe(413);
  });
  it('an unavailable store: 503; a failing one: 500 without detail', async () => {
    const s = createMemoryStores();
    const down = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:5432 password=hunter2'), { code: 'ECONNREFUSED' });
    const broken = Object.assign(new Error('secret internals password=hunter2'), {});
    const h1 = createAdminFetchHandler({
      provider: provider(),
      stores: { clients: s.clients, registrations: { ...s.registrations, listClients: () => Promise.reject(down) } },
      operatorTokens: [OPERATOR],
      basePath: '/ops',
    });
    const a = await fetchCall(h1, 'GET', '/clients');
    expect(a?.status).toBe(503);
    expect(a?.text).not.toContain('hunter2');
    const h2 = createAdminFetchHandler({
      provider: provider(),
      stores: { clients: { getClient: () => Promise.reject(broken) }, registrations: s.registrations },
      operatorTokens: [OPERATOR],
      basePath: '/ops',
    });
    const b = await fetchCall(h2, 'GET', '/clients/x');
    expect(b?.status).toBe(500);
    expect(b?.json.error).toBe('server_error');
    expect(b?.text).not.toContain('hunter2');
  });
});

describe('coverage of the document', () => {
  it('every documented operation was answered with a success and its body validated', () => {
    const ok = new Set(checker.seen.filter((s) => s.status < 300).map((s) => s.operation));
    expect(checker.operations().filter((op) => !ok.has(op))).toEqual([]);
    const statuses = new Set(checker.seen.map((s) => s.status));
    for (const s of [400, 401, 403, 404, 405, 409, 413, 415, 500, 501, 503]) expect(statuses, String(s)).toContain(s);
  });
});
