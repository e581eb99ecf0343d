// Modules the JWT servers load from the workspace without being dependencies of bench/: the
// `@portcullis/resource-server` package (its built dist/, or its TypeScript sources under
// --source) and the `jose` it depends on, resolved from that package, so the bare floors sign and
// verify with the very copy of jose the verifier uses.
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const RS_DIR = fileURLToPath(new URL('../../packages/resource-server/', import.meta.url));

/** True when this process runs Portcullis from its sources (`--source`: tsx and the source condition). */
const fromSource = process.execArgv.includes('--conditions=source');

export async function loadJose() {
  return import(pathToFileURL(createRequire(`${RS_DIR}package.json`).resolve('jose')).href);
}

export async function loadResourceServer() {
  return import(pathToFileURL(`${RS_DIR}${fromSource ? 'src/index.ts' : 'dist/index.js'}`).href);
}

/** The key-encryption key of the benchmark's Portcullis signing keys (32 bytes, base64url; not a secret). */
export const BENCH_KEK = Buffer.alloc(32, 7).toString('base64url');

/** Issuer and audience of every JWT in the benchmark (Portcullis' default audience is its issuer). */
export const JWT_ISSUER = 'http://127.0.0.1';

const CORE_DIR = fileURLToPath(new URL('../../packages/core/', import.meta.url));

/**
 * A module as `@portcullis/core` resolves it (its dependencies and devDependencies: `jose`, the
 * `@opentelemetry` SDK packages), so the bench uses the very copies core runs with.
 */
export async function loadFromCore(name) {
  return import(pathToFileURL(createRequire(`${CORE_DIR}package.json`).resolve(name)).href);
}
