import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import type { GrantType, ResourceOptions } from '@portcullis/core';

/** Where the default SQLite file lives: `examples/provider/.data/` (git-ignored). */
export const DEFAULT_DATA_DIR = fileURLToPath(new URL('../.data/', import.meta.url));
export const DEFAULT_SQLITE_FILE = resolve(DEFAULT_DATA_DIR, 'portcullis.sqlite');

/** The database the clients, users and tokens live in. */
export type DatabaseConfig =
  | { readonly kind: 'sqlite'; readonly storage: string }
  | { readonly kind: 'postgres' | 'mariadb' | 'mongodb'; readonly url: string };

/** Where authorization codes live. `database` keeps them in the database above. */
export type GrantCacheConfig =
  | { readonly type: 'memory'; readonly threshold: number }
  | {
      readonly type: 'redis';
      /** The server, or with `clusterNodes` the scheme and credentials of every cluster node (and one node). */
      readonly url: string;
      /**
       * `REDIS_CLUSTER_NODES`: with it the grant cache and the shared state use a Redis Cluster
       * client (node-redis `createCluster`) whose seed nodes are the URL's node and these `host:port`s.
       */
      readonly clusterNodes?: readonly string[];
    }
  | { readonly type: 'memcached'; readonly servers: readonly string[] }
  | { readonly type: 'database' };

/**
 * The limits on failed client authentications and failed sign-ins (see `rate-limit.ts`). Every
 * count is per window; 0 turns that one count off.
 */
export interface RateLimitConfig {
  /**
   * Failures allowed for one client id, or one username, from one IP address (an IPv6 /64): the
   * lockout a guesser meets first. It never locks a client or user out for other addresses.
   */
  readonly maxFailures: number;
  /** Failures allowed from one IP address (IPv6: one /64), whatever client ids or usernames it names. */
  readonly maxFailuresPerIp: number;
  /** Failed sign-ins allowed for one username from all addresses together (login page and `password` grant). */
  readonly maxSignInFailuresPerUser: number;
  /** The window, in seconds. */
  readonly windowSeconds: number;
  /** Most keys each counter tracks at once; the least recently failing are dropped first. */
  readonly maxEntries: number;
}

/**
 * The SQL connection pool of each process (Sequelize's pool, or the Drizzle driver's `pg` or
 * `mysql2` pool). A burst of requests queues for a free connection for up to `acquireMs`; a
 * database that refuses connections (stopped) fails at once whatever these values.
 */
export interface DatabasePoolConfig {
  /** `DATABASE_POOL_MAX` (default 10, at least 2): most connections the process holds open. */
  readonly max: number;
  /** `DATABASE_POOL_ACQUIRE_MS` (default 10000): most ms a query waits for a free pooled connection; then 503. */
  readonly acquireMs: number;
  /**
   * `DATABASE_CONNECT_TIMEOUT_MS` (default 5000): most ms opening one new connection may take
   * (socket and handshake) before that attempt fails; a refused connection fails at once.
   */
  readonly connectTimeoutMs: number;
}

/** The pool settings when none are given (what `parseConfig({})` returns). */
export const DEFAULT_DATABASE_POOL: DatabasePoolConfig = { max: 10, acquireMs: 10_000, connectTimeoutMs: 5_000 };

/**
 * Parses `DATABASE_POOL_MAX`, `DATABASE_POOL_ACQUIRE_MS` and `DATABASE_CONNECT_TIMEOUT_MS`;
 * throws `ConfigError` naming the variable for a value that is not a whole number in range.
 */
export function parseDatabasePool(env: Env): DatabasePoolConfig {
  return {
    // The binding's migration lock holds one connection while the migration uses another.
    max: integer(env, 'DATABASE_POOL_MAX', DEFAULT_DATABASE_POOL.max, 2, 1000),
    acquireMs: integer(env, 'DATABASE_POOL_ACQUIRE_MS', DEFAULT_DATABASE_POOL.acquireMs, 100, 600_000),
    connectTimeoutMs: integer(env, 'DATABASE_CONNECT_TIMEOUT_MS', DEFAULT_DATABASE_POOL.connectTimeoutMs, 100, 600_000),
  };
}

/** The node server's timeouts and the shutdown drain, in seconds (see README). */
export interface ServerTimeouts {
  /** Most time a client may take to send a request's headers (slowloris); 408 and closed after. */
  readonly headersTimeout: number;
  /** Most time a client may take to send a whole request, headers and body; 408 and closed after. */
  readonly requestTimeout: number;
  /** How long an idle keep-alive connection is kept open. */
  readonly keepAliveTimeout: number;
  /** On SIGTERM: how long in-flight requests may take to finish before their connections are cut. */
  readonly shutdownGrace: number;
}

