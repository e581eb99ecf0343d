/**
 * Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; the MCP
 * authorization spec's way for clients to arrive without registering).
 *
 * Draft section 3: the client identifier is an https URL with a path component; it "MUST NOT
 *   contain single-dot or double-dot path segments", "MUST NOT contain a fragment component" and
 *   "MUST NOT contain a username or password".
 * Draft section 4: the document's "client_id" property "MUST match the URL of the document using
 *   simple string comparison"; the document "MUST NOT include ... client_secret"; shared secrets
 *   ("client_secret_post", "client_secret_basic") must not be used.
 * Draft section 6 (security): the server fetches a URL the client chose, so it must defend
 *   against SSRF (private addresses), limit size and time, and not follow redirects blindly.
 *
 * These tests run against a local HTTPS server with a test CA made by openssl.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { captureLogger } from '../../../binding-testkit/src/flows.js';
import { isMetadataDocumentId, isPrivateAddress, resolveClientIdMetadataDocuments } from '../../src/client-metadata.js';
import { createMemoryStores, OAuth2Provider, type OAuthRequest, type ProviderOptions } from '../../src/index.js';
import { DESCRIPTION, form, json, pkce } from '../security/fixture.js';

const CB = 'http://127.0.0.1:7777/cb';
let dir: string;
let ca: string;
let server: Server;
let base: string;
let hits = 0;
type Route = (res: import('node:http').ServerResponse) => void;
const routes = new Map<string, Route>();

function doc(path: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { client_id: `${base}${path}`, client_name: 'Editor Agent', redirect_uris: [CB], grant_types: ['authorization_code'], ...extra };
}
function serve(path: string, body: unknown, headers: Record<string, string> = {}, status = 200) {
  routes.set(path, (res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cimd-'));
  const o = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  o([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    '/CN=Portcullis Test CA',
  ]);
  o([
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=localhost',
  ]);
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  o([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '1',
    '-extfile',
    'ext.cnf',
  ]);
  ca = readFileSync(join(dir, 'ca.pem'), 'utf8');
  server = createServer({ key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) }, (req, res) => {
    hits++;
    const route = routes.get(req.url ?? '');
    if (route) return route(res);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `https://localhost:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  routes.clear();
  hits = 0;
});

function setup(cimd: ProviderOptions['clientIdMetadataDocuments'] = {}) {
  const logger = captureLogger();
  const provider = new OAuth2Provider({
    issuer: 'https://auth.example',
    scopes: ['read'],
    stores: createMemoryStores(),
    logger,
    clientIdMetadataDocuments: { enabled: true, allowPrivateNetworks: true, ca, timeout: 1000, cacheTtl: { min: 1, max: 60 }, ...cimd },
  });
  return { provider, logger };
}
type P = ReturnType<typeof setup>['provider'];

const authorize = (p: P, clientId: string, extra: Record<string, string> = {}) => {
  const pair = pkce();
  const q = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    redirect_uri: CB,
    code_challenge: pair.challenge,
    code_challenge_method: 'S256',
    ...extra,
  });
  return { pair, result: p.authorize({ method: 'GET', url: `/oauth/authorize?${q}`, headers: {} } as OAuthRequest) };
};
async function refused(p: P, clientId: string) {
  const { result } = authorize(p, clientId);
  const r = await result;
  expect(r.type).toBe('response');
  if (r.type === 'response') {
    expect(r.response.status).toBe(400);
    expect(json(r.response)).toEqual({ error: 'invalid_request', error_description: 'Unknown client' });
    expect(json(r.response).error_description).toMatch(DESCRIPTION);
  }
}

describe('Client ID Metadata Documents', () => {
  it('resolves an https client_id: consent shows the name, and a code flow completes as a public client', async () => {
    serve('/agent.json', doc('/agent.json', { scope: 'read', logo_uri: 'https://example.com/logo.png' }));
    const { provider } = setup();
    const id = `${base}/agent.json`;
    const { pair, result } = authorize(provider, id, { scope: 'read' });
    const a = await result;
    if (a.type !== 'consent') throw new Error(JSON.stringify(a));
    expect(a.request.client).toMatchObject({
      id,
      name: 'Editor Agent',
      secretHash: null,
      tokenEndpointAuthMethod: 'none',
      logoUri: 'https://example.com/logo.png',
      scopes: ['read'],
    });
    const done = await provider.completeAuthorization(a.request, { approved: true, userId: 'u1' });
    const code = new URL(done.headers.Location!).searchParams.get('code')!;
    const t = await provider.token(
      form({ grant_type: 'authorization_code', code, redirect_uri: CB, client_id: id, code_verifier: pair.verifier }),
    );
    expect(t.status).toBe(200);
    expect(json(await provider.metadata()).client_id_metadata_document_supported).toBe(true);
  });

  it('caches the document within bounds (one fetch for several requests)', async () => {
    serve('/cached.json', doc('/cached.json'), { 'cache-control': 'max-age=3600' });
    const { provider } = setup();
    for (let i = 0; i < 3; i++) expect((await authorize(provider, `${base}/cached.json`).result).type).toBe('consent');
    expect(hits).toBe(1);
    // Concurrent first requests share one fetch.
    serve('/burst.json', doc('/burst.json'));
    hits = 0;
    await Promise.all(Array.from({ length: 5 }, () => authorize(provider, `${base}/burst.json`).result));
    expect(hits).toBe(1);
  });

  it('refuses documents whose client_id differs, that carry a secret or a shared-secret method, or bad redirect URIs', async () => {
    serve('/other.json', doc('/other.json', { client_id: `${base}/elsewhere.json` }));
    serve('/secret.json', doc('/secret.json', { client_secret: 'x' }));
    serve('/basic.json', doc('/basic.json', { token_endpoint_auth_method: 'client_secret_basic' }));
    serve('/http.json', doc('/http.json', { redirect_uris: ['http://evil.example/cb'] }));
    serve('/js.json', doc('/js.json', { redirect_uris: ['javascript:alert(1)'] }));
    serve('/grant.json', doc('/grant.json', { grant_types: ['client_credentials'], response_types: [] }));
    const { provider, logger } = setup();
    for (const p of ['/other.json', '/secret.json', '/basic.json', '/http.json', '/js.json', '/grant.json'])
      await refused(provider, `${base}${p}`);
    expect(logger.lines.join('\n')).toContain('client_id in the document is not the URL it was fetched from');
    // Logs name the origin, never the path the client chose.
    expect(logger.lines.join('\n')).not.toContain('/secret.json');
  });

  it('refuses redirects, errors, non-JSON, arrays, oversize documents and slow servers', async () => {
    routes.set('/moved.json', (res) => res.writeHead(302, { location: `${base}/agent.json` }).end());
    serve('/agent.json', doc('/agent.json'));
    serve('/gone.json', { error: 'x' }, {}, 404);
    serve('/text.json', 'not json');
    serve('/array.json', [doc('/array.json')]);
    serve('/big.json', doc('/big.json', { client_name: 'x', pad: 'p'.repeat(6000) }));
    routes.set('/chunked.json', (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let i = 0; i < 10; i++) res.write('x'.repeat(1000));
      res.end();
    });
    routes.set('/slow.json', (res) => {
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(doc('/slow.json')));
      }, 3000).unref();
    });
    const { provider } = setup({ timeout: 300 });
    for (const p of ['/moved.json', '/gone.json', '/text.json', '/array.json', '/big.json', '/chunked.json'])
      await refused(provider, `${base}${p}`);
    const t0 = Date.now();
    await refused(provider, `${base}/slow.json`);
    expect(Date.now() - t0).toBeLessThan(2500);
  });

  it('never fetches from private, loopback or link-local addresses unless allowed', async () => {
    serve('/agent.json', doc('/agent.json'));
    const { provider, logger } = setup({ allowPrivateNetworks: false });
    await refused(provider, `${base}/agent.json`);
    await refused(provider, `https://127.0.0.1:${new URL(base).port}/agent.json`);
    await refused(provider, 'https://[::1]:1/agent.json');
    await refused(provider, 'https://169.254.169.254/latest/meta-data.json');
    expect(hits).toBe(0);
    expect(logger.lines.join('\n')).toMatch(/private, loopback or link-local/);
  });

  it('is off by default: an https client_id is looked up in the client store like any other', async () => {
    serve('/agent.json', doc('/agent.json'));
    const provider = new OAuth2Provider({ issuer: 'https://auth.example', stores: createMemoryStores() });
    await refused(provider as P, `${base}/agent.json`);
    expect(hits).toBe(0);
    expect(json(await provider.metadata())).not.toHaveProperty('client_id_metadata_document_supported');
  });
});

describe('trusted CAs, allowed scopes, and finding a client by id', () => {
  it('trusts an extra CA besides the public ones (Node replaces them when given `ca`)', () => {
    const s = resolveClientIdMetadataDocuments({ enabled: true, ca });
    expect(s.ca).toHaveLength(rootCertificates.length + 1);
    expect(s.ca).toEqual(expect.arrayContaining([...rootCertificates, ca]));
    expect(resolveClientIdMetadataDocuments({ enabled: true }).ca).toBeNull();
  });

  it("checks a document's scope against `scopes`, by default those of self-registered clients", async () => {
    serve('/write.json', doc('/write.json', { scope: 'read write' }));
    serve('/plain.json', doc('/plain.json'));
    const make = (o: Partial<ProviderOptions> = {}) =>
      new OAuth2Provider({
        issuer: 'https://auth.example',
        scopes: ['read', 'write'],
        stores: createMemoryStores(),
        logger: captureLogger(),
        ...o,
        clientIdMetadataDocuments: { enabled: true, allowPrivateNetworks: true, ca, ...o.clientIdMetadataDocuments },
      });
    // Their own list: `write` is outside it.
    const logger = captureLogger();
    await refused(make({ logger, clientIdMetadataDocuments: { scopes: ['read'] } }), `${base}/write.json`);
    expect(logger.lines.join('\n')).toContain("The scope 'write' is not allowed");
    // `registration.scopes` is the default, before the server's.
    await refused(make({ registration: { scopes: ['read'] } }), `${base}/write.json`);
    // Then the server's: allowed, and a document without `scope` gets all of the list.
    const p = make();
    const a = await authorize(p, `${base}/write.json`, { scope: 'write' }).result;
    if (a.type !== 'consent') throw new Error(JSON.stringify(a));
    expect(a.request.client.scopes).toEqual(['read', 'write']);
    const b = await authorize(make({ clientIdMetadataDocuments: { scopes: ['write'] } }), `${base}/plain.json`, { scope: 'write' }).result;
    if (b.type !== 'consent') throw new Error(JSON.stringify(b));
    expect(b.request.client.scopes).toEqual(['write']);
    // Without any list, a document naming a scope is refused.
    const none = new OAuth2Provider({
      issuer: 'https://auth.example',
      stores: createMemoryStores(),
      logger: captureLogger(),
      clientIdMetadataDocuments: { enabled: true, allowPrivateNetworks: true, ca },
    });
    await refused(none, `${base}/write.json`);
  });

  it("findClient gives the document's client, the store's client, or null", async () => {
    serve('/named.json', doc('/named.json'));
    serve('/broken.json', 'not json');
    const { provider } = setup();
    const stores = createMemoryStores();
    stores.addClient({ id: 'stored', secretHash: null, redirectUris: [CB], grantTypes: ['authorization_code'], scopes: ['read'] });
    const both = new OAuth2Provider({
      issuer: 'https://auth.example',
      scopes: ['read'],
      stores,
      logger: captureLogger(),
      clientIdMetadataDocuments: { enabled: true, allowPrivateNetworks: true, ca },
    });
    expect(await provider.findClient(`${base}/named.json`)).toMatchObject({ id: `${base}/named.json`, name: 'Editor Agent' });
    expect(await provider.findClient(`${base}/broken.json`)).toBeNull();
    expect(await provider.findClient(`${base}/missing.json`)).toBeNull();
    expect(await provider.findClient('')).toBeNull();
    expect(await both.findClient('stored')).toMatchObject({ id: 'stored' });
    expect(await both.findClient('unknown')).toBeNull();
    expect(await both.findClient(`${base}/named.json`)).toMatchObject({ name: 'Editor Agent' });
    // With the feature off, an https id is only looked up in the store.
    const off = new OAuth2Provider({ issuer: 'https://auth.example', stores: createMemoryStores(), logger: captureLogger() });
    hits = 0;
    expect(await off.findClient(`${base}/named.json`)).toBeNull();
    expect(hits).toBe(0);
  });
});

describe('the longest client id resolved (maxIdLength)', () => {
  // An id of exactly `length` characters under the test server's origin.
  const idOf = (length: number) => {
    const head = `${base}/`;
    return `${head}${'a'.repeat(length - head.length - 5)}.json`;
  };
  it('defaults to 255, what the stock bindings store: a longer id is an unknown client, never fetched', async () => {
    const at = idOf(255);
    const over = idOf(256);
    serve(new URL(at).pathname, { ...doc(''), client_id: at });
    serve(new URL(over).pathname, { ...doc(''), client_id: over });
    const { provider } = setup();
    expect((await authorize(provider, at).result).type).toBe('consent');
    expect(hits).toBe(1);
    await refused(provider, over);
    expect(hits).toBe(1);
  });
  it('can be raised for stores with wider columns', async () => {
    const long = idOf(600);
    serve(new URL(long).pathname, { ...doc(''), client_id: long });
    const { provider } = setup({ maxIdLength: 600 });
    expect((await authorize(provider, long).result).type).toBe('consent');
  });
  it('must be an integer from 1 to 2000', () => {
    for (const maxIdLength of [0, -1, 1.5, 2001, Number.NaN]) {
      expect(() => setup({ maxIdLength }), String(maxIdLength)).toThrow(/clientIdMetadataDocuments\.maxIdLength must be/);
    }
    expect(() => setup({ maxIdLength: 2000 })).not.toThrow();
  });
});

describe('what counts as a metadata document id, and as a private address', () => {
  it('needs https, a path, no fragment, credentials or dot segments', () => {
    expect(isMetadataDocumentId('https://app.example/client.json')).toBe(true);
    expect(isMetadataDocumentId('https://app.example/a/b?x=1')).toBe(true);
    for (const id of [
      'http://app.example/client.json',
      'https://app.example',
      'https://app.example/',
      'https://app.example/c#f',
      'https://u:p@app.example/c',
      'https://app.example/a/../c',
      'https://app.example/./c',
      `https://app.example/${'a'.repeat(2000)}`,
      'https://APP.example/c',
    ]) {
      expect(isMetadataDocumentId(id), id).toBe(false);
    }
  });
  it('blocks private, loopback, link-local, mapped and non-addresses', () => {
    for (const a of [
      '10.1.2.3',
      '127.0.0.1',
      '169.254.169.254',
      '172.16.0.1',
      '192.168.1.1',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      'fe80::1',
      'fd00::1',
      '::ffff:127.0.0.1',
      'nonsense',
    ]) {
      expect(isPrivateAddress(a), a).toBe(true);
    }
    for (const a of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111']) expect(isPrivateAddress(a), a).toBe(false);
  });
});
