/**
 * The verified-token cache (`verifiedTokenCache`): a hit answers the very same frozen result, an
 * entry is never served past the token's `exp` (a real 2 s token from a core provider) or the
 * JWKS cache age, the cache is bounded, failed tokens are never cached, and scopes are checked on
 * every call. A hit is seen as the identical `VerifiedToken` object: a fresh check builds a new one.
 */

import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, type VerifyResult } from '../src/index.js';
import { tokenDigest, tokenDigestSync, webCryptoDigest } from '../src/introspection.js';
import { startOwnIssuer, startProvider } from './servers.js';

const AUD = 'https://api.example';
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c();
});

function tokenOf(r: VerifyResult) {
  if (!r.ok) throw new Error(`expected a verified token, got ${r.status} ${r.error}`);
  return r.token;
}

describe('verifiedTokenCache', () => {
  let own: Awaited<ReturnType<typeof startOwnIssuer>>;
  beforeAll(async () => {
    own = await startOwnIssuer();
    closers.push(own.close);
  });

  it('a hit returns the same (frozen) result; with the cache off every call verifies again', async () => {
    const cached = createVerifier({ issuer: own.issuer, audience: AUD, jwksUri: own.jwksUri });
    const uncached = createVerifier({ issuer: own.issuer, audience: AUD, jwksUri: own.jwksUri, verifiedTokenCache: false });
    const t = await own.sign({ scope: 'read write', extra: { nested: ['x'] } });
    const first = tokenOf(await cached.verify(t, ['read']));
    const second = tokenOf(await cached.verify(t, ['read']));
    expect(second).toBe(first);
    expect(second).toMatchObject({ clientId: 'app', scopes: ['read', 'write'], source: 'jwt' });
    // Shared between requests, so nothing in it can be changed by one of them.
    expect(Object.isFrozen(first) && Object.isFrozen(first.scopes) && Object.isFrozen(first.claims)).toBe(true);
    expect(Object.isFrozen((first.claims.extra as { nested: string[] }).nested)).toBe(true);
    const a = tokenOf(await uncached.verify(t));
    const b = tokenOf(await uncached.verify(t));
    expect(b).not.toBe(a);
    expect(b).toEqual(a);
  });

  it('scopes are checked on every call, hit or not', async () => {
    const verifier = createVerifier({ issuer: own.issuer, audience: AUD, jwksUri: own.jwksUri });
    const t = await own.sign({ scope: 'read' });
    const first = tokenOf(await verifier.verify(t, ['read']));
    expect(await verifier.verify(t, ['write'])).toMatchObject({ ok: false, status: 403, error: 'insufficient_scope' });
    expect(await verifier.verify(t, ['read', 'write'])).toMatchObject({ ok: false, status: 403 });
    expect(tokenOf(await verifier.verify(t, ['read']))).toBe(first);
    expect(tokenOf(await verifier.verify(t))).toBe(first);
  });

  it('is bounded: the least recently used entry goes first', async () => {
    const verifier = createVerifier({ issuer: own.issuer, audience: AUD, jwksUri: own.jwksUri, verifiedTokenCache: { maxEntries: 2 } });
    const [ta, tb, tc] = [await own.sign({ jti: 'a' }), await own.sign({ jti: 'b' }), await own.sign({ jti: 'c' })];
    const a = tokenOf(await verifier.verify(ta));
    const b = tokenOf(await verifier.verify(tb));
    expect(tokenOf(await verifier.verify(ta))).toBe(a); // a is now the most recently used
    const c = tokenOf(await verifier.verify(tc)); // pushes b out
    expect(tokenOf(await verifier.verify(ta))).toBe(a);
    expect(tokenOf(await verifier.verify(tc))).toBe(c);
    const b2 = tokenOf(await verifier.verify(tb));
    expect(b2).not.toBe(b);
    expect(b2).toEqual(b);
  });

  it('never caches a failed token: a bad signature stays refused and evicts nothing', async () => {
    const verifier = createVerifier({ issuer: own.issuer, audience: AUD, jwksUri: own.jwksUri, verifiedTokenCache: { maxEntries: 2 } });
    const ta = await own.sign({ jti: 'a' });
    const tb = await own.sign({ jti: 'b' });
    const a = tokenOf(await verifier.verify(ta));
    const b = tokenOf(await verifier.verify(tb));
    const [h, p, s] = ta.split('.') as [string, string, string];
    // Same header and payload as a cached token, another signature: keyed by the whole token.
    const flipped = `${h}.${p}.${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
    const bad = [
      flipped,
      `${h}.${p}.`,
      await own.sign({ jti: 'x', aud: 'https://other.example' }),
      await own.sign({ jti: 'y' }, { typ: 'JWT' }),
      await own.sign({ jti: 'z', exp: Math.floor(Date.now() / 1000) - 120 }),
    ];
    for (let round = 0; round < 2; round++) {
      for (const t of bad) expect(await verifier.verify(t)).toMatchObject({ ok: false, status: 401, error: 'invalid_token' });
    }
    expect(tokenOf(await verifier.verify(ta))).toBe(a);
    expect(tokenOf(await verifier.verify(tb))).toBe(b);
  });

  it('an entry ends with the JWKS cache age (jwks.cacheMaxAge), even before exp', async () => {
    const verifier = createVerifier({ issuer: own.issuer, audience: AUD, jwksUri: own.jwksUri, jwks: { cacheMaxAge: 200 } });
    const t = await own.sign();
    const first = tokenOf(await verifier.verify(t));
    expect(tokenOf(await verifier.verify(t))).toBe(first);
    await new Promise((r) => setTimeout(r, 300));
    const again = tokenOf(await verifier.verify(t));
    expect(again).not.toBe(first);
  });

  it('is never served past exp: a real 2 s token from a core provider is refused once expired', async () => {
    const as = await startProvider({ audience: AUD, lifetimes: { accessToken: 2 } });
    closers.push(as.close);
    const verifier = createVerifier({ issuer: as.issuer, audience: AUD, clockTolerance: 0 });
    const token = await as.token();
    const first = tokenOf(await verifier.verify(token, ['read']));
    expect(tokenOf(await verifier.verify(token, ['read']))).toBe(first);
    const exp = first.expiresAt!.getTime();
    await new Promise((r) => setTimeout(r, Math.max(0, exp - Date.now()) + 100));
    expect(await verifier.verify(token, ['read'])).toMatchObject({
      ok: false,
      status: 401,
      error: 'invalid_token',
      description: 'The access token expired',
    });
  });

  it('the cache key: SHA-256 of the whole token, the same on the node:crypto and the Web Crypto paths', async () => {
    for (const t of ['', 'a.b.c', 'ünï\u{1F600}.x.y', 'z'.repeat(9000)]) {
      const expected = createHash('sha256').update(t, 'utf8').digest('hex');
      expect(await tokenDigest(t)).toBe(expected);
      expect(await webCryptoDigest(t)).toBe(expected);
      // Node computes it at once (no promise per request on the cache's path).
      expect(tokenDigestSync(t)).toBe(expected);
    }
  });

  it('only a token of exactly three dot-separated parts is checked as a JWT; others are refused, never cached', async () => {
    const verifier = createVerifier({ issuer: own.issuer, audience: AUD, jwksUri: own.jwksUri });
    const t = await own.sign({ scope: 'read' });
    const first = tokenOf(await verifier.verify(t, ['read']));
    const [h, p, sig] = t.split('.');
    for (const bad of [`${h}.${p}`, `${t}.`, `.${t}`, `${h}.${p}.${sig}.${sig}`, `${h}..${p}.${sig}`, `${h}${p}${sig}`, '..', '...']) {
      expect(await verifier.verify(bad, ['read'])).toMatchObject({ ok: false, status: 401, error: 'invalid_token' });
    }
    // The good token is still the cached answer: none of the variants took its place.
    expect(tokenOf(await verifier.verify(t, ['read']))).toBe(first);
  });

  it('refuses invalid settings', () => {
    const base = { issuer: own.issuer, audience: AUD, jwksUri: own.jwksUri };
    for (const maxEntries of [0, -1, 1.5, Number.NaN, 1_000_001]) {
      expect(() => createVerifier({ ...base, verifiedTokenCache: { maxEntries } })).toThrow(TypeError);
    }
    expect(() => createVerifier({ ...base, verifiedTokenCache: true as unknown as false })).toThrow(TypeError);
    expect(() => createVerifier({ ...base, verifiedTokenCache: null as unknown as false })).toThrow(TypeError);
    expect(() => createVerifier({ ...base, verifiedTokenCache: {} })).not.toThrow();
  });
});
