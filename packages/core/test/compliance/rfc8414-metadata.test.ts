/** RFC 8414 (authorization server metadata), generated from what is enabled. */
import { describe, expect, it } from 'vitest';
import { body, ISSUER, makeProvider } from '../helpers.js';

describe('metadata', () => {
  it('describes the enabled endpoints, grants and methods', async () => {
    const { provider } = makeProvider({ grants: ['authorization_code', 'refresh_token'], scopes: ['read', 'write'] });
    const r = await provider.metadata();
    expect(r.status).toBe(200);
    const m = body(r);
    expect(m.issuer).toBe(ISSUER);
    expect(m.authorization_endpoint).toBe(`${ISSUER}/oauth/authorize`);
    expect(m.token_endpoint).toBe(`${ISSUER}/oauth/token`);
    expect(m.revocation_endpoint).toBe(`${ISSUER}/oauth/revoke`);
    expect(m.introspection_endpoint).toBe(`${ISSUER}/oauth/introspect`);
    expect(m.grant_types_supported).toEqual(['authorization_code', 'refresh_token']);
    expect(m.response_types_supported).toEqual(['code']);
    expect(m.code_challenge_methods_supported).toEqual(['S256']);
    expect(m.scopes_supported).toEqual(['read', 'write']);
    expect(m.authorization_response_iss_parameter_supported).toBe(true);
    expect(m.token_endpoint_auth_methods_supported).toEqual(['client_secret_basic', 'client_secret_post', 'none']);
  });
  it('drops the authorization endpoint when no redirect-based grant is enabled', async () => {
    const { provider } = makeProvider({ grants: ['client_credentials'] });
    const m = provider.metadataDocument();
    expect(m.authorization_endpoint).toBeUndefined();
    expect(m.response_types_supported).toEqual([]);
  });
  it('is served by handle() at /.well-known/oauth-authorization-server', async () => {
    const { provider } = makeProvider();
    const r = await provider.handle({ method: 'GET', url: '/.well-known/oauth-authorization-server', headers: {} });
    expect(body(r!).issuer).toBe(ISSUER);
    expect(await provider.handle({ method: 'GET', url: '/elsewhere', headers: {} })).toBeNull();
  });
});
