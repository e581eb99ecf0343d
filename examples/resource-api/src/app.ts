/**
 * The example API: `GET /api/whoami` (scope `read`) and `GET /api/things` (scope `read`),
 * `POST /api/things` (scope `write`), and its RFC 9728 protected resource metadata. Every token
 * check is `@portcullis/resource-server`'s; nothing here reads a token itself.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  createVerifier,
  protectedResourceHandler,
  protectedResourceMetadataPath,
  protectedResourceMetadataUrl,
  type Verifier,
  withOAuth,
} from '@portcullis/resource-server';
import type { ApiConfig } from './config.js';

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
}

/** The request handler of the API, with the verifier it uses. */
export function createApi(config: ApiConfig): { handler: (req: IncomingMessage, res: ServerResponse) => void; verifier: Verifier } {
  const verifier = createVerifier({
    issuer: config.issuer,
    audience: config.audience,
    resourceMetadata: protectedResourceMetadataUrl(config.audience),
  });
  const metadata = protectedResourceHandler({
    resource: config.audience,
    authorizationServers: [config.issuer],
    scopesSupported: ['read', 'write'],
  });
  const metadataPath = protectedResourceMetadataPath(config.audience);
  const things = ['alpha', 'beta'];
  const routes: Record<string, Record<string, (req: IncomingMessage, res: ServerResponse) => Promise<void>>> = {
    '/api/whoami': {
      GET: withOAuth(verifier, ['read'], (req, res) =>
        json(res, 200, { clientId: req.oauth.clientId, userId: req.oauth.userId, scopes: req.oauth.scopes }),
      ),
    },
    '/api/things': {
      GET: withOAuth(verifier, ['read'], (_req, res) => json(res, 200, { things })),
      POST: withOAuth(verifier, ['write'], (_req, res) => json(res, 201, { created: `thing-${things.length + 1}` })),
    },
  };
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path === metadataPath) {
      if (req.method === 'GET' || req.method === 'HEAD') metadata(req, res);
      else json(res, 405, { error: 'method_not_allowed' }, { allow: 'GET, HEAD' });
      return;
    }
    const route = routes[path];
    const run = route?.[req.method ?? ''];
    if (!route) json(res, 404, { error: 'not_found' });
    else if (!run) json(res, 405, { error: 'method_not_allowed' }, { allow: Object.keys(route).join(', ') });
    // The adapters never reject; a check that could not be made (issuer unreachable) answers 500.
    else void run(req, res);
  };
  return { handler, verifier };
}

/** Starts the API; resolves with the server and its base URL. */
export async function startApi(config: ApiConfig): Promise<{ server: Server; url: string }> {
  const { handler } = createApi(config);
  const server = createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, resolve);
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  return { server, url: `http://${config.host}:${port}` };
}
