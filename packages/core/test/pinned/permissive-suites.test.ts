/**
 * The compliance suites again, on the permissive reference store instead of the memory stores.
 * The memory stores never return an expired record or another client's code, so on them a
 * removed check in core changes no answer; here the same assertions hold only if core refuses
 * what the store hands back. (Each import registers that file's tests in this file.)
 */
import './use-permissive.js';
import '../compliance/rfc6749-authorization-code.test.js';
import '../compliance/rfc6749-other-grants.test.js';
import '../compliance/rfc6749-refresh-token.test.js';
import '../compliance/rfc6749-token-endpoint.test.js';
import '../compliance/rfc6750-bearer.test.js';
import '../compliance/rfc7009-revocation.test.js';
import '../compliance/rfc7636-pkce.test.js';
import '../compliance/rfc7662-introspection.test.js';
import '../hooks.test.js';
