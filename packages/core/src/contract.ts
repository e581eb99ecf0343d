/**
 * The storage contract: four small stores (clients, users, grants, tokens) that a binding
 * implements in any subset. Core owns every security decision (expiry, secrets, PKCE, scopes);
 * a store only saves, finds and atomically consumes records.
 *
 * Rules every store follows:
 * - `null` always means "not found" (unknown, expired, consumed or revoked). Stores throw only
 *   when the store itself fails; core turns that into `server_error`/`temporarily_unavailable`.
 * - Expiry is an absolute `expiresAt: Date`. A store must give it back as a `Date` equal to
 *   the one it was given (millisecond precision; stores with a coarser clock round *down*),
 *   must never return a record whose `expiresAt` has passed, and may use native TTLs for
 *   cleanup only. Core re-checks expiry on every read.
 * - Keys (`code`, `token`) are opaque strings. Core hands stores a digest of each code and
 *   token (43 characters of base64url), never the value the client holds, so a leaked table
 *   grants nothing. Stores must still accept any string (empty, 8 KiB, non-ASCII) without
 *   error or collision: the contract suite checks it.
 * - Scopes are `string[]`; the space-delimited form exists only at the HTTP edge.
 * - One-time records (authorization codes, rotated refresh tokens) are consumed by one atomic
 *   call that hands the record to exactly one of N concurrent callers.
 */

/** Grant types core can run. The URN is the device authorization grant (RFC 8628). */
export type GrantType =
  | 'authorization_code'
  | 'refresh_token'
  | 'client_credentials'
  | 'password'
  | 'implicit'
  | 'urn:ietf:params:oauth:grant-type:device_code';

/** Client authentication methods at the token, revocation and introspection endpoints. */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

/**
 * A registered client, as the client store returns it. Extend it with your own fields and pass
 * your type as the `C` parameter to keep it end to end.
 */
export interface Client {
  /** The `client_id`. */
  readonly id: string;
  /**
   * Hash of the client secret made by `hashSecret()` (or `null` for a public client). The store
   * never sees the presented secret; core verifies it in constant time.
   */
  readonly secretHash: string | null;
  /** Registered redirect URIs, matched exactly (RFC 9700 section 2.1). */
  readonly redirectUris: readonly string[];
  /** Grant types this client may use. `implicit` stands for `response_type=token`. */
  readonly grantTypes: readonly GrantType[];
  /** Scopes the client may ask for. A request for any other scope is `invalid_scope`. */
  readonly scopes: readonly string[];
  /**
   * Scopes granted when a request names none (the "pre-defined default value" of RFC 6749 section
   * 3.3). Unset: such a request is granted no scope at all.
   */
  readonly defaultScopes?: readonly string[];
  /**
   * How the client authenticates at the token, revocation and introspection endpoints. When set,
   * only that method is accepted (`client_secret_basic` registered and `client_secret_post` used
   * is `invalid_client`, and the other way round). When unset, a client with a `secretHash` may use
   * either secret method, and one without uses `none`.
   */
  readonly tokenEndpointAuthMethod?: ClientAuthMethod;
  /**
   * `true` for a resource server that may introspect tokens issued to any client (RFC 7662
   * section 4). Unset or `false`: the client may introspect only tokens issued to itself, and
   * every other token answers `{"active": false}`.
   */
  readonly resourceServer?: boolean;
  /**
   * The resources (RFC 8707 `resource` values, each one of `options.resources`) this client may
   * ask tokens for. Unset: any registered resource. An empty list: none.
   */
  readonly resources?: readonly string[];
  /**
   * `true` when this client must push its authorization requests (RFC 9126 section 6,
   * `require_pushed_authorization_requests`): the authorization endpoint then refuses its requests
   * that do not come with a `request_uri` from the pushed authorization request endpoint. Unset:
   * the provider's `par.required` decides.
   */
  readonly requirePushedAuthorizationRequests?: boolean;
  /**
   * `true` when this client's access tokens must be DPoP-bound (RFC 9449 section 5.2,
   * `dpop_bound_access_tokens`): with `dpop.enabled`, its token requests without a `DPoP` proof are
   * refused with `invalid_dpop_proof`. Unset: a proof is optional.
   */
  readonly dpopBoundAccessTokens?: boolean;
  /** Display name shown on consent pages (`client_name`, RFC 7591 section 2). */
  readonly name?: string;
  /** The client's home page (`client_uri`). */
  readonly uri?: string;
  /** The client's logo (`logo_uri`). */
  readonly logoUri?: string;
  /**
   * When the client secret stops working (`client_secret_expires_at`, RFC 7591 section 3.2.1):
   * client authentication with it is then `invalid_client`. Unset or `null`: never.
   */
  readonly clientSecretExpiresAt?: Date | null;
  /** What dynamic registration (RFC 7591/7592) keeps of a self-registered client; unset for others. */
  readonly registration?: ClientRegistrationInfo;
  /**
   * `true` for a client whose tokens with the `admin` scope may use an admin API (such as
   * `@portcullis/admin`). Core itself grants nothing for it.
   */
  readonly administrator?: boolean;
}

