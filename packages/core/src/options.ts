import type { Client, GrantType, Stores, User } from './contract.js';
import type { OAuthErrorCode } from './errors.js';
import type { OAuthRequest, OAuthResponse } from './http.js';

/** Lifetimes in seconds. */
export interface Lifetimes {
  /** Authorization codes. Default 100 s (as in Flask-OAuthlib); RFC 6749 recommends 10 minutes at most. */
  authorizationCode?: number;
  /** Access tokens. Default 3600 s. */
  accessToken?: number;
  /** Refresh tokens. Default 14 days (1,209,600 s). */
  refreshToken?: number;
}

/** What a token generator is told about the token it makes. */
export interface TokenContext {
  readonly clientId: string;
  readonly userId: string | null;
  readonly scopes: readonly string[];
  readonly grantType: GrantType;
}

/** Returns a new token value. It must be unguessable (at least 128 random bits). */
export type TokenGenerator = (ctx: TokenContext) => string;

/** Names of the endpoints, used in hook contexts. A closed union. */
export type EndpointName = 'authorize' | 'authorize_decision' | 'token' | 'revocation' | 'introspection' | 'metadata' | 'resource';

/** What every hook is told about the request. */
export interface HookContext {
  readonly endpoint: EndpointName;
  readonly request: OAuthRequest;
}

/** What `afterRequest` is told about the outcome. */
export interface HookOutcome {
  /** `true` when the endpoint accepted the request (tokens issued, token valid, consent to show). */
  readonly valid: boolean;
  /** The OAuth error code when `valid` is false. */
  readonly error: OAuthErrorCode | null;
  /** The client id the request named (claimed: also set when client authentication failed). */
  readonly clientId: string | null;
  /** `grant_type` at the token endpoint. */
  readonly grantType: string | null;
  /** Scopes granted or held (token issued, resource checked). */
  readonly scopes: readonly string[] | null;
  /** The response about to be sent, or `null` when the authorization endpoint hands over to consent. */
  readonly response: OAuthResponse | null;
}

/**
 * Runs before an endpoint does anything. Return a response (e.g. 403 or 429) to answer early;
 * return nothing to go on.
 */
export type BeforeRequestHook = (ctx: HookContext) => OAuthResponse | undefined | Promise<OAuthResponse | undefined>;

/**
 * Runs after an endpoint decided. Return a response to replace the one about to be sent: for a
 * valid request this vetoes it (tokens it issued are revoked); for an invalid one only another
 * error response (status 400 or more) is taken, so a hook can never make an invalid request valid.
 */
export type AfterRequestHook = (ctx: HookContext, outcome: HookOutcome) => OAuthResponse | undefined | Promise<OAuthResponse | undefined>;

/** Where core logs. Messages never contain secrets or tokens. */
export interface Logger {
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

/** Flask-OAuthlib configuration keys accepted for people porting an app. Typed options win. */
export interface FlaskConfig {
  OAUTH2_PROVIDER_TOKEN_EXPIRES_IN?: number;
  OAUTH2_PROVIDER_TOKEN_GENERATOR?: TokenGenerator;
  OAUTH2_PROVIDER_REFRESH_TOKEN_GENERATOR?: TokenGenerator;
  OAUTH2_PROVIDER_ERROR_URI?: string;
  [key: string]: unknown;
}

/** Endpoint paths, relative to the issuer; used in server metadata. */
export interface EndpointPaths {
  authorization?: string;
  token?: string;
  revocation?: string;
  introspection?: string;
}

export interface ProviderOptions<U extends User = User, C extends Client = Client> {
  /** The issuer identifier: an `https` URL (or `http` on loopback) without query or fragment. */
  issuer: string;
  /** Grants to enable. Default: `authorization_code`, `refresh_token`, `client_credentials`. */
  grants?: readonly GrantType[];
  lifetimes?: Lifetimes;
  /** Makes access tokens. Default: 32 random bytes, base64url. */
  accessTokenGenerator?: TokenGenerator;
  /** Makes refresh tokens. Default: 32 random bytes, base64url. */
  refreshTokenGenerator?: TokenGenerator;
  /**
   * Where to send the browser for authorization errors that must not be redirected to the
   * client (unknown client, unregistered redirect URI). Without it, a 400 JSON response.
   */
  errorUri?: string;
  /** PKCE policy (RFC 7636, RFC 9700). */
  pkce?: {
    /** Who must send `code_challenge`: `'public'` clients (default), `'all'`, or `'none'`. */
    required?: 'public' | 'all' | 'none';
    /** Accept `code_challenge_method=plain`. Default `false` (S256 only). */
    allowPlain?: boolean;
  };
  /** Rotate refresh tokens on use, revoking the family when a rotated one is replayed. Default `true`. */
  refreshTokenRotation?: boolean;
  /** Scopes the server knows. When given, any other scope is `invalid_scope`. */
  scopes?: readonly string[];
  /** Accept `access_token` in the query string at resource checks (RFC 6750 2.3). Default `false`. */
  allowBearerInQuery?: boolean;
  /** Stores, checked right away against the enabled grants. Bindings can add them later instead. */
  stores?: Stores<U, C>;
  /** Flask-OAuthlib configuration keys; typed options win. */
  config?: FlaskConfig;
  hooks?: {
    beforeRequest?: BeforeRequestHook | readonly BeforeRequestHook[];
    afterRequest?: AfterRequestHook | readonly AfterRequestHook[];
  };
  /** Endpoint paths for server metadata. Defaults: `/oauth/authorize`, `/oauth/token`, `/oauth/revoke`, `/oauth/introspect`. */
  endpoints?: EndpointPaths;
  /** Realm in `WWW-Authenticate` challenges. Default `"oauth"`. */
  realm?: string;
  /**
   * Also accept HTTP Basic client credentials that were not form-url-encoded before Base64 (RFC
   * 6749 section 2.3.1 requires the encoding; several popular clients skip it, which breaks secrets
   * holding `+ % : /` or a space). When set, a presented secret is checked both decoded and as
   * sent, in constant time, and an id that is unknown decoded is also looked up as sent. Default
   * `false`: strict, as the RFC says. Secrets from `generateClientSecret()` never need it.
   */
  lenientBasicAuth?: boolean;
  logger?: Logger;
}

/** Options with every default applied. */
export interface ResolvedOptions {
  issuer: string;
  grants: ReadonlySet<GrantType>;
  codeLifetime: number;
  accessLifetime: number;
  refreshLifetime: number;
  accessTokenGenerator: TokenGenerator | null;
  refreshTokenGenerator: TokenGenerator | null;
  errorUri: string | null;
  pkceRequired: 'public' | 'all' | 'none';
  pkcePlain: boolean;
  rotation: boolean;
  scopes: ReadonlySet<string> | null;
  bearerInQuery: boolean;
  endpoints: Required<EndpointPaths>;
  realm: string;
  lenientBasicAuth: boolean;
  logger: Logger;
}

const ALL_GRANTS: readonly GrantType[] = ['authorization_code', 'refresh_token', 'client_credentials', 'password', 'implicit'];

function seconds(name: string, value: unknown, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`Portcullis: ${name} must be a positive number of seconds`);
  }
  return value;
}

