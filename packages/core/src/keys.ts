/**
 * Signing keys of JWT access tokens: generation (jose), encryption of private keys at rest, the
 * cached key set each process reads, the current signing key, the published JWKS and rotation.
 *
 * Rotation without a restart: `rotate()` adds a key that is published at once but signs only
 * after the lead time, and retires the current key at that moment. Every process re-reads the key
 * set within `keyCacheTtl`, so with a lead time longer than that, every verifier that refreshes
 * its JWKS at least as often has the new key before the first token it signed exists. A retired
 * key stays published until every token it signed has expired (`retiresAt` + access lifetime).
 */
import { CompactEncrypt, CompactSign, compactDecrypt, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type { KeyStore, SigningAlgorithm, SigningKeyRecord } from './contract.js';
import { randomToken } from './crypto.js';
import { ConfigurationError } from './errors.js';

const UTF8 = new TextEncoder();

/** The JWT settings, resolved. */
export interface JwtSettings {
  readonly algorithm: SigningAlgorithm;
  /** 32 bytes, the key-encryption key for private keys at rest. */
  readonly keyEncryptionKey: Uint8Array;
  /** Seconds a new key is published before it signs. */
  readonly rotationLeadTime: number;
  /** Seconds each process keeps the key set before reading it again. */
  readonly keyCacheTtl: number;
  /** `aud` of tokens issued without a resource indicator. */
  readonly audience: string;
}

type SigningKey = { kid: string; alg: SigningAlgorithm; key: Awaited<ReturnType<typeof importJWK>> };

/** Reads the operator's key-encryption key: 32 bytes as base64url (43 characters) or hex (64). */
export function parseKeyEncryptionKey(value: string, from: string): Uint8Array {
  const bytes = /^[0-9a-fA-F]{64}$/.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64url');
  if (bytes.length !== 32) {
    throw new ConfigurationError(
      `Portcullis: ${from} must be 32 random bytes as base64url (43 characters) or hex (64); generate one with generateClientSecret()`,
    );
  }
  return new Uint8Array(bytes);
}

async function encryptPrivate(jwk: JWK, kek: Uint8Array): Promise<string> {
  return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(jwk))).setProtectedHeader({ alg: 'dir', enc: 'A256GCM' }).encrypt(kek);
}

async function decryptPrivate(jwe: string, kek: Uint8Array): Promise<JWK> {
  const { plaintext } = await compactDecrypt(jwe, kek, { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] });
  return JSON.parse(new TextDecoder().decode(plaintext)) as JWK;
}

/** A new signing key record (private part encrypted) that is published now and signs from `activatesAt`. */
export async function createSigningKey(
  alg: SigningAlgorithm,
  kek: Uint8Array,
  activatesAt: Date,
  now = new Date(),
): Promise<SigningKeyRecord> {
  const { publicKey, privateKey } = await generateKeyPair(
    alg,
    alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : { extractable: true },
  );
  const kid = randomToken(12);
  const pub = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  const priv = { ...(await exportJWK(privateKey)), kid, alg };
  return { kid, alg, publicJwk: pub, privateKey: await encryptPrivate(priv, kek), createdAt: now, activatesAt, retiresAt: null };
}

/** The key that signs at `now`: of the active, unretired keys, the one that activated last. */
export function signingKeyAt(keys: readonly SigningKeyRecord[], now: number): SigningKeyRecord | null {
  let best: SigningKeyRecord | null = null;
  for (const k of keys) {
    if (k.activatesAt.getTime() > now) continue;
    if (k.retiresAt !== null && k.retiresAt.getTime() <= now) continue;
    if (!best || k.activatesAt.getTime() > best.activatesAt.getTime()) best = k;
  }
  return best;
}

/** The keys a verifier needs at `now`: every key published and not yet past retirement plus the token lifetime. */
export function publishedAt(keys: readonly SigningKeyRecord[], now: number, accessLifetime: number): SigningKeyRecord[] {
  return keys
    .filter((k) => k.createdAt.getTime() <= now && (k.retiresAt === null || k.retiresAt.getTime() + accessLifetime * 1000 > now))
    .sort((a, b) => b.activatesAt.getTime() - a.activatesAt.getTime());
}

/** One provider's view of its key store, cached for `keyCacheTtl`. */
export class KeyRing {
  private cached: { at: number; keys: readonly SigningKeyRecord[] } | null = null;
  private loading: Promise<readonly SigningKeyRecord[]> | null = null;
  private readonly imported = new Map<string, Promise<SigningKey>>();
  /** The imported keys that are ready, by kid (a kid's key never changes): signing needs no tick. */
  private readonly ready = new Map<string, SigningKey>();

  constructor(
    private readonly store: () => KeyStore | undefined,
    private readonly settings: JwtSettings,
    private readonly accessLifetime: number,
  ) {}

  /** The first key's creation while it runs, so concurrent first requests make one key. */
  private bootstrapping: Promise<void> | null = null;

  private keyStore(): KeyStore {
    const s = this.store();
    if (!s) throw new ConfigurationError("Portcullis: JWT access tokens need a key store: useStores({ keys }) or a binding's");
    return s;
  }

