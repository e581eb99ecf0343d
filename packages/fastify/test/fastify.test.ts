/** The plugin and the preHandler on a real Fastify server on 127.0.0.1, over HTTP. */
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Client, createMemoryStores, generateClientSecret, hashSecret, type Logger, OAuth2Provider } from '@portcullis/core';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { portcullis, requireOAuth } from '../src/index.js';

const SECRET = generateClientSecret();
const KEK = generateClientSecret();
const clients: Client[] = [
  { id: 'app', secretHash: hashSecret(SECRET), redirectUris: [], grantTypes: ['client_credentials'], scopes: ['read', 'write'] },
];
const BASIC = `Basic ${Buffer.from(`app:${SECRET}`).toString('base64')}`;
const FORM = { authorization: BASIC, 'content-type': 'application/x-www-form-urlencoded' };

const errors: string[] = [];
const logger: Logger = { warn: () => undefined, error: (m) => void errors.push(m) };

function makeProvider(issuer: string, format: 'opaque' | 'jwt' = 'opaque') {
  return new OAuth2Provider({
    issuer,
    grants: ['client_credentials'],
    stores: createMemoryStores({ clients }),
    accessTokenFormat: format,
    logger,
    ...(format === 'jwt' ? { jwt: { keyEncryptionKey: KEK } } : {}),
  });
}

/** Fastify's logger for the tests: warnings are kept, the rest dropped. */
const warnings: string[] = [];
const nothing = () => undefined;
const testLog = {
  level: 'info',
  info: nothing,
  error: nothing,
  debug: nothing,
  fatal: nothing,
  trace: nothing,
  silent: nothing,
  warn: (m: unknown) => void warnings.push(String(m)),
  child() {
    return testLog;
  },
};

const open: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((a) => a.close()));
  errors.length = 0;
  warnings.length = 0;
});

/**
 * A Fastify app on a free loopback port. The issuer is only known once it listens, so the
 * provider is built from a placeholder and `setup` registers what the test needs before `ready`.
 */
async function start(setup: (app: FastifyInstance, provider: OAuth2Provider) => void, format: 'opaque' | 'jwt' = 'opaque') {
  const app = Fastify({ loggerInstance: testLog as unknown as FastifyBaseLogger });
  open.push(app);
  // The port is picked before the routes exist, so the issuer can name it.
  const probe = Fastify();
  await probe.listen({ port: 0, host: '127.0.0.1' });
  const { port } = probe.server.address() as AddressInfo;
  await probe.close();
  const url = `http://127.0.0.1:${port}`;
  const provider = makeProvider(url, format);
  setup(app, provider);
  await app.listen({ port, host: '127.0.0.1' });
  return { url, provider, app };
}

function withRoutes(app: FastifyInstance, provider: OAuth2Provider): void {
  app.register(portcullis, { provider, bodyLimit: 1024 });
  app.get('/api/me', { preHandler: requireOAuth(provider, 'read') }, async (req) => ({
    client: req.oauth?.clientId,
    scopes: req.oauth?.scopes,
  }));
  app.get('/api/admin', { preHandler: requireOAuth(provider, 'write') }, async () => ({ ok: true }));
  app.get('/api/boom', { preHandler: requireOAuth(provider, 'read') }, async () => {
    throw new Error('route handler failed');
  });
  app.setErrorHandler((err: Error, _req, reply) => reply.code(502).send({ handledBy: 'app', message: err.message }));
}

async function token(url: string, scope = 'read'): Promise<string> {
  const r = await fetch(`${url}/oauth/token`, { method: 'POST', headers: FORM, body: `grant_type=client_credentials&scope=${scope}` });
  expect(r.status).toBe(200);
  return ((await r.json()) as { access_token: string }).access_token;
}

const post = (url: string, body: string, headers: Record<string, string> = FORM) => fetch(url, { method: 'POST', headers, body });

