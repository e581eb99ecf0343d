/**
 * RFC 6749 section 4.1 (authorization code) and the authorization endpoint rules of section 3.1
 * it relies on, with RFC 9207 (`iss`) and RFC 9700 section 2.1 (exact redirect URI matching, codes
 * single-use, replay revokes what the code minted).
 *
 * RFC 6749 section 3.1: "The authorization server MUST support the use of the HTTP "GET" method
 *   [RFC2616] for the authorization endpoint and MAY support the use of the "POST" method as well."
 * RFC 6749 section 3.1: "Parameters sent without a value MUST be treated as if they were omitted
 *   from the request. The authorization server MUST ignore unrecognized request parameters.
 *   Request and response parameters MUST NOT be included more than once."
 * RFC 6749 section 3.1.1: "If an authorization request is missing the "response_type" parameter,
 *   or if the response type is not understood, the authorization server MUST return an error
 *   response as described in Section 4.1.2.1."
 * RFC 6749 section 3.3: "scope-token = 1*( %x21 / %x23-5B / %x5D-7E )" (so `"` is no scope
 *   character).
 * RFC 6749 section 4.1.1: response_type "REQUIRED. Value MUST be set to "code"." and client_id
 *   "REQUIRED. The client identifier as described in Section 2.2."
 * RFC 6749 section 4.1.2, code: "The authorization code MUST expire shortly after it is issued to
 *   mitigate the risk of leaks. ... The client MUST NOT use the authorization code more than once.
 *   If an authorization code is used more than once, the authorization server MUST deny the request
 *   and SHOULD revoke (when possible) all tokens previously issued based on that authorization
 *   code. The authorization code is bound to the client identifier and redirection URI."
 * RFC 6749 section 4.1.2, state: "REQUIRED if the "state" parameter was present in the client
 *   authorization request. The exact value received from the client."
 * RFC 6749 section 4.1.2.1: "If the request fails due to a missing, invalid, or mismatching
 *   redirection URI, or if the client identifier is missing or invalid, the authorization server
 *   SHOULD inform the resource owner of the error and MUST NOT automatically redirect the
 *   user-agent to the invalid redirection URI."
 * RFC 6749 section 4.1.2.1: "If the resource owner denies the access request or if the request
 *   fails for reasons other than a missing or invalid redirection URI, the authorization server
 *   informs the client by adding the following parameters to the query component of the
 *   redirection URI"
 * RFC 6749 section 4.1.2.1, errors: invalid_request "The request is missing a required parameter,
 *   includes an invalid parameter value, includes a parameter more than once, or is otherwise
 *   malformed."; unauthorized_client "The client is not authorized to request an authorization
 *   code using this method."; access_denied "The resource owner or authorization server denied
 *   the request."; unsupported_response_type "The authorization server does not support obtaining
 *   an authorization code using this method."; invalid_scope "The requested scope is invalid,
 *   unknown, or malformed."
 * RFC 6749 section 4.1.3: "The authorization server MUST: require client authentication for
 *   confidential clients or for any client that was issued client credentials (or with other
 *   authentication requirements), authenticate the client if client authentication is included,
 *   ensure that the authorization code was issued to the authenticated confidential client, or if
 *   the client is public, ensure that the code was issued to "client_id" in the request, verify
 *   that the authorization code is valid, and ensure that the "redirect_uri" parameter is present
 *   if the "redirect_uri" parameter was included in the initial authorization request as described
 *   in Section 4.1.1, and if included ensure that their values are identical."
 * RFC 6749 section 4.1.4: "If the access token request is valid and authorized, the authorization
 *   server issues an access token and optional refresh token as described in Section 5.1."
 * RFC 6749 section 5.1: "The authorization server MUST include the HTTP "Cache-Control" response
 *   header field [RFC2616] with a value of "no-store" in any response containing tokens,
 *   credentials, or other sensitive information, as well as the "Pragma" response header field
 *   [RFC2616] with a value of "no-cache"."
 * RFC 6749 section 5.2, invalid_grant: "The provided authorization grant (e.g., authorization code,
 *   resource owner credentials) or refresh token is invalid, expired, revoked, does not match the
 *   redirection URI used in the authorization request, or was issued to another client."
 */
