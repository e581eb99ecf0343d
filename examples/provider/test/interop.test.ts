/**
 * Interoperability: oauth4webapi, the strictest client, drives the running app over loopback
 * HTTP. The login and consent pages are driven with fetch and a cookie jar. Beside the default
 * app (opaque tokens, PAR and DPoP on), a second app issues JWT access tokens for a resource
 * (RFC 8707), requires PAR and DPoP server nonces; its tokens are verified by `jose` against the
 * remote JWKS and by oauth4webapi's `validateJwtAccessToken`.
 */
import { type JsonWebKey, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, authorizeThroughPages, CB, CookieClient, location, type Started, startApp, TRICKY_SECRET } from './helpers.js';

/**
 * `jose`, the library resource servers verify JWTs with, taken from `@portcullis/resource-server`'s
 * dependencies (this package does not list it); typed here for the calls used.
 */
interface Jose {
  createRemoteJWKSet(url: URL): unknown;
  jwtVerify(
    token: string,
    keys: unknown,
    options: { issuer: string; audience: string; typ: string; algorithms: string[] },
  ): Promise<{ payload: Record<string, unknown>; protectedHeader: Record<string, unknown> }>;
  calculateJwkThumbprint(jwk: JsonWebKey): Promise<string>;
}
const jose = (await import(
  pathToFileURL(createRequire(new URL('../../../packages/resource-server/package.json', import.meta.url)).resolve('jose')).href
)) as Jose;

const insecure = { [oauth.allowInsecureRequests]: true } as const;

let s: Started;
let as: oauth.AuthorizationServer;
const app: oauth.Client = { client_id: 'interop-app' };
const basic = oauth.ClientSecretBasic(TRICKY_SECRET);

beforeAll(async () => {
  s = await startApp();
  const issuer = new URL(s.app.issuer);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
});
afterAll(async () => {
  await s?.close();
});

/** Runs the code flow with PKCE for a client and returns the token response. */
async function codeFlow(client: oauth.Client, auth: oauth.ClientAuth, scope: string) {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const url = new URL(as.authorization_endpoint!);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: CB,
    scope,
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  }).toString();
  const callback = await authorizeThroughPages(new CookieClient(s.app.url), url.toString());
  const params = oauth.validateAuthResponse(as, client, callback, state);
  const res = await oauth.authorizationCodeGrantRequest(as, client, auth, params, CB, verifier, insecure);
  return oauth.processAuthorizationCodeResponse(as, client, res);
}

/**
 * Calls a protected resource. oauth4webapi throws on a `WWW-Authenticate` challenge; the
 * challenge and the response are taken from the error then.
 */
async function resource(token: string, path = '/api/me') {
  try {
    const r = await oauth.protectedResourceRequest(token, 'GET', new URL(`${s.app.url}${path}`), undefined, undefined, insecure);
    return { status: r.status, body: (await r.json()) as unknown, challenges: [] as oauth.WWWAuthenticateChallenge[] };
  } catch (err) {
    if (!(err instanceof oauth.WWWAuthenticateChallengeError)) throw err;
    return { status: err.status, body: (await err.response.json()) as unknown, challenges: err.cause };
  }
}

const me = (token: string) => resource(token);

/** Expects an OAuth error response, whether oauth4webapi reports it by its body or by its challenge. */
async function expectOAuthError(p: Promise<unknown>, error: string) {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  if (err instanceof oauth.WWWAuthenticateChallengeError) {
    expect(((await err.response.json()) as { error?: string }).error).toBe(error);
    return;
  }
  expect(err).toBeInstanceOf(oauth.ResponseBodyError);
  expect((err as oauth.ResponseBodyError).error).toBe(error);
}

