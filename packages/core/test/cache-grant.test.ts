import { type ChildProcess, spawn } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bindCacheGrant,
  type CacheGrantConfig,
  createCacheGrant,
  type ModuleImporter,
  resolveCacheConfig,
  unknownCacheKeys,
} from '../src/cache-grant.js';
import type { GrantRecord, GrantStore, Stores, User } from '../src/contract.js';
import { digestToken } from '../src/crypto.js';
import type { Logger } from '../src/options.js';
import type { CurrentUser, RegisterOptions, StoreRegistry } from '../src/registry.js';
import { authorizeUrl, body, CB, exchange, get, getCode, location, makeProvider, pkce } from './helpers.js';

const DEFAULTS = {
  type: 'memory',
  defaultTimeout: 100,
  threshold: 500,
  keyPrefix: '',
  memcachedServers: ['127.0.0.1:11211'],
  redisHost: 'localhost',
  redisPort: 6379,
  redisPassword: undefined,
  redisDb: 0,
  redisUrl: undefined,
  redisCommandTimeout: undefined,
  redisConnectTimeout: undefined,
  memcachedCommandTimeout: undefined,
  memcachedConnectTimeout: undefined,
};

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

describe('resolveCacheConfig', () => {
  it('has Flask-OAuthlib defaults', () => {
    expect(resolveCacheConfig({})).toEqual(DEFAULTS);
    expect(resolveCacheConfig()).toEqual(DEFAULTS);
  });

  // key, camelCase option, a value for each source, and what each resolves to.
  const table: [string, string, [unknown, unknown, unknown], [unknown, unknown, unknown]][] = [
    ['TYPE', 'type', ['redis', 'memcached', 'memory'], ['redis', 'memcached', 'memory']],
    ['DEFAULT_TIMEOUT', 'defaultTimeout', [30, '60', 90], [30, 60, 90]],
    ['THRESHOLD', 'threshold', [10, '20', 30], [10, 20, 30]],
    ['KEY_PREFIX', 'keyPrefix', ['a:', 'b:', 'c:'], ['a:', 'b:', 'c:']],
    ['MEMCACHED_SERVERS', 'memcachedServers', [['h1:1'], 'h2:2, h3:3', 'h4:4'], [['h1:1'], ['h2:2', 'h3:3'], ['h4:4']]],
    ['REDIS_HOST', 'redisHost', ['r1', 'r2', 'r3'], ['r1', 'r2', 'r3']],
    ['REDIS_PORT', 'redisPort', [7001, '7002', 7003], [7001, 7002, 7003]],
    ['REDIS_PASSWORD', 'redisPassword', ['p1', 'p2', 'p3'], ['p1', 'p2', 'p3']],
    ['REDIS_DB', 'redisDb', [1, '2', 3], [1, 2, 3]],
    ['REDIS_URL', 'redisUrl', ['redis://a', 'redis://b', 'redis://c'], ['redis://a', 'redis://b', 'redis://c']],
    ['REDIS_COMMAND_TIMEOUT', 'redisCommandTimeout', [2000, '3000', 4000], [2000, 3000, 4000]],
    ['REDIS_CONNECT_TIMEOUT', 'redisConnectTimeout', ['1500', 2500, '600000'], [1500, 2500, 600000]],
    ['MEMCACHED_COMMAND_TIMEOUT', 'memcachedCommandTimeout', [2000, '3000', 4000], [2000, 3000, 4000]],
    ['MEMCACHED_CONNECT_TIMEOUT', 'memcachedConnectTimeout', ['1500', 2500, '600000'], [1500, 2500, 600000]],
  ];
  for (const [key, camel, [explicit, prefixed, generic], [fromExplicit, fromPrefixed, fromGeneric]] of table) {
    it(`reads ${key}: camelCase option, then OAUTH2_CACHE_${key}, then CACHE_${key}, then the default`, () => {
      const read = (config: CacheGrantConfig) => (resolveCacheConfig(config) as unknown as Record<string, unknown>)[camel];
      const all = { [camel]: explicit, [`OAUTH2_CACHE_${key}`]: prefixed, [`CACHE_${key}`]: generic };
      expect(read(all)).toEqual(fromExplicit);
      expect(read({ ...all, [camel]: undefined })).toEqual(fromPrefixed);
      // null means unset, except for the type (a null type is refused, see below).
      const unset = key === 'TYPE' ? undefined : null;
      expect(read({ ...all, [camel]: unset, [`OAUTH2_CACHE_${key}`]: undefined })).toEqual(fromGeneric);
      expect(read({})).toEqual((DEFAULTS as Record<string, unknown>)[camel]);
    });
  }

  it('accepts the type aliases, in any case', () => {
    expect(resolveCacheConfig({ type: 'simple' }).type).toBe('memory');
    expect(resolveCacheConfig({ type: ' Memory ' }).type).toBe('memory');
    expect(resolveCacheConfig({ OAUTH2_CACHE_TYPE: 'memcache' }).type).toBe('memcached');
    expect(resolveCacheConfig({ CACHE_TYPE: 'MEMCACHED' }).type).toBe('memcached');
    expect(resolveCacheConfig({ type: 'Redis' }).type).toBe('redis');
  });

  it('names the valid types when the type is unknown', () => {
    const err = errorOf(() => resolveCacheConfig({ OAUTH2_CACHE_TYPE: 'filesystem' }));
    expect(err.name).toBe('ConfigurationError');
    expect(err.message).toContain('OAUTH2_CACHE_TYPE');
    expect(err.message).toContain('"filesystem"');
    for (const t of ['memory', 'simple', 'redis', 'memcached', 'memcache']) expect(err.message).toContain(`'${t}'`);
    expect(() => resolveCacheConfig({ type: 42 as unknown as string })).toThrow(/not a grant cache type/);
  });

  it('refuses the null cache: it cannot hold grants', () => {
    const configs: CacheGrantConfig[] = [
      { type: 'null' },
      { OAUTH2_CACHE_TYPE: 'null' },
      { CACHE_TYPE: 'NULL' },
      // A JavaScript null is refused too, not taken for "unset" (that would be the memory cache).
      { type: null },
      { OAUTH2_CACHE_TYPE: null },
      { CACHE_TYPE: null },
      { type: undefined, OAUTH2_CACHE_TYPE: null, CACHE_TYPE: 'redis' },
    ];
    for (const config of configs) {
      const err = errorOf(() => resolveCacheConfig(config));
      expect(err.name).toBe('ConfigurationError');
      expect(err.message).toMatch(/cannot hold grants/);
      expect(err.message).toContain("'redis'");
    }
  });

  it('lets a specific Redis host or port beat a generic URL, and a URL beat host and port as specific as it', () => {
    const url = 'redis://u.example:7000/1';
    // More specific host or port than the URL: host and port are used, the URL is not.
    expect(resolveCacheConfig({ OAUTH2_CACHE_REDIS_HOST: 'specific', CACHE_REDIS_URL: url })).toMatchObject({
      redisHost: 'specific',
      redisPort: 6379,
      redisUrl: undefined,
    });
    expect(resolveCacheConfig({ OAUTH2_CACHE_REDIS_PORT: '7100', CACHE_REDIS_URL: url })).toMatchObject({
      redisHost: 'localhost',
      redisPort: 7100,
      redisUrl: undefined,
    });
    expect(resolveCacheConfig({ redisHost: 'h', OAUTH2_CACHE_REDIS_URL: url }).redisUrl).toBeUndefined();
    expect(resolveCacheConfig({ configPrefix: 'APP', APP_CACHE_REDIS_HOST: 'h', CACHE_REDIS_URL: url }).redisUrl).toBeUndefined();
    // The URL as specific as, or more specific than, host and port: the URL wins.
    for (const config of [
      { OAUTH2_CACHE_REDIS_HOST: 'h', OAUTH2_CACHE_REDIS_URL: url },
      { CACHE_REDIS_HOST: 'h', CACHE_REDIS_PORT: 1, CACHE_REDIS_URL: url },
      { CACHE_REDIS_HOST: 'h', OAUTH2_CACHE_REDIS_URL: url },
      { OAUTH2_CACHE_REDIS_PORT: 1, redisUrl: url },
      { redisHost: 'h', redisUrl: url },
    ]) {
      expect(resolveCacheConfig(config).redisUrl).toBe(url);
    }
    // A beaten URL is still checked.
    expect(() => resolveCacheConfig({ redisHost: 'h', CACHE_REDIS_URL: 5 })).toThrow(/CACHE_REDIS_URL must be a string/);
  });

  it('reads keys under a configurable prefix', () => {
    const config = { configPrefix: 'MYAPP', MYAPP_CACHE_TYPE: 'redis', OAUTH2_CACHE_TYPE: 'memcached', CACHE_THRESHOLD: 7 };
    expect(resolveCacheConfig(config)).toMatchObject({ type: 'redis', threshold: 7 });
    expect(resolveCacheConfig({ configPrefix: '', CACHE_TYPE: 'redis', OAUTH2_CACHE_TYPE: 'memcached' }).type).toBe('redis');
    expect(() => resolveCacheConfig({ configPrefix: 1 as unknown as string })).toThrow(/configPrefix/);
  });

  it('takes an environment-style object of strings', () => {
    const env: Record<string, string | undefined> = {
      OAUTH2_CACHE_TYPE: 'redis',
      OAUTH2_CACHE_REDIS_PORT: '6380',
      OAUTH2_CACHE_REDIS_DB: '4',
      OAUTH2_CACHE_DEFAULT_TIMEOUT: '2.5',
      CACHE_MEMCACHED_SERVERS: 'm1:11211,,m2:11212 ',
      PATH: '/usr/bin',
    };
    expect(resolveCacheConfig(env)).toMatchObject({
      type: 'redis',
      redisPort: 6380,
      redisDb: 4,
      defaultTimeout: 2.5,
      memcachedServers: ['m1:11211', 'm2:11212'],
    });
  });

  it('rejects invalid values, naming the key they came from', () => {
    expect(() => resolveCacheConfig({ OAUTH2_CACHE_THRESHOLD: '1.5' })).toThrow(/OAUTH2_CACHE_THRESHOLD must be a positive integer/);
    expect(() => resolveCacheConfig({ threshold: 0 })).toThrow(/threshold/);
    expect(() => resolveCacheConfig({ CACHE_DEFAULT_TIMEOUT: 'soon' })).toThrow(/CACHE_DEFAULT_TIMEOUT/);
    expect(() => resolveCacheConfig({ defaultTimeout: -1 })).toThrow(/defaultTimeout/);
    expect(() => resolveCacheConfig({ defaultTimeout: '' })).toThrow(/defaultTimeout/);
    expect(() => resolveCacheConfig({ redisPort: 70000 })).toThrow(/redisPort must be a port number/);
    expect(() => resolveCacheConfig({ redisDb: -1 })).toThrow(/redisDb/);
    expect(() => resolveCacheConfig({ memcachedServers: ' , ' })).toThrow(/names no server/);
    expect(() => resolveCacheConfig({ memcachedServers: [1] as unknown as string[] })).toThrow(/memcachedServers/);
    expect(() => resolveCacheConfig({ keyPrefix: {} as unknown as string })).toThrow(/keyPrefix must be a string/);
    expect(() => resolveCacheConfig(null as unknown as CacheGrantConfig)).toThrow(/object/);
  });

  it('refuses a Redis timeout that is not a whole number of milliseconds from 1 to 600000, naming the key', () => {
    const hostile: unknown[] = [
      0,
      -1,
      1.5,
      'abc',
      10 ** 9,
      '',
      '   ',
      '0',
      '-5',
      '2.5',
      600_001,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      true,
      {},
      [1000],
    ];
    for (const [camel, upper] of [
      ['redisCommandTimeout', 'REDIS_COMMAND_TIMEOUT'],
      ['redisConnectTimeout', 'REDIS_CONNECT_TIMEOUT'],
      ['memcachedCommandTimeout', 'MEMCACHED_COMMAND_TIMEOUT'],
      ['memcachedConnectTimeout', 'MEMCACHED_CONNECT_TIMEOUT'],
    ] as const) {
      for (const from of [camel, `OAUTH2_CACHE_${upper}`, `CACHE_${upper}`]) {
        for (const value of hostile) {
          const err = errorOf(() => resolveCacheConfig({ type: 'redis', [from]: value }));
          expect(err.name).toBe('ConfigurationError');
          expect(err.message).toMatch(new RegExp(`^${from} must be a whole number of milliseconds from 1 to 600000, got `));
        }
      }
      // The more specific key is the one checked (and named), even when a generic one is valid.
      expect(errorOf(() => resolveCacheConfig({ [`OAUTH2_CACHE_${upper}`]: '0', [`CACHE_${upper}`]: '2000' })).message).toMatch(
        new RegExp(`^OAUTH2_CACHE_${upper} must`),
      );
      expect(resolveCacheConfig({ [camel]: 1 })).toMatchObject({ [camel]: 1 });
      expect(resolveCacheConfig({ [camel]: ' 600000 ' })).toMatchObject({ [camel]: 600_000 });
    }
  });

  it('never shows a password or URL in an error', () => {
    const secret = 'hunter2-Sup3r';
    const messages = [
      errorOf(() => resolveCacheConfig({ redisPassword: { secret } as unknown as string })).message,
      errorOf(() => resolveCacheConfig({ OAUTH2_CACHE_REDIS_URL: [`redis://:${secret}@h`] })).message,
      errorOf(() => resolveCacheConfig({ redisPassword: secret, redisUrl: `redis://:${secret}@h`, redisPort: 'x' })).message,
      errorOf(() => resolveCacheConfig({ redisPassword: secret, type: 'null' })).message,
      errorOf(() => resolveCacheConfig({ redisPassword: secret, type: 'bogus' })).message,
      errorOf(() => resolveCacheConfig({ redisPassword: secret, redisUrl: `redis://:${secret}@h`, redisCommandTimeout: 0 })).message,
      errorOf(() => resolveCacheConfig({ OAUTH2_CACHE_REDIS_URL: `redis://:${secret}@h`, CACHE_REDIS_CONNECT_TIMEOUT: 'abc' })).message,
    ];
    for (const m of messages) expect(m).not.toContain(secret);
    expect(messages[0]).toMatch(/redisPassword must be a string/);
  });
});

