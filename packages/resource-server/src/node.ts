import type { IncomingMessage, ServerResponse } from 'node:http';
import { type AuthResult, authenticate, type BearerRequest, type BearerResponse, serverError } from './bearer.js';
import type { VerifiedToken, Verifier } from './verifier.js';

/** A `node:http` request as Express or Connect may have extended it; `oauth` is set once the token passed. */
export type NodeRequest = IncomingMessage & { body?: unknown; originalUrl?: string; oauth?: VerifiedToken };
/** `next` of Express/Connect middleware. */
export type NextFunction = (err?: unknown) => void;
/** A `node:http`/Express/Connect middleware; the promise it returns never rejects. */
export type NodeMiddleware = (req: NodeRequest, res: ServerResponse, next?: NextFunction) => Promise<void>;
/** A request that passed the bearer check: `oauth` is set. */
export type AuthorizedRequest<Req extends IncomingMessage = NodeRequest> = Req & { oauth: VerifiedToken };
/** A route handler behind `withOAuth`; `Req` and `Res` are the framework's own types. */
export type OAuthRouteHandler<Req extends IncomingMessage = NodeRequest, Res extends ServerResponse = ServerResponse> = (
  req: AuthorizedRequest<Req>,
  res: Res,
  next?: NextFunction,
) => unknown;

/** Writes a response; a header Node refuses, or headers already sent, never make it throw. */
export function sendNodeResponse(res: ServerResponse, r: BearerResponse): void {
  if (res.headersSent) {
    if (!res.writableEnded) res.end();
    return;
  }
  try {
    res.writeHead(r.status, r.headers);
  } catch {
    const f = serverError();
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    res.writeHead(f.status, f.headers);
    res.end(f.body);
    return;
  }
  res.end(r.body);
}

function failure(res: ServerResponse, err: unknown, next?: NextFunction): void {
  if (next) {
    next(err);
    return;
  }
  if (res.headersSent) res.destroy();
  else sendNodeResponse(res, serverError());
}

/** The bearer-relevant (and DPoP-relevant) parts of a `node:http` request. */
export function fromNodeRequest(req: NodeRequest): BearerRequest {
  const authorization: string[] = [];
  const dpop: string[] = [];
  const raw = req.rawHeaders ?? [];
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    // Only names of the right length are lowercased: one string less per other header.
    if (n.length === 13 && n.toLowerCase() === 'authorization') authorization.push(raw[i + 1] ?? '');
    else if (n.length === 4 && n.toLowerCase() === 'dpop') dpop.push(raw[i + 1] ?? '');
  }
  if (authorization.length === 0 && typeof req.headers.authorization === 'string') authorization.push(req.headers.authorization);
  const d = req.headers.dpop;
  if (dpop.length === 0 && d !== undefined) dpop.push(...(typeof d === 'string' ? [d] : d));
  const url = req.originalUrl ?? req.url ?? '/';
  const q = url.indexOf('?');
  const b = req.body;
  const bodyToken = !!b && typeof b === 'object' && !Buffer.isBuffer(b) && Object.hasOwn(b, 'access_token');
  return { authorization, query: q < 0 ? '' : url.slice(q + 1), bodyToken, method: req.method ?? '', url, dpop };
}

function guard(verifier: Verifier, scopes: readonly string[], pass: OAuthRouteHandler): NodeMiddleware {
  return async (req, res, next) => {
    let r: AuthResult;
    try {
      r = await authenticate(verifier, fromNodeRequest(req), scopes);
    } catch (err) {
      failure(res, err, next);
      return;
    }
    if (!r.ok) {
      sendNodeResponse(res, r.response);
      return;
    }
    req.oauth = r.token;
    try {
      await pass(req as AuthorizedRequest, res, next);
    } catch (err) {
      failure(res, err, next);
    }
  };
}

const callNext: OAuthRouteHandler = (_req, _res, next) => {
  if (next) next();
};

/**
 * Middleware protecting a resource (RFC 6750): needs a valid bearer token holding every listed
 * scope. On success sets `req.oauth` and calls `next()`; otherwise answers 400/401/403 with
 * `WWW-Authenticate`. A token that could not be checked goes to `next(err)`, or gets 500.
 */
export function requireOAuth(verifier: Verifier, ...scopes: string[]): NodeMiddleware {
  return guard(verifier, scopes, callNext);
}

/**
 * A protected route handler: the check of `requireOAuth`, then `handler` with `req.oauth` set.
 * Failures of the handler go to `next(err)`, or get 500.
 */
export function withOAuth<Req extends IncomingMessage = NodeRequest, Res extends ServerResponse = ServerResponse>(
  verifier: Verifier,
  scopes: readonly string[],
  handler: OAuthRouteHandler<Req, Res>,
): (req: Req, res: Res, next?: NextFunction) => Promise<void> {
  return guard(verifier, scopes, handler as unknown as OAuthRouteHandler) as unknown as (
    req: Req,
    res: Res,
    next?: NextFunction,
  ) => Promise<void>;
}