/** Everything the app reads from the environment and the command line. */
export interface AppConfig {
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  /** The issuer; `null` means `http://<host>:<port>` of the listening socket. */
  readonly issuer: string | null;
  readonly database: DatabaseConfig;
  readonly grantCache: GrantCacheConfig;
  /** Lifetimes in seconds. */
  readonly lifetimes: { readonly authorizationCode: number; readonly accessToken: number; readonly refreshToken: number };
  readonly grants: readonly GrantType[];
  readonly refreshTokenRotation: boolean;
  /** A JSON seed file applied at start (see README), or `null`. */
  readonly seedFile: string | null;
  readonly rateLimit: RateLimitConfig;
  /** Skip the consent page when the user already approved these scopes for this client. */
  readonly rememberConsent: boolean;
  /**
   * How many reverse proxies in front of the app append to `X-Forwarded-For`: the client address
   * is the entry that many hops from the right (with 1, the right-most one, which the proxy the app
   * talks to added). 0: the header is ignored and the socket's peer address is the client's.
   */
  readonly trustProxy: number;
  /** Create the demo client and demo user, and serve the demo client under `/demo`. */
  readonly demo: boolean;
  /** Idle lifetime of a browser session, in seconds. */
  readonly sessionTtl: number;
  /**
   * Most sign-in sessions kept (the least recently used go first when full). Only signing in
   * creates one: anonymous visitors have none, so they cannot push signed-in users out.
   */
  readonly sessionMaxEntries: number;
  /**
   * Where sign-in sessions, pending and remembered consents and the rate limits' counts live:
   * `memory` (this process) or `shared` (Redis when the grant cache is Redis, else the database),
   * so that several processes can serve one browser's requests and count failures together.
   */
  readonly stateStore: 'memory' | 'shared';
  readonly server: ServerTimeouts;
  /** The SQL connection pool of each process (`DATABASE_POOL_*`, `DATABASE_CONNECT_TIMEOUT_MS`). */
  readonly databasePool: DatabasePoolConfig;
  /**
   * `REDIS_COMMAND_TIMEOUT_MS` (default 3000): how long the Redis grant cache (single node or cluster) and the Redis
   * ephemeral store wait for a reply before answering 503. A stopped Redis fails at once (no offline queue); this
   * bounds a Redis that accepts but does not answer.
   */
  readonly redisCommandTimeoutMs: number;
  /**
   * `MEMCACHED_COMMAND_TIMEOUT_MS` (default 2000): how long the memcached grant cache waits for a
   * reply before answering 503 (the package's own default, 500 ms, gave 503s under a burst).
   */
  readonly memcachedCommandTimeoutMs: number;
  /** The periodic purge of expired rows: every `intervalSeconds` (0: never), `batchSize` rows per statement. */
  readonly purge: { readonly intervalSeconds: number; readonly batchSize: number };
  // --- Token features (issues 14, 16): JWT access tokens, resources, PAR, DPoP ---
  /** `ACCESS_TOKEN_FORMAT`: `opaque` (default) or `jwt` (RFC 9068, signed with rotating keys). */
  readonly accessTokenFormat: 'opaque' | 'jwt';
  /** `KEY_ENCRYPTION_KEY`: encrypts the signing keys at rest; required when any token is a JWT. */
  readonly keyEncryptionKey: Secret | null;
  /**
   * `KEY_CACHE_TTL` (default 30 s): how long each process keeps the signing key set before reading
   * it again; `KEY_ROTATION_LEAD_TIME` (default 120 s, longer than the TTL): how long a rotated-in
   * key is published before it signs (core's `jwt.keyCacheTtl` and `jwt.rotationLeadTime`).
   */
  readonly keyRotation: { readonly keyCacheTtl: number; readonly leadTime: number };
  /** `RESOURCES`: the protected resources clients may name with `resource` (RFC 8707). */
  readonly resources: readonly ResourceOptions[];
  /** `PAR`: pushed authorization requests (RFC 9126) `off`, `on` (default) or `required` of every client. */
  readonly par: 'off' | 'on' | 'required';
  /** `DPOP` (default on) and `DPOP_NONCE_SECRET` (server nonces, RFC 9449 section 8). */
  readonly dpop: { readonly enabled: boolean; readonly nonceSecret: Secret | null };
  // --- end of token features ---
  /**
   * `REGISTRATION`: dynamic client registration (RFC 7591/7592) `off` (default), `open`, or
   * `token` (a registration needs `Authorization: Bearer <REGISTRATION_TOKEN>`);
   * `REGISTRATION_SCOPES`: the scopes a registered client may ask for (default `read`);
   * `REGISTRATION_UNUSED_WINDOW`: how long a self-registered client that never got a token is
   * kept before the purge removes it (default 7 days; `0` or `off`: kept for ever);
   * `REGISTRATION_SECRET_LIFETIME`: how long a registered client's secret works (default `0`/`off`: for ever).
   */
  readonly registration: RegistrationConfig;
  /**
   * `ADMIN_OPERATOR_TOKEN`: when set (at least 32 characters of `A-Z a-z 0-9 - . _ ~ + /`), the
   * admin API (`@portcullis/admin`) is mounted at `/admin` and accepts it as a bearer token; unset:
   * no admin API. Never logged.
   */
  readonly adminOperatorToken: Secret | null;
  /** `CLIENT_ID_METADATA*`: Client ID Metadata Documents (https client ids resolved from their JSON document). */
  readonly clientIdMetadata: ClientIdMetadataConfig;
}

/**
 * Client ID Metadata Documents (core's `clientIdMetadataDocuments`): a `client_id` that is an
 * https URL names a JSON document there describing a public client, fetched by the provider.
 */
export interface ClientIdMetadataConfig {
  /** `CLIENT_ID_METADATA` (default off). */
  readonly enabled: boolean;
  /** `CLIENT_ID_METADATA_ALLOW_PRIVATE` (default off): fetch from loopback, private and link-local addresses (tests, closed networks). */
  readonly allowPrivateNetworks: boolean;
  /**
   * The PEM certificates of `CLIENT_ID_METADATA_CA`, read at start; core trusts them besides
   * Node's bundled public CAs. `null`: the public CAs only.
   */
  readonly ca: readonly string[] | null;
  /**
   * `CLIENT_ID_METADATA_SCOPES` (space-separated; default `REGISTRATION_SCOPES`, itself `read` by
   * default): the scopes a document may ask for (core's `clientIdMetadataDocuments.scopes`); a
   * document naming another scope is refused, one naming none gets them all.
   */
  readonly scopes: readonly string[];
  /** `CLIENT_ID_METADATA_TIMEOUT_MS` (default 3000, 100 to 60000): most ms one document fetch may take. */
  readonly timeoutMs: number;
  /** `CLIENT_ID_METADATA_MAX_BYTES` (default 5120, 256 to 1048576): largest document accepted. */
  readonly maxBytes: number;
  /**
   * `CLIENT_ID_METADATA_MAX_ID_LENGTH` (default 255, 1 to 2000): longest client id resolved; a
   * longer one is an unknown client, never fetched. 255 is what the SQL bindings' client id
   * columns hold: raise it only with a store whose columns take longer ids (MongoDB).
   */
  readonly maxIdLength: number;
}

