import { authenticatedForm } from '../client-auth.js';
import type { AccessTokenRecord, Client, RefreshTokenRecord, User } from '../contract.js';
import { digestToken } from '../crypto.js';
import type { EndpointResult, Engine } from '../engine.js';
import { fail } from '../engine.js';
import { InvalidClientError, InvalidRequestError } from '../errors.js';
import type { OAuthRequest } from '../http.js';
import { json } from '../responses.js';

const INACTIVE = '{"active":false}';

/**
 * Token introspection (RFC 7662). Only confidential clients may ask; a client sees its own tokens,
 * and a client with `resourceServer: true` sees every client's. Anything unknown, expired, revoked,
 * malformed or not the caller's to see is `{"active": false}`.
 */
export async function introspectionEndpoint<U extends User, C extends Client>(e: Engine<U, C>, req: OAuthRequest): Promise<EndpointResult> {
  const form = await authenticatedForm(e, req);
  if ('response' in form) return form;
  const { p, auth } = form;
  const clientId = auth.client.id;
  if (auth.method === 'none') return fail(new InvalidClientError('Public clients may not introspect tokens'), undefined, clientId);
  const token = p.token;
  if (token === undefined) return fail(new InvalidRequestError('token is required'), undefined, clientId);
  const digest = digestToken(token);
  const now = Date.now();
  const ok: EndpointResult = {
    response: json(200, INACTIVE),
    error: null,
    clientId,
    userId: null,
    grantType: null,
    scopes: null,
    issuedGrantId: null,
  };
  const order = p.token_type_hint === 'refresh_token' ? (['refresh', 'access'] as const) : (['access', 'refresh'] as const);
  let record: AccessTokenRecord | RefreshTokenRecord | null = null;
  let kind: 'access' | 'refresh' = 'access';
  for (const k of order) {
    record = k === 'access' ? await e.s.getAccessToken!(digest) : await e.s.getRefreshToken!(digest);
    if (record) {
      kind = k;
      break;
    }
  }
  if (!record || record.expiresAt.getTime() <= now) return ok;
  // RFC 7662 section 4: a caller learns only what it may see. Its own tokens, or any token when
  // it is registered as a resource server; everything else looks inactive.
  if (record.clientId !== clientId && auth.client.resourceServer !== true) return ok;
  const body: Record<string, unknown> = {
    active: true,
    scope: record.scopes.join(' '),
    client_id: record.clientId,
    token_type: kind === 'access' ? ((record as AccessTokenRecord).dpopJkt ? 'DPoP' : 'Bearer') : 'refresh_token',
    exp: Math.floor(record.expiresAt.getTime() / 1000),
    iss: e.o.issuer,
  };
  if (record.userId !== null) body.sub = record.userId;
  // RFC 8707 section 2: the audience restriction as the top-level `aud` (one: a string).
  const audience = kind === 'access' ? (record as AccessTokenRecord).audience : undefined;
  if (audience && audience.length > 0) body.aud = audience.length === 1 ? audience[0] : [...audience];
  // RFC 9449 section 6.2: the key a DPoP-bound token is bound to, as a confirmation claim.
  if (record.dpopJkt !== undefined) body.cnf = { jkt: record.dpopJkt };
  return { ...ok, response: json(200, body), userId: record.userId, scopes: record.scopes };
}
