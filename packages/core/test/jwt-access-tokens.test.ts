/**
 * RFC 9068 (JWT access tokens) and signing keys that rotate without a restart.
 * RFC 9068 section 2.1: "Access tokens ... MUST include this media type in the "typ" header
 * parameter ... "at+jwt"". Section 2.2: iss, exp, aud, sub, client_id, iat and jti are REQUIRED.
 */
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import { ConfigurationError, createMemoryStores, generateClientSecret, OAuth2Provider, type ProviderOptions } from '../src/index.js';
import { basic, clients, form, json, SECRET, userTokens } from './security/fixture.js';

const KEK = generateClientSecret();
const ISSUER = 'https://auth.example';

function jwtProvider(jwt: ProviderOptions['jwt'] = {}) {
  const stores = createMemoryStores({ clients });
  const provider = new OAuth2Provider({
    issuer: ISSUER,
    grants: ['authorization_code', 'refresh_token', 'client_credentials'],
    stores,
    accessTokenFormat: 'jwt',
    jwt: { keyEncryptionKey: KEK, ...jwt },
  });
  return { provider, stores };
}

async function jwks(provider: OAuth2Provider) {
  const r = await provider.jwks();
  expect(r.status).toBe(200);
  return JSON.parse(r.body) as { keys: Record<string, unknown>[] };
}

async function cc(provider: OAuth2Provider) {
  const r = await provider.token(form({ grant_type: 'client_credentials', scope: 'read' }, { authorization: basic('app', SECRET) }));
  expect(r.status).toBe(200);
  return json(r).access_token as string;
}

