// Group `dpop`: a DPoP-bound resource check (RFC 9449) on memory stores through `node:http`
// (Portcullis with `dpop: { enabled: true }`, `requireOAuth(provider, 'read')` on GET /resource)
// next to a bare `node:http` floor that only verifies the same proofs with jose, for ES256 and
// EdDSA (Ed25519) proofs.
//
// Every round starts fresh servers, so in every round, before the warm-ups, each Portcullis
// server issues a DPoP-bound token (client_credentials with a proof for its token endpoint), and
// the bench signs a pool of proofs for GET http://127.0.0.1/resource with that token's `ath`, each
// with its own `jti` (Portcullis refuses a replayed proof), `iat` now (the pool is used up well
// within `dpop.maxAge`, 300 s). load.lua sends one proof a request, reading the file a line at a
// time; the floor reads the same file with a cursor of its own. The pool holds DPOP_RATE_CAP
// requests a second for the longest a row can run in a round (warm-up and measured time); a row
// that runs out starts over and its replays show up as errors.
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runGroup } from './measure.mjs';
import { tempDir } from './procs.mjs';
import { basic, CC_BODY, D, DPOP_ALGS, DPOP_HTU, dpopRows } from './scenarios.mjs';

/** Requests a second the proof pool is sized for. */
export const DPOP_RATE_CAP = 6000;
const TOKEN_HTU = 'http://127.0.0.1/oauth/token';

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');

/** A client key for `alg` and a function signing proofs with it (compact JWS, node:crypto). */
function clientKey(alg) {
  const { privateKey, publicKey } = alg === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
  const header = b64({ typ: 'dpop+jwt', alg, jwk: y ? { kty, crv, x, y } : { kty, crv, x } });
  const signer =
    alg === 'EdDSA'
      ? (data) => sign(null, data, privateKey)
      : (data) => sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return (claims) => {
    const input = `${header}.${b64(claims)}`;
    return `${input}.${signer(Buffer.from(input)).toString('base64url')}`;
  };
}

const jti = () => randomBytes(12).toString('base64url');

/** A DPoP-bound access token from a Portcullis token endpoint. */
async function issue(port, proof) {
  const r = await fetch(`http://127.0.0.1:${port}/oauth/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: basic('c1'),
      dpop: proof({ jti: jti(), htm: 'POST', htu: TOKEN_HTU, iat: Math.floor(Date.now() / 1000) }),
    },
    body: CC_BODY,
    signal: AbortSignal.timeout(10_000),
  });
  const body = await r.json();
  if (body.token_type !== 'DPoP' || !body.access_token) throw new Error(`no DPoP token from 127.0.0.1:${port}: ${JSON.stringify(body)}`);
  return body.access_token;
}

/** Writes `n` proofs for GET DPOP_HTU with `token`'s ath, one a line. */
async function writeProofs(file, proof, token, n) {
  const ath = createHash('sha256').update(token).digest('base64url');
  const iat = Math.floor(Date.now() / 1000);
  const out = createWriteStream(file);
  for (let i = 0; i < n; i++) {
    if (!out.write(`${proof({ jti: jti(), htm: 'GET', htu: DPOP_HTU, iat, ath })}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

export async function runDpop(ctx) {
  const { CFG } = ctx;
  const pool = DPOP_RATE_CAP * (CFG.warmMax + CFG.seconds);
  const keys = Object.fromEntries(Object.entries(DPOP_ALGS).map(([inst, alg]) => [inst, clientKey(alg)]));
  const dir = tempDir('portcullis-bench-dpop-');
  const instances = Object.fromEntries(Object.keys(DPOP_ALGS).map((inst) => [inst, {}]));
  await runGroup(ctx, 'dpop', dpopRows(), {
    instances,
    eachRound: async (procs, round) => {
      // The pools of the round before are used up: remove them (tens of MB each).
      for (const inst of Object.keys(DPOP_ALGS)) rmSync(join(dir, `${inst}-${round - 1}.txt`), { force: true });
      for (const [inst, alg] of Object.entries(DPOP_ALGS)) {
        const t0 = Date.now();
        const token = await issue(procs.get(`pc-node-dpop/${inst}`).port, keys[inst]);
        const file = join(dir, `${inst}-${round}.txt`);
        await writeProofs(file, keys[inst], token, pool);
        ctx.log(`  ${pool.toLocaleString('en')} ${alg} proofs signed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        for (const e of [D[inst].floor, D[inst].pc]) {
          e.load = { ...e.load, BENCH_TOKEN: token, BENCH_FILE: file, BENCH_CURSOR: join(dir, `${e.id}-${round}.cursor`) };
        }
      }
    },
  });
}