/** What dynamic client registration keeps of a self-registered client (RFC 7591/7592). */
export interface ClientRegistrationInfo {
  /** Digest of the registration access token (RFC 7592): the token itself is shown once. */
  readonly accessTokenHash: string;
  /** `client_id_issued_at`. */
  readonly issuedAt: Date;
  /** People responsible for the client (`contacts`). */
  readonly contacts?: readonly string[];
  /** `software_id` and `software_version` as registered. */
  readonly softwareId?: string;
  readonly softwareVersion?: string;
  /** The `token_endpoint_auth_method` and `response_types` as registered (echoed on reads). */
  readonly responseTypes: readonly string[];
  /**
   * When the client was first issued a token (set once, by `ClientRegistrationStore.markClientUsed`).
   * Unset: never used, and so removable by `ClientRegistrationStore.purgeUnusedClients` once it
   * was registered long enough ago. Core reads it to skip the mark for clients already marked.
   */
  readonly firstUsedAt?: Date;
}

/** A resource owner. Extend it with your own fields and pass your type as the `U` parameter. */
export interface User {
  /** Stable identifier recorded on grants and tokens. */
  readonly id: string;
}

/** What the user store returns for the password grant: the user and the hash to verify. */
export interface UserCredentials<U extends User = User> {
  readonly user: U;
  /** A hash made by `hashPassword()` (scrypt). Core verifies the presented password against it. */
  readonly passwordHash: string;
}

/** An authorization code as stored. `code` is a digest of the code the client holds. */
export interface GrantRecord {
  readonly code: string;
  readonly clientId: string;
  /** The user who consented (an id, never a serialized user). */
  readonly userId: string;
  /**
   * The `redirect_uri` the authorization request carried, which the token request must repeat
   * exactly (RFC 6749 section 4.1.3); `null` when the authorization request left it out (the code
   * went to the client's only registered URI, and the token request may leave it out too). Stores
   * must give `null` back as `null`, not as an empty string.
   */
  readonly redirectUri: string | null;
  readonly scopes: readonly string[];
  readonly expiresAt: Date;
  /** Family id: shared by the code and every token minted from it, for family revocation. */
  readonly grantId: string;
  /** PKCE challenge (RFC 7636), or `null` when the request carried none. */
  readonly codeChallenge: string | null;
  readonly codeChallengeMethod: 'S256' | 'plain' | null;
  /**
   * The resources (RFC 8707) the authorization request named, bound to the whole grant: the token
   * request may ask for these or a subset. Unset or empty: the request named none. Optional, so
   * stores written before resource indicators keep working; a store that drops it loses the
   * binding (the token request can then name no resource).
   */
  readonly resources?: readonly string[];
  /**
   * The DPoP key thumbprint (RFC 9449 section 10, `dpop_jkt`) the code is bound to: the token
   * request must carry a proof made with that key. Unset: not bound.
   */
  readonly dpopJkt?: string;
  /**
   * When the user last authenticated, as the application told `completeAuthorization`
   * (`authTime`): the JWT access tokens minted from this code carry it as `auth_time` (RFC 9068
   * section 2.2.1), and so does every token refreshed from them. Unset: not known (the tokens
   * then carry no `auth_time`). A store that drops it loses only that claim.
   */
  readonly authTime?: Date;
}

