import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Client, User } from '../contract.js';
import { type GuardOptions, guardArgs, type ResourceResult, type VerifiedToken } from '../endpoints/resource.js';
import type { OAuthRequest, OAuthResponse } from '../http.js';
import { describe } from '../log.js';
import { pathOf } from '../params.js';
import type { OAuth2Provider } from '../provider.js';
import { json, serverErrorResponse } from '../responses.js';

/**
 * A `node:http` request as Express or Connect may have extended it: a parsed `body`, and
 * `originalUrl` (the URL before a mount path was stripped), which is used when present.
 */
export type NodeRequest = IncomingMessage & { body?: unknown; originalUrl?: string; oauth?: VerifiedToken };
/** `next` of Express/Connect middleware. */
export type NextFunction = (err?: unknown) => void;
/**
 * A `node:http`/Express/Connect middleware. It returns a promise while it works on a request and
 * nothing when it hands the request straight to `next()`; it never rejects (failures are answered).
 */
export type NodeMiddleware = (req: NodeRequest, res: ServerResponse, next?: NextFunction) => Promise<void> | undefined;

/** The default `bodyLimit`: 64 KiB. */
const DEFAULT_BODY_LIMIT = 65536;

/** Options of the `node:http`/Express adapter. */
export interface NodeAdapterOptions {
  /** Largest request body read, in bytes. Default 64 KiB; larger bodies get 413. */
  bodyLimit?: number;
}

/** Thrown by `toOAuthRequest` when a body is larger than `bodyLimit`; answer 413. */
export class BodyTooLargeError extends Error {
  readonly code = 'BODY_TOO_LARGE';
  constructor() {
    super('The request body is too large');
    this.name = 'BodyTooLargeError';
  }
}

/**
 * Reads a request body of at most `limit` bytes as UTF-8 and calls `done` once: with the body, or
 * with `BodyTooLargeError` (the rest is drained, not kept) or the stream's error.
 */
function readBodyThen(req: IncomingMessage, limit: number, done: (err: Error | null, body: string) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  const finish = (err: Error | null, body: string) => {
    if (finished) return;
    finished = true;
    done(err, body);
  };
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size > limit) {
      req.removeAllListeners('data');
      req.resume();
      finish(new BodyTooLargeError(), '');
    } else chunks.push(c);
  });
  req.on('end', () => finish(null, chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')));
  req.on('error', (err: Error) => finish(err, ''));
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => readBodyThen(req, limit, (err, body) => (err === null ? resolve(body) : reject(err))));
}

/** The full URL, also under a mount path (`app.use('/oauth', handler)` strips `/oauth` from `req.url`). */
function fullUrl(req: NodeRequest): string {
  return req.originalUrl ?? req.url ?? '/';
}

/** The request as an `OAuthRequest` when no body has to be read for it; otherwise `undefined`. */
function withoutReading(req: NodeRequest): OAuthRequest | undefined {
  const method = req.method ?? 'GET';
  const url = fullUrl(req);
  const headers = req.headers;
  const remoteAddress = req.socket?.remoteAddress;
  const b = req.body;
  if (typeof b === 'string') return { method, url, headers, remoteAddress, body: b };
  if (Buffer.isBuffer(b)) return { method, url, headers, remoteAddress, body: b.toString('utf8') };
  if (b && typeof b === 'object') return { method, url, headers, remoteAddress, parsedBody: b as Record<string, unknown> };
  const ct = headers['content-type'];
  if (method !== 'GET' && method !== 'HEAD' && readsBody(ct)) return undefined;
  return { method, url, headers, remoteAddress };
}

/** The request with `body` as its form body (the case `withoutReading` leaves out). */
function formRequest(req: NodeRequest, body: string): OAuthRequest {
  return { method: req.method ?? 'POST', url: fullUrl(req), headers: req.headers, remoteAddress: req.socket?.remoteAddress, body };
}

/** The request with its form body read (the case `withoutReading` leaves out). */
async function withFormBody(req: NodeRequest, options?: NodeAdapterOptions): Promise<OAuthRequest> {
  return formRequest(req, await readBody(req, options?.bodyLimit ?? DEFAULT_BODY_LIMIT));
}

/**
 * Converts a `node:http` request to an `OAuthRequest`, reading a form body unless a framework
 * already parsed it (`req.body`). Other bodies are not read.
 */
export async function toOAuthRequest(req: NodeRequest, options?: NodeAdapterOptions): Promise<OAuthRequest> {
  return withoutReading(req) ?? withFormBody(req, options);
}

/**
 * The response's headers with a `Content-Length` for its body, unless it already has one (in any
 * spelling). Without it Node sends the body chunked, as several buffers in one `writev`; with it the
 * head and the body go out in one write, which is measurably cheaper per request. The headers are
 * copied field by field into a new object: the response's own object is never changed (app code
 * may send one response object more than once), and the copy costs a fraction of a spread
 * (`{ ...headers }`), which showed up in profiles of the token endpoint.
 */
