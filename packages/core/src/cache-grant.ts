/**
 * `bindCacheGrant`: Flask-OAuthlib's `bind_cache_grant` for Portcullis. Keeps authorization
 * codes in a cache (memory, Redis or memcached) chosen by `OAUTH2_CACHE_*` configuration, and
 * registers only the grant getter and setter plus the current-user function; clients and tokens
 * come from elsewhere. The backend packages are loaded on demand by name, so core declares no
 * dependency on them (and they, which depend on core, form no cycle with it).
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Client, GrantStore, User } from './contract.js';
import type { Logger } from './options.js';
import { ConfigurationError } from './provider.js';
import type { CurrentUser, StoreRegistry } from './registry.js';

/** The cache backends `bindCacheGrant` can build. */
export type CacheGrantType = 'memory' | 'redis' | 'memcached';

/**
 * Configuration of `bindCacheGrant`. Each setting is read from its camelCase option, then from
 * `<PREFIX>_CACHE_<KEY>` (prefix `OAUTH2` by default), then from the generic `CACHE_<KEY>`, then
 * its default, so an app's Flask-style config object (or `process.env`) can be passed as is.
 * `undefined` and `null` mean "not set", except for the type, where `null` is refused.
 */
export interface CacheGrantConfig {
  /** `memory` (or `simple`), `redis`, `memcached` (or `memcache`). `null` or `'null'` is refused. Default `memory`. */
  type?: string | null;
  /** Seconds a code is kept at most, whatever its `expiresAt`. Default 100. */
  defaultTimeout?: number | string;
  /** Most codes the memory cache holds. Default 500. */
  threshold?: number | string;
  /** Prepended to every key, by every backend. Default `''`. */
  keyPrefix?: string;
  /** memcached servers, `host:port`, as a list or a comma-separated string. Default `127.0.0.1:11211`. */
  memcachedServers?: string | readonly string[];
  /** Default `localhost`. */
  redisHost?: string;
  /** Default 6379. */
  redisPort?: number | string;
  /** Never shown in errors. */
  redisPassword?: string;
  /** Default 0. */
  redisDb?: number | string;
  /**
   * `redis://[:password@]host[:port][/db]`; wins over host and port read from the same or a more
   * generic source, and loses to a more specific one (an `OAUTH2_CACHE_REDIS_HOST` or `_PORT`
   * beats a generic `CACHE_REDIS_URL`). Never shown in errors.
   */
  redisUrl?: string;
  /**
   * Redis: milliseconds after which a cache command fails (the token endpoint then answers 503),
   * a whole number from 1 to 600000. Default: unset, so `@portcullis/grant-cache-redis` applies
   * its own default of 1000 ms.
   */
  redisCommandTimeout?: number | string;
  /**
   * Redis: milliseconds the first command waits for the connection, a whole number from 1 to
   * 600000. Default: unset, so `@portcullis/grant-cache-redis` applies its own default of 1000 ms.
   */
  redisConnectTimeout?: number | string;
  /**
   * memcached: milliseconds a cache command may take before it fails (the token endpoint then
   * answers 503), a whole number from 1 to 600000. Default: unset, so
   * `@portcullis/grant-cache-memcached` applies its own default of 500 ms.
   */
  memcachedCommandTimeout?: number | string;
  /**
   * memcached: milliseconds a connection may take to open, a whole number from 1 to 600000.
   * Default: unset, so `@portcullis/grant-cache-memcached` applies its own default of 500 ms.
   */
  memcachedConnectTimeout?: number | string;
  /** The prefix of the upper-case key names. Default `OAUTH2` (keys read `OAUTH2_CACHE_TYPE`). */
  configPrefix?: string;
  /** `OAUTH2_CACHE_TYPE`, `CACHE_REDIS_HOST` and the like. */
  readonly [key: string]: unknown;
}

