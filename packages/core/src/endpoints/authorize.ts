import type { Client, User } from '../contract.js';
import { digestToken, randomToken } from '../crypto.js';
import { JKT } from '../dpop.js';
import { type EndpointResult, type Engine, fail as failResult, findClient } from '../engine.js';
import {
  AccessDeniedError,
  InvalidRequestError,
  InvalidRequestUriError,
  isOAuthError,
  type OAuthError,
  UnauthorizedClientError,
  UnsupportedResponseTypeError,
} from '../errors.js';
import { issueTokens, newGrantId } from '../grants/issue.js';
import type { OAuthRequest, OAuthResponse } from '../http.js';
import { formBody, isForm, type Params, parseParams, queryOf, resourceValues, safeName, toQuery } from '../params.js';
import { allows, resolveScopes } from '../policy.js';
import { loadPushedRequest, pushedRequestKey } from '../pushed-requests.js';
import { checkResources, scopesFor } from '../resources.js';
import { errorResponse, methodNotAllowed, redirect } from '../responses.js';

/** A validated authorization request, handed to the app to render consent. */
export interface AuthorizationRequest<C extends Client = Client> {
  readonly client: C;
  /** `code` (authorization code flow) or `token` (implicit, when enabled). */
  readonly responseType: 'code' | 'token';
  /** The validated redirect URI (exactly one of the client's registered URIs). */
  readonly redirectUri: string;
  /** `true` when the request named `redirect_uri`; the token request must then repeat it. */
  readonly redirectUriSent: boolean;
  /** Scopes asked for (or the client's defaults), all allowed for the client. */
  readonly scopes: readonly string[];
  /**
   * The resources (RFC 8707 `resource` values) asked for, each registered and allowed for the
   * client; empty when none. Bound to the grant (the code), or the audience of an implicit token.
   */
  readonly resources: readonly string[];
  /** `state`, echoed verbatim in the redirect. */
  readonly state: string | null;
  readonly codeChallenge: string | null;
  readonly codeChallengeMethod: 'S256' | 'plain' | null;
  /**
   * The DPoP key thumbprint the code will be bound to (RFC 9449 section 10, `dpop_jkt`), or `null`.
   * Read only with `dpop.enabled`.
   */
  readonly dpopJkt: string | null;
  /**
   * `true` when the parameters came from a pushed authorization request (RFC 9126): the request
   * named `client_id` and `request_uri`, and `query` holds just those two. The pushed request is
   * used up when the decision is made (`completeAuthorization`), not before, so a reload of the
   * consent page works; an app that sends the user to sign in first should keep this object (or
   * its `query`) rather than send the browser back to the authorization endpoint after
   * `par.expiresIn`.
   */
  readonly pushed: boolean;
  /**
   * The original parameters as a query string. Carry it through the consent form or session and
   * hand it (or this object) to `completeAuthorization`, which validates it again.
   */
  readonly query: string;
}

/** The user's answer to an authorization request. */
export interface AuthorizationDecision {
  /** `true` when the user approved. */
  readonly approved: boolean;
  /** The user who decided. Without it, the registered `currentUser` is asked. */
  readonly userId?: string;
  /** Narrow the scopes granted (a subset of those asked for); others are dropped. */
  readonly scopes?: readonly string[];
  /**
   * When the user last authenticated (logged in), if the application knows it: JWT access tokens
   * from this approval, and those refreshed from them, carry it as `auth_time` (RFC 9068 section
   * 2.2.1). A valid `Date`, not in the future. Unset: the tokens carry no `auth_time`.
   */
  readonly authTime?: Date;
}

/** What `provider.authorize()` returns. */
export type AuthorizeResult<C extends Client = Client> =
  | { readonly type: 'consent'; readonly request: AuthorizationRequest<C> }
  | { readonly type: 'response'; readonly response: OAuthResponse; readonly error?: OAuthError };

/** @internal */
export type AuthorizeInternal<C extends Client = Client> =
  | { type: 'consent'; request: AuthorizationRequest<C> }
  | { type: 'response'; result: EndpointResult };

export type Validation<C extends Client> =
  | { kind: 'ok'; request: AuthorizationRequest<C> }
  | { kind: 'page'; error: OAuthError; clientId: string | null }
  | { kind: 'redirect'; error: OAuthError; client: C; redirectUri: string; state: string | null; fragment: boolean };

const PKCE_VALUE = /^[A-Za-z0-9\-._~]{43,128}$/;

