import {
  type ClientIdMetadataDocumentOptions,
  type ClientIdMetadataDocumentSettings,
  resolveClientIdMetadataDocuments,
} from './client-metadata.js';
import type { Client, GrantType, ProviderStores, SigningAlgorithm, User } from './contract.js';
import { ConfigurationError } from './errors.js';
import type { AfterRequestHook, BeforeRequestHook } from './hooks.js';
import { type JwtSettings, parseKeyEncryptionKey } from './keys.js';
import { consoleLogger, type Logger } from './log.js';

export type { Logger } from './log.js';

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
  /** The JWKS of JWT access token keys (served when `accessTokenFormat` is `jwt`). */
  jwks?: string;
  /** The device authorization endpoint (RFC 8628 section 3.1), served when the device_code grant is enabled. */
  deviceAuthorization?: string;
  /** The pushed authorization request endpoint (RFC 9126 section 2), served when `par.enabled`. */
  pushedAuthorizationRequest?: string;
  /**
   * The client registration endpoint (RFC 7591), served when `registration.enabled`; each client's
   * configuration endpoint (RFC 7592) is this path, `/`, and the client id.
   */
  registration?: string;
}

/**
 * A protected resource clients may name with the `resource` parameter (RFC 8707). Tokens asked for
 * it carry it as their audience (`aud`).
 */
export interface ResourceOptions {
  /** The resource identifier: an absolute URI without a fragment, matched exactly. */
  uri: string;
  /**
   * The scopes this resource takes. When set, a token for it is granted only these of the scopes
   * asked for (downscoped, RFC 8707 section 2.2); with several resources, those of any of them.
   */
  scopes?: readonly string[];
  /** Access token format for this resource; default the provider's `accessTokenFormat`. */
  accessTokenFormat?: 'opaque' | 'jwt';
  /** Access token lifetime (s) for this resource; default `lifetimes.accessToken`. */
  accessTokenLifetime?: number;
}

/** A registered resource, resolved. */
export interface ResolvedResource {
  readonly uri: string;
  /** `null`: every scope. */
  readonly scopes: ReadonlySet<string> | null;
  /** `null`: the provider's format. */
  readonly accessTokenFormat: 'opaque' | 'jwt' | null;
  /** `null`: `lifetimes.accessToken`. */
  readonly accessTokenLifetime: number | null;
}

/** The device authorization grant (RFC 8628), used when `urn:ietf:params:oauth:grant-type:device_code` is in `grants`. */
export interface DeviceOptions {
  /** The page where the user types the user code (`verification_uri`). Default `<issuer>/device`. */
  verificationUri?: string;
  /** Seconds a device code and its user code live (`expires_in`). Default 600. */
  expiresIn?: number;
  /** Seconds a device must wait between polls (`interval`). Default 5. */
  interval?: number;
  /**
   * Most failed user code lookups (`findDeviceRequest`, `completeDeviceAuthorization` with an
   * unknown, expired or malformed code) per `lookupWindow`, across the whole provider (process).
   * Past it, every lookup answers `null` / `false` until the window ends, so guessing user codes
   * is bounded. Default 30.
   */
  maxLookupFailures?: number;
  /** Seconds of the failed lookup window. Default 60. */
  lookupWindow?: number;
}

/** Pushed authorization requests (RFC 9126). */
export interface ParOptions {
  /** Serve the pushed authorization request endpoint and accept `request_uri` at the authorization endpoint. Default `false`. */
  enabled?: boolean;
  /**
   * Refuse authorization requests that were not pushed, for every client
   * (`require_pushed_authorization_requests` in metadata). Default `false`; a client can still
   * require it for itself (`Client.requirePushedAuthorizationRequests`). Implies `enabled`.
   */
  required?: boolean;
  /**
   * Seconds a `request_uri` may start an authorization (`expires_in`). Default 60 (RFC 9126 section
   * 2.2 suggests 5 to 600).
   */
  expiresIn?: number;
  /**
   * Seconds, after `expiresIn`, that the user may take to sign in and decide before the pushed
   * request can no longer complete (it is used once, when the decision is made). Default 600.
   */
  consentWindow?: number;
}

/** A JWS algorithm DPoP proofs may be signed with. */
export type DpopAlgorithm = 'ES256' | 'ES384' | 'EdDSA' | 'Ed25519' | 'PS256' | 'RS256';