/** The settings `resolveCacheConfig` settled on. */
export interface ResolvedCacheConfig {
  readonly type: CacheGrantType;
  readonly defaultTimeout: number;
  readonly threshold: number;
  readonly keyPrefix: string;
  readonly memcachedServers: readonly string[];
  readonly redisHost: string;
  readonly redisPort: number;
  readonly redisPassword: string | undefined;
  readonly redisDb: number;
  /** The URL the Redis cache connects to; `undefined` when none is set or a more specific host or port beat it. */
  readonly redisUrl: string | undefined;
  /** Milliseconds after which a Redis command fails; `undefined` leaves the package's default (1000 ms). */
  readonly redisCommandTimeout: number | undefined;
  /** Milliseconds the first Redis command waits for the connection; `undefined` leaves the package's default (1000 ms). */
  readonly redisConnectTimeout: number | undefined;
  /** Milliseconds after which a memcached command fails; `undefined` leaves the package's default (500 ms). */
  readonly memcachedCommandTimeout: number | undefined;
  /** Milliseconds a memcached connection may take to open; `undefined` leaves the package's default (500 ms). */
  readonly memcachedConnectTimeout: number | undefined;
}

/**
 * What `bindCacheGrant` returns: the bound grant store, with `disconnect()` to close the
 * connection the cache opened (a no-op for the memory cache or a store that has none).
 */
export type CacheGrant = GrantStore & { disconnect(): Promise<void> };

/** `@portcullis/grant-cache-memory`, as far as core needs to know it. */
interface MemoryModule {
  createMemoryGrantCache(options: { threshold: number; defaultTimeout: number; keyPrefix: string }): GrantStore;
}
/** `@portcullis/grant-cache-redis`, as far as core needs to know it. */
interface RedisModule {
  createRedisGrantCache(options: {
    url?: string;
    host?: string;
    port?: number;
    password?: string;
    db?: number;
    keyPrefix?: string;
    defaultTimeout?: number;
    commandTimeout?: number;
    connectTimeout?: number;
  }): GrantStore | Promise<GrantStore>;
}
/** `@portcullis/grant-cache-memcached`, as far as core needs to know it. */
interface MemcachedModule {
  createMemcachedGrantCache(options: {
    servers: string[];
    keyPrefix?: string;
    defaultTimeout?: number;
    commandTimeout?: number;
    connectTimeout?: number;
  }): GrantStore | Promise<GrantStore>;
}

/** Loads a module by name; `(s) => import(s)` unless a bundler needs its own. */
export type ModuleImporter = (specifier: string) => Promise<unknown>;

const TYPES: Readonly<Record<string, CacheGrantType>> = {
  memory: 'memory',
  simple: 'memory',
  redis: 'redis',
  memcached: 'memcached',
  memcache: 'memcached',
};
const VALID_TYPES = "'memory' (or 'simple'), 'redis', 'memcached' (or 'memcache')";

const PACKAGES: Readonly<Record<CacheGrantType, { name: string; factory: string; peers: string }>> = {
  memory: { name: '@portcullis/grant-cache-memory', factory: 'createMemoryGrantCache', peers: '' },
  redis: { name: '@portcullis/grant-cache-redis', factory: 'createRedisGrantCache', peers: ' redis' },
  memcached: { name: '@portcullis/grant-cache-memcached', factory: 'createMemcachedGrantCache', peers: ' memjs' },
};

/** The upper-case key suffixes (`<PREFIX>_CACHE_<KEY>`, `CACHE_<KEY>`) a config may use. */
const KEYS = [
  'TYPE',
  'DEFAULT_TIMEOUT',
  'THRESHOLD',
  'KEY_PREFIX',
  'MEMCACHED_SERVERS',
  'REDIS_HOST',
  'REDIS_PORT',
  'REDIS_PASSWORD',
  'REDIS_DB',
  'REDIS_URL',
  'REDIS_COMMAND_TIMEOUT',
  'REDIS_CONNECT_TIMEOUT',
  'MEMCACHED_COMMAND_TIMEOUT',
  'MEMCACHED_CONNECT_TIMEOUT',
] as const;

/** The most milliseconds a Redis or memcached timeout may be set to (ten minutes; longer waits only hold requests open). */
const MAX_REDIS_TIMEOUT_MS = 600_000;

/** One setting as found: its value, the key it came from (for error messages) and how specific that key is. */
interface Found {
  value: unknown;
  from: string;
  /** 0 for the camelCase option, 1 for `<PREFIX>_CACHE_<KEY>`, 2 for `CACHE_<KEY>`. */
  level: number;
}

