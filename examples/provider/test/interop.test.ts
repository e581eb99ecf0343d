/**
 * Interoperability: oauth4webapi, the strictest client, drives the running app over loopback
 * HTTP. The login and consent pages are driven with fetch and a cookie jar.
 */
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, authorizeThroughPages, CB, CookieClient, type Started, startApp, TRICKY_SECRET } from './helpers.js';

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
