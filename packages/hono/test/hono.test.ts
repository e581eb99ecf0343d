/** The middleware on a real Node server (@hono/node-server) on 127.0.0.1, over HTTP. */
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { type Client, createMemoryStores, generateClientSecret, hashSecret, type Logger, OAuth2Provider } from '@portcullis/core';
import { Hono } from 'hono';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { type OAuthEnv, oauthEndpoints, requireOAuth } from '../src/index.js';

const SECRET = generateClientSecret();
const KEK = generateClientSecret();
const clients: Client[] = [
  { id: 'app', secretHash: hashSecret(SECRET), redirectUris: [], grantTypes: ['client_credentials'], scopes: ['read', 'write'] },
];
const BASIC = `Basic ${Buffer.from(`app:${SECRET}`).toString('base64')}`;
const FORM = { authorization: BASIC, 'content-type': 'application/x-www-form-urlencoded' };

const errors: string[] = [];
const logger: Logger = { warn: () => undefined, error: (m) => void errors.push(m) };

const open: ServerType[] = [];
afterEach(async () => {
  await Promise.all(
    open.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          if ('closeAllConnections' in s) s.closeAllConnections();
          s.close(() => resolve());
        }),
    ),
  );
  errors.length = 0;
});

/** A Hono app on a free loopback port; `setup` adds routes once the issuer (its URL) is known. */
async function start(setup: (app: Hono, provider: OAuth2Provider) => void, format: 'opaque' | 'jwt' = 'opaque') {
  const app = new Hono();
  const server = serve({ fetch: (req) => app.fetch(req), port: 0, hostname: '127.0.0.1' });
  open.push(server);
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new OAuth2Provider({
    issuer: url,
    grants: ['client_credentials'],
    stores: createMemoryStores({ clients }),
    accessTokenFormat: format,
    logger,
    ...(format === 'jwt' ? { jwt: { keyEncryptionKey: KEK } } : {}),
  });
  setup(app, provider);
  return { url, provider, app };
}

function withRoutes(app: Hono, provider: OAuth2Provider): void {
  app.onError((err, c) => c.json({ handledBy: 'app', message: err.message }, 502));
  app.use(oauthEndpoints(provider, { bodyLimit: 1024 }));
  app.get('/api/me', requireOAuth(provider, 'read'), (c) => {
    // Typed through OAuthEnv by inference: no cast, no type argument.
    const t = c.get('oauth');
    return c.json({ client: t.clientId, scopes: t.scopes });
  });
  app.get('/api/admin', requireOAuth(provider, 'write'), (c) => c.json({ ok: true }));
  app.get('/api/boom', requireOAuth(provider, 'read'), () => {
    throw new Error('route handler failed');
  });
}

async function token(url: string, scope = 'read'): Promise<string> {
  const r = await fetch(`${url}/oauth/token`, { method: 'POST', headers: FORM, body: `grant_type=client_credentials&scope=${scope}` });
  expect(r.status).toBe(200);
  return ((await r.json()) as { access_token: string }).access_token;
}

const post = (url: string, body: string, headers: Record<string, string> = FORM) => fetch(url, { method: 'POST', headers, body });

