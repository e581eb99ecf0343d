/**
 * The middleware keeps up with core's resource checks, on a real Koa server on 127.0.0.1:
 * `{ scopes, audience }` (RFC 8707) and DPoP (RFC 9449): the `DPoP` request header reaches core as
 * Node received it (two of them are refused, not merged into one nor dropped), and every header
 * core answers with (`WWW-Authenticate`, `DPoP-Nonce`) reaches the client.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { type DpopKey, dpopKey, dpopProof } from '@portcullis/binding-testkit';
import {
  type Client,
  createMemoryStores,
  generateClientSecret,
  hashSecret,
  type Logger,
  OAuth2Provider,
  type ProviderOptions,
} from '@portcullis/core';
import Koa from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import { oauthEndpoints, requireOAuth } from '../src/index.js';

const SECRET = generateClientSecret();
const NONCE_SECRET = generateClientSecret();
const A = 'https://a.example/';
const B = 'https://b.example/';
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
  // No test here may reach the provider's failure path.
  expect(errors).toEqual([]);
  errors.length = 0;
});

/** A Koa app with the endpoints and guarded routes on a free loopback port (the issuer). */
async function start(extra: Partial<ProviderOptions> = {}) {
  const app = new Koa();
  // Koa composes its middleware in callback(): the server calls it once the routes exist.
  let handler: ReturnType<Koa['callback']> = async (_req, res) => {
    res.writeHead(503).end();
  };
  const server = createServer((req, res) => handler(req, res));
  server.listen(0, '127.0.0.1');
  open.push(server);
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new OAuth2Provider({
    issuer: url,
    grants: ['client_credentials'],
    stores: createMemoryStores({ clients }),
    resources: [{ uri: A }, { uri: B }],
    logger,
    ...extra,
  });
  app.use(oauthEndpoints(provider));
  const guards: Record<string, Koa.Middleware> = {
    '/api/me': requireOAuth(provider, 'read'),
    '/api/a': requireOAuth(provider, { scopes: ['read'], audience: A }),
    '/api/a-write': requireOAuth(provider, { scopes: ['write'], audience: A }),
    '/api/any': requireOAuth(provider, {}),
  };
  const echo = async (ctx: Koa.Context) => {
    ctx.body = { client: ctx.state.oauth?.clientId, scopes: ctx.state.oauth?.scopes, dpopJkt: ctx.state.oauth?.dpopJkt ?? null };
  };
  // A mount as koa-mount does it: ctx.path loses '/v1', ctx.originalUrl keeps it.
  app.use(async (ctx, next) => {
    if (!ctx.path.startsWith('/v1/')) return next();
    const saved = ctx.path;
    ctx.path = ctx.path.slice('/v1'.length);
    try {
      await next();
    } finally {
      ctx.path = saved;
    }
  });
  app.use(async (ctx, next) => {
    const guard = ctx.path === '/me' ? guards['/api/me'] : guards[ctx.path];
    if (guard === undefined) return next();
    return guard(ctx, () => echo(ctx));
  });
  handler = app.callback();
  return { url, provider };
}

