import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Response as ExpressResponse } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AccessTokenRecord,
  type NodeRequest,
  requireOAuth,
  requireOAuthFetch,
  StoreUnavailableError,
  toFetchHandler,
  toNodeHandler,
  toOAuthRequest,
  withOAuth,
} from '../src/index.js';
import { basic, form, makeProvider, SECRET } from './helpers.js';

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

  it('withOAuth guards a single-handler route; a rejecting async handler reaches the error handler', async () => {
    const app = express();
    app.use(toNodeHandler(provider));
    app.get(
      '/me',
      withOAuth(provider, ['read'], (req, res: ExpressResponse) => {
        res.json({ client: req.oauth.clientId, scopes: req.oauth.scopes });
      }),
    );
    app.get(
      '/fails',
      withOAuth(provider, ['read'], async () => {
        throw new Error('handler failed');
      }),
    );
    app.use((_err: unknown, _req: unknown, res: { status(n: number): { json(b: unknown): void } }, _next: unknown) => {
      res.status(500).json({ error: 'app error handler' });
    });
    const base = await listen(createServer(app));
    const { access_token } = (await (await clientCredentials(base)).json()) as { access_token: string };
    const me = await fetch(`${base}/me`, { headers: { authorization: `Bearer ${access_token}` } });
    expect(await me.json()).toEqual({ client: 'conf', scopes: ['read'] });
    const anonymous = await fetch(`${base}/me`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer /);
    const fails = await fetch(`${base}/fails`, { headers: { authorization: `Bearer ${access_token}` } });
    expect(fails.status).toBe(500);
    expect(await fails.json()).toEqual({ error: 'app error handler' });
  });

  it('serves the endpoints when mounted under a path, and guards a router mounted elsewhere', async () => {
    const app = express();
    app.use('/oauth', toNodeHandler(provider));
    const api = express.Router();
    api.get('/me', requireOAuth(provider, 'read'), (req, res) => {
      res.json({ client: (req as { oauth?: { clientId: string } }).oauth?.clientId });
    });
    app.use('/api', api);
    app.use((_req: unknown, res: { status(n: number): { json(b: unknown): void } }) => res.status(404).json({ error: 'app 404' }));
    const base = await listen(createServer(app));
    const r = await clientCredentials(base);
    expect(r.status).toBe(200);
    const { access_token } = (await r.json()) as { access_token: string };
    const intro = await fetch(`${base}/oauth/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('conf', SECRET) },
      body: `token=${access_token}`,
    });
    expect(((await intro.json()) as { active: boolean }).active).toBe(true);
    const me = await fetch(`${base}/api/me`, { headers: { authorization: `Bearer ${access_token}` } });
    expect(await me.json()).toEqual({ client: 'conf' });
    // Paths under the mount that are not endpoints go on to the app.
    expect(await (await fetch(`${base}/oauth/elsewhere`)).json()).toEqual({ error: 'app 404' });
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

describe('requireOAuth without a server', () => {
  type Captured = { status: number; headers: Record<string, string>; body: string };
  function fakeResponse(): { res: ServerResponse; sent: Captured | null } {
    const out: { res: ServerResponse; sent: Captured | null } = { res: null as unknown as ServerResponse, sent: null };
    out.res = {
      writeHead(status: number, headers: Record<string, string>) {
        out.sent = { status, headers, body: '' };
        return this;
      },
      end(body?: string) {
        if (out.sent) out.sent.body = body ?? '';
        return this;
      },
    } as unknown as ServerResponse;
    return out;
  }
  function bearerRequest(token: string): NodeRequest {
    return { method: 'GET', url: '/api/me', headers: { authorization: `Bearer ${token}` }, socket: {} } as unknown as NodeRequest;
  }
  async function issue(p: typeof provider): Promise<string> {
    const r = await p.token(form({ grant_type: 'client_credentials', scope: 'read' }, { authorization: basic('conf', SECRET) }));
    return (JSON.parse(r.body) as { access_token: string }).access_token;
  }

  it('reaches the route handler in the same tick when the token store answers directly (memory stores, no hooks)', async () => {
    const { provider: p } = makeProvider();
    const token = await issue(p);
    const req = bearerRequest(token);
    const { res, sent } = fakeResponse();
    let reached = false;
    const returned = requireOAuth(p, 'read')(req, res, () => {
      reached = true;
    });
    expect(returned).toBeUndefined();
    expect(reached).toBe(true);
    expect(sent).toBeNull();
    expect(req.oauth?.clientId).toBe('conf');
  });

  it('waits for a store that answers with a promise or a thenable, with the same results', async () => {
    for (const wrap of [
      (r: AccessTokenRecord | null) => Promise.resolve(r),
      (r: AccessTokenRecord | null) =>
        // biome-ignore lint/suspicious/noThenProperty: a thenable that is not a native promise, on purpose
        ({ then: (ok: (v: AccessTokenRecord | null) => void) => ok(r) }) as unknown as Promise<AccessTokenRecord | null>,
    ]) {
      const { provider: p, stores } = makeProvider();
      p.tokenGetter((t) => wrap(stores.tokens.getAccessToken(t) as AccessTokenRecord | null));
      const token = await issue(p);
      const req = bearerRequest(token);
      let reached = false;
      const returned = requireOAuth(p, 'read')(req, fakeResponse().res, () => {
        reached = true;
      });
      expect(returned).toBeInstanceOf(Promise);
      expect(reached).toBe(false);
      await returned;
      expect(reached).toBe(true);
      const denied = fakeResponse();
      await requireOAuth(p, 'admin')(bearerRequest(token), denied.res, () => {
        throw new Error('must not pass');
      });
      expect(denied.sent?.status).toBe(403);
    }
  });

  it('answers 503 when the store throws or rejects, and never throws itself', async () => {
    for (const failing of [
      () => {
        throw new StoreUnavailableError('down', { cause: new Error('ECONNREFUSED') });
      },
      () => Promise.reject(new StoreUnavailableError('down', { cause: new Error('ECONNREFUSED') })),
    ]) {
      const { provider: p } = makeProvider({ logger: { error() {}, warn() {} } });
      p.tokenGetter(failing);
      const out = fakeResponse();
      await requireOAuth(p)(bearerRequest('some-token'), out.res, () => {
        throw new Error('must not pass');
      });
      expect(out.sent?.status).toBe(503);
      expect(JSON.parse(out.sent!.body).error).toBe('temporarily_unavailable');
    }
  });

  it('withOAuth calls the handler itself, in the same tick, and returns what it returns', async () => {
    const { provider: p, stores } = makeProvider();
    const token = await issue(p);
    const seen: string[] = [];
    const route = withOAuth(p, ['read'], (req) => {
      seen.push(req.oauth.clientId);
      return 'handled';
    });
    expect(route(bearerRequest(token), fakeResponse().res)).toBe('handled');
    expect(seen).toEqual(['conf']);
    const denied = fakeResponse();
    expect(withOAuth(p, ['admin'], () => seen.push('must not run'))(bearerRequest(token), denied.res)).toBeUndefined();
    expect(denied.sent?.status).toBe(403);
    expect(seen).toEqual(['conf']);
    // With a store that answers through a promise, the handler's value comes back through one.
    p.tokenGetter(async (t) => stores.tokens.getAccessToken(t));
    const later = route(bearerRequest(token), fakeResponse().res);
    expect(later).toBeInstanceOf(Promise);
    expect(await later).toBe('handled');
    expect(seen).toEqual(['conf', 'conf']);
  });

  it('still runs the hooks, and lets them veto', async () => {
    const { provider: p } = makeProvider();
    const token = await issue(p);
    const seen: string[] = [];
    p.beforeRequest((ctx) => {
      seen.push(ctx.endpoint);
      return undefined;
    });
    p.afterRequest(() => ({ status: 403, headers: { 'Content-Type': 'application/json' }, body: '{"error":"vetoed"}' }));
    const out = fakeResponse();
    let reached = false;
    await requireOAuth(p, 'read')(bearerRequest(token), out.res, () => {
      reached = true;
    });
    expect(seen).toEqual(['resource']);
    expect(reached).toBe(false);
    expect(out.sent?.status).toBe(403);
  });
});
