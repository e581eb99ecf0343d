/**
 * Mixing stores: clients, users and tokens in SQL (Sequelize), authorization codes in Redis
 * (bindCacheGrant), and one client that lives in code. Guide: docs/mixing-stores.md.
 */
import { bindSequelize, defineModels, migrate } from '@portcullis/binding-sequelize';
import { bindCacheGrant, type CacheGrant, type Client, type CurrentUser, OAuth2Provider, type OAuthRequest } from '@portcullis/core';
import type { Sequelize } from 'sequelize';

/** Stand-in for your session lookup (Flask-Login's `current_user`). */
export const currentUser: CurrentUser = (request: OAuthRequest) => {
  const name = request.headers['x-signed-in-user'];
  return typeof name === 'string' ? { id: name } : null;
};

/** A first-party client kept in code (or a config file) rather than in the clients table. */
export const dashboard: Client = {
  id: 'dashboard',
  secretHash: null,
  redirectUris: ['https://dashboard.example/cb'],
  grantTypes: ['authorization_code', 'refresh_token'],
  scopes: ['read', 'write'],
};

export async function createMixedProvider(
  sequelize: Sequelize,
  redisUrl: string,
): Promise<{ provider: OAuth2Provider; codes: CacheGrant }> {
  const provider = new OAuth2Provider({ issuer: 'https://auth.example', grants: ['authorization_code', 'refresh_token', 'password'] });

  // 1. SQL for clients, users and tokens: no `grant` model, so the binding leaves codes alone.
  const models = defineModels(sequelize);
  await migrate(sequelize, { tables: ['client', 'user', 'token'] });
  const sql = bindSequelize(provider, { sequelize, client: models.client, user: models.user, token: models.token });

  // 2. Codes in Redis, from Flask-style keys (a config object or process.env works as is).
  const codes = await bindCacheGrant(
    provider,
    { OAUTH2_CACHE_TYPE: 'redis', OAUTH2_CACHE_REDIS_URL: redisUrl, OAUTH2_CACHE_KEY_PREFIX: 'auth:' },
    currentUser,
    { importModule: (specifier) => import(specifier) },
  );

  // 3. One slot of your own, on top: an explicit registration beats a binding's, in any order.
  const sqlClients = sql.clients!;
  provider.clientGetter(async (id) => (id === dashboard.id ? dashboard : sqlClients.getClient(id)));

  provider.validate(); // throws now, not on the first request, if a slot is missing
  return { provider, codes };
}