function prefixOf(config: CacheGrantConfig): string {
  const rawPrefix = config.configPrefix ?? 'OAUTH2';
  if (typeof rawPrefix !== 'string') throw new ConfigurationError('configPrefix must be a string');
  return rawPrefix === '' ? '' : `${rawPrefix}_`;
}

function finder(config: CacheGrantConfig): (camel: string, upper: string) => Found | undefined {
  const prefix = prefixOf(config);
  return (camel, upper) => {
    const keys = [camel, `${prefix}CACHE_${upper}`, `CACHE_${upper}`];
    for (let level = 0; level < keys.length; level++) {
      const from = keys[level] as string;
      const value = config[from];
      if (value === null && upper === 'TYPE') {
        throw new ConfigurationError(
          `${from} is null: a null cache cannot hold grants (every code would be lost before it is redeemed). Use ${VALID_TYPES}.`,
        );
      }
      if (value !== undefined && value !== null) return { value, from, level };
    }
    return undefined;
  };
}

/** Edit distance, for "did you mean" hints on mistyped keys. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitute = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(substitute, (previous[j] as number) + 1, (current[j - 1] as number) + 1));
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/**
 * The keys of a config that look like cache settings (`<PREFIX>_CACHE_*` or `CACHE_*`) but are
 * none, each with the known key it is closest to when that one is a likely typo (for
 * `OAUTH2_CACHE_TYP`, `OAUTH2_CACHE_TYPE`). `bindCacheGrant` and `createCacheGrant` log them.
 */
export function unknownCacheKeys(config: CacheGrantConfig = {}): { key: string; suggestion: string | undefined }[] {
  if (typeof config !== 'object' || config === null) return [];
  const prefix = prefixOf(config);
  const found: { key: string; suggestion: string | undefined }[] = [];
  for (const key of Object.keys(config)) {
    const head = key.startsWith(`${prefix}CACHE_`) ? `${prefix}CACHE_` : key.startsWith('CACHE_') ? 'CACHE_' : undefined;
    if (head === undefined) continue;
    const rest = key.slice(head.length);
    if ((KEYS as readonly string[]).includes(rest)) continue;
    let suggestion: string | undefined;
    let best = Math.max(2, Math.floor(rest.length / 4)) + 1;
    for (const known of KEYS) {
      const d = distance(rest, known);
      if (d < best) [best, suggestion] = [d, `${head}${known}`];
    }
    found.push({ key, suggestion });
  }
  return found;
}