describe('oauth4webapi interop', () => {
  it('discovers the server metadata (RFC 8414)', () => {
    expect(as.issuer).toBe(s.app.issuer);
    expect(as.token_endpoint).toBe(`${s.app.issuer}/oauth/token`);
    expect(as.authorization_endpoint).toBe(`${s.app.issuer}/oauth/authorize`);
    expect(as.revocation_endpoint).toBe(`${s.app.issuer}/oauth/revoke`);
    expect(as.introspection_endpoint).toBe(`${s.app.issuer}/oauth/introspect`);
    expect(as.code_challenge_methods_supported).toEqual(['S256']);
    expect(as.authorization_response_iss_parameter_supported).toBe(true);
  });

  it('runs the authorization code flow with PKCE, client_secret_basic and a secret with : + / % & = and a space', async () => {
    const tokens = await codeFlow(app, basic, 'read write');
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.scope).toBe('read write');
    expect(typeof tokens.refresh_token).toBe('string');
    const r = await me(tokens.access_token);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ sub: ALICE.subject, client_id: 'interop-app', scopes: ['read', 'write'] });
  });

  it('runs the code flow for a public client (PKCE, no secret)', async () => {
    const client: oauth.Client = { client_id: 'interop-public', token_endpoint_auth_method: 'none' };
    const tokens = await codeFlow(client, oauth.None(), 'read');
    expect((await me(tokens.access_token)).status).toBe(200);
  });

  it('rotates refresh tokens and refuses the old one afterwards', async () => {
    const first = await codeFlow(app, basic, 'read');
    const second = await oauth.processRefreshTokenResponse(
      as,
      app,
      await oauth.refreshTokenGrantRequest(as, app, basic, first.refresh_token!, insecure),
    );
    expect(second.refresh_token).toBeTypeOf('string');
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect((await me(second.access_token)).status).toBe(200);
    await expectOAuthError(
      oauth.processRefreshTokenResponse(as, app, await oauth.refreshTokenGrantRequest(as, app, basic, first.refresh_token!, insecure)),
      'invalid_grant',
    );
  });

  it('introspects an access token (RFC 7662)', async () => {
    const tokens = await codeFlow(app, basic, 'read');
    const info = await oauth.processIntrospectionResponse(
      as,
      app,
      await oauth.introspectionRequest(as, app, basic, tokens.access_token, insecure),
    );
    expect(info.active).toBe(true);
    expect(info.client_id).toBe('interop-app');
    expect(info.scope).toBe('read');
    expect(info.sub).toBe(ALICE.subject);
  });

  it('revokes an access token (RFC 7009): the API and introspection refuse it afterwards', async () => {
    const tokens = await codeFlow(app, basic, 'read');
    expect((await me(tokens.access_token)).status).toBe(200);
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, app, basic, tokens.access_token, insecure));
    const after = await me(tokens.access_token);
    expect(after.status).toBe(401);
    expect(after.challenges[0]?.parameters.error).toBe('invalid_token');
    const info = await oauth.processIntrospectionResponse(
      as,
      app,
      await oauth.introspectionRequest(as, app, basic, tokens.access_token, insecure),
    );
    expect(info.active).toBe(false);
  });

  it('revokes a refresh token: it can no longer be used', async () => {
    const tokens = await codeFlow(app, basic, 'read');
    await oauth.processRevocationResponse(
      await oauth.revocationRequest(as, app, basic, tokens.refresh_token!, {
        ...insecure,
        additionalParameters: { token_type_hint: 'refresh_token' },
      }),
    );
    await expectOAuthError(
      oauth.processRefreshTokenResponse(as, app, await oauth.refreshTokenGrantRequest(as, app, basic, tokens.refresh_token!, insecure)),
      'invalid_grant',
    );
  });

  it('issues tokens by client credentials, and the admin API accepts the admin scope', async () => {
    const tokens = await oauth.processClientCredentialsResponse(
      as,
      app,
      await oauth.clientCredentialsGrantRequest(as, app, basic, { scope: 'read admin' }, insecure),
    );
    expect(tokens.scope).toBe('read admin');
    expect(tokens.refresh_token).toBeUndefined();
    const r = await resource(tokens.access_token, '/api/admin');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ sub: null, client_id: 'interop-app', admin: true });
  });

  it('refuses /api/admin to a token without the admin scope (403 insufficient_scope)', async () => {
    const tokens = await oauth.processClientCredentialsResponse(
      as,
      app,
      await oauth.clientCredentialsGrantRequest(as, app, basic, { scope: 'read' }, insecure),
    );
    const r = await resource(tokens.access_token, '/api/admin');
    expect(r.status).toBe(403);
    expect(r.challenges[0]?.scheme).toBe('bearer');
    expect(r.challenges[0]?.parameters.error).toBe('insufficient_scope');
    expect(r.challenges[0]?.parameters.scope).toBe('admin');
  });

  it('refuses a wrong secret with invalid_client', async () => {
    await expectOAuthError(
      oauth.processClientCredentialsResponse(
        as,
        app,
        await oauth.clientCredentialsGrantRequest(as, app, oauth.ClientSecretBasic(`${TRICKY_SECRET}!`), { scope: 'read' }, insecure),
      ),
      'invalid_client',
    );
  });
});

