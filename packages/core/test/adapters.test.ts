import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireOAuth, requireOAuthFetch, toFetchHandler, toNodeHandler, toOAuthRequest } from '../src/index.js';
import { basic, makeProvider, SECRET } from './helpers.js';

const { provider } = makeProvider();
const servers: Server[] = [];
let nodeUrl = '';
let expressUrl = '';

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  const oauth = toNodeHandler(provider);
  const guard = requireOAuth(provider, 'read');
  nodeUrl = await listen(
    createServer((req, res) => {
      if (req.url === '/peer') {
        void toOAuthRequest(req).then((o) => res.end(o.remoteAddress));
        return;
      }
      if (req.url?.startsWith('/api')) {
        void guard(req, res, () => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ...(req as { oauth?: object }).oauth, peer: req.socket.remoteAddress }));
        });
        return;
      }
      void oauth(req, res);
    }),
  );
  const app = express();
  app.use(express.urlencoded({ extended: false }));
  app.use(toNodeHandler(provider));
  app.get('/api/me', requireOAuth(provider, 'read'), (req, res) => {
    res.json({ client: (req as { oauth?: { clientId: string } }).oauth?.clientId });
  });
  expressUrl = await listen(createServer(app));
});
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

async function clientCredentials(base: string): Promise<Response> {
  return fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('conf', SECRET) },
    body: 'grant_type=client_credentials&scope=read',
  });
}

describe('node:http adapter', () => {
  it('serves the token endpoint and protects resources', async () => {
    const r = await clientCredentials(nodeUrl);
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-store');
    const { access_token } = (await r.json()) as { access_token: string };
    const api = await fetch(`${nodeUrl}/api/x`, { headers: { authorization: `Bearer ${access_token}` } });
    expect(await api.json()).toMatchObject({ clientId: 'conf', scopes: ['read'], peer: '127.0.0.1' });
    const denied = await fetch(`${nodeUrl}/api/x`);
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toBe('Bearer realm="oauth"');
  });
  it('passes the peer address on for hooks', async () => {
    expect(await (await fetch(`${nodeUrl}/peer`)).text()).toBe('127.0.0.1');
  });
  it('serves metadata, 404s unknown paths without next, 405s GET on the token endpoint', async () => {
    expect((await fetch(`${nodeUrl}/.well-known/oauth-authorization-server`)).status).toBe(200);
    expect((await fetch(`${nodeUrl}/nowhere`)).status).toBe(404);
    const get = await fetch(`${nodeUrl}/oauth/token`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });
  it('answers 413 for an oversized body, never a crash', async () => {
    const r = await fetch(`${nodeUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=client_credentials&pad=${'x'.repeat(200_000)}`,
    });
    expect(r.status).toBe(413);
    expect((await clientCredentials(nodeUrl)).status).toBe(200);
  });
});

describe('Express adapter', () => {
  it('works behind express.urlencoded and as route middleware', async () => {
    const r = await clientCredentials(expressUrl);
    expect(r.status).toBe(200);
    const { access_token } = (await r.json()) as { access_token: string };
    const me = await fetch(`${expressUrl}/api/me`, { headers: { authorization: `Bearer ${access_token}` } });
    expect(await me.json()).toEqual({ client: 'conf' });
    expect((await fetch(`${expressUrl}/api/me`, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
  });
});

describe('Fetch adapter', () => {
  it('turns Requests into Responses', async () => {
    const handle = toFetchHandler(provider);
    const r = await handle(
      new Request('https://auth.example/oauth/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('conf', SECRET) },
        body: 'grant_type=client_credentials',
      }),
    );
    expect(r?.status).toBe(200);
    const { access_token } = (await r!.json()) as { access_token: string };
    const guard = requireOAuthFetch(provider, 'read');
    const ok = await guard(new Request('https://rs.example/me', { headers: { authorization: `Bearer ${access_token}` } }));
    expect(ok.ok).toBe(true);
    const no = await guard(new Request('https://rs.example/me'));
    expect(!no.ok && no.response.status).toBe(401);
    expect(await handle(new Request('https://auth.example/other'))).toBeNull();
  });
});