/** The `CLIENT_ID_METADATA*` settings when none are given. */
export const DEFAULT_CLIENT_ID_METADATA: ClientIdMetadataConfig = {
  enabled: false,
  allowPrivateNetworks: false,
  ca: null,
  scopes: ['read'],
  timeoutMs: 3000,
  maxBytes: 5120,
  maxIdLength: 255,
};

/** Largest `CLIENT_ID_METADATA_CA` file read, and most certificates in it. */
const MAX_CA_FILE_BYTES = 1024 * 1024;
const MAX_CA_CERTIFICATES = 100;

/**
 * `CLIENT_ID_METADATA`, `CLIENT_ID_METADATA_ALLOW_PRIVATE`, `CLIENT_ID_METADATA_CA` (a PEM file,
 * relative to `cwd`, read here), `CLIENT_ID_METADATA_SCOPES` (default: `REGISTRATION_SCOPES`'
 * list), `CLIENT_ID_METADATA_TIMEOUT_MS`, `CLIENT_ID_METADATA_MAX_BYTES` and
 * `CLIENT_ID_METADATA_MAX_ID_LENGTH`. Throws `ConfigError` naming the variable; a message
 * names the CA file by its path, never by what it holds.
 */
export function parseClientIdMetadata(env: Env, cwd = process.cwd()): ClientIdMetadataConfig {
  const d = DEFAULT_CLIENT_ID_METADATA;
  const enabled = flag(env, 'CLIENT_ID_METADATA', d.enabled);
  const allowPrivateNetworks = flag(env, 'CLIENT_ID_METADATA_ALLOW_PRIVATE', d.allowPrivateNetworks);
  const timeoutMs = integer(env, 'CLIENT_ID_METADATA_TIMEOUT_MS', d.timeoutMs, 100, 60_000);
  const maxBytes = integer(env, 'CLIENT_ID_METADATA_MAX_BYTES', d.maxBytes, 256, 1024 * 1024);
  // Core resolves no client id longer than 2000 characters.
  const maxIdLength = integer(env, 'CLIENT_ID_METADATA_MAX_ID_LENGTH', d.maxIdLength, 1, 2000);
  const caFile = value(env, 'CLIENT_ID_METADATA_CA');
  // What such clients got before the setting existed: the scopes of self-registered clients.
  const scopes = scopeList(env, 'CLIENT_ID_METADATA_SCOPES', scopeList(env, 'REGISTRATION_SCOPES', d.scopes));
  if (!enabled) {
    const set = [
      'CLIENT_ID_METADATA_CA',
      'CLIENT_ID_METADATA_SCOPES',
      'CLIENT_ID_METADATA_TIMEOUT_MS',
      'CLIENT_ID_METADATA_MAX_BYTES',
      'CLIENT_ID_METADATA_MAX_ID_LENGTH',
    ]
      .filter((n) => value(env, n) !== undefined)
      .concat(allowPrivateNetworks ? ['CLIENT_ID_METADATA_ALLOW_PRIVATE'] : []);
    if (set.length > 0) throw new ConfigError(`${set.join(', ')} ${set.length === 1 ? 'needs' : 'need'} CLIENT_ID_METADATA=on`);
  }
  const ca = caFile === undefined ? null : readCaFile(resolve(cwd, caFile));
  return { enabled, allowPrivateNetworks, ca, scopes, timeoutMs, maxBytes, maxIdLength };
}