/** An access token as stored. `token` is a digest of the token the client holds. */
export interface AccessTokenRecord {
  readonly token: string;
  readonly clientId: string;
  /** `null` for tokens minted by `client_credentials` (no user). */
  readonly userId: string | null;
  readonly scopes: readonly string[];
  readonly expiresAt: Date;
  readonly grantId: string;
  /**
   * The audience: the resources (RFC 8707) the token is for, answered as `aud` by introspection and
   * checked by `verifyAccessToken(req, scopes, { audience })`. Unset: no resource was named.
   */
  readonly audience?: readonly string[];
  /**
   * The DPoP key thumbprint the token is bound to (RFC 9449 section 6, `cnf.jkt`): it is then
   * accepted only with the `DPoP` scheme and a proof made with that key. Unset: a bearer token.
   * A store that drops it turns a DPoP-bound token into a bearer token: bindings must keep it.
   */
  readonly dpopJkt?: string;
  /** When the token was issued (core sets it); a user's "connected apps" view shows it as last use. */
  readonly issuedAt?: Date;
}

/** A refresh token as stored. `token` is a digest of the token the client holds. */
export interface RefreshTokenRecord {
  readonly token: string;
  readonly clientId: string;
  readonly userId: string | null;
  readonly scopes: readonly string[];
  readonly expiresAt: Date;
  readonly grantId: string;
  /**
   * The resources (RFC 8707) of the original grant: a refresh request may ask for these or a
   * subset, never another. Unset: the grant named none.
   */
  readonly resources?: readonly string[];
  /**
   * The DPoP key thumbprint a public client's refresh token is bound to (RFC 9449 section 5):
   * a refresh request must carry a proof made with that key. Unset: not bound.
   */
  readonly dpopJkt?: string;
  /** When the token was issued (core sets it). */
  readonly issuedAt?: Date;
  /**
   * When the user authenticated for the original grant (the code's or device request's
   * `authTime`; the token request itself for the password grant): the JWT access tokens this
   * token refreshes to carry it as `auth_time` (RFC 9068 section 2.2.1), and so does the refresh
   * token that replaces it. Unset: not known.
   */
  readonly authTime?: Date;
}

/**
 * What an atomic consume returns: the record to exactly one caller (`consumed`); to a later
 * caller, if the store keeps a marker of consumed records, the family id (`replayed`) so core
 * can revoke everything minted from it; otherwise `null`.
 */
export type Consumed<T> = { readonly outcome: 'consumed'; readonly record: T } | { readonly outcome: 'replayed'; readonly grantId: string };

/** Looks up clients. Needed by every grant and by revocation and introspection. */
export interface ClientStore<C extends Client = Client> {
  /**
   * Called on every request that names a client: authorize, token, revocation, introspection.
   * @returns the client, or `null` when no client has this id (core answers `invalid_client`,
   *   or an error page at the authorization endpoint).
   */
  getClient(clientId: string): Promise<C | null>;
}

/** Looks up users. Only the `password` grant needs it. */
export interface UserStore<U extends User = User> {
  /**
   * Called by the `password` grant with the presented username.
   * @returns the user and its password hash, or `null` when no user has this name (core
   *   answers `invalid_grant` and still spends the time of a hash check).
   */
  getUserByUsername(username: string): Promise<UserCredentials<U> | null>;
}

/** Keeps authorization codes: save once, consume once. */
export interface GrantStore {
  /**
   * Called when the user approves an authorization request, before the redirect is returned.
   * Must persist the record so that any provider process can consume it.
   */
  saveGrant(grant: GrantRecord): Promise<void>;
  /**
   * Called by the `authorization_code` grant. Atomically takes the code so that of N concurrent
   * callers exactly one gets `{ outcome: 'consumed' }`.
   * @returns `consumed` with the record; `replayed` with the family id when the code was already
   *   consumed and the store remembers it; `null` when the code is unknown, expired, belongs to
   *   another client, or was consumed and the store cannot tell.
   */
  consumeGrant(clientId: string, code: string): Promise<Consumed<GrantRecord> | null>;
  /** `true` when `consumeGrant` reports `replayed` (the store keeps a consumed marker). */
  readonly detectsReplay?: boolean;
}

