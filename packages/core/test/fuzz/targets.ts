/**
 * The apps the fuzz suite attacks, one set per provider variant: a `node:http` server
 * (toNodeHandler, requireOAuth, withOAuth), two Express 5 apps (without a body parser, and with
 * `express.urlencoded`), and the Fetch adapter (toFetchHandler, requireOAuthFetch) called in
 * process. Each also serves the authorization endpoint through `provider.authorize` +
 * `completeAuthorization` as an app would. Requests to the servers are written byte by byte on
 * a raw socket, so hostile bytes really cross the wire.
 *
 * The apps catch what escapes the adapters themselves and record it in `escapes`, answering
 * status 599 so the property fails at once (a real app would have crashed, or answered 500).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import express, { type Request as ExpressRequest, type Response as ExpressResponse, type NextFunction } from 'express';
import {
  fromFetchRequest,
  type OAuth2Provider,
  type OAuthRequest,
  type OAuthResponse,
  type ProviderOptions,
  requireOAuth,
  requireOAuthFetch,
  sendResponse,
  toFetchHandler,
  toFetchResponse,
  toNodeHandler,
  toOAuthRequest,
  withOAuth,
} from '../../src/index.js';
import { basic, CB, form, makeProvider, pkce, SECRET } from '../helpers.js';
import { bodyBytes, headerList, ROUTES, type Spec, type Tokens, target, type Variant } from './arbitraries.js';

/** A response as received: header values as the bytes on the wire (Latin-1). */
export interface Received {
  readonly status: number;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: string;
}

export interface Target {
  readonly name: string;
  /** `null` when the platform itself refuses to build the request (a Fetch `Request` constructor error). */
  send(spec: Spec, tokens: Tokens): Promise<Received | null>;
}

/** Status the apps answer when something escaped an adapter. */
export const ESCAPED = 599;

/** What escaped an adapter (thrown, rejected, or handed to Express's error handling). */
export const escapes: { where: string; error: unknown }[] = [];

/** What the providers logged as errors (a 500 from core itself is logged). */
export const logged: string[] = [];

function escaped(where: string, res: ServerResponse, error: unknown): void {
  escapes.push({ where, error });
  if (res.headersSent) {
    res.destroy();
    return;
  }
  try {
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    res.writeHead(ESCAPED, { 'content-type': 'text/plain' });
    res.end(`escaped from ${where}`);
  } catch {
    res.destroy();
  }
}

/** Runs an app's handler; a throw or a rejection is recorded as an escape. */
function contain(where: string, res: ServerResponse, run: () => unknown): void {
  try {
    const out = run();
    if (out instanceof Promise) out.catch((err: unknown) => escaped(where, res, err));
  } catch (err) {
    escaped(where, res, err);
  }
}

function pathOf(url: string | undefined): string {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q === -1 ? u : u.slice(0, q);
}

function queryOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? '' : url.slice(q + 1);
}

/**
 * The authorization endpoint as an app serves it: `authorize`, then (for a valid request) an
 * approval through `completeAuthorization` with the object it handed out. `/oauth/decide` hands
 * `completeAuthorization` the request's raw query string instead, as after a consent form.
 */
async function appAuthorize(provider: OAuth2Provider, req: OAuthRequest): Promise<OAuthResponse> {
  if (pathOf(req.url) === ROUTES.decide) {
    return provider.completeAuthorization(queryOf(req.url), { approved: true, userId: 'u-alice' }, req);
  }
  const r = await provider.authorize(req);
  if (r.type === 'response') return r.response;
  return provider.completeAuthorization(r.request, { approved: true, userId: 'u-alice' }, req);
}

const isAuthorize = (path: string) => path === ROUTES.authorize || path === ROUTES.decide;

/**
 * The body limit as the adapters document it: `toOAuthRequest` (and `fromFetchRequest`) throw an
 * error with code `BODY_TOO_LARGE`, which the app answers 413. Anything else is not ours to hide.
 */
