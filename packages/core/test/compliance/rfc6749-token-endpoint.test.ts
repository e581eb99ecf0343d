/** RFC 6749 sections 2.3 (client authentication), 3.2 (token endpoint) and 5.2 (error response). */
import { describe, expect, it } from 'vitest';
import { basic, body, form, makeProvider, SECRET } from '../helpers.js';

const cc = { grant_type: 'client_credentials' };

describe('token endpoint', () => {
  it('"The client MUST use the HTTP POST method": 405 with Allow: POST', async () => {
    const { provider } = makeProvider();
    const r = await provider.token({ method: 'GET', url: '/oauth/token?grant_type=client_credentials', headers: {} });
    expect(r.status).toBe(405);
    expect(r.headers.Allow).toBe('POST');
  });
  it('accepts only a form body', async () => {
    const { provider } = makeProvider();
    const r = await provider.token({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/json', authorization: basic('conf', SECRET) },
      body: '{"grant_type":"client_credentials"}',
    });
    expect(r.status).toBe(400);
    expect(body(r).error).toBe('invalid_request');
  });
  it('refuses repeated parameters', async () => {
    const { provider } = makeProvider();
    const r = await provider.token({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('conf', SECRET) },
      body: 'grant_type=client_credentials&scope=read&scope=write',
    });
    expect(body(r).error).toBe('invalid_request');
  });
  it('answers unsupported_grant_type, unauthorized_client and invalid_request with 400 JSON and no-store', async () => {
    const { provider, stores } = makeProvider({ grants: ['authorization_code', 'client_credentials', 'refresh_token'] });
    stores.addClient({
      id: 'code-only',
      secretHash: (await import('../../src/index.js')).hashSecret('x'),
      redirectUris: ['https://a.example/cb'],
      grantTypes: ['authorization_code'],
      scopes: ['read'],
    });
    const cases: [Record<string, string>, Record<string, string>, string][] = [
      [{ grant_type: 'password', username: 'a', password: 'b' }, { authorization: basic('conf', SECRET) }, 'unsupported_grant_type'],
      [{ grant_type: 'urn:nope' }, { authorization: basic('conf', SECRET) }, 'unsupported_grant_type'],
      [{ grant_type: 'implicit' }, { authorization: basic('conf', SECRET) }, 'unsupported_grant_type'],
      [{}, { authorization: basic('conf', SECRET) }, 'invalid_request'],
      [cc, { authorization: basic('code-only', 'x') }, 'unauthorized_client'],
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
  it('refuses a secret from a public client', async () => {
    const { provider } = makeProvider();
    const r = await provider.token(form({ grant_type: 'refresh_token', refresh_token: 'x', client_id: 'pub', client_secret: 'anything' }));
    expect(body(r).error).toBe('invalid_client');
  });
  it('never echoes secrets or internal error text', async () => {
    const { provider } = makeProvider();
    const r = await provider.token(form({ ...cc, client_id: 'conf', client_secret: 'hunter2-secret-value' }));
    expect(r.body).not.toContain('hunter2');
  });
});
