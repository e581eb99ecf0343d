/**
 * RFC 6749 sections 4.2 (implicit), 4.3 (password) and 4.4 (client credentials).
 *
 * RFC 6749 section 4.2.1: "The authorization server validates the request to ensure that all
 *   required parameters are present and valid. The authorization server MUST verify that the
 *   redirection URI to which it will redirect the access token matches a redirection URI
 *   registered by the client as described in Section 3.1.2."
 * RFC 6749 section 4.2.2: "the authorization server issues an access token and delivers it to the
 *   client by adding the following parameters to the fragment component of the redirection URI"
 * RFC 6749 section 4.2.2, state: "REQUIRED if the "state" parameter was present in the client
 *   authorization request. The exact value received from the client."
 * RFC 6749 section 4.2.2: "The authorization server MUST NOT issue a refresh token."
 * RFC 6749 section 4.2.2.1: "If the request fails due to a missing, invalid, or mismatching
 *   redirection URI, or if the client identifier is missing or invalid, the authorization server
 *   SHOULD inform the resource owner of the error and MUST NOT automatically redirect the
 *   user-agent to the invalid redirection URI."
 * RFC 6749 section 4.2.2.1: "the authorization server informs the client by adding the following
 *   parameters to the fragment component of the redirection URI"
 * RFC 6749 section 4.3.2: "The authorization server MUST: require client authentication for
 *   confidential clients or for any client that was issued client credentials (or with other
 *   authentication requirements), authenticate the client if client authentication is included,
 *   and validate the resource owner password credentials using its existing password validation
 *   algorithm."
 * RFC 6749 section 4.3.2: username "REQUIRED. The resource owner username." and password
 *   "REQUIRED. The resource owner password."
 * RFC 6749 section 4.4: "The client credentials grant type MUST only be used by confidential
 *   clients."
 * RFC 6749 section 4.4.2: "The authorization server MUST authenticate the client."
 * RFC 6749 section 4.4.3: "A refresh token SHOULD NOT be included."
 * RFC 6749 section 3.3: "If the client omits the scope parameter when requesting authorization,
 *   the authorization server MUST either process the request using a pre-defined default value or
 *   fail the request indicating an invalid scope."
 */
import { describe, expect, it } from 'vitest';
import { authorizeUrl, basic, body, CB, form, get, ISSUER, location, makeProvider, pkce, SECRET } from '../helpers.js';

const auth = { authorization: basic('conf', SECRET) };

describe('client_credentials (4.4)', () => {
  it('issues an access token without a refresh token ("A refresh token SHOULD NOT be included")', async () => {
    const { provider } = makeProvider();
    const r = await provider.token(form({ grant_type: 'client_credentials', scope: 'read write' }, auth));
    const b = body(r);
    expect(r.status).toBe(200);
    expect(b.scope).toBe('read write');
    expect(b.refresh_token).toBeUndefined();
  });
  it('uses the default scopes when none are asked for, and refuses others', async () => {
    const { provider } = makeProvider();
    expect(body(await provider.token(form({ grant_type: 'client_credentials' }, auth))).scope).toBe('read');
    expect(body(await provider.token(form({ grant_type: 'client_credentials', scope: 'root' }, auth))).error).toBe('invalid_scope');
  });
  it('is refused to public clients', async () => {
    const { provider, stores } = makeProvider();
    stores.addClient({ id: 'pub-cc', secretHash: null, redirectUris: [], grantTypes: ['client_credentials'], scopes: ['read'] });
    expect(body(await provider.token(form({ grant_type: 'client_credentials', client_id: 'pub-cc' }))).error).toBe('unauthorized_client');
  });
  it('restricts scopes to the server-wide list when one is given', async () => {
    const { provider } = makeProvider({ scopes: ['read'] });
    expect(body(await provider.token(form({ grant_type: 'client_credentials', scope: 'write' }, auth))).error).toBe('invalid_scope');
  });
});