async function authorizeRoute(provider: OAuth2Provider, convert: () => Promise<OAuthRequest>): Promise<OAuthResponse> {
  let req: OAuthRequest;
  try {
    req = await convert();
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'BODY_TOO_LARGE') throw err;
    return { status: 413, headers: { 'content-type': 'application/json' }, body: '{"error":"invalid_request"}' };
  }
  return appAuthorize(provider, req);
}

function ok(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** The `node:http` app. */
function nodeApp(provider: OAuth2Provider): (req: IncomingMessage, res: ServerResponse) => void {
  const oauth = toNodeHandler(provider);
  const me = requireOAuth(provider, 'read');
  const both = withOAuth(provider, ['read', 'write'], (req, res) => ok(res, { client: req.oauth.clientId }));
  return (req, res) => {
    const path = pathOf(req.url);
    contain('node:http', res, () => {
      if (path === ROUTES.resource)
        return me(req, res, () => ok(res, { client: (req as { oauth?: { clientId: string } }).oauth?.clientId }));
      if (path === ROUTES.resourceWith) return both(req, res);
      if (isAuthorize(path)) return (async () => sendResponse(res, await authorizeRoute(provider, () => toOAuthRequest(req))))();
      return oauth(req, res);
    });
  };
}

/** An Express 5 app; `parser` adds `express.urlencoded` in front of everything. */
function expressApp(provider: OAuth2Provider, parser: 'none' | 'simple' | 'extended'): express.Express {
  const name = `express(${parser})`;
  const app = express();
  if (parser !== 'none') app.use(express.urlencoded({ extended: parser === 'extended' }));
  app.use(toNodeHandler(provider));
  app.all(ROUTES.resource, requireOAuth(provider, 'read'), (req: ExpressRequest, res: ExpressResponse) => {
    res.json({ client: (req as { oauth?: { clientId: string } }).oauth?.clientId });
  });
  app.all(
    ROUTES.resourceWith,
    withOAuth(provider, ['read', 'write'], (req, res: ExpressResponse) => {
      res.json({ client: req.oauth.clientId });
    }),
  );
  app.all([ROUTES.authorize, ROUTES.decide], async (req: ExpressRequest, res: ExpressResponse) => {
    sendResponse(res, await authorizeRoute(provider, () => toOAuthRequest(req)));
  });
  app.use((err: unknown, _req: ExpressRequest, res: ExpressResponse, _next: NextFunction) => {
    // body-parser's own 4xx (charset it does not know, too many parameters): not core's business.
    const e = err as { type?: unknown; status?: unknown };
    if (typeof e.type === 'string' && typeof e.status === 'number' && e.status < 500) {
      res.status(e.status).json({ error: 'invalid_request', error_description: 'The body could not be parsed' });
      return;
    }
    escaped(name, res, err);
  });
  return app;
}

/** The Fetch app: what a Hono or Next.js route would do with the Fetch adapter. */
function fetchApp(provider: OAuth2Provider): (request: Request) => Promise<Response> {
  const oauth = toFetchHandler(provider);
  const me = requireOAuthFetch(provider, 'read');
  const both = requireOAuthFetch(provider, 'read', 'write');
  return async (request) => {
    const path = new URL(request.url).pathname;
    if (path === ROUTES.resource || path === ROUTES.resourceWith) {
      const r = await (path === ROUTES.resource ? me : both)(request);
      return r.ok ? Response.json({ client: r.token.clientId }) : r.response;
    }
    if (isAuthorize(path)) return toFetchResponse(await authorizeRoute(provider, () => fromFetchRequest(request)));
    return (await oauth(request)) ?? Response.json({ error: 'not_found' }, { status: 404 });
  };
}

// ---------------------------------------------------------------- the wire

/** Decodes a chunked body (bounded by the input). */
function unchunk(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < raw.length) {
    const eol = raw.indexOf('\r\n', at);
    if (eol === -1) break;
    const size = Number.parseInt(raw.toString('latin1', at, eol), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(raw.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

function parseResponse(raw: Buffer, head: boolean): Received {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`incomplete response: ${JSON.stringify(raw.toString('latin1', 0, 300))}`);
  const lines = raw.toString('latin1', 0, end).split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0]!)?.[1]);
  const headers = lines.slice(1).map((l): [string, string] => {
    const colon = l.indexOf(':');
    return [l.slice(0, colon).toLowerCase(), l.slice(colon + 1).trim()];
  });
  const rest = raw.subarray(end + 4);
  const chunked = headers.some(([k, v]) => k === 'transfer-encoding' && /chunked/i.test(v));
  const body = head ? '' : (chunked ? unchunk(rest) : rest).toString('utf8');
  return { status, headers, body };
}