  /** The key set, from the cache while it is fresh. */
  async keys(now = Date.now()): Promise<readonly SigningKeyRecord[]> {
    if (this.cached && now - this.cached.at < this.settings.keyCacheTtl * 1000) return this.cached.keys;
    this.loading ??= this.keyStore()
      .listKeys()
      .then(
        (keys) => {
          this.cached = { at: Date.now(), keys };
          this.loading = null;
          return keys;
        },
        (err: unknown) => {
          this.loading = null;
          throw err;
        },
      );
    return this.loading;
  }

  /** Forgets the cached key set (after this process changed it). */
  invalidate(): void {
    this.cached = null;
  }

  /** The key signing now; the first key is created (active at once) when the store has none. */
  async signingKey(): Promise<SigningKey> {
    const now = Date.now();
    let record = signingKeyAt(await this.keys(now), now);
    if (!record) {
      const all = await this.keys(now);
      if (all.length === 0) {
        // Bootstrapping: no key anywhere yet. Concurrent requests of this process wait for one
        // creation. Two processes may both add one; both are published, and the later activation
        // signs everywhere once the caches agree.
        this.bootstrapping ??= (async () => {
          await this.keyStore().addKey(
            await createSigningKey(this.settings.algorithm, this.settings.keyEncryptionKey, new Date(now), new Date(now)),
          );
          this.invalidate();
        })().finally(() => {
          this.bootstrapping = null;
        });
        await this.bootstrapping;
        record = signingKeyAt(await this.keys(), Date.now());
      }
      if (!record) throw new ConfigurationError('Portcullis: no signing key is active yet (a new key is still within its lead time)');
    }
    return this.importKey(record);
  }

  private importKey(record: SigningKeyRecord): Promise<SigningKey> {
    let p = this.imported.get(record.kid);
    if (!p) {
      p = decryptPrivate(record.privateKey, this.settings.keyEncryptionKey).then(async (jwk) => {
        const key: SigningKey = { kid: record.kid, alg: record.alg, key: await importJWK(jwk, record.alg) };
        this.ready.set(record.kid, key);
        return key;
      });
      this.imported.set(record.kid, p);
      p.catch(() => this.imported.delete(record.kid));
    }
    return p;
  }

  /** The JWKS document: every published key's public JWK. */
  async jwks(): Promise<{ keys: Record<string, unknown>[] }> {
    const now = Date.now();
    return { keys: publishedAt(await this.keys(now), now, this.accessLifetime).map((k) => ({ ...k.publicJwk })) };
  }

  /**
   * Rotates: adds a key that signs after the lead time and retires the current one at that moment.
   * @returns the new key's id and when it starts signing.
   */
  async rotate(): Promise<{ kid: string; activatesAt: Date }> {
    const now = Date.now();
    const keys = await this.keys(now);
    // With no key at all nothing was ever signed, so no verifier can hold a token of an older key:
    // the first key signs at once (a verifier that has not seen it yet refreshes its key set on the
    // unknown kid). Waiting the lead time would only leave the provider unable to issue tokens.
    const activatesAt = new Date(keys.length === 0 ? now : now + this.settings.rotationLeadTime * 1000);
    const current = signingKeyAt(keys, now);
    // The key-encryption key must open the keys already stored: a rotation run with another one
    // (an operator tool with the wrong setting) would add a key no process can decrypt, and signing
    // would fail everywhere once it activates. Refused before anything is written.
    if (current) {
      try {
        await decryptPrivate(current.privateKey, this.settings.keyEncryptionKey);
      } catch {
        throw new ConfigurationError(
          'Portcullis: the key-encryption key does not open the signing keys in the store; no key was added (check jwt.keyEncryptionKey)',
        );
      }
    }
    const record = await createSigningKey(this.settings.algorithm, this.settings.keyEncryptionKey, activatesAt, new Date(now));
    await this.keyStore().addKey(record);
    if (current) await this.keyStore().retireKey(current.kid, activatesAt);
    this.invalidate();
    return { kid: record.kid, activatesAt };
  }

  /**
   * The key signing now, at once, when the cached key set is fresh and that key is imported (every
   * request but the first few after a start or a key set refresh); else `null`.
   */
  private signingKeyNow(now: number): SigningKey | null {
    const c = this.cached;
    if (c === null || now - c.at >= this.settings.keyCacheTtl * 1000) return null;
    const record = signingKeyAt(c.keys, now);
    return record === null ? null : (this.ready.get(record.kid) ?? null);
  }

  /**
   * Signs an RFC 9068 access token with the current key. `claims` (a new object per token, built
   * by the caller from strings) gets `iat` and `exp`, as whole seconds, and is signed as it is, with
   * jose's JWS signing: jose's `SignJWT` would deep-copy the claims (`structuredClone`) and check
   * each of them again on every token, for claims that are ours and already well-formed.
   * `issuedAt` and `expiresAt` are epoch milliseconds from one clock reading of the caller, so that
   * `exp - iat` is the lifetime exactly, even when a second ends between the two.
   */
  async sign(claims: Record<string, unknown>, issuedAt: number, expiresAt: number): Promise<string> {
    const k = this.signingKeyNow(issuedAt) ?? (await this.signingKey());
    claims.iat = Math.floor(issuedAt / 1000);
    claims.exp = Math.floor(expiresAt / 1000);
    return new CompactSign(UTF8.encode(JSON.stringify(claims))).setProtectedHeader({ alg: k.alg, kid: k.kid, typ: 'at+jwt' }).sign(k.key);
  }
}
