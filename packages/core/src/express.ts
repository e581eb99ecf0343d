/**
 * `@portcullis/core/express`: the bearer guards typed with Express's own `Request` and `Response`
 * (from `@types/express`, an optional peer dependency), so route handlers need no type arguments:
 * `app.get('/me', withOAuth(provider, ['read'], (req, res) => res.json(req.oauth)))`. The checks
 * are those of the main entry's `withOAuth` and `requireOAuth`.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { requireOAuth as requireOAuthNode, withOAuth as withOAuthNode } from './adapters/node.js';
import type { Client, User } from './contract.js';
import type { GuardOptions, VerifiedToken } from './endpoints/resource.js';
import type { OAuth2Provider } from './provider.js';

/** An Express request that passed the bearer check: `req.oauth` is the verified token. */
export type OAuthRequestOf<Req extends Request = Request> = Req & { oauth: VerifiedToken };

/** A route handler behind `withOAuth`, with Express's types. */
export type OAuthExpressHandler = (req: OAuthRequestOf, res: Response, next: NextFunction) => unknown;

/**
 * A protected Express route handler (RFC 6750): a valid bearer token holding every listed scope,
 * then `handler` with `req.oauth` set. Failures are answered 400/401/403 with `WWW-Authenticate`;
 * a handler's throw or rejection goes to Express's error handling (`next(err)`).
 */
export function withOAuth<U extends User, C extends Client>(
  provider: OAuth2Provider<U, C>,
  scopes: readonly string[] | GuardOptions,
  handler: OAuthExpressHandler,
): RequestHandler {
  return withOAuthNode<U, C, Request, Response>(provider, scopes, handler as never) as RequestHandler;
}

/** Express middleware protecting the routes after it (RFC 6750); on success `req.oauth` is set. */
export function requireOAuth<U extends User, C extends Client>(
  provider: OAuth2Provider<U, C>,
  ...scopes: string[] | [GuardOptions]
): RequestHandler {
  return requireOAuthNode(provider, ...scopes) as unknown as RequestHandler;
}