/** The certificates of a PEM file; `ConfigError` naming the file (never its contents) when it has none or cannot be read. */
function readCaFile(path: string): string[] {
  const where = `CLIENT_ID_METADATA_CA: ${JSON.stringify(path.slice(0, 300))}`;
  let text: string;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new ConfigError(`${where} is not a file`);
    if (st.size > MAX_CA_FILE_BYTES) throw new ConfigError(`${where} is larger than ${MAX_CA_FILE_BYTES} bytes`);
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException)?.code;
    throw new ConfigError(`${where} cannot be read${typeof code === 'string' ? ` (${code})` : ''}`);
  }
  if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text)) {
    throw new ConfigError(`${where} holds a private key: give the CA certificates only`);
  }
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new ConfigError(`${where} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  if (blocks.length > MAX_CA_CERTIFICATES) throw new ConfigError(`${where} holds more than ${MAX_CA_CERTIFICATES} certificates`);
  blocks.forEach((pem, i) => {
    try {
      new X509Certificate(pem);
    } catch {
      throw new ConfigError(`${where}: certificate ${i + 1} is not a valid X.509 certificate`);
    }
  });
  return blocks;
}

export interface RegistrationConfig {
  readonly mode: 'off' | 'open' | 'token';
  readonly token: Secret | null;
  readonly scopes: readonly string[];
  /** `REGISTRATION_UNUSED_WINDOW` in seconds; 0: never-used registrations are never purged. */
  readonly unusedWindow: number;
  /**
   * `REGISTRATION_SECRET_LIFETIME` in seconds: a registered client's secret stops working this long
   * after it was issued (`client_secret_expires_at`, RFC 7591); 0: never expires.
   */
  readonly secretLifetime: number;
}

/** The longest `REGISTRATION_UNUSED_WINDOW` and `REGISTRATION_SECRET_LIFETIME`: ten years. */
const MAX_UNUSED_WINDOW = 3650 * 86_400;

/** A configuration value that cannot be used; the message names the variable. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const DEVICE_CODE: GrantType = 'urn:ietf:params:oauth:grant-type:device_code';
const GRANTS: readonly GrantType[] = ['authorization_code', 'refresh_token', 'client_credentials', 'password', 'implicit', DEVICE_CODE];
const DEFAULT_GRANTS: readonly GrantType[] = ['authorization_code', 'refresh_token', 'client_credentials', DEVICE_CODE];

type Env = Readonly<Record<string, string | undefined>>;

function value(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

function integer(env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = value(env, name);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v)) throw new ConfigError(`${name} must be a whole number, got ${JSON.stringify(v.slice(0, 50))}`);
  const n = Number(v);
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

const UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 };

/** Seconds from `3600`, `90s`, `15m`, `1h` or `14d`. */
export function parseDuration(name: string, text: string): number {
  const m = /^(\d+)\s*([smhd]?)$/i.exec(text.trim());
  if (!m) throw new ConfigError(`${name} must be a duration such as 3600, 90s, 15m, 1h or 14d, got "${text}"`);
  const seconds = Number(m[1]) * UNITS[m[2]!.toLowerCase()]!;
  if (seconds <= 0 || !Number.isSafeInteger(seconds)) throw new ConfigError(`${name} must be a positive duration, got "${text}"`);
  return seconds;
}

function duration(env: Env, name: string, fallback: number): number {
  const v = value(env, name);
  return v === undefined ? fallback : parseDuration(name, v);
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const v = value(env, name)?.toLowerCase();
  if (v === undefined) return fallback;
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(`${name} must be 1 or 0 (true/false, on/off), got ${JSON.stringify(v.slice(0, 50))}`);
}

/**
 * Parses `TRUST_PROXY`: `0`/`false`/`no`/`off` (no proxy: `X-Forwarded-For` is ignored),
 * `1`/`true`/`yes`/`on` (one proxy), or the number of proxies in front of the app (up to 10).
 */
export function parseTrustProxy(text: string | undefined): number {
  if (text === undefined) return 0;
  const v = text.toLowerCase();
  if (['0', 'false', 'no', 'off'].includes(v)) return 0;
  if (['1', 'true', 'yes', 'on'].includes(v)) return 1;
  if (/^\d{1,2}$/.test(v) && Number(v) <= 10) return Number(v);
  throw new ConfigError(
    `TRUST_PROXY must be 0 (no proxy), 1 (one proxy) or the number of proxies in front of the app (up to 10), got "${text}"`,
  );
}

/**
 * Parses `DATABASE_URL`: `sqlite:<path>` (relative to the working directory; `sqlite:///abs`
 * also works, `sqlite::memory:` keeps nothing), `postgres://`/`postgresql://`, `mariadb://`
 * (`mysql://` is read as MariaDB), `mongodb://`/`mongodb+srv://`.
 */
export function parseDatabaseUrl(text: string | undefined, cwd = process.cwd()): DatabaseConfig {
  if (text === undefined) return { kind: 'sqlite', storage: DEFAULT_SQLITE_FILE };
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'sqlite': {
      let path = text.slice('sqlite:'.length);
      if (path.startsWith('//')) path = path.slice(2);
      if (path === '') throw new ConfigError('DATABASE_URL: sqlite: needs a file path, e.g. sqlite:.data/portcullis.sqlite');
      return { kind: 'sqlite', storage: path === ':memory:' ? path : resolve(cwd, path) };
    }
    case 'postgres':
    case 'postgresql':
      return { kind: 'postgres', url: checkUrl(text) };
    case 'mariadb':
    case 'mysql':
      return { kind: 'mariadb', url: checkUrl(text).replace(/^mysql:/i, 'mariadb:') };
    case 'mongodb':
    case 'mongodb+srv':
      return { kind: 'mongodb', url: checkUrl(text) };
    default:
      throw new ConfigError(`DATABASE_URL must start with sqlite:, postgres://, mariadb:// or mongodb://, got "${redactUrl(text)}"`);
  }
}

function checkUrl(text: string): string {
  try {
    const u = new URL(text);
    if (!u.host) throw new Error('no host');
  } catch {
    throw new ConfigError(`DATABASE_URL is not a valid URL: "${redactUrl(text)}"`);
  }
  return text;
}

/** A URL with its password replaced by `***`, for messages and the startup banner. */
export function redactUrl(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*:)[^/@]*@/i, '$1***@');
}

/**
 * Adds `REDIS_CLUSTER_NODES` (`host:port,host:port,...`) to a parsed `GRANT_CACHE`, which must then
 * be a redis:// or rediss:// URL without a database number (a cluster has database 0 only).
 */
