/**
 * `@portcullis/resource-server`: bearer and DPoP (RFC 9449) token checks (RFC 6750) for APIs that are not the
 * authorization server. JWT access tokens (RFC 9068) are verified locally with jose; opaque ones
 * through RFC 7662 introspection, with a short bounded cache.
 */
export { type AuthResult, authenticate, type BearerRequest, type BearerResponse, challenge } from './bearer.js';
export type { DpopAlgorithm, DpopOptions, DpopReplayStore, DpopRequest } from './dpop.js';
export { requireOAuthFetch, toFetchResponse } from './fetch.js';
export type { IntrospectionOptions } from './introspection.js';
export {
  type ProtectedResourceOptions,
  protectedResourceFetchHandler,
  protectedResourceHandler,
  protectedResourceMetadata,
  protectedResourceMetadataPath,
  protectedResourceMetadataUrl,
} from './metadata.js';
export {
  type AuthorizedRequest,
  fromNodeRequest,
  type NextFunction,
  type NodeMiddleware,
  type NodeRequest,
  type OAuthRouteHandler,
  requireOAuth,
  sendNodeResponse,
  withOAuth,
} from './node.js';
export {
  type BearerErrorCode,
  createVerifier,
  metadataUrl,
  type ResourceErrorCode,
  type VerifiedToken,
  type VerifiedTokenCacheOptions,
  type Verifier,
  type VerifierOptions,
  type VerifyResult,
} from './verifier.js';
