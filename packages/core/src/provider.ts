import type { Client, ClientStore, GrantStore, Stores, TokenStore, User, UserCredentials, UserStore } from './contract.js';
import {
  type AuthorizationDecision,
  type AuthorizationRequest,
  type AuthorizeInternal,
  type AuthorizeResult,
  authorizeEndpoint,
  completeAuthorization,
} from './endpoints/authorize.js';
import { introspectionEndpoint } from './endpoints/introspection.js';
import { metadataDocument } from './endpoints/metadata.js';
import { type ResourceInternal, type ResourceResult, verifyAccessToken } from './endpoints/resource.js';
import { revocationEndpoint } from './endpoints/revocation.js';
import { tokenEndpoint } from './endpoints/token.js';
import { type OAuthError, toOAuthError } from './errors.js';
import type { OAuthRequest, OAuthResponse } from './http.js';
import { BINDING_STORES } from './memory.js';
import {
  type AfterRequestHook,
  type BeforeRequestHook,
  type EndpointName,
  type HookContext,
  type HookOutcome,
  type ProviderOptions,
  type ResolvedOptions,
  resolveOptions,
} from './options.js';
import { pathOf } from './params.js';
import type { CurrentUser, RegisterOptions, SlotName, SlotSource, SlotTypes, StoreRegistry } from './registry.js';
import { errorResponse, json } from './responses.js';

/** Where `handle()` serves the authorization server metadata (RFC 8414 section 3). */
const METADATA_PATH = '/.well-known/oauth-authorization-server';

/** The resolved store methods core calls. */
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
}

const SLOT_KEYS: Record<SlotName, keyof Slots> = {
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

/** Thrown when the wiring cannot serve the enabled grants. Names the slot and who needs it. */
export class ConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigurationError';
  }
}

/** The state endpoints work with. Internal: not part of the public API. */
export interface Engine<U extends User = User, C extends Client = Client> {
  readonly o: ResolvedOptions;
  readonly s: Slots<U, C>;
}

/** A validated bearer token, as `verifyAccessToken` and `requireOAuth` hand it to the app. */
export interface VerifiedToken {
  readonly clientId: string;
  readonly userId: string | null;
  readonly scopes: readonly string[];
  readonly expiresAt: Date;
  readonly grantId: string;
}

