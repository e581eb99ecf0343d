/**
 * DPoP proofs (RFC 9449 section 4.2) for the tests, signed ES256 with node:crypto (no JOSE
 * library in this package): header `typ: dpop+jwt`, `alg: ES256`, the public `jwk`; claims `jti`,
 * `htm`, `htu`, `iat`, and `ath`/`nonce` when given.
 */
import { createHash, generateKeyPairSync, type KeyObject, randomUUID, sign } from 'node:crypto';

/** A client's DPoP key pair, its public JWK and its RFC 7638 SHA-256 thumbprint. */
export interface DpopKey {
  readonly privateKey: KeyObject;
  readonly jwk: { readonly kty: string; readonly crv: string; readonly x: string; readonly y: string };
  /** base64url SHA-256 of the JWK's required members in lexicographic order (RFC 7638). */
  readonly jkt: string;
}

/** A fresh P-256 key. */
export function dpopKey(): DpopKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
  if (kty !== 'EC' || typeof crv !== 'string' || typeof x !== 'string' || typeof y !== 'string') throw new Error('not an EC key');
  const jkt = createHash('sha256').update(JSON.stringify({ crv, kty, x, y })).digest('base64url');
  return { privateKey, jwk: { kty, crv, x, y }, jkt };
}

/** base64url(SHA-256(access token)): the `ath` claim. */
export function ath(accessToken: string): string {
  return createHash('sha256').update(accessToken).digest('base64url');
}

/** What a proof may carry beyond `htm` and `htu`. */
export interface ProofClaims {
  readonly accessToken?: string;
  readonly nonce?: string;
  readonly jti?: string;
  readonly iat?: number;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A compact JWS DPoP proof for `htm` `htu`, signed with `key`. */
export function proof(key: DpopKey, htm: string, htu: string, claims: ProofClaims = {}): string {
  const header = b64({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk });
  const payload = b64({
    jti: claims.jti ?? randomUUID(),
    htm,
    htu,
    iat: claims.iat ?? Math.floor(Date.now() / 1000),
    ...(claims.accessToken !== undefined ? { ath: ath(claims.accessToken) } : {}),
    ...(claims.nonce !== undefined ? { nonce: claims.nonce } : {}),
  });
  const input = `${header}.${payload}`;
  const sig = sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  return `${input}.${sig}`;
}