/** Resolved DPoP settings. */
export interface DpopSettings {
  readonly enabled: boolean;
  readonly algorithms: readonly DpopAlgorithm[];
  /** Seconds a proof is accepted after its `iat`. */
  readonly maxAge: number;
  /** Seconds a proof's `iat` may lie in the future (clock skew). */
  readonly clockSkew: number;
  /** Server nonces: the HMAC key and how many seconds each nonce is current; `null`: none asked. */
  readonly nonce: { readonly key: Buffer; readonly lifetime: number } | null;
  /** Origins whose URLs core's own resource checks accept as `htu`. */
  readonly resourceOrigins: readonly string[];
}

/** DPoP: sender-constrained access and refresh tokens (RFC 9449). */
export interface DpopOptions {
  /**
   * Check `DPoP` proofs at the token endpoint and bind the tokens to their key (`token_type:
   * DPoP`); accept `Authorization: DPoP` at core's resource checks. Needs an ephemeral store (proof
   * replay is refused across processes). Default `false`: a `DPoP` header is ignored.
   */
  enabled?: boolean;
  /** Algorithms proofs may use (`dpop_signing_alg_values_supported`). Default `ES256`, `EdDSA`, `PS256`, `RS256`. */
  algorithms?: readonly DpopAlgorithm[];
  /** Seconds a proof is accepted after its `iat`. Default 300. */
  maxAge?: number;
  /** Seconds a proof's `iat` may be ahead of this server's clock. Default 15. */
  clockSkew?: number;
  /**
   * Server-provided nonces (RFC 9449 section 8): proofs must carry a nonce this server handed out
   * (`use_dpop_nonce` and a `DPoP-Nonce` header otherwise). Nonces are derived from `secret` (at
   * least 32 characters, the same in every process) and the time, so any process accepts any
   * other's; each is current for `lifetime` seconds (default 300) and accepted one period longer.
   */
  nonce?: { secret: string; lifetime?: number };
  /**
   * Origins (`https://api.example`) whose URLs core's own resource checks (`verifyAccessToken`,
   * `requireOAuth`) accept as a proof's `htu`, with the request's path. Default: the issuer's origin.
   */
  resourceOrigins?: readonly string[];
}

/** Dynamic client registration (RFC 7591) and management (RFC 7592). */
export interface RegistrationOptions {
  /** Serve `POST /oauth/register` and the configuration endpoints. Default `false`. */
  enabled?: boolean;
  /**
   * Initial access tokens (RFC 7591 section 3): when set, a registration needs `Authorization:
   * Bearer <one of them>` (each at least 32 characters). Unset: open registration.
   */
  initialAccessTokens?: readonly string[];
  /** Grant types a self-registered client may ask for. Default `authorization_code`, `refresh_token`. */
  grantTypes?: readonly GrantType[];
  /** Scopes a self-registered client may ask for. Default: the server's `scopes`; without those, none. */
  scopes?: readonly string[];
  /** Seconds a generated client secret lives (`client_secret_expires_at`); 0: forever. Default 0. */
  clientSecretLifetime?: number;
  /** Registrations per client address within `window` seconds. Default `{ max: 20, window: 3600 }`. */
  rateLimit?: { max: number; window: number };
}

/** Resolved registration settings. */
export interface RegistrationSettings {
  readonly enabled: boolean;
  readonly initialAccessTokens: readonly string[];
  readonly grantTypes: ReadonlySet<GrantType>;
  /** `null`: no scope may be asked for. */
  readonly scopes: ReadonlySet<string> | null;
  readonly clientSecretLifetime: number;
  readonly rateLimit: { readonly max: number; readonly window: number };
}

/** Resolved PAR settings. */
export interface ParSettings {
  readonly enabled: boolean;
  readonly required: boolean;
  readonly expiresIn: number;
  readonly consentWindow: number;
}

/** Resolved device grant settings. */
export interface DeviceSettings {
  readonly verificationUri: string;
  readonly expiresIn: number;
  readonly interval: number;
  readonly maxLookupFailures: number;
  readonly lookupWindow: number;
}

