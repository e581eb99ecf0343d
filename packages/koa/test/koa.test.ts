/** The middleware on a real Koa server on 127.0.0.1, over HTTP. */
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Client, createMemoryStores, generateClientSecret, hashSecret, type Logger, OAuth2Provider } from '@portcullis/core';
import Koa from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import { oauthEndpoints, requireOAuth } from '../src/index.js';

const SECRET = generateClientSecret();
const KEK = generateClientSecret();
const clients: Client[] = [
  { id: 'app', secretHash: hashSecret(SECRET), redirectUris: [], grantTypes: ['client_credentials'], scopes: ['read', 'write'] },
];
const BASIC = `Basic ${Buffer.from(`app:${SECRET}`).toString('base64')}`;
const FORM = { authorization: BASIC, 'content-type': 'application/x-www-form-urlencoded' };

const errors: string[] = [];
const logger: Logger = { warn: () => undefined, error: (m) => void errors.push(m) };

const open: Server[] = [];
afterEach(async () => {
  await Promise.all(
    open.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          s.closeAllConnections();
          s.close(() => resolve());
        }),
    ),
  );
  errors.length = 0;
});

/** A Koa app on a free loopback port; `setup` adds middleware once the issuer (its URL) is known. */
async function start(setup: (app: Koa, provider: OAuth2Provider) => void, format: 'opaque' | 'jwt' = 'opaque') {
  const app = new Koa();
  let handler: ReturnType<Koa['callback']> = async (_req, res) => {
    res.writeHead(503).end();
  };
  const server = app.listen(0, '127.0.0.1');
  open.push(server);
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  server.removeAllListeners('request');
  server.on('request', (req, res) => handler(req, res));
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
  handler = app.callback();
  return { url, provider, app };
}

/** The app's error handling, as a Koa app writes it: the first middleware. */
const appErrors: Koa.Middleware = async (ctx, next) => {
  try {
    await next();
  } catch (err) {
    ctx.status = 502;
    ctx.body = { handledBy: 'app', message: (err as Error).message };
  }
};

function withRoutes(app: Koa, provider: OAuth2Provider): void {
  app.use(appErrors);
  app.use(oauthEndpoints(provider, { bodyLimit: 1024 }));
  const me = requireOAuth(provider, 'read');
  const admin = requireOAuth(provider, 'write');
  app.use(async (ctx, next) => {
    if (ctx.path === '/api/me') {
      return me(ctx, async () => {
        ctx.body = { client: ctx.state.oauth?.clientId, scopes: ctx.state.oauth?.scopes };
      });
    }
    if (ctx.path === '/api/admin') {
      return admin(ctx, async () => {
        ctx.body = { ok: true };
      });
    }
    if (ctx.path === '/api/boom') {
      return me(ctx, async () => {
        throw new Error('route handler failed');
      });
    }
    return next();
  });
}

async function token(url: string, scope = 'read'): Promise<string> {
  const r = await fetch(`${url}/oauth/token`, { method: 'POST', headers: FORM, body: `grant_type=client_credentials&scope=${scope}` });
  expect(r.status).toBe(200);
  return ((await r.json()) as { access_token: string }).access_token;
}

const post = (url: string, body: string, headers: Record<string, string> = FORM) => fetch(url, { method: 'POST', headers, body });

