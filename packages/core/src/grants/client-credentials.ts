import { isOAuthError, UnauthorizedClientError } from '../errors.js';
import { resolveScopes } from '../policy.js';
import { issueTokens, newGrantId } from './issue.js';
import type { GrantHandler } from './types.js';

/** RFC 6749 section 4.4: confidential clients only; no refresh token (section 4.4.3). */
export const clientCredentialsGrant: GrantHandler = async (e, client, p) => {
  if (client.secretHash === null || client.secretHash === undefined) {
    return new UnauthorizedClientError('Public clients may not use client_credentials');
  }
  const scopes = resolveScopes(e, client, p.scope);
  if (isOAuthError(scopes)) return scopes;
  const grantId = newGrantId();
  const body = await issueTokens(e, {
    clientId: client.id,
    userId: null,
    scopes,
    grantId,
    grantType: 'client_credentials',
    withRefresh: false,
  });
  return { body, grantId, scopes, userId: null };
};
