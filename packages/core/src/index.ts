export * from './adapters/fetch.js';
export * from './adapters/node.js';
export * from './cache-grant.js';
export * from './contract.js';
export {
  digestToken,
  generateClientSecret,
  hashPassword,
  hashSecret,
  randomToken,
  verifySecret,
} from './crypto.js';
export type { AuthorizationDecision, AuthorizationRequest, AuthorizeResult } from './endpoints/authorize.js';
export type { ResourceResult } from './endpoints/resource.js';
export type { TokenResponseBody } from './endpoints/shared.js';
export * from './errors.js';
export * from './grant-codec.js';
export * from './http.js';
export { createMemoryStores, type MemoryStores, type MemoryStoresSeed, type MemoryUserSeed } from './memory.js';
export * from './options.js';
export { ConfigurationError, OAuth2Provider, type VerifiedToken } from './provider.js';
export * from './registry.js';
