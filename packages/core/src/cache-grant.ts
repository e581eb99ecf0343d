/**
 * `bindCacheGrant`: Flask-OAuthlib's `bind_cache_grant` for Portcullis. Keeps authorization
 * codes in a cache (memory, Redis or memcached) chosen by `OAUTH2_CACHE_*` configuration, and
 * registers only the grant getter and setter plus the current-user function; clients and tokens
 * come from elsewhere. The backend packages are loaded on demand, so core never depends on them.
 */
import type { Client, GrantStore, User } from './contract.js';
import { ConfigurationError } from './provider.js';
import type { CurrentUser, StoreRegistry } from './registry.js';

/** The cache backends `bindCacheGrant` can build. */
export type CacheGrantType = 'memory' | 'redis' | 'memcached';

/**
 * Configuration of `bindCacheGrant`. Each setting is read from its camelCase option, then from
 * `<PREFIX>_CACHE_<KEY>` (prefix `OAUTH2` by default), then from the generic `CACHE_<KEY>`, then
 * its default, so an app's Flask-style config object (or `process.env`) can be passed as is.
 */
export interface CacheGrantConfig {
  /** `memory` (or `simple`), `redis`, `memcached` (or `memcache`). `null` is refused. Default `memory`. */
  type?: string;
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
  /** `redis://[:password@]host[:port][/db]`; wins over host and port. Never shown in errors. */
  redisUrl?: string;
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
  readonly redisUrl: string | undefined;
}

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
  }): GrantStore | Promise<GrantStore>;
}
/** `@portcullis/grant-cache-memcached`, as far as core needs to know it. */
interface MemcachedModule {
  createMemcachedGrantCache(options: { servers: string[]; keyPrefix?: string; defaultTimeout?: number }): GrantStore | Promise<GrantStore>;
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

/** One setting as found: its value and the key it came from (for error messages). */
interface Found {
  value: unknown;
  from: string;
}

function finder(config: CacheGrantConfig): (camel: string, upper: string) => Found | undefined {
  const rawPrefix = config.configPrefix ?? 'OAUTH2';
  if (typeof rawPrefix !== 'string') throw new ConfigurationError('configPrefix must be a string');
  const prefix = rawPrefix === '' ? '' : `${rawPrefix}_`;
  return (camel, upper) => {
    for (const from of [camel, `${prefix}CACHE_${upper}`, `CACHE_${upper}`]) {
      const value = config[from];
      if (value !== undefined && value !== null) return { value, from };
    }
    return undefined;
  };
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
 * `CACHE_<KEY>`, then its default. Throws a `ConfigurationError` for an unknown or `null` type
 * or an invalid value; passwords and URLs are never quoted in the message.
 */
export function resolveCacheConfig(config: CacheGrantConfig = {}): ResolvedCacheConfig {
  if (typeof config !== 'object' || config === null) throw new ConfigurationError('the cache config must be an object');
  const find = finder(config);
  const get = <T>(camel: string, upper: string, fallback: T, convert: (f: Found) => T): T => {
    const found = find(camel, upper);
    return found === undefined ? fallback : convert(found);
  };
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
    redisUrl: get<string | undefined>('redisUrl', 'REDIS_URL', undefined, (f) => asString(f, true)),
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
      `The '${type}' grant cache needs the package ${pkg.name}, which could not be loaded. Install it: npm install ${pkg.name}${pkg.peers}`,
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
   * How backend packages are loaded. Default: dynamic `import()` from core's own location. Pass
   * `(s) => import(s)` from your app when core cannot resolve them from there (a strict pnpm
   * layout without the packages hoisted, or a bundler that needs to see the import).
   */
  importModule?: ModuleImporter;
}

const defaultImporter: ModuleImporter = (specifier) => import(specifier);

/**
 * Builds the grant cache a config describes (see `resolveCacheConfig`), loading its backend
 * package on demand. Called by `bindCacheGrant`; use it directly to register the store yourself.
 */
export async function createCacheGrant(config: CacheGrantConfig = {}, options: CacheGrantLoadOptions = {}): Promise<GrantStore> {
  const settings = resolveCacheConfig(config);
  const importModule = options.importModule ?? defaultImporter;
  const { type, keyPrefix, defaultTimeout } = settings;
  let store: unknown;
  if (type === 'memory') {
    const mod = await load<MemoryModule>(type, importModule);
    store = mod.createMemoryGrantCache({ threshold: settings.threshold, defaultTimeout, keyPrefix });
  } else if (type === 'redis') {
    const mod = await load<RedisModule>(type, importModule);
    const password = settings.redisPassword === undefined ? {} : { password: settings.redisPassword };
    store = await mod.createRedisGrantCache(
      settings.redisUrl === undefined
        ? { host: settings.redisHost, port: settings.redisPort, db: settings.redisDb, ...password, keyPrefix, defaultTimeout }
        : // The URL carries host, port and db; an explicit non-zero db and a password still apply.
          { url: settings.redisUrl, ...(settings.redisDb === 0 ? {} : { db: settings.redisDb }), ...password, keyPrefix, defaultTimeout },
    );
  } else {
    const mod = await load<MemcachedModule>(type, importModule);
    store = await mod.createMemcachedGrantCache({ servers: [...settings.memcachedServers], keyPrefix, defaultTimeout });
  }
  if (!isGrantStore(store)) throw new ConfigurationError(`${PACKAGES[type].name} did not return a grant store`);
  return store;
}

let warnedMemory = false;

/**
 * Flask-OAuthlib's `bind_cache_grant`: keeps authorization codes in a cache and registers only
 * the grant getter and setter (`provider.useStores({ grants }, { source: 'binding' })`) and the
 * current-user function; clients and tokens come from elsewhere. An explicit registration on the
 * provider still wins over these.
 *
 * @param cacheOrConfig a `GrantStore` to use as is, or a config object (see `CacheGrantConfig`;
 *   `process.env` or a Flask-style object with `OAUTH2_CACHE_*` keys works too).
 * @param currentUser returns the signed-in user deciding on an authorization request, or `null`.
 * @returns the grant store it bound.
 */
export async function bindCacheGrant<U extends User = User, C extends Client = Client>(
  provider: StoreRegistry<U, C>,
  cacheOrConfig: GrantStore | CacheGrantConfig,
  currentUser: CurrentUser<U>,
  options: CacheGrantLoadOptions = {},
): Promise<GrantStore> {
  if (typeof currentUser !== 'function') throw new ConfigurationError('bindCacheGrant needs a currentUser function');
  let store: GrantStore;
  if (isGrantStore(cacheOrConfig)) {
    store = cacheOrConfig;
  } else {
    const config = cacheOrConfig as CacheGrantConfig;
    store = await createCacheGrant(config, options);
    if (resolveCacheConfig(config).type === 'memory' && process.env.NODE_ENV === 'production' && !warnedMemory) {
      warnedMemory = true;
      console.warn(
        '[portcullis] bindCacheGrant uses the in-memory grant cache with NODE_ENV=production: codes are not shared between processes. Use type redis or memcached.',
      );
    }
  }
  provider.useStores({ grants: store }, { source: 'binding' });
  provider.setCurrentUser(currentUser, { source: 'binding' });
  return store;
}
