/**
 * `OAuthGuard('read', ...)`: a Nest guard for RFC 6750 bearer tokens. On success it sets
 * `request.oauth` (a `VerifiedToken`); otherwise it answers core's error (400/401/403 with its
 * `WWW-Authenticate` challenge) through Nest's exception handling.
 */
import { type CanActivate, type ExecutionContext, HttpException, Inject, Injectable, mixin, type Type } from '@nestjs/common';
import type { OAuth2Provider, VerifiedToken } from '@portcullis/core';
import type { Request, Response } from 'express';
import { OAUTH_PROVIDER } from './oauth.module.js';

/** A request that passed `OAuthGuard`. */
export interface AuthorizedRequest extends Request {
  /** The verified bearer token. */
  oauth: VerifiedToken;
}

/** A guard class requiring a valid bearer token holding every listed scope. */
export function OAuthGuard(...scopes: string[]): Type<CanActivate> {
  @Injectable()
  class BearerGuard implements CanActivate {
    constructor(@Inject(OAUTH_PROVIDER) private readonly provider: OAuth2Provider) {}

    async canActivate(context: ExecutionContext): Promise<boolean> {
      const http = context.switchToHttp();
      const req = http.getRequest<Request & { oauth?: VerifiedToken }>();
      // Headers and query only: a token in a form body (RFC 6750 section 2.2) is not looked for.
      const r = await this.provider.checkAccessToken({ method: req.method, url: req.originalUrl, headers: req.headers }, scopes);
      if (r.ok) {
        req.oauth = r.token;
        return true;
      }
      const res = http.getResponse<Response>();
      for (const [name, value] of Object.entries(r.response.headers)) {
        if (name.toLowerCase() !== 'content-type') res.setHeader(name, value);
      }
      // Nest's exception filter sends the object as JSON with the status: core's own error body.
      throw new HttpException(JSON.parse(r.response.body) as Record<string, unknown>, r.response.status);
    }
  }
  return mixin(BearerGuard);
}