describe('@portcullis/koa', () => {
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
    // Not an endpoint: Koa's own 404.
    const other = await fetch(`${url}/elsewhere`);
    expect(other.status).toBe(404);
    expect(await other.text()).toBe('Not Found');
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

  it('refuses a repeated parameter (400 invalid_request), also behind a body parser that keeps rawBody', async () => {
    for (const parser of [false, true]) {
      const { url } = await start((app, provider) => {
        if (parser) {
          // What @koa/bodyparser leaves: the parsed object (last value wins here) and the raw text.
          app.use(async (ctx, next) => {
            const raw = await new Promise<string>((resolve) => {
              let s = '';
              ctx.req.on('data', (c) => (s += c)).on('end', () => resolve(s));
            });
            Object.assign(ctx.request, { body: Object.fromEntries(new URLSearchParams(raw)), rawBody: raw });
            await next();
          });
        }
        withRoutes(app, provider);
      });
      const r = await post(`${url}/oauth/token`, 'grant_type=client_credentials&scope=read&scope=write');
      expect(r.status).toBe(400);
      expect(await r.json()).toEqual({ error: 'invalid_request', error_description: "Parameter 'scope' was given more than once" });
    }
  });

  it('uses a parsed body when a body parser ran before (no raw text)', async () => {
    const { url } = await start((app, provider) => {
      app.use(async (ctx, next) => {
        Object.assign(ctx.request, { body: { grant_type: 'client_credentials', scope: 'write' } });
        await next();
      });
      withRoutes(app, provider);
    });
    // The stream is never read by a parser here; the parsed object is what counts.
    const r = await post(`${url}/oauth/token`, 'ignored=1');
    expect(r.status).toBe(200);
    expect(((await r.json()) as { scope: string }).scope).toBe('write');
  });

  it('answers a hostile parameter name with CR 400 and keeps serving', async () => {
    const { url } = await start(withRoutes);
    for (const body of [
      'a%0D%0AX-Evil:%201=1&a%0D%0AX-Evil:%201=2&grant_type=client_credentials',
      'a\rb=1&a\rb=2&grant_type=client_credentials',
    ]) {
      const r = await post(`${url}/oauth/token`, body);
      expect(r.status).toBe(400);
      expect(r.headers.get('x-evil')).toBeNull();
      const j = (await r.json()) as { error: string; error_description: string };
      expect(j.error).toBe('invalid_request');
      expect(j.error_description).not.toMatch(/[\r\n]/);
    }
    expect((await post(`${url}/oauth/token`, 'grant_type=client_credentials')).status).toBe(200);
  });

  it('leaves other content types to core (400 invalid_request as JSON)', async () => {
    const { url } = await start(withRoutes);
    const json = await post(`${url}/oauth/token`, '{"grant_type":"client_credentials"}', {
      authorization: BASIC,
      'content-type': 'application/json',
    });
    expect(json.status).toBe(400);
    expect(await json.json()).toMatchObject({ error: 'invalid_request' });
  });

  it("hands a thrown route handler's error to the app's error handling", async () => {
    const { url } = await start(withRoutes);
    const t = await token(url);
    const r = await fetch(`${url}/api/boom`, { headers: { authorization: `Bearer ${t}` } });
    expect(r.status).toBe(502);
    expect(await r.json()).toEqual({ handledBy: 'app', message: 'route handler failed' });
    expect((await fetch(`${url}/api/boom`)).status).toBe(401);
  });

  it('answers 500 server_error when the provider throws, and logs it (nothing reaches the app)', async () => {
    const { url } = await start((app, provider) => {
      provider.handle = async () => {
        throw new Error('store down');
      };
      withRoutes(app, provider);
    });
    const r = await post(`${url}/oauth/token`, 'grant_type=client_credentials');
    expect(r.status).toBe(500);
    expect(await r.json()).toEqual({ error: 'server_error', error_description: 'The server could not complete the request' });
    expect(errors).toEqual(['koa: a request failed']);
  });

  it('answers 500 when a response header would be refused by Node', async () => {
    const { url } = await start((app, provider) => {
      provider.handle = async () => ({ status: 200, headers: { 'X-Bad': 'a\r\nb' }, body: '{}' });
      withRoutes(app, provider);
    });
    const r = await post(`${url}/oauth/token`, 'grant_type=client_credentials');
    expect(r.status).toBe(500);
    expect(r.headers.get('x-bad')).toBeNull();
    expect(await r.json()).toEqual({ error: 'server_error', error_description: 'The server could not complete the request' });
  });

  it('matches full paths also under a mount point (originalUrl)', async () => {
    const { url } = await start((app, provider) => {
      const endpoints = oauthEndpoints(provider);
      // A mount as koa-mount does it: ctx.path loses the mount path, ctx.originalUrl keeps it.
      app.use(async (ctx, next) => {
        if (!ctx.path.startsWith('/oauth/')) return next();
        const saved = ctx.path;
        ctx.path = ctx.path.slice('/oauth'.length);
        try {
          await endpoints(ctx, next);
        } finally {
          ctx.path = saved;
        }
      });
    });
    expect((await post(`${url}/oauth/token`, 'grant_type=client_credentials')).status).toBe(200);
  });

  it('refuses a bad bodyLimit', async () => {
    const { provider } = await start(() => undefined);
    expect(() => oauthEndpoints(provider, { bodyLimit: 0 })).toThrow(/bodyLimit/);
  });
});
