/** Configuration parsing (environment and flags) and seed file validation. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  DEFAULT_CLIENT_ID_METADATA,
  DEFAULT_SQLITE_FILE,
  MAX_RESOURCES,
  parseConfig,
  parseDatabaseUrl,
  parseDuration,
  parseGrantCache,
  parseGrants,
  parseResources,
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
      databasePool: { max: 10, acquireMs: 10_000, connectTimeoutMs: 5000 },
      redisCommandTimeoutMs: 3000,
      memcachedCommandTimeoutMs: 2000,
      purge: { intervalSeconds: 3600, batchSize: 1000 },
      accessTokenFormat: 'opaque',
      keyEncryptionKey: null,
      keyRotation: { keyCacheTtl: 30, leadTime: 120 },
      resources: [],
      par: 'on',
      dpop: { enabled: true, nonceSecret: null },
      registration: { mode: 'off', token: null, scopes: ['read'], unusedWindow: 7 * 86_400, secretLifetime: 0 },
      adminOperatorToken: null,
      clientIdMetadata: {
        enabled: false,
        allowPrivateNetworks: false,
        ca: null,
        scopes: ['read'],
        timeoutMs: 3000,
        maxBytes: 5120,
        maxIdLength: 255,
      },
    });
    expect(c.clientIdMetadata).toEqual(DEFAULT_CLIENT_ID_METADATA);
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

describe('DATABASE_POOL_MAX, DATABASE_POOL_ACQUIRE_MS, DATABASE_CONNECT_TIMEOUT_MS, REDIS_COMMAND_TIMEOUT_MS', () => {
  const message = (env: Record<string, string>) => {
    try {
      parseConfig(env, [], CWD);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error('no ConfigError');
  };

  it('reads the pool size, the waits and the Redis command timeout', () => {
    const c = parseConfig(
      { DATABASE_POOL_MAX: '25', DATABASE_POOL_ACQUIRE_MS: '30000', DATABASE_CONNECT_TIMEOUT_MS: '2000', REDIS_COMMAND_TIMEOUT_MS: '500' },
      [],
      CWD,
    );
    expect(c.databasePool).toEqual({ max: 25, acquireMs: 30_000, connectTimeoutMs: 2000 });
    expect(c.redisCommandTimeoutMs).toBe(500);
    expect(c.memcachedCommandTimeoutMs).toBe(2000);
    expect(parseConfig({ MEMCACHED_COMMAND_TIMEOUT_MS: '750' }, [], CWD).memcachedCommandTimeoutMs).toBe(750);
    expect(parseConfig({ DATABASE_POOL_MAX: ' 2 ' }, [], CWD).databasePool.max).toBe(2);
  });

  it('refuses values that are not whole numbers in range, naming the setting and echoing at most 50 characters', () => {
    // The binding's migration lock needs two connections.
    expect(message({ DATABASE_POOL_MAX: '1' })).toBe('DATABASE_POOL_MAX must be between 2 and 1000, got 1');
    expect(message({ DATABASE_POOL_MAX: '100000' })).toMatch(/^DATABASE_POOL_MAX must be between 2 and 1000/);
    expect(message({ DATABASE_POOL_ACQUIRE_MS: '0' })).toMatch(/^DATABASE_POOL_ACQUIRE_MS must be between 100 and 600000/);
    expect(message({ DATABASE_CONNECT_TIMEOUT_MS: '99' })).toMatch(/^DATABASE_CONNECT_TIMEOUT_MS must be between 100/);
    expect(message({ MEMCACHED_COMMAND_TIMEOUT_MS: '99' })).toMatch(/^MEMCACHED_COMMAND_TIMEOUT_MS must be between 100 and 600000/);
    expect(message({ MEMCACHED_COMMAND_TIMEOUT_MS: '2s' })).toMatch(/^MEMCACHED_COMMAND_TIMEOUT_MS must be a whole number, got /);
    expect(message({ REDIS_COMMAND_TIMEOUT_MS: '99999999999999999999' })).toMatch(
      /^REDIS_COMMAND_TIMEOUT_MS must be between 100 and 600000/,
    );
    for (const bad of ['-5', '1.5', '5s', '1e3', '0x10', 'NaN', 'Infinity', '10,000', '१०']) {
      expect(message({ DATABASE_POOL_ACQUIRE_MS: bad })).toMatch(/^DATABASE_POOL_ACQUIRE_MS must be a whole number, got /);
    }
    // Control characters are escaped, and a long value is cut: nothing hostile reaches a log line whole.
    const hostile = message({ DATABASE_POOL_MAX: `5\r\n{"level":"info"}${'x'.repeat(10_000)}` });
    expect(hostile).toMatch(/^DATABASE_POOL_MAX must be a whole number, got "5\\r\\n/);
    expect(hostile).not.toMatch(/[\r\n]/);
    expect(hostile.length).toBeLessThan(150);
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

describe('token features: ACCESS_TOKEN_FORMAT, KEY_ENCRYPTION_KEY, RESOURCES, PAR, DPOP, DPOP_NONCE_SECRET', () => {
  const KEK = 'q3uV8lq2m8gYtXQyqJ3sXo7c4pQ0wZq8dL3kF6n1RcE'; // 43 base64url characters: 32 bytes
  const KEK_HEX = 'ab'.repeat(32);
  const NONCE = 'n0nce-secret-of-at-least-32-characters!';
  const features = (env: Record<string, string>) => parseConfig(env, [], CWD);
  /** The error's message, which must never hold `secret`. */
  const failure = (env: Record<string, string>, secret?: string): string => {
    let message = '';
    try {
      features(env);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).not.toBe('');
    if (secret !== undefined) {
      expect(message).not.toContain(secret);
      for (const piece of [secret.slice(0, 12), secret.slice(-12)]) if (piece.trim().length >= 8) expect(message).not.toContain(piece);
    }
    return message;
  };

  it('reads KEY_CACHE_TTL and KEY_ROTATION_LEAD_TIME, and refuses a lead time not longer than the TTL', () => {
    expect(features({ KEY_CACHE_TTL: '2s', KEY_ROTATION_LEAD_TIME: '1m' }).keyRotation).toEqual({ keyCacheTtl: 2, leadTime: 60 });
    expect(failure({ KEY_CACHE_TTL: '30', KEY_ROTATION_LEAD_TIME: '30' })).toMatch(
      /KEY_ROTATION_LEAD_TIME \(30s\) must be longer than KEY_CACHE_TTL/,
    );
    expect(failure({ KEY_ROTATION_LEAD_TIME: '10' })).toMatch(/must be longer than KEY_CACHE_TTL \(30s\)/);
    expect(failure({ KEY_CACHE_TTL: '0' })).toMatch(/KEY_CACHE_TTL must be a positive duration/);
    expect(failure({ KEY_ROTATION_LEAD_TIME: '-5' })).toMatch(/KEY_ROTATION_LEAD_TIME must be a duration/);
  });

  it('reads jwt with a key-encryption key (base64url or hex), and keeps the key out of printing and JSON', () => {
    const c = features({ ACCESS_TOKEN_FORMAT: 'JWT', KEY_ENCRYPTION_KEY: KEK });
    expect(c.accessTokenFormat).toBe('jwt');
    expect(c.keyEncryptionKey?.reveal()).toBe(KEK);
    expect(JSON.stringify(c)).not.toContain(KEK);
    expect(inspect(c, { depth: 10 })).not.toContain(KEK);
    expect(`${c.keyEncryptionKey}`).toBe('[redacted]');
    expect(features({ ACCESS_TOKEN_FORMAT: 'jwt', KEY_ENCRYPTION_KEY: KEK_HEX }).keyEncryptionKey?.reveal()).toBe(KEK_HEX);
    expect(features({ ACCESS_TOKEN_FORMAT: 'opaque' }).accessTokenFormat).toBe('opaque');
  });

  it('refuses a bad ACCESS_TOKEN_FORMAT, and jwt without a usable key, never echoing the key', () => {
    expect(failure({ ACCESS_TOKEN_FORMAT: 'paseto' })).toMatch(/ACCESS_TOKEN_FORMAT must be opaque, jwt/);
    expect(failure({ ACCESS_TOKEN_FORMAT: 'jwt' })).toMatch(/KEY_ENCRYPTION_KEY is required/);
    expect(failure({ RESOURCES: '[{"uri":"https://api.example/","accessTokenFormat":"jwt"}]' })).toMatch(/KEY_ENCRYPTION_KEY is required/);
    const bad = [
      `${KEK.slice(0, 42)}!`, // not base64url
      KEK.slice(0, 40), // too short
      `${KEK}AAAA`, // 47 characters: neither form
      `${KEK.slice(0, 20)}\r\n${KEK.slice(20)}`, // CR LF
      `${KEK.slice(0, 20)}\u0000${KEK.slice(21)}`, // NUL
      `${KEK} `, // trailing space
      KEK.repeat(1000), // oversize
      'zz'.repeat(32), // 64 characters, not hex, not base64url of 32 bytes
    ];
    for (const key of bad) expect(failure({ ACCESS_TOKEN_FORMAT: 'jwt', KEY_ENCRYPTION_KEY: key }, key)).toMatch(/KEY_ENCRYPTION_KEY/);
  });

  it('reads RESOURCES as uri[|scopes] lists and as JSON', () => {
    expect(features({}).resources).toEqual([]);
    expect(parseResources('https://api.example/, https://cal.example/|calendar read ,urn:example:reports')).toEqual([
      { uri: 'https://api.example/' },
      { uri: 'https://cal.example/', scopes: ['calendar', 'read'] },
      { uri: 'urn:example:reports' },
    ]);
    const json = '[{"uri":"https://api.example/"},{"uri":"https://cal.example/","scopes":["calendar"],"accessTokenFormat":"jwt"}]';
    expect(features({ RESOURCES: json, KEY_ENCRYPTION_KEY: KEK }).resources).toEqual([
      { uri: 'https://api.example/' },
      { uri: 'https://cal.example/', scopes: ['calendar'], accessTokenFormat: 'jwt' },
    ]);
    const many = Array.from({ length: MAX_RESOURCES }, (_, i) => `https://api${i}.example/`).join(',');
    expect(parseResources(many)).toHaveLength(MAX_RESOURCES);
  });

  it.each([
    ['not-a-uri', /not an absolute URI/],
    ['https://api.example/#frag', /fragment/],
    ['https://api.example/ x', /space, a control/],
    ['https://api.example/\r\nX-Injected: 1', /space, a control/],
    ['https://api.example/\u0000', /space, a control/],
    ['https://api.éxample/', /non-ASCII/],
    ['https://user:pw@api.example/', /credentials/],
    [`https://api.example/${'a'.repeat(2100)}`, /at most 2048/],
    ['https://api.example/,https://api.example/', /twice/],
    [' , ', /at least one/],
    ['https://api.example/|', /1 to 100 scopes/],
    ['https://api.example/|read "evil"', /not a scope/],
    [Array.from({ length: MAX_RESOURCES + 1 }, (_, i) => `https://a${i}.example/`).join(','), /at most 50/],
    ['x'.repeat(70_000), /longer than/],
    ['[{"uri":"https://api.example/"', /not valid JSON/],
    ['[{"uri":"https://api.example/","accessTokenFormat":"paseto"}]', /accessTokenFormat/],
    ['[{"uri":"https://api.example/","scopes":"read"}]', /scopes must be an array/],
    ['[{"uri":"https://api.example/","audience":"x"}]', /unknown field/],
    ['[{"uri":42}]', /uri must be a string/],
    ['[42]', /must be an object/],
    ['[]', /at least one/],
  ])('refuses a bad RESOURCES (case %#)', (text, message) => {
    expect(failure({ RESOURCES: text, KEY_ENCRYPTION_KEY: KEK })).toMatch(message);
  });

  it('reads PAR as off, on (default) or required', () => {
    expect(features({}).par).toBe('on');
    expect(features({ PAR: 'off' }).par).toBe('off');
    expect(features({ PAR: 'Required' }).par).toBe('required');
    for (const bad of ['yes', '2', 'require', 'o\r\nn', 'on\u0000']) expect(failure({ PAR: bad })).toMatch(/PAR must be off, on, required/);
  });

  it('reads DPOP (default on) and DPOP_NONCE_SECRET, never echoing the secret', () => {
    expect(features({ DPOP: 'off' }).dpop).toEqual({ enabled: false, nonceSecret: null });
    const c = features({ DPOP: 'on', DPOP_NONCE_SECRET: NONCE });
    expect(c.dpop.enabled).toBe(true);
    expect(c.dpop.nonceSecret?.reveal()).toBe(NONCE);
    expect(JSON.stringify(c)).not.toContain(NONCE);
    expect(inspect(c, { depth: 10 })).not.toContain(NONCE);
    expect(failure({ DPOP: 'sometimes' })).toMatch(/DPOP must be 1 or 0/);
    expect(failure({ DPOP: 'off', DPOP_NONCE_SECRET: NONCE }, NONCE)).toMatch(/DPOP_NONCE_SECRET needs DPOP=on/);
    for (const secret of [
      'short-secret-1234567890', // fewer than 32 characters
      `${NONCE}\r\nX: 1`,
      `${NONCE}\u0000`,
      `${NONCE} with spaces`,
      `${NONCE}é`,
      NONCE.repeat(100), // oversize
    ]) {
      expect(failure({ DPOP_NONCE_SECRET: secret }, secret)).toMatch(/DPOP_NONCE_SECRET is too|DPOP_NONCE_SECRET holds/);
    }
  });
});

