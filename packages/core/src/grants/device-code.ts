import { digestToken } from '../crypto.js';
import { DEVICE_GRANT } from '../device-codes.js';
import {
  AuthorizationPendingError,
  ExpiredTokenError,
  InvalidGrantError,
  InvalidRequestError,
  isOAuthError,
  OAuthError,
  SlowDownError,
} from '../errors.js';
import { resourceValues } from '../params.js';
import { allows } from '../policy.js';
import { checkResources, scopesFor } from '../resources.js';
import { issueTokens, refreshBinding } from './issue.js';
import type { GrantHandler } from './types.js';

/**
 * RFC 8628 section 3.4: the device polls with its `device_code` until the user decides. Each poll
 * is recorded atomically by the store, which hands back the record as it was before the poll, so
 * every answer is taken on one consistent state:
 * - unknown, or another client's: `invalid_grant` (RFC 6749 section 5.2, "issued to another client");
 * - expired: `expired_token`;
 * - denied: `access_denied`;
 * - approved: the record is consumed atomically and tokens are issued to exactly one poll; every
 *   other poll, concurrent or later, gets `invalid_grant` (the grant was used: RFC 8628 keeps
 *   `expired_token` for a code that has expired, and RFC 6749 section 5.2 names `invalid_grant`
 *   for a grant that is no longer valid);
 * - pending: `slow_down` when this poll came sooner than the interval after the previous one (the
 *   store has then added 5 seconds to the interval), else `authorization_pending`.
 */
export const deviceCodeGrant: GrantHandler = async (e, client, p, ctx) => {
  const code = p.device_code;
  if (!code) return new InvalidRequestError('device_code is required');
  const audience = checkResources(e, client, resourceValues(p));
  if (isOAuthError(audience)) return audience;
  const digest = digestToken(code);
  const now = Date.now();
  const seen = await e.s.devices!.recordPoll(client.id, digest, new Date(now));
  if (seen === null || seen.clientId !== client.id)
    return new InvalidGrantError('The device code is invalid or was issued to another client');
  if (seen.expiresAt.getTime() <= now) return new ExpiredTokenError();
  if (seen.status === 'consumed') return new InvalidGrantError('The device code was already used');
  if (seen.status === 'denied') return new OAuthError('access_denied', 'The user denied the authorization request', 400);
  if (seen.status === 'approved') {
    const taken = await e.s.devices!.consumeDeviceCode(client.id, digest);
    if (taken === null || taken.clientId !== client.id || taken.userId === null) {
      return new InvalidGrantError('The device code was already used');
    }
    if (taken.expiresAt.getTime() <= Date.now()) return new ExpiredTokenError();
    const scopes = scopesFor(e, audience, taken.scopes);
    const body = await issueTokens(
      e,
      {
        dpopJkt: ctx.dpopJkt,
        refreshDpopJkt: refreshBinding(client, ctx.dpopJkt),
        clientId: client.id,
        userId: taken.userId,
        scopes,
        refreshScopes: taken.scopes,
        grantId: taken.grantId,
        grantType: DEVICE_GRANT,
        withRefresh: allows(e, client, 'refresh_token'),
        audience,
        refreshResources: audience,
        authTime: taken.authTime,
      },
      client,
    );
    return { body, grantId: taken.grantId, scopes, userId: taken.userId };
  }
  const last = seen.lastPolledAt;
  if (last !== null && now - last.getTime() < seen.interval * 1000) return new SlowDownError();
  return new AuthorizationPendingError();
};