function generator(name: string, value: unknown): TokenGenerator | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'function') throw new TypeError(`Portcullis: ${name} must be a function returning a string`);
  return value as TokenGenerator;
}

const consoleLogger: Logger = {
  warn: (m, meta) => console.warn(`[portcullis] ${m}`, meta ?? ''),
  error: (m, meta) => console.error(`[portcullis] ${m}`, meta ?? ''),
};

/** Applies defaults and the Flask-OAuthlib keys (typed options first). Throws on invalid options. */
export function resolveOptions(o: ProviderOptions<User, Client>): ResolvedOptions {
  if (!o || typeof o.issuer !== 'string') throw new TypeError('Portcullis: options.issuer is required');
  let issuer: URL;
  try {
    issuer = new URL(o.issuer);
  } catch {
    throw new TypeError('Portcullis: options.issuer must be an absolute URL');
  }
  if (issuer.search || issuer.hash) throw new TypeError('Portcullis: options.issuer must not have a query or fragment');
  const cfg = o.config ?? {};
  const grants = new Set<GrantType>(o.grants ?? ['authorization_code', 'refresh_token', 'client_credentials']);
  for (const g of grants) {
    if (!ALL_GRANTS.includes(g)) throw new TypeError(`Portcullis: unknown grant "${String(g)}"; valid: ${ALL_GRANTS.join(', ')}`);
  }
  const errorUri = o.errorUri ?? cfg.OAUTH2_PROVIDER_ERROR_URI ?? null;
  if (errorUri !== null && typeof errorUri !== 'string') throw new TypeError('Portcullis: errorUri must be a string');
  const pkceRequired = o.pkce?.required ?? 'public';
  if (!['public', 'all', 'none'].includes(pkceRequired)) throw new TypeError('Portcullis: pkce.required must be public, all or none');
  return {
    issuer: o.issuer.replace(/\/$/, ''),
    grants,
    codeLifetime: seconds('lifetimes.authorizationCode', o.lifetimes?.authorizationCode, 100),
    accessLifetime: seconds('lifetimes.accessToken', o.lifetimes?.accessToken ?? cfg.OAUTH2_PROVIDER_TOKEN_EXPIRES_IN, 3600),
    refreshLifetime: seconds('lifetimes.refreshToken', o.lifetimes?.refreshToken, 14 * 24 * 3600),
    accessTokenGenerator: generator('accessTokenGenerator', o.accessTokenGenerator ?? cfg.OAUTH2_PROVIDER_TOKEN_GENERATOR),
    refreshTokenGenerator: generator('refreshTokenGenerator', o.refreshTokenGenerator ?? cfg.OAUTH2_PROVIDER_REFRESH_TOKEN_GENERATOR),
    errorUri,
    pkceRequired,
    pkcePlain: o.pkce?.allowPlain ?? false,
    rotation: o.refreshTokenRotation ?? true,
    scopes: o.scopes ? new Set(o.scopes) : null,
    bearerInQuery: o.allowBearerInQuery ?? false,
    endpoints: {
      authorization: o.endpoints?.authorization ?? '/oauth/authorize',
      token: o.endpoints?.token ?? '/oauth/token',
      revocation: o.endpoints?.revocation ?? '/oauth/revoke',
      introspection: o.endpoints?.introspection ?? '/oauth/introspect',
    },
    realm: o.realm ?? 'oauth',
    lenientBasicAuth: o.lenientBasicAuth === true,
    logger: o.logger ?? consoleLogger,
  };
}
