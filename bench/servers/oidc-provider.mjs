// Incumbent: oidc-provider 9 with its default in-memory adapter, doing client_credentials at
// POST /token and introspection at POST /token/introspection.
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: 'c1',
      client_secret: 's3cret-for-the-benchmark-0123456789',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: 'read write',
    },
  ],
  scopes: ['read', 'write'],
  features: {
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // The documented default policy, given explicitly so oidc-provider does not print a notice.
      allowedPolicy: (ctx, client, token) => !(client.clientAuthMethod === 'none' && token.clientId !== ctx.oidc.client.clientId),
    },
    devInteractions: { enabled: false },
  },
  ttl: { ClientCredentials: 3600 },
});
provider.on('server_error', (_ctx, err) => console.error('server_error', err));
const server = provider.listen(port, '127.0.0.1', () => console.log(`READY ${server.address().port}`));