/**
 * Sends a request as raw bytes (one connection each) and reads the whole answer. Rejects when
 * nothing comes back within `timeoutMs`, or when the connection drops without an answer.
 */
export function sendRaw(port: number, bytes: Buffer, head: boolean, timeoutMs = 5000): Promise<Received> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const raw = Buffer.concat(chunks);
      if (raw.indexOf('\r\n\r\n') !== -1) {
        try {
          resolve(parseResponse(raw, head));
        } catch (e) {
          reject(e);
        }
      } else reject(err ?? new Error(`the connection closed without an answer (${raw.length} bytes)`));
    };
    const timer = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => finish());
    socket.on('close', () => finish());
    // The server may answer (413) and close before the whole body is written.
    socket.on('error', (e) => finish(e));
    socket.write(bytes);
  });
}

/** The request of a spec as bytes: header values one byte per character, the body as generated. */
export function wireBytes(spec: Spec, tokens: Tokens, port: number, path?: string): Buffer {
  const body = bodyBytes(spec, tokens);
  const lines = [`${spec.method} ${target(spec, tokens, path)} HTTP/1.1`, `Host: 127.0.0.1:${port}`];
  for (const [k, v] of headerList(spec, tokens)) lines.push(`${k}: ${v}`);
  if (body !== null) lines.push(`Content-Length: ${body.length}`);
  lines.push('Connection: close', '', '');
  return Buffer.concat([Buffer.from(lines.join('\r\n'), 'latin1'), body ?? Buffer.alloc(0)]);
}

