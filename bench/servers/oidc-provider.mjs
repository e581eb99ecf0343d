// Incumbent: oidc-provider 9 with its default in-memory adapter, doing client_credentials at
// POST /token and introspection at POST /token/introspection.
// With `JWT_ALG` (ES256 or EdDSA): a resource indicator (RFC 8707) `JWT_RESOURCE` whose access
// tokens are JWTs signed with that algorithm (features.resourceIndicators, getResourceServerInfo
// answering accessTokenFormat 'jwt'), with a key of that algorithm made at start in `jwks`; a
// client_credentials request naming `resource=JWT_RESOURCE` gets an RFC 9068 JWT.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';

export const JWT_RESOURCE = 'https://api.example/';

const port = Number(process.env.PORT);
const alg = process.env.JWT_ALG;

function signingKey() {
  const { privateKey } = alg === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: randomBytes(12).toString('base64url') };
}

const jwt = alg
  ? {
      jwks: { keys: [signingKey()] },
      enabledJWA: { idTokenSigningAlgValues: [alg] },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => undefined,
        useGrantedResource: async () => false,
        getResourceServerInfo: async (_ctx, resource) => {
          if (resource !== JWT_RESOURCE) throw new Provider.errors.InvalidTarget();
          return {
            scope: 'read write',
            audience: 'http://127.0.0.1',
            accessTokenFormat: 'jwt',
            accessTokenTTL: 3600,
            jwt: { sign: { alg } },
          };
        },
      },
    }
  : null;

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: 'c1',
      client_secret: 's3cret-for-the-benchmark-0123456789',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: 'read write',
      ...(alg ? { id_token_signed_response_alg: alg } : {}),
    },
  ],
  ...(jwt ? { jwks: jwt.jwks, enabledJWA: jwt.enabledJWA } : {}),
  scopes: ['read', 'write'],
  features: {
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // The documented default policy, given explicitly so oidc-provider does not print a notice.
      allowedPolicy: (ctx, client, token) => !(client.clientAuthMethod === 'none' && token.clientId !== ctx.oidc.client.clientId),
    },
    devInteractions: { enabled: false },
    ...(jwt ? { resourceIndicators: jwt.resourceIndicators } : {}),
  },
  ttl: { ClientCredentials: 3600 },
});
provider.on('server_error', (_ctx, err) => console.error('server_error', err));
const server = provider.listen(port, '127.0.0.1', () => console.log(`READY ${server.address().port}`));
