/**
 * RFC 7662 (token introspection).
 *
 * RFC 7662 section 2.1: token "REQUIRED. The string value of the token."
 * RFC 7662 section 2.1, token_type_hint: "If the server is unable to locate the token using the
 *   given hint, it MUST extend its search across all of its supported token types."
 * RFC 7662 section 2.1: "To prevent token scanning attacks, the endpoint MUST also require some form
 *   of authorization to access this endpoint, such as client authentication as described in OAuth
 *   2.0 [RFC6749] or a separate OAuth 2.0 access token such as the bearer token described in OAuth
 *   2.0 Bearer Token Usage [RFC6750]."
 * RFC 7662 section 2.2, active: "REQUIRED. Boolean indicator of whether or not the presented token
 *   is currently active."
 * RFC 7662 section 2.2: "If the introspection call is properly authorized but the token is not
 *   active, does not exist on this server, or the protected resource is not allowed to introspect
 *   this particular token, then the authorization server MUST return an introspection response
 *   with the "active" field set to "false". Note that to avoid disclosing too much of the
 *   authorization server's state to a third party, the authorization server SHOULD NOT include any
 *   additional information about an inactive token, including why the token is inactive."
 * RFC 7662 section 2.3: "If the protected resource uses OAuth 2.0 client credentials to
 *   authenticate to the introspection endpoint and its credentials are invalid, the authorization
 *   server responds with an HTTP 401 (Unauthorized) as described in Section 5.2 of OAuth 2.0
 *   [RFC6749]."
 */
import { describe, expect, it } from 'vitest';
import { basic, body, exchange, form, getCode, ISSUER, makeProvider, SECRET } from '../helpers.js';

const introspect = (
  p: ReturnType<typeof makeProvider>['provider'],
  params: Record<string, string>,
  headers: Record<string, string> = { authorization: basic('other', 'other-secret') },
) => p.introspect(form(params, headers, '/oauth/introspect'));

describe('introspection', () => {
  it('describes an active access token and refresh token', async () => {
    const { provider } = makeProvider();
    const { code, verifier } = await getCode(provider, { userId: 'u-7' });
    const t = body(await exchange(provider, code, verifier)) as Record<string, string>;
    const own = { authorization: basic('conf', SECRET) };
    const a = body(await introspect(provider, { token: t.access_token! }, own));
    expect(a).toMatchObject({ active: true, scope: 'read write', client_id: 'conf', sub: 'u-7', token_type: 'Bearer', iss: ISSUER });
    expect(a.exp).toBeGreaterThan(Date.now() / 1000);
    const r = body(await introspect(provider, { token: t.refresh_token!, token_type_hint: 'refresh_token' }, own));
    expect(r).toMatchObject({ active: true, token_type: 'refresh_token' });
  });

  it('"If the introspection call is properly authorized but the token is not active, does not exist on this server, ... the authorization server MUST return an introspection response with the "active" field set to "false""', async () => {
    const { provider } = makeProvider({ lifetimes: { accessToken: 0.05 } });
    const t = body(await provider.token(form({ grant_type: 'client_credentials' }, { authorization: basic('conf', SECRET) })));
    await new Promise((r) => setTimeout(r, 80));
    for (const token of [t.access_token as string, 'unknown', 'x'.repeat(9000), '∆∆∆']) {
      const r = await introspect(provider, { token, token_type_hint: 'bogus' });
      expect(r.status).toBe(200);
      expect(body(r)).toEqual({ active: false });
    }
  });

  it('"or the protected resource is not allowed to introspect this particular token": {"active": false} for another client\'s token', async () => {
    const { provider } = makeProvider();
    const t = body(await provider.token(form({ grant_type: 'client_credentials' }, { authorization: basic('conf', SECRET) })));
    const r = await introspect(provider, { token: t.access_token as string });
    expect(r.status).toBe(200);
    expect(body(r)).toEqual({ active: false });
    // The token is active: its own client is told so.
    expect(body(await introspect(provider, { token: t.access_token as string }, { authorization: basic('conf', SECRET) })).active).toBe(
      true,
    );
  });

  it('"it MUST extend its search across all of its supported token types" when the hint is wrong', async () => {
    const { provider } = makeProvider();
    const { code, verifier } = await getCode(provider);
    const t = body(await exchange(provider, code, verifier)) as Record<string, string>;
    const own = { authorization: basic('conf', SECRET) };
    const at = body(await introspect(provider, { token: t.access_token!, token_type_hint: 'refresh_token' }, own));
    expect(at).toMatchObject({ active: true, token_type: 'Bearer' });
    const rt = body(await introspect(provider, { token: t.refresh_token!, token_type_hint: 'access_token' }, own));
    expect(rt).toMatchObject({ active: true, token_type: 'refresh_token' });
  });

  it('answers invalid client credentials with 401 invalid_client and a Basic challenge (2.3)', async () => {
    const { provider } = makeProvider();
    const r = await introspect(provider, { token: 'x' }, { authorization: basic('other', 'bad') });
    expect(r.status).toBe(401);
    expect(body(r).error).toBe('invalid_client');
    expect(r.headers).toEqual({
      ...{ 'Content-Type': 'application/json;charset=UTF-8', 'Cache-Control': 'no-store', Pragma: 'no-cache' },
      'WWW-Authenticate': 'Basic realm="oauth"',
    });
  });

  it('requires an authenticated confidential client', async () => {
    const { provider } = makeProvider();
    expect((await introspect(provider, { token: 'x' }, { authorization: basic('other', 'bad') })).status).toBe(401);
    expect(body(await introspect(provider, { token: 'x', client_id: 'pub' }, {})).error).toBe('invalid_client');
    expect(body(await introspect(provider, {})).error).toBe('invalid_request');
    // RFC 6749 3.1: a parameter sent without a value is treated as omitted.
    expect(body(await introspect(provider, { token: '' })).error).toBe('invalid_request');
  });
});
