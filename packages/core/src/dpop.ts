/**
 * DPoP proofs (RFC 9449 section 4.3): the checks every DPoP-aware endpoint runs on the `DPoP`
 * header, with `jose` for the signature and the JWK thumbprint, the ephemeral store for replay
 * (`dpop:` keys), and optional server nonces (section 8) derived from a shared secret, so every
 * process accepts the nonces any other handed out.
 */
import { createHash, createHmac } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, type JWK, jwtVerify } from 'jose';
import type { Client, User } from './contract.js';
import { digestToken, safeEqual } from './crypto.js';
import type { Engine } from './engine.js';
import { InvalidDpopProofError, type OAuthError, UseDpopNonceError } from './errors.js';
import type { OAuthRequest } from './http.js';

export type { DpopAlgorithm, DpopSettings } from './options.js';

/** Longest `DPoP` header accepted, in characters; longer is refused unread. */
export const MAX_PROOF_LENGTH = 8192;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
/** A JWK SHA-256 thumbprint (RFC 7638), as `dpop_jkt` and `cnf.jkt` carry it. */
export const JKT = /^[A-Za-z0-9_-]{43}$/;

/** What a valid proof proves. */
export interface DpopProof {
  /** The JWK SHA-256 thumbprint of the proof's key (RFC 9449 section 6.1). */
  readonly jkt: string;
}

/** Where a proof was presented: what `htm`, `htu` and `ath` must match. */
export interface ProofTarget {
  /** The URLs the request may have been sent to (origin and path; query and fragment are ignored). */
  readonly urls: readonly string[];
  /** The access token presented with the proof (resource requests), for `ath`; `null` at the token endpoint. */
  readonly accessToken: string | null;
  /** Status of the errors: 400 at the authorization server's endpoints, 401 at resources. */
  readonly status: 400 | 401;
}

/** `origin + pathname` of a URL, normalized (RFC 3986 syntax- and scheme-based), or `null`. */
export function htuOf(url: string): string | null {
  try {
    const u = new URL(url);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return null;
    return u.origin + u.pathname;
  } catch {
    return null;
  }
}

/** The nonce current at `at` (ms), and the previous one (also accepted). */
function nonceAt(key: Buffer, lifetime: number, at: number): string {
  const slot = Math.floor(at / (lifetime * 1000));
  return createHmac('sha256', key).update(`dpop-nonce:${slot}`).digest('base64url');
}

/** The nonce to hand out now (`DPoP-Nonce`), or `null` when nonces are off. */
export function currentNonce(e: Engine): string | null {
  const n = e.o.dpop.nonce;
  return n ? nonceAt(n.key, n.lifetime, Date.now()) : null;
}

/** The `DPoP-Nonce` header to add to an answer, or `undefined`. */
export function nonceHeader(e: Engine): Record<string, string> | undefined {
  const n = currentNonce(e);
  return n === null ? undefined : { 'DPoP-Nonce': n };
}

function validNonce(e: Engine, value: unknown): boolean {
  const n = e.o.dpop.nonce!;
  if (typeof value !== 'string' || value.length !== 43) return false;
  const now = Date.now();
  return safeEqual(value, nonceAt(n.key, n.lifetime, now)) || safeEqual(value, nonceAt(n.key, n.lifetime, now - n.lifetime * 1000));
}

/** The single `DPoP` header value, `null` when absent, or an error for repeats and malformed values. */
function proofHeader(req: OAuthRequest, status: 400 | 401): string | null | OAuthError {
  const v = req.headers.dpop;
  if (v === undefined) return null;
  const values = typeof v === 'string' ? [v] : v;
  // Node joins repeated headers it does not know with ", "; a compact JWS has neither.
  if (values.length !== 1 || values[0]!.includes(',')) {
    return new InvalidDpopProofError('Send exactly one DPoP header', status);
  }
  const proof = values[0]!.trim();
  if (proof.length > MAX_PROOF_LENGTH || !COMPACT_JWS.test(proof)) {
    return new InvalidDpopProofError('The DPoP proof is not a compact JWS', status);
  }
  return proof;
}

/** base64url(SHA-256(access token)): the `ath` claim (RFC 9449 section 4.2). */
export function accessTokenHash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/**
 * Checks the request's DPoP proof (RFC 9449 section 4.3) and records its `jti` so that it is
 * refused if presented again within its lifetime.
 * @returns the proof's key thumbprint; `null` when the request carries no `DPoP` header; or the
 *   error to answer (`invalid_dpop_proof`, or `use_dpop_nonce` with a fresh `DPoP-Nonce`).
 */
export async function checkProof<U extends User, C extends Client>(
  e: Engine<U, C>,
  req: OAuthRequest,
  target: ProofTarget,
): Promise<DpopProof | null | OAuthError> {
  const s = e.o.dpop;
  const status = target.status;
  const proof = proofHeader(req, status);
  if (proof === null || typeof proof !== 'string') return proof;
  const bad = (why: string) => new InvalidDpopProofError(why, status);
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    return bad('The DPoP proof header is malformed');
  }
  // Section 4.3 points 4 to 7: typ, an asymmetric algorithm this server accepts, a public JWK.
  if (header.typ !== 'dpop+jwt') return bad('The DPoP proof typ must be dpop+jwt');
  if (typeof header.alg !== 'string' || !(s.algorithms as readonly string[]).includes(header.alg)) {
    return bad('The DPoP proof algorithm is not supported');
  }
  const jwk = header.jwk as JWK | undefined;
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return bad('The DPoP proof has no jwk header');
  if (PRIVATE_MEMBERS.some((m) => m in jwk)) return bad('The DPoP proof jwk must be a public key');
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: [...s.algorithms] }));
  } catch {
    return bad('The DPoP proof signature is invalid');
  }
  const { jti, htm, htu, iat } = payload;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) return bad('The DPoP proof jti is missing or too long');
  if (htm !== req.method) return bad('The DPoP proof htm does not match the request method');
  const presented = typeof htu === 'string' ? htuOf(htu) : null;
  if (presented === null || !target.urls.includes(presented)) return bad('The DPoP proof htu does not match the request URL');
  const now = Date.now() / 1000;
  if (typeof iat !== 'number' || !Number.isFinite(iat)) return bad('The DPoP proof iat is missing');
  if (iat > now + s.clockSkew || iat < now - s.maxAge) return bad('The DPoP proof is too old or from the future');
  if (target.accessToken !== null) {
    const ath = payload.ath;
    if (typeof ath !== 'string' || !safeEqual(ath, accessTokenHash(target.accessToken))) {
      return bad('The DPoP proof ath does not match the access token');
    }
  }
  // Section 8: with server nonces, a proof without the current (or previous) nonce gets a new one.
  if (s.nonce && !validNonce(e, payload.nonce)) {
    return new UseDpopNonceError('Use the DPoP-Nonce this server provided', status, currentNonce(e)!);
  }
  const jkt = await calculateJwkThumbprint(jwk, 'sha256');
  // Section 11.1: a proof is used once. Only signed, fresh proofs reach the store.
  const expiresAt = new Date((iat + s.maxAge + s.clockSkew) * 1000);
  if (!(await e.s.ephemeral!.add(`dpop:${digestToken(`${jkt} ${jti}`)}`, '', expiresAt))) {
    e.telemetry.replay('dpop_proof');
    return bad('The DPoP proof was already used');
  }
  return { jkt };
}

/** The `WWW-Authenticate: DPoP` challenge parameter listing the accepted algorithms. */
export function algsParameter(e: Engine): string {
  return `algs="${e.o.dpop.algorithms.join(' ')}"`;
}
