import type {
  Client,
  ClientRegistrationStore,
  ClientStore,
  DeviceCodeStore,
  EphemeralStore,
  GrantStore,
  KeyStore,
  ProviderStores,
  TokenStore,
  User,
  UserGrantStore,
  UserStore,
} from './contract.js';
import type { OAuthRequest } from './http.js';

/** Who registered a slot. An `explicit` registration always beats a `binding` one, in any order. */
export type SlotSource = 'binding' | 'explicit';

/** How a registration ranks: a binding's, or the application's own (which always wins). */
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
  useStores(stores: ProviderStores<U, C>, options?: RegisterOptions): this;
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

/** The resolved store methods core calls, one per slot (plus `currentUser`). */
export interface Slots<U extends User = User, C extends Client = Client> {
  getClient: ClientStore<C>['getClient'] | undefined;
  getUserByUsername: UserStore<U>['getUserByUsername'] | undefined;
  saveGrant: GrantStore['saveGrant'] | undefined;
  consumeGrant: GrantStore['consumeGrant'] | undefined;
  saveTokens: TokenStore['saveTokens'] | undefined;
  getAccessToken: TokenStore['getAccessToken'] | undefined;
  getRefreshToken: TokenStore['getRefreshToken'] | undefined;
  consumeRefreshToken: TokenStore['consumeRefreshToken'] | undefined;
  revokeAccessToken: TokenStore['revokeAccessToken'] | undefined;
  revokeFamily: TokenStore['revokeFamily'] | undefined;
  currentUser: CurrentUser<U> | undefined;
  /** The signing keys of JWT access tokens (registered whole, with `useStores({ keys })`). */
  keys: KeyStore | undefined;
  /** Device authorization requests (registered whole, with `useStores({ devices })`). */
  devices: DeviceCodeStore | undefined;
  /** Short-lived records such as pushed authorization requests (registered whole, with `useStores({ ephemeral })`). */
  ephemeral: EphemeralStore | undefined;
  /** Client writes for dynamic registration (registered whole, with `useStores({ registrations })`). */
  registrations: ClientRegistrationStore<C> | undefined;
  /** Per-user grant views (registered whole, with `useStores({ userGrants })`). */
  userGrants: UserGrantStore | undefined;
}

const SLOT_KEYS: Record<SlotName, Exclude<keyof Slots, 'currentUser'>> = {
  'clients.getClient': 'getClient',
  'users.getUserByUsername': 'getUserByUsername',
  'grants.saveGrant': 'saveGrant',
  'grants.consumeGrant': 'consumeGrant',
  'tokens.saveTokens': 'saveTokens',
  'tokens.getAccessToken': 'getAccessToken',
  'tokens.getRefreshToken': 'getRefreshToken',
  'tokens.consumeRefreshToken': 'consumeRefreshToken',
  'tokens.revokeAccessToken': 'revokeAccessToken',
  'tokens.revokeFamily': 'revokeFamily',
};

const HOW_TO_REGISTER: Record<SlotName, string> = {
  'clients.getClient': 'provider.clientGetter(fn)',
  'users.getUserByUsername': 'provider.userGetter(fn)',
  'grants.saveGrant': 'provider.grantSetter(fn)',
  'grants.consumeGrant': 'provider.grantGetter(fn)',
  'tokens.saveTokens': 'provider.tokenSetter(fn)',
  'tokens.getAccessToken': 'provider.tokenGetter(fn)',
  'tokens.getRefreshToken': "provider.register('tokens.getRefreshToken', fn)",
  'tokens.consumeRefreshToken': "provider.register('tokens.consumeRefreshToken', fn)",
  'tokens.revokeAccessToken': "provider.register('tokens.revokeAccessToken', fn)",
  'tokens.revokeFamily': "provider.register('tokens.revokeFamily', fn)",
};

/** Marks a stores object as coming from a binding, so `useStores` ranks it below explicit slots. */
export const BINDING_STORES: unique symbol = Symbol.for('portcullis.bindingStores');

/**
 * The slots of one provider, in two layers: what bindings registered and what the application
 * registered explicitly. The explicit layer wins slot by slot, whatever the order of registration.
 */
export class SlotTable<U extends User = User, C extends Client = Client> {
  /** The resolved slots endpoints call; the same object for the provider's life, updated in place. */
  readonly slots: Slots<U, C> = emptySlots();
  private readonly layers: Record<SlotSource, Partial<Slots<U, C>>> = { binding: {}, explicit: {} };
  /** Bumped on every registration, so the provider knows to validate again. */
  version = 0;

