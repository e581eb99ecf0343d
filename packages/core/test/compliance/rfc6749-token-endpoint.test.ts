/**
 * RFC 6749 sections 2.3 (client authentication), 3.2 (token endpoint), 3.3 (scope) and 5.1, 5.2
 * (successful and error responses), as the token endpoint answers every grant.
 *
 * RFC 6749 section 2.3: "The client MUST NOT use more than one authentication method in each
 *   request."
 * RFC 6749 section 2.3.1: "The client identifier is encoded using the
 *   "application/x-www-form-urlencoded" encoding algorithm per Appendix B, and the encoded value is
 *   used as the username; the client password is encoded using the same algorithm and used as the
 *   password. The authorization server MUST support the HTTP Basic authentication scheme for
 *   authenticating clients that were issued a client password."
 * RFC 6749 section 2.3.1: "Alternatively, the authorization server MAY support including the client
 *   credentials in the request-body using the following parameters:" (client_id and client_secret)
 * RFC 6749 section 2.3.1: "The parameters can only be transmitted in the request-body and MUST NOT
 *   be included in the request URI."
 * RFC 6749 section 3.2: "The client MUST use the HTTP "POST" method when making access token
 *   requests."
 * RFC 6749 section 3.2: "Parameters sent without a value MUST be treated as if they were omitted
 *   from the request. The authorization server MUST ignore unrecognized request parameters.
 *   Request and response parameters MUST NOT be included more than once."
 * RFC 6749 section 3.3: "If the issued access token scope is different from the one requested by
 *   the client, the authorization server MUST include the "scope" response parameter to inform the
 *   client of the actual scope granted."
 * RFC 6749 section 5.1: "The authorization server MUST include the HTTP "Cache-Control" response
 *   header field [RFC2616] with a value of "no-store" in any response containing tokens,
 *   credentials, or other sensitive information, as well as the "Pragma" response header field
 *   [RFC2616] with a value of "no-cache"."
 * RFC 6749 section 5.2: "The authorization server responds with an HTTP 400 (Bad Request) status
 *   code (unless specified otherwise)"
 * RFC 6749 section 5.2, invalid_request: "The request is missing a required parameter, includes an
 *   unsupported parameter value (other than grant type), repeats a parameter, includes multiple
 *   credentials, utilizes more than one mechanism for authenticating the client, or is otherwise
 *   malformed."
 * RFC 6749 section 5.2, invalid_client: "Client authentication failed (e.g., unknown client, no
 *   client authentication included, or unsupported authentication method). ... If the client
 *   attempted to authenticate via the "Authorization" request header field, the authorization
 *   server MUST respond with an HTTP 401 (Unauthorized) status code and include the
 *   "WWW-Authenticate" response header field matching the authentication scheme used by the
 *   client."
 * RFC 6749 section 5.2, unauthorized_client: "The authenticated client is not authorized to use
 *   this authorization grant type."
 * RFC 6749 section 5.2, unsupported_grant_type: "The authorization grant type is not supported by
 *   the authorization server."
 * RFC 6749 section 5.2: "The parameters are included in the entity-body of the HTTP response using
 *   the "application/json" media type as defined by [RFC4627]."
 */
import { describe, expect, it } from 'vitest';
import { basic, body, form, makeProvider, SECRET } from '../helpers.js';

const cc = { grant_type: 'client_credentials' };