describe('@portcullis/hono', () => {
  it('issues a client_credentials token, introspects it and revokes it', async () => {
    const { url } = await start(withRoutes);
    const r = await post(`${url}/oauth/token`, 'grant_type=client_credentials&scope=read');
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await r.json()) as { access_token: string; token_type: string; scope: string };
    expect(body.token_type).toBe('Bearer');
    expect(body.scope).toBe('read');

    const active = await post(`${url}/oauth/introspect`, `token=${encodeURIComponent(body.access_token)}`);
    expect(active.status).toBe(200);
    expect(await active.json()).toMatchObject({ active: true, client_id: 'app', scope: 'read' });

    const revoked = await post(`${url}/oauth/revoke`, `token=${encodeURIComponent(body.access_token)}`);
    expect(revoked.status).toBe(200);
    const after = await post(`${url}/oauth/introspect`, `token=${encodeURIComponent(body.access_token)}`);
    expect(await after.json()).toEqual({ active: false });
  });

  it('serves the metadata document, the JWKS when tokens are JWTs, answers wrong methods 405 and passes other paths on', async () => {
    const { url, provider } = await start(withRoutes, 'jwt');
    const m = await fetch(`${url}/.well-known/oauth-authorization-server`);
    expect(m.status).toBe(200);
    expect(await m.json()).toEqual(provider.metadataDocument());
    const t = await token(url);
    const kid = (JSON.parse(Buffer.from(t.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
    const jwks = await fetch(`${url}/oauth/jwks`);
    expect(jwks.status).toBe(200);
    expect(((await jwks.json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid)).toContain(kid);
    const get = await fetch(`${url}/oauth/token`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    // Not an endpoint: Hono's own 404.
    const other = await fetch(`${url}/elsewhere`);
    expect(other.status).toBe(404);
    expect(await other.text()).toBe('404 Not Found');
  });

  it('protects a route: ok with the scope, 401 without a token, 403 insufficient_scope without the scope', async () => {
    const { url } = await start(withRoutes);
    const t = await token(url, 'read');
    const ok = await fetch(`${url}/api/me`, { headers: { authorization: `Bearer ${t}` } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ client: 'app', scopes: ['read'] });

    const none = await fetch(`${url}/api/me`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm="/);

    const bad = await fetch(`${url}/api/me`, { headers: { authorization: 'Bearer not-a-token' } });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toContain('error="invalid_token"');

    const twice = await fetch(`${url}/api/me`, { headers: { authorization: `Bearer ${t}, Bearer ${t}` } });
    expect([400, 401]).toContain(twice.status);
    expect(twice.headers.get('www-authenticate')).toMatch(/^Bearer /);

    const scope = await fetch(`${url}/api/admin`, { headers: { authorization: `Bearer ${t}` } });
    expect(scope.status).toBe(403);
    expect(scope.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    expect(scope.headers.get('www-authenticate')).toContain('scope="write"');
  });

  it('answers a body over bodyLimit 413 with an OAuth JSON error', async () => {
    const { url } = await start(withRoutes);
    const r = await post(`${url}/oauth/token`, `grant_type=client_credentials&pad=${'x'.repeat(2000)}`);
    expect(r.status).toBe(413);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await r.json()).toEqual({ error: 'invalid_request', error_description: 'The request body is too large' });
    const under = await post(`${url}/oauth/token`, `grant_type=client_credentials&pad=${'x'.repeat(900)}`);
    expect(under.status).toBe(200);
  });

  it('answers a body streamed past the limit without Content-Length 413 too', async () => {
    const { url } = await start(withRoutes);
    const { port } = new URL(url);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, path: '/oauth/token', method: 'POST', headers: { ...FORM, 'transfer-encoding': 'chunked' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 4; i++) req.write('x'.repeat(500));
      req.end();
    });
    expect(status).toBe(413);
  });

  it('refuses a repeated parameter (400 invalid_request), also when a middleware before it parsed the body', async () => {
    for (const before of ['nothing', 'parseBody', 'formData'] as const) {
      const { url } = await start((app, provider) => {
        if (before !== 'nothing') {
          app.use(async (c, next) => {
            if (c.req.method === 'POST') await (before === 'parseBody' ? c.req.parseBody() : c.req.formData());
            await next();
          });
        }
        withRoutes(app, provider);
      });
      const r = await post(`${url}/oauth/token`, 'grant_type=client_credentials&scope=read&scope=write');
      expect(r.status).toBe(400);
      expect(await r.json()).toEqual({ error: 'invalid_request', error_description: "Parameter 'scope' was given more than once" });
      // And the rebuilt body still works when it is right.
      expect((await post(`${url}/oauth/token`, 'grant_type=client_credentials&scope=write')).status).toBe(200);
    }
  });

  it('uses a body a middleware before it read as text', async () => {
    const { url } = await start((app, provider) => {
      app.use(async (c, next) => {
        if (c.req.method === 'POST') await c.req.text();
        await next();
      });
      withRoutes(app, provider);
    });
    const r = await post(`${url}/oauth/token`, 'grant_type=client_credentials&scope=write');
    expect(r.status).toBe(200);
    expect(((await r.json()) as { scope: string }).scope).toBe('write');
  });

  it('answers 400 when the raw body was consumed outside Hono and cannot be had', async () => {
    const { url } = await start((app, provider) => {
      app.use(async (c, next) => {
        if (c.req.method === 'POST') await c.req.raw.text();
        await next();
      });
      withRoutes(app, provider);
    });
    const r = await post(`${url}/oauth/token`, 'grant_type=client_credentials');
    expect(r.status).toBe(400);
    expect(await r.json()).toEqual({ error: 'invalid_request', error_description: 'The request body could not be read' });
  });

  it('answers a hostile parameter name with CR, LF or NUL 400 and keeps serving', async () => {
    const { url } = await start(withRoutes);
    for (const body of [
      'a%0D%0AX-Evil:%201=1&a%0D%0AX-Evil:%201=2&grant_type=client_credentials',
      'a\rb=1&a\rb=2&grant_type=client_credentials',
      'grant_type=client_credentials%00&scope=read',
    ]) {
      const r = await post(`${url}/oauth/token`, body);
      expect(r.status).toBe(400);
      expect(r.headers.get('x-evil')).toBeNull();
      const j = (await r.json()) as { error: string; error_description: string };
      expect(j.error).toMatch(/^(invalid_request|unsupported_grant_type)$/);
      expect(j.error_description).not.toMatch(/[\r\n\0]/);
    }
    expect((await post(`${url}/oauth/token`, 'grant_type=client_credentials')).status).toBe(200);
  });

  it('leaves other content types to core (400 invalid_request as JSON), and a GET with a body type to 405', async () => {
    const { url } = await start(withRoutes);
    for (const type of ['application/json', 'text/plain', 'multipart/form-data; boundary=x']) {
      const r = await post(`${url}/oauth/token`, '{"grant_type":"client_credentials"}', { authorization: BASIC, 'content-type': type });
      expect(r.status).toBe(400);
      expect(await r.json()).toMatchObject({ error: 'invalid_request' });
    }
    const put = await fetch(`${url}/oauth/token`, { method: 'PUT', headers: FORM, body: 'grant_type=client_credentials' });
    expect(put.status).toBe(405);
  });

  it("hands a thrown route handler's error to Hono's onError", async () => {
    const { url } = await start(withRoutes);
    const t = await token(url);
    const r = await fetch(`${url}/api/boom`, { headers: { authorization: `Bearer ${t}` } });
    expect(r.status).toBe(502);
    expect(await r.json()).toEqual({ handledBy: 'app', message: 'route handler failed' });
    expect((await fetch(`${url}/api/boom`)).status).toBe(401);
  });

  it('answers 500 server_error when the provider throws, and logs it (nothing reaches onError)', async () => {
    const { url } = await start((app, provider) => {
      provider.handle = async () => {
        throw new Error('store down');
      };
      provider.checkAccessToken = async () => {
        throw new Error('store down');
      };
      withRoutes(app, provider);
    });
    const r = await post(`${url}/oauth/token`, 'grant_type=client_credentials');
    expect(r.status).toBe(500);
    const text = await r.text();
    expect(JSON.parse(text)).toEqual({ error: 'server_error', error_description: 'The server could not complete the request' });
    expect(text).not.toContain('store down');
    const me = await fetch(`${url}/api/me`, { headers: { authorization: 'Bearer abc' } });
    expect(me.status).toBe(500);
    expect(await me.json()).toEqual({ error: 'server_error', error_description: 'The server could not complete the request' });
    expect(errors).toEqual(['adapter: a request failed', 'hono: a request failed']);
  });

  it('never echoes the client secret', async () => {
    const { url } = await start(withRoutes);
    const r = await post(`${url}/oauth/token`, `grant_type=client_credentials&client_id=app&client_secret=${SECRET}`, {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: BASIC,
    });
    expect(r.status).toBe(400);
    expect(await r.text()).not.toContain(SECRET);
  });

  it('works in a sub-app under app.route(prefix): endpoints below the prefix at their full paths', async () => {
    const { url } = await start((app, provider) => {
      const auth = new Hono();
      auth.use(oauthEndpoints(provider));
      auth.get('/hello', (c) => c.text('sub'));
      app.route('/oauth', auth);
    });
    expect((await post(`${url}/oauth/token`, 'grant_type=client_credentials')).status).toBe(200);
    expect((await post(`${url}/oauth/revoke`, 'token=x')).status).toBe(200);
    expect(await (await fetch(`${url}/oauth/hello`)).text()).toBe('sub');
    expect((await post(`${url}/oauth/oauth/token`, 'grant_type=client_credentials')).status).toBe(404);
    // Not under the prefix: the sub-app never sees it.
    expect((await fetch(`${url}/.well-known/oauth-authorization-server`)).status).toBe(404);
  });

  it('takes { scopes, audience } (RFC 8707): a token for another resource is 401 invalid_token', async () => {
    const A = 'https://a.example/';
    const B = 'https://b.example/';
    const app = new Hono();
    const server = serve({ fetch: (req) => app.fetch(req), port: 0, hostname: '127.0.0.1' });
    open.push(server);
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const provider = new OAuth2Provider({
      issuer: url,
      grants: ['client_credentials'],
      resources: [{ uri: A }, { uri: B }],
      stores: createMemoryStores({ clients }),
      logger,
    });
    app.use(oauthEndpoints(provider));
    app.get('/a', requireOAuth(provider, { scopes: ['read'], audience: A }), (c) => c.json({ client: c.get('oauth').clientId }));
    app.get('/a-write', requireOAuth(provider, { scopes: ['write'], audience: A }), (c) => c.text('ok'));
    const tokenFor = async (resource: string | null) => {
      const body = `grant_type=client_credentials&scope=read${resource ? `&resource=${encodeURIComponent(resource)}` : ''}`;
      const r = await post(`${url}/oauth/token`, body);
      expect(r.status).toBe(200);
      return ((await r.json()) as { access_token: string }).access_token;
    };
    const a = await tokenFor(A);
    expect((await fetch(`${url}/a`, { headers: { authorization: `Bearer ${a}` } })).status).toBe(200);
    for (const t of [await tokenFor(B), await tokenFor(null)]) {
      const r = await fetch(`${url}/a`, { headers: { authorization: `Bearer ${t}` } });
      expect(r.status).toBe(401);
      expect(((await r.json()) as { error: string }).error).toBe('invalid_token');
    }
    expect((await fetch(`${url}/a-write`, { headers: { authorization: `Bearer ${a}` } })).status).toBe(403);
    expect(() => requireOAuth(provider, ...(['read', { audience: A }] as unknown as string[]))).toThrow(TypeError);
  });

  it('types c.get("oauth") through OAuthEnv', () => {
    const app = new Hono<OAuthEnv>();
    app.get('/x', (c) => {
      expectTypeOf(c.get('oauth').scopes).toEqualTypeOf<readonly string[]>();
      return c.text('x');
    });
    expect(app.routes.length).toBe(1);
  });

  it('refuses a bad bodyLimit', async () => {
    const { provider } = await start(() => undefined);
    expect(() => oauthEndpoints(provider, { bodyLimit: 0 })).toThrow(/bodyLimit/);
    expect(() => oauthEndpoints(provider, { bodyLimit: 1.5 })).toThrow(/bodyLimit/);
  });
});