  /** Registers every method of every store given, in the layer `options.source` (or the marker) names. */
  useStores(stores: ProviderStores<U, C>, options?: RegisterOptions): void {
    const marked = (stores as { [BINDING_STORES]?: boolean })[BINDING_STORES] === true;
    const layer = this.layers[options?.source ?? (marked ? 'binding' : 'explicit')];
    const { clients, users, grants, tokens, keys, devices, ephemeral, registrations, userGrants } = stores;
    if (userGrants) layer.userGrants = userGrants;
    if (registrations) layer.registrations = registrations as ClientRegistrationStore<C>;
    if (keys) layer.keys = keys;
    if (devices) layer.devices = devices;
    if (ephemeral) layer.ephemeral = ephemeral;
    if (clients) layer.getClient = clients.getClient.bind(clients);
    if (users) layer.getUserByUsername = users.getUserByUsername.bind(users);
    if (grants) {
      layer.saveGrant = grants.saveGrant.bind(grants);
      layer.consumeGrant = grants.consumeGrant.bind(grants);
    }
    if (tokens) {
      layer.saveTokens = tokens.saveTokens.bind(tokens);
      layer.getAccessToken = tokens.getAccessToken.bind(tokens);
      layer.getRefreshToken = tokens.getRefreshToken.bind(tokens);
      layer.consumeRefreshToken = tokens.consumeRefreshToken.bind(tokens);
      layer.revokeAccessToken = tokens.revokeAccessToken.bind(tokens);
      layer.revokeFamily = tokens.revokeFamily.bind(tokens);
    }
    this.resolve();
  }

  /** Registers one slot. @throws TypeError for an unknown slot or a non-function. */
  register<K extends SlotName>(slot: K, fn: SlotTypes<U, C>[K], options?: RegisterOptions): void {
    const key = Object.hasOwn(SLOT_KEYS, slot) ? SLOT_KEYS[slot] : undefined;
    if (!key) throw new TypeError(`Portcullis: unknown slot '${String(slot)}'; valid: ${Object.keys(SLOT_KEYS).join(', ')}`);
    if (typeof fn !== 'function') throw new TypeError(`Portcullis: slot '${slot}' needs a function`);
    (this.layers[options?.source ?? 'explicit'] as Record<string, unknown>)[key] = fn;
    this.resolve();
  }

  /** Registers how to find the signed-in user. */
  setCurrentUser(fn: CurrentUser<U>, options?: RegisterOptions): void {
    if (typeof fn !== 'function') throw new TypeError('Portcullis: currentUser must be a function');
    this.layers[options?.source ?? 'explicit'].currentUser = fn;
    this.resolve();
  }

  /** The slot names among `needed` that nothing registered, with how to register each. */
  missing(needed: readonly SlotName[]): { slot: SlotName; how: string }[] {
    return needed.filter((slot) => !this.slots[SLOT_KEYS[slot]]).map((slot) => ({ slot, how: HOW_TO_REGISTER[slot] }));
  }

  /** Which layer each slot comes from: the explicit one, a binding's, or none. */
  sourceOf(slot: SlotName): SlotSource | null {
    const key = SLOT_KEYS[slot];
    if (this.layers.explicit[key]) return 'explicit';
    return this.layers.binding[key] ? 'binding' : null;
  }

  private resolve(): void {
    const s = this.slots as unknown as Record<string, unknown>;
    const explicit = this.layers.explicit as Record<string, unknown>;
    const binding = this.layers.binding as Record<string, unknown>;
    for (const key of Object.keys(s)) s[key] = explicit[key] ?? binding[key];
    this.version++;
  }
}

function emptySlots<U extends User, C extends Client>(): Slots<U, C> {
  return {
    getClient: undefined,
    getUserByUsername: undefined,
    saveGrant: undefined,
    consumeGrant: undefined,
    saveTokens: undefined,
    getAccessToken: undefined,
    getRefreshToken: undefined,
    consumeRefreshToken: undefined,
    revokeAccessToken: undefined,
    revokeFamily: undefined,
    currentUser: undefined,
    keys: undefined,
    devices: undefined,
    ephemeral: undefined,
    registrations: undefined,
    userGrants: undefined,
  };
}