describe('token endpoint', () => {
  it('"The client MUST use the HTTP "POST" method when making access token requests": 405 with Allow: POST', async () => {
    const { provider } = makeProvider();
    const r = await provider.token({ method: 'GET', url: '/oauth/token?grant_type=client_credentials', headers: {} });
    expect(r.status).toBe(405);
    expect(r.headers.Allow).toBe('POST');
  });
  it('accepts only a form body', async () => {
    const { provider } = makeProvider();
    // A body that would be a valid request if read as a form: only the content type refuses it.
    for (const type of ['application/json', 'text/plain', 'application/x-www-form-urlencoded-x', undefined]) {
      const headers: Record<string, string> = { authorization: basic('conf', SECRET) };
      if (type !== undefined) headers['content-type'] = type;
      const r = await provider.token({ method: 'POST', url: '/oauth/token', headers, body: 'grant_type=client_credentials' });
      expect(r.status, type).toBe(400);
      expect(body(r)).toEqual({ error: 'invalid_request', error_description: 'The body must be application/x-www-form-urlencoded' });
      expect(r.headers['Cache-Control']).toBe('no-store');
    }
    // Media type parameters and case do not matter (RFC 9110 8.3.1).
    for (const type of ['application/x-www-form-urlencoded;charset=UTF-8', 'Application/X-WWW-Form-URLEncoded ; charset=utf-8']) {
      const r = await provider.token({
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': type, authorization: basic('conf', SECRET) },
        body: 'grant_type=client_credentials',
      });
      expect(r.status, type).toBe(200);
    }
  });
  it('"The authorization server MUST ignore unrecognized request parameters"', async () => {
    const { provider } = makeProvider();
    const r = await provider.token(form({ ...cc, scope: 'write', unknown_parameter: 'x' }, { authorization: basic('conf', SECRET) }));
    expect(r.status).toBe(200);
    expect(body(r).scope).toBe('write');
  });
  it('"Parameters sent without a value MUST be treated as if they were omitted from the request": an empty scope', async () => {
    const { provider } = makeProvider();
    // `conf` has the default scope `read`; an empty scope value taken literally would grant none.
    const omitted = await provider.token(form(cc, { authorization: basic('conf', SECRET) }));
    const empty = await provider.token(form({ ...cc, scope: '' }, { authorization: basic('conf', SECRET) }));
    expect(omitted.status).toBe(200);
    expect(empty.status).toBe(200);
    expect(body(omitted).scope).toBe('read');
    expect(body(empty).scope).toBe('read');
  });
  it('"Cache-Control" "no-store" and "Pragma" "no-cache" on every response containing tokens, in JSON (5.1)', async () => {
    const { provider } = makeProvider();
    const auth = { authorization: basic('conf', SECRET) };
    const password = await provider.token(form({ grant_type: 'password', username: 'alice', password: 'correct horse' }, auth));
    const responses = [
      await provider.token(form(cc, auth)),
      password,
      await provider.token(form({ grant_type: 'refresh_token', refresh_token: body(password).refresh_token as string }, auth)),
    ];
    for (const r of responses) {
      expect(r.status).toBe(200);
      expect(r.headers).toEqual({ 'Content-Type': 'application/json;charset=UTF-8', 'Cache-Control': 'no-store', Pragma: 'no-cache' });
      expect(typeof body(r).access_token).toBe('string');
    }
  });
  it('refuses repeated parameters', async () => {
    const { provider } = makeProvider();
    const r = await provider.token({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('conf', SECRET) },
      body: 'grant_type=client_credentials&scope=read&scope=write',
    });
    expect(r.status).toBe(400);
    expect(body(r).error).toBe('invalid_request');
    expect(body(r).error_description).toMatch(/^Parameter .scope. was given more than once$/);
    // The same value twice, and a repeat of a parameter that would succeed either way.
    for (const text of [
      'grant_type=client_credentials&scope=read&scope=read',
      'grant_type=client_credentials&grant_type=client_credentials',
    ]) {
      const again = await provider.token({
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('conf', SECRET) },
        body: text,
      });
      expect(again.status, text).toBe(400);
      expect(body(again).error, text).toBe('invalid_request');
    }
    // A body a framework already parsed: repeats arrive as arrays.
    const parsed = await provider.token({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('conf', SECRET) },
      parsedBody: { grant_type: 'client_credentials', scope: ['read', 'read'] },
    });
    expect(parsed.status).toBe(400);
    expect(body(parsed).error).toBe('invalid_request');
    expect(body(parsed).error_description).toMatch(/^Parameter .scope. was given more than once$/);
  });
  it('answers unsupported_grant_type, unauthorized_client and invalid_request with 400 JSON and no-store', async () => {
    const { provider, stores } = makeProvider({ grants: ['authorization_code', 'client_credentials', 'refresh_token'] });
    stores.addClient({
      id: 'code-only',
      secretHash: (await import('../../src/index.js')).hashSecret('x-0123456789abcdefghij0123456789'),
      redirectUris: ['https://a.example/cb'],
      grantTypes: ['authorization_code'],
      scopes: ['read'],
    });
    const cases: [Record<string, string>, Record<string, string>, string][] = [
      [{ grant_type: 'password', username: 'a', password: 'b' }, { authorization: basic('conf', SECRET) }, 'unsupported_grant_type'],
      [{ grant_type: 'urn:nope' }, { authorization: basic('conf', SECRET) }, 'unsupported_grant_type'],
      [{ grant_type: 'implicit' }, { authorization: basic('conf', SECRET) }, 'unsupported_grant_type'],
      [{}, { authorization: basic('conf', SECRET) }, 'invalid_request'],
      [cc, { authorization: basic('code-only', 'x-0123456789abcdefghij0123456789') }, 'unauthorized_client'],
    ];
    for (const [params, headers, error] of cases) {
      const r = await provider.token(form(params, headers));
      expect(r.status).toBe(400);
      expect(r.headers['Content-Type']).toMatch(/^application\/json/);
      expect(r.headers['Cache-Control']).toBe('no-store');
      expect(body(r).error).toBe(error);
    }
  });
});