/** Keeps access and refresh tokens. */
export interface TokenStore {
  /**
   * Called after a grant succeeds, before the token response is sent. Must not remove the
   * user's other tokens (other devices stay signed in).
   */
  saveTokens(access: AccessTokenRecord, refresh: RefreshTokenRecord | null): Promise<void>;
  /**
   * Called on every protected-resource request and on introspection and revocation.
   * A store that has the answer at hand (in process memory, an in-process cache) may return it
   * directly instead of a promise: `requireOAuth` then lets the request through without waiting
   * a tick. Everything else should return a promise.
   * @returns the record, or `null` when the token is unknown, expired or revoked.
   */
  getAccessToken(token: string): Promise<AccessTokenRecord | null> | AccessTokenRecord | null;
  /**
   * Called by introspection and revocation, and by the `refresh_token` grant when rotation is off.
   * @returns the record, or `null` when the token is unknown, expired, rotated or revoked.
   */
  getRefreshToken(token: string): Promise<RefreshTokenRecord | null>;
  /**
   * Called by the `refresh_token` grant when rotation is on. Atomic like `consumeGrant`.
   * @returns `consumed` with the record to exactly one caller; `replayed` with the family id for
   *   an already-rotated token the store remembers; `null` when unknown, expired or revoked.
   */
  consumeRefreshToken(token: string): Promise<Consumed<RefreshTokenRecord> | null>;
  /** Called by revocation for an access token. Revoking an unknown token is not an error. */
  revokeAccessToken(token: string): Promise<void>;
  /**
   * Called when a code or rotated refresh token is replayed, and when a refresh token is
   * revoked: every access and refresh token of this family stops working.
   */
  revokeFamily(grantId: string): Promise<void>;
  /** `true` when `consumeRefreshToken` reports `replayed`. */
  readonly detectsReplay?: boolean;
}

/** The four stores. A binding provides any subset. */
export interface Stores<U extends User = User, C extends Client = Client> {
  clients?: ClientStore<C>;
  users?: UserStore<U>;
  grants?: GrantStore;
  tokens?: TokenStore;
}

/**
 * The stores a provider takes (`options.stores`, `useStores`): the four of `Stores`, and the
 * signing keys of JWT access tokens (needed with `accessTokenFormat: 'jwt'`). Kept apart from
 * `Stores` so that a binding typed `Required<Stores>` stays complete without a key store.
 */
export interface ProviderStores<U extends User = User, C extends Client = Client> extends Stores<U, C> {
  keys?: KeyStore;
  /** Device authorization requests (RFC 8628), needed when the device_code grant is enabled. */
  devices?: DeviceCodeStore;
  /** Short-lived records: pushed authorization requests (RFC 9126); needed when `par` is enabled. */
  ephemeral?: EphemeralStore;
  /** Writes to the client store, for dynamic client registration (RFC 7591/7592); needed when `registration` is enabled. */
  registrations?: ClientRegistrationStore<C>;
  /** What each user granted, for "connected apps" views and revocation per user (`provider.listUserGrants`). */
  userGrants?: UserGrantStore;
}

/** What a user granted one client, as a "connected apps" page shows it. */
export interface UserGrantSummary {
  readonly clientId: string;
  /** Every scope held by the user's live tokens for this client. */
  readonly scopes: readonly string[];
  /** The earliest `issuedAt` of those tokens (or, for tokens stored without it, `null`). */
  readonly firstIssuedAt: Date | null;
  /** The latest `issuedAt`: the client's last token request for this user. */
  readonly lastIssuedAt: Date | null;
  /** How many token families (authorizations) are live. */
  readonly grants: number;
}

/**
 * Per-user views of grants: the optional store behind `provider.listUserGrants` and
 * `provider.revokeUserGrants`. Only live (unexpired, unrevoked) records count.
 */
