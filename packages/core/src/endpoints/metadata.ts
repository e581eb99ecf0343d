import { DEVICE_GRANT } from '../device-codes.js';
import type { Engine } from '../engine.js';
import { endpointUrl } from '../options.js';

/** Authorization server metadata (RFC 8414), from what is enabled. */
export function metadataDocument(e: Engine): Record<string, unknown> {
  const o = e.o;
  const g = o.grants;
  const url = (path: string) => endpointUrl(o, path);
  const responseTypes: string[] = [];
  if (g.has('authorization_code')) responseTypes.push('code');
  if (g.has('implicit')) responseTypes.push('token');
  const authMethods = ['client_secret_basic', 'client_secret_post', 'none'];
  const doc: Record<string, unknown> = {
    issuer: o.issuer,
    token_endpoint: url(o.endpoints.token),
    token_endpoint_auth_methods_supported: authMethods,
    grant_types_supported: [...g],
    response_types_supported: responseTypes,
    revocation_endpoint: url(o.endpoints.revocation),
    revocation_endpoint_auth_methods_supported: authMethods,
    introspection_endpoint: url(o.endpoints.introspection),
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    authorization_response_iss_parameter_supported: true,
  };
  if (responseTypes.length > 0) {
    doc.authorization_endpoint = url(o.endpoints.authorization);
    doc.response_modes_supported = g.has('implicit') ? ['query', 'fragment'] : ['query'];
  }
  if (g.has('authorization_code')) doc.code_challenge_methods_supported = o.pkce.allowPlain ? ['S256', 'plain'] : ['S256'];
  if (o.scopes) doc.scopes_supported = [...o.scopes];
  if (o.jwt) doc.jwks_uri = url(o.endpoints.jwks);
  if (g.has(DEVICE_GRANT)) doc.device_authorization_endpoint = url(o.endpoints.deviceAuthorization);
  if (o.clientIdMetadataDocuments.enabled) doc.client_id_metadata_document_supported = true;
  if (o.registration.enabled) doc.registration_endpoint = url(o.endpoints.registration);
  if (o.dpop.enabled) doc.dpop_signing_alg_values_supported = [...o.dpop.algorithms];
  if (o.par.enabled) {
    doc.pushed_authorization_request_endpoint = url(o.endpoints.pushedAuthorizationRequest);
    doc.require_pushed_authorization_requests = o.par.required;
  }
  return doc;
}
