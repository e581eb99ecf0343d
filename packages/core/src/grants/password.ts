import { dummyPasswordHash, verifySecret } from '../crypto.js';
import { InvalidGrantError, InvalidRequestError, isOAuthError } from '../errors.js';
import { resourceValues } from '../params.js';
import { allows, resolveScopes } from '../policy.js';
import { checkResources, scopesFor } from '../resources.js';
import { issueTokens, newGrantId, refreshBinding } from './issue.js';
import type { GrantHandler } from './types.js';

/**
 * RFC 6749 section 4.3 (off unless enabled; RFC 9700 says not to use it). The user store returns
 * the password hash; core verifies it, spending the same time for unknown users.
 */
export const passwordGrant: GrantHandler = async (e, client, p, ctx) => {
  const { username, password } = p;
  if (!username || password === undefined) return new InvalidRequestError('username and password are required');
  const granted = resolveScopes(e, client, p.scope);
  if (isOAuthError(granted)) return granted;
  const audience = checkResources(e, client, resourceValues(p));
  if (isOAuthError(audience)) return audience;
  const scopes = scopesFor(e, audience, granted);
  const found = await e.s.getUserByUsername!(username);
  const ok = await verifySecret(password, found ? found.passwordHash : await dummyPasswordHash());
  if (!found || !ok) return new InvalidGrantError('Invalid username or password');
  const grantId = newGrantId();
  const body = await issueTokens(
    e,
    {
      dpopJkt: ctx.dpopJkt,
      refreshDpopJkt: refreshBinding(client, ctx.dpopJkt),
      clientId: client.id,
      userId: found.user.id,
      scopes,
      refreshScopes: granted,
      grantId,
      grantType: 'password',
      withRefresh: allows(e, client, 'refresh_token'),
      audience,
      refreshResources: audience,
      // The user authenticated with this very request.
      authTime: new Date(),
    },
    client,
  );
  return { body, grantId, scopes, userId: found.user.id };
};