/**
 * What `new OAuth2Provider(options)` takes. Only `issuer` is required; every default is in
 * `OPTION_DEFAULTS` (and the README's options table generated from it).
 */
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
  stores?: ProviderStores<U, C>;
  /** Flask-OAuthlib configuration keys; typed options win. */
  config?: FlaskConfig;
  hooks?: {
    beforeRequest?: BeforeRequestHook | readonly BeforeRequestHook[];
    afterRequest?: AfterRequestHook | readonly AfterRequestHook[];
  };
  /** Endpoint paths for server metadata. Defaults: `/oauth/authorize`, `/oauth/token`, `/oauth/revoke`, `/oauth/introspect`. */
  endpoints?: EndpointPaths;
  /**
   * Access tokens as opaque random strings (default) or as RFC 9068 JWTs (`typ: at+jwt`) that
   * resource servers can verify on their own against the JWKS (`jwks_uri`). Either way the
   * provider stores a digest of each access token, so its own resource checks, introspection and
   * revocation work the same; a resource server verifying a JWT locally learns of a revocation only
   * through introspection or when the token expires, so keep `lifetimes.accessToken` short.
   */
  accessTokenFormat?: 'opaque' | 'jwt';
  /** JWT access token settings (with `accessTokenFormat: 'jwt'`). */
  jwt?: {
    /** Signing algorithm of new keys: `ES256` (default), `EdDSA` (Ed25519) or `RS256` for older verifiers. */
    algorithm?: SigningAlgorithm;
    /**
     * 32 random bytes (base64url or hex) that encrypt private keys at rest; the key store never
     * sees them plainly. Default: the `PORTCULLIS_KEY_ENCRYPTION_KEY` environment variable.
     */
    keyEncryptionKey?: string;
    /** Seconds a new key is published before it signs. Default 120; must exceed `keyCacheTtl`. */
    rotationLeadTime?: number;
    /** Seconds each process keeps the key set before reading the store again. Default 30. */
    keyCacheTtl?: number;
    /** `aud` of the tokens. Default: the issuer. */
    audience?: string;
  };
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
  /** The device authorization grant (RFC 8628). */
  device?: DeviceOptions;
  /** Pushed authorization requests (RFC 9126). */
  par?: ParOptions;
  /** Sender-constrained tokens (RFC 9449, DPoP). */
  dpop?: DpopOptions;
  /** Clients that register themselves (RFC 7591) and manage their registration (RFC 7592). */
  registration?: RegistrationOptions;
  /**
   * Client ID Metadata Documents: a `client_id` that is an https URL is resolved by fetching the
   * JSON document at it (SSRF-guarded, size- and time-limited, cached). Off by default.
   */
  clientIdMetadataDocuments?: ClientIdMetadataDocumentOptions;
  /**
   * OpenTelemetry through `@opentelemetry/api`: a span per endpoint request with a child per store
   * call, and metrics (`portcullis.requests`, `portcullis.tokens.issued`,
   * `portcullis.store.duration`, `portcullis.replays`). Nothing is recorded until the application
   * registers an SDK. Default `true`; `false` turns it off entirely.
   */
  telemetry?: boolean;
  /**
   * Protected resources clients may name with `resource` (RFC 8707), checked at startup (absolute
   * URI, no fragment, no duplicate). Any other `resource` value is `invalid_target`.
   */
  resources?: readonly ResourceOptions[];
  logger?: Logger;
}

/** Options with every default applied. Each field has the name of the option it comes from. */
export interface ResolvedOptions {
  readonly issuer: string;
  readonly grants: ReadonlySet<GrantType>;
  readonly lifetimes: Readonly<Required<Lifetimes>>;
  readonly accessTokenGenerator: TokenGenerator | null;
  readonly refreshTokenGenerator: TokenGenerator | null;
  readonly errorUri: string | null;
  readonly pkce: { readonly required: 'public' | 'all' | 'none'; readonly allowPlain: boolean };
  readonly refreshTokenRotation: boolean;
  readonly scopes: ReadonlySet<string> | null;
  readonly allowBearerInQuery: boolean;
  readonly endpoints: Readonly<Required<EndpointPaths>>;
  readonly realm: string;
  readonly lenientBasicAuth: boolean;
  readonly accessTokenFormat: 'opaque' | 'jwt';
  /** Resolved JWT settings; `null` with opaque access tokens. */
  readonly jwt: JwtSettings | null;
  /** Resolved device grant settings (always present; used only when the grant is enabled). */
  readonly device: DeviceSettings;
  /** Resolved PAR settings. */
  readonly par: ParSettings;
  /** Resolved DPoP settings. */
  readonly dpop: DpopSettings;
  /** Resolved registration settings. */
  readonly registration: RegistrationSettings;
  /** Resolved Client ID Metadata Document settings. */
  readonly clientIdMetadataDocuments: ClientIdMetadataDocumentSettings;
  /** Registered resources (RFC 8707) by URI; empty when none are. */
  readonly resources: ReadonlyMap<string, ResolvedResource>;
  readonly logger: Logger;
}

