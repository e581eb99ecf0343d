/**
 * DPoP (RFC 9449) at a resource server: the section 4.3 checks of the `DPoP` proof sent with
 * `Authorization: DPoP <token>`, with `jose` for the signature and the key thumbprint, a replay
 * store for `jti`, and optional server nonces (section 8) derived like core's from a shared secret.
 */
import { base64url, calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, type JWK, jwtVerify } from 'jose';
import { tokenDigest } from './introspection.js';

/** A JWS algorithm DPoP proofs may be signed with (asymmetric only, as core accepts them). */
export type DpopAlgorithm = 'ES256' | 'ES384' | 'EdDSA' | 'Ed25519' | 'PS256' | 'RS256';

/**
 * Where proof `jti`s are remembered. Core's `EphemeralStore` (for example
 * `createRedisEphemeralStore` of `@portcullis/grant-cache-redis`) has this shape, so several API
 * processes can share one and a proof is accepted once across all of them.
 */
export interface DpopReplayStore {
  /**
   * Saves `value` under `key` until `expiresAt`, unless a live record holds `key` already.
   * @returns `true` once saved; `false`, changing nothing, when a live record holds the key.
   */
  add(key: string, value: string, expiresAt: Date): Promise<boolean>;
}

/** DPoP settings of `createVerifier` (`VerifierOptions.dpop`). */
export interface DpopOptions {
  /**
   * Origins (`https://api.example`) this API is reached at: a proof's `htu` must be one of them
   * plus the request's path. Default: the origins of the `audience` values that are http(s) URLs.
   */
  origins?: readonly string[];
  /** Algorithms proofs may use (the `algs` of the challenges). Default `ES256`, `EdDSA`, `PS256`, `RS256`. */
  algorithms?: readonly DpopAlgorithm[];
  /** Seconds a proof is accepted after its `iat`. Default 300, 1 to 3600. */
  maxAge?: number;
  /** Seconds a proof's `iat` may be ahead of this server's clock. Default 15, at most 300. */
  clockSkew?: number;
  /**
   * Where proof `jti`s are kept to refuse replays. Default: an in-process store of at most
   * `replayCacheSize` proofs (the oldest goes first when it is full). Share one store (core's
   * `EphemeralStore` shape) between processes serving the same API.
   */
  replayStore?: DpopReplayStore;
  /** Most proofs the default in-process replay store keeps. Default 100000, 1 to 10000000. */
  replayCacheSize?: number;
  /**
   * Server nonces (RFC 9449 section 8): proofs must carry the current (or previous) nonce, else
   * 401 `use_dpop_nonce` with a `DPoP-Nonce` header. Derived from `secret` (at least 32
   * characters) and the time as core derives them, so the same secret and lifetime as the
   * authorization server's `dpop.nonce` make its nonces valid here too. `lifetime`: seconds each
   * nonce is current, default 300.
   */
  nonce?: { secret: string; lifetime?: number };
}

/** The request a DPoP proof must name (`Verifier.verifyDpop`). */
export interface DpopRequest {
  /** The HTTP method, as received (`GET`); the proof's `htm` must equal it. */
  readonly method: string;
  /** The request target: its path (`/api/items?x=1`) or its absolute URL; query and fragment are ignored. */
  readonly url: string;
  /** Every `DPoP` header value received (exactly one is accepted). */
  readonly proofs: readonly string[];
}

/** Longest `DPoP` header accepted, in characters; longer is refused unread. */
export const MAX_PROOF_LENGTH = 8192;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const ALGORITHMS: readonly DpopAlgorithm[] = ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'PS256', 'RS256'];
/** A JWK SHA-256 thumbprint (RFC 7638), as `cnf.jkt` carries it. */
export const JKT = /^[A-Za-z0-9_-]{43}$/;

/** Why a proof was refused: `invalid_dpop_proof`, or `use_dpop_nonce` with the nonce to send. */
export type ProofFailure =
  | { readonly error: 'invalid_dpop_proof'; readonly description: string }
  | { readonly error: 'use_dpop_nonce'; readonly description: string; readonly nonce: string };

/** @internal The in-process replay store: bounded, entries dropped at their expiry or oldest first. */
export class MemoryReplayStore implements DpopReplayStore {
  private readonly entries = new Map<string, number>();
  constructor(private readonly max: number) {}