/**
 * The requests `authorize()` handed out (frozen), each with the engine that validated it. When
 * the app passes the very same object to `completeAuthorization` — an automatic approval, or a
 * consent kept in an in-process session — its client is not looked up again. A copy, a
 * deserialized object or a query string always gets a fresh lookup.
 */
const handedOut = new WeakMap<object, object>();

/** Validates an authorization request's parameters (`pushed`: they came from a pushed request). */
export async function validate<U extends User, C extends Client>(
  e: Engine<U, C>,
  p: Params,
  query: string,
  known?: C,
  pushed = false,
): Promise<Validation<C>> {
  const clientId = p.client_id;
  if (!clientId) return { kind: 'page', error: new InvalidRequestError('client_id is required'), clientId: null };
  const client = known !== undefined && known.id === clientId ? known : await findClient(e, clientId);
  if (!client) return { kind: 'page', error: new InvalidRequestError('Unknown client'), clientId };
  let redirectUri = p.redirect_uri;
  const redirectUriSent = redirectUri !== undefined;
  if (redirectUri === undefined) {
    if (client.redirectUris.length !== 1) {
      return { kind: 'page', error: new InvalidRequestError('redirect_uri is required'), clientId };
    }
    redirectUri = client.redirectUris[0]!;
  } else if (!client.redirectUris.includes(redirectUri)) {
    return { kind: 'page', error: new InvalidRequestError('redirect_uri is not registered for this client'), clientId };
  }
  const state = p.state ?? null;
  const rt = p.response_type;
  const fragment = rt === 'token';
  const fail = (error: OAuthError): Validation<C> => ({ kind: 'redirect', error, client, redirectUri, state, fragment });
  // RFC 9126 section 5 (server-wide) and 6 (per client): requests that must be pushed.
  if (!pushed && (e.o.par.required || client.requirePushedAuthorizationRequests === true)) {
    return fail(new InvalidRequestError('This client must use a pushed authorization request (request_uri)'));
  }
  if (rt === undefined || rt === '') return fail(new InvalidRequestError('response_type is required'));
  if (rt === 'code') {
    if (!e.o.grants.has('authorization_code')) return fail(new UnsupportedResponseTypeError("response_type 'code' is not enabled"));
    if (!allows(e, client, 'authorization_code'))
      return fail(new UnauthorizedClientError('This client may not use the authorization code grant'));
  } else if (rt === 'token') {
    if (!e.o.grants.has('implicit')) return fail(new UnsupportedResponseTypeError("response_type 'token' is not enabled"));
    if (!allows(e, client, 'implicit')) return fail(new UnauthorizedClientError('This client may not use the implicit grant'));
  } else {
    return fail(new UnsupportedResponseTypeError('Unsupported response_type'));
  }
  const scopes = resolveScopes(e, client, p.scope);
  if (isOAuthError(scopes)) return fail(scopes);
  // RFC 8707 section 2.1: a resource the server does not accept is `invalid_target`, redirected.
  const resources = checkResources(e, client, resourceValues(p));
  if (isOAuthError(resources)) return fail(resources);

  let codeChallenge: string | null = null;
  let codeChallengeMethod: 'S256' | 'plain' | null = null;
  if (rt === 'code') {
    const challenge = p.code_challenge;
    const method = p.code_challenge_method;
    if (challenge === undefined) {
      if (method !== undefined) return fail(new InvalidRequestError('code_challenge_method without code_challenge'));
      const pub = client.secretHash === null || client.secretHash === undefined;
      if (e.o.pkce.required === 'all' || (e.o.pkce.required === 'public' && pub)) {
        return fail(new InvalidRequestError('code_challenge is required (PKCE, S256)'));
      }
    } else {
      // RFC 7636 section 4.3: an absent method means "plain".
      const m = method ?? 'plain';
      if (m !== 'S256' && m !== 'plain') return fail(new InvalidRequestError('code_challenge_method must be S256'));
      if (m === 'plain' && !e.o.pkce.allowPlain) return fail(new InvalidRequestError('code_challenge_method must be S256'));
      if (!PKCE_VALUE.test(challenge)) return fail(new InvalidRequestError('code_challenge is malformed'));
      codeChallenge = challenge;
      codeChallengeMethod = m;
    }
  }
  // RFC 9449 section 10: dpop_jkt binds the code to the key of the client's DPoP proofs.
  let dpopJkt: string | null = null;
  if (e.o.dpop.enabled && p.dpop_jkt !== undefined) {
    if (rt !== 'code') return fail(new InvalidRequestError('dpop_jkt is only for response_type code'));
    if (!JKT.test(p.dpop_jkt)) return fail(new InvalidRequestError('dpop_jkt is malformed'));
    dpopJkt = p.dpop_jkt;
  }
  return {
    kind: 'ok',
    request: {
      client,
      responseType: rt,
      redirectUri,
      redirectUriSent,
      scopes,
      resources,
      state,
      codeChallenge,
      codeChallengeMethod,
      dpopJkt,
      pushed,
      query,
    },
  };
}

