// Floor for the DPoP-bound resource check (group `dpop`): bare node:http that takes the proof
// from the `DPoP` header and verifies it with jose, `jwtVerify(proof, EmbeddedJWK, { typ:
// 'dpop+jwt' })` (the signature by the key in the proof's own `jwk` header), and nothing else: no
// access token lookup, no htm/htu/ath/iat checks, no replay store, no key thumbprint. It answers
// the same small JSON as the other resource servers. jose is the copy @portcullis/core uses.
import { createServer } from 'node:http';
import { loadFromCore } from '../lib/workspace.mjs';

const { EmbeddedJWK, jwtVerify } = await loadFromCore('jose');
const options = { typ: 'dpop+jwt' };

function send(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const server = createServer((req, res) => {
  const proof = req.headers.dpop;
  if (typeof proof !== 'string') return send(res, 401, '{"error":"invalid_dpop_proof"}');
  jwtVerify(proof, EmbeddedJWK, options).then(
    () => send(res, 200, '{"ok":true,"client":"c1"}'),
    () => send(res, 401, '{"error":"invalid_dpop_proof"}'),
  );
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => console.log(`READY ${server.address().port}`));
