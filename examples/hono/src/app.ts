/**
 * The example's Hono app: a Portcullis provider on memory stores serving its endpoints
 * (`oauthEndpoints`) and one protected route (`requireOAuth`).
 */
import { createMemoryStores, hashSecret, OAuth2Provider } from '@portcullis/core';
import { oauthEndpoints, requireOAuth } from '@portcullis/hono';
import { Hono } from 'hono';

/** What the app is built from. */
export interface ExampleOptions {
  /** The provider's issuer: the URL the app is reached at, e.g. `http://127.0.0.1:3000`. */
  issuer: string;
  /** The secret of the one client, `demo-app` (32 characters or more). */
  clientSecret: string;
}

/** The id of the example's one confidential client. */
export const CLIENT_ID = 'demo-app';

/** Builds the app: the OAuth endpoints, `GET /api/me` (scope `read`) and a JSON 500 for anything thrown. */
export function createApp(options: ExampleOptions): Hono {
  const provider = new OAuth2Provider({
    issuer: options.issuer,
    grants: ['client_credentials'],
    stores: createMemoryStores({
      clients: [
        {
          id: CLIENT_ID,
          secretHash: hashSecret(options.clientSecret),
          redirectUris: [],
          grantTypes: ['client_credentials'],
          scopes: ['read', 'write'],
        },
      ],
    }),
  });

  const app = new Hono();
  // Never shows an internal message: the logs are the place for it.
  app.onError((err, c) => {
    console.error('example-hono: a request failed:', err.name);
    return c.json({ error: 'server_error', error_description: 'The server could not complete the request' }, 500);
  });
  app.use(oauthEndpoints(provider));
  app.get('/api/me', requireOAuth(provider, 'read'), (c) => {
    const token = c.get('oauth');
    return c.json({ client: token.clientId, scopes: token.scopes, expiresAt: token.expiresAt.toISOString() });
  });
  app.get('/', (c) => c.text('Portcullis on Hono: POST /oauth/token, GET /api/me, GET /.well-known/oauth-authorization-server\n'));
  return app;
}
