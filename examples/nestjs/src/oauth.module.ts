/**
 * `OAuthModule.forRoot(...)`: the Portcullis provider as a Nest provider (token `OAUTH_PROVIDER`),
 * global, so `OAuthGuard` can inject it anywhere.
 */
import { type DynamicModule, Global, Module } from '@nestjs/common';
import { createMemoryStores, hashSecret, OAuth2Provider } from '@portcullis/core';

/** The injection token of the `OAuth2Provider`. */
export const OAUTH_PROVIDER = 'PORTCULLIS_OAUTH_PROVIDER';

/** The id of the example's one confidential client. */
export const CLIENT_ID = 'demo-app';

/** What the example's provider is built from. */
export interface OAuthModuleOptions {
  /** The provider's issuer: the URL the app is reached at, e.g. `http://127.0.0.1:3000`. */
  issuer: string;
  /** The secret of the one client, `demo-app` (32 characters or more). */
  clientSecret: string;
}

/** Provides the `OAuth2Provider` (memory stores; swap in a binding for a real deployment). */
@Global()
@Module({})
export class OAuthModule {
  /** The module with a provider built from `options`. */
  static forRoot(options: OAuthModuleOptions): DynamicModule {
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
    return { module: OAuthModule, providers: [{ provide: OAUTH_PROVIDER, useValue: provider }], exports: [OAUTH_PROVIDER] };
  }
}
