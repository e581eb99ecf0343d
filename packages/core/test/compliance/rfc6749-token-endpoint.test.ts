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
    expect(r.status).toBe(401);
    expect(body(r)).toEqual({ error: 'invalid_client', error_description: 'Client authentication failed' });
    expect(r.body).not.toContain('hunter2');
    expect(JSON.stringify(r.headers)).not.toContain('hunter2');
  });
});
