/** The example's protected routes. */
import { Controller, Get, Req, UseGuards } from '@nestjs/common';
import { type AuthorizedRequest, OAuthGuard } from './oauth.guard.js';

/** `GET /api/me` (scope `read`) and `GET /api/admin` (scope `write`). */
@Controller('api')
export class ApiController {
  /** Who the token belongs to. */
  @Get('me')
  @UseGuards(OAuthGuard('read'))
  me(@Req() req: AuthorizedRequest): { client: string; scopes: readonly string[] } {
    return { client: req.oauth.clientId, scopes: req.oauth.scopes };
  }

  /** Needs the `write` scope. */
  @Get('admin')
  @UseGuards(OAuthGuard('write'))
  admin(): { ok: true } {
    return { ok: true };
  }

  /** A handler that throws: Nest answers its generic 500, never the message. */
  @Get('boom')
  @UseGuards(OAuthGuard('read'))
  boom(): never {
    throw new Error('route handler failed');
  }
}
