import { context } from '@opentelemetry/api';
import { requestedClientId } from './client-auth.js';
import { ClientMetadataResolver } from './client-metadata.js';
import type { Client, ClientStore, GrantStore, ProviderStores, TokenStore, User, UserCredentials, UserGrantSummary } from './contract.js';
import { DEVICE_GRANT, LookupThrottle } from './device-codes.js';
import {
  type AuthorizationDecision,
  type AuthorizationRequest,
  type AuthorizeInternal,
  type AuthorizeResult,
  authorizeEndpoint,
  completeAuthorization,
} from './endpoints/authorize.js';
import { deviceAuthorizationEndpoint } from './endpoints/device-authorization.js';
import {
  completeDeviceAuthorization,
  type DeviceAuthorizationDecision,
  type DeviceRequest,
  findDeviceRequest,
} from './endpoints/device-verification.js';
import { introspectionEndpoint } from './endpoints/introspection.js';
import { metadataDocument } from './endpoints/metadata.js';
import { pushedAuthorizationEndpoint } from './endpoints/par.js';
import { clientConfigurationEndpoint, documentClient, RegistrationLimiter, registrationEndpoint } from './endpoints/registration.js';
import { type ResourceInternal, type ResourceResult, type VerifyOptions, verifyAccessToken } from './endpoints/resource.js';
import { revocationEndpoint } from './endpoints/revocation.js';
import { tokenEndpoint } from './endpoints/token.js';
import { type EndpointResult, type Engine, findClient, plain } from './engine.js';
import { ConfigurationError, toOAuthError } from './errors.js';
import { checkedAuthTime } from './grants/issue.js';
import { type AfterRequestHook, type BeforeRequestHook, type EndpointName, type HookContext, type HookOutcome, Hooks } from './hooks.js';
import type { OAuthRequest, OAuthResponse } from './http.js';
import { KeyRing } from './keys.js';
import { describe } from './log.js';
import { type ProviderOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { pathOf } from './params.js';
import { type CurrentUser, type RegisterOptions, type SlotName, SlotTable, type SlotTypes, type StoreRegistry } from './registry.js';
import { errorResponse, json } from './responses.js';
import { type Outcome, observedSlots, Telemetry } from './telemetry.js';
import type { Writable } from './writable.js';

export { ConfigurationError } from './errors.js';

/** Where `handle()` serves the authorization server metadata (RFC 8414 section 3). */
const METADATA_PATH = '/.well-known/oauth-authorization-server';

/**
 * The OAuth 2 authorization server. Framework-neutral: each endpoint takes a plain
 * `OAuthRequest` and returns a plain `OAuthResponse`; adapters (`toNodeHandler`,
 * `toFetchHandler`) connect it to `node:http`, Express, Connect, Hono, Next.js or Bun.
 *
 * Stores come from `options.stores`, from bindings (`bindSequelize(provider, ...)`), or one slot
 * at a time (`provider.grantGetter(fn)`). An explicit registration beats a binding's, in any
 * order; registering after requests were served takes effect at once.
 */
export class OAuth2Provider<U extends User = User, C extends Client = Client> implements StoreRegistry<U, C> {
  /** Resolved options (read-only). */
  readonly options: ResolvedOptions;
  private readonly table = new SlotTable<U, C>();
  private readonly hooks: Hooks;
  /** What endpoints and grants are handed: the options and the live slots. */
  private readonly e: Engine<U, C>;
  /** The slot table's version when `validate()` last passed; -1 before. */
  private validatedAt = -1;
  private metadataCache: string | null = null;
  private metadataAt = -1;
  /** Failed user code lookups of the device grant, for the whole provider (see `DeviceOptions`). */
  private readonly deviceLookups: LookupThrottle;
  /** Spans and metrics through `@opentelemetry/api` (no-ops without an SDK; off with `telemetry: false`). */
  private readonly telemetry: Telemetry;
  /** Registrations per client address (RFC 7591 endpoint). */
  private readonly registrationLimiter: RegistrationLimiter;

  constructor(options: ProviderOptions<U, C>) {
    this.options = resolveOptions(options as ProviderOptions);
    const slots = this.table.slots;
    const jwt = this.options.jwt;
    // Keys must verify the longest-lived access token, whichever resource it was for.
    let longest = this.options.lifetimes.accessToken;
    for (const r of this.options.resources.values()) longest = Math.max(longest, r.accessTokenLifetime ?? 0);
    this.telemetry = new Telemetry(options.telemetry !== false);
    const rl = this.options.registration.rateLimit;
    this.registrationLimiter = new RegistrationLimiter(rl.max, rl.window * 1000);
    const cimd = this.options.clientIdMetadataDocuments;
    const e: Writable<Engine<U, C>> = {
      o: this.options,
      s: slots,
      keys: jwt ? new KeyRing(() => slots.keys, jwt, longest) : null,
      telemetry: this.telemetry,
      clientMetadata: null,
    };
    if (cimd.enabled) {
      e.clientMetadata = new ClientMetadataResolver(
        cimd,
        (doc, id) => documentClient(e, doc, id),
        (m) => this.options.logger.warn(m),
      );
    }
    this.e = e;
    this.hooks = new Hooks(() => this.options.logger);
    this.deviceLookups = new LookupThrottle(this.options.device.maxLookupFailures, this.options.device.lookupWindow * 1000);
    const h = options.hooks;
    if (h?.beforeRequest)
      this.hooks.before.push(...(Array.isArray(h.beforeRequest) ? h.beforeRequest : [h.beforeRequest as BeforeRequestHook]));
    if (h?.afterRequest) this.hooks.after.push(...(Array.isArray(h.afterRequest) ? h.afterRequest : [h.afterRequest as AfterRequestHook]));
    if (options.stores) {
      this.useStores(options.stores);
      this.validate();
    }
  }

  // ---------------------------------------------------------------- registration

  /**
   * Registers every method of every store given. A stores object made by a binding (or by
   * `createMemoryStores`) registers as `binding` unless `options.source` says otherwise.
   */
  useStores(stores: ProviderStores<U, C>, options?: RegisterOptions): this {
    this.table.useStores(stores, options);
    return this;
  }

  /** Registers one slot. */
  register<K extends SlotName>(slot: K, fn: SlotTypes<U, C>[K], options?: RegisterOptions): this {
    this.table.register(slot, fn, options);
    return this;
  }

  /** Flask-OAuthlib `clientgetter`: `(clientId) => Client | null`. */
  clientGetter(fn: ClientStore<C>['getClient'], options?: RegisterOptions): this {
    return this.register('clients.getClient', fn, options);
  }
  /** Flask-OAuthlib `usergetter` (password grant): `(username) => { user, passwordHash } | null`. */
  userGetter(fn: (username: string) => Promise<UserCredentials<U> | null>, options?: RegisterOptions): this {
    return this.register('users.getUserByUsername', fn, options);
  }
  /** Flask-OAuthlib `grantgetter`: atomically consumes a code (see `GrantStore.consumeGrant`). */
  grantGetter(fn: GrantStore['consumeGrant'], options?: RegisterOptions): this {
    return this.register('grants.consumeGrant', fn, options);
  }
  /** Flask-OAuthlib `grantsetter`: saves a code (see `GrantStore.saveGrant`). */
  grantSetter(fn: GrantStore['saveGrant'], options?: RegisterOptions): this {
    return this.register('grants.saveGrant', fn, options);
  }
  /** Flask-OAuthlib `tokengetter`: finds an access token by its digest. */
  tokenGetter(fn: TokenStore['getAccessToken'], options?: RegisterOptions): this {
    return this.register('tokens.getAccessToken', fn, options);
  }
  /** Flask-OAuthlib `tokensetter`: saves an access token and its refresh token. */
  tokenSetter(fn: TokenStore['saveTokens'], options?: RegisterOptions): this {
    return this.register('tokens.saveTokens', fn, options);
  }
  /** Registers how to find the signed-in user (Flask-OAuthlib's `current_user`). */
  setCurrentUser(fn: CurrentUser<U>, options?: RegisterOptions): this {
    this.table.setCurrentUser(fn, options);
    return this;
  }
  /** Adds a hook run before every endpoint (see `BeforeRequestHook`). */
  beforeRequest(fn: BeforeRequestHook): this {
    this.hooks.before.push(fn);
    return this;
  }
  /** Adds a hook run after every endpoint (see `AfterRequestHook`). */
  afterRequest(fn: AfterRequestHook): this {
    this.hooks.after.push(fn);
    return this;
  }

  /**
   * Checks that every slot the enabled grants and endpoints need is registered. Called by the
   * constructor when `options.stores` is given, by the adapters when they are created, and before
   * the first request otherwise.
   * @throws ConfigurationError naming the missing slot and the grant that needs it.
   */
  validate(): this {
    const need: [SlotName, string][] = [
      ['clients.getClient', 'every endpoint'],
      ['tokens.saveTokens', 'every grant'],
      ['tokens.getAccessToken', 'resource checks and introspection'],
      ['tokens.getRefreshToken', 'revocation and introspection'],
      ['tokens.revokeAccessToken', 'revocation'],
      ['tokens.revokeFamily', 'revocation'],
    ];
    const g = this.options.grants;
    if (g.has('authorization_code')) {
      need.push(['grants.saveGrant', 'the authorization_code grant'], ['grants.consumeGrant', 'the authorization_code grant']);
    }
    if (g.has('refresh_token') && this.options.refreshTokenRotation) {
      need.push(['tokens.consumeRefreshToken', 'the refresh_token grant (with rotation)']);
    }
    if (g.has('password')) need.push(['users.getUserByUsername', 'the password grant']);
    if (g.has(DEVICE_GRANT) && !this.e.s.devices) {
      throw new ConfigurationError(
        `Portcullis: the grant '${DEVICE_GRANT}' needs a device code store: provider.useStores({ devices }) (createMemoryStores() has one)`,
      );
    }
    if (this.options.dpop.enabled && !this.e.s.ephemeral) {
      throw new ConfigurationError(
        'Portcullis: DPoP (dpop.enabled) needs an ephemeral store to refuse replayed proofs across processes: provider.useStores({ ephemeral }) (createMemoryStores() has one) or a binding or grant cache that provides one',
      );
    }
    if (this.options.registration.enabled && !this.e.s.registrations) {
      throw new ConfigurationError(
        'Portcullis: dynamic client registration (registration.enabled) needs a store that writes clients: provider.useStores({ registrations }) (createMemoryStores() has one) or a binding that provides one',
      );
    }
    if (this.options.par.enabled && !this.e.s.ephemeral) {
      throw new ConfigurationError(
        'Portcullis: pushed authorization requests (par) need an ephemeral store for the pushed requests: provider.useStores({ ephemeral }) (createMemoryStores() has one) or a binding or grant cache that provides one',
      );
    }
    if (this.options.jwt && !this.e.s.keys) {
      throw new ConfigurationError(
        "Portcullis: accessTokenFormat 'jwt' needs a key store for its signing keys: provider.useStores({ keys }) (createMemoryStores() has one) or a binding's",
      );
    }
    for (const { slot, how } of this.table.missing(need.map(([slot]) => slot))) {
      const who = need.find(([n]) => n === slot)![1];
      throw new ConfigurationError(
        `Portcullis: no '${slot}' is registered, and ${who} needs it. Register it with ${how}, provider.useStores({ ${slot.split('.')[0]} }) or a binding.`,
      );
    }
    // Codes saved by one store must be read by the same one: a grant getter registered by the app
    // beside a binding's grant setter (or the other way round) is almost always a mistake.
    if (g.has('authorization_code')) {
      const save = this.table.sourceOf('grants.saveGrant');
      const consume = this.table.sourceOf('grants.consumeGrant');
      if (save !== consume) {
        this.options.logger.warn(
          `grants.saveGrant comes from ${describeSource(save)} but grants.consumeGrant from ${describeSource(consume)}: codes saved by one store must be read by the same one. Register both (provider.grantSetter and provider.grantGetter), or neither.`,
        );
      }
    }
    this.validatedAt = this.table.version;
    return this;
  }

  // ---------------------------------------------------------------- endpoints

  /**
   * The authorization endpoint (RFC 6749 section 4.1.1). Validates the request; on success hands
   * back an `AuthorizationRequest` for the app to show consent, otherwise the response to send
   * (a redirect with the error, or an error page for requests that must not be redirected).
   */
  async authorize(req: OAuthRequest): Promise<AuthorizeResult<C>> {
    const ctx = this.context('authorize', req);
    const early = await this.hooks.runBefore(ctx);
    if (early) return { type: 'response', response: early };
    const r = await this.guard<AuthorizeInternal<C>>(
      'authorize',
      (e) => authorizeEndpoint(e, req),
      (result) => ({ type: 'response', result }),
      (r) =>
        r.type === 'consent' ? { status: 200, error: null, clientId: r.request.client.id, grantType: null } : endpointOutcome(r.result),
    );
    if (r.type === 'consent') {
      const out = await this.hooks.runAfter(ctx, {
        valid: true,
        error: null,
        clientId: r.request.client.id,
        userId: null,
        grantType: null,
        scopes: r.request.scopes,
        response: null,
      });
      return out ? { type: 'response', response: out } : r;
    }
    const final = (await this.hooks.runAfter(ctx, outcomeOf(r.result))) ?? r.result.response;
    return { type: 'response', response: final, ...(r.result.error ? { error: r.result.error } : {}) };
  }

  /**
   * Finishes an authorization request with the user's decision and returns the redirect to send
   * (`code`, `state` and `iss`, or `error=access_denied`). The request is validated again from its
   * parameters, so an `AuthorizationRequest` that went through a form or a session is safe to use.
   * Passing back the very object `authorize()` returned (an automatic approval, or a consent held in
   * an in-process session) reuses the client it looked up instead of fetching it again.
   * @param request what `authorize()` returned, or the original query string.
   * @param decision the user's answer; `userId` (or the registered `currentUser`) names the user.
   * @param httpRequest the request carrying the decision, passed to `currentUser`.
   */
  async completeAuthorization(
    request: AuthorizationRequest<C> | string,
    decision: AuthorizationDecision,
    httpRequest?: OAuthRequest,
  ): Promise<OAuthResponse> {
    if (decision?.approved && decision.userId === undefined && !this.e.s.currentUser) {
      throw new ConfigurationError(
        'Portcullis: completeAuthorization was told the user approved, but names no user: pass { approved: true, userId } or register provider.setCurrentUser(fn).',
      );
    }
    // Checked (and copied) here, so that a wrong value is a thrown ConfigurationError, not a 500.
    const authTime = decision?.approved ? checkedAuthTime(decision.authTime, 'completeAuthorization') : undefined;
    const decided: AuthorizationDecision = authTime === undefined ? decision : { ...decision, authTime };
    const req: OAuthRequest = httpRequest ?? { method: 'POST', url: '/', headers: {} };
    const ctx = this.context('authorize_decision', req);
    const early = await this.hooks.runBefore(ctx);
    if (early) return early;
    const result = await this.guard(
      'authorize_decision',
      (e) => completeAuthorization(e, request, decided, req),
      (r) => r,
      endpointOutcome,
    );
    return this.finish(ctx, result);
  }

  /** The token endpoint (RFC 6749 section 3.2). POST with a form body only. */
  token(req: OAuthRequest): Promise<OAuthResponse> {
    // Not `async`: `run` already gives the promise, and a second layer costs ticks per request.
    return this.run('token', req, (e) => tokenEndpoint(e, req));
  }

  /**
   * The device authorization endpoint (RFC 8628 section 3.1). POST with a form body; the client
   * authenticates as at the token endpoint. Answers the device code, the user code and where the
   * user enters it.
   */
  async deviceAuthorization(req: OAuthRequest): Promise<OAuthResponse> {
    return this.run('device_authorization', req, (e) => deviceAuthorizationEndpoint(e, req));
  }

  /**
   * For the app's verification page (RFC 8628 section 3.3): the pending request a user code names,
   * with the client and scopes to show on the consent page. The code is matched ignoring case,
   * dashes and spaces. Failed lookups (malformed, unknown, expired or decided codes) are counted
   * per provider: past `device.maxLookupFailures` within `device.lookupWindow` seconds, every
   * lookup answers `null` until the window ends, so user codes cannot be guessed at speed (the
   * app should say "try again later" as well as "unknown code"). Hooks do not run.
   * @returns the request, or `null` (see above).
   */
  async findDeviceRequest(userCode: string): Promise<DeviceRequest<C> | null> {
    return findDeviceRequest(this.engine(), this.deviceLookups, userCode);
  }

  /**
   * Records the user's decision on the verification page, once: the device's next poll gets its
   * tokens (approved) or `access_denied`. `scopes` may narrow what was requested. Counts against the
   * same lookup limit as `findDeviceRequest`. Hooks do not run.
   * @returns `true` when recorded; `false` when the code is malformed, unknown, expired or already
   *   decided, or lookups are throttled.
   * @throws ConfigurationError for an approval without `userId` or with a scope not requested.
   */
  async completeDeviceAuthorization(userCode: string, decision: DeviceAuthorizationDecision): Promise<boolean> {
    return completeDeviceAuthorization(this.engine(), this.deviceLookups, userCode, decision);
  }

  /** The revocation endpoint (RFC 7009). */
  revoke(req: OAuthRequest): Promise<OAuthResponse> {
    return this.run('revocation', req, (e) => revocationEndpoint(e, req));
  }

  /** The introspection endpoint (RFC 7662). */
  introspect(req: OAuthRequest): Promise<OAuthResponse> {
    return this.run('introspection', req, (e) => introspectionEndpoint(e, req));
  }

  /** Authorization server metadata (RFC 8414), generated from what is enabled. */
  async metadata(req: OAuthRequest = { method: 'GET', url: METADATA_PATH, headers: {} }): Promise<OAuthResponse> {
    return this.run('metadata', req, async (e) => {
      if (this.metadataAt !== this.table.version || this.metadataCache === null) {
        this.metadataCache = JSON.stringify(metadataDocument(e));
        this.metadataAt = this.table.version;
      }
      return plain(json(200, this.metadataCache));
    });
  }

  /**
   * The JWKS of JWT access token keys (`jwks_uri`): every key published now, including one that
   * does not sign yet (a rotation's lead time) and retired ones whose tokens may still be live.
   * `Cache-Control: max-age` is the key cache interval, so verifiers refresh as often as processes do.
   */
  async jwks(req: OAuthRequest = { method: 'GET', url: this.options.endpoints.jwks, headers: {} }): Promise<OAuthResponse> {
    return this.run('metadata', req, async (e) => {
      const keys = e.keys;
      if (!keys) return plain(json(404, { error: 'not_found' }));
      const response = json(200, await keys.jwks());
      response.headers['Cache-Control'] = `public, max-age=${this.options.jwt!.keyCacheTtl}`;
      delete response.headers.Pragma;
      return plain(response);
    });
  }

  /**
   * Rotates the signing key of JWT access tokens without a restart: a new key is published at once
   * and signs after `jwt.rotationLeadTime`, when the current key retires (it stays published until
   * the tokens it signed have expired). Every process picks the change up within `jwt.keyCacheTtl`.
   * On a key store with no key yet (nothing ever signed), the new key signs at once.
   * @returns the new key's id and when it starts signing.
   * @throws ConfigurationError when access tokens are not JWTs, or when `jwt.keyEncryptionKey` does
   *   not open the current key in the store (nothing is added then).
   */
  async rotateSigningKey(): Promise<{ kid: string; activatesAt: Date }> {
    const keys = this.engine().keys;
    if (!keys) throw new ConfigurationError("Portcullis: rotateSigningKey needs accessTokenFormat: 'jwt'");
    return keys.rotate();
  }

  /** The metadata document itself. */
  metadataDocument(): Record<string, unknown> {
    return metadataDocument(this.engine());
  }

  /**
   * The client with this id as the endpoints see it: for an https id with Client ID Metadata
   * Documents on, the client its (cached) metadata document describes; otherwise the client
   * store's. For pages that name a client, such as a user's connected apps. `null`: no such client,
   * or a document that cannot be fetched or is refused (the log says why).
   */
  async findClient(clientId: string): Promise<C | null> {
    if (typeof clientId !== 'string' || clientId === '') return null;
    return findClient(this.engine(), clientId);
  }

  /**
   * Checks the bearer token of a request to a protected resource (RFC 6750). Every scope listed
   * is required; with `options.audience`, the token must have been issued for that resource (RFC
   * 8707). On failure the response carries the RFC 6750 status and `WWW-Authenticate`.
   */
  async verifyAccessToken(req: OAuthRequest, scopes: readonly string[] = [], options?: VerifyOptions): Promise<ResourceResult> {
    // Without hooks this awaits only the store (and `checkAccessToken` not even that).
    const ctx = this.context('resource', req);
    const before = this.hooks.runBefore(ctx);
    if (before) {
      const early = await before;
      if (early) return { ok: false, response: early };
    }
    const r = await this.guard<ResourceInternal>(
      'resource',
      async (e) => verifyAccessToken(e, req, scopes, options),
      (result) => ({ ok: false, result }),
      (r) => (r.ok ? { status: 200, error: null, clientId: r.token.clientId, grantType: null } : endpointOutcome(r.result)),
    );
    return this.afterResource(ctx, r);
  }

  /**
   * `verifyAccessToken` for framework adapters: the same checks and answers, but given without a
   * promise when nothing has to be waited for (no hooks registered, and a token store that answers
   * directly, as the memory stores do). `requireOAuth` uses it so that such requests reach the
   * route handler in the same tick. Never throws or rejects: store failures become 503/500.
   */
  checkAccessToken(req: OAuthRequest, scopes: readonly string[] = [], options?: VerifyOptions): ResourceResult | Promise<ResourceResult> {
    // Hooks or telemetry that records: the full path (one promise more).
    if (!this.hooks.none || this.telemetry.active()) return this.verifyAccessToken(req, scopes, options);
    let r: ResourceInternal | Promise<ResourceInternal>;
    try {
      r = verifyAccessToken(this.engine(), req, scopes, options);
    } catch (err) {
      return this.resourceFailure(err);
    }
    if (r instanceof Promise) return r.then(resourceResult, (err: unknown) => this.resourceFailure(err));
    return resourceResult(r);
  }

  private resourceFailure(err: unknown): ResourceResult {
    return { ok: false, response: this.failure('resource', err).response };
  }

  private async afterResource(ctx: HookContext, r: ResourceInternal): Promise<ResourceResult> {
    if (r.ok) {
      const after = this.hooks.runAfter(ctx, {
        valid: true,
        error: null,
        clientId: r.token.clientId,
        userId: r.token.userId,
        grantType: null,
        scopes: r.token.scopes,
        response: null,
      });
      const veto = after && (await after);
      return veto ? { ok: false, response: veto } : r;
    }
    const after = this.hooks.runAfter(ctx, outcomeOf(r.result));
    const response = (after && (await after)) ?? r.result.response;
    return { ok: false, response };
  }

  /**
   * The pushed authorization request endpoint (RFC 9126 section 2), served when `par.enabled`.
   * POST with a form body; the client authenticates as at the token endpoint. Validates the
   * authorization request, keeps it, and answers 201 with its `request_uri` and `expires_in`.
   */
  async pushedAuthorizationRequest(req: OAuthRequest): Promise<OAuthResponse> {
    return this.run('pushed_authorization_request', req, (e) => pushedAuthorizationEndpoint(e, req));
  }

  /**
   * What `userId` granted, one summary per client with live tokens: a "connected apps" page.
   * @throws ConfigurationError when no `userGrants` store is registered.
   */
  async listUserGrants(userId: string): Promise<readonly UserGrantSummary[]> {
    return this.userGrantStore().listUserGrants(userId);
  }

  /**
   * Revokes everything `userId` granted to `clientId` (or to every client when `null`): access and
   * refresh tokens and unredeemed codes, effective on the next request. Remembered consent is the
   * application's to forget. Hooks do not run.
   * @returns how many token families and codes were revoked.
   * @throws ConfigurationError when no `userGrants` store is registered.
   */
  async revokeUserGrants(userId: string, clientId: string | null = null): Promise<number> {
    return this.userGrantStore().revokeUserGrants(userId, clientId);
  }

  private userGrantStore() {
    const s = this.engine().s.userGrants;
    if (!s) {
      throw new ConfigurationError(
        'Portcullis: per-user grant views need a userGrants store: provider.useStores({ userGrants }) (createMemoryStores() has one) or a binding that provides one',
      );
    }
    return s;
  }

  /**
   * Dynamic client registration (RFC 7591 section 3), served when `registration.enabled`: POST a
   * JSON object of client metadata; answers 201 with the client id, a secret for confidential
   * clients, and the registration access token and URI for RFC 7592 management.
   */
  async registerClient(req: OAuthRequest): Promise<OAuthResponse> {
    return this.run('registration', req, (e) => registrationEndpoint(e, req, this.registrationLimiter));
  }

  /**
   * A client's configuration endpoint (RFC 7592): `GET`, `PUT` or `DELETE` with the registration
   * access token as a bearer token.
   */
  async manageClient(req: OAuthRequest, clientId: string): Promise<OAuthResponse> {
    return this.run('registration', req, (e) => clientConfigurationEndpoint(e, req, clientId));
  }

  /**
   * Routes a request to the endpoint its path names (token, revocation, introspection, metadata,
   * JWKS, device authorization, pushed authorization requests).
   * @returns the response, or `null` when the path is not one of them.
   */
  handle(req: OAuthRequest): Promise<OAuthResponse | null> {
    // Not `async`, so the endpoint's own promise is handed back without another layer (fewer
    // ticks per request); anything thrown while routing still becomes a rejection.
    let path: string;
    try {
      path = pathOf(req.url);
    } catch (err) {
      return Promise.reject(err);
    }
    const e = this.options.endpoints;
    if (path === e.token) return this.token(req);
    if (path === e.revocation) return this.revoke(req);
    if (path === e.introspection) return this.introspect(req);
    if (path === METADATA_PATH) return this.metadata(req);
    if (this.e.keys && path === e.jwks) return this.jwks(req);
    if (path === e.deviceAuthorization && this.options.grants.has(DEVICE_GRANT)) return this.deviceAuthorization(req);
    if (path === e.pushedAuthorizationRequest && this.options.par.enabled) return this.pushedAuthorizationRequest(req);
    if (this.options.registration.enabled) {
      if (path === e.registration) return this.registerClient(req);
      const id = this.configurationId(path);
      if (id !== null) return this.manageClient(req, id);
    }
    return Promise.resolve(null);
  }

  /**
   * Whether `handle()` answers `path` (without query string). Adapters ask it before converting a
   * request, so requests for the app's own routes cost them nothing.
   */
  handles(path: string): boolean {
    const e = this.options.endpoints;
    return (
      path === e.token ||
      path === e.revocation ||
      path === e.introspection ||
      path === METADATA_PATH ||
      (this.e.keys !== null && path === e.jwks) ||
      (path === e.deviceAuthorization && this.options.grants.has(DEVICE_GRANT)) ||
      (path === e.pushedAuthorizationRequest && this.options.par.enabled) ||
      (this.options.registration.enabled && (path === e.registration || this.configurationId(path) !== null))
    );
  }

  /** The client id of a configuration endpoint path (`<registration>/<id>`), or `null`. */
  private configurationId(path: string): string | null {
    const base = `${this.options.endpoints.registration}/`;
    if (!path.startsWith(base)) return null;
    const rest = path.slice(base.length);
    if (rest === '' || rest.length > 256 || rest.includes('/')) return null;
    try {
      return decodeURIComponent(rest);
    } catch {
      return null;
    }
  }

  // ---------------------------------------------------------------- internals

  /** The engine, after checking the wiring once per change of registrations. */
  private engine(): Engine<U, C> {
    if (this.validatedAt !== this.table.version) this.validate();
    return this.e;
  }

  private context(endpoint: EndpointName, request: OAuthRequest): HookContext {
    let claimed: string | null | undefined;
    return {
      endpoint,
      request,
      claimedClientId: () => {
        if (claimed === undefined) claimed = requestedClientId(request);
        return claimed;
      },
    };
  }

  private run(endpoint: EndpointName, req: OAuthRequest, fn: (e: Engine<U, C>) => Promise<EndpointResult>): Promise<OAuthResponse> {
    // The hot path: no hooks (nothing reads a context, so none is built) and no telemetry that
    // records. One promise on top of the endpoint's own, instead of two async layers.
    if (this.hooks.none && !this.telemetry.active()) {
      let result: Promise<EndpointResult>;
      try {
        result = fn(this.engine());
      } catch (err) {
        return Promise.resolve(this.failure(endpoint, err).response);
      }
      return result.then(
        (r) => r.response,
        (err: unknown) => this.failure(endpoint, err).response,
      );
    }
    return this.runObserved(endpoint, req, fn);
  }

  /** `run` with hooks or recording telemetry: a context for the hooks, a span and a count. */
  private async runObserved(
    endpoint: EndpointName,
    req: OAuthRequest,
    fn: (e: Engine<U, C>) => Promise<EndpointResult>,
  ): Promise<OAuthResponse> {
    if (this.hooks.none) return (await this.guard(endpoint, fn, (r) => r, endpointOutcome)).response;
    const ctx = this.context(endpoint, req);
    const early = await this.hooks.runBefore(ctx);
    if (early) return early;
    return this.finish(ctx, await this.guard(endpoint, fn, (r) => r, endpointOutcome));
  }

  private async finish(ctx: HookContext, result: EndpointResult): Promise<OAuthResponse> {
    const replaced = await this.hooks.runAfter(ctx, outcomeOf(result));
    if (!replaced) return result.response;
    const revokeFamily = this.e.s.revokeFamily;
    if (result.error === null && result.issuedGrantId && revokeFamily) {
      try {
        await revokeFamily(result.issuedGrantId);
      } catch (err) {
        this.options.logger.error('could not revoke tokens of a vetoed request', { cause: describe(err) });
      }
    }
    return replaced;
  }

  /**
   * Runs an endpoint; anything thrown becomes `server_error` or `temporarily_unavailable`. When
   * telemetry records, the run is a span (with a child span per store call) and counted.
   */
  private async guard<T>(
    endpoint: EndpointName,
    fn: (e: Engine<U, C>) => Promise<T>,
    onError: (r: EndpointResult) => T,
    outcome: (r: T) => Outcome,
  ): Promise<T> {
    const scope = this.telemetry.begin(endpoint);
    if (scope === null) {
      try {
        return await fn(this.engine());
      } catch (err) {
        return onError(this.failure(endpoint, err));
      }
    }
    let out: T;
    try {
      const base = this.engine();
      const e: Engine<U, C> = { ...base, s: observedSlots(this.telemetry, scope, base.s) };
      out = await context.with(scope.ctx, () => fn(e));
    } catch (err) {
      out = onError(this.failure(endpoint, err));
    }
    this.telemetry.end(scope, endpoint, outcome(out));
    return out;
  }

  /** A store or endpoint failure as an endpoint result: logged without secrets, answered 503/500. */
  private failure(endpoint: EndpointName, err: unknown): EndpointResult {
    const e = toOAuthError(err);
    this.options.logger.error(`${endpoint}: ${e.error}`, { cause: describe(err) });
    return { response: errorResponse(e), error: e, clientId: null, userId: null, grantType: null, scopes: null, issuedGrantId: null };
  }
}

function describeSource(source: 'binding' | 'explicit' | null): string {
  if (source === 'explicit') return 'an explicit registration';
  return source === 'binding' ? 'a binding' : 'nothing';
}

/** What telemetry records of an endpoint's result. */
function endpointOutcome(r: EndpointResult): Outcome {
  return { status: r.response.status, error: r.error?.error ?? null, clientId: r.clientId, grantType: r.grantType };
}

/** A resource check's answer as handed to the app. */
function resourceResult(r: ResourceInternal): ResourceResult {
  return r.ok ? r : { ok: false, response: r.result.response };
}

function outcomeOf(r: EndpointResult): HookOutcome {
  return {
    valid: r.error === null,
    error: r.error?.error ?? null,
    clientId: r.clientId,
    userId: r.userId,
    grantType: r.grantType,
    scopes: r.scopes,
    response: r.response,
  };
}