function fetchRequest(spec: Spec, tokens: Tokens): Request | null {
  const body = spec.method === 'GET' || spec.method === 'HEAD' ? null : bodyBytes(spec, tokens);
  const headers = new Headers();
  try {
    for (const [k, v] of headerList(spec, tokens)) headers.append(k, v);
    return new Request(`http://127.0.0.1${target(spec, tokens)}`, { method: spec.method, headers, body });
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- setup

export interface Variants {
  readonly targets: Record<Variant, readonly Target[]>;
  /** Fresh tokens for a variant's provider (a fuzzed revocation may have revoked older ones). */
  tokens(variant: Variant): Promise<Tokens>;
  close(): Promise<void>;
}

const silent = {
  warn: () => undefined,
  error: (m: string) => {
    logged.push(m);
  },
};

function providerFor(variant: Variant): OAuth2Provider {
  const options: Partial<ProviderOptions> =
    variant === 'plain'
      ? { logger: silent }
      : {
          logger: silent,
          // Hooks take the resource check off its synchronous path.
          hooks: { beforeRequest: async () => undefined, afterRequest: async () => undefined },
          errorUri: 'https://auth.example/error',
          allowBearerInQuery: true,
          scopes: ['read', 'write', 'admin'],
          pkce: { required: 'all' },
          realm: 'fuzz realm',
        };
  return makeProvider(options).provider;
}

async function issue(provider: OAuth2Provider, scope: string): Promise<string> {
  const r = await provider.token(form({ grant_type: 'client_credentials', scope }, { authorization: basic('conf', SECRET) }));
  const token = (JSON.parse(r.body) as { access_token?: string }).access_token;
  if (!token) throw new Error(`could not issue a token: ${r.status} ${r.body}`);
  return token;
}

/** A fresh code of `conf` for `CB` with its PKCE pair (without vitest's `expect`, unlike `getCode`). */
async function issueCode(provider: OAuth2Provider): Promise<{ code: string; verifier: string; challenge: string }> {
  const { verifier, challenge } = pkce();
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: 'conf',
    redirect_uri: CB,
    scope: 'read write',
    state: 's',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  const r = await provider.completeAuthorization(query.toString(), { approved: true, userId: 'u-alice' });
  const code = r.headers.Location ? new URL(r.headers.Location).searchParams.get('code') : null;
  if (!code) throw new Error(`could not issue a code: ${r.status} ${r.body} ${r.headers.Location}`);
  return { code, verifier, challenge };
}

/** A fresh refresh token of `conf` (scopes `read write`), through a code. */
async function issueRefresh(provider: OAuth2Provider): Promise<string> {
  const { code, verifier } = await issueCode(provider);
  const r = await provider.token(
    form({ grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier }, { authorization: basic('conf', SECRET) }),
  );
  const token = (JSON.parse(r.body) as { refresh_token?: string }).refresh_token;
  if (!token) throw new Error(`could not issue a refresh token: ${r.status} ${r.body}`);
  return token;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/**
 * Node's HTTP parser answers some requests itself before any app code runs (431 for a head over
 * 16 KiB, 400 for what it cannot parse): a canned answer with no Date header and no body.
 */
export function refusedByNode(r: Received): boolean {
  return (r.status === 400 || r.status === 431) && r.body === '' && r.headers.every(([k]) => k === 'connection');
}

function wireTarget(name: string, port: number): Target {
  return {
    name,
    send: async (spec, tokens) => {
      const r = await sendRaw(port, wireBytes(spec, tokens, port), spec.method === 'HEAD');
      return refusedByNode(r) ? null : r;
    },
  };
}

/** Starts every app of both variants on 127.0.0.1. */
export async function startTargets(): Promise<Variants> {
  const servers: Server[] = [];
  const providers = {} as Record<Variant, OAuth2Provider>;
  const targets = {} as Record<Variant, Target[]>;
  for (const variant of ['plain', 'hooked'] as const) {
    const provider = providerFor(variant);
    providers[variant] = provider;
    const apps: [string, Server][] = [
      ['node:http', createServer(nodeApp(provider))],
      ['express', createServer(expressApp(provider, 'none'))],
      [
        `express+urlencoded(${variant === 'plain' ? 'simple' : 'extended'})`,
        createServer(expressApp(provider, variant === 'plain' ? 'simple' : 'extended')),
      ],
    ];
    const list: Target[] = [];
    for (const [name, server] of apps) {
      servers.push(server);
      list.push(wireTarget(name, await listen(server)));
    }
    const app = fetchApp(provider);
    list.push({
      name: 'fetch',
      send: async (spec, tokens) => {
        const request = fetchRequest(spec, tokens);
        if (!request) return null;
        const response = await app(request);
        const headers: [string, string][] = [];
        response.headers.forEach((v, k) => {
          headers.push([k, v]);
        });
        return { status: response.status, headers, body: await response.text() };
      },
    });
    targets[variant] = list;
  }
  return {
    targets,
    tokens: async (variant) => {
      const p = providers[variant];
      const refresh = await issueRefresh(p);
      const { code, verifier, challenge } = await issueCode(p);
      return {
        basic: basic('conf', SECRET),
        secret: SECRET,
        read: await issue(p, 'read'),
        readWrite: await issue(p, 'read write'),
        code,
        verifier,
        challenge,
        refresh,
      };
    },
    close: async () => {
      for (const s of servers) s.closeAllConnections();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}
