import { randomBytes } from 'node:crypto';
import {
  type AfterRequestHook,
  type CurrentUser,
  createMemoryStores,
  type GrantStore,
  hashPassword,
  OAuth2Provider,
  type OAuthRequest,
  type ProviderStores,
  type StoreRegistry,
} from '@portcullis/core';
import type { AppConfig } from './config.js';
import { type AppContext, createContext, type RequestInfo } from './context.js';
import { DEMO_CLIENT_ID, DEMO_SCOPES } from './demo.js';
import { ephemeralStoreOf } from './grant-cache.js';
import type { AppLogger } from './log.js';
import { type ClientAuthRateLimit, createClientAuthRateLimit, createPasswordGrantLimit, SignInLimit } from './rate-limit.js';
import { DEVICE_DEMO_CLIENT } from './routes/device.js';
import { applySeed, loadSeedFile } from './seed.js';
import { LoginCsrf } from './session.js';
import type { AppState } from './state/app-state.js';
import type { Storage } from './storage.js';

export const DEMO_USERNAME = 'demo';
export const DEMO_SUBJECT = 'u-demo';

/** The demo user, as created (or found) at start. */
export interface DemoUser {
  readonly username: string;
  readonly subject: string;
  /** The generated password when the user was created by this start, else `null` (it was shown before). */
  readonly password: string | null;
}

export interface ProviderParts {
  logger: AppLogger;
  storage: Storage;
  /** The grant cache to register, or `null` when the database binding keeps the codes. */
  grantCache: GrantStore | null;
  /** Where the app listens (loopback URL). */
  url: string;
  issuer: string;
  /** Sessions, consents and failure counts (in memory, or shared by the processes). */
  state: AppState;
}

export interface ProviderSetup {
  readonly provider: OAuth2Provider;
  readonly context: AppContext;
  readonly demoUser: DemoUser | null;
  readonly rateLimit: ClientAuthRateLimit;
  readonly signInLimit: SignInLimit;
  /** The stores the provider uses (the binding's, the grant cache, the token features'): for the admin API. */
  readonly stores: ProviderStores;
}

/** Creates the demo client (always, so its redirect URI follows the issuer) and the demo user (once). */
async function ensureDemo(storage: Storage, issuer: string): Promise<DemoUser> {
  await storage.putClient({
    id: DEMO_CLIENT_ID,
    secretHash: null,
    redirectUris: [`${issuer}/demo/callback`],
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: [...DEMO_SCOPES],
    tokenEndpointAuthMethod: 'none',
  });
  await storage.putClient(DEVICE_DEMO_CLIENT);
  if (await storage.users.getUserByUsername(DEMO_USERNAME)) {
    return { username: DEMO_USERNAME, subject: DEMO_SUBJECT, password: null };
  }
  const password = randomBytes(12).toString('base64url');
  await storage.putUser({ username: DEMO_USERNAME, subject: DEMO_SUBJECT, passwordHash: await hashPassword(password) });
  return { username: DEMO_USERNAME, subject: DEMO_SUBJECT, password };
}

/** Core's `jwt` options: the key-encryption key, the key cache TTL and the rotation lead time. */
export function jwtOptions(config: AppConfig, keyEncryptionKey: string) {
  return { keyEncryptionKey, keyCacheTtl: config.keyRotation.keyCacheTtl, rotationLeadTime: config.keyRotation.leadTime };
}

/** The provider options of `ACCESS_TOKEN_FORMAT`, `KEY_ENCRYPTION_KEY`, `RESOURCES`, `PAR`, `DPOP` and `DPOP_NONCE_SECRET`. */
function tokenFeatureOptions(config: AppConfig) {
  const nonce = config.dpop.nonceSecret;
  return {
    accessTokenFormat: config.accessTokenFormat,
    ...(config.keyEncryptionKey ? { jwt: jwtOptions(config, config.keyEncryptionKey.reveal()) } : {}),
    ...(config.resources.length > 0 ? { resources: config.resources } : {}),
    par: { enabled: config.par !== 'off', required: config.par === 'required' },
    dpop: { enabled: config.dpop.enabled, ...(nonce ? { nonce: { secret: nonce.reveal() } } : {}) },
  };
}

/** The grant types a self-registered client may ask for: those enabled, of these three. */
const REGISTRABLE_GRANTS = ['authorization_code', 'refresh_token', 'client_credentials'] as const;

/** The provider options of `REGISTRATION`, `REGISTRATION_TOKEN` and `REGISTRATION_SCOPES`. */
function registrationOptions(config: AppConfig) {
  const r = config.registration;
  if (r.mode === 'off') return {};
  return {
    registration: {
      enabled: true,
      ...(r.mode === 'token' && r.token ? { initialAccessTokens: [r.token.reveal()] } : {}),
      grantTypes: REGISTRABLE_GRANTS.filter((g) => config.grants.includes(g)),
      scopes: [...r.scopes],
      clientSecretLifetime: r.secretLifetime,
    },
  };
}

/** The provider options of `CLIENT_ID_METADATA*` (Client ID Metadata Documents): `CLIENT_ID_METADATA_SCOPES` is core's `scopes`. */
function clientIdMetadataOptions(config: AppConfig) {
  const m = config.clientIdMetadata;
  if (!m.enabled) return {};
  return {
    clientIdMetadataDocuments: {
      enabled: true,
      allowPrivateNetworks: m.allowPrivateNetworks,
      timeout: m.timeoutMs,
      maxBytes: m.maxBytes,
      maxIdLength: m.maxIdLength,
      scopes: [...m.scopes],
      // Core trusts these besides Node's bundled public CAs.
      ...(m.ca ? { ca: [...m.ca] } : {}),
    },
  };
}

