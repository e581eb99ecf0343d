import { describe, expect, it } from 'vitest';
import { createMemoryStores, OAuth2Provider } from '../src/index.js';
import { basic, body, confidential, form, ISSUER, makeProvider, SECRET } from './helpers.js';

const cc = () => form({ grant_type: 'client_credentials' }, { authorization: basic('conf', SECRET) });

describe('options', () => {
  it('defaults: code 100 s, access token 3600 s, rotation on, S256 only, password and implicit off', () => {
    const p = new OAuth2Provider({ issuer: ISSUER, stores: createMemoryStores() });
    expect(p.options.lifetimes).toEqual({ authorizationCode: 100, accessToken: 3600, refreshToken: 14 * 24 * 3600 });
    expect(p.options.refreshTokenRotation).toBe(true);
    expect(p.options.pkce).toEqual({ required: 'public', allowPlain: false });
    expect([...p.options.grants]).toEqual(['authorization_code', 'refresh_token', 'client_credentials']);
  });

  it('accepts Flask-OAuthlib keys from a plain config object, the typed option winning', async () => {
    let n = 0;
    const { provider } = makeProvider({
      config: {
        OAUTH2_PROVIDER_TOKEN_EXPIRES_IN: 120,
        OAUTH2_PROVIDER_TOKEN_GENERATOR: () => `flask-${++n}-${'x'.repeat(40)}`,
        OAUTH2_PROVIDER_REFRESH_TOKEN_GENERATOR: () => `flask-refresh-${'y'.repeat(40)}`,
        OAUTH2_PROVIDER_ERROR_URI: '/errors',
      },
    });
    const b = body(await provider.token(cc()));
    expect(b.expires_in).toBe(120);
    expect(b.access_token).toMatch(/^flask-1-/);
    expect(provider.options.errorUri).toBe('/errors');
    const typed = makeProvider({
      lifetimes: { accessToken: 60 },
      accessTokenGenerator: () => `typed-${'z'.repeat(40)}`,
      config: { OAUTH2_PROVIDER_TOKEN_EXPIRES_IN: 120, OAUTH2_PROVIDER_TOKEN_GENERATOR: () => 'flask' },
    }).provider;
    const t = body(await typed.token(cc()));
    expect(t.expires_in).toBe(60);
    expect(t.access_token).toMatch(/^typed-/);
  });

  it('refuses bad options with clear messages', () => {
    const stores = createMemoryStores({ clients: [confidential] });
    expect(() => new OAuth2Provider({ issuer: 'not a url', stores })).toThrow(/issuer/);
    expect(() => new OAuth2Provider({ issuer: `${ISSUER}?q=1`, stores })).toThrow(/query or fragment/);
    expect(() => new OAuth2Provider({ issuer: ISSUER, stores, lifetimes: { accessToken: -1 } })).toThrow(/accessToken/);
    expect(() => new OAuth2Provider({ issuer: ISSUER, stores, grants: ['device_code' as 'password'] })).toThrow(/unknown grant/);
    expect(
      () =>
        new OAuth2Provider({
          issuer: ISSUER,
          stores,
          config: { OAUTH2_PROVIDER_TOKEN_GENERATOR: 'my.module.gen' as unknown as () => string },
        }),
    ).toThrow(/function/);
  });

  it('the memory stores warn once under NODE_ENV=production', () => {
    const prev = process.env.NODE_ENV;
    const warnings: unknown[] = [];
    const orig = console.warn;
    console.warn = (...a: unknown[]) => void warnings.push(a);
    try {
      process.env.NODE_ENV = 'production';
      createMemoryStores();
      createMemoryStores();
    } finally {
      console.warn = orig;
      process.env.NODE_ENV = prev;
    }
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0])).toMatch(/NODE_ENV=production/);
  });
});

describe('randomToken', () => {
  it('gives distinct 43-character base64url tokens across pool refills', async () => {
    const { randomToken } = await import('../src/crypto.js');
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const t = randomToken();
      expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
      seen.add(t);
    }
    expect(seen.size).toBe(2000);
    expect(randomToken(16)).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(randomToken(4096)).toHaveLength(5462);
  });
});

describe('client secret hashes', () => {
  it('verifies the current salted SHA-256 format and the earlier HMAC format, in constant time, never throwing', async () => {
    const { createHmac } = await import('node:crypto');
    const { hashSecret, verifySecret } = await import('../src/crypto.js');
    const secret = 's3cret-0123456789abcdefghij0123456789';
    const h = hashSecret(secret);
    expect(h).toMatch(/^sha256\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(await verifySecret(secret, h)).toBe(true);
    expect(await verifySecret(`${secret} `, h)).toBe(false);
    expect(hashSecret(secret)).not.toBe(h);
    // A secret too short to be a generated one is refused, pointing to hashPassword.
    expect(() => hashSecret('s3cret')).toThrow(/hashPassword/);
    expect(() => hashSecret('x'.repeat(31))).toThrow(TypeError);
    expect(hashSecret('x'.repeat(32))).toMatch(/^sha256\$/);
    const legacy = `hmac-sha256$salt$${createHmac('sha256', 'salt').update('old').digest('base64url')}`;
    expect(await verifySecret('old', legacy)).toBe(true);
    expect(await verifySecret('new', legacy)).toBe(false);
    for (const bad of ['', 'sha256$', 'sha256$x', 'md5$a$b', 'scrypt$1$1$1$a$b']) expect(await verifySecret('x', bad)).toBe(false);
  });
});

describe('form parsing', () => {
  it('matches URLSearchParams on odd input, leaves out parameters without a value (RFC 6749 3.1) and refuses repeats', async () => {
    const { parseParams } = await import('../src/params.js');
    for (const text of ['a=1&b=2', 'a=%20x+y&&b', 'k=%E2%82%AC&z=%zz&m=%E2%82', '=v&x=', 'a+b=c%2Bd', '']) {
      const expected = Object.fromEntries([...new URLSearchParams(text)].filter(([, v]) => v !== ''));
      expect({ ...(parseParams(text) as Record<string, string>) }).toEqual(expected);
    }
    expect({ ...(parseParams('state=&code=x&b') as Record<string, string>) }).toEqual({ code: 'x' });
    expect((parseParams('a=1&a=2') as { error?: string }).error).toBe('invalid_request');
    // An empty copy is an omitted one, not a repeat.
    expect({ ...(parseParams('a=1&a=') as Record<string, string>) }).toEqual({ a: '1' });
  });

  it('reports an OAUTH2_PROVIDER_* key it does not read (a typo), through the logger', () => {
    const warnings: string[] = [];
    const logger = { warn: (m: string) => warnings.push(m), error: () => undefined };
    new OAuth2Provider({ issuer: ISSUER, stores: createMemoryStores(), logger, config: { OAUTH2_PROVIDER_TOKEN_EXPIRES_IN: 60 } });
    expect(warnings).toEqual([]);
    new OAuth2Provider({
      issuer: ISSUER,
      stores: createMemoryStores(),
      logger,
      config: { OAUTH2_PROVIDER_TOKEN_EXPIRES: 60, OTHER_KEY: 1 },
    });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^config\.OAUTH2_PROVIDER_TOKEN_EXPIRES is not a Flask-OAuthlib key Portcullis reads/);
  });
});