describe('password (4.3)', () => {
  it('is off by default', async () => {
    const { provider } = makeProvider({ grants: ['authorization_code', 'refresh_token', 'client_credentials'] });
    const r = await provider.token(form({ grant_type: 'password', username: 'alice', password: 'correct horse' }, auth));
    expect(body(r).error).toBe('unsupported_grant_type');
  });
  it('issues tokens for the right password and invalid_grant otherwise', async () => {
    const { provider } = makeProvider();
    const ok = await provider.token(form({ grant_type: 'password', username: 'alice', password: 'correct horse', scope: 'read' }, auth));
    expect(ok.status).toBe(200);
    expect(body(ok).refresh_token).toBeDefined();
    for (const [username, password] of [
      ['alice', 'wrong'],
      ['mallory', 'correct horse'],
    ]) {
      const r = await provider.token(form({ grant_type: 'password', username: username!, password: password! }, auth));
      expect(body(r).error).toBe('invalid_grant');
    }
    expect(body(await provider.token(form({ grant_type: 'password', username: 'alice' }, auth))).error).toBe('invalid_request');
  });
  it('"require client authentication for confidential clients": 401 invalid_client even with the right password', async () => {
    const { provider } = makeProvider();
    const params = { grant_type: 'password', username: 'alice', password: 'correct horse' };
    const wrong = await provider.token(form(params, { authorization: basic('conf', 'not-the-secret') }));
    expect(wrong.status).toBe(401);
    expect(body(wrong).error).toBe('invalid_client');
    expect(wrong.headers['WWW-Authenticate']).toBe('Basic realm="oauth"');
    const none = await provider.token(form({ ...params, client_id: 'conf' }));
    expect(none.status).toBe(401);
    expect(body(none).error).toBe('invalid_client');
    expect(none.headers['WWW-Authenticate']).toBeUndefined();
  });
});

describe('implicit (4.2), legacy parity', () => {
  const params = { response_type: 'token', client_id: 'conf', redirect_uri: CB, scope: 'read', state: 'st' };
  it('is off by default', async () => {
    const { provider } = makeProvider({ grants: ['authorization_code'] });
    const a = await provider.authorize(get(authorizeUrl(params)));
    expect(a.type === 'response' && new URLSearchParams(location(a.response).hash.slice(1)).get('error')).toBe('unsupported_response_type');
  });
  it('"MUST verify that the redirection URI ... matches a redirection URI registered by the client": an error page, no redirect', async () => {
    const { provider } = makeProvider();
    const a = await provider.authorize(get(authorizeUrl({ ...params, redirect_uri: 'https://evil.example/cb' })));
    expect(a.type).toBe('response');
    if (a.type !== 'response') return;
    expect(a.response.status).toBe(400);
    expect(a.response.headers).toEqual({
      'Content-Type': 'application/json;charset=UTF-8',
      'Cache-Control': 'no-store',
      Pragma: 'no-cache',
    });
    expect(body(a.response).error).toBe('invalid_request');
  });
  it('returns the access token in the fragment, never a refresh token', async () => {
    const { provider } = makeProvider();
    const a = await provider.authorize(get(authorizeUrl({ ...params, code_challenge: pkce().challenge })));
    if (a.type !== 'consent') throw new Error('expected consent');
    const loc = location(await provider.completeAuthorization(a.request, { approved: true, userId: 'u1' }));
    expect(loc.search).toBe('');
    const f = new URLSearchParams(loc.hash.slice(1));
    expect(f.get('token_type')).toBe('Bearer');
    expect(f.get('state')).toBe('st');
    expect(f.get('iss')).toBe(ISSUER);
    expect(f.get('refresh_token')).toBeNull();
    const check = await provider.verifyAccessToken(get('/api', { authorization: `Bearer ${f.get('access_token')}` }), ['read']);
    expect(check.ok).toBe(true);
  });
});
