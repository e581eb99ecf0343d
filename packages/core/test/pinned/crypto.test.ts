/**
 * crypto.ts on its own: token and secret formats, every malformed stored hash answered `false`
 * (never a throw, never a truthy non-boolean), and the random pool across its refills.
 */
import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { digestToken, generateClientSecret, hashPassword, hashSecret, randomToken, s256, verifySecret } from '../../src/crypto.js';

const B64URL = /^[A-Za-z0-9_-]+$/;

describe('digests', () => {
  it('digestToken and s256 are SHA-256 in base64url', () => {
    const want = createHash('sha256').update('abc').digest('base64url');
    expect(digestToken('abc')).toBe(want);
    expect(s256('abc')).toBe(want);
  });
});

describe('randomToken', () => {
  it('gives 43 characters for 32 bytes and 22 for 16, all distinct across several pool refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 700; i++) {
      const t = randomToken();
      expect(t).toMatch(B64URL);
      expect(t).toHaveLength(43);
      seen.add(t);
    }
    expect(seen.size).toBe(700);
    expect(randomToken(16)).toHaveLength(22);
  });
  it('serves sizes larger than the pool', () => {
    expect(randomToken(9000)).toHaveLength(12000);
    expect(randomToken(3000)).toHaveLength(4000);
  });
  it('generateClientSecret is a 43-character random token', () => {
    const a = generateClientSecret();
    expect(a).toMatch(B64URL);
    expect(a).toHaveLength(43);
    expect(generateClientSecret()).not.toBe(a);
  });
});

describe('hashSecret and verifySecret', () => {
  it('makes sha256$<22-character salt>$<43-character digest>, salted anew each time', () => {
    const s = generateClientSecret();
    const h = hashSecret(s);
    expect(h).toMatch(/^sha256\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(hashSecret(s)).not.toBe(h);
    expect(verifySecret(s, h)).toBe(true);
    expect(verifySecret(`${s}x`, h)).toBe(false);
  });
  it('takes generated secrets of 32 characters or more, and refuses shorter ones and non-strings', () => {
    const at = 'a'.repeat(32);
    expect(verifySecret(at, hashSecret(at))).toBe(true);
    for (const bad of ['a'.repeat(31), '', 42, undefined]) {
      expect(() => hashSecret(bad as string), String(bad)).toThrow(TypeError);
      expect(() => hashSecret(bad as string)).toThrow(/^Portcullis: hashSecret is for generated secrets of 32 characters or more/);
    }
  });
  it('answers false (not a throw) for a stored digest or key of the wrong length', async () => {
    expect(verifySecret('s3cret', 'hmac-sha256$salty$AAAA')).toBe(false);
    expect(verifySecret('s3cret', `sha256$${'A'.repeat(22)}$AAAA`)).toBe(false);
    const good = await hashPassword('pw');
    const short = good.replace(/\$[^$]+$/, '$AAAA');
    expect(await verifySecret('pw', short)).toBe(false);
  });
  it('verifies the earlier hmac-sha256 format', () => {
    const h = `hmac-sha256$salty$${createHmac('sha256', 'salty').update('s3cret').digest('base64url')}`;
    expect(verifySecret('s3cret', h)).toBe(true);
    expect(verifySecret('s3cret!', h)).toBe(false);
  });
  it('answers false (not a throw) for malformed hashes', () => {
    for (const h of ['sha256$nodollar', 'hmac-sha256$', 'hmac-sha256$salt', 'hmac-sha256$$digest', 'md5$x$y', '', 'plain-text']) {
      expect(verifySecret('s3cret', h), h).toBe(false);
    }
  });
});

describe('hashPassword and verifySecret', () => {
  it('makes scrypt$16384$8$1$<salt>$<key> and verifies it', async () => {
    const h = await hashPassword('correct horse');
    expect(h).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(await verifySecret('correct horse', h)).toBe(true);
    expect(await verifySecret('correct horsf', h)).toBe(false);
  });
  it('answers false for scrypt hashes with missing parts or parameters out of range', async () => {
    const good = await hashPassword('pw');
    const [, n, r, p, salt, key] = good.split('$');
    const bad = [
      `scrypt$${n}$${r}$${p}$$${key}`,
      `scrypt$${n}$${r}$${p}$${salt}$`,
      `scrypt$1$${r}$${p}$${salt}$${key}`,
      `scrypt$${n}$0$${p}$${salt}$${key}`,
      `scrypt$${n}$${r}$0$${salt}$${key}`,
      `scrypt$${2 ** 21}$${r}$${p}$${salt}$${key}`,
      `scrypt$x$${r}$${p}$${salt}$${key}`,
      // Accepted by the range checks, refused by scrypt itself (N must be a power of two).
      `scrypt$3$${r}$${p}$${salt}$${key}`,
    ];
    for (const h of bad) expect(await verifySecret('pw', h), h).toBe(false);
    expect(await verifySecret('pw', `scrypt$${n}$${r}$${p}$${salt}$${key}`)).toBe(true);
  });
});