  async add(key: string, _value: string, expiresAt: Date): Promise<boolean> {
    const now = Date.now();
    const held = this.entries.get(key);
    if (held !== undefined && held > now) return false;
    this.entries.delete(key);
    // Entries go in roughly in expiry order: drop expired ones from the front (at most all of them).
    for (const [k, until] of this.entries) {
      if (until > now) break;
      this.entries.delete(k);
    }
    if (this.entries.size >= this.max) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, expiresAt.getTime());
    return true;
  }
}

/** `origin + pathname` of a URL, normalized by the WHATWG URL parser, or `null`. */
export function htuOf(url: string): string | null {
  try {
    const u = new URL(url);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return null;
    return u.origin + u.pathname;
  } catch {
    return null;
  }
}

function count(name: string, v: number | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new TypeError(`resource-server: dpop.${name} must be an integer from ${min} to ${max}`);
  }
  return v;
}

/** @internal The resolved DPoP checks of one verifier. */
export class DpopChecker {
  readonly algorithms: readonly DpopAlgorithm[];
  private readonly origins: readonly string[];
  private readonly maxAge: number;
  private readonly clockSkew: number;
  private readonly store: DpopReplayStore;
  private readonly nonce: { key: ReturnType<typeof crypto.subtle.importKey>; lifetime: number } | null;

  constructor(o: DpopOptions, audience: readonly string[]) {
    if (o === null || typeof o !== 'object') throw new TypeError('resource-server: dpop must be an object or true');
    const algorithms = o.algorithms ?? (['ES256', 'EdDSA', 'PS256', 'RS256'] as const);
    if (!Array.isArray(algorithms) || algorithms.length === 0 || !algorithms.every((a) => ALGORITHMS.includes(a))) {
      throw new TypeError(`resource-server: dpop.algorithms must be a non-empty list of ${ALGORITHMS.join(', ')}`);
    }
    this.algorithms = [...algorithms];
    const origins: string[] = [];
    if (o.origins !== undefined) {
      if (!Array.isArray(o.origins)) throw new TypeError('resource-server: dpop.origins must be a list of origins');
      for (const v of o.origins) {
        const u = typeof v === 'string' ? htuOf(v) : null;
        if (u === null) throw new TypeError('resource-server: dpop.origins must be http(s) origins such as https://api.example');
        origins.push(new URL(u).origin);
      }
    } else {
      for (const a of audience) {
        const u = htuOf(a);
        if (u !== null) origins.push(new URL(u).origin);
      }
    }
    if (origins.length === 0) {
      throw new TypeError('resource-server: dpop.origins is required when no audience is an http(s) URL');
    }
    this.origins = [...new Set(origins)];
    this.maxAge = count('maxAge', o.maxAge, 300, 1, 3600);
    this.clockSkew = count('clockSkew', o.clockSkew, 15, 0, 300);
    if (o.replayStore !== undefined && (o.replayStore === null || typeof o.replayStore.add !== 'function')) {
      throw new TypeError('resource-server: dpop.replayStore must have add(key, value, expiresAt)');
    }
    this.store = o.replayStore ?? new MemoryReplayStore(count('replayCacheSize', o.replayCacheSize, 100_000, 1, 10_000_000));
    if (o.nonce !== undefined) {
      const secret = o.nonce?.secret;
      if (typeof secret !== 'string' || secret.length < 32)
        throw new TypeError('resource-server: dpop.nonce.secret must be at least 32 characters');
      const lifetime = count('nonce.lifetime', o.nonce.lifetime, 300, 1, 86_400);
      const key = crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
      key.catch(() => undefined);
      this.nonce = { key, lifetime };
    } else this.nonce = null;
  }

  /** The `algs` parameter of `WWW-Authenticate: DPoP` (algorithm names only: a closed set). */
  get algs(): string {
    return this.algorithms.join(' ');
  }

  private async nonceAt(at: number): Promise<string> {
    const n = this.nonce!;
    const slot = Math.floor(at / (n.lifetime * 1000));
    const mac = await crypto.subtle.sign('HMAC', await n.key, new TextEncoder().encode(`dpop-nonce:${slot}`));
    return base64url.encode(new Uint8Array(mac));
  }

  /** The nonce to hand out now, or `null` when nonces are off. */
  async currentNonce(): Promise<string | null> {
    return this.nonce ? this.nonceAt(Date.now()) : null;
  }

  private async validNonce(value: unknown): Promise<boolean> {
    if (typeof value !== 'string' || value.length !== 43) return false;
    const now = Date.now();
    return value === (await this.nonceAt(now)) || value === (await this.nonceAt(now - this.nonce!.lifetime * 1000));
  }