export interface UserGrantStore {
  /**
   * Called by `provider.listUserGrants(userId)`.
   * @returns one summary per client with a live access or refresh token for the user; `[]` when none.
   */
  listUserGrants(userId: string): Promise<readonly UserGrantSummary[]>;
  /**
   * Called by `provider.revokeUserGrants(userId, clientId?)`: revokes, at once, every access token,
   * refresh token and unredeemed authorization code the user granted to `clientId` (or to every
   * client when it is `null`), so that none of them works on the next request.
   * @returns how many token families and codes were revoked.
   */
  revokeUserGrants(userId: string, clientId: string | null): Promise<number>;
  /**
   * Optional. Called by core when a client is deleted through its configuration endpoint (RFC
   * 7592 section 2.3, which asks that the client's grants and credentials stop working at once):
   * revokes, at once, every access token, refresh token and unredeemed authorization code of
   * `clientId`, for every user and for none (client_credentials tokens, whose `userId` is `null`),
   * so that none of them works on the next request. Other clients' records are left alone.
   * Without it, a deleted client's access tokens keep working until they expire (its refresh
   * tokens and codes fail at once, since the client can no longer authenticate).
   * @returns how many token families and codes were revoked (0 for an unknown client).
   */
  revokeClientGrants?(clientId: string): Promise<number>;
}

/**
 * Writes clients, for dynamic client registration (RFC 7591) and its management (RFC 7592). The
 * clients it writes must then be found by `ClientStore.getClient`. Clients are given as core made
 * them: `secretHash` from `hashSecret`, `registration.accessTokenHash` a digest.
 */
export interface ClientRegistrationStore<C extends Client = Client> {
  /**
   * Called by the registration endpoint with a new client.
   * @returns `false`, saving nothing, when a client with this id exists (core draws another id).
   */
  createClient(client: C): Promise<boolean>;
  /**
   * Called by a management update (RFC 7592 section 2.2) with the whole new record.
   * @returns `false` when no client has this id.
   */
  updateClient(client: C): Promise<boolean>;
  /**
   * Called by a management delete (RFC 7592 section 2.3).
   * @returns `false` when no client has this id.
   */
  deleteClient(clientId: string): Promise<boolean>;
  /**
   * Called by admin tools to page through clients in `id` order (optional).
   * @param after the last id of the previous page, or `null` for the first page.
   * @returns at most `limit` clients with ids after `after`, and the id to continue after, or
   *   `null` when there are no more.
   */
  listClients?(after: string | null, limit: number): Promise<{ readonly clients: readonly C[]; readonly next: string | null }>;
  /**
   * Called by core when it issues the first token to a self-registered client whose record has no
   * `registration.firstUsedAt` (optional; at most once per client per process). Sets
   * `registration.firstUsedAt` to `at` only when it is unset, so concurrent or repeated calls keep
   * the first mark; `updateClient` must keep a mark that is set. Clients without `registration`
   * are left alone.
   * @returns `true` when this call set the mark; `false` when the client is unknown, not
   *   self-registered or already marked.
   */
  markClientUsed?(clientId: string, at: Date): Promise<boolean>;
  /**
   * Called by an operator's purge job (optional): removes at most `limit` self-registered clients
   * that were never used (no `registration.firstUsedAt`) and were registered
   * (`registration.issuedAt`) before `registeredBefore`. Clients without `registration`
   * (statically configured ones) are never removed. Call it again until it answers less than
   * `limit` to remove them all.
   * @returns how many clients were removed (0 to `limit`).
   */
  purgeUnusedClients?(registeredBefore: Date, limit: number): Promise<number>;
}

/**
 * What a grant or token store can do, declared by the store itself (`GrantStore.capabilities`,
 * `TokenStore.capabilities`) so that tools hold it to exactly that: the contract suite of
 * `@portcullis/binding-testkit` reads it to decide what each check expects. Core does not read
 * it: it acts on what each call returns and re-checks every `expiresAt` itself.
 */
export interface StoreCapabilities {
  /**
   * `true` when consuming an already consumed code (`consumeGrant`) or rotated refresh token
   * (`consumeRefreshToken`) answers `{ outcome: 'replayed', grantId }` (the store keeps a
   * consumed marker until the record would have expired); `false` when it answers `null`. Core
   * revokes the family on every `replayed` outcome, so with `false` the tokens minted from a
   * replayed code or refresh token stay valid until they expire. Agrees with the store's
   * top-level `detectsReplay` when both are set.
   */
  readonly detectsReplay: boolean;
  /**
   * The resolution of the store's native expiry: `'ms'` (SQL, MongoDB, Redis `PXAT`, process
   * memory) or `'s'` (memcached). Either way the store gives `expiresAt` back to the millisecond
   * and never returns a record past it; a coarser clock only means the native TTL removes the
   * record up to a second later. Core does not read it; the contract suite waits longer for
   * expiry with `'s'`.
   */
  readonly ttlGranularity: 'ms' | 's';
}

