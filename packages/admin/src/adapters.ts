/** The admin API as a `node:http`/Express/Connect handler and as a Fetch handler. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type Client,
  describeError,
  type OAuthRequest,
  type OAuthResponse,
  sendResponse,
  toFetchResponse,
  type User,
} from '@portcullis/core';
import { type AdminApi, type AdminOptions, createAdminApi, pathOnly } from './api.js';
import { AdminError } from './errors.js';

/**
 * A `node:http` handler, usable as Express/Connect middleware: requests under `basePath` are
 * answered; others go to `next()`, or get 404 without one. Never rejects.
 */
export type AdminNodeHandler = (
  req: IncomingMessage & { originalUrl?: string; body?: unknown },
  res: ServerResponse,
  next?: (err?: unknown) => void,
) => Promise<void>;

/** A Fetch handler: the response for a request under `basePath`, or `null` for any other path. Never rejects. */
export type AdminFetchHandler = (request: Request) => Promise<Response | null>;

const tooLarge = () => new AdminError(413, 'invalid_request', 'The request body is too large', { Connection: 'close' });

/** Methods whose body is read. */
const WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

function declaredTooLarge(length: string | null | undefined, limit: number): boolean {
  return typeof length === 'string' && /^\s*\d+\s*$/.test(length) && Number(length) > limit;
}

function readNodeBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    if (declaredTooLarge(req.headers['content-length'], limit)) {
      req.resume();
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > limit) {
        done = true;
        req.resume();
        reject(tooLarge());
      } else chunks.push(c);
    });
    req.on('end', () => {
      if (!done) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (err) => {
      if (!done) reject(err);
    });
  });
}

/** The body text: what a framework already read (`req.body`), else read here up to the limit. */
async function nodeBody(req: IncomingMessage & { body?: unknown }, limit: number): Promise<string | undefined> {
  const b = req.body;
  if (typeof b === 'string') return b;
  if (Buffer.isBuffer(b)) return b.toString('utf8');
  if (b !== undefined && b !== null && typeof b === 'object') return JSON.stringify(b);
  if (!WITH_BODY.has((req.method ?? 'GET').toUpperCase())) return undefined;
  return readNodeBody(req, limit);
}

function failure(options: AdminOptions<User, Client>, err: unknown): OAuthResponse {
  if (err instanceof AdminError) return err.response();
  try {
    options.provider.options.logger.error('admin: a request could not be read', { cause: describeError(err) });
  } catch {
    // A logger that throws must not take the answer down with it.
  }
  return new AdminError(400, 'invalid_request', 'The request body could not be read').response();
}

/**
 * The admin API as a `node:http` handler (also Express/Connect middleware; mount it at the root:
 * it matches `basePath` against `req.originalUrl` when present). Reads JSON bodies itself up to
 * 64 KiB (413 beyond), or takes what a body parser left in `req.body`.
 * @throws ConfigurationError for bad options (see `createAdminApi`).
 */
export function createAdminHandler<U extends User, C extends Client>(options: AdminOptions<U, C>): AdminNodeHandler {
  const api: AdminApi = createAdminApi(options);
  const opts = options as unknown as AdminOptions<User, Client>;
  return async (req, res, next) => {
    const url = req.originalUrl ?? req.url ?? '/';
    if (!api.handles(pathOnly(url))) {
      if (next) next();
      else sendResponse(res, new AdminError(404, 'not_found', 'No such endpoint').response());
      return;
    }
    let r: OAuthResponse;
    try {
      const body = await nodeBody(req, api.bodyLimit);
      const oreq: OAuthRequest = { method: (req.method ?? 'GET').toUpperCase(), url, headers: req.headers, body };
      r = (await api.handle(oreq)) ?? new AdminError(404, 'not_found', 'No such endpoint').response();
    } catch (err) {
      r = failure(opts, err);
    }
    sendResponse(res, r);
  };
}

async function readFetchBody(request: Request, limit: number): Promise<string | undefined> {
  if (!WITH_BODY.has(request.method.toUpperCase()) || !request.body) return undefined;
  if (declaredTooLarge(request.headers.get('content-length'), limit)) throw tooLarge();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The admin API as a Fetch handler (Hono, Next.js route handlers, Bun, Deno).
 * @throws ConfigurationError for bad options (see `createAdminApi`).
 */
export function createAdminFetchHandler<U extends User, C extends Client>(options: AdminOptions<U, C>): AdminFetchHandler {
  const api = createAdminApi(options);
  const opts = options as unknown as AdminOptions<User, Client>;
  return async (request) => {
    let r: OAuthResponse | null;
    try {
      const u = new URL(request.url);
      if (!api.handles(u.pathname)) return null;
      const headers: Record<string, string> = {};
      request.headers.forEach((v, k) => {
        headers[k] = v;
      });
      const body = await readFetchBody(request, api.bodyLimit);
      const oreq: OAuthRequest = { method: request.method.toUpperCase(), url: u.pathname + u.search, headers, body };
      r = await api.handle(oreq);
    } catch (err) {
      r = failure(opts, err);
    }
    return r === null ? null : toFetchResponse(r);
  };
}
