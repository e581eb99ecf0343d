import type { Client, CurrentUser, ProviderStores, StoreRegistry, User } from '@portcullis/core';
import type { Sequelize } from 'sequelize';
import { createSequelizeStores, type SequelizeModelsOption } from './stores.js';

/** Options of `bindSequelize`: the models to bind, each optional. */
export interface BindSequelizeOptions<U extends User = User> extends SequelizeModelsOption {
  /** When given, every model must belong to this instance (catches a model from another database). */
  sequelize?: Sequelize;
  /**
   * Who is signed in and deciding on an authorization request. Required when `grant` is given:
   * the grant store keeps the user who approved each code.
   */
  currentUser?: CurrentUser<U>;
}

/**
 * Binds the stores of the models given to a provider (Flask-OAuthlib's `bind_sqlalchemy`):
 * `client` -> clients, `user` -> users (password grant), `grant` -> authorization codes,
 * `token` -> access and refresh tokens, `key` -> signing keys of JWT access tokens, `device` ->
 * device authorization requests (RFC 8628), `ephemeral` -> core's ephemeral store (pushed
 * authorization requests, DPoP proof replay); `grant` and `token` together also bind
 * `userGrants` (a user's grants, listed and revoked per client). A model left out binds nothing, so you can register
 * your own store for it. Registrations are made as `source: 'binding'`, so anything the
 * application registers itself wins, whatever the order. Returns the stores it registered.
 * Throws at once when `grant` is given without `currentUser`.
 */
export function bindSequelize<U extends User = User, C extends Client = Client>(
  provider: StoreRegistry<U, C>,
  options: BindSequelizeOptions<U>,
): ProviderStores<U, C> {
  const { sequelize, currentUser, client, user, grant, token, key, device, ephemeral } = options;
  if (grant && !currentUser) {
    throw new TypeError(
      'bindSequelize: `currentUser` is required when `grant` is given (a function returning the signed-in user for a request, or null)',
    );
  }
  if (sequelize) {
    for (const [name, model] of Object.entries({ client, user, grant, token, key, device, ephemeral })) {
      if (model && model.sequelize !== sequelize) {
        throw new TypeError(`bindSequelize: the \`${name}\` model belongs to another Sequelize instance`);
      }
    }
  }
  const stores = createSequelizeStores<U, C>({ client, user, grant, token, key, device, ephemeral });
  provider.useStores(stores, { source: 'binding' });
  if (currentUser) provider.setCurrentUser(currentUser, { source: 'binding' });
  return stores;
}
