// Group `jwt`: JWT access tokens (RFC 9068) on memory stores, ES256 and EdDSA (Ed25519).
// - jwt-sign: Portcullis issuing a JWT by client_credentials (`node:http` adapter), the bare
//   jose SignJWT floor and oidc-provider issuing JWTs for a resource indicator, side by side.
// - jwt-verify: `@portcullis/resource-server` checking a token it has never seen (each request
//   another one of JWT_POOL tokens, more than its verified-token cache holds, and the cycle goes on
//   across runs: never a cache hit) and cycling through JWT_CACHED tokens (the cache answers),
//   next to the bare jose jwtVerify floor and the bare hello floor. The tokens are issued
//   beforehand by a Portcullis provider per algorithm that stays up for the group, serving the
//   JWKS the verifiers read.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch, runGroup } from './measure.mjs';
import { stop, tempDir } from './procs.mjs';
import { basic, CC_BODY, J, JWT_ALGS, JWT_POOL, jwtSignRows, jwtVerifyRows } from './scenarios.mjs';

/**
 * `n` access tokens from a Portcullis token endpoint, 16 requests in flight after a first one
 * alone (a fresh provider makes its signing key on the first token; concurrent first requests
 * each made one, 16 keys in the JWKS).
 */
export async function issue(port, n) {
  const out = [];
  const one = async () => {
    const r = await fetch(`http://127.0.0.1:${port}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('c1') },
      body: CC_BODY,
      signal: AbortSignal.timeout(10_000),
    });
    const body = await r.json();
    if (!body.access_token) throw new Error(`no token from 127.0.0.1:${port}: ${JSON.stringify(body)}`);
    out.push(body.access_token);
  };
  await one();
  const worker = async () => {
    while (out.length < n) await one();
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return out.slice(0, n);
}

export async function runJwt(ctx) {
  const signInstances = Object.fromEntries(Object.entries(JWT_ALGS).map(([inst, alg]) => [inst, { JWT_ALG: alg }]));
  await runGroup(ctx, 'jwt-sign', jwtSignRows(), { instances: signInstances });

  const dir = tempDir('portcullis-bench-jwt-');
  const issuers = [];
  const instances = {};
  try {
    for (const [inst, alg] of Object.entries(JWT_ALGS)) {
      const p = await launch(ctx, 'pc-node', { JWT_ALG: alg });
      issuers.push(p);
      const env = { JWT_ALG: alg, JWKS_URL: `http://127.0.0.1:${p.port}/oauth/jwks` };
      instances[inst] = env;
      instances[`${inst}-cached`] = env;
      const t0 = Date.now();
      const tokens = await issue(p.port, JWT_POOL);
      ctx.log(`  ${tokens.length.toLocaleString('en')} ${alg} tokens issued in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      for (const e of Object.values(J[inst])) {
        if (!e.jwtPool) continue;
        const file = join(dir, `${e.id}.txt`);
        writeFileSync(file, `${tokens.slice(0, e.jwtPool).join('\n')}\n`);
        e.load = { ...e.load, BENCH_FILE: file, BENCH_CURSOR: join(dir, `${e.id}.cursor`) };
      }
    }
    await runGroup(ctx, 'jwt-verify', jwtVerifyRows(), { instances });
  } finally {
    for (const p of issuers) await stop(p.child);
  }
}