/** The query string that stands for a pushed request: `client_id` and `request_uri` only. */
function pushedQuery(p: Params): string {
  return new URLSearchParams({ client_id: p.client_id!, request_uri: p.request_uri! }).toString();
}

function sameValues(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * RFC 9126 section 4: an authorization request that names a `request_uri` takes its parameters
 * from the pushed request, for the client that pushed it, within its lifetime. Reading
 * (`use: false`, the authorization endpoint) leaves it in place; using (`use: true`, the decision)
 * removes it atomically, so one decision wins. Another parameter sent beside `request_uri` must
 * equal the pushed one.
 * @returns the pushed parameters, `null` when the request names no `request_uri`, or the error
 *   (answered on a page: the redirect URI is not known to be the client's yet).
 */
async function fromPushed<U extends User, C extends Client>(e: Engine<U, C>, p: Params, use: boolean): Promise<Params | OAuthError | null> {
  const requestUri = p.request_uri;
  if (requestUri === undefined) return null;
  const store = e.s.ephemeral;
  if (!e.o.par.enabled || !store) return new InvalidRequestError('request_uri is not supported');
  if (!p.client_id) return new InvalidRequestError('client_id is required');
  const key = pushedRequestKey(requestUri);
  if (key === null) return new InvalidRequestUriError('request_uri is malformed');
  const r = await loadPushedRequest(store, key, use);
  const window = (e.o.par.expiresIn + (use ? e.o.par.consentWindow : 0)) * 1000;
  if (r === null || r.clientId !== p.client_id || Date.now() >= r.pushedAt + window) return new InvalidRequestUriError();
  const pushed = parseParams(r.query);
  if (isOAuthError(pushed)) return new InvalidRequestUriError();
  for (const [k, v] of Object.entries(p)) {
    if (k === 'client_id' || k === 'request_uri') continue;
    const same = k === 'resource' ? sameValues(resourceValues(p), resourceValues(pushed)) : pushed[k] === v;
    if (!same) return new InvalidRequestError(`Parameter '${safeName(k)}' differs from the pushed authorization request`);
  }
  return pushed;
}

/** Builds the redirect back to the client (query for `code`, fragment for `token`), with `iss` (RFC 9207). */
function redirectTo(e: Engine, uri: string, fragment: boolean, values: Record<string, string | null>): OAuthResponse {
  const url = new URL(uri);
  const params = fragment ? new URLSearchParams() : url.searchParams;
  for (const [k, v] of Object.entries(values)) if (v !== null) params.set(k, v);
  params.set('iss', e.o.issuer);
  if (fragment) url.hash = params.toString();
  return redirect(url.toString());
}

function pageError(e: Engine, error: OAuthError): OAuthResponse {
  if (e.o.errorUri) {
    const url = new URL(e.o.errorUri, e.o.issuer);
    url.searchParams.set('error', error.error);
    url.searchParams.set('error_description', error.message);
    return redirect(url.toString());
  }
  return errorResponse(error);
}

function failure<C extends Client>(e: Engine, v: Exclude<Validation<C>, { kind: 'ok' }>): EndpointResult {
  if (v.kind === 'page') {
    return failResult(v.error, pageError(e, v.error), v.clientId);
  }
  const response = redirectTo(e, v.redirectUri, v.fragment, {
    error: v.error.error,
    error_description: v.error.message,
    state: v.state,
  });
  return failResult(v.error, response, v.client.id);
}

function requestParams(req: OAuthRequest): Params | OAuthError | 'method' {
  if (req.method === 'GET' || req.method === 'HEAD') return parseParams(queryOf(req.url));
  if (req.method === 'POST') return isForm(req) ? formBody(req) : parseParams(queryOf(req.url));
  return 'method';
}

/** The authorization endpoint: validation up to consent. */
export async function authorizeEndpoint<U extends User, C extends Client>(
  e: Engine<U, C>,
  req: OAuthRequest,
): Promise<AuthorizeInternal<C>> {
  const p = requestParams(req);
  if (p === 'method') {
    return { type: 'response', result: failResult(new InvalidRequestError('Method not allowed'), methodNotAllowed('GET, POST')) };
  }
  if (isOAuthError(p)) {
    return {
      type: 'response',
      result: failResult(p, pageError(e, p)),
    };
  }
  const pushed = await fromPushed(e, p, false);
  if (isOAuthError(pushed)) return { type: 'response', result: failResult(pushed, pageError(e, pushed), p.client_id ?? null) };
  const v = pushed === null ? await validate(e, p, toQuery(p)) : await validate(e, pushed, pushedQuery(p), undefined, true);
  if (v.kind === 'ok') {
    // Frozen, so the object that comes back to completeAuthorization is the one validated here.
    const request = Object.freeze(v.request);
    handedOut.set(request, e);
    return { type: 'consent', request };
  }
  return { type: 'response', result: failure(e, v) };
}

/** Applies the user's decision: the redirect with a code or token, or `access_denied`. */
export async function completeAuthorization<U extends User, C extends Client>(
  e: Engine<U, C>,
  request: AuthorizationRequest<C> | string,
  decision: AuthorizationDecision,
  httpRequest: OAuthRequest,
): Promise<EndpointResult> {
  const query = typeof request === 'string' ? request.replace(/^\?/, '') : request?.query;
  if (typeof query !== 'string') throw new TypeError('completeAuthorization needs the AuthorizationRequest or its query string');
  const p = parseParams(query);
  if (isOAuthError(p)) return failResult(p, pageError(e, p));
  const ours = typeof request === 'object' && handedOut.get(request) === e;
  const known = ours ? request.client : undefined;
  const pushed = await fromPushed(e, p, true);
  if (isOAuthError(pushed)) return failResult(pushed, pageError(e, pushed), p.client_id ?? null);
  const v = pushed === null ? await validate(e, p, query, known) : await validate(e, pushed, query, known, true);
  if (v.kind !== 'ok') return failure(e, v);
  const r = v.request;
  const fragment = r.responseType === 'token';
  const base = { clientId: r.client.id, userId: null, grantType: null, issuedGrantId: null } as const;

  let userId = decision?.approved ? decision.userId : undefined;
  if (decision?.approved && userId === undefined && e.s.currentUser) {
    const user = await e.s.currentUser(httpRequest);
    userId = user?.id;
  }
  if (!decision?.approved || typeof userId !== 'string' || userId === '') {
    const error = new AccessDeniedError();
    const response = redirectTo(e, r.redirectUri, fragment, { error: error.error, error_description: error.message, state: r.state });
    return { ...base, response, error, scopes: null };
  }
  const scopes = decision.scopes ? r.scopes.filter((s) => decision.scopes!.includes(s)) : r.scopes;
  const grantId = newGrantId();
  if (r.responseType === 'token') {
    const tokenScopes = scopesFor(e, r.resources, scopes);
    const body = await issueTokens(
      e,
      {
        clientId: r.client.id,
        userId,
        scopes: tokenScopes,
        grantId,
        grantType: 'implicit',
        withRefresh: false,
        audience: r.resources,
        authTime: decision.authTime,
      },
      r.client,
    );
    const response = redirectTo(e, r.redirectUri, true, {
      access_token: body.access_token,
      token_type: body.token_type,
      expires_in: String(body.expires_in),
      scope: body.scope ?? null,
      state: r.state,
    });
    return { ...base, userId, response, error: null, scopes: tokenScopes, issuedGrantId: grantId };
  }
  const code = randomToken();
  await e.s.saveGrant!({
    code: digestToken(code),
    clientId: r.client.id,
    userId,
    redirectUri: r.redirectUriSent ? r.redirectUri : null,
    scopes,
    expiresAt: new Date(Date.now() + e.o.lifetimes.authorizationCode * 1000),
    grantId,
    codeChallenge: r.codeChallenge,
    codeChallengeMethod: r.codeChallengeMethod,
    ...(r.resources.length > 0 ? { resources: [...r.resources] } : {}),
    ...(r.dpopJkt !== null ? { dpopJkt: r.dpopJkt } : {}),
    ...(decision.authTime !== undefined ? { authTime: decision.authTime } : {}),
  });
  const response = redirectTo(e, r.redirectUri, false, { code, state: r.state });
  return { ...base, userId, response, error: null, scopes, issuedGrantId: grantId };
}