/** Internal result of an endpoint run, before the hooks see it. */
export interface EndpointResult {
  response: OAuthResponse;
  error: OAuthError | null;
  clientId: string | null;
  grantType: string | null;
  scopes: readonly string[] | null;
  /** Family of tokens issued by this request, revoked if `afterRequest` vetoes it. */
  issuedGrantId: string | null;
}

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
  /** @internal the same options, under the name endpoints use. */
  readonly o: ResolvedOptions;
  /** @internal resolved slots, rebuilt on every registration. */
  readonly s: Slots<U, C>;
  private readonly layers: Record<SlotSource, Partial<Slots<U, C>>> = { binding: {}, explicit: {} };
  private readonly before: BeforeRequestHook[] = [];
  private readonly after: AfterRequestHook[] = [];
  private validated = false;
  private metadataCache: string | null = null;

  constructor(options: ProviderOptions<U, C>) {
    this.options = resolveOptions(options as ProviderOptions);
    this.o = this.options;
    this.s = emptySlots();
    const h = options.hooks;
    if (h?.beforeRequest) this.before.push(...(Array.isArray(h.beforeRequest) ? h.beforeRequest : [h.beforeRequest as BeforeRequestHook]));
    if (h?.afterRequest) this.after.push(...(Array.isArray(h.afterRequest) ? h.afterRequest : [h.afterRequest as AfterRequestHook]));
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
  useStores(stores: Stores<U, C>, options?: RegisterOptions): this {
    const marked = (stores as { [BINDING_STORES]?: boolean })[BINDING_STORES] === true;
    const source: SlotSource = options?.source ?? (marked ? 'binding' : 'explicit');
    const layer = this.layers[source];
    const { clients, users, grants, tokens } = stores;
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
    return this.resolve();
  }

  /** Registers one slot. */
  register<K extends SlotName>(slot: K, fn: SlotTypes<U, C>[K], options?: RegisterOptions): this {
    const key = SLOT_KEYS[slot];
    if (!key) throw new TypeError(`Portcullis: unknown slot "${String(slot)}"; valid: ${Object.keys(SLOT_KEYS).join(', ')}`);
    if (typeof fn !== 'function') throw new TypeError(`Portcullis: slot "${slot}" needs a function`);
    (this.layers[options?.source ?? 'explicit'] as Record<string, unknown>)[key] = fn;
    return this.resolve();
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
    if (typeof fn !== 'function') throw new TypeError('Portcullis: currentUser must be a function');
    this.layers[options?.source ?? 'explicit'].currentUser = fn;
    return this.resolve();
  }
  /** Adds a hook run before every endpoint (see `BeforeRequestHook`). */
  beforeRequest(fn: BeforeRequestHook): this {
    this.before.push(fn);
    return this;
  }
  /** Adds a hook run after every endpoint (see `AfterRequestHook`). */
  afterRequest(fn: AfterRequestHook): this {
    this.after.push(fn);
    return this;
  }

  private resolve(): this {
    const s = this.s as unknown as Record<string, unknown>;
    for (const key of Object.keys(s)) {
      s[key] = (this.layers.explicit as Record<string, unknown>)[key] ?? (this.layers.binding as Record<string, unknown>)[key];
    }
    this.validated = false;
    this.metadataCache = null;
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
    if (g.has('refresh_token') && this.options.rotation) {
      need.push(['tokens.consumeRefreshToken', 'the refresh_token grant (with rotation)']);
    }
    if (g.has('password')) need.push(['users.getUserByUsername', 'the password grant']);
    for (const [slot, who] of need) {
      if (!this.s[SLOT_KEYS[slot]]) {
        throw new ConfigurationError(
          `Portcullis: no "${slot}" is registered, and ${who} needs it. Register it with ${HOW_TO_REGISTER[slot]}, provider.useStores({ ${slot.split('.')[0]} }) or a binding.`,
        );
      }
    }
    this.validated = true;
    return this;
  }

  // ---------------------------------------------------------------- endpoints

  /**
   * The authorization endpoint (RFC 6749 section 4.1.1). Validates the request; on success hands
   * back an `AuthorizationRequest` for the app to show consent, otherwise the response to send
   * (a redirect with the error, or an error page for requests that must not be redirected).
   */
  async authorize(req: OAuthRequest): Promise<AuthorizeResult<C>> {
    const ctx: HookContext = { endpoint: 'authorize', request: req };
    const early = await this.runBefore(ctx);
    if (early) return { type: 'response', response: early };
    const r = await this.guard<AuthorizeInternal<C>>(
      ctx,
      () => authorizeEndpoint(this.engine(), req),
      (result) => ({ type: 'response', result }),
    );
    if (r.type === 'consent') {
      const out = await this.runAfter(ctx, {
        valid: true,
        error: null,
        clientId: r.request.client.id,
        grantType: null,
        scopes: r.request.scopes,
        response: null,
      });
      return out ? { type: 'response', response: out } : r;
    }
    const final = (await this.runAfter(ctx, outcomeOf(r.result))) ?? r.result.response;
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
    const req: OAuthRequest = httpRequest ?? { method: 'POST', url: '/', headers: {} };
    const ctx: HookContext = { endpoint: 'authorize_decision', request: req };
    const early = await this.runBefore(ctx);
    if (early) return early;
    const result = await this.guard(
      ctx,
      () => completeAuthorization(this.engine(), request, decision, req),
      (r) => r,
    );
    return this.finish(ctx, result);
  }

  /** The token endpoint (RFC 6749 section 3.2). POST with a form body only. */
  async token(req: OAuthRequest): Promise<OAuthResponse> {
    return this.run('token', req, () => tokenEndpoint(this.engine(), req));
  }

  /** The revocation endpoint (RFC 7009). */
  async revoke(req: OAuthRequest): Promise<OAuthResponse> {
    return this.run('revocation', req, () => revocationEndpoint(this.engine(), req));
  }

  /** The introspection endpoint (RFC 7662). */
  async introspect(req: OAuthRequest): Promise<OAuthResponse> {
    return this.run('introspection', req, () => introspectionEndpoint(this.engine(), req));
  }

  /** Authorization server metadata (RFC 8414), generated from what is enabled. */
  async metadata(req: OAuthRequest = { method: 'GET', url: METADATA_PATH, headers: {} }): Promise<OAuthResponse> {
    return this.run('metadata', req, async () => {
      this.metadataCache ??= JSON.stringify(metadataDocument(this.engine()));
      return plain(json(200, this.metadataCache));
    });
  }

  /** The metadata document itself. */
  metadataDocument(): Record<string, unknown> {
    return metadataDocument(this.engine());
  }

  /**
   * Checks the bearer token of a request to a protected resource (RFC 6750). Every scope listed
   * is required. On failure the response carries the RFC 6750 status and `WWW-Authenticate`.
   */
  async verifyAccessToken(req: OAuthRequest, scopes: readonly string[] = []): Promise<ResourceResult> {
    // Without hooks this awaits only the store (and `checkAccessToken` not even that).
    const ctx: HookContext = { endpoint: 'resource', request: req };
    const before = this.runBefore(ctx);
    if (before) {
      const early = await before;
      if (early) return { ok: false, response: early };
    }
    let r: ResourceInternal;
    try {
      r = await verifyAccessToken(this.engine(), req, scopes);
    } catch (err) {
      r = { ok: false, result: this.failure(ctx, err) };
    }
    return this.afterResource(ctx, r);
  }

  /**
   * `verifyAccessToken` for framework adapters: the same checks and answers, but given without a
   * promise when nothing has to be waited for (no hooks registered, and a token store that answers
   * directly, as the memory stores do). `requireOAuth` uses it so that such requests reach the
   * route handler in the same tick. Never throws or rejects: store failures become 503/500.
   */
  checkAccessToken(req: OAuthRequest, scopes: readonly string[] = []): ResourceResult | Promise<ResourceResult> {
    if (this.before.length !== 0 || this.after.length !== 0) return this.verifyAccessToken(req, scopes);
    let r: ResourceInternal | Promise<ResourceInternal>;
    try {
      r = verifyAccessToken(this.engine(), req, scopes);
    } catch (err) {
      return this.resourceFailure(req, err);
    }
    if (r instanceof Promise) return r.then(resourceResult, (err: unknown) => this.resourceFailure(req, err));
    return resourceResult(r);
  }

  private resourceFailure(req: OAuthRequest, err: unknown): ResourceResult {
    return { ok: false, response: this.failure({ endpoint: 'resource', request: req }, err).response };
  }

  private async afterResource(ctx: HookContext, r: ResourceInternal): Promise<ResourceResult> {
    if (r.ok) {
      const after = this.runAfter(ctx, {
        valid: true,
        error: null,
        clientId: r.token.clientId,
        grantType: null,
        scopes: r.token.scopes,
        response: null,
      });
      const veto = after && (await after);
      return veto ? { ok: false, response: veto } : r;
    }
    const after = this.runAfter(ctx, outcomeOf(r.result));
    const response = (after && (await after)) ?? r.result.response;
    return { ok: false, response };
  }

  /**
   * Routes a request to the endpoint its path names (token, revocation, introspection, metadata).
   * @returns the response, or `null` when the path is not one of them.
   */
  async handle(req: OAuthRequest): Promise<OAuthResponse | null> {
    const path = pathOf(req.url);
    const e = this.options.endpoints;
    if (path === e.token) return this.token(req);
    if (path === e.revocation) return this.revoke(req);
    if (path === e.introspection) return this.introspect(req);
    if (path === METADATA_PATH) return this.metadata(req);
    return null;
  }

  /**
   * Whether `handle()` answers `path` (without query string). Adapters ask it before converting a
   * request, so requests for the app's own routes cost them nothing.
   */
  handles(path: string): boolean {
    const e = this.options.endpoints;
    return path === e.token || path === e.revocation || path === e.introspection || path === METADATA_PATH;
  }

  // ---------------------------------------------------------------- internals

  /** @internal */
  engine(): Engine<U, C> {
    if (!this.validated) this.validate();
    return this as unknown as Engine<U, C>;
  }

  private async run(endpoint: EndpointName, req: OAuthRequest, fn: () => Promise<EndpointResult>): Promise<OAuthResponse> {
    const ctx: HookContext = { endpoint, request: req };
    const early = await this.runBefore(ctx);
    if (early) return early;
    return this.finish(ctx, await this.guard(ctx, fn, (r) => r));
  }

  private async finish(ctx: HookContext, result: EndpointResult): Promise<OAuthResponse> {
    const replaced = await this.runAfter(ctx, outcomeOf(result));
    if (!replaced) return result.response;
    if (result.error === null && result.issuedGrantId && this.s.revokeFamily) {
      try {
        await this.s.revokeFamily(result.issuedGrantId);
      } catch (err) {
        this.options.logger.error('could not revoke tokens of a vetoed request', { cause: describe(err) });
      }
    }
    return replaced;
  }

  /** Runs an endpoint; anything thrown becomes `server_error` or `temporarily_unavailable`. */
  private async guard<T>(ctx: HookContext, fn: () => Promise<T>, onError: (r: EndpointResult) => T): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      return onError(this.failure(ctx, err));
    }
  }

  /** A store or endpoint failure as an endpoint result: logged without secrets, answered 503/500. */
  private failure(ctx: HookContext, err: unknown): EndpointResult {
    const e = toOAuthError(err);
    this.options.logger.error(`${ctx.endpoint}: ${e.error}`, { cause: describe(err) });
    return { response: errorResponse(e), error: e, clientId: null, grantType: null, scopes: null, issuedGrantId: null };
  }

  /** Runs the `beforeRequest` hooks; without hooks it costs no promise (hot paths). */
  private runBefore(ctx: HookContext): Promise<OAuthResponse | undefined> | undefined {
    return this.before.length === 0 ? undefined : this.callBefore(ctx);
  }

  /** Runs the `afterRequest` hooks; without hooks it costs no promise (hot paths). */
  private runAfter(ctx: HookContext, outcome: HookOutcome): Promise<OAuthResponse | undefined> | undefined {
    return this.after.length === 0 ? undefined : this.callAfter(ctx, outcome);
  }

  private async callBefore(ctx: HookContext): Promise<OAuthResponse | undefined> {
    for (const hook of this.before) {
      try {
        const r = await hook(ctx);
        if (r) return r;
      } catch (err) {
        this.options.logger.error(`beforeRequest hook failed at ${ctx.endpoint}`, { cause: describe(err) });
        return errorResponse(toOAuthError(new Error('hook failed')));
      }
    }
    return undefined;
  }

  private async callAfter(ctx: HookContext, outcome: HookOutcome): Promise<OAuthResponse | undefined> {
    let replaced: OAuthResponse | undefined;
    for (const hook of this.after) {
      try {
        const r = await hook(ctx, replaced ? { ...outcome, response: replaced } : outcome);
        // A hook may veto a valid request; it can never turn an invalid one into a success.
        if (r && (outcome.valid || r.status >= 400)) replaced = r;
      } catch (err) {
        this.options.logger.error(`afterRequest hook failed at ${ctx.endpoint}`, { cause: describe(err) });
        replaced = errorResponse(toOAuthError(new Error('hook failed')));
      }
    }
    return replaced;
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
  };
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
    grantType: r.grantType,
    scopes: r.scopes,
    response: r.response,
  };
}

/** An `EndpointResult` for a response that carries no error. */
export function plain(response: OAuthResponse): EndpointResult {
  return { response, error: null, clientId: null, grantType: null, scopes: null, issuedGrantId: null };
}

/** Error text for logs: the class and message of the cause chain, nothing from request data. */
export function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? ` <- ${err.cause.name}: ${err.cause.message}` : '';
    return `${err.name}: ${err.message}${cause}`;
  }
  return String(err);
}
