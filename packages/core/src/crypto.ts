import * as nodeCrypto from 'node:crypto';
import { createHash, createHmac, randomBytes, randomFillSync, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';

// One-shot SHA-256 (Node >= 20.12 has crypto.hash: no Hash object per call); falls back to createHash.
const oneShot = (nodeCrypto as { hash?: (alg: string, data: string, enc: 'base64url') => string }).hash;
function sha256(data: string): string {
  return oneShot ? oneShot('sha256', data, 'base64url') : createHash('sha256').update(data).digest('base64url');
}

// Random bytes are drawn from a pool refilled 8 KiB at a time: one getrandom() call serves 256
// tokens instead of one (it was the largest cost of the token endpoint). Each byte is used once.
const POOL_SIZE = 8192;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let poolOffset = POOL_SIZE;

/** A new opaque token: `bytes` random bytes (CSPRNG) as base64url (32 bytes = 43 characters). */
export function randomToken(bytes = 32): string {
  if (bytes > POOL_SIZE / 4) return randomBytes(bytes).toString('base64url');
  if (poolOffset + bytes > POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const token = pool.toString('base64url', poolOffset, poolOffset + bytes);
  // Never leave used bytes readable in the pool.
  pool.fill(0, poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return token;
}

/**
 * The digest a store keeps in place of a code or token (SHA-256, base64url, 43 characters).
 * Tokens are 256 random bits, so an unsalted digest is enough: a leaked table grants nothing.
 */
export function digestToken(token: string): string {
  return sha256(token);
}

/** A new high-entropy client secret (32 random bytes, base64url). */
export function generateClientSecret(): string {
  return randomToken(32);
}

const SHA_PREFIX = 'sha256$';
/** Earlier format of `hashSecret`, still verified. */
const HMAC_PREFIX = 'hmac-sha256$';
const SCRYPT_PREFIX = 'scrypt$';
const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 } as const;

/** Shortest secret `hashSecret` takes: a generated secret has 43 characters (256 bits). */
const MIN_GENERATED_SECRET = 32;

/**
 * Hash of a secret the provider generated (high entropy, e.g. from `generateClientSecret()`):
 * salted SHA-256 (`sha256$<salt>$<digest>`), a few microseconds per token request. A 256-bit
 * random secret cannot be brute-forced from it; use `hashPassword` for anything a human chose.
 * @throws TypeError for a secret under 32 characters (not a generated one): use `hashPassword`.
 */
export function hashSecret(secret: string): string {
  if (typeof secret !== 'string' || secret.length < MIN_GENERATED_SECRET) {
    throw new TypeError(
      `Portcullis: hashSecret is for generated secrets of ${MIN_GENERATED_SECRET} characters or more (generateClientSecret() makes 43); a fast hash of a shorter secret can be brute-forced. Hash a human-chosen secret with hashPassword() instead.`,
    );
  }
  const salt = randomToken(16);
  return `${SHA_PREFIX}${salt}$${sha256(salt + secret)}`;
}

function scrypt(password: string, salt: string, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password, salt, SCRYPT.keylen, { N, r, p, maxmem: 256 * N * r }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Slow, salted hash (scrypt) of a human-chosen password or client secret. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16).toString('base64url');
  const key = await scrypt(password, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p);
  return `${SCRYPT_PREFIX}${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt}$${key.toString('base64url')}`;
}

function equal(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Verifies a presented secret against a hash from `hashSecret` or `hashPassword`, in constant
 * time. An unknown hash format is `false`, never a throw.
 */
export function verifySecret(presented: string, hash: string): boolean | Promise<boolean> {
  if (hash.startsWith(SHA_PREFIX)) {
    const dollar = hash.indexOf('$', SHA_PREFIX.length);
    if (dollar === -1) return false;
    // The salt has a fixed length (22 characters), so salt + secret is unambiguous.
    return safeEqual(sha256(hash.slice(SHA_PREFIX.length, dollar) + presented), hash.slice(dollar + 1));
  }
  if (hash.startsWith(HMAC_PREFIX)) {
    const [salt, digest] = hash.slice(HMAC_PREFIX.length).split('$');
    if (!salt || !digest) return false;
    const actual = createHmac('sha256', salt).update(presented).digest();
    return equal(actual, Buffer.from(digest, 'base64url'));
  }
  if (hash.startsWith(SCRYPT_PREFIX)) {
    const [n, r, p, salt, key] = hash.slice(SCRYPT_PREFIX.length).split('$');
    const N = Number(n);
    const R = Number(r);
    const P = Number(p);
    if (!salt || !key || !(N > 1 && R > 0 && P > 0) || N > 2 ** 20) return false;
    return scrypt(presented, salt, N, R, P).then(
      (actual) => equal(actual, Buffer.from(key, 'base64url')),
      () => false,
    );
  }
  return false;
}

/** A dummy scrypt hash, verified when a username is unknown so timing does not reveal it. */
let dummyHash: Promise<string> | undefined;
export function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hashPassword(randomToken());
  return dummyHash;
}

/** Constant-time string comparison (for PKCE verifiers and the like). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** PKCE S256 transform (RFC 7636 section 4.2). */
export function s256(verifier: string): string {
  return sha256(verifier);
}