export function withRedisCluster(cache: GrantCacheConfig, nodesText: string | undefined): GrantCacheConfig {
  if (nodesText === undefined) return cache;
  if (cache.type !== 'redis')
    throw new ConfigError('REDIS_CLUSTER_NODES needs GRANT_CACHE=redis://... (the scheme and credentials of the nodes)');
  const nodes = nodesText
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  if (nodes.length === 0 || nodes.length > 100) throw new ConfigError('REDIS_CLUSTER_NODES must list 1 to 100 host:port');
  for (const n of nodes) {
    if (!/^[A-Za-z0-9.-]{1,253}:\d{1,5}$/.test(n) && !/^\[[0-9a-f:.]{2,45}\]:\d{1,5}$/i.test(n)) {
      throw new ConfigError(`REDIS_CLUSTER_NODES: "${n.slice(0, 100)}" is not a host:port`);
    }
    if (Number(n.slice(n.lastIndexOf(':') + 1)) > 65535) throw new ConfigError(`REDIS_CLUSTER_NODES: "${n}" has no valid port`);
  }
  const path = new URL(cache.url).pathname;
  if (path !== '' && path !== '/' && path !== '/0')
    throw new ConfigError('GRANT_CACHE: a Redis Cluster has database 0 only (no /db in the URL)');
  return { ...cache, clusterNodes: [...new Set(nodes)] };
}

/** Parses `GRANT_CACHE`: `memory`, `redis://...`/`rediss://...`, `memcached://host:port,host:port`, or `database`. */
export function parseGrantCache(text: string | undefined, threshold = 1000): GrantCacheConfig {
  if (text === undefined || text.toLowerCase() === 'memory') return { type: 'memory', threshold };
  if (text.toLowerCase() === 'database') return { type: 'database' };
  if (/^rediss?:\/\//i.test(text)) {
    try {
      new URL(text);
    } catch {
      throw new ConfigError(`GRANT_CACHE is not a valid Redis URL: "${redactUrl(text)}"`);
    }
    return { type: 'redis', url: text };
  }
  if (/^memcached:\/\//i.test(text)) {
    const servers = text
      .slice('memcached://'.length)
      .replace(/\/$/, '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    if (servers.length === 0) throw new ConfigError('GRANT_CACHE: memcached:// needs at least one host:port');
    for (const s of servers) {
      if (!/^[^\s:/,]+(:\d{1,5})?$/.test(s) && !/^\[[0-9a-f:.]+\](:\d{1,5})?$/i.test(s)) {
        throw new ConfigError(`GRANT_CACHE: "${s}" is not a host:port`);
      }
    }
    return { type: 'memcached', servers };
  }
  throw new ConfigError(`GRANT_CACHE must be memory, database, redis://... or memcached://host:port,..., got "${redactUrl(text)}"`);
}

/** Parses `GRANTS`: grant types separated by commas or spaces. */
export function parseGrants(text: string | undefined): GrantType[] {
  if (text === undefined) return [...DEFAULT_GRANTS];
  const list = text.split(/[\s,]+/).filter((g) => g !== '');
  if (list.length === 0) throw new ConfigError('GRANTS must name at least one grant type');
  for (const g of list) {
    if (!GRANTS.includes(g as GrantType)) throw new ConfigError(`GRANTS: unknown grant type "${g}"; valid: ${GRANTS.join(', ')}`);
  }
  return [...new Set(list)] as GrantType[];
}

function parseIssuer(text: string | undefined): string | null {
  if (text === undefined) return null;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new ConfigError(`ISSUER must be an absolute URL, got "${text}"`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new ConfigError('ISSUER must be an http or https URL');
  if (u.search || u.hash || text.includes('#')) throw new ConfigError('ISSUER must not have a query or fragment');
  if (u.pathname !== '/' && u.pathname !== '') {
    throw new ConfigError('ISSUER must not have a path: this app serves its endpoints at the root');
  }
  return u.origin;
}

/** `--seed <path>` or `--seed=<path>` from the command line. */
function seedFlag(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--seed') {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new ConfigError('--seed needs a file path');
      return next;
    }
    if (a.startsWith('--seed=')) return a.slice('--seed='.length);
  }
  return undefined;
}

/**
 * Reads the configuration from environment variables and command-line flags (README lists them).
 * Throws `ConfigError` naming the variable when a value cannot be used.
 */
export function parseConfig(env: Env = process.env, argv: readonly string[] = [], cwd = process.cwd()): AppConfig {
  const seed = seedFlag(argv) ?? value(env, 'SEED_FILE');
  const maxFailures = integer(env, 'RATE_LIMIT_MAX_FAILURES', 10, 0, 1_000_000);
  return {
    host: value(env, 'HOST') ?? '127.0.0.1',
    port: integer(env, 'PORT', 3000, 0, 65535),
    issuer: parseIssuer(value(env, 'ISSUER')),
    database: parseDatabaseUrl(value(env, 'DATABASE_URL'), cwd),
    grantCache: withRedisCluster(
      parseGrantCache(value(env, 'GRANT_CACHE'), integer(env, 'GRANT_CACHE_THRESHOLD', 1000, 1, 10_000_000)),
      value(env, 'REDIS_CLUSTER_NODES'),
    ),
    lifetimes: {
      authorizationCode: duration(env, 'CODE_LIFETIME', 100),
      accessToken: duration(env, 'ACCESS_TOKEN_LIFETIME', 3600),
      refreshToken: duration(env, 'REFRESH_TOKEN_LIFETIME', 14 * 86400),
    },
    grants: parseGrants(value(env, 'GRANTS')),
    refreshTokenRotation: flag(env, 'REFRESH_TOKEN_ROTATION', true),
    seedFile: seed === undefined ? null : resolve(cwd, seed),
    rateLimit: {
      maxFailures,
      maxFailuresPerIp: integer(env, 'RATE_LIMIT_MAX_FAILURES_PER_IP', 100, 0, 1_000_000),
      maxSignInFailuresPerUser: integer(env, 'LOGIN_MAX_FAILURES_PER_USER', 20, 0, 1_000_000),
      windowSeconds: duration(env, 'RATE_LIMIT_WINDOW', 300),
      maxEntries: integer(env, 'RATE_LIMIT_MAX_ENTRIES', 10_000, 1, 10_000_000),
    },
    rememberConsent: flag(env, 'REMEMBER_CONSENT', false),
    trustProxy: parseTrustProxy(value(env, 'TRUST_PROXY')),
    demo: flag(env, 'DEMO', true),
    sessionTtl: duration(env, 'SESSION_TTL', 3600),
    sessionMaxEntries: integer(env, 'SESSION_MAX_ENTRIES', 10_000, 1, 10_000_000),
    stateStore: parseStateStore(value(env, 'STATE_STORE')),
    server: parseServerTimeouts(env),
    databasePool: parseDatabasePool(env),
    redisCommandTimeoutMs: integer(env, 'REDIS_COMMAND_TIMEOUT_MS', 3000, 100, 600_000),
    memcachedCommandTimeoutMs: integer(env, 'MEMCACHED_COMMAND_TIMEOUT_MS', 2000, 100, 600_000),
    purge: {
      intervalSeconds: ['0', 'off'].includes(value(env, 'PURGE_INTERVAL')?.toLowerCase() ?? '') ? 0 : duration(env, 'PURGE_INTERVAL', 3600),
      batchSize: integer(env, 'PURGE_BATCH_SIZE', 1000, 1, 1_000_000),
    },
    ...parseTokenFeatures(env), // ACCESS_TOKEN_FORMAT, KEY_ENCRYPTION_KEY, RESOURCES, PAR, DPOP, DPOP_NONCE_SECRET
    registration: parseRegistration(env),
    adminOperatorToken: parseAdminOperatorToken(env),
    clientIdMetadata: parseClientIdMetadata(env, cwd),
  };
}