import { describe, expect, it } from 'vitest';
import {
  authorizeUrl,
  basic,
  body,
  CB,
  confidential,
  currentStoreKind,
  exchange,
  form,
  get,
  getCode,
  ISSUER,
  location,
  makeProvider,
  pkce,
  publicClient,
  SECRET,
} from '../helpers.js';

describe('authorization request (4.1.1)', () => {
  it('hands a validated request to the app for consent', async () => {
    const { provider } = makeProvider();
    const a = await provider.authorize(
      get(
        authorizeUrl({
          response_type: 'code',
          client_id: 'conf',
          redirect_uri: CB,
          scope: 'read write',
          state: 'x y',
          code_challenge: pkce().challenge,
          code_challenge_method: 'S256',
        }),
      ),
    );
    expect(a.type).toBe('consent');
    if (a.type !== 'consent') return;
    expect(a.request.client.id).toBe('conf');
    expect(a.request.scopes).toEqual(['read', 'write']);
    expect(a.request.state).toBe('x y');
    expect(a.request.redirectUri).toBe(CB);
  });

  it('"If the request fails due to a missing, invalid, or mismatching redirection URI, or if the client identifier is missing or invalid, the authorization server ... MUST NOT automatically redirect"', async () => {
    const { provider } = makeProvider();
    for (const params of [
      { response_type: 'code', client_id: 'nobody', redirect_uri: CB },
      { response_type: 'code', redirect_uri: CB },
      { response_type: 'code', client_id: 'conf', redirect_uri: 'https://evil.example/cb' },
      { response_type: 'code', client_id: 'conf', redirect_uri: `${CB}/` },
      { response_type: 'code', client_id: 'conf', redirect_uri: `${CB}?x=1` },
      { response_type: 'code', client_id: 'conf' }, // two URIs registered: must be named
    ] as Record<string, string>[]) {
      const a = await provider.authorize(get(authorizeUrl(params)));
      expect(a.type).toBe('response');
      if (a.type !== 'response') continue;
      expect(a.response.status).toBe(400);
      expect(a.response.headers.Location).toBeUndefined();
      expect(body(a.response).error).toBe('invalid_request');
    }
  });

  it('sends the browser to errorUri for errors that must not be redirected, when configured (OAUTH2_PROVIDER_ERROR_URI)', async () => {
    const { provider } = makeProvider({ config: { OAUTH2_PROVIDER_ERROR_URI: '/oauth/errors' } });
    const a = await provider.authorize(get(authorizeUrl({ response_type: 'code', client_id: 'nobody' })));
    expect(a.type).toBe('response');
    if (a.type !== 'response') return;
    const loc = location(a.response);
    expect(loc.origin + loc.pathname).toBe(`${ISSUER}/oauth/errors`);
    expect(loc.searchParams.get('error')).toBe('invalid_request');
  });

  it('uses the only registered redirect URI when the request names none', async () => {
    const { provider } = makeProvider();
    const a = await provider.authorize(
      get(
        authorizeUrl({
          response_type: 'code',
          client_id: 'other',
          scope: 'read',
          code_challenge: pkce().challenge,
          code_challenge_method: 'S256',
        }),
      ),
    );
    expect(a.type).toBe('consent');
    if (a.type === 'consent') expect(a.request.redirectUri).toBe('https://other.example/cb');
  });

  it('redirects errors after the redirect URI is validated, with state and iss (4.1.2.1, RFC 9207)', async () => {
    const { provider } = makeProvider();
    const cases: [Record<string, string>, string][] = [
      [{ client_id: 'conf', redirect_uri: CB, state: 'st' }, 'invalid_request'],
      [{ response_type: 'bogus', client_id: 'conf', redirect_uri: CB, state: 'st' }, 'unsupported_response_type'],
      [{ response_type: 'code', client_id: 'conf', redirect_uri: CB, scope: 'read nope', state: 'st' }, 'invalid_scope'],
      [{ response_type: 'code', client_id: 'conf', redirect_uri: CB, scope: 'bad"scope', state: 'st' }, 'invalid_scope'],
    ];
    for (const [params, error] of cases) {
      const a = await provider.authorize(get(authorizeUrl(params)));
      expect(a.type).toBe('response');
      if (a.type !== 'response') continue;
      const loc = location(a.response);
      expect(loc.origin + loc.pathname).toBe(CB);
      expect(loc.searchParams.get('error')).toBe(error);
      expect(loc.searchParams.get('state')).toBe('st');
      expect(loc.searchParams.get('iss')).toBe(ISSUER);
    }
  });

  it('refuses repeated parameters ("Request and response parameters MUST NOT be included more than once")', async () => {
    const { provider } = makeProvider();
    // Both values are valid: without the check the request would reach consent.
    const a = await provider.authorize(
      get('/oauth/authorize?response_type=code&client_id=conf&client_id=conf&scope=read&redirect_uri=' + encodeURIComponent(CB)),
    );
    expect(a.type).toBe('response');
    if (a.type !== 'response') return;
    // An error page, not a redirect: which client (and so which redirect URI) is unknown.
    expect(a.response.status).toBe(400);
    expect(a.response.headers.Location).toBeUndefined();
    expect(body(a.response).error).toBe('invalid_request');
    expect(body(a.response).error_description).toMatch(/^Parameter .client_id. was given more than once$/);
  });

  it('"The authorization server MUST ignore unrecognized request parameters"', async () => {
    const { provider } = makeProvider();
    const a = await provider.authorize(
      get(
        authorizeUrl({
          response_type: 'code',
          client_id: 'conf',
          redirect_uri: CB,
          scope: 'read',
          state: 's',
          code_challenge: pkce().challenge,
          code_challenge_method: 'S256',
          unknown_parameter: 'x',
        }),
      ),
    );
    expect(a.type).toBe('consent');
    if (a.type === 'consent') expect(a.request.scopes).toEqual(['read']);
  });

  it('answers unauthorized_client when the client may not use the code grant', async () => {
    const { provider, stores } = makeProvider();
    stores.addClient({ ...confidential, id: 'cc-only', grantTypes: ['client_credentials'] });
    const a = await provider.authorize(get(authorizeUrl({ response_type: 'code', client_id: 'cc-only', redirect_uri: CB })));
    expect(a.type === 'response' && location(a.response).searchParams.get('error')).toBe('unauthorized_client');
  });

  it('refuses methods other than GET and POST with 405', async () => {
    const { provider } = makeProvider();
    const a = await provider.authorize({ method: 'PUT', url: '/oauth/authorize', headers: {} });
    expect(a.type === 'response' && a.response.status).toBe(405);
  });
});