describe('JWT access tokens (RFC 9068)', () => {
  it('16 concurrent first token requests create one signing key, not one each', async () => {
    const { provider, stores } = jwtProvider();
    const tokens = await Promise.all(Array.from({ length: 16 }, () => cc(provider)));
    expect(new Set(tokens.map((t) => decodeProtectedHeader(t).kid)).size).toBe(1);
    expect(await stores.keys.listKeys()).toHaveLength(1);
    expect((await jwks(provider)).keys).toHaveLength(1);
  });

  it('are signed JWTs with typ at+jwt and the required claims, verifiable against the JWKS alone', async () => {
    const { provider } = jwtProvider();
    const token = await cc(provider);
    const set = createLocalJWKSet(await jwks(provider));
    const { payload, protectedHeader } = await jwtVerify(token, set, { issuer: ISSUER, audience: ISSUER, typ: 'at+jwt' });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload).toMatchObject({ iss: ISSUER, aud: ISSUER, sub: 'app', client_id: 'app', scope: 'read' });
    expect(payload.exp! - payload.iat!).toBe(3600);
    expect(payload.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
    // A user's token names the user.
    const user = await userTokens(provider);
    const { payload: up } = await jwtVerify(user.access_token, set, { typ: 'at+jwt' });
    expect(up.sub).toBe('u1');
    expect(user.refresh_token).not.toContain('.');
  });

  it('carry exactly the RFC 9068 header and claims, with iat and exp as whole seconds of now and now + lifetime', async () => {
    const { provider } = jwtProvider();
    const before = Math.floor(Date.now() / 1000);
    const token = await cc(provider);
    const after = Math.floor(Date.now() / 1000);
    const [header, payload] = token
      .split('.')
      .slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>);
    expect(Object.keys(header!).sort()).toEqual(['alg', 'kid', 'typ']);
    expect(header!.typ).toBe('at+jwt');
    expect(Object.keys(payload!)).toEqual(['iss', 'sub', 'aud', 'jti', 'client_id', 'scope', 'iat', 'exp']);
    const iat = payload!.iat as number;
    expect(Number.isInteger(iat)).toBe(true);
    expect(iat).toBeGreaterThanOrEqual(before);
    expect(iat).toBeLessThanOrEqual(after);
    expect(payload!.exp).toBe(iat + 3600);
    // Each token is signed from its own claims: two tokens differ in jti and verify on their own.
    const second = await cc(provider);
    const set = createLocalJWKSet(await jwks(provider));
    const a = await jwtVerify(token, set, { typ: 'at+jwt' });
    const b = await jwtVerify(second, set, { typ: 'at+jwt' });
    expect(a.payload.jti).not.toBe(b.payload.jti);
  });

  it('exp - iat is the lifetime exactly, even when a second ends while the token is built (one clock reading)', async () => {
    const { provider } = jwtProvider();
    await cc(provider); // the key exists and is cached
    // Every reading of the clock from here on is a second later than the one before.
    let t = Math.floor(Date.now() / 1000) * 1000 + 999;
    const clock = vi.spyOn(Date, 'now').mockImplementation(() => (t += 1000));
    try {
      for (let i = 0; i < 3; i++) {
        const claims = decodeJwt(await cc(provider));
        expect(claims.exp! - claims.iat!).toBe(3600);
      }
    } finally {
      clock.mockRestore();
    }
  });

  it('work with the provider own checks, introspection and revocation', async () => {
    const { provider } = jwtProvider();
    const token = await cc(provider);
    const check = () => provider.verifyAccessToken({ method: 'GET', url: '/api', headers: { authorization: `Bearer ${token}` } });
    expect((await check()).ok).toBe(true);
    const intro = () => provider.introspect(form({ token }, { authorization: basic('app', SECRET) }, '/oauth/introspect'));
    expect(json(await intro())).toMatchObject({ active: true, client_id: 'app' });
    await provider.revoke(form({ token }, { authorization: basic('app', SECRET) }, '/oauth/revoke'));
    expect((await check()).ok).toBe(false);
    expect(json(await intro())).toEqual({ active: false });
  });

  it('EdDSA and RS256 on request; metadata advertises jwks_uri; the JWKS is served by handle()', async () => {
    for (const algorithm of ['EdDSA', 'RS256'] as const) {
      const { provider } = jwtProvider({ algorithm });
      const token = await cc(provider);
      expect(decodeProtectedHeader(token).alg).toBe(algorithm);
      await jwtVerify(token, createLocalJWKSet(await jwks(provider)));
    }
    const { provider } = jwtProvider();
    expect(provider.metadataDocument().jwks_uri).toBe(`${ISSUER}/oauth/jwks`);
    const r = await provider.handle({ method: 'GET', url: '/oauth/jwks', headers: {} });
    expect(r?.status).toBe(200);
    expect(r?.headers['Cache-Control']).toBe('public, max-age=30');
    // No private part is ever published.
    for (const k of (await jwks(provider)).keys) expect(k).not.toHaveProperty('d');
  });

  it('keeps private keys encrypted at rest', async () => {
    const { provider, stores } = jwtProvider();
    await cc(provider);
    const [key] = await stores.keys.listKeys();
    expect(key!.privateKey.split('.')).toHaveLength(5); // a compact JWE
    expect(key!.privateKey).not.toContain('"d"');
    expect(JSON.stringify(key)).not.toMatch(/"d":/);
  });

  it('refuses a missing or short key-encryption key, and a lead time not longer than the cache', () => {
    const stores = createMemoryStores();
    const prev = process.env.PORTCULLIS_KEY_ENCRYPTION_KEY;
    delete process.env.PORTCULLIS_KEY_ENCRYPTION_KEY;
    try {
      expect(() => new OAuth2Provider({ issuer: ISSUER, stores, accessTokenFormat: 'jwt' })).toThrow(ConfigurationError);
      expect(() => new OAuth2Provider({ issuer: ISSUER, stores, accessTokenFormat: 'jwt', jwt: { keyEncryptionKey: 'short' } })).toThrow(
        /32 random bytes/,
      );
      expect(
        () =>
          new OAuth2Provider({
            issuer: ISSUER,
            stores,
            accessTokenFormat: 'jwt',
            jwt: { keyEncryptionKey: KEK, rotationLeadTime: 10, keyCacheTtl: 10 },
          }),
      ).toThrow(/rotationLeadTime/);
    } finally {
      if (prev !== undefined) process.env.PORTCULLIS_KEY_ENCRYPTION_KEY = prev;
    }
  });
});

