import { authenticatedForm } from '../client-auth.js';
import type { Client, User } from '../contract.js';
import { digestToken } from '../crypto.js';
import { type EndpointResult, type Engine, fail } from '../engine.js';
import { InvalidRequestError } from '../errors.js';
import type { OAuthRequest } from '../http.js';
import { emptyOk } from '../responses.js';

/**
 * Token revocation (RFC 7009). The client must authenticate and may revoke only its own tokens;
 * an unknown token, or one of another client, gets the same 200 so nothing is revealed. An
 * unknown `token_type_hint` is ignored (only the lookup order depends on it). Revoking a refresh
 * token revokes every token of its family, access tokens included (section 2.1).
 */
export async function revocationEndpoint<U extends User, C extends Client>(e: Engine<U, C>, req: OAuthRequest): Promise<EndpointResult> {
  const form = await authenticatedForm(e, req);
  if ('response' in form) return form;
  const { p, auth } = form;
  const clientId = auth.client.id;
  const token = p.token;
  if (!token) return fail(new InvalidRequestError('token is required'), undefined, clientId);
  const digest = digestToken(token);
  const refreshFirst = p.token_type_hint === 'refresh_token';
  for (const kind of refreshFirst ? (['refresh', 'access'] as const) : (['access', 'refresh'] as const)) {
    if (kind === 'access') {
      const a = await e.s.getAccessToken!(digest);
      if (a) {
        if (a.clientId === clientId) await e.s.revokeAccessToken!(digest);
        break;
      }
    } else {
      const r = await e.s.getRefreshToken!(digest);
      if (r) {
        if (r.clientId === clientId) await e.s.revokeFamily!(r.grantId);
        break;
      }
    }
  }
  return { response: emptyOk(), error: null, clientId, userId: null, grantType: null, scopes: null, issuedGrantId: null };
}