describe('ADMIN_OPERATOR_TOKEN and REGISTRATION_SECRET_LIFETIME', () => {
  const ADMIN = 'Adm1n-operator_token.of~at+least/32chars';
  const parse = (env: Record<string, string>) => parseConfig(env, [], CWD);
  /** The ConfigError's message, which must never hold `secret`. */
  const failure = (env: Record<string, string>, secret?: string): string => {
    let message = '';
    try {
      parse(env);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).not.toBe('');
    if (secret !== undefined) expect(message).not.toContain(secret);
    return message;
  };

  it('reads ADMIN_OPERATOR_TOKEN (off when unset or empty) and keeps it out of printing and JSON', () => {
    expect(parse({}).adminOperatorToken).toBeNull();
    expect(parse({ ADMIN_OPERATOR_TOKEN: '' }).adminOperatorToken).toBeNull();
    const c = parse({ ADMIN_OPERATOR_TOKEN: ADMIN });
    expect(c.adminOperatorToken?.reveal()).toBe(ADMIN);
    expect(JSON.stringify(c)).not.toContain(ADMIN);
    expect(inspect(c, { depth: 10 })).not.toContain(ADMIN);
  });

  it('refuses a short, oversize or hostile ADMIN_OPERATOR_TOKEN without echoing it', () => {
    for (const [secret, message] of [
      ['a'.repeat(31), /ADMIN_OPERATOR_TOKEN is too short \(at least 32/],
      [ADMIN.repeat(20), /ADMIN_OPERATOR_TOKEN is too long/],
      [`${ADMIN}\r\nX-Injected: 1`, /ADMIN_OPERATOR_TOKEN holds/],
      [`${ADMIN}\u0000`, /ADMIN_OPERATOR_TOKEN holds/],
      [`${ADMIN} spaced`, /ADMIN_OPERATOR_TOKEN holds/],
      [`${ADMIN}é`, /ADMIN_OPERATOR_TOKEN holds/],
      [`${ADMIN}"quote`, /ADMIN_OPERATOR_TOKEN may hold only/],
      [`${ADMIN}=`, /ADMIN_OPERATOR_TOKEN may hold only/],
      [`{"$ne":null}${ADMIN}`, /ADMIN_OPERATOR_TOKEN may hold only/],
    ] as const) {
      expect(failure({ ADMIN_OPERATOR_TOKEN: secret }, secret)).toMatch(message);
    }
  });

  it('reads REGISTRATION_SECRET_LIFETIME: 0 or off (never expires, the default) or a duration up to 3650d', () => {
    expect(parse({}).registration.secretLifetime).toBe(0);
    expect(parse({ REGISTRATION_SECRET_LIFETIME: '0' }).registration.secretLifetime).toBe(0);
    expect(parse({ REGISTRATION_SECRET_LIFETIME: 'OFF' }).registration.secretLifetime).toBe(0);
    expect(parse({ REGISTRATION_SECRET_LIFETIME: '3' }).registration.secretLifetime).toBe(3);
    expect(parse({ REGISTRATION_SECRET_LIFETIME: '90d' }).registration.secretLifetime).toBe(90 * 86_400);
    expect(parse({ REGISTRATION_SECRET_LIFETIME: '3650d' }).registration.secretLifetime).toBe(3650 * 86_400);
  });

  it('refuses a REGISTRATION_TOKEN that could not be sent as a Bearer token, without echoing it', () => {
    for (const token of [`${'a'.repeat(32)}!`, `${'a'.repeat(32)}"x`, `=${'a'.repeat(32)}`, `${'a'.repeat(16)}:${'b'.repeat(16)}`]) {
      expect(failure({ REGISTRATION: 'token', REGISTRATION_TOKEN: token }, token)).toMatch(/^REGISTRATION_TOKEN must be a bearer token/);
    }
    expect(parse({ REGISTRATION: 'token', REGISTRATION_TOKEN: `${'a'.repeat(40)}+/=` }).registration.mode).toBe('token');
  });

  it('refuses a hostile REGISTRATION_SECRET_LIFETIME, naming the variable', () => {
    for (const text of ['-5', '1.5h', '1w', 'never', '3651d', '9'.repeat(400), '10\r\nX: 1', '0x10', '1h; rm -rf /', '{"$ne":null}']) {
      expect(failure({ REGISTRATION_SECRET_LIFETIME: text })).toMatch(/^REGISTRATION_SECRET_LIFETIME must be/);
    }
  });
});

describe('CLIENT_ID_METADATA, _ALLOW_PRIVATE, _CA, _SCOPES, _TIMEOUT_MS, _MAX_BYTES, _MAX_ID_LENGTH', () => {
  /** A marker in every CA file's junk: no message may hold it. */
  const MARKER = 'DO-NOT-ECHO-7f3a';
  let dir: string;
  let certA: string;
  let certB: string;
  const on = { CLIENT_ID_METADATA: 'on' };
  const parse = (env: Record<string, string>) => parseConfig(env, [], dir).clientIdMetadata;
  const failure = (env: Record<string, string>): string => {
    try {
      parseConfig(env, [], dir);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const message = (err as Error).message;
      expect(message).not.toContain(MARKER);
      expect(message).not.toMatch(/[\r\n]/);
      return message;
    }
    throw new Error(`no ConfigError for ${JSON.stringify(env).slice(0, 100)}`);
  };
  const file = (name: string, text: string | Buffer) => {
    writeFileSync(join(dir, name), text);
    return name;
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-cimd-config-'));
    const cert = (name: string) => {
      const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', `/CN=${name}`];
      execFileSync('openssl', [...args, '-keyout', `${name}.key`, '-out', `${name}.pem`], { cwd: dir, stdio: 'pipe' });
      return readFileSync(join(dir, `${name}.pem`), 'utf8').trim();
    };
    certA = cert('ca-a');
    certB = cert('ca-b');
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is off by default; reads every setting, the CA file relative to the working directory', () => {
    expect(parse({})).toEqual(DEFAULT_CLIENT_ID_METADATA);
    expect(parse({ CLIENT_ID_METADATA: 'off' }).enabled).toBe(false);
    file('two.pem', `# test CAs ${MARKER}\n${certA}\n\n${certB}\n`);
    const c = parse({
      CLIENT_ID_METADATA: 'on',
      CLIENT_ID_METADATA_ALLOW_PRIVATE: 'ON',
      CLIENT_ID_METADATA_CA: 'two.pem',
      CLIENT_ID_METADATA_SCOPES: ' read  profile\tadmin:write ',
      CLIENT_ID_METADATA_TIMEOUT_MS: '100',
      CLIENT_ID_METADATA_MAX_BYTES: '1048576',
      CLIENT_ID_METADATA_MAX_ID_LENGTH: '2000',
    });
    expect(c).toEqual({
      enabled: true,
      allowPrivateNetworks: true,
      ca: [certA, certB],
      scopes: ['read', 'profile', 'admin:write'],
      timeoutMs: 100,
      maxBytes: 1_048_576,
      maxIdLength: 2000,
    });
    expect(parse({ ...on, CLIENT_ID_METADATA_CA: join(dir, 'two.pem') }).ca).toEqual([certA, certB]);
    expect(parse({ ...on, CLIENT_ID_METADATA_ALLOW_PRIVATE: 'off' }).allowPrivateNetworks).toBe(false);
    expect(parse({ ...on, CLIENT_ID_METADATA_MAX_ID_LENGTH: '1', CLIENT_ID_METADATA_TIMEOUT_MS: '60000' })).toMatchObject({
      maxIdLength: 1,
      timeoutMs: 60_000,
    });
    expect(parse({ ...on, CLIENT_ID_METADATA_MAX_BYTES: ' 256 ' }).maxBytes).toBe(256);
  });

  it('CLIENT_ID_METADATA_SCOPES defaults to REGISTRATION_SCOPES (itself read), whatever REGISTRATION is', () => {
    expect(parse(on).scopes).toEqual(['read']);
    expect(parse({ ...on, REGISTRATION_SCOPES: 'read write' }).scopes).toEqual(['read', 'write']);
    expect(parse({ ...on, REGISTRATION: 'open', REGISTRATION_SCOPES: 'write' }).scopes).toEqual(['write']);
    expect(parse({ ...on, REGISTRATION_SCOPES: 'read write', CLIENT_ID_METADATA_SCOPES: 'profile' }).scopes).toEqual(['profile']);
    // Blank is unset.
    expect(parse({ ...on, REGISTRATION_SCOPES: 'write', CLIENT_ID_METADATA_SCOPES: ' \t ' }).scopes).toEqual(['write']);
    // The registration's own list is left alone.
    const c = parseConfig({ ...on, REGISTRATION_SCOPES: 'read write', CLIENT_ID_METADATA_SCOPES: 'read' }, [], dir);
    expect(c.registration.scopes).toEqual(['read', 'write']);
    expect(c.clientIdMetadata.scopes).toEqual(['read']);
    // 100 scopes are allowed.
    const hundred = Array.from({ length: 100 }, (_, i) => `s${i}`);
    expect(parse({ ...on, CLIENT_ID_METADATA_SCOPES: hundred.join(' ') }).scopes).toEqual(hundred);
  });

  it('refuses hostile CLIENT_ID_METADATA_SCOPES (and REGISTRATION_SCOPES) naming the variable, quoted and cut', () => {
    for (const name of ['CLIENT_ID_METADATA_SCOPES', 'REGISTRATION_SCOPES']) {
      for (const bad of [
        'read "x"',
        'read a\\b',
        'lecture écriture',
        'read \u0000',
        'read\r\n{"level":"info","msg":"forged"}',
        `read ${'x'.repeat(129)}`,
        '\u202eread',
        'read ok\u0007',
      ]) {
        const message = failure({ ...on, [name]: bad });
        expect(message).toMatch(new RegExp(`^${name}: ".*" is not a scope \\(printable ASCII without space, " or \\\\\\)$`));
        expect(message.length).toBeLessThan(150);
      }
      const many = Array.from({ length: 101 }, (_, i) => `s${i}`).join(' ');
      expect(failure({ ...on, [name]: many })).toBe(`${name}: at most 100 scopes`);
      expect(failure({ ...on, [name]: 'a '.repeat(50_000) }).length).toBeLessThan(150);
    }
  });

  it('refuses flags that are not on or off, naming the variable', () => {
    for (const name of ['CLIENT_ID_METADATA', 'CLIENT_ID_METADATA_ALLOW_PRIVATE']) {
      for (const bad of ['onn', 'of', 'o', 'enabled', 'on please', '2', '-1', 'nope', 'on\r\nX: 1']) {
        expect(failure({ ...on, [name]: bad })).toMatch(new RegExp(`^${name} must be 1 or 0`));
      }
    }
  });

  it('refuses numbers that are not whole numbers in range, naming the variable', () => {
    const ranges: [string, number, number][] = [
      ['CLIENT_ID_METADATA_TIMEOUT_MS', 100, 60_000],
      ['CLIENT_ID_METADATA_MAX_BYTES', 256, 1_048_576],
      ['CLIENT_ID_METADATA_MAX_ID_LENGTH', 1, 2000],
    ];
    for (const [name, min, max] of ranges) {
      for (const bad of ['abc', '-1', '-0', '1.5', '1e3', '0x10', '5s', 'Infinity', '10,000', '१०', `9${'9'.repeat(400)}`]) {
        expect(failure({ ...on, [name]: bad })).toMatch(new RegExp(`^${name} must be (a whole number|between)`));
      }
      for (const bad of ['0', String(min - 1), String(max + 1), '99999999999999999999']) {
        expect(failure({ ...on, [name]: bad })).toMatch(new RegExp(`^${name} must be between ${min} and ${max}`));
      }
      expect(failure({ ...on, [name]: `5\r\n{"level":"info"}${'x'.repeat(10_000)}` }).length).toBeLessThan(150);
    }
  });

  it('refuses its settings while CLIENT_ID_METADATA is off', () => {
    file('one.pem', certA);
    expect(failure({ CLIENT_ID_METADATA_ALLOW_PRIVATE: 'on' })).toBe('CLIENT_ID_METADATA_ALLOW_PRIVATE needs CLIENT_ID_METADATA=on');
    expect(failure({ CLIENT_ID_METADATA: 'off', CLIENT_ID_METADATA_CA: 'one.pem', CLIENT_ID_METADATA_MAX_ID_LENGTH: '255' })).toBe(
      'CLIENT_ID_METADATA_CA, CLIENT_ID_METADATA_MAX_ID_LENGTH need CLIENT_ID_METADATA=on',
    );
    expect(failure({ CLIENT_ID_METADATA_TIMEOUT_MS: '1000' })).toMatch(/^CLIENT_ID_METADATA_TIMEOUT_MS needs CLIENT_ID_METADATA=on/);
    expect(failure({ CLIENT_ID_METADATA_MAX_BYTES: '1000' })).toMatch(/^CLIENT_ID_METADATA_MAX_BYTES needs CLIENT_ID_METADATA=on/);
    expect(failure({ CLIENT_ID_METADATA_SCOPES: 'read' })).toBe('CLIENT_ID_METADATA_SCOPES needs CLIENT_ID_METADATA=on');
    // Off stays off: an explicit off needs nothing.
    expect(parse({ CLIENT_ID_METADATA_ALLOW_PRIVATE: 'off' })).toEqual(DEFAULT_CLIENT_ID_METADATA);
  });

  it('refuses a CA file that is missing, not a file, too large, or holds no valid certificate, never echoing its contents', () => {
    const ca = (path: string) => failure({ ...on, CLIENT_ID_METADATA_CA: path });
    expect(ca('missing.pem')).toBe(`CLIENT_ID_METADATA_CA: ${JSON.stringify(join(dir, 'missing.pem'))} cannot be read (ENOENT)`);
    mkdirSync(join(dir, 'a-dir'), { recursive: true });
    expect(ca('a-dir')).toMatch(/^CLIENT_ID_METADATA_CA: ".*a-dir" is not a file$/);
    expect(ca(file('big.pem', `${certA}\n${MARKER.repeat(80_000)}`))).toMatch(/is larger than 1048576 bytes$/);
    expect(ca(file('empty.pem', ''))).toMatch(/holds no PEM certificate/);
    expect(ca(file('text.pem', `password=${MARKER}\n`))).toMatch(/holds no PEM certificate/);
    expect(ca(file('binary.pem', Buffer.from([0, 1, 2, 0xff, 0xfe, 0x0a, 0x0d])))).toMatch(/holds no PEM certificate/);
    // A key beside the certificate: refused (the operator meant another file), the key never shown.
    const key = readFileSync(join(dir, 'ca-a.key'), 'utf8');
    const keyBody = key.split('\n')[1]!;
    const withKey = ca(file('with-key.pem', `${certA}\n${key}`));
    expect(withKey).toMatch(/holds a private key: give the CA certificates only$/);
    expect(withKey).not.toContain(keyBody);
    expect(ca('ca-a.key')).toMatch(/holds a private key/);
    // A block whose base64 is not a certificate.
    const corrupt = certA.replace(/(-----BEGIN CERTIFICATE-----\n)[A-Za-z0-9+/]{8}/, '$1AAAAAAAA');
    expect(corrupt).not.toBe(certA);
    expect(ca(file('corrupt.pem', `${certB}\n${corrupt}`))).toMatch(/: certificate 2 is not a valid X\.509 certificate$/);
    expect(ca(file('many.pem', `${certA}\n`.repeat(101)))).toMatch(/holds more than 100 certificates$/);
    // A CRLF file is read.
    expect(parse({ ...on, CLIENT_ID_METADATA_CA: file('crlf.pem', `${certA.replace(/\n/g, '\r\n')}\r\n`) }).ca).toHaveLength(1);
  });
});