/** A client_credentials token; with `key`, a DPoP-bound one (taking the server's nonce if asked). */
async function token(url: string, opts: { resource?: string; scope?: string; key?: DpopKey } = {}): Promise<string> {
  let body = `grant_type=client_credentials&scope=${opts.scope ?? 'read'}`;
  if (opts.resource) body += `&resource=${encodeURIComponent(opts.resource)}`;
  const send = async (nonce?: string) =>
    fetch(`${url}/oauth/token`, {
      method: 'POST',
      headers: opts.key
        ? { ...FORM, dpop: await dpopProof(opts.key, 'POST', `${url}/oauth/token`, nonce === undefined ? {} : { nonce }) }
        : FORM,
      body,
    });
  let r = await send();
  const nonce = r.headers.get('dpop-nonce');
  if (r.status === 400 && nonce !== null) r = await send(nonce);
  const json = (await r.json()) as { access_token: string; token_type: string };
  expect(r.status).toBe(200);
  expect(json.token_type).toBe(opts.key ? 'DPoP' : 'Bearer');
  return json.access_token;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A GET over node:http, which sends an array header as repeated header lines. */
function rawGet(url: string, path: string, headers: Record<string, string | string[]>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${path}`, { method: 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

const dpopGet = (url: string, path: string, tok: string, p: string) =>
  fetch(`${url}${path}`, { headers: { authorization: `DPoP ${tok}`, dpop: p } });

describe('@portcullis/koa requireOAuth with { scopes, audience } (RFC 8707)', () => {
  it('lets a token for this resource through and refuses one for another resource or none 401 invalid_token', async () => {
    const { url } = await start();
    const forA = await token(url, { resource: A });
    const ok = await fetch(`${url}/api/a`, { headers: { authorization: `Bearer ${forA}` } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ client: 'app', scopes: ['read'], dpopJkt: null });

    for (const other of [await token(url, { resource: B }), await token(url)]) {
      const r = await fetch(`${url}/api/a`, { headers: { authorization: `Bearer ${other}` } });
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toMatch(/^Bearer realm="[^"]*", error="invalid_token"/);
      expect(await r.json()).toMatchObject({ error: 'invalid_token' });
    }
    // Scope names without an audience still take any resource's token.
    const plain = await fetch(`${url}/api/me`, { headers: { authorization: `Bearer ${await token(url, { resource: B })}` } });
    expect(plain.status).toBe(200);
  });

  it('checks the scopes of the options too (403 insufficient_scope), and {} needs only a valid token', async () => {
    const { url } = await start();
    const forA = await token(url, { resource: A });
    const r = await fetch(`${url}/api/a-write`, { headers: { authorization: `Bearer ${forA}` } });
    expect(r.status).toBe(403);
    expect(r.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    expect(r.headers.get('www-authenticate')).toContain('scope="write"');
    const any = await fetch(`${url}/api/any`, { headers: { authorization: `Bearer ${forA}` } });
    expect(any.status).toBe(200);
    const none = await fetch(`${url}/api/any`);
    expect(none.status).toBe(401);
  });

  it('refuses mixed arguments when the guard is made', () => {
    const provider = new OAuth2Provider({ issuer: 'http://127.0.0.1', stores: createMemoryStores({ clients }), logger });
    const mixed = ['read', { scopes: ['read'] }] as unknown as [string];
    expect(() => requireOAuth(provider, ...mixed)).toThrow(TypeError);
  });
});

describe('@portcullis/koa requireOAuth with DPoP (RFC 9449)', () => {
  it('accepts a DPoP-bound token with a valid proof and sets dpopJkt; refuses it as Bearer with a DPoP challenge', async () => {
    const { url } = await start({ dpop: { enabled: true } });
    const key = await dpopKey();
    const tok = await token(url, { key });
    const ok = await dpopGet(url, '/api/me?x=1', tok, await dpopProof(key, 'GET', `${url}/api/me`, { accessToken: tok }));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ client: 'app', scopes: ['read'], dpopJkt: key.jkt });

    const bearer = await fetch(`${url}/api/me`, { headers: { authorization: `Bearer ${tok}` } });
    expect(bearer.status).toBe(401);
    expect(bearer.headers.get('www-authenticate')).toMatch(/^DPoP /);
    expect(bearer.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(bearer.headers.get('www-authenticate')).toContain('algs="');
  });

  it('checks htu against the full path (originalUrl), also under a mount point', async () => {
    const { url } = await start({ dpop: { enabled: true, resourceOrigins: ['http://127.0.0.1:1', 'https://api.example'] } });
    const key = await dpopKey();
    // resourceOrigins replaces the issuer's origin: a proof for the server's own origin is refused.
    const tok = await token(url, { key });
    const own = await dpopGet(url, '/v1/me', tok, await dpopProof(key, 'GET', `${url}/v1/me`, { accessToken: tok }));
    expect(own.status).toBe(401);
    expect(await own.json()).toMatchObject({ error: 'invalid_dpop_proof' });
    const ok = await dpopGet(url, '/v1/me', tok, await dpopProof(key, 'GET', 'https://api.example/v1/me', { accessToken: tok }));
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { dpopJkt: string }).dpopJkt).toBe(key.jkt);
    const shortPath = await dpopGet(url, '/v1/me', tok, await dpopProof(key, 'GET', 'https://api.example/me', { accessToken: tok }));
    expect(shortPath.status).toBe(401);
    expect(shortPath.headers.get('www-authenticate')).toMatch(/^DPoP .*error="invalid_dpop_proof"/);
  });

  it('refuses a replayed proof 401 invalid_dpop_proof', async () => {
    const { url } = await start({ dpop: { enabled: true } });
    const key = await dpopKey();
    const tok = await token(url, { key });
    const p = await dpopProof(key, 'GET', `${url}/api/me`, { accessToken: tok });
    expect((await dpopGet(url, '/api/me', tok, p)).status).toBe(200);
    const again = await dpopGet(url, '/api/me', tok, p);
    expect(again.status).toBe(401);
    expect(again.headers.get('www-authenticate')).toMatch(/^DPoP .*error="invalid_dpop_proof"/);
    expect(await again.json()).toMatchObject({ error: 'invalid_dpop_proof' });
  });

  it('passes the DPoP-Nonce header on: use_dpop_nonce without the nonce, 200 with it', async () => {
    const { url } = await start({ dpop: { enabled: true, nonce: { secret: NONCE_SECRET } } });
    const key = await dpopKey();
    const tok = await token(url, { key });
    const first = await dpopGet(url, '/api/me', tok, await dpopProof(key, 'GET', `${url}/api/me`, { accessToken: tok }));
    expect(first.status).toBe(401);
    expect(first.headers.get('www-authenticate')).toMatch(/^DPoP .*error="use_dpop_nonce"/);
    expect(await first.json()).toMatchObject({ error: 'use_dpop_nonce' });
    const nonce = first.headers.get('dpop-nonce');
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const ok = await dpopGet(url, '/api/me', tok, await dpopProof(key, 'GET', `${url}/api/me`, { accessToken: tok, nonce: nonce! }));
    expect(ok.status).toBe(200);
  });

  it('refuses two DPoP headers 401 (guard) and 400 (token endpoint), never merged, dropped or 5xx', async () => {
    const { url } = await start({ dpop: { enabled: true } });
    const key = await dpopKey();
    const tok = await token(url, { key });
    const good = () => dpopProof(key, 'GET', `${url}/api/me`, { accessToken: tok });
    // Two valid proofs, and one valid with one junk value in either order: none may pass.
    for (const pair of [
      [await good(), await good()],
      [await good(), 'junk'],
      ['junk', await good()],
    ]) {
      const r = await rawGet(url, '/api/me', { authorization: `DPoP ${tok}`, dpop: pair });
      expect(r.status).toBe(401);
      expect(String(r.headers['www-authenticate'])).toMatch(/^DPoP .*error="invalid_dpop_proof"/);
      expect(JSON.parse(r.body)).toMatchObject({ error: 'invalid_dpop_proof' });
    }
    const tp = () => dpopProof(key, 'POST', `${url}/oauth/token`);
    const tokenProofs = [await tp(), await tp()];
    const r = await new Promise<Answer>((resolve, reject) => {
      const req = httpRequest(`${url}/oauth/token`, { method: 'POST', headers: { ...FORM, dpop: tokenProofs } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.end('grant_type=client_credentials&scope=read');
    });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ error: 'invalid_dpop_proof' });
  });

  it('answers hostile DPoP headers 4xx: oversize, not a JWS, a proof by another key, CR inside a value', async () => {
    const { url } = await start({ dpop: { enabled: true } });
    const key = await dpopKey();
    const tok = await token(url, { key });
    for (const p of ['a'.repeat(9000), 'not.a-jws', await dpopProof(await dpopKey(), 'GET', `${url}/api/me`, { accessToken: tok })]) {
      const r = await dpopGet(url, '/api/me', tok, p);
      expect(r.status).toBe(401);
      expect(await r.json()).toMatchObject({ error: 'invalid_dpop_proof' });
    }
    // No proof at all with the DPoP scheme.
    const none = await fetch(`${url}/api/me`, { headers: { authorization: `DPoP ${tok}` } });
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ error: 'invalid_dpop_proof' });
    // A bare CR in the header value: Node's parser refuses it before the app; the server lives on.
    const { port } = new URL(url);
    const head = await new Promise<string>((resolve, reject) => {
      const s = connect(Number(port), '127.0.0.1', () => {
        s.write(`GET /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: DPoP ${tok}\r\nDPoP: a\rb\r\nConnection: close\r\n\r\n`);
      });
      let got = '';
      s.on('data', (c: Buffer) => {
        got += c.toString('latin1');
      });
      s.on('end', () => resolve(got));
      s.on('error', reject);
    });
    expect(head).toMatch(/^HTTP\/1\.1 4\d\d /);
    const after = await dpopGet(url, '/api/me', tok, await dpopProof(key, 'GET', `${url}/api/me`, { accessToken: tok }));
    expect(after.status).toBe(200);
  });
});