// Declared here, after the stores, so the additions stay in one place (interfaces merge).
export interface GrantStore {
  /** What this store can do (see `StoreCapabilities`). Stores should declare it. */
  readonly capabilities?: StoreCapabilities;
}

export interface TokenStore {
  /** What this store can do (see `StoreCapabilities`). Stores should declare it. */
  readonly capabilities?: StoreCapabilities;
}

/** A JWS algorithm core signs JWT access tokens with. */
export type SigningAlgorithm = 'ES256' | 'EdDSA' | 'RS256';

/**
 * A signing key as stored. The private key is never stored plainly: `privateKey` is a compact JWE
 * (`dir`, `A256GCM`) of the private JWK, encrypted with the operator's key-encryption key, which
 * the store never sees.
 */
export interface SigningKeyRecord {
  /** Key id, the JWT header's `kid` and the JWKS entry's. */
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  /** The public JWK, as published in the JWKS (with `kid`, `alg` and `use: 'sig'`). */
  readonly publicJwk: Readonly<Record<string, unknown>>;
  /** The private JWK, encrypted (see above). */
  readonly privateKey: string;
  /** When the key was added: from then on it is published in the JWKS. */
  readonly createdAt: Date;
  /** When it starts signing; later than `createdAt` by the rotation lead time, so verifiers see it first. */
  readonly activatesAt: Date;
  /** When it stops signing (a newer key took over), or `null` while it is the newest. */
  readonly retiresAt: Date | null;
}

/**
 * The signing keys of JWT access tokens: the fifth, optional store. Keys are few (one or two
 * live at a time), so every method works on the whole set; core caches `listKeys()` for a short,
 * bounded time (`jwt.keyCacheTtl`), so every process picks up a rotation within it.
 */
export interface KeyStore {
  /** Every key not yet removed, in any order. Called at most once per cache interval per process. */
  listKeys(): Promise<readonly SigningKeyRecord[]>;
  /** Adds a key (a rotation, or the first key). A `kid` that exists already must not be overwritten. */
  addKey(key: SigningKeyRecord): Promise<void>;
  /** Sets `retiresAt` of one key (rotation). An unknown `kid` is a no-op. */
  retireKey(kid: string, retiresAt: Date): Promise<void>;
  /** Removes keys retired before `before` (they no longer verify anything that is still live). Returns how many. */
  removeRetiredKeys(before: Date): Promise<number>;
}

/**
 * Where a device authorization request stands: waiting for the user (`pending`), decided by the
 * user (`approved`, `denied`), or `consumed` (its tokens were issued; it can never be used again).
 */
export type DeviceCodeStatus = 'pending' | 'approved' | 'denied' | 'consumed';

/**
 * A device authorization request (RFC 8628) as stored. `deviceCode` is a digest of the code the
 * device holds; `userCode` is the code the user types, normalized (8 capital letters, no dash).
 */
export interface DeviceCodeRecord {
  readonly deviceCode: string;
  /** Normalized: 8 letters of `BCDFGHJKLMNPQRSTVWXZ`, without the dash shown to the user. */
  readonly userCode: string;
  readonly clientId: string;
  /** The requested scopes; after an approval, the scopes the user granted. */
  readonly scopes: readonly string[];
  readonly expiresAt: Date;
  /** Seconds the device must wait between polls; grows by 5 on every poll that came too soon. */
  readonly interval: number;
  /** When the device last polled the token endpoint, or `null` before its first poll. */
  readonly lastPolledAt: Date | null;
  readonly status: DeviceCodeStatus;
  /** The user who approved or denied; `null` while pending. */
  readonly userId: string | null;
  /** Family id of the tokens minted from this request. */
  readonly grantId: string;
  /**
   * Set by an approval that carried it (`DeviceDecision.authTime`): when the user authenticated,
   * carried into the tokens as `auth_time`. Unset: pending, denied, or not known.
   */
  readonly authTime?: Date;
}

