/**
 * DPoP proofs (RFC 9449 section 4.2) for tests that play the client: a key pair with its public
 * JWK and RFC 7638 thumbprint, and compact JWS proofs signed with it by `jose` (header
 * `typ: dpop+jwt`, `alg`, the public `jwk`; claims `jti`, `htm`, `htu`, `iat`, and `ath` /
 * `nonce` when given). Proofs with a broken header are the caller's to build by hand.
 */
import { createHash, randomUUID } from 'node:crypto';
import { type CryptoKey, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';

/** The algorithms {@link dpopKey} makes keys for: ES256 (P-256) or EdDSA (Ed25519). */
export type DpopProofAlgorithm = 'ES256' | 'EdDSA';

/** A client's DPoP key pair, the public JWK proofs carry, and its RFC 7638 SHA-256 thumbprint. */
export interface DpopKey {
  /** The `alg` of the proofs signed with this key. */
  readonly alg: DpopProofAlgorithm;
  /** The private key proofs are signed with (never leaves the test). */
  readonly privateKey: CryptoKey;
  /** The public key as a JWK: the `jwk` header of every proof (no private members). */
  readonly jwk: Readonly<JWK>;
  /** base64url SHA-256 of the JWK's required members (RFC 7638): what `cnf.jkt` / `dpop_jkt` carry. */
  readonly jkt: string;
}

/** A fresh DPoP key: P-256 for `ES256` (the default), Ed25519 for `EdDSA`. */
export async function dpopKey(alg: DpopProofAlgorithm = 'ES256'): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
  const { kty, crv, x, y } = await exportJWK(publicKey);
  const jwk: JWK = y === undefined ? { kty, crv, x } : { kty, crv, x, y };
  return { alg, privateKey, jwk, jkt: await calculateJwkThumbprint(jwk, 'sha256') };
}

/** base64url(SHA-256(access token)): the `ath` claim of a proof sent with that token (RFC 9449 section 4.2). */
export function dpopAth(accessToken: string): string {
  return createHash('sha256').update(accessToken).digest('base64url');
}

/** What a proof may carry beyond `htm` and `htu`, and overrides of the claims normally made fresh. */
export interface DpopProofClaims {
  /** The access token sent with the proof: adds `ath` = {@link dpopAth} of it. */
  readonly accessToken?: string;
  /** The server's `DPoP-Nonce`, as the `nonce` claim. */
  readonly nonce?: string;
  /** The `jti` (default a random UUID): give one to replay an identifier. */
  readonly jti?: string;
  /** The `iat` in seconds since the epoch (default now): give one for stale or future proofs. */
  readonly iat?: number;
}

/** A compact JWS DPoP proof for a request of method `htm` to `htu`, signed with `key`. */
export async function dpopProof(key: DpopKey, htm: string, htu: string, claims: DpopProofClaims = {}): Promise<string> {
  return new SignJWT({
    htm,
    htu,
    ...(claims.accessToken !== undefined ? { ath: dpopAth(claims.accessToken) } : {}),
    ...(claims.nonce !== undefined ? { nonce: claims.nonce } : {}),
  })
    .setProtectedHeader({ typ: 'dpop+jwt', alg: key.alg, jwk: { ...key.jwk } })
    .setJti(claims.jti ?? randomUUID())
    .setIssuedAt(claims.iat ?? Math.floor(Date.now() / 1000))
    .sign(key.privateKey);
}
