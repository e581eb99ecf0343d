/**
 * Portcullis under test, through one of its adapters (`ADAPTER`):
 * - `node`: a bare `node:http` server; `toNodeHandler` serves the token and introspection
 *   endpoints, `requireOAuth` guards `GET /resource`.
 * - `express`: an Express 5 app with `app.use(toNodeHandler(provider))`,
 *   `app.get('/resource', requireOAuth(provider, 'read'), ...)` and the same check as one route
 *   handler, `app.get('/resource-route', withOAuth(provider, ['read'], ...))`.
 * - `fetch`: `toFetchHandler` and `requireOAuthFetch`, served by `node:http`: each request is
 *   turned into a WHATWG `Request` (body read into a Buffer first) and the `Response` written
 *   back, which is what Fetch-style frameworks (Hono's node server and the like) do on Node.
 *
 * Every variant also answers `GET /oauth/authorize` by approving at once for user `u1` (the app
 * part of the code flow: `provider.authorize()`, then `completeAuthorization()` as a consent page
 * would), so a load script can run the whole code flow. `GET /__stats` and `POST /__stats/reset`
 * expose the round-trip counters (PostgreSQL + Redis only).
 *
 * `OTEL_SDK=1` registers an OpenTelemetry SDK (servers/otel-sdk.mjs) before the provider is made.
 */
import { createServer } from 'node:http';
import {
  fromFetchRequest,
  requireOAuth,
  requireOAuthFetch,
  sendResponse,
  toFetchHandler,
  toFetchResponse,
  toNodeHandler,
  toOAuthRequest,
  withOAuth,
} from '@portcullis/core';
import { counters, createBenchProvider, resetCounters } from './portcullis-provider.mjs';

if (process.env.OTEL_SDK === '1') await import('./otel-sdk.mjs');
const { provider, close } = await createBenchProvider();
const adapter = process.env.ADAPTER ?? 'node';
const port = Number(process.env.PORT ?? 0);

/** The app's authorization route: the signed-in user `u1` approves every valid request. */
async function authorizeAndApprove(req) {
  const a = await provider.authorize(req);
  if (a.type === 'response') return a.response;
  return provider.completeAuthorization(a.request, { approved: true, userId: 'u1' }, req);
}

function stats(req, res) {
  if (!req.url?.startsWith('/__stats')) return false;
  // The counters so far; POST also resets them.
  const body = JSON.stringify({ ...counters, rss: process.memoryUsage.rss() });
  if (req.method === 'POST') resetCounters();
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(body);
  return true;
}

function resourceBody(clientId) {
  return JSON.stringify({ ok: true, client: clientId });
}

let server;

if (adapter === 'node') {
  const oauth = toNodeHandler(provider);
  const guard = requireOAuth(provider, 'read');
  server = createServer((req, res) => {
    if (stats(req, res)) return;
    const url = req.url ?? '/';
    if (url === '/resource') {
      void guard(req, res, () => {
        const body = resourceBody(req.oauth.clientId);
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
      });
    } else if (url.startsWith('/oauth/authorize')) {
      void toOAuthRequest(req)
        .then(authorizeAndApprove)
        .then((r) => sendResponse(res, r));
    } else {
      void oauth(req, res);
    }
  });
} else if (adapter === 'express') {
  const { default: express } = await import('express');
  const app = express();
  app.disable('x-powered-by');
  app.use(toNodeHandler(provider));
  app.get('/resource', requireOAuth(provider, 'read'), (req, res) => {
    res.json({ ok: true, client: req.oauth.clientId });
  });
  // The same check as a single route handler.
  app.get(
    '/resource-route',
    withOAuth(provider, ['read'], (req, res) => {
      res.json({ ok: true, client: req.oauth.clientId });
    }),
  );
  app.get('/oauth/authorize', async (req, res) => {
    sendResponse(res, await authorizeAndApprove(await toOAuthRequest(req)));
  });
  app.all('/__stats', (req, res) => void stats(req, res));
  server = createServer(app);
} else if (adapter === 'fetch') {
  const oauth = toFetchHandler(provider);
  const guard = requireOAuthFetch(provider, 'read');
  const origin = `http://127.0.0.1:${port}`;
  const handle = async (request) => {
    const path = new URL(request.url).pathname;
    if (path === '/resource') {
      const r = await guard(request);
      if (!r.ok) return r.response;
      return new Response(resourceBody(r.token.clientId), { headers: { 'Content-Type': 'application/json' } });
    }
    if (path === '/oauth/authorize') return toFetchResponse(await authorizeAndApprove(await fromFetchRequest(request)));
    return (await oauth(request)) ?? new Response('{"error":"not_found"}', { status: 404 });
  };
  server = createServer((req, res) => {
    if (stats(req, res)) return;
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const headers = new Headers();
      const raw = req.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) headers.append(raw[i], raw[i + 1]);
      const method = req.method ?? 'GET';
      const init = { method, headers };
      if (method !== 'GET' && method !== 'HEAD') init.body = Buffer.concat(chunks);
      void handle(new Request(origin + (req.url ?? '/'), init)).then(async (response) => {
        const out = {};
        response.headers.forEach((v, k) => {
          out[k] = v;
        });
        const body = Buffer.from(await response.arrayBuffer());
        out['content-length'] = String(body.length);
        res.writeHead(response.status, out);
        res.end(body);
      });
    });
  });
} else {
  throw new Error(`ADAPTER must be node, express or fetch, not ${adapter}`);
}

server.listen(port, '127.0.0.1', () => {
  const a = server.address();
  console.log(`READY ${typeof a === 'object' && a ? a.port : port}`);
});

const stop = () => {
  server.close();
  void close().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