/** One option's default, with what it means: the source of the options table in the README. */
export interface OptionDefault {
  /** The default as written in the README (`required` for options without one). */
  readonly shown: string;
  readonly meaning: string;
}

/**
 * Every option's default and meaning, in one place. `resolveOptions` takes its values from here,
 * and the options table of the core README is generated from it (`pnpm docs:options`); a test keeps
 * the two in step.
 */
export const OPTION_DEFAULTS = {
  issuer: { shown: 'required', meaning: 'issuer URL; sent as `iss` (RFC 9207) and in metadata' },
  grants: {
    shown: '`authorization_code`, `refresh_token`, `client_credentials`',
    meaning: 'also `password`, `implicit` (off by default, RFC 9700), `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628)',
  },
  lifetimes: {
    shown: 'code 100 s, access 3600 s, refresh 14 days',
    meaning: 'seconds: `authorizationCode`, `accessToken`, `refreshToken`',
  },
  accessTokenGenerator: { shown: '32 random bytes, base64url', meaning: '`(ctx) => string`; at least 128 random bits' },
  refreshTokenGenerator: { shown: '32 random bytes, base64url', meaning: '`(ctx) => string`; at least 128 random bits' },
  errorUri: { shown: 'none (400 JSON)', meaning: 'page for authorization errors that must not be redirected' },
  pkce: { shown: "`{ required: 'public', allowPlain: false }`", meaning: '`required`: `public`, `all`, `none`' },
  refreshTokenRotation: { shown: '`true`', meaning: 'rotate on use; replay of a rotated token revokes the family' },
  scopes: { shown: 'none', meaning: 'server-wide list of known scopes' },
  allowBearerInQuery: { shown: '`false`', meaning: 'accept `access_token` in the query string (RFC 6750 section 2.3)' },
  stores: { shown: 'none', meaning: 'stores, checked at once against the enabled grants' },
  config: {
    shown: 'none',
    meaning:
      'Flask-OAuthlib keys: `OAUTH2_PROVIDER_TOKEN_EXPIRES_IN`, `OAUTH2_PROVIDER_TOKEN_GENERATOR`, `OAUTH2_PROVIDER_REFRESH_TOKEN_GENERATOR`, `OAUTH2_PROVIDER_ERROR_URI` (typed options win)',
  },
  hooks: { shown: 'none', meaning: '`beforeRequest`, `afterRequest`' },
  accessTokenFormat: { shown: '`opaque`', meaning: '`opaque` or `jwt` (RFC 9068, signed with rotating keys; see below)' },
  jwt: {
    shown: "`{ algorithm: 'ES256', rotationLeadTime: 120, keyCacheTtl: 30 }`",
    meaning:
      '`algorithm` (`ES256`, `EdDSA`, `RS256`), `keyEncryptionKey` (default env `PORTCULLIS_KEY_ENCRYPTION_KEY`), `rotationLeadTime`, `keyCacheTtl` (s), `audience`',
  },
  endpoints: {
    shown:
      '`/oauth/authorize`, `/oauth/token`, `/oauth/revoke`, `/oauth/introspect`, `/oauth/jwks`, `/oauth/device_authorization`, `/oauth/par`, `/oauth/register`',
    meaning: 'paths for metadata and `handle()`',
  },
  realm: { shown: '`oauth`', meaning: 'realm of `WWW-Authenticate` challenges' },
  lenientBasicAuth: { shown: '`false`', meaning: 'also accept Basic credentials that were not form-encoded (see below)' },
  device: {
    shown: '`{ verificationUri: <issuer>/device, expiresIn: 600, interval: 5, maxLookupFailures: 30, lookupWindow: 60 }`',
    meaning:
      'device authorization grant (RFC 8628): verification page, code lifetime and polling interval (s), user code guessing limit (see below)',
  },
  par: {
    shown: '`{ enabled: false, required: false, expiresIn: 60, consentWindow: 600 }`',
    meaning:
      'pushed authorization requests (RFC 9126): serve the endpoint, require them of every client, `request_uri` lifetime and the time to sign in and decide after it (s)',
  },
  dpop: {
    shown: '`{ enabled: false, algorithms: [ES256, EdDSA, PS256, RS256], maxAge: 300, clockSkew: 15 }`',
    meaning:
      'DPoP (RFC 9449): bind tokens to the client key of `DPoP` proofs; proof age and skew (s), `nonce: { secret, lifetime }`, `resourceOrigins`',
  },
  registration: {
    shown:
      '`{ enabled: false, grantTypes: [authorization_code, refresh_token], clientSecretLifetime: 0, rateLimit: { max: 20, window: 3600 } }`',
    meaning:
      'dynamic client registration (RFC 7591/7592): `initialAccessTokens` (unset: open), allowed `grantTypes` and `scopes`, secret lifetime (s), registrations per address',
  },
  clientIdMetadataDocuments: {
    shown: '`{ enabled: false, maxBytes: 5120, timeout: 3000, cacheTtl: { min: 60, max: 86400 }, maxIdLength: 255 }`',
    meaning:
      'resolve https `client_id`s from their metadata document (no redirects, no private addresses unless `allowPrivateNetworks`; extra `ca`; allowed `grantTypes` and `scopes`; see below)',
  },
  telemetry: {
    shown: '`true`',
    meaning: 'OpenTelemetry spans and metrics through `@opentelemetry/api` (recorded only when the app registers an SDK; see below)',
  },
  resources: {
    shown: 'none',
    meaning:
      'protected resources for the `resource` parameter (RFC 8707): `uri`, and per resource `scopes`, `accessTokenFormat`, `accessTokenLifetime` (see below)',
  },
  logger: { shown: 'console', meaning: '`warn`/`error`; never given secrets or tokens' },
} as const satisfies Record<keyof ProviderOptions, OptionDefault>;

