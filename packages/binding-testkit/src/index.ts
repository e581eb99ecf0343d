/**
 * The Portcullis storage contract suite. A binding's test file calls one suite per store it
 * implements; the suites run under vitest or node:test (assertions use node:assert/strict).
 */

export {
  assertClient,
  type ClientCheckContext,
  type ClientSuiteOptions,
  clientChecks,
  clientStoreSuite,
  makeClient,
} from './client.js';
export {
  assertDeviceCode,
  type DeviceCheckContext,
  type DeviceSuiteOptions,
  deviceChecks,
  deviceCodeStoreSuite,
  makeDeviceCode,
  makeUserCode,
} from './devices.js';
export {
  type DpopKey,
  type DpopProofAlgorithm,
  type DpopProofClaims,
  dpopAth,
  dpopKey,
  dpopProof,
} from './dpop.js';
export {
  type EphemeralCheckContext,
  type EphemeralSuiteOptions,
  ephemeralChecks,
  ephemeralStoreSuite,
  makeEphemeralKey,
} from './ephemeral.js';
export {
  type AuthorizationCodeFlowOptions,
  approveAuthorization,
  authorizationCodeFlow,
  basicAuth,
  bearerRequest,
  type CodeFlowResult,
  captureLogger,
  type FlowClient,
  type FlowProvider,
  formRequest,
  GRANT_CACHE_CLIENT,
  type GrantCacheProviderSuiteOptions,
  grantCacheProvider,
  grantCacheProviderSuite,
  jsonBody,
  locationOf,
  type PkcePair,
  pkcePair,
  RecordingRegistry,
  redeemCode,
  tokenAccepted,
} from './flows.js';
export {
  type GrantCheckContext,
  type GrantProbe,
  type GrantSuiteOptions,
  grantChecks,
  grantProbeChecks,
  grantStoreSuite,
  makeGrant,
} from './grant.js';
export {
  assertSigningKey,
  type KeyCheckContext,
  type KeySuiteOptions,
  keyChecks,
  keyStoreSuite,
  makeSigningKey,
} from './keys.js';
export {
  createPermissiveStores,
  type PermissiveProviderSuiteOptions,
  type PermissiveStores,
  type PermissiveUserSeed,
  permissiveProviderSuite,
} from './permissive.js';
export {
  assertClientExactly,
  clientRegistrationStoreSuite,
  makeMinimalRegisteredClient,
  makeRegisteredClient,
  type RegistrationCheckContext,
  type RegistrationStores,
  type RegistrationSuiteOptions,
  registrationChecks,
} from './registration.js';
export {
  REGISTRATION_FLOW_OPTIONS,
  type RegistrationFlowOptions,
  type RegistrationFlowProvider,
  type RegistrationFlowResult,
  type RegistrationSecrets,
  registrationFlow,
} from './registration-flow.js';
export { assertGrant, assertToken, type Check, type StoreCapabilities, type TestApi } from './shared.js';
export {
  makePair,
  type TokenCheckContext,
  type TokenPair,
  type TokenProbe,
  type TokenSuiteOptions,
  tokenChecks,
  tokenProbeChecks,
  tokenStoreSuite,
} from './token.js';
export {
  makeUser,
  type UserCheckContext,
  type UserSeed,
  type UserSuiteOptions,
  userChecks,
  userStoreSuite,
} from './user.js';
export {
  issuedAtChecks,
  type UserGrantCheckContext,
  type UserGrantStores,
  type UserGrantSuiteOptions,
  userGrantChecks,
  userGrantStoreSuite,
} from './user-grants.js';