describe('signing key rotation without a restart', () => {
  it('publishes the new key before it signs, then signs with it; the old key stays published while its tokens live', async () => {
    const { provider } = jwtProvider({ rotationLeadTime: 0.4, keyCacheTtl: 0.1 });
    const before = await cc(provider);
    const oldKid = decodeProtectedHeader(before).kid;
    const { kid: newKid, activatesAt } = await provider.rotateSigningKey();
    // Published at once, but not signing yet.
    expect((await jwks(provider)).keys.map((k) => k.kid)).toEqual(expect.arrayContaining([oldKid, newKid]));
    expect(decodeProtectedHeader(await cc(provider)).kid).toBe(oldKid);
    await new Promise((r) => setTimeout(r, activatesAt.getTime() - Date.now() + 150));
    const after = await cc(provider);
    expect(decodeProtectedHeader(after).kid).toBe(newKid);
    // Both tokens verify against the one JWKS a resource server fetches now.
    const set = createLocalJWKSet(await jwks(provider));
    await jwtVerify(before, set);
    await jwtVerify(after, set);
  });

  it('a rotation on an empty key store signs at once: nothing was signed before, so there is no lead time to wait', async () => {
    const { provider } = jwtProvider({ rotationLeadTime: 60, keyCacheTtl: 0.1 });
    const before = Date.now();
    const { kid, activatesAt } = await provider.rotateSigningKey();
    expect(activatesAt.getTime()).toBeLessThanOrEqual(Date.now());
    expect(activatesAt.getTime()).toBeGreaterThanOrEqual(before);
    expect(decodeProtectedHeader(await cc(provider)).kid).toBe(kid);
    // The next rotation has a key to hand over from: it waits the lead time again.
    const second = await provider.rotateSigningKey();
    expect(second.activatesAt.getTime()).toBeGreaterThan(Date.now() + 50_000);
    expect(decodeProtectedHeader(await cc(provider)).kid).toBe(kid);
  });

  it('a rotation with a key-encryption key that does not open the stored keys is refused and adds nothing', async () => {
    const { provider, stores } = jwtProvider({ rotationLeadTime: 60, keyCacheTtl: 0.1 });
    const kid = decodeProtectedHeader(await cc(provider)).kid;
    const wrong = new OAuth2Provider({
      issuer: ISSUER,
      grants: ['client_credentials'],
      stores,
      accessTokenFormat: 'jwt',
      jwt: { keyEncryptionKey: Buffer.alloc(32, 9).toString('base64url'), rotationLeadTime: 60, keyCacheTtl: 0.1 },
    });
    const err = await wrong.rotateSigningKey().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigurationError);
    expect(String((err as Error).message)).not.toContain(Buffer.alloc(32, 9).toString('base64url'));
    expect((await jwks(provider)).keys.map((k) => k.kid)).toEqual([kid]);
    expect(decodeProtectedHeader(await cc(provider)).kid).toBe(kid);
  });

  it('a second provider on the same store (another process) picks the rotation up within the cache interval, with no failed verification', async () => {
    const { provider: a, stores } = jwtProvider({ rotationLeadTime: 0.5, keyCacheTtl: 0.1 });
    const b = new OAuth2Provider({
      issuer: ISSUER,
      grants: ['client_credentials'],
      stores,
      accessTokenFormat: 'jwt',
      jwt: { keyEncryptionKey: KEK, rotationLeadTime: 0.5, keyCacheTtl: 0.1 },
    });
    await cc(a);
    const deadline = Date.now() + 1500;
    let rotated = false;
    const kids = new Set<string>();
    while (Date.now() < deadline) {
      if (!rotated && Date.now() > deadline - 1300) {
        await a.rotateSigningKey();
        rotated = true;
      }
      // Each process issues; a verifier refreshing the JWKS as often as the cache checks both.
      const tokens = [await cc(a), await cc(b)];
      const set = createLocalJWKSet(await jwks(b));
      for (const t of tokens) {
        await jwtVerify(t, set);
        kids.add(decodeProtectedHeader(t).kid!);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(kids.size).toBe(2);
  });
});
