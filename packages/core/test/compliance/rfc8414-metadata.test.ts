/**
 * RFC 8414 (authorization server metadata), generated from what is enabled.
 *
 * RFC 8414 section 2, issuer: "REQUIRED. The authorization server's issuer identifier, which is a
 *   URL that uses the "https" scheme and has no query or fragment components."
 * RFC 8414 section 2, authorization_endpoint: "URL of the authorization server's authorization
 *   endpoint [RFC6749]. This is REQUIRED unless no grant types are supported that use the
 *   authorization endpoint."
 * RFC 8414 section 2, token_endpoint: "URL of the authorization server's token endpoint [RFC6749].
 *   This is REQUIRED unless only the implicit grant type is supported."
 * RFC 8414 section 2, response_types_supported: "REQUIRED. JSON array containing a list of the
 *   OAuth 2.0 "response_type" values that this authorization server supports."
 * RFC 8414 section 2, code_challenge_methods_supported: "If omitted, the authorization server does
 *   not support PKCE."
 * RFC 8414 section 3: "Authorization servers supporting metadata MUST make a JSON document
 *   containing metadata as specified in Section 2 available at a path formed by inserting a
 *   well-known URI string into the authorization server's issuer identifier between the host
 *   component and the path component, if any. By default, the well-known URI string used is
 *   "/.well-known/oauth-authorization-server"."
 * RFC 8414 section 3.2: "A successful response MUST use the 200 OK HTTP status code and return a
 *   JSON object using the "application/json" content type that contains a set of claims as its
 *   members that are a subset of the metadata values defined in Section 2."
 * RFC 8414 section 3.2: "Claims with zero elements MUST be omitted from the response."
 * RFC 8414 section 3.3: "The "issuer" value returned MUST be identical to the authorization
 *   server's issuer identifier value into which the well-known URI string was inserted to create
 *   the URL used to retrieve the metadata."
 */
import { describe, expect, it } from 'vitest';
import { body, ISSUER, makeProvider } from '../helpers.js';

describe('metadata', () => {
  it('describes the enabled endpoints, grants and methods', async () => {
    const { provider } = makeProvider({ grants: ['authorization_code', 'refresh_token'], scopes: ['read', 'write'] });
    const r = await provider.metadata();
    expect(r.status).toBe(200);
    expect(r.headers['Content-Type']).toBe('application/json;charset=UTF-8');
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
