import { authenticatedForm } from '../client-auth.js';
import type { Client, DeviceCodeRecord, User } from '../contract.js';
import { digestToken, randomToken } from '../crypto.js';
import { DEVICE_GRANT, formatUserCode, newUserCode } from '../device-codes.js';
import { type EndpointResult, type Engine, fail } from '../engine.js';
import { isOAuthError, ServerError, UnauthorizedClientError } from '../errors.js';
import { newGrantId } from '../grants/issue.js';
import type { OAuthRequest } from '../http.js';
import { allows, resolveScopes } from '../policy.js';
import { json } from '../responses.js';

/** Draws of a user code before giving up: a clash is about 1 in 2^34.6 per live code. */
const MAX_DRAWS = 5;

/** The device authorization response (RFC 8628 section 3.2). */
export interface DeviceAuthorizationBody {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  expires_in: number;
  interval: number;
}

/**
 * The device authorization endpoint (RFC 8628 section 3.1): POST, a form body, client
 * authentication as at the token endpoint (public clients name themselves with `client_id`),
 * the scope checked as usual. Saves a pending record (the device code as a digest) and answers
 * the codes, the verification URI and the polling interval.
 */
export async function deviceAuthorizationEndpoint<U extends User, C extends Client>(
  e: Engine<U, C>,
  req: OAuthRequest,
): Promise<EndpointResult> {
  const form = await authenticatedForm(e, req);
  if ('response' in form) return form;
  const { p, auth } = form;
  const client = auth.client;
  if (!allows(e, client, DEVICE_GRANT)) {
    return fail(new UnauthorizedClientError('This client may not use the device authorization grant'), undefined, client.id, DEVICE_GRANT);
  }
  const scopes = resolveScopes(e, client, p.scope);
  if (isOAuthError(scopes)) return fail(scopes, undefined, client.id, DEVICE_GRANT);
  const d = e.o.device;
  const deviceCode = randomToken();
  const base: Omit<DeviceCodeRecord, 'userCode'> = {
    deviceCode: digestToken(deviceCode),
    clientId: client.id,
    scopes,
    expiresAt: new Date(Date.now() + d.expiresIn * 1000),
    interval: d.interval,
    lastPolledAt: null,
    status: 'pending',
    userId: null,
    grantId: newGrantId(),
  };
  let userCode: string | null = null;
  for (let i = 0; i < MAX_DRAWS && userCode === null; i++) {
    const drawn = newUserCode();
    if (await e.s.devices!.saveDeviceCode({ ...base, userCode: drawn })) userCode = drawn;
  }
  if (userCode === null) return fail(new ServerError('Could not draw a free user code'), undefined, client.id, DEVICE_GRANT);
  const shown = formatUserCode(userCode);
  const complete = new URL(d.verificationUri);
  complete.searchParams.set('user_code', shown);
  const body: DeviceAuthorizationBody = {
    device_code: deviceCode,
    user_code: shown,
    verification_uri: d.verificationUri,
    verification_uri_complete: complete.toString(),
    expires_in: d.expiresIn,
    interval: d.interval,
  };
  return {
    response: json(200, body),
    error: null,
    clientId: client.id,
    userId: null,
    grantType: DEVICE_GRANT,
    scopes,
    issuedGrantId: null,
  };
}
