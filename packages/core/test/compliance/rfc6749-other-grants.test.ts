/** RFC 6749 sections 4.2 (implicit), 4.3 (password) and 4.4 (client credentials). */
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
});

describe('implicit (4.2), legacy parity', () => {
  const params = { response_type: 'token', client_id: 'conf', redirect_uri: CB, scope: 'read', state: 'st' };
  it('is off by default', async () => {
    const { provider } = makeProvider({ grants: ['authorization_code'] });
    const a = await provider.authorize(get(authorizeUrl(params)));
    expect(a.type === 'response' && new URLSearchParams(location(a.response).hash.slice(1)).get('error')).toBe('unsupported_response_type');
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

describe('scope in the token response (5.1)', () => {
  it('is left out when no scope was granted, never an empty string', async () => {
    const { provider, stores } = makeProvider();
    const { hashSecret } = await import('../../src/index.js');
    stores.addClient({ id: 'noscope', secretHash: hashSecret('s'), redirectUris: [], grantTypes: ['client_credentials'], scopes: [] });
    const r = await provider.token(form({ grant_type: 'client_credentials' }, { authorization: basic('noscope', 's') }));
    expect(r.status).toBe(200);
    expect(body(r)).not.toHaveProperty('scope');
  });
});
