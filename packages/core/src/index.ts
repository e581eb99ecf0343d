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
export { formatUserCode, normalizeUserCode, USER_CODE_ALPHABET } from './device-codes.js';
export type { AuthorizationDecision, AuthorizationRequest, AuthorizeResult } from './endpoints/authorize.js';
export type { DeviceAuthorizationBody } from './endpoints/device-authorization.js';
export type { DeviceAuthorizationDecision, DeviceRequest } from './endpoints/device-verification.js';
export type { PushedAuthorizationBody } from './endpoints/par.js';
export { type GuardOptions, guardArgs, type ResourceResult, type VerifiedToken, type VerifyOptions } from './endpoints/resource.js';
export * from './errors.js';
export * from './grant-codec.js';
export type { TokenResponseBody } from './grants/issue.js';
export type { AfterRequestHook, BeforeRequestHook, EndpointName, HookContext, HookOutcome } from './hooks.js';
export * from './http.js';
export { consoleLogger, describe as describeError, type Logger } from './log.js';
export { createMemoryStores, type MemoryStores, type MemoryStoresSeed, type MemoryUserSeed } from './memory.js';
export * from './options.js';
export { OAuth2Provider } from './provider.js';
export {
  BINDING_STORES,
  type CurrentUser,
  type RegisterOptions,
  type SlotName,
  type SlotSource,
  type SlotTypes,
  type StoreRegistry,
} from './registry.js';
export { MAX_RESOURCE_LENGTH, MAX_RESOURCES } from './resources.js';
export { errorResponse, json as jsonResponse, serverErrorResponse } from './responses.js';
