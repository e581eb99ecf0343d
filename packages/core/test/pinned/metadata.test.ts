/** The whole RFC 8414 document, member by member, for the configurations that change it. */
import { describe, expect, it } from 'vitest';
import { ISSUER, makeProvider } from '../helpers.js';

const common = {
  issuer: ISSUER,
  token_endpoint: `${ISSUER}/oauth/token`,
  token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
  revocation_endpoint: `${ISSUER}/oauth/revoke`,
  revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
  introspection_endpoint: `${ISSUER}/oauth/introspect`,
  introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
  authorization_response_iss_parameter_supported: true,
};

describe('metadata document', () => {
  it('with the code and implicit grants and plain PKCE', () => {
    const { provider } = makeProvider({ grants: ['authorization_code', 'implicit'], pkce: { allowPlain: true } });
    expect(provider.metadataDocument()).toEqual({
      ...common,
      grant_types_supported: ['authorization_code', 'implicit'],
      response_types_supported: ['code', 'token'],
      authorization_endpoint: `${ISSUER}/oauth/authorize`,
      response_modes_supported: ['query', 'fragment'],
      code_challenge_methods_supported: ['S256', 'plain'],
    });
  });
  it('with the implicit grant alone', () => {
    const { provider } = makeProvider({ grants: ['implicit'] });
    expect(provider.metadataDocument()).toEqual({
      ...common,
      grant_types_supported: ['implicit'],
      response_types_supported: ['token'],
      authorization_endpoint: `${ISSUER}/oauth/authorize`,
      response_modes_supported: ['query', 'fragment'],
    });
  });
  it('with the code grant, S256 only, and known scopes', () => {
    const { provider } = makeProvider({ grants: ['authorization_code', 'refresh_token'], scopes: ['read', 'write'] });
    expect(provider.metadataDocument()).toEqual({
      ...common,
      grant_types_supported: ['authorization_code', 'refresh_token'],
      response_types_supported: ['code'],
      authorization_endpoint: `${ISSUER}/oauth/authorize`,
      response_modes_supported: ['query'],
      code_challenge_methods_supported: ['S256'],
      scopes_supported: ['read', 'write'],
    });
  });
  it('without a redirect-based grant', () => {
    const { provider } = makeProvider({ grants: ['client_credentials', 'password'] });
    expect(provider.metadataDocument()).toEqual({
      ...common,
      grant_types_supported: ['client_credentials', 'password'],
      response_types_supported: [],
    });
  });
});