function show(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function toNumber(found: Found, check: (n: number) => boolean, what: string): number {
  const { value, from } = found;
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
  if (!Number.isFinite(n) || !check(n)) throw new ConfigurationError(`${from} must be ${what}, got ${show(value)}`);
  return n;
}

function toMilliseconds(found: Found): number {
  return toNumber(
    found,
    (n) => Number.isInteger(n) && n >= 1 && n <= MAX_REDIS_TIMEOUT_MS,
    `a whole number of milliseconds from 1 to ${MAX_REDIS_TIMEOUT_MS}`,
  );
}

function asString(found: Found, secret: boolean): string {
  if (typeof found.value === 'string') return found.value;
  if (!secret && typeof found.value === 'number') return String(found.value);
  throw new ConfigurationError(`${found.from} must be a string${secret ? '' : `, got ${show(found.value)}`}`);
}

function toServers(found: Found): string[] {
  const { value, from } = found;
  const list = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : null;
  if (list === null || !list.every((s) => typeof s === 'string')) {
    throw new ConfigurationError(`${from} must be a list of "host:port" strings or a comma-separated string`);
  }
  const servers = list.map((s: string) => s.trim()).filter((s: string) => s !== '');
  if (servers.length === 0) throw new ConfigurationError(`${from} names no server`);
  return servers;
}

function toType(found: Found | undefined): CacheGrantType {
  if (found === undefined) return 'memory';
  const { value, from } = found;
  const name = typeof value === 'string' ? value.trim().toLowerCase() : '';
  if (name === 'null' || name === 'nullcache') {
    throw new ConfigurationError(
      `${from} is 'null': a null cache cannot hold grants (every code would be lost before it is redeemed). Use ${VALID_TYPES}.`,
    );
  }
  const type = TYPES[name];
  if (type === undefined) {
    throw new ConfigurationError(`${from} ${show(value)} is not a grant cache type; valid types are ${VALID_TYPES}.`);
  }
  return type;
}

/**
 * Resolves `bindCacheGrant`'s configuration without connecting to anything: each setting from
 * its camelCase option, then `OAUTH2_CACHE_<KEY>` (or `<configPrefix>_CACHE_<KEY>`), then
 * `CACHE_<KEY>`, then its default. A Redis URL wins over a host and port from the same or a
 * more generic source; a more specific host or port wins over it (then `redisUrl` is
 * `undefined`). Throws a `ConfigurationError` for an unknown or `null` type or an invalid value;
 * passwords and URLs are never quoted in the message.
 */
export function resolveCacheConfig(config: CacheGrantConfig = {}): ResolvedCacheConfig {
  if (typeof config !== 'object' || config === null) throw new ConfigurationError('the cache config must be an object');
  const find = finder(config);
  const get = <T>(camel: string, upper: string, fallback: T, convert: (f: Found) => T): T => {
    const found = find(camel, upper);
    return found === undefined ? fallback : convert(found);
  };
  const url = find('redisUrl', 'REDIS_URL');
  const hostOrPort = Math.min(find('redisHost', 'REDIS_HOST')?.level ?? 3, find('redisPort', 'REDIS_PORT')?.level ?? 3);
  // Specific keys win: a URL from a more generic source than a host or port is not used.
  const urlText = url === undefined ? undefined : asString(url, true);
  const redisUrl = url !== undefined && hostOrPort >= url.level ? urlText : undefined;
  return {
    type: toType(find('type', 'TYPE')),
    defaultTimeout: get('defaultTimeout', 'DEFAULT_TIMEOUT', 100, (f) => toNumber(f, (n) => n > 0, 'a positive number of seconds')),
    threshold: get('threshold', 'THRESHOLD', 500, (f) => toNumber(f, (n) => Number.isInteger(n) && n > 0, 'a positive integer')),
    keyPrefix: get('keyPrefix', 'KEY_PREFIX', '', (f) => asString(f, false)),
    memcachedServers: get('memcachedServers', 'MEMCACHED_SERVERS', ['127.0.0.1:11211'], toServers),
    redisHost: get('redisHost', 'REDIS_HOST', 'localhost', (f) => asString(f, false)),
    redisPort: get('redisPort', 'REDIS_PORT', 6379, (f) => toNumber(f, (n) => Number.isInteger(n) && n > 0 && n < 65536, 'a port number')),
    redisPassword: get<string | undefined>('redisPassword', 'REDIS_PASSWORD', undefined, (f) => asString(f, true)),
    redisDb: get('redisDb', 'REDIS_DB', 0, (f) => toNumber(f, (n) => Number.isInteger(n) && n >= 0, 'a database number')),
    redisUrl,
    redisCommandTimeout: get<number | undefined>('redisCommandTimeout', 'REDIS_COMMAND_TIMEOUT', undefined, toMilliseconds),
    redisConnectTimeout: get<number | undefined>('redisConnectTimeout', 'REDIS_CONNECT_TIMEOUT', undefined, toMilliseconds),
    memcachedCommandTimeout: get<number | undefined>('memcachedCommandTimeout', 'MEMCACHED_COMMAND_TIMEOUT', undefined, toMilliseconds),
    memcachedConnectTimeout: get<number | undefined>('memcachedConnectTimeout', 'MEMCACHED_CONNECT_TIMEOUT', undefined, toMilliseconds),
  };
}

function isGrantStore(value: unknown): value is GrantStore {
  const s = value as Partial<GrantStore> | null;
  return typeof s === 'object' && s !== null && typeof s.saveGrant === 'function' && typeof s.consumeGrant === 'function';
}

async function load<M>(type: CacheGrantType, importModule: ModuleImporter): Promise<M> {
  const pkg = PACKAGES[type];
  let mod: unknown;
  try {
    mod = await importModule(pkg.name);
  } catch (err) {
    const error = new ConfigurationError(
      `The '${type}' grant cache needs the package ${pkg.name}, which could not be loaded. Install it in your app: npm install ${pkg.name}${pkg.peers} (if it is installed, pass { importModule: (s) => import(s) } from your app)`,
    );
    error.cause = err;
    throw error;
  }
  if (typeof (mod as Record<string, unknown> | null)?.[pkg.factory] !== 'function') {
    throw new ConfigurationError(`${pkg.name} does not export ${pkg.factory}(); install a version that matches @portcullis/core`);
  }
  return mod as M;
}

/** Options of `createCacheGrant` and `bindCacheGrant` that are not cache settings. */
export interface CacheGrantLoadOptions {
  /**
   * How backend packages are loaded. Default: dynamic `import()` from core's own location, then
   * from the application's directory (`process.cwd()`), which finds a package the app depends on
   * even where core cannot see it (pnpm's strict layout). Pass `(s) => import(s)` from your app
   * for any other layout, or a bundler that needs to see the import.
   */
  importModule?: ModuleImporter;
  /**
   * Where unknown `OAUTH2_CACHE_*` / `CACHE_*` keys and the production memory-cache warning go.
   * `bindCacheGrant` uses the provider's logger (`options.logger`) unless this is given;
   * `createCacheGrant` uses this, else the console.
   */
  logger?: Logger;
}

const consoleLogger: Logger = {
  warn: (m, meta) => console.warn(`[portcullis] ${m}`, meta ?? ''),
  error: (m, meta) => console.error(`[portcullis] ${m}`, meta ?? ''),
};

function isModuleNotFound(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

const defaultImporter: ModuleImporter = async (specifier) => {
  try {
    return await import(specifier);
  } catch (err) {
    if (!isModuleNotFound(err)) throw err;
    // Core cannot see the package (it declares no dependency on it): look where the app is.
    let resolved: string;
    try {
      resolved = createRequire(join(process.cwd(), 'package.json')).resolve(specifier);
    } catch {
      throw err;
    }
    return import(pathToFileURL(resolved).href);
  }
};

function warnings(config: CacheGrantConfig, type: CacheGrantType, logger: Logger): void {
  for (const { key, suggestion } of unknownCacheKeys(config)) {
    logger.warn(`bindCacheGrant: unknown cache key ${key} is ignored${suggestion === undefined ? '' : `; did you mean ${suggestion}?`}`, {
      key,
      ...(suggestion === undefined ? {} : { suggestion }),
    });
  }
  if (type === 'memory' && process.env.NODE_ENV === 'production') {
    logger.warn(
      'bindCacheGrant uses the in-memory grant cache with NODE_ENV=production: codes are not shared between processes. Use type redis or memcached.',
    );
  }
}

/**
 * Builds the grant cache a config describes (see `resolveCacheConfig`), loading its backend
 * package on demand; unknown `OAUTH2_CACHE_*` / `CACHE_*` keys are logged. Called by
 * `bindCacheGrant`; use it directly to register the store yourself.
 */
export async function createCacheGrant(config: CacheGrantConfig = {}, options: CacheGrantLoadOptions = {}): Promise<GrantStore> {
  const settings = resolveCacheConfig(config);
  warnings(config, settings.type, options.logger ?? consoleLogger);
  const importModule = options.importModule ?? defaultImporter;
  const { type, keyPrefix, defaultTimeout } = settings;
  let store: unknown;
  if (type === 'memory') {
    const mod = await load<MemoryModule>(type, importModule);
    store = mod.createMemoryGrantCache({ threshold: settings.threshold, defaultTimeout, keyPrefix });
  } else if (type === 'redis') {
    const mod = await load<RedisModule>(type, importModule);
    const password = settings.redisPassword === undefined ? {} : { password: settings.redisPassword };
    // Unset timeouts are left out, so the package's own defaults apply.
    const timeouts = {
      ...(settings.redisCommandTimeout === undefined ? {} : { commandTimeout: settings.redisCommandTimeout }),
      ...(settings.redisConnectTimeout === undefined ? {} : { connectTimeout: settings.redisConnectTimeout }),
    };
    store = await mod.createRedisGrantCache(
      settings.redisUrl === undefined
        ? { host: settings.redisHost, port: settings.redisPort, db: settings.redisDb, ...password, keyPrefix, defaultTimeout, ...timeouts }
        : // The URL carries host, port and db; an explicit non-zero db and a password still apply.
          {
            url: settings.redisUrl,
            ...(settings.redisDb === 0 ? {} : { db: settings.redisDb }),
            ...password,
            keyPrefix,
            defaultTimeout,
            ...timeouts,
          },
    );
  } else {
    const mod = await load<MemcachedModule>(type, importModule);
    // Unset timeouts are left out, so the package's own defaults apply.
    store = await mod.createMemcachedGrantCache({
      servers: [...settings.memcachedServers],
      keyPrefix,
      defaultTimeout,
      ...(settings.memcachedCommandTimeout === undefined ? {} : { commandTimeout: settings.memcachedCommandTimeout }),
      ...(settings.memcachedConnectTimeout === undefined ? {} : { connectTimeout: settings.memcachedConnectTimeout }),
    });
  }
  if (!isGrantStore(store)) throw new ConfigurationError(`${PACKAGES[type].name} did not return a grant store`);
  return store;
}

const noDisconnect = async (): Promise<void> => {};

/**
 * The store itself when it has `disconnect()`; else a view of it that adds a no-op one (methods
 * still run on the store itself, so private fields keep working).
 */
function withDisconnect(store: GrantStore): CacheGrant {
  if (typeof (store as Partial<CacheGrant>).disconnect === 'function') return store as CacheGrant;
  return new Proxy(store, {
    get(target, key) {
      if (key === 'disconnect') return noDisconnect;
      const value: unknown = Reflect.get(target, key, target);
      // A frozen property must be answered as it is (a Proxy invariant).
      const own = Reflect.getOwnPropertyDescriptor(target, key);
      if (own !== undefined && !own.configurable && own.writable === false) return value;
      return typeof value === 'function' ? value.bind(target) : value;
    },
    has: (target, key) => key === 'disconnect' || Reflect.has(target, key),
  }) as CacheGrant;
}

/** The provider's logger, when the registry is an `OAuth2Provider` (or looks like one). */
function loggerOf(provider: unknown): Logger | undefined {
  const logger = (provider as { options?: { logger?: Partial<Logger> } } | null)?.options?.logger;
  return typeof logger?.warn === 'function' && typeof logger.error === 'function' ? (logger as Logger) : undefined;
}

/**
 * Flask-OAuthlib's `bind_cache_grant`: keeps authorization codes in a cache and registers only
 * the grant getter and setter (`provider.useStores({ grants }, { source: 'binding' })`) and the
 * current-user function; clients and tokens come from elsewhere. An explicit registration on the
 * provider still wins over these. Unknown `OAUTH2_CACHE_*` / `CACHE_*` keys (typos) are reported
 * through the provider's logger.
 *
 * @param cacheOrConfig a `GrantStore` to use as is, or a config object (see `CacheGrantConfig`;
 *   `process.env` or a Flask-style object with `OAUTH2_CACHE_*` keys works too).
 * @param currentUser returns the signed-in user deciding on an authorization request, or `null`.
 * @returns the grant store it bound, with `disconnect()` to call at shutdown (a store without
 *   one is bound and returned as a view of itself that adds a no-op `disconnect()`).
 */
export async function bindCacheGrant<U extends User = User, C extends Client = Client>(
  provider: StoreRegistry<U, C>,
  cacheOrConfig: GrantStore | CacheGrantConfig,
  currentUser: CurrentUser<U>,
  options: CacheGrantLoadOptions = {},
): Promise<CacheGrant> {
  if (typeof currentUser !== 'function') throw new ConfigurationError('bindCacheGrant needs a currentUser function');
  const logger = options.logger ?? loggerOf(provider) ?? consoleLogger;
  const store = withDisconnect(
    isGrantStore(cacheOrConfig) ? cacheOrConfig : await createCacheGrant(cacheOrConfig as CacheGrantConfig, { ...options, logger }),
  );
  // What is registered is what is returned.
  provider.useStores({ grants: store }, { source: 'binding' });
  provider.setCurrentUser(currentUser, { source: 'binding' });
  return store;
}