describe('client authentication (2.3)', () => {
  it('decodes form-encoded Basic credentials (secret with : + / % & = and a space)', async () => {
    const { provider } = makeProvider();
    expect(SECRET).toMatch(/[:+/%&= ]/);
    expect((await provider.token(form(cc, { authorization: basic('conf', SECRET) }))).status).toBe(200);
  });
  it('accepts client_secret_post', async () => {
    const { provider } = makeProvider();
    expect((await provider.token(form({ ...cc, client_id: 'conf', client_secret: SECRET }))).status).toBe(200);
  });
  it('"The client MUST NOT use more than one authentication method in each request"', async () => {
    const { provider } = makeProvider();
    const r = await provider.token(form({ ...cc, client_id: 'conf', client_secret: SECRET }, { authorization: basic('conf', SECRET) }));
    expect(r.status).toBe(400);
    expect(body(r).error).toBe('invalid_request');
  });
  it('answers 401 invalid_client with WWW-Authenticate: Basic after Basic', async () => {
    const { provider } = makeProvider();
    for (const authz of [basic('conf', 'wrong'), basic('ghost', 'x'), 'Basic !!!', `Basic ${Buffer.from('no-colon').toString('base64')}`]) {
      const r = await provider.token(form(cc, { authorization: authz }));
      expect(r.status).toBe(401);
      expect(body(r).error).toBe('invalid_client');
      expect(r.headers['WWW-Authenticate']).toMatch(/^Basic /);
    }
  });
  it('answers invalid_client for a wrong or missing post secret, and with no credentials at all', async () => {
    const { provider } = makeProvider();
    for (const params of [{ ...cc, client_id: 'conf', client_secret: 'nope' }, { ...cc, client_id: 'conf' }, cc]) {
      const r = await provider.token(form(params));
      expect(r.status).toBe(401);
      expect(body(r).error).toBe('invalid_client');
    }
  });
  it('"The parameters can only be transmitted in the request-body and MUST NOT be included in the request URI"', async () => {
    const { provider } = makeProvider();
    const query = new URLSearchParams({ client_id: 'conf', client_secret: SECRET }).toString();
    const r = await provider.token({
      method: 'POST',
      url: `/oauth/token?${query}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    expect(r.status).toBe(401);
    expect(body(r).error).toBe('invalid_client');
    // No Authorization header was tried, so no challenge.
    expect(r.headers).toEqual({ 'Content-Type': 'application/json;charset=UTF-8', 'Cache-Control': 'no-store', Pragma: 'no-cache' });
  });
  it('refuses a secret from a public client', async () => {
    const { provider } = makeProvider();
    const r = await provider.token(form({ grant_type: 'refresh_token', refresh_token: 'x', client_id: 'pub', client_secret: 'anything' }));
    expect(body(r).error).toBe('invalid_client');
  });
  it('never echoes secrets or internal error text', async () => {
    const { provider } = makeProvider();
    const r = await provider.token(form({ ...cc, client_id: 'conf', client_secret: 'hunter2-secret-value' }));
    expect(r.status).toBe(401);
    expect(body(r)).toEqual({ error: 'invalid_client', error_description: 'Client authentication failed' });
    expect(r.body).not.toContain('hunter2');
    expect(JSON.stringify(r.headers)).not.toContain('hunter2');
  });
});

describe('scope in the token response (5.1)', () => {
  it('is left out when no scope was granted, never an empty string', async () => {
    const { provider, stores } = makeProvider();
    const { hashSecret } = await import('../../src/index.js');
    stores.addClient({
      id: 'noscope',
      secretHash: hashSecret('s-0123456789abcdefghij0123456789'),
      redirectUris: [],
      grantTypes: ['client_credentials'],
      scopes: [],
    });
    const r = await provider.token(
      form({ grant_type: 'client_credentials' }, { authorization: basic('noscope', 's-0123456789abcdefghij0123456789') }),
    );
    expect(r.status).toBe(200);
    expect(body(r)).not.toHaveProperty('scope');
  });
});