describe('authorization response (4.1.2)', () => {
  it('redirects with code, state verbatim and iss', async () => {
    const { provider } = makeProvider();
    const { location: loc, code } = await getCode(provider);
    expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(loc.searchParams.get('state')).toBe('s-123');
    expect(loc.searchParams.get('iss')).toBe(ISSUER);
  });

  it('access_denied ("The resource owner or authorization server denied the request"), to the validated redirect URI only', async () => {
    const { provider } = makeProvider();
    const a = await provider.authorize(
      get(
        authorizeUrl({
          response_type: 'code',
          client_id: 'conf',
          redirect_uri: 'https://app.example/other',
          state: 'q',
          code_challenge: pkce().challenge,
          code_challenge_method: 'S256',
        }),
      ),
    );
    if (a.type !== 'consent') throw new Error('expected consent');
    const r = await provider.completeAuthorization(a.request, { approved: false });
    const loc = location(r);
    expect(loc.origin + loc.pathname).toBe('https://app.example/other');
    expect(loc.searchParams.get('error')).toBe('access_denied');
    expect(loc.searchParams.get('state')).toBe('q');
    expect(loc.searchParams.get('code')).toBeNull();
  });

  it('validates the request again on decision: a tampered redirect URI is never used', async () => {
    const { provider } = makeProvider();
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: 'conf',
      redirect_uri: 'https://evil.example/cb',
      state: 'q',
    }).toString();
    const r = await provider.completeAuthorization(query, { approved: false });
    expect(r.status).toBe(400);
    expect(r.headers.Location).toBeUndefined();
  });

  it('reuses the client only for the very request object authorize() handed out; copies are looked up again', async () => {
    const { provider, stores } = makeProvider();
    let lookups = 0;
    provider.clientGetter(async (id) => {
      lookups++;
      return stores.clients.getClient(id);
    });
    const url = authorizeUrl({
      response_type: 'code',
      client_id: 'conf',
      redirect_uri: CB,
      state: 's',
      code_challenge: pkce().challenge,
      code_challenge_method: 'S256',
    });
    const a = await provider.authorize(get(url));
    if (a.type !== 'consent') throw new Error('expected consent');
    expect(Object.isFrozen(a.request)).toBe(true);
    expect(lookups).toBe(1);
    const same = await provider.completeAuthorization(a.request, { approved: true, userId: 'u1' });
    expect(location(same).searchParams.get('code')).toBeTruthy();
    expect(lookups).toBe(1);
    // A copy (as from a session store or a form) whose client was tampered with: fetched afresh,
    // so the forged redirect URI list is not believed.
    const forged = { ...a.request, client: { ...a.request.client, redirectUris: ['https://evil.example/cb'] } };
    const viaCopy = await provider.completeAuthorization(forged, { approved: true, userId: 'u1' });
    expect(lookups).toBe(2);
    expect(location(viaCopy).origin).toBe('https://app.example');
    await provider.completeAuthorization(a.request.query, { approved: true, userId: 'u1' });
    expect(lookups).toBe(3);
    // Another provider given this provider's request looks the client up itself.
    const second = makeProvider().provider;
    await second.completeAuthorization(a.request, { approved: true, userId: 'u1' });
    expect(lookups).toBe(3);
  });

  it('lets the user narrow the scopes', async () => {
    const { provider } = makeProvider();
    const { challenge, verifier } = pkce();
    const a = await provider.authorize(
      get(
        authorizeUrl({
          response_type: 'code',
          client_id: 'conf',
          redirect_uri: CB,
          scope: 'read write',
          code_challenge: challenge,
          code_challenge_method: 'S256',
        }),
      ),
    );
    if (a.type !== 'consent') throw new Error('expected consent');
    const r = await provider.completeAuthorization(a.request, { approved: true, userId: 'u1', scopes: ['read', 'admin'] });
    const t = await exchange(provider, location(r).searchParams.get('code')!, verifier);
    expect(body(t).scope).toBe('read');
  });

  it('asks the registered currentUser when the decision names no user', async () => {
    const { provider } = makeProvider();
    provider.setCurrentUser((req) => (req.headers['x-user'] === 'bob' ? { id: 'u-bob' } : null));
    const { challenge, verifier } = pkce();
    const a = await provider.authorize(
      get(
        authorizeUrl({
          response_type: 'code',
          client_id: 'conf',
          redirect_uri: CB,
          scope: 'read',
          code_challenge: challenge,
          code_challenge_method: 'S256',
        }),
      ),
    );
    if (a.type !== 'consent') throw new Error('expected consent');
    const anonymous = await provider.completeAuthorization(a.request, { approved: true }, get('/consent'));
    expect(location(anonymous).searchParams.get('error')).toBe('access_denied');
    const r = await provider.completeAuthorization(a.request, { approved: true }, get('/consent', { 'x-user': 'bob' }));
    const t = await exchange(provider, location(r).searchParams.get('code')!, verifier);
    const intro = await provider.introspect(
      form({ token: body(t).access_token as string }, { authorization: basic('conf', SECRET) }, '/oauth/introspect'),
    );
    expect(body(intro).sub).toBe('u-bob');
  });
});

