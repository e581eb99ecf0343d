export * from './contract.js';
export * from './errors.js';
export * from './http.js';
export * from './registry.js';
export * from './options.js';
export {
  digestToken,
  generateClientSecret,
  hashPassword,
  hashSecret,
  randomToken,
  verifySecret,
} from './crypto.js';
export { OAuth2Provider, ConfigurationError, type VerifiedToken } from './provider.js';
export type { AuthorizationDecision, AuthorizationRequest, AuthorizeResult } from './endpoints/authorize.js';
export type { ResourceResult } from './endpoints/resource.js';
export type { TokenResponseBody } from './endpoints/shared.js';
export { createMemoryStores, type MemoryStores, type MemoryStoresSeed, type MemoryUserSeed } from './memory.js';
export * from './adapters/node.js';
export * from './adapters/fetch.js';
export * from './cache-grant.js';
export * from './grant-codec.js';
