// Baseline: the least a token endpoint can do. Reads the POST body, makes 32 random bytes, one
// HMAC-SHA-256 (the digest it would store), one Map set, and answers a token JSON. No parsing,
// no client authentication, no validation.
import { createHmac, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

const key = randomBytes(32);
const tokens = new Map();

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const token = randomBytes(32).toString('base64url');
    const digest = createHmac('sha256', key).update(token).digest('base64url');
    tokens.set(digest, Date.now() + 3_600_000);
    const body = JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: 3600 });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => console.log(`READY ${server.address().port}`));
