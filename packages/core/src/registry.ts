import type { Client, ClientStore, GrantStore, Stores, TokenStore, User, UserStore } from './contract.js';
import type { OAuthRequest } from './http.js';

/** Who registered a slot. An `explicit` registration always beats a `binding` one, in any order. */
export type SlotSource = 'binding' | 'explicit';

export interface RegisterOptions {
  /** Bindings pass `'binding'`; applications leave it out (`'explicit'`). */
  source?: SlotSource;
}

/**
 * Returns the user who is signed in and deciding on an authorization request (Flask-OAuthlib's
 * `current_user`); used when the application's decision does not name the user itself.
 * `null` means nobody is signed in.
 */
export type CurrentUser<U extends User = User> = (request: OAuthRequest) => U | null | Promise<U | null>;

/** The registration points a binding package uses. `OAuth2Provider` implements it. */
export interface StoreRegistry<U extends User = User, C extends Client = Client> {
  /** Registers every method of every store given; stores left out keep what they had. */
  useStores(stores: Stores<U, C>, options?: RegisterOptions): this;
  /** Registers how to find the signed-in user (see `CurrentUser`). */
  setCurrentUser(fn: CurrentUser<U>, options?: RegisterOptions): this;
}

/** Every single method slot, named `store.method`. Each can be registered on its own. */
export type SlotName =
  | 'clients.getClient'
  | 'users.getUserByUsername'
  | 'grants.saveGrant'
  | 'grants.consumeGrant'
  | 'tokens.saveTokens'
  | 'tokens.getAccessToken'
  | 'tokens.getRefreshToken'
  | 'tokens.consumeRefreshToken'
  | 'tokens.revokeAccessToken'
  | 'tokens.revokeFamily';

/** The function type of each slot. */
export interface SlotTypes<U extends User = User, C extends Client = Client> {
  'clients.getClient': ClientStore<C>['getClient'];
  'users.getUserByUsername': UserStore<U>['getUserByUsername'];
  'grants.saveGrant': GrantStore['saveGrant'];
  'grants.consumeGrant': GrantStore['consumeGrant'];
  'tokens.saveTokens': TokenStore['saveTokens'];
  'tokens.getAccessToken': TokenStore['getAccessToken'];
  'tokens.getRefreshToken': TokenStore['getRefreshToken'];
  'tokens.consumeRefreshToken': TokenStore['consumeRefreshToken'];
  'tokens.revokeAccessToken': TokenStore['revokeAccessToken'];
  'tokens.revokeFamily': TokenStore['revokeFamily'];
}