/** The default values themselves (what `OPTION_DEFAULTS` describes). */
const DEFAULT = {
  grants: ['authorization_code', 'refresh_token', 'client_credentials'] as readonly GrantType[],
  lifetimes: { authorizationCode: 100, accessToken: 3600, refreshToken: 14 * 24 * 3600 },
  pkce: { required: 'public', allowPlain: false } as const,
  refreshTokenRotation: true,
  allowBearerInQuery: false,
  endpoints: {
    authorization: '/oauth/authorize',
    token: '/oauth/token',
    revocation: '/oauth/revoke',
    introspection: '/oauth/introspect',
    jwks: '/oauth/jwks',
    deviceAuthorization: '/oauth/device_authorization',
    pushedAuthorizationRequest: '/oauth/par',
    registration: '/oauth/register',
  },
  par: { enabled: false, required: false, expiresIn: 60, consentWindow: 600 },
  device: { verificationPath: '/device', expiresIn: 600, interval: 5, maxLookupFailures: 30, lookupWindow: 60 },
  jwt: { algorithm: 'ES256' as SigningAlgorithm, rotationLeadTime: 120, keyCacheTtl: 30 },
  realm: 'oauth',
  lenientBasicAuth: false,
};

/** The Flask-OAuthlib configuration keys `config` reads. */
const FLASK_KEYS: ReadonlySet<string> = new Set([
  'OAUTH2_PROVIDER_TOKEN_EXPIRES_IN',
  'OAUTH2_PROVIDER_TOKEN_GENERATOR',
  'OAUTH2_PROVIDER_REFRESH_TOKEN_GENERATOR',
  'OAUTH2_PROVIDER_ERROR_URI',
]);

