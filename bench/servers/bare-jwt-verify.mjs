// Floor for checking JWT access tokens: bare node:http that takes the token from the
// Authorization header and runs jose's jwtVerify with a local key (iss, aud, typ at+jwt, the one
// algorithm), answering a small JSON. The keys are read once at start from the issuer's JWKS
// (`JWKS_URL`, those whose alg is `JWT_ALG`) and imported, then picked by `kid`; no remote key
// set, no cache.
import { createServer } from 'node:http';
import { JWT_ISSUER, loadJose } from '../lib/workspace.mjs';

const { importJWK, jwtVerify } = await loadJose();
const alg = process.env.JWT_ALG ?? 'ES256';
const jwks = await (await fetch(process.env.JWKS_URL, { signal: AbortSignal.timeout(5000) })).json();
const keys = new Map();
for (const jwk of jwks.keys) if (jwk.alg === alg) keys.set(jwk.kid, await importJWK(jwk, alg));
if (keys.size === 0) throw new Error(`no ${alg} key at ${process.env.JWKS_URL}`);
const key = (header) => keys.get(header.kid);
const options = { issuer: JWT_ISSUER, audience: JWT_ISSUER, typ: 'at+jwt', algorithms: [alg] };

function send(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const server = createServer((req, res) => {
  const h = req.headers.authorization ?? '';
  if (!h.startsWith('Bearer ')) return send(res, 401, '{"error":"invalid_token"}');
  jwtVerify(h.slice(7), key, options).then(
    ({ payload }) => send(res, 200, JSON.stringify({ ok: true, client: payload.client_id })),
    () => send(res, 401, '{"error":"invalid_token"}'),
  );
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => console.log(`READY ${server.address().port}`));