describe('@portcullis/fastify', () => {
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

  it('serves the metadata document, the JWKS when tokens are JWTs, and answers wrong methods 405', async () => {
    const { url, provider } = await start(withRoutes, 'jwt');
    const m = await fetch(`${url}/.well-known/oauth-authorization-server`);
    expect(m.status).toBe(200);
    expect(await m.json()).toEqual(provider.metadataDocument());
    // The signing key is made with the first token; the JWKS then publishes it.
    const t = await token(url);
    const kid = (JSON.parse(Buffer.from(t.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
    const jwks = await fetch(`${url}/oauth/jwks`);
    expect(jwks.status).toBe(200);
    expect(((await jwks.json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid)).toContain(kid);
    const get = await fetch(`${url}/oauth/token`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });

  it('does not serve a JWKS for opaque tokens', async () => {
    const { url } = await start(withRoutes);
    expect((await fetch(`${url}/oauth/jwks`)).status).toBe(404);
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
    // Just under the limit is read.
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

  it('refuses a repeated parameter (400 invalid_request): the raw body reaches core', async () => {
    const { url } = await start(withRoutes);
    const r = await post(`${url}/oauth/token`, 'grant_type=client_credentials&scope=read&scope=write');
    expect(r.status).toBe(400);
    expect(await r.json()).toEqual({ error: 'invalid_request', error_description: "Parameter 'scope' was given more than once" });
  });

  it('keeps its raw form parser even when the app parses forms itself, and lends it to no one', async () => {
    const { url } = await start((app, provider) => {
      // The app's own form parser (last value wins): it must not reach the plugin's routes.
      app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) =>
        done(null, Object.fromEntries(new URLSearchParams(body as string))),
      );
      app.post('/app/form', async (req) => req.body);
      app.register(async (child) => {
        child.post('/child/form', async (req) => req.body);
      });
      app.register(portcullis, { provider });
    });
    const r = await post(`${url}/oauth/token`, 'grant_type=client_credentials&scope=read&scope=write');
    expect(r.status).toBe(400);
    const appForm = await post(`${url}/app/form`, 'a=1&a=2');
    expect(await appForm.json()).toEqual({ a: '2' });
    const childForm = await post(`${url}/child/form`, 'b=1');
    expect(await childForm.json()).toEqual({ b: '1' });
  });

  it('does not add a form parser to the app: its routes still answer 415 for forms', async () => {
    const { url } = await start((app, provider) => {
      app.register(portcullis, { provider });
      app.post('/app/form', async (req) => req.body);
    });
    expect((await post(`${url}/app/form`, 'a=1')).status).toBe(415);
    expect((await post(`${url}/oauth/token`, 'grant_type=client_credentials')).status).toBe(200);
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

  it('answers other content types with OAuth JSON errors: 415 for unknown types, 400 from core for JSON', async () => {
    const { url } = await start(withRoutes);
    const xml = await post(`${url}/oauth/token`, '<x/>', { authorization: BASIC, 'content-type': 'application/xml' });
    expect(xml.status).toBe(415);
    expect(await xml.json()).toMatchObject({ error: 'invalid_request' });
    const json = await post(`${url}/oauth/token`, '{"grant_type":"client_credentials"}', {
      authorization: BASIC,
      'content-type': 'application/json',
    });
    expect(json.status).toBe(400);
    expect(await json.json()).toMatchObject({ error: 'invalid_request' });
  });

  it("hands a thrown route handler's error to the app's error handler", async () => {
    const { url } = await start(withRoutes);
    const t = await token(url);
    const r = await fetch(`${url}/api/boom`, { headers: { authorization: `Bearer ${t}` } });
    expect(r.status).toBe(502);
    expect(await r.json()).toEqual({ handledBy: 'app', message: 'route handler failed' });
    // Without a token the preHandler answers and the handler never runs.
    expect((await fetch(`${url}/api/boom`)).status).toBe(401);
  });

  it('answers 500 server_error when the provider throws, and logs it', async () => {
    const { url } = await start((app, provider) => {
      provider.handle = async () => {
        throw new Error('store down');
      };
      app.register(portcullis, { provider });
    });
    const r = await post(`${url}/oauth/token`, 'grant_type=client_credentials');
    expect(r.status).toBe(500);
    expect(await r.json()).toEqual({ error: 'server_error', error_description: 'The server could not complete the request' });
    expect(errors).toEqual(['fastify: a request failed']);
  });

  it('answers 500 when a response header would be refused by Node', async () => {
    const { url } = await start((app, provider) => {
      provider.handle = async () => ({ status: 200, headers: { 'X-Bad': 'a\r\nb' }, body: '{}' });
      app.register(portcullis, { provider });
    });
    const r = await post(`${url}/oauth/token`, 'grant_type=client_credentials');
    expect(r.status).toBe(500);
    expect(r.headers.get('x-bad')).toBeNull();
    expect(await r.json()).toEqual({ error: 'server_error', error_description: 'The server could not complete the request' });
  });

  it('under a prefix, serves the endpoints below it at their full paths and warns about the ones left out', async () => {
    const { url } = await start((app, provider) => {
      app.register(portcullis, { provider, prefix: '/oauth' });
    });
    expect((await post(`${url}/oauth/token`, 'grant_type=client_credentials')).status).toBe(200);
    expect((await post(`${url}/oauth/revoke`, 'token=x')).status).toBe(200);
    expect((await post(`${url}/oauth/oauth/token`, 'grant_type=client_credentials')).status).toBe(404);
    expect((await fetch(`${url}/.well-known/oauth-authorization-server`)).status).toBe(404);
    expect(warnings).toEqual([
      '@portcullis/fastify: not under the prefix /oauth, so not served here: /.well-known/oauth-authorization-server',
    ]);
  });

  it('without a prefix warns about nothing', async () => {
    await start(withRoutes);
    expect(warnings).toEqual([]);
  });

  it('refuses a bad bodyLimit', async () => {
    const app = Fastify();
    open.push(app);
    app.register(portcullis, { provider: makeProvider('http://127.0.0.1'), bodyLimit: 0 });
    await expect(app.ready()).rejects.toThrow(/bodyLimit/);
  });
});
