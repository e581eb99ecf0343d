import { authenticatedForm } from '../client-auth.js';
import type { Client, User } from '../contract.js';
import { randomToken } from '../crypto.js';
import { checkProof, htuOf } from '../dpop.js';
import { type EndpointResult, type Engine, fail } from '../engine.js';
import { InvalidDpopProofError, InvalidRequestError, isOAuthError, ServerError } from '../errors.js';
import type { OAuthRequest } from '../http.js';
import { endpointUrl } from '../options.js';
import { toQuery } from '../params.js';
import { encodePushedRequest, pushedRequestKey, REQUEST_URI_PREFIX } from '../pushed-requests.js';
import { json } from '../responses.js';
import { validate } from './authorize.js';

/** The pushed authorization response (RFC 9126 section 2.2). */
export interface PushedAuthorizationBody {
  request_uri: string;
  expires_in: number;
}

/** Client credentials and assertions, never kept with the pushed parameters. */
const CREDENTIALS = ['client_secret', 'client_assertion', 'client_assertion_type'];
/** Tries to save under a fresh reference before giving up (a clash is a 256-bit coincidence). */
const MAX_DRAWS = 3;

/**
 * The pushed authorization request endpoint (RFC 9126 section 2): POST, a form body, client
 * authentication as at the token endpoint (public clients name themselves with `client_id`).
 * The parameters are validated as the authorization endpoint would (redirect URI, response type,
 * scope, resources, PKCE, the client's grants), without their credentials they are kept in the
 * ephemeral store for `par.expiresIn` (plus the consent window), and the answer is 201 with the
 * `request_uri` that stands for them. Errors are JSON, as at the token endpoint (section 2.3).
 */
export async function pushedAuthorizationEndpoint<U extends User, C extends Client>(
  e: Engine<U, C>,
  req: OAuthRequest,
): Promise<EndpointResult> {
  const form = await authenticatedForm(e, req);
  if ('response' in form) return form;
  const { p, auth } = form;
  const client = auth.client;
  // Section 2.1: "The request_uri authorization request parameter is one exception, and it MUST
  // NOT be provided."
  if (p.request_uri !== undefined) {
    return fail(new InvalidRequestError('request_uri must not be sent to the pushed authorization request endpoint'), undefined, client.id);
  }
  if (p.request !== undefined) return fail(new InvalidRequestError('Request objects (request) are not supported'), undefined, client.id);
  for (const k of CREDENTIALS) delete p[k];
  // RFC 9449 section 10.1: a DPoP proof sent with the push binds the code like dpop_jkt.
  if (e.o.dpop.enabled) {
    const url = htuOf(endpointUrl(e.o, e.o.endpoints.pushedAuthorizationRequest))!;
    const proof = await checkProof(e, req, { urls: [url], accessToken: null, status: 400 });
    if (isOAuthError(proof)) return fail(proof, undefined, client.id);
    if (proof !== null) {
      if (p.dpop_jkt !== undefined && p.dpop_jkt !== proof.jkt) {
        return fail(new InvalidDpopProofError('dpop_jkt does not match the key of the DPoP proof'), undefined, client.id);
      }
      p.dpop_jkt = proof.jkt;
    }
  }
  // A client authenticated with HTTP Basic may leave client_id out of the body.
  p.client_id = client.id;
  const v = await validate(e, p, '', client, true);
  if (v.kind !== 'ok') return fail(v.error, undefined, client.id);
  const par = e.o.par;
  const pushedAt = Date.now();
  const value = encodePushedRequest({ clientId: client.id, query: toQuery(p), pushedAt });
  const expiresAt = new Date(pushedAt + (par.expiresIn + par.consentWindow) * 1000);
  for (let i = 0; i < MAX_DRAWS; i++) {
    const requestUri = REQUEST_URI_PREFIX + randomToken();
    if (await e.s.ephemeral!.add(pushedRequestKey(requestUri)!, value, expiresAt)) {
      const body: PushedAuthorizationBody = { request_uri: requestUri, expires_in: par.expiresIn };
      return {
        response: json(201, body),
        error: null,
        clientId: client.id,
        userId: null,
        grantType: null,
        scopes: v.request.scopes,
        issuedGrantId: null,
      };
    }
  }
  return fail(new ServerError('Could not save the pushed authorization request'), undefined, client.id);
}
