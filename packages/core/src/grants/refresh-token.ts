import { digestToken } from '../crypto.js';
import { issueTokens } from '../endpoints/shared.js';
import { InvalidGrantError, InvalidRequestError, InvalidScopeError } from '../errors.js';
import { splitScope } from '../params.js';
import type { Engine } from '../provider.js';
import type { GrantHandler } from './types.js';

/**
 * RFC 6749 section 6. With rotation (the default) the refresh token is consumed atomically and
 * replaced; replaying a rotated token revokes the whole family (RFC 9700 section 4.14.2).
 * A new scope may only narrow the original one.
 */
export const refreshTokenGrant: GrantHandler = async (e, client, p) => {
  const token = p.refresh_token;
  if (!token) return new InvalidRequestError('refresh_token is required');
  const asked = splitScope(p.scope);
  if (asked === null) return new InvalidScopeError('The scope parameter is malformed');
  const digest = digestToken(token);
  let record: Awaited<ReturnType<NonNullable<typeof e.s.getRefreshToken>>>;
  if (e.o.rotation) {
    const taken = await e.s.consumeRefreshToken!(digest);
    if (taken === null) return new InvalidGrantError('The refresh token is invalid, expired or revoked');
    if (taken.outcome === 'replayed') {
      await e.s.revokeFamily!(taken.grantId);
      return new InvalidGrantError('The refresh token was already used; its token family is revoked');
    }
    record = taken.record;
    if (record.clientId !== client.id) {
      // Someone else holds this client's refresh token: treat it as stolen.
      await e.s.revokeFamily!(record.grantId);
      return new InvalidGrantError('The refresh token was issued to another client');
    }
  } else {
    record = await e.s.getRefreshToken!(digest);
    if (record === null) return new InvalidGrantError('The refresh token is invalid, expired or revoked');
    if (record.clientId !== client.id) return new InvalidGrantError('The refresh token was issued to another client');
  }
  if (record.expiresAt.getTime() <= Date.now()) return new InvalidGrantError('The refresh token has expired');
  let scopes = record.scopes;
  if (asked.length > 0) {
    for (const s of asked) {
      if (!record.scopes.includes(s)) return new InvalidScopeError(`Scope "${s}" was not granted originally`);
    }
    scopes = asked;
  }
  const body = await issueTokens(e as unknown as Engine, {
    clientId: client.id,
    userId: record.userId,
    scopes,
    grantId: record.grantId,
    grantType: 'refresh_token',
    withRefresh: e.o.rotation,
  });
  return { body, grantId: record.grantId, scopes };
};
