/** Configuration parsing (environment and flags) and seed file validation. */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  DEFAULT_SQLITE_FILE,
  parseConfig,
  parseDatabaseUrl,
  parseDuration,
  parseGrantCache,
  parseGrants,
  redactUrl,
} from '../src/config.js';
import { clientFromSeed, parseSeed, SeedError } from '../src/seed.js';

const CWD = '/srv/app';

describe('parseConfig', () => {
  it('defaults to SQLite under examples/provider/.data, the memory grant cache and 127.0.0.1:3000', () => {
    const c = parseConfig({}, [], CWD);
    expect(DEFAULT_SQLITE_FILE).toBe(fileURLToPath(new URL('../.data/portcullis.sqlite', import.meta.url)));
    expect(c).toEqual({
      host: '127.0.0.1',
      port: 3000,
      issuer: null,
      database: { kind: 'sqlite', storage: DEFAULT_SQLITE_FILE },
      grantCache: { type: 'memory', threshold: 1000 },
      lifetimes: { authorizationCode: 100, accessToken: 3600, refreshToken: 14 * 86400 },
      grants: ['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code'],
      refreshTokenRotation: true,
      seedFile: null,
      rateLimit: { maxFailures: 10, maxFailuresPerIp: 100, maxSignInFailuresPerUser: 20, windowSeconds: 300, maxEntries: 10_000 },
      rememberConsent: false,
      trustProxy: 0,
      demo: true,
      sessionTtl: 3600,
      sessionMaxEntries: 10_000,
      stateStore: 'memory',
      server: { headersTimeout: 10, requestTimeout: 30, keepAliveTimeout: 5, shutdownGrace: 10 },
      purge: { intervalSeconds: 3600, batchSize: 1000 },
    });
  });

  it('reads every variable', () => {
    const c = parseConfig(
      {
        HOST: '0.0.0.0',
        PORT: '8080',
        ISSUER: 'https://auth.example.com/',
        DATABASE_URL: 'postgres://app:pw@db:5432/oauth',
        GRANT_CACHE: 'redis://cache:6379/1',
        CODE_LIFETIME: '60',
        ACCESS_TOKEN_LIFETIME: '15m',
        REFRESH_TOKEN_LIFETIME: '30d',
        GRANTS: 'authorization_code, refresh_token password',
        REFRESH_TOKEN_ROTATION: 'false',
        SEED_FILE: 'seed.json',
        RATE_LIMIT_MAX_FAILURES: '5',
        RATE_LIMIT_WINDOW: '1h',
        RATE_LIMIT_MAX_ENTRIES: '500',
        RATE_LIMIT_MAX_FAILURES_PER_IP: '50',
        LOGIN_MAX_FAILURES_PER_USER: '7',
        REMEMBER_CONSENT: '1',
        TRUST_PROXY: 'yes',
        DEMO: '0',
        SESSION_TTL: '2h',
        SESSION_MAX_ENTRIES: '25',
        HEADERS_TIMEOUT: '5s',
        REQUEST_TIMEOUT: '1m',
        KEEP_ALIVE_TIMEOUT: '2',
        SHUTDOWN_GRACE: '20s',
        STATE_STORE: 'shared',
        PURGE_INTERVAL: '10m',
        PURGE_BATCH_SIZE: '500',
      },
      [],
      CWD,
    );
    expect(c).toMatchObject({
      host: '0.0.0.0',
      port: 8080,
      issuer: 'https://auth.example.com',
      database: { kind: 'postgres', url: 'postgres://app:pw@db:5432/oauth' },
      grantCache: { type: 'redis', url: 'redis://cache:6379/1' },
      lifetimes: { authorizationCode: 60, accessToken: 900, refreshToken: 30 * 86400 },
      grants: ['authorization_code', 'refresh_token', 'password'],
      refreshTokenRotation: false,
      seedFile: '/srv/app/seed.json',
      rateLimit: { maxFailures: 5, maxFailuresPerIp: 50, maxSignInFailuresPerUser: 7, windowSeconds: 3600, maxEntries: 500 },
      rememberConsent: true,
      trustProxy: 1,
      demo: false,
      sessionTtl: 7200,
      sessionMaxEntries: 25,
      stateStore: 'shared',
      server: { headersTimeout: 5, requestTimeout: 60, keepAliveTimeout: 2, shutdownGrace: 20 },
      purge: { intervalSeconds: 600, batchSize: 500 },
    });
    expect(parseConfig({ PURGE_INTERVAL: 'off' }, [], CWD).purge.intervalSeconds).toBe(0);
    expect(() => parseConfig({ PURGE_BATCH_SIZE: '0' }, [], CWD)).toThrow(/PURGE_BATCH_SIZE/);
    expect(() => parseConfig({ STATE_STORE: 'disk' }, [], CWD)).toThrow(/STATE_STORE must be memory or shared/);
    expect(() => parseConfig({ HEADERS_TIMEOUT: '40s' }, [], CWD)).toThrow(
      /HEADERS_TIMEOUT \(40s\) must not be longer than REQUEST_TIMEOUT/,
    );
  });

  it('reads TRUST_PROXY as a flag or a number of proxies', () => {
    const hops = (v: string) => parseConfig({ TRUST_PROXY: v }, [], CWD).trustProxy;
    expect(hops('0')).toBe(0);
    expect(hops('off')).toBe(0);
    expect(hops('1')).toBe(1);
    expect(hops('true')).toBe(1);
    expect(hops('2')).toBe(2);
    expect(hops('10')).toBe(10);
    for (const bad of ['11', '-1', '1.5', 'all', '127.0.0.1']) expect(() => hops(bad)).toThrow(/TRUST_PROXY/);
  });

  it('takes the seed file from --seed before SEED_FILE', () => {
    expect(parseConfig({ SEED_FILE: 'a.json' }, ['--seed', 'b.json'], CWD).seedFile).toBe('/srv/app/b.json');
    expect(parseConfig({}, ['--seed=/etc/seed.json'], CWD).seedFile).toBe('/etc/seed.json');
    expect(() => parseConfig({}, ['--seed'], CWD)).toThrow(ConfigError);
  });

  it('treats empty variables as unset', () => {
    expect(parseConfig({ PORT: '', DATABASE_URL: ' ' }, [], CWD).port).toBe(3000);
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ ISSUER: 'not a url' }, 'ISSUER'],
    [{ ISSUER: 'https://auth.example/oauth' }, 'ISSUER'],
    [{ ISSUER: 'https://auth.example/?x=1' }, 'ISSUER'],
    [{ ISSUER: 'ftp://auth.example' }, 'ISSUER'],
    [{ ACCESS_TOKEN_LIFETIME: 'soon' }, 'ACCESS_TOKEN_LIFETIME'],
    [{ REFRESH_TOKEN_LIFETIME: '0' }, 'REFRESH_TOKEN_LIFETIME'],
    [{ GRANTS: 'authorization_code,magic' }, 'GRANTS'],
    [{ REMEMBER_CONSENT: 'maybe' }, 'REMEMBER_CONSENT'],
    [{ RATE_LIMIT_MAX_FAILURES: '-1' }, 'RATE_LIMIT_MAX_FAILURES'],
    [{ RATE_LIMIT_MAX_FAILURES_PER_IP: 'many' }, 'RATE_LIMIT_MAX_FAILURES_PER_IP'],
    [{ LOGIN_MAX_FAILURES_PER_USER: '-3' }, 'LOGIN_MAX_FAILURES_PER_USER'],
    [{ SESSION_MAX_ENTRIES: '0' }, 'SESSION_MAX_ENTRIES'],
    [{ DATABASE_URL: 'oracle://x' }, 'DATABASE_URL'],
    [{ GRANT_CACHE: 'etcd://x' }, 'GRANT_CACHE'],
  ])('refuses %j with a message naming the variable', (env, name) => {
    expect(() => parseConfig(env, [], CWD)).toThrow(ConfigError);
    expect(() => parseConfig(env, [], CWD)).toThrow(name);
  });
});

