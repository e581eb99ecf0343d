/** Builds the Nest app: `AppModule`, and the OAuth endpoints mounted through the Express adapter. */
import 'reflect-metadata';
import { type DynamicModule, type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { type OAuth2Provider, toNodeHandler } from '@portcullis/core';
import { ApiController } from './api.controller.js';
import { OAUTH_PROVIDER, OAuthModule, type OAuthModuleOptions } from './oauth.module.js';

/** The root module: the provider and the protected API. */
@Module({})
export class AppModule {
  /** The module for `options`. */
  static forRoot(options: OAuthModuleOptions): DynamicModule {
    return { module: AppModule, imports: [OAuthModule.forRoot(options)], controllers: [ApiController] };
  }
}

/**
 * The app, not yet listening. The token, revocation, introspection and metadata endpoints are
 * served by core's `toNodeHandler`, mounted on Express before Nest's routes and body parsers (it
 * reads the form body itself, so repeated parameters are refused); other paths go on to Nest.
 */
export async function createApp(options: OAuthModuleOptions): Promise<INestApplication> {
  const app = await NestFactory.create(AppModule.forRoot(options), { logger: ['error', 'warn'] });
  app.use(toNodeHandler(app.get<OAuth2Provider>(OAUTH_PROVIDER)));
  return app;
}
