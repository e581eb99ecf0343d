import { digestToken, s256, safeEqual } from '../crypto.js';
import { InvalidDpopProofError, InvalidGrantError, InvalidRequestError, isOAuthError } from '../errors.js';
import { resourceValues } from '../params.js';
import { allows } from '../policy.js';
import { checkResources, scopesFor, withinGrant } from '../resources.js';
import { issueTokens, refreshBinding } from './issue.js';
import type { GrantHandler } from './types.js';

const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

/**
 * RFC 6749 section 4.1.3 with RFC 7636 (PKCE). The code is consumed first, atomically, so a
 * failed check still burns it; a replayed code revokes every token it minted.
 */
export const authorizationCodeGrant: GrantHandler = async (e, client, p, ctx) => {
  const code = p.code;
  if (!code) return new InvalidRequestError('code is required');
  // RFC 8707 section 2.2: checked before the code is used, so a malformed or unknown resource leaves it usable.
  const asked = checkResources(e, client, resourceValues(p));
  if (isOAuthError(asked)) return asked;
  const taken = await e.s.consumeGrant!(client.id, digestToken(code));
  if (taken === null) return new InvalidGrantError('The authorization code is invalid, expired or already used');
  if (taken.outcome === 'replayed') {
    e.telemetry.replay('authorization_code');
    await e.s.revokeFamily!(taken.grantId);
    return new InvalidGrantError('The authorization code was already used; tokens issued with it are revoked');
  }
  const g = taken.record;
  if (g.expiresAt.getTime() <= Date.now()) return new InvalidGrantError('The authorization code has expired');
  if (g.clientId !== client.id) return new InvalidGrantError('The authorization code was issued to another client');
  // RFC 6749 section 4.1.3: redirect_uri is required, and must be identical, when the
  // authorization request included it. Left out there, it may be left out here too; if sent, it
  // must name the client's only registered URI, where the code went.
  const redirectUri = p.redirect_uri;
  if (g.redirectUri !== null) {
    if (redirectUri === undefined) return new InvalidGrantError('redirect_uri is required: the authorization request included it');
    if (redirectUri !== g.redirectUri) return new InvalidGrantError('redirect_uri does not match the authorization request');
  } else if (redirectUri !== undefined && (client.redirectUris.length !== 1 || client.redirectUris[0] !== redirectUri)) {
    return new InvalidGrantError('redirect_uri does not match the authorization request');
  }
  const verifier = p.code_verifier;
  if (g.codeChallenge === null) {
    // RFC 9700 section 2.1.1: a verifier without a challenge must be refused.
    if (verifier !== undefined) return new InvalidGrantError('code_verifier sent but no code_challenge was');
  } else {
    if (verifier === undefined) return new InvalidGrantError('code_verifier is required');
    if (!VERIFIER.test(verifier)) return new InvalidGrantError('code_verifier is malformed');
    const computed = g.codeChallengeMethod === 'S256' ? s256(verifier) : verifier;
    if (!safeEqual(computed, g.codeChallenge)) return new InvalidGrantError('code_verifier does not match the code_challenge');
  }
  // RFC 9449 section 10: a code bound with dpop_jkt is redeemed only with a proof made with that key.
  if (g.dpopJkt !== undefined && g.dpopJkt !== ctx.dpopJkt) {
    return new InvalidDpopProofError('The authorization code is bound to a DPoP key: send a DPoP proof made with it');
  }
  // A subset of the grant's resources; the refresh token stays bound to all of them (section 2.2).
  const outside = withinGrant(g.resources, asked);
  if (outside) return outside;
  const audience = asked.length > 0 ? asked : (g.resources ?? []);
  const scopes = scopesFor(e, audience, g.scopes);
  const body = await issueTokens(
    e,
    {
      dpopJkt: ctx.dpopJkt,
      refreshDpopJkt: refreshBinding(client, ctx.dpopJkt),
      clientId: client.id,
      userId: g.userId,
      scopes,
      refreshScopes: g.scopes,
      grantId: g.grantId,
      grantType: 'authorization_code',
      withRefresh: allows(e, client, 'refresh_token'),
      audience,
      refreshResources: g.resources ?? [],
      authTime: g.authTime,
    },
    client,
  );
  return { body, grantId: g.grantId, scopes, userId: g.userId };
};