const ALL_GRANTS: readonly GrantType[] = [
  'authorization_code',
  'refresh_token',
  'client_credentials',
  'password',
  'implicit',
  'urn:ietf:params:oauth:grant-type:device_code',
];

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
  const logger = o.logger ?? consoleLogger;
  for (const key of Object.keys(cfg)) {
    // A misspelled or unsupported Flask-OAuthlib key would otherwise be ignored in silence.
    if (key.startsWith('OAUTH2_PROVIDER_') && !FLASK_KEYS.has(key)) {
      logger.warn(`config.${key} is not a Flask-OAuthlib key Portcullis reads; it is ignored (read: ${[...FLASK_KEYS].join(', ')})`);
    }
  }
  const grants = new Set<GrantType>(o.grants ?? DEFAULT.grants);
  for (const g of grants) {
    if (!ALL_GRANTS.includes(g)) throw new TypeError(`Portcullis: unknown grant '${String(g)}'; valid: ${ALL_GRANTS.join(', ')}`);
  }
  const errorUri = o.errorUri ?? cfg.OAUTH2_PROVIDER_ERROR_URI ?? null;
  if (errorUri !== null && typeof errorUri !== 'string') throw new TypeError('Portcullis: errorUri must be a string');
  const required = o.pkce?.required ?? DEFAULT.pkce.required;
  if (!['public', 'all', 'none'].includes(required)) throw new TypeError('Portcullis: pkce.required must be public, all or none');
  const d = DEFAULT.lifetimes;
  const format = o.accessTokenFormat ?? 'opaque';
  if (format !== 'opaque' && format !== 'jwt') throw new TypeError("Portcullis: accessTokenFormat must be 'opaque' or 'jwt'");
  const resources = resolveResources(o.resources);
  const registration = resolveRegistration(o.registration, o.scopes);
  return {
    issuer: o.issuer.replace(/\/$/, ''),
    grants,
    lifetimes: {
      authorizationCode: seconds('lifetimes.authorizationCode', o.lifetimes?.authorizationCode, d.authorizationCode),
      accessToken: seconds('lifetimes.accessToken', o.lifetimes?.accessToken ?? cfg.OAUTH2_PROVIDER_TOKEN_EXPIRES_IN, d.accessToken),
      refreshToken: seconds('lifetimes.refreshToken', o.lifetimes?.refreshToken, d.refreshToken),
    },
    accessTokenGenerator: generator('accessTokenGenerator', o.accessTokenGenerator ?? cfg.OAUTH2_PROVIDER_TOKEN_GENERATOR),
    refreshTokenGenerator: generator('refreshTokenGenerator', o.refreshTokenGenerator ?? cfg.OAUTH2_PROVIDER_REFRESH_TOKEN_GENERATOR),
    errorUri,
    pkce: { required, allowPlain: o.pkce?.allowPlain ?? DEFAULT.pkce.allowPlain },
    refreshTokenRotation: o.refreshTokenRotation ?? DEFAULT.refreshTokenRotation,
    scopes: o.scopes ? new Set(o.scopes) : null,
    allowBearerInQuery: o.allowBearerInQuery ?? DEFAULT.allowBearerInQuery,
    endpoints: {
      authorization: o.endpoints?.authorization ?? DEFAULT.endpoints.authorization,
      token: o.endpoints?.token ?? DEFAULT.endpoints.token,
      revocation: o.endpoints?.revocation ?? DEFAULT.endpoints.revocation,
      introspection: o.endpoints?.introspection ?? DEFAULT.endpoints.introspection,
      jwks: o.endpoints?.jwks ?? DEFAULT.endpoints.jwks,
      deviceAuthorization: o.endpoints?.deviceAuthorization ?? DEFAULT.endpoints.deviceAuthorization,
      pushedAuthorizationRequest: o.endpoints?.pushedAuthorizationRequest ?? DEFAULT.endpoints.pushedAuthorizationRequest,
      registration: o.endpoints?.registration ?? DEFAULT.endpoints.registration,
    },
    accessTokenFormat: format,
    // Signing keys also when only some resources take JWT access tokens.
    jwt: format === 'jwt' || resources.some((r) => r.accessTokenFormat === 'jwt') ? resolveJwt(o, issuer) : null,
    realm: o.realm ?? DEFAULT.realm,
    lenientBasicAuth: o.lenientBasicAuth ?? DEFAULT.lenientBasicAuth,
    device: resolveDevice(o.device, o.issuer.replace(/\/$/, '')),
    par: resolvePar(o.par),
    dpop: resolveDpop(o.dpop, issuer.origin),
    registration,
    clientIdMetadataDocuments: resolveClientIdMetadataDocuments(o.clientIdMetadataDocuments, registration.scopes),
    resources: new Map(resources.map((r) => [r.uri, r])),
    logger,
  };
}

/** The absolute URL of an endpoint path (as metadata advertises it and DPoP proofs name it). */
export function endpointUrl(o: ResolvedOptions, path: string): string {
  return new URL(path, `${o.issuer}/`).toString();
}

/**
 * An absolute URI (RFC 3986 section 4.3: a scheme, then no fragment), in the closed character set
 * of RFC 3986 (unreserved, reserved and `%`). The `resource` parameter and `resources[].uri` obey it.
 */