/**
 * `ADMIN_OPERATOR_TOKEN`: unset or empty (no admin API), or 32 to 512 characters of
 * `A-Z a-z 0-9 - . _ ~ + /` (what `@portcullis/admin` accepts). The value is never echoed.
 */
export function parseAdminOperatorToken(env: Env): Secret | null {
  const token = secretSetting(env, 'ADMIN_OPERATOR_TOKEN', 32, 512);
  if (token && !/^[A-Za-z0-9\-._~+/]+$/.test(token.reveal())) {
    throw new ConfigError('ADMIN_OPERATOR_TOKEN may hold only A-Z a-z 0-9 - . _ ~ + / (e.g. `openssl rand -hex 32`)');
  }
  return token;
}

/**
 * `REGISTRATION`, `REGISTRATION_TOKEN`, `REGISTRATION_SCOPES` and `REGISTRATION_UNUSED_WINDOW`
 * (see README). The token is never echoed.
 */
export function parseRegistration(env: Env): RegistrationConfig {
  const mode = oneOf(env, 'REGISTRATION', ['off', 'open', 'token'] as const, 'off');
  const token = secretSetting(env, 'REGISTRATION_TOKEN', 32, 512);
  if (mode === 'token' && !token) {
    throw new ConfigError('REGISTRATION=token needs REGISTRATION_TOKEN (at least 32 random characters, e.g. `openssl rand -hex 32`)');
  }
  if (mode !== 'token' && token) throw new ConfigError('REGISTRATION_TOKEN is set but REGISTRATION is not token');
  // Clients send it as `Authorization: Bearer <token>`: a token68 (RFC 6750 2.1), as core requires.
  if (token && !/^[A-Za-z0-9\-._~+/]+=*$/.test(token.reveal())) {
    throw new ConfigError('REGISTRATION_TOKEN must be a bearer token: letters, digits and -._~+/ (trailing = allowed)');
  }
  return {
    mode,
    token,
    scopes: scopeList(env, 'REGISTRATION_SCOPES', ['read']),
    unusedWindow: parseUnusedWindow(value(env, 'REGISTRATION_UNUSED_WINDOW')),
    secretLifetime: parseSecretLifetime(value(env, 'REGISTRATION_SECRET_LIFETIME')),
  };
}

/**
 * A space-separated list of scopes (`REGISTRATION_SCOPES`, `CLIENT_ID_METADATA_SCOPES`): at most
 * 100, each printable ASCII without space, `"` or `\`; `fallback` when unset or blank.
 */
function scopeList(env: Env, name: string, fallback: readonly string[]): string[] {
  const text = value(env, name);
  if (text === undefined) return [...fallback];
  const scopes = text.split(/\s+/).filter((x) => x !== '');
  if (scopes.length > 100) throw new ConfigError(`${name}: at most 100 scopes`);
  for (const x of scopes) {
    if (!SCOPE_TOKEN.test(x)) {
      throw new ConfigError(`${name}: ${JSON.stringify(x.slice(0, 50))} is not a scope (printable ASCII without space, " or \\)`);
    }
  }
  return scopes;
}

/** `REGISTRATION_SECRET_LIFETIME`: `0`/`off` (default: never expires), or a duration up to ten years. */
function parseSecretLifetime(text: string | undefined): number {
  if (text === undefined || ['0', 'off'].includes(text.toLowerCase())) return 0;
  if (text.length > 40) {
    throw new ConfigError('REGISTRATION_SECRET_LIFETIME must be a duration such as 90d, 12h or 3600, or 0 (never expires)');
  }
  const seconds = parseDuration('REGISTRATION_SECRET_LIFETIME', text);
  if (seconds > MAX_UNUSED_WINDOW) {
    throw new ConfigError(`REGISTRATION_SECRET_LIFETIME must be at most 3650d, got "${text}" (use 0 for never)`);
  }
  return seconds;
}

