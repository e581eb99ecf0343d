import type { Client, CurrentUser, ProviderStores, StoreRegistry, User } from '@portcullis/core';
import type { Connection, Model } from 'mongoose';
import { createEphemeralStore } from './ephemeral.js';
import {
  type ClientDocument,
  type DeviceCodeDocument,
  defineModels,
  type EphemeralDocument,
  type GrantDocument,
  type SigningKeyDocument,
  type TokenDocument,
  type UserDocument,
} from './schemas.js';
import {
  createClientRegistrationStore,
  createClientStore,
  createDeviceCodeStore,
  createGrantStore,
  createKeyStore,
  createTokenStore,
  createUserGrantStore,
  createUserStore,
} from './stores.js';

export { createEphemeralStore } from './ephemeral.js';
export * from './schemas.js';
export {
  createClientRegistrationStore,
  createClientStore,
  createDeviceCodeStore,
  createGrantStore,
  createKeyStore,
  createTokenStore,
  createUserGrantStore,
  createUserStore,
  lookupKey,
} from './stores.js';

/**
 * What `bindMongoose` binds. Each of `client`, `user`, `grant`, `token` and `key` is a model (the
 * default one from `defineModels`, or your own with the same fields), or `true` for the default
 * model on `connection`. A model left out binds nothing.
 */
export interface BindMongooseOptions<
  U extends User = User,
  CD extends ClientDocument = ClientDocument,
  UD extends UserDocument = UserDocument,
  GD extends GrantDocument = GrantDocument,
  TD extends TokenDocument = TokenDocument,
> {
  /** The connection the default models are built on; needed only when a model is `true`. */
  connection?: Connection;
  /** Collection prefix for the default models (see `defineModels`). */
  collectionPrefix?: string;
  /** Binds `clients.getClient` and `registrations.*` (dynamic client registration, RFC 7591/7592). */
  client?: Model<CD> | true;
  /** Binds `users.getUserByUsername` (the password grant). */
  user?: Model<UD> | true;
  /** Binds `grants.saveGrant` and `grants.consumeGrant`; requires `currentUser`. */
  grant?: Model<GD> | true;
  /** Binds every `tokens.*` slot; with `grant`, also `userGrants` (a user's grants, listed and revoked per client). */
  token?: Model<TD> | true;
  /** Binds `keys` (the signing keys of JWT access tokens, with `accessTokenFormat: 'jwt'`). */
  key?: Model<SigningKeyDocument> | true;
  /** Binds `devices` (device authorization requests, RFC 8628, with the device_code grant). */
  device?: Model<DeviceCodeDocument> | true;
  /** Binds `ephemeral` (pushed authorization requests, RFC 9126, and DPoP proof replay, RFC 9449). */
  ephemeral?: Model<EphemeralDocument> | true;
  /** Who is signed in while deciding on an authorization request; required with `grant`. */
  currentUser?: CurrentUser<U>;
}

/**
 * Registers Mongoose-backed stores on a provider (with `source: 'binding'`, so anything the
 * application registers explicitly wins), like Flask-OAuthlib's `bind_sqlalchemy`. Called once
 * at startup; throws at once when the options are inconsistent.
 * @returns the stores it registered, for reuse elsewhere.
 */
export function bindMongoose<
  U extends User = User,
  C extends Client = Client,
  CD extends ClientDocument = ClientDocument,
  UD extends UserDocument = UserDocument,
  GD extends GrantDocument = GrantDocument,
  TD extends TokenDocument = TokenDocument,
>(provider: StoreRegistry<U, C>, options: BindMongooseOptions<U, CD, UD, GD, TD>): ProviderStores<U, C> {
  const { connection, client, user, grant, token, key, device, ephemeral, currentUser } = options;
  if (grant && typeof currentUser !== 'function') {
    throw new TypeError('bindMongoose: `currentUser` is required when `grant` is given (it names the consenting user)');
  }
  const wantsDefaults = [client, user, grant, token, key, device, ephemeral].some((model) => model === true);
  if (wantsDefaults && !connection) {
    throw new TypeError('bindMongoose: `connection` is required when a model is given as `true`');
  }
  const defaults = wantsDefaults && connection ? defineModels(connection, options) : undefined;
  // `true` takes the default model; a model of your own keeps its document type.
  const pick = <D>(model: Model<D> | true | undefined, fallback: Model<D> | undefined) => (model === true ? fallback : model || undefined);

  const stores: ProviderStores<U, C> = {};
  const clientModel = pick<ClientDocument>(client as Model<ClientDocument> | true | undefined, defaults?.client);
  const userModel = pick<UserDocument>(user as Model<UserDocument> | true | undefined, defaults?.user);
  const grantModel = pick<GrantDocument>(grant as Model<GrantDocument> | true | undefined, defaults?.grant);
  const tokenModel = pick<TokenDocument>(token as Model<TokenDocument> | true | undefined, defaults?.token);
  if (clientModel) {
    stores.clients = createClientStore<C>(clientModel);
    stores.registrations = createClientRegistrationStore<C>(clientModel);
  }
  if (userModel) stores.users = createUserStore<U>(userModel);
  if (grantModel) stores.grants = createGrantStore(grantModel);
  if (tokenModel) stores.tokens = createTokenStore(tokenModel);
  if (tokenModel && grantModel) stores.userGrants = createUserGrantStore(tokenModel, grantModel);
  const keyModel = pick<SigningKeyDocument>(key, defaults?.key);
  if (keyModel) stores.keys = createKeyStore(keyModel);
  const deviceModel = pick<DeviceCodeDocument>(device, defaults?.device);
  if (deviceModel) stores.devices = createDeviceCodeStore(deviceModel);
  const ephemeralModel = pick<EphemeralDocument>(ephemeral, defaults?.ephemeral);
  if (ephemeralModel) stores.ephemeral = createEphemeralStore(ephemeralModel);

  provider.useStores(stores, { source: 'binding' });
  if (currentUser) provider.setCurrentUser(currentUser, { source: 'binding' });
  return stores;
}