describe('DATABASE_URL', () => {
  it.each([
    ['sqlite:.data/x.sqlite', { kind: 'sqlite', storage: '/srv/app/.data/x.sqlite' }],
    ['sqlite:///var/lib/x.sqlite', { kind: 'sqlite', storage: '/var/lib/x.sqlite' }],
    ['sqlite:/tmp/x.sqlite', { kind: 'sqlite', storage: '/tmp/x.sqlite' }],
    ['sqlite::memory:', { kind: 'sqlite', storage: ':memory:' }],
    ['postgres://u:p@h/db', { kind: 'postgres', url: 'postgres://u:p@h/db' }],
    ['postgresql://h/db', { kind: 'postgres', url: 'postgresql://h/db' }],
    ['mariadb://u:p@h:3306/db', { kind: 'mariadb', url: 'mariadb://u:p@h:3306/db' }],
    ['mysql://h/db', { kind: 'mariadb', url: 'mariadb://h/db' }],
    ['mongodb://h:27017/oauth', { kind: 'mongodb', url: 'mongodb://h:27017/oauth' }],
    ['mongodb+srv://cluster.example/oauth', { kind: 'mongodb', url: 'mongodb+srv://cluster.example/oauth' }],
  ])('%s', (url, expected) => {
    expect(parseDatabaseUrl(url, CWD)).toEqual(expected);
  });

  it('never puts the password in an error message', () => {
    expect(() => parseDatabaseUrl('oracle://user:s3cr3t-pw@h/db')).toThrow(/oracle:\/\/user:\*\*\*@h\/db/);
    expect(() => parseDatabaseUrl('oracle://user:s3cr3t-pw@h/db')).not.toThrow(/s3cr3t/);
    expect(redactUrl('postgres://app:pw@db/x')).toBe('postgres://app:***@db/x');
    expect(redactUrl('postgres://db/x')).toBe('postgres://db/x');
  });
});

