/**
 * RFC 6750 (bearer token usage): header or form body, all scopes required, RFC 6750 errors.
 *
 * RFC 6750 section 2: "Clients MUST NOT use more than one method to transmit the token in each
 *   request."
 * RFC 6750 section 2.1: "Clients SHOULD make authenticated requests with a bearer token using the
 *   "Authorization" request header field with the "Bearer" HTTP authorization scheme. Resource
 *   servers MUST support this method."
 * RFC 6750 section 2.2: "The "application/x-www-form-urlencoded" method SHOULD NOT be used except in
 *   application contexts where participating browsers do not have access to the "Authorization"
 *   request header field. Resource servers MAY support this method."
 * RFC 6750 section 2.3: "it SHOULD NOT be used unless it is impossible to transport the access
 *   token in the "Authorization" request header field or the HTTP request entity-body. Resource
 *   servers MAY support this method."
 * RFC 6750 section 3: "If the protected resource request does not include authentication
 *   credentials or does not contain an access token that enables access to the protected resource,
 *   the resource server MUST include the HTTP "WWW-Authenticate" response header field"
 * RFC 6750 section 3: "All challenges defined by this specification MUST use the auth-scheme value
 *   "Bearer". This scheme MUST be followed by one or more auth-param values."
 * RFC 6750 section 3: "The "realm" attribute MUST NOT appear more than once."
 * RFC 6750 section 3: "If the protected resource request included an access token and failed
 *   authentication, the resource server SHOULD include the "error" attribute to provide the client
 *   with the reason why the access request was declined."
 * RFC 6750 section 3.1, invalid_request: "The request is missing a required parameter, includes an
 *   unsupported parameter or parameter value, repeats the same parameter, uses more than one method
 *   for including an access token, or is otherwise malformed. The resource server SHOULD respond
 *   with the HTTP 400 (Bad Request) status code."
 * RFC 6750 section 3.1, invalid_token: "The access token provided is expired, revoked, malformed, or
 *   invalid for other reasons. The resource SHOULD respond with the HTTP 401 (Unauthorized) status
 *   code."
 * RFC 6750 section 3.1, insufficient_scope: "The request requires higher privileges than provided
 *   by the access token. The resource server SHOULD respond with the HTTP 403 (Forbidden) status
 *   code and MAY include the "scope" attribute with the scope necessary to access the protected
 *   resource."
 * RFC 6750 section 3.1: "If the request lacks any authentication information (e.g., the client was
 *   unaware that authentication is necessary or attempted using an unsupported authentication
 *   method), the resource server SHOULD NOT include an error code or other error information."
 */
import { describe, expect, it } from 'vitest';
import { basic, body, form, get, makeProvider, SECRET } from '../helpers.js';

async function setup(options = {}) {
  const { provider } = makeProvider(options);
  const t = body(
    await provider.token(form({ grant_type: 'client_credentials', scope: 'read write' }, { authorization: basic('conf', SECRET) })),
  );
  return { provider, token: t.access_token as string };
}

describe('bearer tokens', () => {
  it('accepts the Authorization header, scheme case-insensitive', async () => {
    const { provider, token } = await setup();
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const r = await provider.verifyAccessToken(get('/api', { authorization: `${scheme} ${token}` }), ['read']);
      expect(r.ok).toBe(true);
      if (r.ok) expect(r.token).toMatchObject({ clientId: 'conf', userId: null, scopes: ['read', 'write'] });
    }
  });
  it('accepts a form body access_token (2.2)', async () => {
    const { provider, token } = await setup();
    const r = await provider.verifyAccessToken(form({ access_token: token, other: '1' }, {}, '/api'));
    expect(r.ok).toBe(true);
  });
  it('refuses the query string by default, accepts it when enabled', async () => {
    const off = await setup();
    const r = await off.provider.verifyAccessToken(get(`/api?access_token=${off.token}`));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.response.status).toBe(400);
    const on = await setup({ allowBearerInQuery: true });
    expect((await on.provider.verifyAccessToken(get(`/api?access_token=${on.token}`))).ok).toBe(true);
  });
  it('"MUST NOT use more than one method to transmit the token": 400 invalid_request', async () => {
    const { provider, token } = await setup();
    const r = await provider.verifyAccessToken(form({ access_token: token }, { authorization: `Bearer ${token}` }, '/api'));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.response.status).toBe(400);
    expect(body(r.response).error).toBe('invalid_request');
    expect(r.response.headers['WWW-Authenticate']).toContain('error="invalid_request"');
  });
  it('"If the request lacks any authentication information ... SHOULD NOT include an error code"', async () => {
    const { provider } = await setup();
    const r = await provider.verifyAccessToken(get('/api'));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.response.status).toBe(401);
    expect(r.response.headers['WWW-Authenticate']).toBe('Bearer realm="oauth"');
  });
  it('401 invalid_token with WWW-Authenticate for unknown, malformed, revoked or expired tokens', async () => {
    const { provider } = await setup({ lifetimes: { accessToken: 0.05 } });
    const { token } = await setup();
    const expired = body(await provider.token(form({ grant_type: 'client_credentials' }, { authorization: basic('conf', SECRET) })))
      .access_token as string;
    await new Promise((r) => setTimeout(r, 80));
    for (const h of [`Bearer ${token}` /* other provider's */, `Bearer ${expired}`, 'Bearer ', 'Bearer unknown-token']) {
      const r = await provider.verifyAccessToken(get('/api', { authorization: h }));
      expect(r.ok).toBe(false);
      if (r.ok) continue;
      expect(r.response.status, h).toBe(401);
      expect(body(r.response).error, h).toBe('invalid_token');
      expect(r.response.headers['WWW-Authenticate'], h).toMatch(/^Bearer realm="oauth", error="invalid_token", error_description="/);
    }
    // A header that is not token68 is a malformed request: 400 invalid_request.
    for (const h of ['Bearer not a token', 'Bearer tok"en', 'Bearer a,b']) {
      const r = await provider.verifyAccessToken(get('/api', { authorization: h }));
      expect(r.ok).toBe(false);
      if (r.ok) continue;
      expect(r.response.status, h).toBe(400);
      expect(body(r.response), h).toEqual({ error: 'invalid_request', error_description: 'The Authorization header is malformed' });
      expect(r.response.headers['WWW-Authenticate'], h).toMatch(/^Bearer realm="oauth", error="invalid_request"/);
    }
    const r = await provider.verifyAccessToken(get('/api', { authorization: `Bearer ${expired}` }));
    expect(r.ok).toBe(false);
    expect(!r.ok && r.response.status).toBe(401);
    expect(!r.ok && r.response.headers['WWW-Authenticate']).toContain('error="invalid_token"');
  });
  it('needs every listed scope: 403 insufficient_scope naming them', async () => {
    const { provider, token } = await setup();
    const r = await provider.verifyAccessToken(get('/api', { authorization: `Bearer ${token}` }), ['read', 'admin']);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.response.status).toBe(403);
    expect(body(r.response).error).toBe('insufficient_scope');
    expect(r.response.headers['WWW-Authenticate']).toContain('error="insufficient_scope"');
    expect(r.response.headers['WWW-Authenticate']).toContain('scope="read admin"');
  });
});