function withContentLength(r: OAuthResponse): Record<string, string> {
  const headers = r.headers;
  // No body may follow these statuses, so no length is declared for one (RFC 9110 8.6).
  if (r.status === 204 || r.status === 304 || r.status < 200) return headers;
  const out: Record<string, string> = {};
  const names = Object.keys(headers);
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    if (name.length === 14 && name.toLowerCase() === 'content-length') return headers;
    out[name] = headers[name]!;
  }
  out['Content-Length'] = String(Buffer.byteLength(r.body));
  return out;
}

/**
 * Writes an `OAuthResponse` to a `node:http` response. Never throws: a header value Node refuses
 * (a response built by app code with a control character in it) is answered 500 `server_error`
 * instead, and a response whose headers were already sent is ended as it is.
 */
export function sendResponse(res: ServerResponse, r: OAuthResponse): void {
  if (res.headersSent) {
    if (!res.writableEnded) res.end();
    return;
  }
  try {
    res.writeHead(r.status, withContentLength(r));
  } catch {
    const fallback = serverErrorResponse();
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    res.writeHead(fallback.status, fallback.headers);
    res.end(fallback.body);
    return;
  }
  res.end(r.body);
}

/**
 * What an adapter does with anything thrown past it: logged (class and message only), then
 * handed to the framework's `next(err)` when there is one, or answered 500 `server_error`.
 * Nothing is left as an unhandled rejection, so no request can end the process.
 */
function answerFailure(
  provider: { options: { logger: { error(m: string, meta?: Record<string, unknown>): void } } },
  res: ServerResponse,
  err: unknown,
  next?: NextFunction,
): void {
  if (next) {
    next(err);
    return;
  }
  try {
    provider.options.logger.error('adapter: a request failed', { cause: describe(err) });
  } catch {
    // A logger that throws must not take the answer down with it.
  }
  if (res.headersSent) res.destroy();
  else sendResponse(res, serverErrorResponse());
}

/** Answers a request whose body could not be read: 413 when it was too large, else 400. */
function answerUnreadable(res: ServerResponse, err: unknown): void {
  if (err instanceof BodyTooLargeError) {
    res.setHeader('Connection', 'close');
    sendResponse(res, json(413, { error: 'invalid_request', error_description: 'The request body is too large' }));
  } else {
    sendResponse(res, json(400, { error: 'invalid_request', error_description: 'The request body could not be read' }));
  }
}

/** Reads the form body of a request `withoutReading` could not convert; answers 413/400 itself. */
async function readForm(req: NodeRequest, res: ServerResponse, options?: NodeAdapterOptions): Promise<OAuthRequest | null> {
  try {
    return await withFormBody(req, options);
  } catch (err) {
    answerUnreadable(res, err);
    return null;
  }
}

/**
 * A `node:http`/Express/Connect handler serving the token, revocation, introspection and metadata
 * endpoints at the paths in the provider's options. Other paths go to `next()`, or get 404
 * without one. Paths are matched in full, so it can be used at the root (`app.use(handler)`) or
 * under a mount path (`app.use('/oauth', handler)` with the default `/oauth/...` endpoints).
 * Checks the provider's wiring when created.
 */
export function toNodeHandler<U extends User, C extends Client>(
  provider: OAuth2Provider<U, C>,
  options?: NodeAdapterOptions,
): NodeMiddleware {
  provider.validate();
  const limit = options?.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const answer = async (oreq: OAuthRequest, res: ServerResponse): Promise<void> => {
    try {
      const r = await provider.handle(oreq);
      sendResponse(res, r ?? json(404, { error: 'not_found' }));
    } catch (err) {
      // Our own failure: answered here (JSON), not handed to the framework's error page.
      answerFailure(provider, res, err);
    }
  };
  // One promise per request for the body, then `answer`'s: the token endpoint's hot path.
  const serve = (req: NodeRequest, res: ServerResponse): Promise<void> => {
    let oreq: OAuthRequest | undefined;
    try {
      oreq = withoutReading(req);
    } catch (err) {
      answerFailure(provider, res, err);
      return Promise.resolve();
    }
    if (oreq) return answer(oreq, res);
    return new Promise<void>((resolve) => {
      readBodyThen(req, limit, (err, body) => {
        if (err !== null) {
          answerUnreadable(res, err);
          resolve();
        } else {
          // In the stream's 'end' callback: anything thrown here would be uncaught (a crash), so a
          // request object that cannot be read (a framework's throwing getter) is answered 500.
          let oreq: OAuthRequest;
          try {
            oreq = formRequest(req, body);
          } catch (failure) {
            answerFailure(provider, res, failure);
            resolve();
            return;
          }
          resolve(answer(oreq, res));
        }
      });
    });
  };
  return (req, res, next) => {
    if (provider.handles(pathOf(fullUrl(req)))) return serve(req, res);
    // Not ours: handed on at once, without a promise for Express or Connect to wait on.
    if (next) next();
    else sendResponse(res, json(404, { error: 'not_found' }));
    return undefined;
  };
}

/** A request that passed the bearer check: `oauth` is set. */
export type AuthorizedRequest<Req extends IncomingMessage = NodeRequest> = Req & { oauth: VerifiedToken };

