// Floor for JWT access tokens: bare node:http that reads the POST body and signs one RFC 9068
// token with jose's SignJWT (typ at+jwt, iss, sub, aud, exp, iat, jti, client_id, scope), with a
// key made at start (`JWT_ALG`: ES256 or EdDSA, Ed25519). No parsing, no client authentication,
// no store.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { JWT_ISSUER, loadJose } from '../lib/workspace.mjs';

const { SignJWT, generateKeyPair } = await loadJose();
const alg = process.env.JWT_ALG ?? 'ES256';
const { privateKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
const kid = randomBytes(12).toString('base64url');

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ client_id: 'c1', scope: 'read' })
      .setProtectedHeader({ alg, kid, typ: 'at+jwt' })
      .setIssuer(JWT_ISSUER)
      .setSubject('c1')
      .setAudience(JWT_ISSUER)
      .setJti(randomBytes(16).toString('base64url'))
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(privateKey);
    const body = JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: 3600, scope: 'read' });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => console.log(`READY ${server.address().port}`));