/**
 * The user's answer to a device authorization request, as handed to `DeviceCodeStore.decideDeviceCode`.
 * An approval's `authTime` (when the user authenticated; unset when not known) must be kept on the
 * record the store returns from then on.
 */
export type DeviceDecision =
  | { readonly approved: true; readonly userId: string; readonly scopes: readonly string[]; readonly authTime?: Date }
  | { readonly approved: false; readonly userId: string | null };

/**
 * Device authorization requests (RFC 8628): the sixth, optional store, needed when the
 * `urn:ietf:params:oauth:grant-type:device_code` grant is enabled. Every method that changes a
 * record is atomic: of N concurrent callers, each sees the state the one before left.
 *
 * Unlike the other stores, `recordPoll` may return a record whose `expiresAt` has passed (until
 * the store drops it), so that core can answer `expired_token` rather than `invalid_grant`; every
 * other method treats an expired record as absent.
 */
export interface DeviceCodeStore {
  /**
   * Called by the device authorization endpoint with a new `pending` record.
   * @returns `false`, saving nothing, when a live record already holds this `userCode` (core then
   *   draws another code); `true` once saved.
   */
  saveDeviceCode(record: DeviceCodeRecord): Promise<boolean>;
  /**
   * Called by `provider.findDeviceRequest` (the app's verification page) with a normalized user code.
   * @returns the record, or `null` when no live record has this user code (unknown or expired).
   */
  findDeviceCode(userCode: string): Promise<DeviceCodeRecord | null>;
  /**
   * Called on every device_code token request. Atomically sets `lastPolledAt` to `polledAt` and,
   * when the previous poll was less than `interval` seconds before `polledAt`, adds 5 to
   * `interval` (RFC 8628 section 3.5, `slow_down`).
   * @returns the record as it was before this poll (its `lastPolledAt` is the previous poll), or
   *   `null` when no record has this device code for this client.
   */
  recordPoll(clientId: string, deviceCode: string, polledAt: Date): Promise<DeviceCodeRecord | null>;
  /**
   * Called by `provider.completeDeviceAuthorization`: moves a live `pending` record to `approved`
   * (with the user and the granted scopes) or `denied`, once.
   * @returns the updated record, or `null` when the user code is unknown, expired or already decided.
   */
  decideDeviceCode(userCode: string, decision: DeviceDecision): Promise<DeviceCodeRecord | null>;
  /**
   * Called by the device_code grant when a poll finds the record `approved`. Atomically moves it
   * to `consumed`, so that of N concurrent callers exactly one gets the record.
   * @returns the approved record to one caller; `null` to every other, and when the record is
   *   unknown, another client's, expired, or not `approved`.
   */
  consumeDeviceCode(clientId: string, deviceCode: string): Promise<DeviceCodeRecord | null>;
}

/**
 * Short-lived values core keeps between requests and that every process must see: pushed
 * authorization requests (RFC 9126), under keys that start with `par:`. Keys are at most 200
 * characters of printable ASCII and never hold a value a client sent as is (core digests them);
 * values are strings (core serializes), at most 64 KiB. Every method is atomic; a record past its
 * `expiresAt` is absent to every method (native TTLs may remove it later).
 *
 * It fits a cache as well as a database: Redis `SET NX PXAT`/`GET`/`GETDEL`, memcached
 * `add`/`get`/`delete`, a SQL table with a primary key, a MongoDB collection with a unique `_id`.
 */
export interface EphemeralStore {
  /**
   * Called when core creates a record (a pushed request). Saves `value` under `key` until
   * `expiresAt`, unless a live record holds `key` already.
   * @returns `true` once saved; `false`, changing nothing, when a live record holds the key (of N
   *   concurrent calls for one key, exactly one gets `true`).
   */
  add(key: string, value: string, expiresAt: Date): Promise<boolean>;
  /**
   * Called to read a record without using it up (the authorization endpoint showing a pushed
   * request, which a reload may show again).
   * @returns the value, or `null` when no live record holds the key (unknown, expired or taken).
   */
  get(key: string): Promise<string | null>;
  /**
   * Called to use a record once (a pushed request when the user decides). Removes it atomically.
   * @returns the value to exactly one of N concurrent callers; `null` to every other one, and when
   *   no live record holds the key.
   */
  take(key: string): Promise<string | null>;
}
