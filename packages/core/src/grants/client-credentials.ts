import { isOAuthError, UnauthorizedClientError } from '../errors.js';
import { resourceValues } from '../params.js';
import { resolveScopes } from '../policy.js';
import { checkResources, scopesFor } from '../resources.js';
import { issueTokens, newGrantId, refreshBinding } from './issue.js';
import type { GrantHandler } from './types.js';

/** RFC 6749 section 4.4: confidential clients only; no refresh token (section 4.4.3). */
export const clientCredentialsGrant: GrantHandler = async (e, client, p, ctx) => {
  if (client.secretHash === null || client.secretHash === undefined) {
    return new UnauthorizedClientError('Public clients may not use client_credentials');
  }
  const asked = resolveScopes(e, client, p.scope);
  if (isOAuthError(asked)) return asked;
  // RFC 8707 section 2.2: any registered resource the client may use.
  const audience = checkResources(e, client, resourceValues(p));
  if (isOAuthError(audience)) return audience;
  const scopes = scopesFor(e, audience, asked);
  const grantId = newGrantId();
  const body = await issueTokens(
    e,
    {
      dpopJkt: ctx.dpopJkt,
      refreshDpopJkt: refreshBinding(client, ctx.dpopJkt),
      clientId: client.id,
      userId: null,
      scopes,
      grantId,
      grantType: 'client_credentials',
      withRefresh: false,
      audience,
    },
    client,
  );
  return { body, grantId, scopes, userId: null };
};