/** `REGISTRATION_UNUSED_WINDOW`: a duration up to ten years (default 7 days), or `0`/`off`. */
function parseUnusedWindow(text: string | undefined): number {
  if (text === undefined) return 7 * 86_400;
  if (['0', 'off'].includes(text.trim().toLowerCase())) return 0;
  if (text.length > 40) throw new ConfigError('REGISTRATION_UNUSED_WINDOW must be a duration such as 7d, 12h or 3600, or 0 (never purge)');
  const seconds = parseDuration('REGISTRATION_UNUSED_WINDOW', text);
  if (seconds > MAX_UNUSED_WINDOW) {
    throw new ConfigError(`REGISTRATION_UNUSED_WINDOW must be at most 3650d, got "${text}" (use 0 to never purge)`);
  }
  return seconds;
}

function parseStateStore(text: string | undefined): 'memory' | 'shared' {
  const v = text?.toLowerCase() ?? 'memory';
  if (v === 'memory' || v === 'shared') return v;
  throw new ConfigError(`STATE_STORE must be memory or shared, got "${text}"`);
}

function parseServerTimeouts(env: Env): ServerTimeouts {
  const t: ServerTimeouts = {
    headersTimeout: duration(env, 'HEADERS_TIMEOUT', 10),
    requestTimeout: duration(env, 'REQUEST_TIMEOUT', 30),
    keepAliveTimeout: duration(env, 'KEEP_ALIVE_TIMEOUT', 5),
    shutdownGrace: duration(env, 'SHUTDOWN_GRACE', 10),
  };
  // node refuses a headers timeout longer than the request timeout.
  if (t.headersTimeout > t.requestTimeout) {
    throw new ConfigError(`HEADERS_TIMEOUT (${t.headersTimeout}s) must not be longer than REQUEST_TIMEOUT (${t.requestTimeout}s)`);
  }
  return t;
}

// --- Token features (issues 14, 16): JWT access tokens, resources, PAR, DPoP ---

/**
 * A secret setting: its text only through `reveal()`. Printing, `JSON.stringify` and
 * `util.inspect` (which loggers use) show `[redacted]`, so a logged config never leaks it.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[redacted]';
  }
  toJSON(): string {
    return '[redacted]';
  }
  [inspect.custom](): string {
    return '[redacted]';
  }
}

/** Most resources `RESOURCES` may list, and its longest value (characters). */
export const MAX_RESOURCES = 50;
const MAX_RESOURCES_TEXT = 64 * 1024;
/** Core refuses a `resource` longer than this; a registered one could never be asked for. */
const MAX_RESOURCE_URI = 2048;
/** RFC 6749 section 3.3 scope-token. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/;

function resourceUri(text: string, where: string): string {
  const shown = JSON.stringify(text.slice(0, 100));
  if (text.length > MAX_RESOURCE_URI) throw new ConfigError(`${where}: a resource URI is at most ${MAX_RESOURCE_URI} characters`);
  // No spaces or control characters (CR, LF, NUL among them): they could never be sent as a `resource`.
  if (!/^[\x21-\x7e]+$/.test(text)) throw new ConfigError(`${where}: ${shown} holds a space, a control or a non-ASCII character`);
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new ConfigError(`${where}: ${shown} is not an absolute URI`);
  }
  if (text.includes('#') || u.hash) throw new ConfigError(`${where}: ${shown} must not have a fragment (RFC 8707)`);
  if (u.username || u.password) throw new ConfigError(`${where}: a resource URI must not hold credentials`);
  return text;
}

function resourceScopes(list: readonly unknown[], where: string): string[] {
  if (list.length === 0 || list.length > 100) throw new ConfigError(`${where}: scopes must list 1 to 100 scopes`);
  for (const s of list) {
    if (typeof s !== 'string' || !SCOPE_TOKEN.test(s)) {
      throw new ConfigError(`${where}: ${JSON.stringify(String(s).slice(0, 50))} is not a scope (printable ASCII without space, " or \\)`);
    }
  }
  return [...new Set(list as string[])];
}

/**
 * Parses `RESOURCES`, either
 * - `<uri>[|<scope> <scope>...][,<uri>...]`: each resource an absolute URI without a fragment
 *   (and without commas or `|`), optionally followed by `|` and the scopes it takes, or
 * - JSON (starting with `[`): `[{ "uri": "...", "scopes": ["read"], "accessTokenFormat": "jwt" }]`.
 */