export function isAbsoluteUriWithoutFragment(value: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:[A-Za-z0-9\-._~:/?[\]@!$&'()*+,;=%]+$/.test(value);
}

function resolveResources(list: readonly ResourceOptions[] | undefined): ResolvedResource[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new TypeError('Portcullis: resources must be an array of { uri }');
  const out: ResolvedResource[] = [];
  const seen = new Set<string>();
  for (const r of list as readonly ResourceOptions[]) {
    const uri = r?.uri;
    if (typeof uri !== 'string' || !isAbsoluteUriWithoutFragment(uri)) {
      throw new TypeError('Portcullis: resources[].uri must be an absolute URI without a fragment (RFC 8707 section 2)');
    }
    if (seen.has(uri)) throw new TypeError(`Portcullis: resource ${uri} is listed twice`);
    seen.add(uri);
    if (r.scopes !== undefined && (!Array.isArray(r.scopes) || !r.scopes.every((s) => typeof s === 'string'))) {
      throw new TypeError(`Portcullis: resources[].scopes of ${uri} must be an array of strings`);
    }
    const f = r.accessTokenFormat;
    if (f !== undefined && f !== 'opaque' && f !== 'jwt') {
      throw new TypeError(`Portcullis: resources[].accessTokenFormat of ${uri} must be 'opaque' or 'jwt'`);
    }
    out.push({
      uri,
      scopes: r.scopes === undefined ? null : new Set(r.scopes),
      accessTokenFormat: f ?? null,
      accessTokenLifetime:
        r.accessTokenLifetime === undefined ? null : seconds(`resources[].accessTokenLifetime of ${uri}`, r.accessTokenLifetime, 0),
    });
  }
  return out;
}

function count(name: string, value: unknown, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
    throw new TypeError(`Portcullis: ${name} must be a positive integer`);
  return value;
}

function resolveRegistration(r: RegistrationOptions | undefined, serverScopes: readonly string[] | undefined): RegistrationSettings {
  if (r?.enabled !== undefined && typeof r.enabled !== 'boolean') throw new TypeError('Portcullis: registration.enabled must be a boolean');
  const tokens = r?.initialAccessTokens ?? [];
  if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === 'string' && t.length >= 32)) {
    throw new TypeError('Portcullis: registration.initialAccessTokens must be strings of at least 32 characters');
  }
  // Sent as `Authorization: Bearer <token>`, so each must be a token68 (RFC 6750 section 2.1):
  // any other token could never be presented, and the endpoint only compares token68 values.
  if (!tokens.every((t) => /^[A-Za-z0-9\-._~+/]+=*$/.test(t))) {
    throw new TypeError(
      'Portcullis: registration.initialAccessTokens must be bearer tokens (letters, digits and -._~+/ with trailing =), as generateClientSecret() makes',
    );
  }
  const grantTypes = r?.grantTypes ?? ['authorization_code', 'refresh_token'];
  for (const g of grantTypes) {
    if (!ALL_GRANTS.includes(g)) throw new TypeError(`Portcullis: registration.grantTypes: unknown grant '${String(g)}'`);
  }
  const scopes = r?.scopes ?? serverScopes;
  const lifetime = r?.clientSecretLifetime ?? 0;
  if (typeof lifetime !== 'number' || !Number.isInteger(lifetime) || lifetime < 0) {
    throw new TypeError('Portcullis: registration.clientSecretLifetime must be 0 or a positive integer of seconds');
  }
  const rl = r?.rateLimit ?? { max: 20, window: 3600 };
  return {
    enabled: r?.enabled ?? false,
    initialAccessTokens: [...tokens],
    grantTypes: new Set(grantTypes),
    scopes: scopes ? new Set(scopes) : null,
    clientSecretLifetime: lifetime,
    rateLimit: { max: count('registration.rateLimit.max', rl.max, 20), window: count('registration.rateLimit.window', rl.window, 3600) },
  };
}

const DPOP_ALGORITHMS: readonly DpopAlgorithm[] = ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'PS256', 'RS256'];