  /** The URLs (origin and path) a proof for this request may name as `htu`. */
  private urlsFor(target: string): string[] {
    // A request target is visible ASCII (RFC 9112 section 3.2); the URL parser would drop the rest.
    if (/[^\x21-\x7e]/.test(target)) return [];
    let path: string;
    if (target.startsWith('/')) path = target;
    else {
      try {
        path = new URL(target).pathname;
      } catch {
        return [];
      }
    }
    const cut = path.search(/[?#]/);
    if (cut >= 0) path = path.slice(0, cut);
    const urls: string[] = [];
    for (const origin of this.origins) {
      const u = htuOf(origin + path);
      if (u !== null && new URL(u).origin === origin) urls.push(u);
    }
    return urls;
  }

  /**
   * RFC 9449 section 4.3 for a resource request: one well-formed proof, signed by its embedded
   * public key with an accepted algorithm, naming this request (`htm`, `htu`), fresh (`iat`),
   * for this token (`ath`), by the key the token is bound to (`jkt`), never seen before (`jti`).
   * The `jti` is recorded only once every other check passed.
   */
  async check(req: DpopRequest, token: string, jkt: string): Promise<ProofFailure | null> {
    const bad = (description: string): ProofFailure => ({ error: 'invalid_dpop_proof', description });
    const proofs = Array.isArray(req.proofs) ? req.proofs : [];
    if (proofs.length === 0) return bad('A DPoP proof is required with the DPoP scheme');
    // Runtimes join repeated headers with ", "; a compact JWS has no comma.
    if (proofs.length !== 1 || typeof proofs[0] !== 'string' || proofs[0].includes(',')) return bad('Send exactly one DPoP header');
    const proof = proofs[0].trim();
    if (proof.length > MAX_PROOF_LENGTH || !COMPACT_JWS.test(proof)) return bad('The DPoP proof is not a compact JWS');
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(proof);
    } catch {
      return bad('The DPoP proof header is malformed');
    }
    if (header.typ !== 'dpop+jwt') return bad('The DPoP proof typ must be dpop+jwt');
    if (typeof header.alg !== 'string' || !(this.algorithms as readonly string[]).includes(header.alg)) {
      return bad('The DPoP proof algorithm is not supported');
    }
    const jwk = header.jwk as JWK | undefined;
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return bad('The DPoP proof has no jwk header');
    if (PRIVATE_MEMBERS.some((m) => m in jwk)) return bad('The DPoP proof jwk must be a public key');
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: [...this.algorithms] }));
    } catch {
      return bad('The DPoP proof signature is invalid');
    }
    const { jti, htm, htu, iat } = payload;
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) return bad('The DPoP proof jti is missing or too long');
    if (typeof req.method !== 'string' || htm !== req.method) return bad('The DPoP proof htm does not match the request method');
    const presented = typeof htu === 'string' ? htuOf(htu) : null;
    const urls = typeof req.url === 'string' ? this.urlsFor(req.url) : [];
    if (presented === null || !urls.includes(presented)) return bad('The DPoP proof htu does not match the request URL');
    const now = Date.now() / 1000;
    if (typeof iat !== 'number' || !Number.isFinite(iat)) return bad('The DPoP proof iat is missing');
    if (iat > now + this.clockSkew || iat < now - this.maxAge) return bad('The DPoP proof is too old or from the future');
    const hash = base64url.encode(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token))));
    if (payload.ath !== hash) return bad('The DPoP proof ath does not match the access token');
    if (this.nonce && !(await this.validNonce(payload.nonce))) {
      return { error: 'use_dpop_nonce', description: 'Use the DPoP-Nonce this server provided', nonce: await this.nonceAt(Date.now()) };
    }
    let thumbprint: string;
    try {
      thumbprint = await calculateJwkThumbprint(jwk, 'sha256');
    } catch {
      return bad('The DPoP proof jwk is malformed');
    }
    if (thumbprint !== jkt) return bad('The DPoP proof key is not the one the access token is bound to');
    // Section 11.1: a proof is used once within the time it would be accepted.
    const expiresAt = new Date((iat + this.maxAge + this.clockSkew) * 1000);
    if (!(await this.store.add(`dpop:${await tokenDigest(`${jkt} ${jti}`)}`, '', expiresAt))) {
      return bad('The DPoP proof was already used');
    }
    return null;
  }
}