/**
 * A route handler behind `withOAuth`. It may return a promise; Express 5 and the like then route
 * its rejection to their error handling. `Req` and `Res` are the framework's own types.
 */
export type OAuthRouteHandler<Req extends IncomingMessage = NodeRequest, Res extends ServerResponse = ServerResponse> = (
  req: AuthorizedRequest<Req>,
  res: Res,
  next?: NextFunction,
) => unknown;

/**
 * The bearer check both `requireOAuth` and `withOAuth` make; `pass` runs when it succeeds, with
 * `req.oauth` set. Answers from the store without a tick when it can (see `checkAccessToken`).
 */
function bearerGuard<U extends User, C extends Client>(
  provider: OAuth2Provider<U, C>,
  args: readonly (string | GuardOptions)[] | GuardOptions,
  pass: OAuthRouteHandler,
): (req: NodeRequest, res: ServerResponse, next?: NextFunction) => unknown {
  const { scopes, options } = guardArgs(args);
  provider.validate();
  // The route handler's own failures go to the framework (`next(err)`), or become a 500.
  const handOver = (req: NodeRequest, res: ServerResponse, next: NextFunction | undefined, token: VerifiedToken): unknown => {
    req.oauth = token;
    let out: unknown;
    try {
      out = pass(req as AuthorizedRequest, res, next);
    } catch (err) {
      answerFailure(provider, res, err, next);
      return undefined;
    }
    if (out instanceof Promise) return out.catch((err: unknown) => answerFailure(provider, res, err, next));
    return out;
  };
  const finish = (req: NodeRequest, res: ServerResponse, next: NextFunction | undefined, r: ResourceResult): unknown => {
    if (!r.ok) return sendResponse(res, r.response);
    return handOver(req, res, next, r.token);
  };
  const slow = async (req: NodeRequest, res: ServerResponse, next: NextFunction | undefined): Promise<unknown> => {
    const oreq = await readForm(req, res);
    return oreq ? finish(req, res, next, await provider.checkAccessToken(oreq, scopes, options)) : undefined;
  };
  // The guard's own failures (none are expected: checkAccessToken never throws) are answered 500.
  const ours = (res: ServerResponse) => (err: unknown) => answerFailure(provider, res, err);
  return (req, res, next) => {
    let r: ResourceResult | Promise<ResourceResult>;
    try {
      const oreq = withoutReading(req);
      if (!oreq) return slow(req, res, next).catch(ours(res));
      r = provider.checkAccessToken(oreq, scopes, options);
    } catch (err) {
      ours(res)(err);
      return undefined;
    }
    // Answered at once (memory stores, no hooks): on to the route handler in this very tick.
    if (!(r instanceof Promise)) return finish(req, res, next, r);
    return r.then((done) => finish(req, res, next, done)).catch(ours(res));
  };
}

const callNext: OAuthRouteHandler = (_req, _res, next) => {
  if (next) next();
};

/**
 * Middleware protecting a resource (RFC 6750): needs a valid bearer token holding every listed
 * scope. On success sets `req.oauth` and calls `next()`; otherwise answers 400/401/403 with
 * `WWW-Authenticate`. Pass `{ scopes, audience }` instead of scope names to also require that the
 * token was issued for this resource (RFC 8707): `requireOAuth(provider, { scopes: ['read'],
 * audience: 'https://api.example/' })`.
 */
export function requireOAuth<U extends User, C extends Client>(
  provider: OAuth2Provider<U, C>,
  ...scopes: string[] | [GuardOptions]
): NodeMiddleware {
  // With `callNext` the guard gives back nothing, or a promise of nothing: a NodeMiddleware.
  return bearerGuard(provider, scopes, callNext) as NodeMiddleware;
}

/**
 * A protected route handler (RFC 6750): the same check as `requireOAuth`, but it calls `handler`
 * itself, with `req.oauth` set and typed, instead of passing on to a second handler. One handler
 * per route is also cheaper for Express, which dispatches each handler of a route in turn:
 * `app.get('/api/me', withOAuth(provider, ['read'], (req, res) => res.json(req.oauth)))`.
 * `Req` and `Res` are inferred from the framework (Express's request and response types).
 * Returns what `handler` returns (a promise from an async handler, for Express 5 to await).
 */
export function withOAuth<
  U extends User,
  C extends Client,
  Req extends IncomingMessage = NodeRequest,
  Res extends ServerResponse = ServerResponse,
>(
  provider: OAuth2Provider<U, C>,
  scopes: readonly string[] | GuardOptions,
  handler: OAuthRouteHandler<Req, Res>,
): (req: Req, res: Res, next?: NextFunction) => unknown {
  return bearerGuard(provider, scopes, handler as unknown as OAuthRouteHandler) as (req: Req, res: Res, next?: NextFunction) => unknown;
}

/** Bodies the adapter reads: forms (token, revocation, ...) and JSON (client registration, RFC 7591). */
function readsBody(contentType: string | undefined): boolean {
  const ct = contentType?.toLowerCase();
  return ct !== undefined && (ct.startsWith('application/x-www-form-urlencoded') || ct.startsWith('application/json'));
}