describe('GRANT_CACHE, GRANTS and durations', () => {
  it('parses the grant cache', () => {
    expect(parseGrantCache(undefined)).toEqual({ type: 'memory', threshold: 1000 });
    expect(parseGrantCache('memory', 50)).toEqual({ type: 'memory', threshold: 50 });
    expect(parseGrantCache('database')).toEqual({ type: 'database' });
    expect(parseGrantCache('rediss://:pw@r:6380')).toEqual({ type: 'redis', url: 'rediss://:pw@r:6380' });
    expect(parseGrantCache('memcached://m1:11211,m2:11211')).toEqual({ type: 'memcached', servers: ['m1:11211', 'm2:11211'] });
    expect(parseGrantCache('memcached://[::1]:11211')).toEqual({ type: 'memcached', servers: ['[::1]:11211'] });
    expect(() => parseGrantCache('memcached://')).toThrow(ConfigError);
    expect(() => parseGrantCache('memcached://a b:1')).toThrow(ConfigError);
  });

  it('parses grants and durations', () => {
    expect(parseGrants('client_credentials client_credentials')).toEqual(['client_credentials']);
    expect(() => parseGrants(',')).toThrow(ConfigError);
    expect(parseDuration('X', '90s')).toBe(90);
    expect(parseDuration('X', '2m')).toBe(120);
    expect(parseDuration('X', '1H')).toBe(3600);
    expect(parseDuration('X', '14d')).toBe(1_209_600);
    expect(() => parseDuration('X', '1.5h')).toThrow(ConfigError);
    expect(() => parseDuration('X', '-5')).toThrow(ConfigError);
  });
});