describe('unknownCacheKeys', () => {
  it('names cache-looking keys that are no setting, with the likely intended one', () => {
    expect(
      unknownCacheKeys({
        OAUTH2_CACHE_TYP: 'redis',
        CACHE_REDIS_PROT: '1',
        OAUTH2_CACHE_REDISHOST: 'h',
        CACHE_DIR: '/tmp',
        OAUTH2_CACHE_TYPE: 'memory',
        CACHE_REDIS_URL: 'redis://h',
        OAUTH2_PROVIDER_TOKEN_EXPIRES_IN: 3600,
        PATH: '/usr/bin',
        redisHost: 'h',
      }),
    ).toEqual([
      { key: 'OAUTH2_CACHE_TYP', suggestion: 'OAUTH2_CACHE_TYPE' },
      { key: 'CACHE_REDIS_PROT', suggestion: 'CACHE_REDIS_PORT' },
      { key: 'OAUTH2_CACHE_REDISHOST', suggestion: 'OAUTH2_CACHE_REDIS_HOST' },
      { key: 'CACHE_DIR', suggestion: undefined },
    ]);
  });

  it("knows the Redis timeout keys, and points the example app's _MS spelling to them", () => {
    expect(unknownCacheKeys({ OAUTH2_CACHE_REDIS_COMMAND_TIMEOUT: '2000', CACHE_REDIS_CONNECT_TIMEOUT: '2000' })).toEqual([]);
    expect(
      unknownCacheKeys({ OAUTH2_CACHE_REDIS_COMMAND_TIMEOUT_MS: '2000', CACHE_REDIS_CONECT_TIMEOUT: '1', CACHE_COMMAND_TIMEOUT: '1' }),
    ).toEqual([
      { key: 'OAUTH2_CACHE_REDIS_COMMAND_TIMEOUT_MS', suggestion: 'OAUTH2_CACHE_REDIS_COMMAND_TIMEOUT' },
      { key: 'CACHE_REDIS_CONECT_TIMEOUT', suggestion: 'CACHE_REDIS_CONNECT_TIMEOUT' },
      { key: 'CACHE_COMMAND_TIMEOUT', suggestion: undefined },
    ]);
  });

  it('follows configPrefix, and finds nothing in a clean config', () => {
    expect(unknownCacheKeys({ configPrefix: 'APP', APP_CACHE_TYPE: 'redis', APP_CACHE_TIMEOUT: 1, OAUTH2_CACHE_TYPE: 'x' })).toEqual([
      { key: 'APP_CACHE_TIMEOUT', suggestion: undefined },
    ]);
    expect(unknownCacheKeys({ type: 'memory', OAUTH2_CACHE_THRESHOLD: 3, CACHE_KEY_PREFIX: 'p' })).toEqual([]);
    expect(unknownCacheKeys()).toEqual([]);
  });
});