/**
 * Registers the stores the token features need when nothing better was registered:
 * - the ephemeral store (PAR, DPoP proof replay): the grant cache's (Redis, memcached), else the
 *   database binding's, else this process's memory (one process only: a warning says so unless
 *   the grant cache is in memory too);
 * - the signing keys of JWT access tokens: the database binding's, else this process's memory
 *   (lost at restart and not shared by processes: a warning says so).
 * Returns the key store it added, if any.
 */
function registerTokenFeatureStores(
  provider: OAuth2Provider,
  config: AppConfig,
  p: ProviderParts,
  bound: ProviderStores,
): Pick<ProviderStores, 'keys'> {
  const { logger } = p;
  const needsEphemeral = config.par !== 'off' || config.dpop.enabled;
  const needsKeys = config.accessTokenFormat === 'jwt' || config.resources.some((r) => r.accessTokenFormat === 'jwt');
  const cached = ephemeralStoreOf(p.grantCache);
  let memory: ReturnType<typeof createMemoryStores> | null = null;
  if (needsEphemeral) {
    if (cached) provider.useStores({ ephemeral: cached });
    else if (!bound.ephemeral) {
      memory ??= createMemoryStores();
      provider.useStores({ ephemeral: memory.ephemeral });
      if (config.grantCache.type !== 'memory') {
        logger.warn(
          'pushed authorization requests and DPoP proof ids are kept in this process only: the database binding registers no ephemeral store',
        );
      }
    }
  }
  if (needsKeys && !bound.keys) {
    memory ??= createMemoryStores();
    provider.useStores({ keys: memory.keys });
    logger.warn(
      'JWT signing keys are kept in this process only (new keys at every start, not shared by processes): the database binding registers no key store',
    );
    return { keys: memory.keys };
  }
  return {};
}

/**
 * The provider: its options and hooks (rate limits, the client id for the request log), its stores
 * (the database binding, and the grant cache when there is one), the seed file and the demo
 * entries; plus the context the route groups share.
 */
export async function setupProvider(config: AppConfig, p: ProviderParts): Promise<ProviderSetup> {
  const { logger, storage, issuer, state } = p;
  // Only signing in creates a session (see session.ts); anonymous visitors hold none.
  const signInLimit = new SignInLimit(config.rateLimit, state);
  const loginCsrf = new LoginCsrf(await state.loginKey());
  const infos = new WeakMap<OAuthRequest, RequestInfo>();

  const ipOfRequest = (req: OAuthRequest) => infos.get(req)?.ip ?? null;
  const rateLimit = createClientAuthRateLimit(config.rateLimit, ipOfRequest, state);
  const passwordGrantLimit = createPasswordGrantLimit(signInLimit, ipOfRequest);
  const clientExists = async (id: string): Promise<boolean> => {
    try {
      return (await storage.clients.getClient(id)) !== null;
    } catch {
      return false;
    }
  };
  /**
   * The client id for the request log. Core reports the id a request claimed, also when client
   * authentication failed or no such client exists; an unknown value may be a secret pasted into
   * the wrong field, so it is logged only when the request succeeded (the client authenticated,
   * or the authorization request was valid) or a client with this id exists.
   */
  const noteClient: AfterRequestHook = async (ctx, outcome) => {
    const info = infos.get(ctx.request);
    const id = outcome.clientId;
    if (!info || id === null || info.clientId === id) return undefined;
    if (outcome.valid || (await clientExists(id))) info.clientId = id;
    return undefined;
  };
  const provider = new OAuth2Provider({
    issuer,
    grants: config.grants,
    lifetimes: config.lifetimes,
    refreshTokenRotation: config.refreshTokenRotation,
    errorUri: '/error',
    logger: logger.core,
    hooks: {
      beforeRequest: [rateLimit.beforeRequest, passwordGrantLimit.beforeRequest],
      afterRequest: [rateLimit.afterRequest, passwordGrantLimit.afterRequest, noteClient],
    },
    ...tokenFeatureOptions(config),
    ...registrationOptions(config),
    ...clientIdMetadataOptions(config),
  });
  if (config.clientIdMetadata.enabled && config.clientIdMetadata.allowPrivateNetworks) {
    logger.warn(
      'CLIENT_ID_METADATA_ALLOW_PRIVATE is on: client metadata documents are fetched from loopback, private and link-local addresses too (tests and closed networks only)',
    );
  }
  const context = createContext({ config, issuer, url: p.url, provider, storage, logger, state, loginCsrf, signInLimit, infos });
  const currentUser: CurrentUser = async (req) => {
    const s = await context.sessionOf(req.headers.cookie as string | string[] | undefined);
    return s ? { id: s.userId } : null;
  };
  // What the binding registers is noted, so the token features' stores are added only where it has none.
  const bound: ProviderStores = {};
  const recorder: StoreRegistry = {
    useStores(stores, options) {
      Object.assign(bound, stores);
      provider.useStores(stores, options);
      return this;
    },
    setCurrentUser(fn, options) {
      provider.setCurrentUser(fn, options);
      return this;
    },
  };
  storage.bind(recorder, { currentUser, withGrants: p.grantCache === null });
  if (p.grantCache) provider.useStores({ grants: p.grantCache });
  const added = registerTokenFeatureStores(provider, config, p, bound);
  provider.validate();

  const seed = config.seedFile ? await loadSeedFile(config.seedFile) : null;
  // Processes starting together on one database write the seed and demo entries in turn.
  const demoUser = await storage.exclusive(async () => {
    if (seed) {
      const n = await applySeed(storage, seed);
      logger.info('seed file applied', { clients: n.clients, users: n.users });
    }
    return config.demo ? ensureDemo(storage, issuer) : null;
  });
  return { provider, context, demoUser, rateLimit, signInLimit, stores: { ...bound, ...added } };
}