describe('seed file', () => {
  it('accepts seed.example.json', async () => {
    const text = await readFile(new URL('../seed.example.json', import.meta.url), 'utf8');
    const seed = parseSeed(JSON.parse(text));
    expect(seed.clients.map((c) => c.id)).toEqual(['my-web-app', 'my-spa', 'reporting-job']);
    expect(seed.users.map((u) => u.username)).toEqual(['alice', 'bob']);
  });

  it('hashes a written secret and keeps public clients secretless', async () => {
    const seed = parseSeed({
      clients: [
        { id: 'a', secret: 's3cret-value', grantTypes: ['client_credentials'], scopes: ['read'] },
        { id: 'b', public: true, redirectUris: ['https://b.example/cb'], grantTypes: ['authorization_code'], scopes: ['read'] },
      ],
    });
    const a = await clientFromSeed(seed.clients[0]!);
    expect(a.secretHash).toMatch(/^scrypt\$/);
    expect(a.secretHash).not.toContain('s3cret-value');
    // Unnamed in the seed: left unset, so either secret method is accepted (core holds a named one).
    expect(a.tokenEndpointAuthMethod).toBeUndefined();
    const b = await clientFromSeed(seed.clients[1]!);
    expect(b.secretHash).toBeNull();
    expect(b.tokenEndpointAuthMethod).toBe('none');
    expect(a.resourceServer).toBeUndefined();
    const rs = parseSeed({ clients: [{ ...ok, resourceServer: true }] }).clients[0]!;
    expect((await clientFromSeed(rs)).resourceServer).toBe(true);
  });

  const ok = { id: 'c', secret: 'x', grantTypes: ['client_credentials'], scopes: ['read'] };
  it.each([
    [{ clients: {} }, '"clients" must be an array'],
    [{ clients: [{ ...ok, secret: undefined }] }, 'exactly one of "secret", "secretHash" or "public"'],
    [{ clients: [{ ...ok, public: true }] }, 'exactly one of'],
    [{ clients: [{ ...ok, grantTypes: ['magic'] }] }, 'unknown grant type "magic"'],
    [{ clients: [{ ...ok, grantTypes: ['authorization_code'] }] }, 'needs at least one redirect URI'],
    [{ clients: [{ ...ok, redirectUris: ['/relative'] }] }, 'not an absolute URL'],
    [{ clients: [{ ...ok, redirectUris: ['https://a.example/cb#x'] }] }, 'must not have a fragment'],
    [{ clients: [{ ...ok, scopes: ['two words'] }] }, 'not a valid scope'],
    [{ clients: [{ ...ok, defaultScopes: ['write'] }] }, 'is not in scopes'],
    [{ clients: [{ ...ok, tokenEndpointAuthMethod: 'none' }] }, '"none" is for public clients'],
    [{ clients: [{ ...ok, colour: 'red' }] }, 'unknown field "colour"'],
    [{ clients: [{ ...ok, resourceServer: 'yes' }] }, 'resourceServer must be true or false'],
    [
      {
        clients: [
          {
            id: 'p',
            public: true,
            redirectUris: ['https://p.example/cb'],
            grantTypes: ['authorization_code'],
            scopes: ['r'],
            resourceServer: true,
          },
        ],
      },
      'public clients may not introspect tokens',
    ],
    [{ clients: [ok, ok] }, 'client "c" appears twice'],
    [{ users: [{ username: 'u', subject: 's' }] }, 'exactly one of "password" or "passwordHash"'],
    [{ users: [{ username: 'u', password: 'p' }] }, 'subject must be a non-empty string'],
    [[], 'must hold a JSON object'],
  ])('refuses %j', (data, message) => {
    expect(() => parseSeed(JSON.parse(JSON.stringify(data)))).toThrow(SeedError);
    expect(() => parseSeed(JSON.parse(JSON.stringify(data)))).toThrow(message);
  });

  it('never puts a secret in its messages', () => {
    const bad = { clients: [{ id: 'c', secret: 'TOPSECRET-1', public: true, grantTypes: ['client_credentials'], scopes: ['r'] }] };
    expect(() => parseSeed(bad)).toThrow(SeedError);
    expect(() => parseSeed(bad)).not.toThrow(/TOPSECRET/);
  });
});
