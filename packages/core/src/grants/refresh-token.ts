import type { RefreshTokenRecord } from '../contract.js';
import { digestToken } from '../crypto.js';
import {
  InvalidDpopProofError,
  InvalidGrantError,
  InvalidRequestError,
  InvalidScopeError,
  isOAuthError,
  type OAuthError,
} from '../errors.js';
import { resourceValues, splitScope } from '../params.js';
import { checkResources, scopesFor, withinGrant } from '../resources.js';
import { issueTokens, refreshBinding } from './issue.js';
import type { GrantHandler } from './types.js';

/**
 * RFC 6749 section 6. The request is checked (client, expiry, scope) before the refresh token is
 * used up, so a client's mistake (say, `invalid_scope`) leaves its token usable. With rotation
 * (the default) the token is then consumed atomically and replaced; replaying a rotated token
 * revokes the whole family (RFC 9700 section 4.14.2). A narrower `scope` narrows the new access
 * token only: the new refresh token keeps the scope of the original grant (section 6: "the
 * requested scope MUST NOT include any scope not originally granted").
 */
export const refreshTokenGrant: GrantHandler = async (e, client, p, ctx) => {
  const token = p.refresh_token;
  if (!token) return new InvalidRequestError('refresh_token is required');
  const asked = splitScope(p.scope);
  if (asked === null) return new InvalidScopeError('The scope parameter is malformed');
  const resources = checkResources(e, client, resourceValues(p));
  if (isOAuthError(resources)) return resources;
  const digest = digestToken(token);
  // Look first: a token that is live and this client's, for a scope it holds, is consumed below.
  const seen = await e.s.getRefreshToken!(digest);
  if (seen !== null) {
    const refused = check(seen, client.id, asked, resources, ctx.dpopJkt);
    if (refused === 'other-client') {
      // Someone else holds this client's refresh token: treat it as stolen.
      if (e.o.refreshTokenRotation) await e.s.revokeFamily!(seen.grantId);
      return new InvalidGrantError('The refresh token was issued to another client');
    }
    if (refused) return refused;
  } else if (!e.o.refreshTokenRotation) {
    return new InvalidGrantError('The refresh token is invalid, expired or revoked');
  }
  let record: RefreshTokenRecord;
  if (e.o.refreshTokenRotation) {
    // Not seen: unknown, or already rotated (a replay, which revokes the family).
    const taken = await e.s.consumeRefreshToken!(digest);
    if (taken === null) return new InvalidGrantError('The refresh token is invalid, expired or revoked');
    if (taken.outcome === 'replayed') {
      e.telemetry.replay('refresh_token');
      await e.s.revokeFamily!(taken.grantId);
      return new InvalidGrantError('The refresh token was already used; its token family is revoked');
    }
    record = taken.record;
    // Checked again on what was consumed (it may differ from what was seen, or not have been seen).
    const refused = check(record, client.id, asked, resources, ctx.dpopJkt);
    if (refused === 'other-client') {
      await e.s.revokeFamily!(record.grantId);
      return new InvalidGrantError('The refresh token was issued to another client');
    }
    if (refused) return refused;
  } else {
    record = seen!;
  }
  // RFC 8707 section 2.2: the resources named (a subset of the grant's), else all of the grant's.
  const audience = resources.length > 0 ? resources : (record.resources ?? []);
  const scopes = scopesFor(e, audience, asked.length > 0 ? asked : record.scopes);
  const body = await issueTokens(
    e,
    {
      clientId: client.id,
      userId: record.userId,
      scopes,
      refreshScopes: record.scopes,
      grantId: record.grantId,
      grantType: 'refresh_token',
      withRefresh: e.o.refreshTokenRotation,
      audience,
      refreshResources: record.resources ?? [],
      dpopJkt: ctx.dpopJkt,
      // A bound refresh token stays bound to its key; an unbound one of a public client binds now.
      refreshDpopJkt: record.dpopJkt ?? refreshBinding(client, ctx.dpopJkt),
      // The original authentication, not this refresh (RFC 9068 section 2.2.1).
      authTime: record.authTime,
    },
    client,
  );
  return { body, grantId: record.grantId, scopes, userId: record.userId };
};

/** Why a refresh token cannot serve this request, or `null` when it can. */
function check(
  record: RefreshTokenRecord,
  clientId: string,
  asked: readonly string[],
  resources: readonly string[],
  jkt: string | null,
): OAuthError | 'other-client' | null {
  if (record.clientId !== clientId) return 'other-client';
  if (record.expiresAt.getTime() <= Date.now()) return new InvalidGrantError('The refresh token has expired');
  // RFC 9449 section 5: a public client's bound refresh token needs a proof made with its key.
  if (record.dpopJkt !== undefined && record.dpopJkt !== jkt) {
    return new InvalidDpopProofError('The refresh token is bound to a DPoP key: send a DPoP proof made with it');
  }
  for (const s of asked) {
    if (!record.scopes.includes(s)) return new InvalidScopeError(`Scope '${s}' was not granted originally`);
  }
  // RFC 8707 section 2.2: narrow to some of the grant's resources, never widen.
  return withinGrant(record.resources, resources);
}
