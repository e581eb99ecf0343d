/**
 * A stand-in authorization server run as its own process by the test: core's OAuth2Provider on
 * memory stores, JWT access tokens for the RFC 8707 resources in RESOURCES (space-separated), one
 * client_credentials client `app` with the secret CLIENT_SECRET. It exists because the example
 * provider (examples/provider) has no setting for JWT access tokens or resources yet.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMemoryStores, generateClientSecret, hashSecret, OAuth2Provider, toNodeHandler } from '@portcullis/core';

const secret = process.env.CLIENT_SECRET;
const resources = (process.env.RESOURCES ?? '').split(' ').filter((r) => r !== '');
if (!secret || resources.length === 0) {
  console.error('provider-process: CLIENT_SECRET and RESOURCES are required');
  process.exit(1);
}
let handler: ReturnType<typeof toNodeHandler> | null = null;
const server = createServer((req, res) => {
  if (handler) void handler(req, res);
  else res.writeHead(503).end();
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const provider = new OAuth2Provider({
  issuer,
  grants: ['client_credentials'],
  stores: createMemoryStores({
    clients: [
      { id: 'app', secretHash: hashSecret(secret), redirectUris: [], grantTypes: ['client_credentials'], scopes: ['read', 'write'] },
    ],
  }),
  accessTokenFormat: 'opaque',
  resources: resources.map((uri) => ({ uri, accessTokenFormat: 'jwt' as const })),
  jwt: { keyEncryptionKey: generateClientSecret() },
});
handler = toNodeHandler(provider);
console.log(`provider on ${issuer}`);
process.once('SIGTERM', () => server.close(() => process.exit(0)));