describe('access token request (4.1.3)', () => {
  it('issues tokens for a valid code, with no-store headers (5.1)', async () => {
    const { provider } = makeProvider();
    const { code, verifier } = await getCode(provider);
    const r = await exchange(provider, code, verifier);
    expect(r.status).toBe(200);
    expect(r.headers['Cache-Control']).toBe('no-store');
    expect(r.headers.Pragma).toBe('no-cache');
    const b = body(r);
    expect(b.token_type).toBe('Bearer');
    expect(b.expires_in).toBe(3600);
    expect(b.scope).toBe('read write');
    expect(typeof b.access_token).toBe('string');
    expect(typeof b.refresh_token).toBe('string');
  });

  it('"If an authorization code is used more than once, the authorization server MUST deny the request and SHOULD revoke (when possible) all tokens previously issued based on that authorization code"', async () => {
    const { provider } = makeProvider();
    const { code, verifier } = await getCode(provider);
    const first = body(await exchange(provider, code, verifier));
    const again = await exchange(provider, code, verifier);
    expect(again.status).toBe(400);
    expect(body(again).error).toBe('invalid_grant');
    const check = await provider.verifyAccessToken(get('/api', { authorization: `Bearer ${first.access_token}` }));
    expect(check.ok).toBe(false);
    const refresh = await provider.token(
      form({ grant_type: 'refresh_token', refresh_token: first.refresh_token as string }, { authorization: basic('conf', SECRET) }),
    );
    expect(body(refresh).error).toBe('invalid_grant');
  });

  it('gives exactly one winner to concurrent redemptions of one code', async () => {
    const { provider } = makeProvider();
    const { code, verifier } = await getCode(provider);
    const results = await Promise.all(Array.from({ length: 20 }, () => exchange(provider, code, verifier)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => body(r).error === 'invalid_grant')).toHaveLength(19);
  });

  it('binds the code to the client it was issued to', async () => {
    const { provider } = makeProvider();
    const { code, verifier } = await getCode(provider);
    const r = await exchange(provider, code, verifier, CB, basic('other', 'other-secret'));
    expect(r.status).toBe(400);
    expect(body(r).error).toBe('invalid_grant');
    // With the memory stores (codes kept per client) the rightful client can still redeem it. A
    // store that hands a code to whichever client asks (legal: core checks the client) has spent it.
    expect((await exchange(provider, code, verifier)).status).toBe(currentStoreKind() === 'memory' ? 200 : 400);
  });

  it('"ensure that the "redirect_uri" parameter is present if the "redirect_uri" parameter was included in the initial authorization request ... and if included ensure that their values are identical"', async () => {
    const { provider } = makeProvider();
    for (const redirectUri of ['https://app.example/other', undefined]) {
      const { code, verifier } = await getCode(provider);
      const params: Record<string, string> = { grant_type: 'authorization_code', code, code_verifier: verifier };
      if (redirectUri) params.redirect_uri = redirectUri;
      const r = await provider.token(form(params, { authorization: basic('conf', SECRET) }));
      expect(body(r).error).toBe('invalid_grant');
    }
  });

  it('"require client authentication for confidential clients": 401 invalid_client, and the code is not spent', async () => {
    const { provider } = makeProvider();
    const { code, verifier } = await getCode(provider);
    const r = await provider.token(
      form({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: CB, client_id: 'conf' }),
    );
    expect(r.status).toBe(401);
    expect(body(r).error).toBe('invalid_client');
    expect(r.headers).toEqual({ 'Content-Type': 'application/json;charset=UTF-8', 'Cache-Control': 'no-store', Pragma: 'no-cache' });
    expect((await exchange(provider, code, verifier)).status).toBe(200);
  });

  it('"if the client is public, ensure that the code was issued to "client_id" in the request"', async () => {
    const { provider, stores } = makeProvider();
    stores.addClient({ ...publicClient, id: 'pub-2' });
    const { code, verifier } = await getCode(provider, { client: publicClient, scope: 'read' });
    const redeem = (clientId: string) =>
      provider.token(
        form({
          grant_type: 'authorization_code',
          code,
          code_verifier: verifier,
          redirect_uri: publicClient.redirectUris[0]!,
          client_id: clientId,
        }),
      );
    const stolen = await redeem('pub-2');
    expect(stolen.status).toBe(400);
    expect(body(stolen).error).toBe('invalid_grant');
    expect(stolen.headers).toEqual({ 'Content-Type': 'application/json;charset=UTF-8', 'Cache-Control': 'no-store', Pragma: 'no-cache' });
    // As for confidential clients: the memory stores keep codes per client, a permissive store has spent it.
    expect((await redeem('pub')).status).toBe(currentStoreKind() === 'memory' ? 200 : 400);
  });

  it('refuses unknown, empty and expired codes', async () => {
    const { provider } = makeProvider({ lifetimes: { authorizationCode: 0.05 } });
    const { code, verifier } = await getCode(provider);
    await new Promise((r) => setTimeout(r, 80));
    expect(body(await exchange(provider, code, verifier)).error).toBe('invalid_grant');
    expect(body(await exchange(provider, 'made-up', verifier)).error).toBe('invalid_grant');
    for (const params of [
      { grant_type: 'authorization_code', redirect_uri: CB } as Record<string, string>,
      { grant_type: 'authorization_code', code: '', redirect_uri: CB },
    ]) {
      const r = await provider.token(form(params, { authorization: basic('conf', SECRET) }));
      expect(r.status).toBe(400);
      expect(body(r)).toEqual({ error: 'invalid_request', error_description: 'code is required' });
    }
  });
});