/** A logger that keeps what it is told. */
function capturingLogger() {
  const warnings: { message: string; meta: Record<string, unknown> | undefined }[] = [];
  const logger: Logger = {
    warn: (message, meta) => {
      warnings.push({ message, meta });
    },
    error: (message) => {
      throw new Error(`unexpected error log: ${message}`);
    },
  };
  return { logger, warnings };
}

/** A registry that records what a binding registers. */
function recordingRegistry() {
  const calls: { method: string; value: unknown; options: RegisterOptions | undefined }[] = [];
  const registry: StoreRegistry = {
    useStores(stores: Stores, options?: RegisterOptions) {
      calls.push({ method: 'useStores', value: stores, options });
      return this;
    },
    setCurrentUser(fn: CurrentUser, options?: RegisterOptions) {
      calls.push({ method: 'setCurrentUser', value: fn, options });
      return this;
    },
  };
  return { registry, calls };
}

const nobody: CurrentUser = () => null;

describe('bindCacheGrant', () => {
  it('registers only the grant store and the current user, as a binding', async () => {
    const { registry, calls } = recordingRegistry();
    const store = await bindCacheGrant(registry, { type: 'memory' }, nobody);
    expect(calls).toEqual([
      { method: 'useStores', value: { grants: store }, options: { source: 'binding' } },
      { method: 'setCurrentUser', value: nobody, options: { source: 'binding' } },
    ]);
    expect(Object.keys(calls[0]!.value as object)).toEqual(['grants']);
  });

  it('uses a GrantStore instance as is', async () => {
    const { registry, calls } = recordingRegistry();
    let closed = 0;
    const mine = {
      saveGrant: async () => {},
      consumeGrant: async () => null,
      disconnect: async () => {
        closed++;
      },
    };
    const bound = await bindCacheGrant(registry, mine, nobody);
    expect(bound).toBe(mine);
    expect(calls[0]!.value).toEqual({ grants: mine });
    await bound.disconnect();
    expect(closed).toBe(1);
  });

  it('binds and returns a store without disconnect() with a no-op one, the store itself still working', async () => {
    const { registry, calls } = recordingRegistry();
    class Store implements GrantStore {
      #saved: string[] = [];
      async saveGrant(grant: GrantRecord): Promise<void> {
        this.#saved.push(grant.code);
      }
      async consumeGrant() {
        return null;
      }
      get saved(): readonly string[] {
        return this.#saved;
      }
    }
    const mine = new Store();
    const bound = (await bindCacheGrant(registry, mine, nobody)) as GrantStore & { disconnect(): Promise<void>; saved: string[] };
    // What is registered is what is returned.
    expect((calls[0]!.value as { grants: unknown }).grants).toBe(bound);
    await expect(bound.disconnect()).resolves.toBeUndefined();
    expect('disconnect' in bound).toBe(true);
    // Methods and getters run on the store itself (its private fields work through the view).
    await bound.saveGrant({ code: 'k' } as GrantRecord);
    expect(bound.saved).toEqual(['k']);
    // A frozen store works as well.
    const frozen = Object.freeze({ saveGrant: async () => {}, consumeGrant: async () => null });
    const view = await bindCacheGrant(recordingRegistry().registry, frozen, nobody);
    expect(view.saveGrant).toBe(frozen.saveGrant);
    await expect(view.disconnect()).resolves.toBeUndefined();
  });

  it('reports unknown cache keys through the provider logger at bind time, in any NODE_ENV', async () => {
    const previous = process.env.NODE_ENV;
    try {
      for (const env of ['test', 'development', 'production']) {
        process.env.NODE_ENV = env;
        const { logger, warnings } = capturingLogger();
        const { provider } = makeProvider({ logger });
        await bindCacheGrant(
          provider,
          { OAUTH2_CACHE_TYPE: 'memory', OAUTH2_CACHE_TYP: 'redis', CACHE_THRESHOLD: 5, PATH: '/bin' },
          nobody,
        );
        const typo = warnings.filter((w) => w.message.includes('OAUTH2_CACHE_TYP '));
        expect(typo).toHaveLength(1);
        expect(typo[0]!.message).toMatch(/unknown cache key OAUTH2_CACHE_TYP is ignored; did you mean OAUTH2_CACHE_TYPE\?/);
        expect(typo[0]!.meta).toEqual({ key: 'OAUTH2_CACHE_TYP', suggestion: 'OAUTH2_CACHE_TYPE' });
        // The memory cache under NODE_ENV=production is reported the same way; nothing else is.
        const others = warnings.filter((w) => w !== typo[0]);
        expect(others.map((w) => w.message)).toEqual(env === 'production' ? [expect.stringMatching(/in-memory grant cache/)] : []);
      }
    } finally {
      process.env.NODE_ENV = previous;
    }
  });

  it('takes a logger from its options where the registry has none, and says nothing for a clean config', async () => {
    const { logger, warnings } = capturingLogger();
    await bindCacheGrant(recordingRegistry().registry, { CACHE_TYPE: 'memory', CACHE_REDIS_PROT: 1 }, nobody, { logger });
    expect(warnings.map((w) => w.message)).toEqual([
      expect.stringContaining('CACHE_REDIS_PROT is ignored; did you mean CACHE_REDIS_PORT?'),
    ]);
    const clean = capturingLogger();
    await bindCacheGrant(makeProvider({ logger: clean.logger }).provider, { type: 'memory', OAUTH2_CACHE_THRESHOLD: 3 }, nobody);
    await createCacheGrant({ CACHE_TYPE: 'simple' }, { logger: clean.logger });
    expect(clean.warnings).toEqual([]);
    const { warnings: direct, logger: directLogger } = capturingLogger();
    await createCacheGrant({ OAUTH2_CACHE_TYPO: 'x' }, { logger: directLogger });
    expect(direct).toHaveLength(1);
  });

  it('registers nothing when the config is refused', async () => {
    const { registry, calls } = recordingRegistry();
    await expect(bindCacheGrant(registry, { OAUTH2_CACHE_TYPE: 'null' }, nobody)).rejects.toThrow(/cannot hold grants/);
    await expect(bindCacheGrant(registry, { type: null }, nobody)).rejects.toThrow(/type is null: a null cache cannot hold grants/);
    await expect(bindCacheGrant(registry, { type: 'redis' }, 'nope' as unknown as CurrentUser)).rejects.toThrow(/currentUser/);
    expect(calls).toEqual([]);
  });

  it('builds the memory cache with threshold, timeout and prefix', async () => {
    const store = (await createCacheGrant({ OAUTH2_CACHE_TYPE: 'simple', OAUTH2_CACHE_THRESHOLD: '2' })) as GrantStore & {
      size: number;
    };
    const grant = (code: string): GrantRecord => ({
      code,
      clientId: 'c',
      userId: 'u',
      redirectUri: CB,
      scopes: ['read'],
      expiresAt: new Date(Date.now() + 60_000),
      grantId: `g-${code}`,
      codeChallenge: null,
      codeChallengeMethod: null,
    });
    for (const code of ['a', 'b', 'c']) await store.saveGrant(grant(code));
    expect(store.size).toBe(2);
    expect(await store.consumeGrant('c', 'a')).toBeNull();
    expect((await store.consumeGrant('c', 'c'))?.outcome).toBe('consumed');
  });

  it('runs the authorization code flow end to end with the memory cache and currentUser', async () => {
    const { provider } = makeProvider();
    const currentUser: CurrentUser = () => ({ id: 'u-from-session' }) satisfies User;
    const store = (await bindCacheGrant(provider, { OAUTH2_CACHE_TYPE: 'memory' }, currentUser)) as unknown as GrantStore & {
      size: number;
      disconnect(): Promise<void>;
      peek(clientId: string, code: string): { state: string; record?: GrantRecord } | null;
    };
    expect(store.size).toBe(0);
    await expect(store.disconnect()).resolves.toBeUndefined();

    // The decision names no user: the bound currentUser does.
    const { verifier, challenge } = pkce();
    const a = await provider.authorize(
      get(
        authorizeUrl({
          response_type: 'code',
          client_id: 'conf',
          redirect_uri: CB,
          scope: 'read',
          state: 'st',
          code_challenge: challenge,
          code_challenge_method: 'S256',
        }),
      ),
    );
    expect(a.type).toBe('consent');
    if (a.type !== 'consent') return;
    const code = location(await provider.completeAuthorization(a.request, { approved: true })).searchParams.get('code')!;
    // The code lives in the bound cache, under its digest.
    expect(store.size).toBe(1);
    const entry = store.peek('conf', digestToken(code));
    expect(entry?.state).toBe('live');
    expect(entry?.record?.userId).toBe('u-from-session');

    const res = await exchange(provider, code, verifier);
    expect(res.status).toBe(200);
    const token = body(res).access_token as string;
    expect(store.peek('conf', digestToken(code))?.state).toBe('consumed');

    // A replayed code is refused, and the tokens it minted are revoked (the cache reports replay).
    const again = await exchange(provider, code, verifier);
    expect(again.status).toBe(400);
    expect(body(again).error).toBe('invalid_grant');
    const check = await provider.verifyAccessToken({ method: 'GET', url: '/api', headers: { authorization: `Bearer ${token}` } }, ['read']);
    expect(check.ok).toBe(false);
  });

  it('keeps an explicit grant store over the cache, in either order', async () => {
    const saved: string[] = [];
    const explicit: GrantStore = {
      saveGrant: async (g) => {
        saved.push(g.clientId);
      },
      consumeGrant: async () => null,
    };
    const before = makeProvider().provider;
    before.useStores({ grants: explicit });
    const first = (await bindCacheGrant(before, { type: 'memory' }, nobody)) as unknown as GrantStore & { size: number };
    await getCode(before);
    const after = makeProvider().provider;
    const second = (await bindCacheGrant(after, { type: 'memory' }, nobody)) as unknown as GrantStore & { size: number };
    after.useStores({ grants: explicit });
    await getCode(after);
    expect(saved).toEqual(['conf', 'conf']);
    expect([first.size, second.size]).toEqual([0, 0]);
  });

  it("answers invalid_grant for a code past the cache's defaultTimeout", async () => {
    const { provider } = makeProvider();
    await bindCacheGrant(provider, { type: 'memory', defaultTimeout: 0.2 }, nobody);
    const { code, verifier } = await getCode(provider);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const res = await exchange(provider, code, verifier);
    expect(res.status).toBe(400);
    expect(body(res).error).toBe('invalid_grant');
  });
});

