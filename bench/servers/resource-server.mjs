// @portcullis/resource-server on node:http: `requireOAuth(verifier, 'read')` guards
// GET /resource, answering the same JSON as the other resource servers. The verifier takes the
// issuer's keys from `JWKS_URL` (fetched on the first token, then cached by jose), with the
// verified-token cache at its default (1,000 entries) or off (`TOKEN_CACHE=off`).
import { createServer } from 'node:http';
import { JWT_ISSUER, loadResourceServer } from '../lib/workspace.mjs';

const { createVerifier, requireOAuth } = await loadResourceServer();
const verifier = createVerifier({
  issuer: JWT_ISSUER,
  audience: JWT_ISSUER,
  jwksUri: process.env.JWKS_URL,
  ...(process.env.TOKEN_CACHE === 'off' ? { verifiedTokenCache: false } : {}),
});
const guard = requireOAuth(verifier, 'read');

const server = createServer((req, res) => {
  if (req.url !== '/resource') {
    res.writeHead(404).end();
    return;
  }
  void guard(req, res, () => {
    const body = JSON.stringify({ ok: true, client: req.oauth.clientId });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => console.log(`READY ${server.address().port}`));