function resolveDpop(d: DpopOptions | undefined, issuerOrigin: string): DpopSettings {
  if (d?.enabled !== undefined && typeof d.enabled !== 'boolean') throw new TypeError('Portcullis: dpop.enabled must be a boolean');
  const algorithms = d?.algorithms ?? (['ES256', 'EdDSA', 'PS256', 'RS256'] as const);
  if (!Array.isArray(algorithms) || algorithms.length === 0 || !algorithms.every((a) => DPOP_ALGORITHMS.includes(a))) {
    throw new TypeError(`Portcullis: dpop.algorithms must be a non-empty list of ${DPOP_ALGORITHMS.join(', ')}`);
  }
  let nonce: DpopSettings['nonce'] = null;
  if (d?.nonce !== undefined) {
    const secret = d.nonce?.secret;
    if (typeof secret !== 'string' || secret.length < 32)
      throw new TypeError('Portcullis: dpop.nonce.secret must be at least 32 characters');
    nonce = { key: Buffer.from(secret, 'utf8'), lifetime: count('dpop.nonce.lifetime', d.nonce.lifetime, 300) };
  }
  const origins = d?.resourceOrigins ?? [issuerOrigin];
  const resourceOrigins = origins.map((o) => {
    let u: URL;
    try {
      u = new URL(o);
    } catch {
      throw new TypeError(`Portcullis: dpop.resourceOrigins must be origins such as https://api.example (got ${String(o).slice(0, 80)})`);
    }
    if (u.origin === 'null' || (u.protocol !== 'https:' && u.protocol !== 'http:')) {
      throw new TypeError('Portcullis: dpop.resourceOrigins must be http(s) origins');
    }
    return u.origin;
  });
  return {
    enabled: d?.enabled ?? false,
    algorithms: [...algorithms],
    maxAge: count('dpop.maxAge', d?.maxAge, 300),
    clockSkew: count('dpop.clockSkew', d?.clockSkew, 15),
    nonce,
    resourceOrigins,
  };
}

function resolvePar(p: ParOptions | undefined): ParSettings {
  const D = DEFAULT.par;
  for (const k of ['enabled', 'required'] as const) {
    if (p?.[k] !== undefined && typeof p[k] !== 'boolean') throw new TypeError(`Portcullis: par.${k} must be a boolean`);
  }
  const required = p?.required ?? D.required;
  const expiresIn = count('par.expiresIn', p?.expiresIn, D.expiresIn);
  if (expiresIn > 600) throw new TypeError('Portcullis: par.expiresIn must be at most 600 seconds (RFC 9126 section 2.2)');
  return {
    enabled: (p?.enabled ?? D.enabled) || required,
    required,
    expiresIn,
    consentWindow: count('par.consentWindow', p?.consentWindow, D.consentWindow),
  };
}

function resolveDevice(d: DeviceOptions | undefined, issuer: string): DeviceSettings {
  const D = DEFAULT.device;
  const verificationUri = d?.verificationUri ?? `${issuer}${D.verificationPath}`;
  let url: URL;
  try {
    url = new URL(verificationUri);
  } catch {
    throw new TypeError('Portcullis: device.verificationUri must be an absolute URL');
  }
  if (url.hash || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new TypeError('Portcullis: device.verificationUri must be an http(s) URL without a fragment');
  }
  return {
    verificationUri,
    expiresIn: count('device.expiresIn', d?.expiresIn, D.expiresIn),
    interval: count('device.interval', d?.interval, D.interval),
    maxLookupFailures: count('device.maxLookupFailures', d?.maxLookupFailures, D.maxLookupFailures),
    lookupWindow: count('device.lookupWindow', d?.lookupWindow, D.lookupWindow),
  };
}

function resolveJwt(o: ProviderOptions<User, Client>, issuer: URL): JwtSettings {
  const j = o.jwt ?? {};
  const algorithm = j.algorithm ?? DEFAULT.jwt.algorithm;
  if (!['ES256', 'EdDSA', 'RS256'].includes(algorithm)) throw new TypeError('Portcullis: jwt.algorithm must be ES256, EdDSA or RS256');
  const kek = j.keyEncryptionKey ?? process.env.PORTCULLIS_KEY_ENCRYPTION_KEY;
  if (!kek) {
    throw new ConfigurationError(
      'Portcullis: JWT access tokens need a key-encryption key for the signing keys at rest: jwt.keyEncryptionKey or PORTCULLIS_KEY_ENCRYPTION_KEY (32 random bytes, base64url)',
    );
  }
  const keyCacheTtl = seconds('jwt.keyCacheTtl', j.keyCacheTtl, DEFAULT.jwt.keyCacheTtl);
  const rotationLeadTime = seconds('jwt.rotationLeadTime', j.rotationLeadTime, DEFAULT.jwt.rotationLeadTime);
  if (rotationLeadTime <= keyCacheTtl) {
    throw new ConfigurationError(
      'Portcullis: jwt.rotationLeadTime must be longer than jwt.keyCacheTtl, so every process publishes a new key before any signs with it',
    );
  }
  return {
    algorithm,
    keyEncryptionKey: parseKeyEncryptionKey(kek, j.keyEncryptionKey ? 'jwt.keyEncryptionKey' : 'PORTCULLIS_KEY_ENCRYPTION_KEY'),
    rotationLeadTime,
    keyCacheTtl,
    audience: j.audience ?? issuer.href.replace(/\/$/, ''),
  };
}
