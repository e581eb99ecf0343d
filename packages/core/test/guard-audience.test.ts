/**
 * The guards take `{ scopes, audience }` as well as scope names: a token issued for another
 * resource (RFC 8707) is refused by `requireOAuth`, `withOAuth` and `requireOAuthFetch` alike.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createMemoryStores,
  generateClientSecret,
  hashSecret,
  OAuth2Provider,
  requireOAuth,
  requireOAuthFetch,
  withOAuth,
} from '../src/index.js';
import { basic, form, json } from './security/fixture.js';

const SECRET = generateClientSecret();
const A = 'https://a.example/';
const B = 'https://b.example/';
const provider = new OAuth2Provider({
  issuer: 'https://auth.example',
  resources: [{ uri: A }, { uri: B }],
  stores: createMemoryStores({
    clients: [
      { id: 'svc', secretHash: hashSecret(SECRET), redirectUris: [], grantTypes: ['client_credentials'], scopes: ['read', 'write'] },
    ],
  }),
});

async function tokenFor(resource: string | null): Promise<string> {
  const params: Record<string, string> = { grant_type: 'client_credentials', scope: 'read' };
  if (resource) params.resource = resource;
  const r = await provider.token(form(params, { authorization: basic('svc', SECRET) }));
  expect(r.status).toBe(200);
  return json(r).access_token as string;
}

let server: Server;
let base: string;
beforeAll(async () => {
  const onA = requireOAuth(provider, { scopes: ['read'], audience: A });
  const routeA = withOAuth(provider, { scopes: ['read'], audience: A }, (req, res) => {
    res.end(`with ${req.oauth.clientId}`);
  });
  const plain = requireOAuth(provider, 'read');
  server = createServer((req, res) => {
    if (req.url === '/with') return void routeA(req, res);
    const guard = req.url === '/plain' ? plain : onA;
    void guard(req, res, () => res.end('ok'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const get = (path: string, token: string) => fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });

describe('guards with { scopes, audience }', () => {
  it('requireOAuth and withOAuth accept a token for this resource and refuse others with 401 invalid_token', async () => {
    const a = await tokenFor(A);
    const b = await tokenFor(B);
    const none = await tokenFor(null);
    for (const path of ['/a', '/with']) {
      expect((await get(path, a)).status, path).toBe(200);
      for (const t of [b, none]) {
        const r = await get(path, t);
        expect(r.status, path).toBe(401);
        expect(((await r.json()) as { error: string }).error).toBe('invalid_token');
        expect(r.headers.get('www-authenticate')).toContain('The access token was not issued for this resource');
      }
    }
    expect(await (await get('/with', a)).text()).toBe('with svc');
    // Without an audience any token with the scope passes, as before.
    expect((await get('/plain', b)).status).toBe(200);
  });

  it('still checks the scopes given with the audience', async () => {
    const guard = requireOAuthFetch(provider, { scopes: ['write'], audience: A });
    const r = await guard(new Request('https://auth.example/api', { headers: { authorization: `Bearer ${await tokenFor(A)}` } }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.response.status).toBe(403);
  });

  it('requireOAuthFetch takes the same options', async () => {
    const guard = requireOAuthFetch(provider, { audience: B });
    const ok = await guard(new Request('https://auth.example/api', { headers: { authorization: `Bearer ${await tokenFor(B)}` } }));
    expect(ok.ok).toBe(true);
    const no = await guard(new Request('https://auth.example/api', { headers: { authorization: `Bearer ${await tokenFor(A)}` } }));
    expect(no.ok).toBe(false);
    if (!no.ok) expect(no.response.status).toBe(401);
  });

  it('refuses a mix of scope names and options objects at set-up', () => {
    expect(() => requireOAuth(provider, ...(['read', { audience: A }] as unknown as string[]))).toThrow(TypeError);
  });
});