export function parseResources(text: string | undefined): ResourceOptions[] {
  if (text === undefined) return [];
  if (text.length > MAX_RESOURCES_TEXT) throw new ConfigError(`RESOURCES is longer than ${MAX_RESOURCES_TEXT} characters`);
  const out: ResourceOptions[] = [];
  if (text.startsWith('[')) {
    let list: unknown;
    try {
      list = JSON.parse(text);
    } catch {
      throw new ConfigError('RESOURCES: not valid JSON (expected [{ "uri": "...", "scopes": [...], "accessTokenFormat": "jwt" }])');
    }
    if (!Array.isArray(list)) throw new ConfigError('RESOURCES: the JSON form must be an array');
    if (list.length > MAX_RESOURCES) throw new ConfigError(`RESOURCES: at most ${MAX_RESOURCES} resources`);
    list.forEach((item: unknown, i) => {
      const where = `RESOURCES[${i}]`;
      if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new ConfigError(`${where} must be an object`);
      const v = item as Record<string, unknown>;
      for (const k of Object.keys(v)) {
        if (!['uri', 'scopes', 'accessTokenFormat'].includes(k)) {
          throw new ConfigError(`${where}: unknown field ${JSON.stringify(k.slice(0, 50))} (uri, scopes, accessTokenFormat)`);
        }
      }
      if (typeof v.uri !== 'string') throw new ConfigError(`${where}.uri must be a string`);
      const r: { -readonly [K in keyof ResourceOptions]: ResourceOptions[K] } = { uri: resourceUri(v.uri, where) };
      if (v.scopes !== undefined) {
        if (!Array.isArray(v.scopes)) throw new ConfigError(`${where}.scopes must be an array of scopes`);
        r.scopes = resourceScopes(v.scopes, where);
      }
      if (v.accessTokenFormat !== undefined) {
        if (v.accessTokenFormat !== 'opaque' && v.accessTokenFormat !== 'jwt') {
          throw new ConfigError(`${where}.accessTokenFormat must be "opaque" or "jwt"`);
        }
        r.accessTokenFormat = v.accessTokenFormat;
      }
      out.push(r);
    });
  } else {
    const entries = text
      .split(',')
      .map((e) => e.trim())
      .filter((e) => e !== '');
    if (entries.length > MAX_RESOURCES) throw new ConfigError(`RESOURCES: at most ${MAX_RESOURCES} resources`);
    for (const entry of entries) {
      const bar = entry.indexOf('|');
      const uri = resourceUri((bar < 0 ? entry : entry.slice(0, bar)).trim(), 'RESOURCES');
      if (bar < 0) {
        out.push({ uri });
        continue;
      }
      const scopes = entry
        .slice(bar + 1)
        .split(' ')
        .filter((s) => s !== '');
      out.push({ uri, scopes: resourceScopes(scopes, 'RESOURCES') });
    }
  }
  if (out.length === 0) throw new ConfigError('RESOURCES must list at least one resource URI (or be left unset)');
  const seen = new Set<string>();
  for (const r of out) {
    if (seen.has(r.uri)) throw new ConfigError(`RESOURCES lists ${JSON.stringify(r.uri.slice(0, 100))} twice`);
    seen.add(r.uri);
  }
  return out;
}

/**
 * A secret setting checked without its value ever reaching a message: printable ASCII only (no
 * CR, LF, NUL or other control characters), `min` to `max` characters.
 */
function secretSetting(env: Env, name: string, min: number, max: number): Secret | null {
  const raw = env[name];
  if (raw === undefined || raw === '') return null;
  if (raw.length > max) throw new ConfigError(`${name} is too long (at most ${max} characters)`);
  if (!/^[\x21-\x7e]+$/.test(raw)) throw new ConfigError(`${name} holds a space, a control or a non-ASCII character`);
  if (raw.length < min) throw new ConfigError(`${name} is too short (at least ${min} characters)`);
  return new Secret(raw);
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const v = value(env, name);
  if (v === undefined) return fallback;
  const lower = v.toLowerCase() as T;
  if (allowed.includes(lower)) return lower;
  throw new ConfigError(`${name} must be ${allowed.join(', ')}, got ${JSON.stringify(v.slice(0, 50))}`);
}

/**
 * `ACCESS_TOKEN_FORMAT`, `KEY_ENCRYPTION_KEY`, `KEY_CACHE_TTL`, `KEY_ROTATION_LEAD_TIME`, `RESOURCES`,
 * `PAR`, `DPOP` and `DPOP_NONCE_SECRET` (see README).
 */
export function parseTokenFeatures(
  env: Env,
): Pick<AppConfig, 'accessTokenFormat' | 'keyEncryptionKey' | 'keyRotation' | 'resources' | 'par' | 'dpop'> {
  const accessTokenFormat = oneOf(env, 'ACCESS_TOKEN_FORMAT', ['opaque', 'jwt'] as const, 'opaque');
  // 32 bytes: 43 base64url characters or 64 hex digits (what core reads).
  const keyEncryptionKey = secretSetting(env, 'KEY_ENCRYPTION_KEY', 43, 64);
  if (keyEncryptionKey && !/^(?:[A-Za-z0-9_-]{43}|[0-9a-fA-F]{64})$/.test(keyEncryptionKey.reveal())) {
    throw new ConfigError('KEY_ENCRYPTION_KEY must be 32 random bytes as base64url (43 characters) or hex (64 digits)');
  }
  const resources = parseResources(value(env, 'RESOURCES'));
  if (!keyEncryptionKey && (accessTokenFormat === 'jwt' || resources.some((r) => r.accessTokenFormat === 'jwt'))) {
    throw new ConfigError(
      'KEY_ENCRYPTION_KEY is required for JWT access tokens (32 random bytes as base64url, e.g. `openssl rand -base64 32 | tr "+/" "-_" | tr -d =`)',
    );
  }
  const keyCacheTtl = duration(env, 'KEY_CACHE_TTL', 30);
  const leadTime = duration(env, 'KEY_ROTATION_LEAD_TIME', 120);
  if (leadTime <= keyCacheTtl) {
    throw new ConfigError(
      `KEY_ROTATION_LEAD_TIME (${leadTime}s) must be longer than KEY_CACHE_TTL (${keyCacheTtl}s), so every process publishes a new key before any signs with it`,
    );
  }
  const par = oneOf(env, 'PAR', ['off', 'on', 'required'] as const, 'on');
  const enabled = flag(env, 'DPOP', true);
  const nonceSecret = secretSetting(env, 'DPOP_NONCE_SECRET', 32, 1024);
  if (nonceSecret && !enabled) throw new ConfigError('DPOP_NONCE_SECRET needs DPOP=on');
  return { accessTokenFormat, keyEncryptionKey, keyRotation: { keyCacheTtl, leadTime }, resources, par, dpop: { enabled, nonceSecret } };
}