describe('backend packages', () => {
  const missing: ModuleImporter = (specifier) => import(/* @vite-ignore */ `${specifier}-not-installed`);

  it('names the package to install when a backend is missing, without the password', async () => {
    const secret = 'hunter2-Sup3r';
    const cases: [CacheGrantConfig, RegExp][] = [
      [
        { type: 'redis', redisPassword: secret, redisUrl: `redis://:${secret}@127.0.0.1:1` },
        /npm install @portcullis\/grant-cache-redis redis/,
      ],
      [{ type: 'memcached' }, /npm install @portcullis\/grant-cache-memcached memjs/],
      [{ type: 'memory' }, /npm install @portcullis\/grant-cache-memory/],
    ];
    for (const [config, message] of cases) {
      const err = await createCacheGrant(config, { importModule: missing }).then(
        () => null,
        (e: unknown) => e as Error & { cause?: unknown },
      );
      expect(err?.name).toBe('ConfigurationError');
      expect(err?.message).toMatch(message);
      expect(err?.message).not.toContain(secret);
      expect(err?.cause).toBeInstanceOf(Error);
    }
  });

  it('refuses a package that does not export the factory', async () => {
    await expect(createCacheGrant({ type: 'redis' }, { importModule: async () => ({}) })).rejects.toThrow(
      /@portcullis\/grant-cache-redis does not export createRedisGrantCache/,
    );
    await expect(
      createCacheGrant({ type: 'memcached' }, { importModule: async () => ({ createMemcachedGrantCache: () => ({}) }) }),
    ).rejects.toThrow(/did not return a grant store/);
  });

  /** A stand-in backend module that records the options core hands its factory. */
  function recordingBackend(factory: string) {
    const received: unknown[] = [];
    const importModule: ModuleImporter = async (specifier) => {
      const memoryPackage: string = '@portcullis/grant-cache-memory';
      const memory = (await import(/* @vite-ignore */ memoryPackage)) as {
        createMemoryGrantCache(): GrantStore;
      };
      return {
        specifier,
        [factory]: async (options: unknown) => {
          received.push({ specifier, options });
          return memory.createMemoryGrantCache();
        },
      };
    };
    return { received, importModule };
  }

  it('hands createRedisGrantCache host, port, db, password, prefix and timeout', async () => {
    const { received, importModule } = recordingBackend('createRedisGrantCache');
    await createCacheGrant(
      { OAUTH2_CACHE_TYPE: 'redis', CACHE_REDIS_HOST: 'r.local', redisPort: '6390', redisDb: 2, redisPassword: 'pw', keyPrefix: 'oa:' },
      { importModule },
    );
    await createCacheGrant({ type: 'redis' }, { importModule });
    expect(received).toEqual([
      {
        specifier: '@portcullis/grant-cache-redis',
        options: { host: 'r.local', port: 6390, db: 2, password: 'pw', keyPrefix: 'oa:', defaultTimeout: 100 },
      },
      {
        specifier: '@portcullis/grant-cache-redis',
        options: { host: 'localhost', port: 6379, db: 0, keyPrefix: '', defaultTimeout: 100 },
      },
    ]);
  });

  it('lets REDIS_URL win over host and port', async () => {
    const { received, importModule } = recordingBackend('createRedisGrantCache');
    await createCacheGrant({ type: 'redis', redisUrl: 'redis://127.0.0.1:7000/3', redisHost: 'ignored' }, { importModule });
    await createCacheGrant({ type: 'redis', redisUrl: 'redis://127.0.0.1:7000', redisDb: 5, redisPassword: 'pw' }, { importModule });
    expect(received.map((r) => (r as { options: unknown }).options)).toEqual([
      { url: 'redis://127.0.0.1:7000/3', keyPrefix: '', defaultTimeout: 100 },
      { url: 'redis://127.0.0.1:7000', db: 5, password: 'pw', keyPrefix: '', defaultTimeout: 100 },
    ]);
  });

  it('hands createRedisGrantCache the command and connect timeouts, the option beating OAUTH2_CACHE_ beating CACHE_', async () => {
    const { received, importModule } = recordingBackend('createRedisGrantCache');
    const all = {
      type: 'redis',
      redisCommandTimeout: 2000,
      OAUTH2_CACHE_REDIS_COMMAND_TIMEOUT: '3000',
      CACHE_REDIS_COMMAND_TIMEOUT: '4000',
      redisConnectTimeout: '1500',
      OAUTH2_CACHE_REDIS_CONNECT_TIMEOUT: 2500,
      CACHE_REDIS_CONNECT_TIMEOUT: '3500',
    };
    await createCacheGrant(all, { importModule });
    await createCacheGrant({ ...all, redisCommandTimeout: undefined, redisConnectTimeout: null as unknown as undefined }, { importModule });
    await createCacheGrant(
      {
        ...all,
        redisCommandTimeout: undefined,
        OAUTH2_CACHE_REDIS_COMMAND_TIMEOUT: undefined,
        redisConnectTimeout: undefined,
        OAUTH2_CACHE_REDIS_CONNECT_TIMEOUT: undefined,
      },
      { importModule },
    );
    // With a URL too.
    await createCacheGrant({ type: 'redis', redisUrl: 'redis://127.0.0.1:7000', CACHE_REDIS_COMMAND_TIMEOUT: '5000' }, { importModule });
    const options = received.map((r) => (r as { options: Record<string, unknown> }).options);
    expect(options.map((o) => [o.commandTimeout, o.connectTimeout])).toEqual([
      [2000, 1500],
      [3000, 2500],
      [4000, 3500],
      [5000, undefined],
    ]);
    expect(options[3]).toEqual({ url: 'redis://127.0.0.1:7000', keyPrefix: '', defaultTimeout: 100, commandTimeout: 5000 });
    expect(options[3]).not.toHaveProperty('connectTimeout');
  });

  it('hands createMemcachedGrantCache its command and connect timeouts, left out when unset', async () => {
    const { received, importModule } = recordingBackend('createMemcachedGrantCache');
    await createCacheGrant(
      {
        type: 'memcached',
        memcachedCommandTimeout: 2500,
        OAUTH2_CACHE_MEMCACHED_COMMAND_TIMEOUT: '9000',
        CACHE_MEMCACHED_CONNECT_TIMEOUT: '1200',
      },
      { importModule },
    );
    await createCacheGrant({ type: 'memcached' }, { importModule });
    const options = received.map((r) => (r as { options: Record<string, unknown> }).options);
    expect(options[0]).toEqual({
      servers: ['127.0.0.1:11211'],
      keyPrefix: '',
      defaultTimeout: 100,
      commandTimeout: 2500,
      connectTimeout: 1200,
    });
    expect(options[1]).toEqual({ servers: ['127.0.0.1:11211'], keyPrefix: '', defaultTimeout: 100 });
    expect(() => resolveCacheConfig({ type: 'memcached', CACHE_MEMCACHED_COMMAND_TIMEOUT: '0' })).toThrow(
      /CACHE_MEMCACHED_COMMAND_TIMEOUT must be/,
    );
  });

  it('leaves the timeouts out when unset, so the package keeps its own defaults', async () => {
    const { received, importModule } = recordingBackend('createRedisGrantCache');
    await createCacheGrant({ type: 'redis' }, { importModule });
    await createCacheGrant({ type: 'redis', redisUrl: 'redis://127.0.0.1:7000' }, { importModule });
    for (const r of received) {
      expect((r as { options: object }).options).not.toHaveProperty('commandTimeout');
      expect((r as { options: object }).options).not.toHaveProperty('connectTimeout');
    }
  });

  it('refuses a bad timeout before loading any package', async () => {
    const { received, importModule } = recordingBackend('createRedisGrantCache');
    await expect(createCacheGrant({ type: 'redis', OAUTH2_CACHE_REDIS_COMMAND_TIMEOUT: '1.5' }, { importModule })).rejects.toThrow(
      /^OAUTH2_CACHE_REDIS_COMMAND_TIMEOUT must be a whole number of milliseconds/,
    );
    const { registry, calls } = recordingRegistry();
    await expect(bindCacheGrant(registry, { type: 'redis', CACHE_REDIS_CONNECT_TIMEOUT: '-1' }, nobody, { importModule })).rejects.toThrow(
      /^CACHE_REDIS_CONNECT_TIMEOUT must be a whole number of milliseconds/,
    );
    expect(received).toEqual([]);
    expect(calls).toEqual([]);
  });

  it('hands createRedisGrantCache a specific host and port over a generic URL', async () => {
    const { received, importModule } = recordingBackend('createRedisGrantCache');
    await createCacheGrant(
      {
        OAUTH2_CACHE_TYPE: 'redis',
        OAUTH2_CACHE_REDIS_HOST: 'r.specific',
        OAUTH2_CACHE_REDIS_PORT: '6391',
        CACHE_REDIS_URL: 'redis://generic:1/2',
      },
      { importModule },
    );
    expect(received.map((r) => (r as { options: unknown }).options)).toEqual([
      { host: 'r.specific', port: 6391, db: 0, keyPrefix: '', defaultTimeout: 100 },
    ]);
  });

  it('hands createMemcachedGrantCache the server list, prefix and timeout', async () => {
    const { received, importModule } = recordingBackend('createMemcachedGrantCache');
    await createCacheGrant(
      { type: 'memcache', OAUTH2_CACHE_MEMCACHED_SERVERS: '127.0.0.1:11211, 127.0.0.1:11212', CACHE_KEY_PREFIX: 'p:', defaultTimeout: 30 },
      { importModule },
    );
    expect(received).toEqual([
      {
        specifier: '@portcullis/grant-cache-memcached',
        options: { servers: ['127.0.0.1:11211', '127.0.0.1:11212'], keyPrefix: 'p:', defaultTimeout: 30 },
      },
    ]);
  });

  it('binds whatever store the backend returns', async () => {
    const { importModule } = recordingBackend('createRedisGrantCache');
    const { provider } = makeProvider();
    const store = (await bindCacheGrant(provider, { type: 'redis' }, nobody, { importModule })) as unknown as GrantStore & { size: number };
    const { code, verifier } = await getCode(provider);
    expect(store.size).toBe(1);
    expect((await exchange(provider, code, verifier)).status).toBe(200);
    expect(body(await exchange(provider, code, verifier)).error).toBe('invalid_grant');
  });
});

