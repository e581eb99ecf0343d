/**
 * jose is a dependency of core, not of this package: the tests load it from core's node_modules
 * (its JavaScript build, typed by its declarations).
 */
import type * as Jose from '../../core/node_modules/jose/dist/types/index.js';
// @ts-expect-error -- the JavaScript build has no declarations beside it; typed by the cast below.
import * as joseBuild from '../../core/node_modules/jose/dist/webapi/index.js';

export const { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, SignJWT } =
  joseBuild as typeof Jose;
