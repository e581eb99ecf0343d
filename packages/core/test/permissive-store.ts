/**
 * The permissive reference store core's tests run on besides the memory stores: it returns expired
 * records and codes of other clients, so the refusals the tests assert come from core's own checks.
 * It lives in the testkit (binding authors get the same, with `permissiveProviderSuite`); the import
 * is relative because the testkit depends on core, so core cannot depend on it as a package.
 */
export { createPermissiveStores, type PermissiveStores, permissiveProviderSuite } from '../../binding-testkit/src/permissive.js';