/** A free loopback port (the OS picks it). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Resolves once something accepts connections on the port; rejects after `ms`. */
async function listening(port: number, child: ChildProcess, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${String(child.spawnfile)} exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${String(child.spawnfile)} did not listen on ${port} within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Starts a throwaway server (redis-server, memcached from scripts/apt-packages.txt) on a free
 * port; a missing binary fails the suite, it is never skipped.
 */
async function startServer(
  command: string,
  args: (port: number) => string[],
): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(command, args(port), { stdio: 'ignore' });
  const failed = new Promise<never>((_, reject) => child.once('error', reject));
  await Promise.race([listening(port, child, 15_000), failed]);
  if (child.pid === undefined) throw new Error(`${command} has no pid`);
  return {
    port,
    pid: child.pid,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGCONT'); // in case a test left it paused
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * bindCacheGrant loads the real backend packages (core declares no dependency on them) and the
 * caches reach real servers: a code saved through one provider's cache is redeemed through
 * another provider with its own cache on the same server, and only once. The servers come from
 * REDIS_URL / MEMCACHED_URL when set, else are started here.
 */
describe('bindCacheGrant on real Redis and memcached', () => {
  const stops: (() => Promise<void>)[] = [];
  let redis: { host: string; port: number };
  let memcached: string;
  beforeAll(async () => {
    if (process.env.REDIS_URL) {
      const url = new URL(process.env.REDIS_URL);
      redis = { host: url.hostname, port: Number(url.port || 6379) };
    } else {
      const server = await startServer('redis-server', (port) => [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--protected-mode',
        'no',
      ]);
      stops.push(server.stop);
      redis = { host: '127.0.0.1', port: server.port };
    }
    if (process.env.MEMCACHED_URL) {
      memcached = process.env.MEMCACHED_URL.split(',')[0]!
        .trim()
        .replace(/^memcached:\/\//, '')
        .replace(/\/$/, '');
    } else {
      const server = await startServer('memcached', (port) => [
        ...(process.getuid?.() === 0 ? ['-u', 'root'] : []),
        '-p',
        String(port),
        '-l',
        '127.0.0.1',
        '-U',
        '0',
      ]);
      stops.push(server.stop);
      memcached = `127.0.0.1:${server.port}`;
    }
  }, 60_000);
  afterAll(async () => {
    await Promise.all(stops.map((stop) => stop()));
  });

  /** Two providers, each bound to its own cache built from `config`; a code crosses from one to the other. */
  async function crossProviders(config: () => CacheGrantConfig): Promise<void> {
    const a = makeProvider().provider;
    const b = makeProvider().provider;
    const cacheA = await bindCacheGrant(a, config(), nobody);
    const cacheB = await bindCacheGrant(b, config(), nobody);
    try {
      const { code, verifier } = await getCode(a);
      const res = await exchange(b, code, verifier);
      expect(res.status).toBe(200);
      expect(typeof body(res).access_token).toBe('string');
      const again = await exchange(a, code, verifier);
      expect(again.status).toBe(400);
      expect(body(again).error).toBe('invalid_grant');
    } finally {
      await cacheA.disconnect();
      await cacheB.disconnect();
    }
  }

  it('redis: the specific OAUTH2_CACHE_REDIS_HOST/PORT win over a generic CACHE_REDIS_URL that points nowhere', async () => {
    const prefix = `core-${process.pid}-${Date.now()}:`;
    await crossProviders(() => ({
      OAUTH2_CACHE_TYPE: 'redis',
      OAUTH2_CACHE_REDIS_HOST: redis.host,
      OAUTH2_CACHE_REDIS_PORT: String(redis.port),
      CACHE_REDIS_URL: 'redis://127.0.0.1:1/0',
      OAUTH2_CACHE_KEY_PREFIX: prefix,
    }));
  });

  it('memcached: OAUTH2_CACHE_MEMCACHED_SERVERS', async () => {
    const prefix = `core-${process.pid}-${Date.now()}:`;
    await crossProviders(() => ({
      OAUTH2_CACHE_TYPE: 'memcached',
      OAUTH2_CACHE_MEMCACHED_SERVERS: memcached,
      OAUTH2_CACHE_KEY_PREFIX: prefix,
    }));
  });
});

/** redis-server's arguments for a throwaway server on `port`. */
const redisArgs = (port: number) => [
  '--port',
  String(port),
  '--bind',
  '127.0.0.1',
  '--save',
  '',
  '--appendonly',
  'no',
  '--protected-mode',
  'no',
];

/**
 * `redisCommandTimeout` / `redisConnectTimeout` reach the cache `createRedisGrantCache` builds
 * (the package's default is 1000 ms for both). The Redis here is a private one, since it is
 * paused (SIGSTOP), whatever REDIS_URL says.
 */
describe('Redis timeouts reach the cache', () => {
  let redis: { port: number; pid: number; stop(): Promise<void> };
  beforeAll(async () => {
    redis = await startServer('redis-server', redisArgs);
  }, 60_000);
  afterAll(async () => {
    await redis?.stop();
  });

  /** Runs `fn` with the Redis server paused: it keeps its connections but answers nothing. */
  async function whilePaused<T>(fn: () => Promise<T>): Promise<T> {
    process.kill(redis.pid, 'SIGSTOP');
    try {
      return await fn();
    } finally {
      process.kill(redis.pid, 'SIGCONT');
    }
  }

  const cases: [string, CacheGrantConfig, number][] = [
    ['unset: the package default', {}, 1000],
    ['OAUTH2_CACHE_REDIS_COMMAND_TIMEOUT', { OAUTH2_CACHE_REDIS_COMMAND_TIMEOUT: '2500', CACHE_REDIS_COMMAND_TIMEOUT: '4000' }, 2500],
    ['the option over the keys', { redisCommandTimeout: 1700, OAUTH2_CACHE_REDIS_COMMAND_TIMEOUT: '2500' }, 1700],
  ];
  for (const [name, config, ms] of cases) {
    it(`a paused Redis fails a command after the command timeout (${name}: ${ms} ms)`, async () => {
      const keyPrefix = `core-timeout-${process.pid}-${Date.now()}:`;
      const { registry } = recordingRegistry();
      const store = await bindCacheGrant(
        registry,
        { type: 'redis', redisHost: '127.0.0.1', redisPort: redis.port, keyPrefix, ...config },
        nobody,
      );
      try {
        expect(await store.consumeGrant('client', 'unknown')).toBeNull(); // connected and answering
        const err = await whilePaused(() =>
          store.consumeGrant('client', 'code').then(
            () => null,
            (e: unknown) => e as Error & { cause?: Error },
          ),
        );
        expect(err?.name).toBe('StoreUnavailableError');
        expect(err?.cause?.message).toBe(`Redis did not answer within ${ms} ms`);
      } finally {
        await store.disconnect();
      }
    });
  }

  it('the token endpoint answers 503 temporarily_unavailable when Redis does not answer within the timeout', async () => {
    const logged: unknown[] = [];
    const logger: Logger = { warn: (m, meta) => logged.push([m, meta]), error: (m, meta) => logged.push([m, meta]) };
    const { provider } = makeProvider({ logger });
    const store = await bindCacheGrant(
      provider,
      {
        type: 'redis',
        CACHE_REDIS_URL: `redis://127.0.0.1:${redis.port}`,
        OAUTH2_CACHE_REDIS_COMMAND_TIMEOUT: 1500,
        keyPrefix: `core-503-${Date.now()}:`,
      },
      nobody,
    );
    try {
      const { code, verifier } = await getCode(provider);
      const res = await whilePaused(() => exchange(provider, code, verifier));
      expect(res.status).toBe(503);
      expect(body(res).error).toBe('temporarily_unavailable');
      expect(JSON.stringify(logged)).toContain('Redis did not answer within 1500 ms');
    } finally {
      await store.disconnect();
    }
  });

  it('a server that accepts connections but never answers fails the first command after the connect timeout', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    const { registry } = recordingRegistry();
    const store = await bindCacheGrant(
      registry,
      { type: 'redis', redisHost: '127.0.0.1', redisPort: address.port, OAUTH2_CACHE_REDIS_CONNECT_TIMEOUT: '2500' },
      nobody,
    );
    try {
      const started = Date.now();
      const err = await store.consumeGrant('client', 'code').then(
        () => null,
        (e: unknown) => e as Error,
      );
      const waited = Date.now() - started;
      expect(err?.name).toBe('StoreUnavailableError');
      // A lower bound only (a timer never fires early): the package's default would give up after 1000 ms.
      expect(waited).toBeGreaterThanOrEqual(2400);
      expect(sockets.size).toBeGreaterThan(0); // it did reach the server
    } finally {
      await store.disconnect();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