/** Runs `step` again once when the server answered `use_dpop_nonce` (the handle has learnt the nonce). */
async function withNonce<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err;
    return step();
  }
}

/** A resource call with a DPoP proof; the status, body and challenges. */
async function dpopResource(base: string, token: string, dpop: oauth.DPoPHandle, path = '/api/me') {
  const call = () =>
    oauth.protectedResourceRequest(token, 'GET', new URL(`${base}${path}`), undefined, undefined, { DPoP: dpop, ...insecure });
  try {
    const r = await withNonce(call);
    return { status: r.status, body: (await r.json()) as unknown, challenges: [] as oauth.WWWAuthenticateChallenge[] };
  } catch (err) {
    if (!(err instanceof oauth.WWWAuthenticateChallengeError)) throw err;
    return { status: err.status, body: (await err.response.json()) as unknown, challenges: err.cause };
  }
}

/** The authorization step through the pages; `url` is the full authorization request. */
async function authorizeAt(base: string, client: oauth.Client, server: oauth.AuthorizationServer, url: URL, state: string) {
  const callback = await authorizeThroughPages(new CookieClient(base), url.toString());
  return oauth.validateAuthResponse(server, client, callback, state);
}

describe('oauth4webapi interop: DPoP (RFC 9449) and PAR (RFC 9126) on the default app', () => {
  const pub: oauth.Client = { client_id: 'interop-public', token_endpoint_auth_method: 'none' };

  it('advertises the PAR endpoint and the DPoP algorithms', () => {
    expect(as.pushed_authorization_request_endpoint).toBe(`${s.app.issuer}/oauth/par`);
    expect(as.dpop_signing_alg_values_supported).toContain('ES256');
    expect(as.require_pushed_authorization_requests).not.toBe(true);
  });

  it('DPoP() with a generated key: code flow with PKCE, the API, a refresh, the API again', async () => {
    const keys = await oauth.generateKeyPair('ES256');
    const dpop = oauth.DPoP(pub, keys);
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: pub.client_id,
      redirect_uri: CB,
      scope: 'read',
      state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    }).toString();
    const params = await authorizeAt(s.app.url, pub, as, url, state);
    const tokens = await withNonce(async () =>
      oauth.processAuthorizationCodeResponse(
        as,
        pub,
        await oauth.authorizationCodeGrantRequest(as, pub, oauth.None(), params, CB, verifier, { DPoP: dpop, ...insecure }),
      ),
    );
    expect(tokens.token_type).toBe('dpop');
    const r = await dpopResource(s.app.url, tokens.access_token, dpop);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ sub: ALICE.subject, client_id: 'interop-public', scopes: ['read'] });

    // The bound token is useless as a bearer token, and with another key's proof.
    const asBearer = await me(tokens.access_token);
    expect(asBearer.status).toBe(401);
    expect(asBearer.challenges.map((c) => c.scheme)).toContain('dpop');
    const thief = oauth.DPoP(pub, await oauth.generateKeyPair('ES256'));
    const stolen = await dpopResource(s.app.url, tokens.access_token, thief);
    expect(stolen.status).toBe(401);
    expect(JSON.stringify(stolen.body)).toMatch(/invalid_(dpop_proof|token)/);

    // A public client's refresh token is bound to the key: another key cannot use it; ours can.
    await expectOAuthError(
      oauth.processRefreshTokenResponse(
        as,
        pub,
        await oauth.refreshTokenGrantRequest(as, pub, oauth.None(), tokens.refresh_token!, { DPoP: thief, ...insecure }),
      ),
      'invalid_dpop_proof',
    );
    const refreshed = await withNonce(async () =>
      oauth.processRefreshTokenResponse(
        as,
        pub,
        await oauth.refreshTokenGrantRequest(as, pub, oauth.None(), tokens.refresh_token!, { DPoP: dpop, ...insecure }),
      ),
    );
    expect(refreshed.token_type).toBe('dpop');
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect((await dpopResource(s.app.url, refreshed.access_token, dpop)).status).toBe(200);
  });

  it('pushedAuthorizationRequest: the pushed request is authorized by its request_uri, once', async () => {
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const pushed = await oauth.processPushedAuthorizationResponse(
      as,
      app,
      await oauth.pushedAuthorizationRequest(
        as,
        app,
        basic,
        {
          response_type: 'code',
          redirect_uri: CB,
          scope: 'read write',
          state,
          code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
        },
        insecure,
      ),
    );
    expect(pushed.request_uri).toMatch(/^urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]{43}$/);
    expect(pushed.expires_in).toBeGreaterThan(0);
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({ client_id: app.client_id, request_uri: pushed.request_uri }).toString();
    const params = await authorizeAt(s.app.url, app, as, url, state);
    const tokens = await oauth.processAuthorizationCodeResponse(
      as,
      app,
      await oauth.authorizationCodeGrantRequest(as, app, basic, params, CB, verifier, insecure),
    );
    expect(tokens.scope).toBe('read write');
    expect((await me(tokens.access_token)).status).toBe(200);
    // Used up: the same request_uri is refused on an error page, never redirected to the client.
    const again = await new CookieClient(s.app.url).get(url.toString());
    expect(again.status).toBe(400);
    expect(again.headers.get('location')).toBeNull();
    expect(await again.text()).toContain('invalid_request_uri');
  });

  it('PAR hostile input: request_uri inside a push, a wrong secret, an unknown or oversize request_uri', async () => {
    await expectOAuthError(
      oauth.processPushedAuthorizationResponse(
        as,
        app,
        await oauth.pushedAuthorizationRequest(
          as,
          app,
          basic,
          { response_type: 'code', redirect_uri: CB, request_uri: 'urn:ietf:params:oauth:request_uri:x' },
          insecure,
        ),
      ),
      'invalid_request',
    );
    await expectOAuthError(
      oauth.processPushedAuthorizationResponse(
        as,
        app,
        await oauth.pushedAuthorizationRequest(as, app, oauth.ClientSecretBasic(`${TRICKY_SECRET}!`), { response_type: 'code' }, insecure),
      ),
      'invalid_client',
    );
    for (const requestUri of [
      'urn:ietf:params:oauth:request_uri:unknownunknownunknownunknownunknownunknown1',
      `urn:ietf:params:oauth:request_uri:${'a'.repeat(5000)}`,
      'urn:ietf:params:oauth:request_uri:a\r\nb',
    ]) {
      const url = new URL(as.authorization_endpoint!);
      url.search = new URLSearchParams({ client_id: app.client_id, request_uri: requestUri }).toString();
      const r = await new CookieClient(s.app.url).get(url.toString());
      expect(r.status).toBe(400);
      expect(r.headers.get('location')).toBeNull();
      await r.body?.cancel();
    }
  });

  it('DPoP hostile input at the token endpoint: a garbage proof and a replayed proof are invalid_dpop_proof, never 500', async () => {
    const post = (dpop: string) =>
      fetch(as.token_endpoint!, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`interop-app:${encodeURIComponent(TRICKY_SECRET).replace(/%20/g, '+')}`).toString('base64')}`,
          dpop,
        },
        body: 'grant_type=client_credentials&scope=read',
      });
    for (const bad of ['garbage', 'a.b.c', 'x'.repeat(9000)]) {
      const r = await post(bad);
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: string }).error).toBe('invalid_dpop_proof');
    }
    // One proof made by oauth4webapi, captured and sent twice.
    let proof = '';
    const capture: typeof fetch = async (input, init) => {
      proof = new Headers(init?.headers).get('dpop') ?? '';
      return fetch(input, init);
    };
    const dpop = oauth.DPoP(app, await oauth.generateKeyPair('ES256'));
    const first = await oauth.clientCredentialsGrantRequest(
      as,
      app,
      basic,
      { scope: 'read' },
      { DPoP: dpop, [oauth.customFetch]: capture, ...insecure },
    );
    expect(first.status).toBe(200);
    expect(proof.split('.')).toHaveLength(3);
    const replay = await post(proof);
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as { error: string }).error).toBe('invalid_dpop_proof');
  });
});

describe('oauth4webapi and jose interop: JWT access tokens for a resource, PAR required, DPoP nonces', () => {
  const API = 'https://api.interop.example/';
  const pub: oauth.Client = { client_id: 'interop-public', token_endpoint_auth_method: 'none' };
  let j: Started;
  let jas: oauth.AuthorizationServer;

  beforeAll(async () => {
    j = await startApp({
      ACCESS_TOKEN_FORMAT: 'jwt',
      KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
      RESOURCES: API,
      PAR: 'required',
      DPOP_NONCE_SECRET: randomBytes(32).toString('base64url'),
    });
    const issuer = new URL(j.app.issuer);
    jas = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
  });
  afterAll(async () => {
    await j?.close();
  });

  const verifyWithJose = (token: string, audience: string) =>
    jose.jwtVerify(token, jose.createRemoteJWKSet(new URL(jas.jwks_uri!)), {
      issuer: j.app.issuer,
      audience,
      typ: 'at+jwt',
      algorithms: ['ES256'],
    });

  it('advertises the JWKS and requires pushed requests', () => {
    expect(jas.jwks_uri).toBe(`${j.app.issuer}/oauth/jwks`);
    expect(jas.require_pushed_authorization_requests).toBe(true);
  });

  it('a client_credentials JWT for the resource: verified by jose (remote JWKS) and by validateJwtAccessToken', async () => {
    const tokens = await oauth.processClientCredentialsResponse(
      jas,
      app,
      await oauth.clientCredentialsGrantRequest(jas, app, basic, { scope: 'read', resource: API }, insecure),
    );
    expect(tokens.access_token.split('.')).toHaveLength(3);
    const { payload, protectedHeader } = await verifyWithJose(tokens.access_token, API);
    expect(protectedHeader).toMatchObject({ typ: 'at+jwt', alg: 'ES256' });
    expect(payload).toMatchObject({ iss: j.app.issuer, aud: API, client_id: 'interop-app', sub: 'interop-app', scope: 'read' });
    const claims = await oauth.validateJwtAccessToken(
      jas,
      new Request(`${API}things`, { headers: { authorization: `Bearer ${tokens.access_token}` } }),
      API,
      insecure,
    );
    expect(claims).toMatchObject({ client_id: 'interop-app', scope: 'read', aud: API });
    // The same token is refused for another audience and once tampered with, by both.
    await expect(verifyWithJose(tokens.access_token, 'https://other.example/')).rejects.toThrow();
    const [h, p, sig] = tokens.access_token.split('.') as [string, string, string];
    const tampered = `${h}.${p}.${sig.slice(0, 10)}${sig[10] === 'A' ? 'B' : 'A'}${sig.slice(11)}`;
    await expect(verifyWithJose(tampered, API)).rejects.toThrow();
    await expect(
      oauth.validateJwtAccessToken(jas, new Request(`${API}things`, { headers: { authorization: `Bearer ${tampered}` } }), API, insecure),
    ).rejects.toThrow();
    // The app's own API accepts it (the provider keeps a digest of every token it issued).
    expect((await resourceAt(j.app.url, tokens.access_token)).status).toBe(200);
  });

  it('a resource it does not know is invalid_target', async () => {
    await expectOAuthError(
      oauth.processClientCredentialsResponse(
        jas,
        app,
        await oauth.clientCredentialsGrantRequest(jas, app, basic, { scope: 'read', resource: 'https://unknown.example/' }, insecure),
      ),
      'invalid_target',
    );
  });

  it('a request that was not pushed is refused (PAR=required)', async () => {
    const url = new URL(jas.authorization_endpoint!);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: pub.client_id,
      redirect_uri: CB,
      scope: 'read',
      code_challenge: await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier()),
      code_challenge_method: 'S256',
    }).toString();
    const r = await new CookieClient(j.app.url).get(url.toString());
    expect(r.status).toBe(302);
    expect(new URL(location(r)).searchParams.get('error')).toBe('invalid_request');
  });

  it('PAR + DPoP with server nonces: a bound JWT (cnf.jkt) for the resource, the API, a refresh', async () => {
    const keys = await oauth.generateKeyPair('ES256');
    const dpop = oauth.DPoP(pub, keys);
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const pushed = await withNonce(async () =>
      oauth.processPushedAuthorizationResponse(
        jas,
        pub,
        await oauth.pushedAuthorizationRequest(
          jas,
          pub,
          oauth.None(),
          {
            response_type: 'code',
            redirect_uri: CB,
            scope: 'read',
            state,
            resource: API,
            code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
            code_challenge_method: 'S256',
          },
          { DPoP: dpop, ...insecure },
        ),
      ),
    );
    const url = new URL(jas.authorization_endpoint!);
    url.search = new URLSearchParams({ client_id: pub.client_id, request_uri: pushed.request_uri }).toString();
    const params = await authorizeAt(j.app.url, pub, jas, url, state);
    const tokens = await withNonce(async () =>
      oauth.processAuthorizationCodeResponse(
        jas,
        pub,
        await oauth.authorizationCodeGrantRequest(jas, pub, oauth.None(), params, CB, verifier, { DPoP: dpop, ...insecure }),
      ),
    );
    expect(tokens.token_type).toBe('dpop');
    const { payload } = await verifyWithJose(tokens.access_token, API);
    const jwk = (await crypto.subtle.exportKey('jwk', keys.publicKey)) as JsonWebKey;
    expect(payload).toMatchObject({ sub: ALICE.subject, client_id: 'interop-public', aud: API, scope: 'read' });
    expect((payload.cnf as { jkt?: string }).jkt).toBe(await jose.calculateJwkThumbprint(jwk));

    const r = await dpopResource(j.app.url, tokens.access_token, dpop);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ sub: ALICE.subject, client_id: 'interop-public', scopes: ['read'] });

    const refreshed = await withNonce(async () =>
      oauth.processRefreshTokenResponse(
        jas,
        pub,
        await oauth.refreshTokenGrantRequest(jas, pub, oauth.None(), tokens.refresh_token!, { DPoP: dpop, ...insecure }),
      ),
    );
    expect(refreshed.token_type).toBe('dpop');
    expect((await verifyWithJose(refreshed.access_token, API)).payload.aud).toBe(API);
    expect((await dpopResource(j.app.url, refreshed.access_token, dpop)).status).toBe(200);
  });
});

/** A bearer call to another app's API. */
async function resourceAt(base: string, token: string, path = '/api/me') {
  try {
    const r = await oauth.protectedResourceRequest(token, 'GET', new URL(`${base}${path}`), undefined, undefined, insecure);
    return { status: r.status, body: (await r.json()) as unknown };
  } catch (err) {
    if (!(err instanceof oauth.WWWAuthenticateChallengeError)) throw err;
    return { status: err.status, body: (await err.response.json()) as unknown };
  }
}
